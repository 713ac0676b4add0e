#!/usr/bin/env bash
# Fetches an Apache Kafka release line from Maven Central into the cache:
#   ~/.cache/kafka-self-healing/kafka-<line>/libs/*.jar
# and the JMX agents (Jolokia, Prometheus JMX exporter) into
#   ~/.cache/kafka-self-healing/kafka-agents/libs/*.jar
# Usage: testing/fetch-kafka.sh 3.9|4|agents|all
# The version is the one in testing/maven/kafka-<line>/pom.xml; a second run
# with the same version fetches nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KSH_CACHE_DIR:-$HOME/.cache/kafka-self-healing}

fetch() {
  local line=$1
  local pom=$here/maven/kafka-$line/pom.xml
  [ "$line" = agents ] && pom=$here/maven/agents/pom.xml
  [ -f "$pom" ] || { echo "fetch-kafka: no pom for line '$line' ($pom); lines: 3.9, 4, agents" >&2; exit 2; }
  local version
  version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
  local libs=$cache/kafka-$line/libs
  if [ "$(cat "$libs/.version" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  command -v mvn >/dev/null || { echo "fetch-kafka: mvn is not installed (apt-get install maven)" >&2; exit 1; }
  echo "fetch-kafka: fetching $line ($version) into $libs" >&2
  rm -rf "$libs"
  mkdir -p "$libs"
  if [ "$line" = agents ]; then
    # The agents are self-contained jars: none of their (test) dependencies.
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DexcludeTransitive=true -DoutputDirectory="$libs" >&2
    ls "$libs"/jolokia-agent-jvm-*-javaagent.jar "$libs"/jmx_prometheus_javaagent-*.jar >/dev/null
  else
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DoutputDirectory="$libs" >&2
    ls "$libs"/kafka_2.13-"$version".jar >/dev/null
  fi
  echo "$version" > "$libs/.version"
}

case "${1:-all}" in
  all) fetch 3.9; fetch 4; fetch agents ;;
  *) fetch "$1" ;;
esac
