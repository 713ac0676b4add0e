#!/bin/sh
# The demo's restart script (recovery action `script`): what an operator's
# script would do with systemd, done with the test bed's own start command.
# The daemon passes KAFKA_NODE_ID, KAFKA_HOST, KAFKA_PORT, KAFKA_NODE_TYPE,
# KAFKA_ATTEMPT and KAFKA_INCIDENT_ID; DEMO_TESTBED and DEMO_BED come from
# demo.sh / run.sh.
echo "starting $KAFKA_NODE_ID again (attempt $KAFKA_ATTEMPT of incident $KAFKA_INCIDENT_ID)"
exec "$DEMO_TESTBED" start "$KAFKA_NODE_ID" --dir "$DEMO_BED"
