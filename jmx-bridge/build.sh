#!/usr/bin/env bash
# Builds the JMX/RMI bridge (JDK only) into a jar.
# Usage: jmx-bridge/build.sh [OUTPUT_JAR]   (default: target/jmx-bridge.jar)
# Needs javac and jar (a JDK, e.g. Debian's openjdk-17-jdk-headless). Skips
# the build when the jar is newer than the source.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/../target/jmx-bridge.jar}
src=$here/JmxBridge.java
if [ -f "$out" ] && [ "$out" -nt "$src" ]; then
  exit 0
fi
command -v javac >/dev/null || { echo "jmx-bridge: javac not found: install a JDK (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
javac --release 11 -Xlint:all -Werror -d "$classes" "$src"
mkdir -p "$(dirname "$out")"
jar --create --file "$out.tmp" --main-class JmxBridge -C "$classes" .
mv "$out.tmp" "$out"
echo "jmx-bridge: built $out" >&2
