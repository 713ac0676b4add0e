#!/usr/bin/env bash
# `./demo.sh --hosts`: the demo on the production topology. Five hosts boot
# a real systemd (systemd-nspawn): zk-1 and broker-1..3 run ZooKeeper and
# Kafka 3.9 as systemd units, and `healer` has the project's .deb installed
# with dpkg. The healer restarts brokers with `systemctl restart kafka` over
# SSH (the shipped sudoers drop-in, its own key). kill -9 of kafka on
# broker-2, then what the healer did, the unit active again, kcat through it.
# Installs what is missing first (testing/setup.sh builds nothing else).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" = 0 ] || { echo "demo --hosts: run as root (it boots containers and network namespaces)" >&2; exit 1; }
bash testing/setup.sh
cargo build --locked --quiet --example kafka-testbed
bash testing/package.sh >/dev/null
bed=$(mktemp -d /tmp/kafka-self-healing-hosts.XXXXXX)
tb() { target/debug/examples/kafka-testbed "$@"; }
on() { local host=$1; shift; tb exec --dir "$bed" "$host" -- "$@"; }
cleanup() { tb down --dir "$bed" >/dev/null 2>&1 || true; rm -rf "$bed"; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t0=$(date +%s.%N)
at() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.2fs", b - a }'; }
# Waits until the healer's audit trail has an `event` record for node $2.
wait_audit() {
  local event=$1 node=$2 limit=${3:-120} i=0
  until on healer grep -q "\"event\":\"$event\".*\"node\":\"$node\"" /var/log/kafka-self-healing/audit.log 2>/dev/null; do
    i=$((i + 1)); [ $i -le $((limit * 5)) ] || { echo "demo: no '$event' for $node within ${limit}s" >&2; exit 1; }
    sleep 0.2
  done
}

step "Booting 5 hosts (zk-1, broker-1..3, healer): ZooKeeper and Kafka 3.9 as systemd units, the .deb on healer"
tb up --flavor hosts-zookeeper --healer --dir "$bed"

step "On healer: /etc/kafka-self-healing/config.yaml, then systemctl enable --now kafka-self-healing"
{
  tb config --dir "$bed"
  cat <<'YAML'
monitoring:
  interval_seconds: 2
  timeout_seconds: 2
recovery:
  actions: [restart_service]
  initial_delay_seconds: 2
  restart_service: {use_sudo: true}
  ssh: {user: kafka-healing, timeout: 30, connect_timeout: 5}
system:
  metrics: {port: 8080}
YAML
} | on healer sh -c 'cat > /etc/kafka-self-healing/config.yaml && chgrp kafka-healing /etc/kafka-self-healing/config.yaml && chmod 640 /etc/kafka-self-healing/config.yaml'
on healer cat /etc/kafka-self-healing/config.yaml
on healer kafka-self-healing validate /etc/kafka-self-healing/config.yaml
on healer systemctl enable --now kafka-self-healing
until on healer kafka-self-healing status --url http://localhost:8080 >/dev/null 2>&1; do sleep 0.5; done
on healer kafka-self-healing status --url http://localhost:8080

step "$(at) kill -9 of kafka's main process on broker-2"
killed=$(date +%s.%N)
tb kill broker-2 --dir "$bed"
wait_audit detected broker-2 60
echo "$(at) detected: broker-2 failed"
wait_audit attempt_started broker-2 60
echo "$(at) restarting: $(on healer sh -c 'grep "\"event\":\"attempt_started\".*\"node\":\"broker-2\"" /var/log/kafka-self-healing/audit.log | tail -1' | sed 's/.*"command":"\([^"]*\)".*/\1/')"
wait_audit recovered broker-2 180
echo "$(at) recovered: broker-2 serves again, $(awk -v a="$killed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s after the kill"

step "On broker-2: systemctl status kafka"
on broker-2 systemctl status kafka --no-pager --lines 0 || true

step "On healer: journalctl -u kafka-self-healing (the Recovery lines) and kafka-self-healing incidents"
on healer sh -c 'journalctl -u kafka-self-healing --no-pager | grep -E "Recovery|Node status: broker-2"' || true
on healer kafka-self-healing incidents --config /etc/kafka-self-healing/config.yaml

step "The cluster serves: produce and consume through broker-2 with kcat, on the lab's bridge"
echo "hello after recovery $(date -u +%H:%M:%S)" | tb lab --dir "$bed" -- kcat -P -b broker-2:9092 -t demo -X acks=all -X message.timeout.ms=30000
tb lab --dir "$bed" -- kcat -C -b broker-2:9092 -t demo -o beginning -e -q

step "Done; shutting the hosts down"
