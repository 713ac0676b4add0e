#!/usr/bin/env bash
# Sets up what is missing, then runs every check and test: formatting, clippy,
# the module layering, the Debian package, unit tests, CLI tests and the tests
# against real Kafka and ZooKeeper clusters.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash testing/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
# What ARCHITECTURE.md promises: no import cycle between top-level modules, no I/O in the pure ones.
python3 testing/invariants.py
# The .deb the packaging, hosts and image tests install: of the debug build
# the tests build anyway (a release build of everything would cost CI minutes
# for nothing the tests look at; `bash testing/package.sh` alone packs it).
export KSH_PACKAGE_PROFILE=dev
bash testing/package.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --workspace 2>&1 | tee "$log" || status=$?
# One closing line for every test binary together.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
