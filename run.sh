#!/usr/bin/env bash
# Builds the daemon and runs it in the foreground with the development
# configuration (logs in ./logs; Ctrl-C stops it). Extra arguments go to `run`,
# e.g. ./run.sh --dry-run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v cargo >/dev/null || { echo "run: cargo is not installed (install Rust with rustup)" >&2; exit 1; }
cargo build --locked --bin kafka-self-healing
exec target/debug/kafka-self-healing run --config examples/config_development.yaml "$@"
