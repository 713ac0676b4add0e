#!/usr/bin/env bash
# Builds the Debian package into target/debian/ with cargo-deb (installed once,
# pinned, when missing). The packaging tests list, install and purge it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: installing cargo-deb" >&2
  cargo install cargo-deb --locked --version 3.8.0
fi
# The JMX/RMI bridge ships in the package.
[ -f target/jmx-bridge.jar ] || bash jmx-bridge/build.sh
rm -f target/debian/*.deb
# Man pages and shell completions, from the command line itself.
rm -rf target/assets
cargo run --locked --quiet --bin generate-docs -- target/assets >/dev/null
gzip -9n target/assets/man/*.1
cargo deb --locked
