#!/usr/bin/env bash
# The main job: starts a real Kafka 3.9 cluster on 127.0.0.1 (1 ZooKeeper +
# 3 brokers, from the test bed), runs the daemon against it in the foreground
# (logs on the console and in ./logs/application.log), and tears the cluster
# down when the daemon stops (Ctrl-C). Extra arguments go to `run`, e.g.
#   ./run.sh --dry-run
# In another terminal, `testing/testbed.sh kill broker-2 --dir <dir>` (the
# directory is printed below) shows a failure being detected.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v cargo >/dev/null || { echo "run: cargo is not installed (install Rust with rustup)" >&2; exit 1; }
bash testing/setup.sh
cargo build --locked --bin kafka-self-healing --bin kafka-testbed

work=$(mktemp -d /tmp/kafka-self-healing-run.XXXXXX)
bed=$work/bed
cleanup() { target/debug/kafka-testbed down --dir "$bed" >/dev/null 2>&1 || true; }
trap cleanup EXIT
target/debug/kafka-testbed up --flavor zookeeper --zookeepers 1 --brokers 3 --dir "$bed"
{
  target/debug/kafka-testbed config --dir "$bed"
  cat <<YAML
monitoring:
  interval_seconds: 10
  timeout_seconds: 5
logging:
  file: ./logs/application.log
  audit: {file: ./logs/audit.log}
system:
  state_dir: $work/state
YAML
} > "$work/config.yaml"
echo "run: test bed in $bed, configuration in $work/config.yaml; Ctrl-C stops both" >&2
target/debug/kafka-self-healing run --config "$work/config.yaml" "$@"
