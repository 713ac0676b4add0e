#!/usr/bin/env bash
# Try it by hand: starts a real Kafka 3.9 cluster on 127.0.0.1 (1 ZooKeeper +
# 3 brokers, from the test bed), runs the daemon against it in the foreground
# with examples/config_demo.yaml, and tears the cluster down when the daemon
# stops (Ctrl-C). Extra arguments go to `run`, e.g.
#   ./run.sh --dry-run
# In another terminal, `testing/testbed.sh kill broker-2 --dir <dir>` (the
# directory is printed below) shows a failure being detected and repaired.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v cargo >/dev/null || { echo "run: cargo is not installed (install Rust with rustup)" >&2; exit 1; }
bash testing/setup.sh
cargo build --locked --bin kafka-self-healing --example kafka-testbed

export DEMO_DIR
DEMO_DIR=$(mktemp -d /tmp/kafka-self-healing-run.XXXXXX)
export DEMO_BED=$DEMO_DIR/bed DEMO_SCRIPTS=$PWD/testing/demo DEMO_TESTBED=$PWD/target/debug/examples/kafka-testbed
# The daemon's HTTP server (status page, API, /metrics) on a free port of 127.0.0.1.
DEMO_HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DEMO_HTTP_PORT
cleanup() { target/debug/examples/kafka-testbed down --dir "$DEMO_BED" >/dev/null 2>&1 || true; }
trap cleanup EXIT
target/debug/examples/kafka-testbed up --flavor zookeeper --zookeepers 1 --brokers 3 --dir "$DEMO_BED"
testing/demo-config.sh "$DEMO_BED" > "$DEMO_DIR/config.yaml"
echo "run: test bed in $DEMO_BED, configuration in $DEMO_DIR/config.yaml (logs, audit trail and state next to it); status page http://127.0.0.1:$DEMO_HTTP_PORT/; Ctrl-C stops both" >&2
target/debug/kafka-self-healing run --config "$DEMO_DIR/config.yaml" "$@"
