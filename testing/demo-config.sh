#!/usr/bin/env bash
# Writes the demo's configuration for the test bed in BED: the test bed's
# `cluster:` section, then examples/config_demo.yaml without its own.
# Usage: testing/demo-config.sh BED > config.yaml
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bed=$1
"$repo/target/debug/examples/kafka-testbed" config --dir "$bed"
# Everything after the example's cluster section (from its first other top-level key).
awk 'started || (/^[a-z_]+:/ && !/^cluster:/) { started = 1; print }' "$repo/examples/config_demo.yaml"
