#!/usr/bin/env bash
# Probes every node once now and prints a table (the runbook's manual health check).
# Exit status: 0 healthy, 1 degraded, 2 failed, 3 invalid configuration.
# Usage: scripts/manual_health_check.sh [--output json]
# Environment: KAFKA_SELF_HEALING_CONFIG (default /etc/kafka-self-healing/config.yaml),
#              KAFKA_SELF_HEALING_BIN (default: kafka-self-healing on PATH).
set -euo pipefail
exec "${KAFKA_SELF_HEALING_BIN:-kafka-self-healing}" check \
  --config "${KAFKA_SELF_HEALING_CONFIG:-/etc/kafka-self-healing/config.yaml}" "$@"
