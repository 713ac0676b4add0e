#!/usr/bin/env bash
# Start and drive the real Kafka/ZooKeeper test bed from a shell.
#   testing/testbed.sh up --flavor zookeeper|kraft|kraft-separate --dir DIR [--foreground]
#   testing/testbed.sh up --flavor hosts-zookeeper|hosts-kraft|hosts-kraft-separate [--healer] --dir DIR
#   testing/testbed.sh status|down --dir DIR
#   testing/testbed.sh stop|kill|pause|resume|start NODE --dir DIR
#   testing/testbed.sh exec --dir DIR HOST -- COMMAND...   (hosts flavours)
#   testing/testbed.sh lab --dir DIR -- COMMAND...         (hosts flavours: on the lab's bridge)
# Builds the kafka-testbed binary on first use and fetches Kafka when missing.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --quiet --manifest-path "$repo/Cargo.toml" --example kafka-testbed
exec "$repo/target/debug/examples/kafka-testbed" "$@"
