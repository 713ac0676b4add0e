#!/usr/bin/env bash
# The main job, as a live demo: starts a real Kafka 3.9 cluster on 127.0.0.1
# (1 ZooKeeper + 3 brokers, from the test bed), runs the daemon against it
# with examples/config_demo.yaml, kills a broker with SIGKILL, and shows what
# happens — detected, restarted by the recovery action, recovered — with
# timings, then proves the cluster serves with a real client and tears down.
# Installs what is missing first (testing/setup.sh).
# `./demo.sh --hosts` runs it on hosts that boot systemd instead (testing/demo-hosts.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[ "${1:-}" = --hosts ] && exec bash testing/demo-hosts.sh
command -v cargo >/dev/null || { echo "demo: cargo is not installed (install Rust with rustup)" >&2; exit 1; }
bash testing/setup.sh
cargo build --locked --quiet --bin kafka-self-healing --example kafka-testbed

export DEMO_DIR
DEMO_DIR=$(mktemp -d /tmp/kafka-self-healing-demo.XXXXXX)
export DEMO_BED=$DEMO_DIR/bed DEMO_SCRIPTS=$PWD/testing/demo DEMO_TESTBED=$PWD/target/debug/examples/kafka-testbed
# The daemon's HTTP server (status page, API, /metrics) on a free port of 127.0.0.1.
DEMO_HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DEMO_HTTP_PORT
ksh=target/debug/kafka-self-healing
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  target/debug/examples/kafka-testbed down --dir "$DEMO_BED" >/dev/null 2>&1 || true
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Seconds since the demo started, for the timeline.
t0=$(date +%s.%N)
at() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.2fs", b - a }'; }
# Waits until the audit trail has an `event` record for node $2; prints when.
wait_audit() {
  local event=$1 node=$2 limit=${3:-120} i=0
  until grep -q "\"event\":\"$event\".*\"node\":\"$node\"" "$DEMO_DIR/audit.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -le $((limit * 10)) ] || { echo "demo: no '$event' for $node within ${limit}s" >&2; exit 1; }
    sleep 0.1
  done
}

step "Starting a real Kafka 3.9 cluster (1 ZooKeeper + 3 brokers) in $DEMO_BED"
target/debug/examples/kafka-testbed up --flavor zookeeper --zookeepers 1 --brokers 3 --dir "$DEMO_BED"
testing/demo-config.sh "$DEMO_BED" > "$DEMO_DIR/config.yaml"
$ksh validate "$DEMO_DIR/config.yaml"

step "Starting kafka-self-healing (console log below; audit trail in $DEMO_DIR/audit.log)"
$ksh run --config "$DEMO_DIR/config.yaml" &
daemon=$!
until $ksh check --config "$DEMO_DIR/config.yaml" >/dev/null 2>&1; do sleep 0.5; done
$ksh check --config "$DEMO_DIR/config.yaml"
sleep 2

step "$(at) kill -9 broker-2"
killed=$(date +%s.%N)
target/debug/examples/kafka-testbed kill broker-2 --dir "$DEMO_BED"
wait_audit detected broker-2 30
echo "$(at) detected: broker-2 failed"
wait_audit attempt_started broker-2 30
echo "$(at) restarting broker-2 (recovery action \`script\`)"
wait_audit recovered broker-2 120
echo "$(at) recovered: broker-2 serves again, $(awk -v a="$killed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s after the kill"

step "What happened (kafka-self-healing incidents)"
$ksh incidents --config "$DEMO_DIR/config.yaml"

step "What the running daemon says (kafka-self-healing status; status page at http://127.0.0.1:$DEMO_HTTP_PORT/)"
$ksh status --config "$DEMO_DIR/config.yaml" || true

step "The cluster serves: produce and consume a message with kcat"
boot=$(target/debug/examples/kafka-testbed bootstrap --dir "$DEMO_BED")
echo "hello after recovery $(date -u +%H:%M:%S)" | kcat -P -b "$boot" -t demo -X acks=all -X message.timeout.ms=30000
kcat -C -b "$boot" -t demo -o beginning -e -q

step "Done; stopping the daemon and the cluster"
