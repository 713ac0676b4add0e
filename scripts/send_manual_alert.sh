#!/usr/bin/env bash
# Sends an operator's message to every configured notification channel.
# Usage: scripts/send_manual_alert.sh "message" [--severity info|warning|error|critical]
# Exit status: 0 delivered everywhere, 1 kept in the outbox for a retry (or an error), 2 usage.
# Environment: KAFKA_SELF_HEALING_CONFIG, KAFKA_SELF_HEALING_BIN (as in manual_health_check.sh).
set -euo pipefail
if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 \"message\" [--severity info|warning|error|critical]" >&2
  exit 2
fi
exec "${KAFKA_SELF_HEALING_BIN:-kafka-self-healing}" alert \
  --config "${KAFKA_SELF_HEALING_CONFIG:-/etc/kafka-self-healing/config.yaml}" "$@"
