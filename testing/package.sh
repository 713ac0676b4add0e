#!/usr/bin/env bash
# Builds the Debian package into target/debian/ with cargo-deb (installed once,
# pinned, when missing). The packaging tests list, install and purge it.
# KSH_PACKAGE_PROFILE=dev packs the debug build instead of the release one
# (./test.sh does: the tests build that one anyway, and a second, optimised
# compile of everything costs CI minutes and tests nothing the tests need).
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
profile=${KSH_PACKAGE_PROFILE:-release}
cargo deb --locked --profile "$profile"
