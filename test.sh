#!/usr/bin/env bash
# Sets up what is missing, then runs every check and test: formatting, clippy,
# unit tests, CLI tests and the tests against real Kafka and ZooKeeper clusters.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash testing/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
