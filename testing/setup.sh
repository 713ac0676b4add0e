#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine, and only
# what is missing: protoc (building), a Java 17 JDK (Kafka, and javac for the JMX bridge), Maven
# (to fetch Kafka), kcat (a real Kafka client for the tests), openssl (test
# certificates), ansible-core, openssh-server and iproute2 (recovery tests),
# iptables (high-availability tests),
# prometheus, chromium, logrotate and systemd (operations tests),
# man-db, zsh and fish (the package's man pages and completions),
# systemd-container and mmdebstrap (the hosts test bed), buildah and podman
# (the container image),
# rustfmt and clippy; then fetches Apache Kafka 3.9 and 4.x and
# the JMX agents from Maven Central into ~/.cache/kafka-self-healing (once), and
# builds the JMX/RMI bridge into target/jmx-bridge.jar.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

missing=()
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v kcat >/dev/null || missing+=(kcat)
command -v openssl >/dev/null || missing+=(openssl)
# The recovery tests run real tools: Ansible, an OpenSSH server on 127.0.0.1,
# and network namespaces (iproute2).
command -v ansible-playbook >/dev/null || missing+=(ansible-core)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v ip >/dev/null || missing+=(iproute2)
# The high-availability tests cut one healer's paths inside its own network
# namespace (iptables there, never in the machine's own namespace).
[ -x /usr/sbin/iptables ] || missing+=(iptables)
# Building: etcd-client compiles etcd's protocol definitions with protoc.
command -v protoc >/dev/null || missing+=(protobuf-compiler)
# The high-availability tests: a real etcd cluster.
[ -x /usr/bin/etcd ] || missing+=(etcd-server)
# The notification tests: a real SMTP server and a real Alertmanager.
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
[ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
# The operations tests: a real Prometheus (and promtool), Chromium for the
# status page, logrotate, systemd-analyze, dpkg tools for the package.
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v logrotate >/dev/null || missing+=(logrotate)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v adduser >/dev/null || missing+=(adduser)
command -v curl >/dev/null || missing+=(curl)
# The package's man pages (man -l) and its zsh and fish completions.
command -v man >/dev/null || missing+=(man-db)
command -v zsh >/dev/null || missing+=(zsh)
command -v fish >/dev/null || missing+=(fish)
# The hosts test bed: hosts that boot a real systemd (systemd-nspawn) from a
# Debian root bootstrapped once with mmdebstrap. (Links are delayed by a relay
# of the bed's own: this kernel has no sch_netem for tc.)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
# The container image: built with buildah (chroot isolation), its local base
# imported with podman (no registry is reachable).
command -v buildah >/dev/null || missing+=(buildah)
command -v podman >/dev/null || missing+=(podman)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo is not installed (install Rust with rustup)" >&2; exit 1; }
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

bash "$here/fetch-kafka.sh" all
bash "$here/../jmx-bridge/build.sh"
