#!/bin/sh
# A notification plugin in plain sh (protocol version 1) that describes itself:
# `append_to_file.sh describe` prints its manifest. Each notification (one
# JSON request on stdin) is appended as one line to $NOTIFICATION_FILE
# (default /var/log/kafka-self-healing/plugin-notifications.jsonl) — a local
# trail another tool can tail.
if [ "$1" = describe ]; then
  echo '{"name": "append_to_file", "kind": "notification", "protocol_version": 1, "timeout_seconds": 5, "description": "appends every notification to a JSON-lines file"}'
  exit 0
fi
file=${NOTIFICATION_FILE:-/var/log/kafka-self-healing/plugin-notifications.jsonl}
if ! { cat; echo; } >> "$file" 2>/dev/null; then
  echo "{\"delivered\": false, \"message\": \"cannot append to $file\"}"
  exit 1
fi
echo "{\"delivered\": true, \"message\": \"appended to $file\"}"
