//! Kafka and ZooKeeper as systemd units on the hosts of a [`Lab`], and the
//! healer installed from its .deb — the topology the runbook describes.
//!
//! Owns: the operators' files on each host (`/etc/kafka/server.properties`,
//! `/etc/zookeeper/zoo.cfg`, `kafka.service`, `zookeeper.service` — with or
//! without `Restart=on-failure`), the `kafka` user and data directories, the
//! healer's SSH user with a key and the shipped sudoers drop-in on every node
//! host, and installing the .deb with `dpkg -i` on the healer's host.
//! Must never: run a JVM outside a host, or skip a step an operator must do
//! (the docs' setup is what this does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::cluster::{log_config, log_config_arg, random_cluster_id};
use super::dist::{KafkaLine, ensure_distribution, repo_dir};
use super::hosts::{Lab, LabState};

/// Where the bed mounts the Kafka distribution (read-only) on every host.
const KAFKA_HOME: &str = "/opt/kafka";
/// The JDK, bind-mounted read-only from this machine.
const JAVA: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";

/// Which Kafka, and how the operator wrote the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFlavor {
    /// ZooKeeper 3.8 on `zk-1`, Kafka 3.9 brokers `broker-1…n`.
    Zookeeper,
    /// Kafka 4.x nodes `kafka-1…n`, each broker and controller at once.
    KraftCombined,
    /// Kafka 4.x controllers `controller-1…c` and brokers `kafka-1…n` on hosts of their own.
    KraftSeparate,
}

#[derive(Debug, Clone)]
pub struct HostSpec {
    pub flavor: HostFlavor,
    pub brokers: usize,
    /// Dedicated KRaft controllers (`KraftSeparate` only).
    pub controllers: usize,
    /// `Restart=on-failure` in the units (systemd restarts a crashed node itself).
    pub restart_on_failure: bool,
    /// A host `healer` with the .deb installed (not started).
    pub healer: bool,
    /// Install the .deb on this node host too (a healer next to its broker).
    pub healer_on: Option<String>,
}

impl HostSpec {
    pub fn zookeeper(brokers: usize) -> Self {
        HostSpec {
            flavor: HostFlavor::Zookeeper,
            brokers,
            controllers: 0,
            restart_on_failure: false,
            healer: true,
            healer_on: None,
        }
    }
    pub fn kraft(brokers: usize) -> Self {
        HostSpec {
            flavor: HostFlavor::KraftCombined,
            brokers,
            controllers: 0,
            restart_on_failure: false,
            healer: true,
            healer_on: None,
        }
    }
    /// Dedicated controllers `controller-1…c` (node ids 101…) and brokers `kafka-1…n`.
    pub fn kraft_separate(controllers: usize, brokers: usize) -> Self {
        HostSpec { flavor: HostFlavor::KraftSeparate, controllers, ..HostSpec::kraft(brokers) }
    }
}

/// One Kafka or ZooKeeper node: its host (the name resolves on every host) and unit.
#[derive(Debug, Clone)]
pub struct HostNode {
    pub host: String,
    /// `kafka` or `zookeeper`.
    pub unit: &'static str,
    /// broker.id / node.id, or the ZooKeeper myid.
    pub id: u32,
    /// The port it is watched on: the client port, or a dedicated controller's 9093.
    pub port: u16,
    /// A dedicated KRaft controller (`process.roles=controller`).
    pub controller: bool,
}

/// Whether a `unit` (`kafka` or `zookeeper`) at `addr` answers its own
/// protocol; called from inside the lab's network namespace.
fn answers(unit: &str, addr: std::net::SocketAddr) -> bool {
    if unit == "kafka" {
        super::readiness::api_versions(addr, Duration::from_secs(2)).is_ok()
    } else {
        super::readiness::zookeeper_four_letter_word(addr, "srvr", Duration::from_secs(2))
            .is_ok_and(|a| a.contains("Mode: "))
    }
}

/// A running hosts cluster as another process sees it (`DIR/hosts.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HostsState {
    pub flavor: String,
    /// The process that keeps the lab running; SIGTERM to it tears the lab down.
    pub owner: u32,
    pub lab: LabState,
    pub nodes: Vec<NodeState>,
    pub bootstrap: String,
    pub cluster_section: String,
    /// The healer's private key (its public half is on every node host).
    pub key: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NodeState {
    pub host: String,
    pub unit: String,
    pub id: u32,
    pub port: u16,
    pub address: String,
}

impl HostsState {
    pub const FILE: &str = "hosts.json";

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::write(dir.join(Self::FILE), serde_json::to_string_pretty(self)?)?;
        Ok(())
    }

    pub fn load(dir: &Path) -> anyhow::Result<HostsState> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }

    pub fn node(&self, host: &str) -> anyhow::Result<&NodeState> {
        self.nodes.iter().find(|n| n.host == host).ok_or_else(|| {
            let names: Vec<&str> = self.nodes.iter().map(|n| n.host.as_str()).collect();
            anyhow::anyhow!("no node on `{host}` (nodes: {})", names.join(", "))
        })
    }

    /// `systemctl is-active` of the node's unit.
    pub fn unit_state(&self, host: &str) -> String {
        let Ok(node) = self.node(host) else { return "unknown".into() };
        self.lab
            .enter(host)
            .and_then(|mut c| Ok(c.args(["systemctl", "is-active", &node.unit]).output()?))
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    /// `kill -s SIGNAL` of the unit's main process (`KILL`: a crash; `STOP`: a hang).
    pub fn signal(&self, host: &str, signal: &str) -> anyhow::Result<()> {
        let unit = &self.node(host)?.unit;
        let pid = self.lab.sh(host, &format!("systemctl show -p MainPID --value {unit}"))?;
        let pid = pid.trim();
        if pid.is_empty() || pid == "0" {
            bail!("`{unit}` on `{host}` has no main process");
        }
        self.lab.sh(host, &format!("kill -s {signal} {pid}"))?;
        Ok(())
    }

    /// `systemctl stop` (a controlled shutdown) or `start` of the node's unit;
    /// a start waits until the node answers.
    pub fn systemctl(&self, host: &str, verb: &str) -> anyhow::Result<()> {
        let node = self.node(host)?.clone();
        self.lab.sh(host, &format!("systemctl {verb} {}", node.unit))?;
        if verb == "start" {
            let addr = format!("{}:{}", node.address, node.port).parse()?;
            let deadline = Instant::now() + Duration::from_secs(120);
            while !self.lab.in_lab({
                let unit = node.unit.clone();
                move || answers(&unit, addr)
            })? {
                if Instant::now() > deadline {
                    bail!("`{}` on `{host}` does not answer within 120 s", node.unit);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        Ok(())
    }
}

/// A running cluster on hosts; dropping it tears the lab down.
pub struct HostCluster {
    pub lab: Lab,
    pub spec: HostSpec,
    pub nodes: Vec<HostNode>,
    /// The healer's private key (its public half is on every node host).
    pub key: PathBuf,
}

impl HostCluster {
    pub fn start(spec: HostSpec) -> anyhow::Result<HostCluster> {
        let line = match spec.flavor {
            HostFlavor::Zookeeper => KafkaLine::V3_9,
            HostFlavor::KraftCombined | HostFlavor::KraftSeparate => KafkaLine::V4,
        };
        let libs = ensure_distribution(line)?;
        let mut nodes = Vec::new();
        if spec.flavor == HostFlavor::Zookeeper {
            nodes.push(HostNode { host: "zk-1".into(), unit: "zookeeper", id: 1, port: 2181, controller: false });
        }
        if spec.flavor == HostFlavor::KraftSeparate {
            for i in 1..=spec.controllers.max(1) {
                let host = format!("controller-{i}");
                nodes.push(HostNode { host, unit: "kafka", id: 100 + i as u32, port: 9093, controller: true });
            }
        }
        for i in 1..=spec.brokers {
            let host = match spec.flavor {
                HostFlavor::Zookeeper => format!("broker-{i}"),
                HostFlavor::KraftCombined | HostFlavor::KraftSeparate => format!("kafka-{i}"),
            };
            nodes.push(HostNode { host, unit: "kafka", id: i as u32, port: 9092, controller: false });
        }
        let mut names: Vec<&str> = nodes.iter().map(|n| n.host.as_str()).collect();
        if spec.healer {
            names.push("healer");
        }
        let jdk = Path::new(JAVA).ancestors().nth(2).unwrap_or(Path::new("/usr/lib/jvm")).to_path_buf();
        let binds = vec![
            "/usr/lib/jvm".to_string(),
            "/etc/java-17-openjdk".to_string(),
            format!("{}:{KAFKA_HOME}/libs", libs.display()),
        ];
        if !jdk.join("bin/java").exists() {
            bail!("no JDK at {} (testing/setup.sh installs openjdk-17-jdk-headless)", jdk.display());
        }
        let lab = Lab::start(&names, &binds)?;
        let key = lab.dir().join("healer_ed25519");
        let keygen = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "kafka-healing@healer", "-f"])
            .arg(&key)
            .output()
            .context("ssh-keygen")?;
        if !keygen.status.success() {
            bail!("ssh-keygen failed: {}", String::from_utf8_lossy(&keygen.stderr));
        }
        let mut cluster = HostCluster { lab, spec, nodes, key };
        cluster.configure(line)?;
        cluster.start_nodes()?;
        if cluster.spec.healer {
            cluster.install_healer("healer")?;
        }
        if let Some(host) = cluster.spec.healer_on.clone() {
            cluster.install_healer(&host)?;
        }
        Ok(cluster)
    }

    /// Writes every node's files and units, the `kafka` user, the healer's SSH user.
    fn configure(&mut self, line: KafkaLine) -> anyhow::Result<()> {
        let cluster_id = random_cluster_id()?;
        let public = std::fs::read_to_string(self.key.with_extension("pub"))?;
        let sudoers = std::fs::read_to_string(repo_dir().join("scripts/sudoers-kafka-self-healing"))?;
        let zk_connect = "zk-1:2181";
        let voters: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.unit == "kafka" && (n.controller || self.spec.flavor == HostFlavor::KraftCombined))
            .map(|n| format!("{}@{}:9093", n.id, n.host))
            .collect();
        let brokers = self.spec.brokers.max(1);
        let rf = brokers.min(3);
        for node in self.nodes.clone() {
            let host = self.lab.host(&node.host);
            host.sh("adduser --system --group --home /var/lib/kafka --no-create-home kafka >/dev/null")?;
            host.sh("install -d -o kafka -g kafka /var/lib/kafka /var/log/kafka /var/lib/zookeeper")?;
            // The healer's SSH user, its key, and the shipped sudoers drop-in (docs/operations.md).
            host.sh("adduser --system --group --shell /bin/sh --home /var/lib/kafka-healing kafka-healing >/dev/null")?;
            host.write("/var/lib/kafka-healing/.ssh/authorized_keys", &public, 0o600)?;
            host.sh("chown -R kafka-healing:kafka-healing /var/lib/kafka-healing/.ssh && chmod 700 /var/lib/kafka-healing/.ssh")?;
            host.write("/etc/sudoers.d/kafka-self-healing", &sudoers, 0o440)?;
            host.sh("visudo -cf /etc/sudoers.d/kafka-self-healing >/dev/null")?;
            let log = format!("/var/log/kafka/{}.log", node.unit);
            let (dir, main, file) = if node.unit == "zookeeper" {
                host.write("/var/lib/zookeeper/myid", &format!("{}\n", node.id), 0o644)?;
                // A short tick for speed, with the session cap of ZooKeeper's default tick
                // (40 s): a broker gets the session timeout it asks for (Kafka's 18 s too).
                let cfg = "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir=/var/lib/zookeeper\nclientPort=2181\n\
                           maxSessionTimeout=40000\n\
                           maxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\n";
                host.write("/etc/zookeeper/zoo.cfg", cfg, 0o644)?;
                ("/etc/zookeeper", "org.apache.zookeeper.server.quorum.QuorumPeerMain", "/etc/zookeeper/zoo.cfg")
            } else {
                let mut p = format!(
                    "log.dirs=/var/lib/kafka/data\nnum.partitions=1\ndefault.replication.factor={rf}\n\
                     offsets.topic.replication.factor={rf}\noffsets.topic.num.partitions=3\n\
                     transaction.state.log.replication.factor={rf}\ntransaction.state.log.min.isr={}\n\
                     group.initial.rebalance.delay.ms=0\nnum.network.threads=2\nnum.io.threads=2\n\
                     background.threads=2\nnum.recovery.threads.per.data.dir=1\nlog.cleaner.threads=1\n\
                     log.cleaner.dedupe.buffer.size=4194304\n",
                    rf.min(2)
                );
                match self.spec.flavor {
                    HostFlavor::Zookeeper => {
                        p += &format!(
                            "broker.id={}\nlisteners=PLAINTEXT://0.0.0.0:9092\nadvertised.listeners=PLAINTEXT://{}:9092\n\
                         zookeeper.connect={zk_connect}\n\
                         # The bed's only tuning: a 6 s ZooKeeper session instead of 18 s, for speed.\n\
                         zookeeper.session.timeout.ms=6000\nzookeeper.connection.timeout.ms=30000\n",
                            node.id, node.host
                        )
                    }
                    HostFlavor::KraftCombined | HostFlavor::KraftSeparate => {
                        let host = &node.host;
                        let (roles, listeners, advertised, map) = match (self.spec.flavor, node.controller) {
                            (HostFlavor::KraftCombined, _) => (
                                "broker,controller",
                                "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
                                format!("PLAINTEXT://{host}:9092"),
                                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                            ),
                            (_, true) => (
                                "controller",
                                "CONTROLLER://0.0.0.0:9093",
                                format!("CONTROLLER://{host}:9093"),
                                "CONTROLLER:PLAINTEXT",
                            ),
                            (_, false) => (
                                "broker",
                                "PLAINTEXT://0.0.0.0:9092",
                                format!("PLAINTEXT://{host}:9092"),
                                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                            ),
                        };
                        p += &format!(
                            "process.roles={roles}\nnode.id={}\ncontroller.quorum.voters={}\n\
                             controller.listener.names=CONTROLLER\nlisteners={listeners}\n\
                             advertised.listeners={advertised}\nlistener.security.protocol.map={map}\n",
                            node.id,
                            voters.join(",")
                        );
                        if roles != "controller" {
                            p += "inter.broker.listener.name=PLAINTEXT\n";
                        }
                    }
                }
                host.write("/etc/kafka/server.properties", &p, 0o644)?;
                ("/etc/kafka", "kafka.Kafka", "/etc/kafka/server.properties")
            };
            let log4j = format!("{dir}/log4j.properties");
            host.write(&log4j, &log_config(line, Some(Path::new(&log))), 0o644)?;
            let jvm = format!(
                "-Xmx{heap}m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
                 -Dkafka.logs.dir=/var/log/kafka {log_arg}",
                heap = if node.unit == "kafka" { 256 } else { 128 },
                log_arg = log_config_arg(line, Path::new(&log4j)),
            );
            if self.spec.flavor != HostFlavor::Zookeeper && node.unit == "kafka" {
                host.sh(&format!(
                    "runuser -u kafka -- {JAVA} -Xmx192m {} -cp '{KAFKA_HOME}/libs/*' kafka.tools.StorageTool \
                     format --ignore-formatted -t {cluster_id} -c {file} >/dev/null",
                    log_config_arg(line, Path::new(&log4j))
                ))?;
            }
            let restart = if self.spec.restart_on_failure { "Restart=on-failure\nRestartSec=3\n" } else { "" };
            let unit = format!(
                "# As operators write it: the JVM as the kafka user, stopped with SIGTERM (a controlled shutdown).\n\
                 [Unit]\nDescription=Apache {what}\nAfter=network-online.target\nWants=network-online.target\n\n\
                 [Service]\nType=simple\nUser=kafka\nGroup=kafka\n\
                 ExecStart={JAVA} {jvm} -cp {KAFKA_HOME}/libs/* {main} {file}\n\
                 SuccessExitStatus=143\nTimeoutStopSec=60\nLimitNOFILE=100000\n{restart}\n\
                 [Install]\nWantedBy=multi-user.target\n",
                what = if node.unit == "kafka" { "Kafka" } else { "ZooKeeper" },
            );
            host.write(&format!("/etc/systemd/system/{}.service", node.unit), &unit, 0o644)?;
            host.sh(&format!("systemctl daemon-reload && systemctl enable {} 2>/dev/null", node.unit))?;
        }
        Ok(())
    }

    /// Starts ZooKeeper (or the controllers), then the brokers, and waits until each answers.
    fn start_nodes(&self) -> anyhow::Result<()> {
        let first = |n: &&HostNode| n.unit == "zookeeper" || n.controller;
        for group in [true, false] {
            let nodes: Vec<&HostNode> = self.nodes.iter().filter(|n| first(n) == group).collect();
            for n in &nodes {
                self.lab.host(&n.host).sh(&format!("systemctl start --no-block {}", n.unit))?;
            }
            for n in &nodes {
                self.wait_serving(&n.host, Duration::from_secs(120))?;
            }
        }
        Ok(())
    }

    /// The node on `host`.
    pub fn node(&self, host: &str) -> &HostNode {
        self.nodes.iter().find(|n| n.host == host).unwrap_or_else(|| panic!("no node on `{host}`"))
    }

    /// Waits until the node on `host` answers its own protocol (from the lab's bridge).
    pub fn wait_serving(&self, host: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if self.serving(host) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let h = self.lab.host(host);
                let unit = self.node(host).unit;
                bail!(
                    "`{unit}` on `{host}` does not answer within {limit:?} (unit {}):\n{}",
                    h.unit_state(unit),
                    h.exec(&format!("journalctl -u {unit} -n 20 --no-pager; tail -n 20 /var/log/kafka/{unit}.log"))
                        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Whether the node on `host` answers (ApiVersions, or `srvr` with a mode).
    pub fn serving(&self, host: &str) -> bool {
        let node = self.node(host).clone();
        let Ok(addr) = format!("{}:{}", self.lab.host(host).address, node.port).parse() else { return false };
        self.lab.in_lab(move || answers(node.unit, addr)).unwrap_or(false)
    }

    /// What the `kafka-testbed` launcher's other commands need (`owner`: the
    /// process that keeps the lab running).
    pub fn state(&self, owner: u32) -> HostsState {
        let lab = self.lab.state();
        let nodes = self
            .nodes
            .iter()
            .map(|n| NodeState {
                host: n.host.clone(),
                unit: n.unit.to_string(),
                id: n.id,
                port: n.port,
                address: self.lab.host(&n.host).address.clone(),
            })
            .collect();
        HostsState {
            flavor: format!("{:?}", self.spec.flavor),
            owner,
            lab,
            nodes,
            bootstrap: self.bootstrap(),
            cluster_section: self.cluster_section("hosts"),
            key: self.key.clone(),
        }
    }

    /// `kill -9` of the unit's main process on `host`, as a crash would.
    pub fn crash(&self, host: &str) -> anyhow::Result<u32> {
        let h = self.lab.host(host);
        let unit = self.node(host).unit;
        let pid = h.main_pid(unit).ok_or_else(|| anyhow::anyhow!("`{unit}` on `{host}` has no main process"))?;
        h.sh(&format!("kill -9 {pid}"))?;
        Ok(pid)
    }

    /// `BROKER:9092,…` for clients on the lab's bridge.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.unit == "kafka")
            .map(|n| format!("{}:9092", n.host))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The .deb built by `testing/package.sh`.
    pub fn package() -> anyhow::Result<PathBuf> {
        let dir = repo_dir().join("target/debian");
        std::fs::read_dir(&dir)
            .with_context(|| format!("no {} (testing/package.sh builds the .deb)", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .ok_or_else(|| anyhow::anyhow!("no .deb in {} (testing/package.sh builds it)", dir.display()))
    }

    /// `dpkg -i` of the .deb on `host`, the healer's key in its home, the node
    /// hosts' keys in its known_hosts (`ssh-keyscan`, as docs/operations.md says).
    pub fn install_healer(&self, host: &str) -> anyhow::Result<()> {
        let deb = Self::package()?;
        let h = self.lab.host(host);
        let inside = "/root/kafka-self-healing.deb";
        std::fs::copy(&deb, h.fs().join(inside.trim_start_matches('/')))?;
        h.sh(&format!("dpkg -i {inside} >/dev/null"))?;
        let key = std::fs::read_to_string(&self.key)?;
        h.write("/var/lib/kafka-self-healing/.ssh/id_ed25519", &key, 0o600)?;
        let hosts: Vec<&str> = self.nodes.iter().map(|n| n.host.as_str()).collect();
        h.sh(&format!(
            "ssh-keyscan -t ed25519 {} 2>/dev/null > /var/lib/kafka-self-healing/.ssh/known_hosts && \
             chown -R kafka-healing:kafka-healing /var/lib/kafka-self-healing/.ssh && \
             chmod 700 /var/lib/kafka-self-healing/.ssh",
            hosts.join(" ")
        ))?;
        Ok(())
    }

    /// Writes the packaged healer's configuration on host `on` (as an
    /// operator does: readable by its group) and starts its unit; returns
    /// once `kafka-self-healing status` answers there (every node seen).
    pub fn start_healer(&self, on: &str, config: &str, limit: Duration) -> anyhow::Result<()> {
        let healer = self.lab.host(on);
        healer.write("/etc/kafka-self-healing/config.yaml", config, 0o640)?;
        healer.sh(
            "chgrp kafka-healing /etc/kafka-self-healing/config.yaml && systemctl enable --now kafka-self-healing",
        )?;
        let started = Instant::now();
        while !healer.exec("kafka-self-healing status --url http://localhost:8080").is_ok_and(|o| o.status.success()) {
            anyhow::ensure!(started.elapsed() < limit, "the healer on {on} does not answer `status` within {limit:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    }

    /// The healer's `cluster:` section: every node by its host name.
    pub fn cluster_section(&self, name: &str) -> String {
        let mut brokers = String::new();
        let mut controllers = String::new();
        let mut zookeepers = String::new();
        for n in &self.nodes {
            match (n.unit, self.spec.flavor) {
                ("zookeeper", _) => {
                    zookeepers += &format!("    - {{node_id: {}, host: {}, port: 2181}}\n", n.host, n.host)
                }
                (_, HostFlavor::Zookeeper) => {
                    brokers += &format!("    - {{node_id: {}, host: {}, port: 9092}}\n", n.host, n.host)
                }
                (_, HostFlavor::KraftSeparate) if n.controller => {
                    // A controller's node.id: how the quorum's answers name it.
                    controllers +=
                        &format!("    - {{node_id: {}, host: {}, port: 9093, broker_id: {}}}\n", n.host, n.host, n.id)
                }
                (_, HostFlavor::KraftSeparate) => {
                    brokers += &format!("    - {{node_id: {}, host: {}, port: 9092}}\n", n.host, n.host)
                }
                (_, HostFlavor::KraftCombined) => {
                    brokers += &format!("    - {{node_id: {}, host: {}, port: 9092}}\n", n.host, n.host);
                    controllers += &format!(
                        "    - {{node_id: {}-controller, host: {}, port: 9093, broker_id: {}}}\n",
                        n.host, n.host, n.id
                    );
                }
            }
        }
        super::config::section(name, &brokers, &controllers, &zookeepers)
    }
}
