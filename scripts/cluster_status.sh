#!/usr/bin/env bash
# Asks the running daemon for every node's state, open incidents and its own state.
# Exit status: 0 healthy, 1 degraded, 2 failed, 3 the daemon does not answer.
# Usage: scripts/cluster_status.sh [--output json] [--url http://host:8080]
# Environment: KAFKA_SELF_HEALING_CONFIG, KAFKA_SELF_HEALING_BIN (as in manual_health_check.sh).
set -euo pipefail
exec "${KAFKA_SELF_HEALING_BIN:-kafka-self-healing}" status \
  --config "${KAFKA_SELF_HEALING_CONFIG:-/etc/kafka-self-healing/config.yaml}" "$@"
