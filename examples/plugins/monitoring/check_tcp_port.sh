#!/usr/bin/env bash
# A Nagios-style check, usable as a monitoring method without any manifest:
# drop it in a `monitoring/` plugin directory and list `check_tcp_port` in a
# node's monitoring_methods. The daemon sets KAFKA_NODE_ID, KAFKA_HOST and
# KAFKA_PORT; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first line is
# the message (after `|`, performance data).
host=${KAFKA_HOST:?KAFKA_HOST is not set}
port=${KAFKA_PORT:?KAFKA_PORT is not set}
started=$(date +%s%N)
if timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
  ms=$(( ($(date +%s%N) - started) / 1000000 ))
  echo "TCP OK - $host:$port accepts connections | time=${ms}ms"
  exit 0
fi
echo "TCP CRITICAL - $host:$port does not accept connections"
exit 2
