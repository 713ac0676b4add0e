//! A cluster of real Kafka and ZooKeeper JVMs: layout, configuration files,
//! start, stop, kill, pause, and a state file for shell use.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::dist::{KafkaLine, ensure_distribution};
use super::process::{self, signal_group, spawn, wait_gone};
use super::readiness::{api_versions, zookeeper_four_letter_word};
use super::tls::TlsFiles;

/// What kind of cluster to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// Kafka 3.9 brokers on a ZooKeeper ensemble.
    Zookeeper,
    /// Kafka 4.x nodes that are broker and controller at once.
    KraftCombined,
    /// Kafka 4.x with dedicated controllers and brokers.
    KraftSeparate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub flavor: Flavor,
    /// Brokers (combined nodes for `KraftCombined`).
    pub brokers: usize,
    /// ZooKeeper servers (`Zookeeper` flavor only).
    pub zookeepers: usize,
    /// Dedicated controllers (`KraftSeparate` only).
    pub controllers: usize,
    /// Maximum heap of each Kafka JVM.
    pub heap_mb: u32,
    /// ZooKeeper's `4lw.commands.whitelist` (`srvr` is always added: readiness uses it).
    pub zookeeper_whitelist: String,
    /// Log directories per Kafka node (`data`, or `data-1` … `data-N` for JBOD).
    pub log_dirs: usize,
    /// Give each broker a second, SASL_SSL listener (mutual TLS; PLAIN and SCRAM users).
    #[serde(default)]
    pub secure: bool,
    /// Attach a Jolokia agent and the Prometheus JMX exporter to each Kafka JVM.
    #[serde(default)]
    pub jmx_agents: bool,
    /// Require a user and password (`JMX_USER`, `JMX_PASSWORD`) for JMX/RMI and the agents.
    #[serde(default)]
    pub jmx_auth: bool,
    /// Kafka's own default for `zookeeper.session.timeout.ms` (18 s) instead of
    /// the bed's 6 s: what an operator's brokers run with (benchmarks, and the
    /// tests that must see Kafka's real timing).
    #[serde(default)]
    pub kafka_defaults: bool,
}

impl Spec {
    /// 3 brokers of `flavor`, small heaps, no extras; the constructors below fill in the rest.
    fn base(flavor: Flavor) -> Self {
        Spec {
            flavor,
            brokers: 3,
            zookeepers: 0,
            controllers: 0,
            heap_mb: 256,
            zookeeper_whitelist: "*".into(),
            log_dirs: 1,
            secure: false,
            jmx_agents: false,
            jmx_auth: false,
            kafka_defaults: false,
        }
    }
    /// 3 ZooKeeper servers + 3 Kafka 3.9 brokers.
    pub fn zookeeper() -> Self {
        Spec { zookeepers: 3, controllers: 0, ..Spec::base(Flavor::Zookeeper) }
    }
    /// 3 combined KRaft nodes on Kafka 4.x.
    pub fn kraft() -> Self {
        Spec { zookeepers: 0, controllers: 0, ..Spec::base(Flavor::KraftCombined) }
    }
    /// 3 KRaft controllers + 3 brokers on Kafka 4.x.
    pub fn kraft_separate() -> Self {
        Spec { zookeepers: 0, controllers: 3, ..Spec::base(Flavor::KraftSeparate) }
    }
    pub fn line(&self) -> KafkaLine {
        match self.flavor {
            Flavor::Zookeeper => KafkaLine::V3_9,
            Flavor::KraftCombined | Flavor::KraftSeparate => KafkaLine::V4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Zookeeper,
    Broker,
    Controller,
    /// KRaft broker and controller in one process.
    Combined,
}

/// One node's identity, ports and files; everything a test needs to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `zk-1`, `broker-2`, `controller-1`, `kafka-3`.
    pub name: String,
    pub kind: NodeKind,
    /// ZooKeeper myid, or Kafka broker.id / node.id.
    pub id: u32,
    /// Client port: ZooKeeper clientPort, Kafka PLAINTEXT listener, or controller listener.
    pub port: u16,
    /// KRaft controller listener (controllers and combined nodes).
    pub controller_port: Option<u16>,
    /// JMX/RMI port (Kafka nodes).
    pub jmx_port: Option<u16>,
    /// ZooKeeper AdminServer HTTP port.
    pub admin_port: Option<u16>,
    /// ZooKeeper quorum and election ports.
    pub peer_ports: Option<(u16, u16)>,
    /// SASL_SSL listener (brokers of a `secure` test bed).
    #[serde(default)]
    pub secure_port: Option<u16>,
    /// Jolokia agent's HTTP port (`jmx_agents`).
    #[serde(default)]
    pub jolokia_port: Option<u16>,
    /// Prometheus JMX exporter's HTTP port (`jmx_agents`).
    #[serde(default)]
    pub prometheus_port: Option<u16>,
    pub dir: PathBuf,
    /// Pid of the running JVM (also its process group), if any.
    pub pid: Option<u32>,
}

impl NodeInfo {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
    fn is_kafka(&self) -> bool {
        self.kind != NodeKind::Zookeeper
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    spec: Spec,
    libs: PathBuf,
    cluster_id: String,
    nodes: Vec<NodeInfo>,
    #[serde(default)]
    tls: Option<TlsFiles>,
}

/// A running cluster. Dropping it kills every JVM it started.
pub struct Cluster {
    state: State,
    dir: PathBuf,
    children: Vec<Option<Child>>,
    /// Whether JVMs die with this process (tests) or outlive it (`kafka-testbed up`).
    tied: bool,
    /// Tear down on drop (false for a cluster attached from its state file).
    owned: bool,
    _tempdir: Option<tempfile::TempDir>,
}

/// A node's start failed because its port was bound by someone else meanwhile.
fn port_taken(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("Address already in use") || text.contains("BindException")
}

const ZK_READY: Duration = Duration::from_secs(90);
const KAFKA_READY: Duration = Duration::from_secs(180);
const GRACEFUL_STOP: Duration = Duration::from_secs(60);

impl Cluster {
    /// Starts `spec` in a fresh temporary directory; JVMs die with this process.
    ///
    /// Ports are chosen free, but another process (any outgoing connection
    /// takes an ephemeral port) may bind one before the JVM does: a node that
    /// fails on `Address already in use` makes the whole cluster start again
    /// on new ports, up to three times.
    pub fn start(spec: Spec) -> anyhow::Result<Cluster> {
        let mut tries = 0;
        loop {
            tries += 1;
            let tempdir = tempfile::Builder::new().prefix("ksh-testbed-").tempdir()?;
            let dir = tempdir.path().to_path_buf();
            let mut cluster = Cluster::create(spec.clone(), &dir, true)?;
            cluster._tempdir = Some(tempdir);
            match cluster.start_all() {
                Ok(()) => return Ok(cluster),
                Err(e) if tries < 3 && port_taken(&e) => {
                    eprintln!("testbed: a port was taken before its JVM bound it; starting again on new ports ({e:#})");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts `spec` in `dir` (created, must be empty). With `tied` false the
    /// JVMs outlive this process and are found again through `dir/testbed.json`.
    pub fn start_in(spec: Spec, dir: &Path, tied: bool) -> anyhow::Result<Cluster> {
        fs::create_dir_all(dir)?;
        if fs::read_dir(dir)?.next().is_some() {
            bail!("{} is not empty; give a new directory (or `down` the cluster in it first)", dir.display());
        }
        let mut cluster = Cluster::create(spec, dir, tied)?;
        cluster.start_all()?;
        Ok(cluster)
    }

    /// Attaches to a cluster started by another process; dropping it leaves the JVMs running.
    pub fn attach(dir: &Path) -> anyhow::Result<Cluster> {
        let path = dir.join("testbed.json");
        let text = fs::read_to_string(&path)
            .with_context(|| format!("no test bed in {} (missing {})", dir.display(), path.display()))?;
        let state: State = serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
        let children = state.nodes.iter().map(|_| None).collect();
        Ok(Cluster { state, dir: dir.to_path_buf(), children, tied: false, owned: false, _tempdir: None })
    }

    /// Re-reads the nodes' pids from `testbed.json` after another process (a
    /// `kafka-testbed start`, the daemon's recovery action) started some.
    pub fn refresh(&mut self) -> anyhow::Result<()> {
        let path = self.dir.join("testbed.json");
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let state: State = serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
        for (i, theirs) in state.nodes.into_iter().enumerate() {
            if let Some(mine) = self.state.nodes.get_mut(i)
                && mine.pid != theirs.pid
            {
                mine.pid = theirs.pid;
                self.children[i] = None;
            }
        }
        Ok(())
    }

    fn create(spec: Spec, dir: &Path, tied: bool) -> anyhow::Result<Cluster> {
        let libs = ensure_distribution(spec.line())?;
        let mut nodes = Vec::new();
        // Every port stays bound until all are chosen, so no two nodes get the same one.
        let held = std::cell::RefCell::new(Vec::new());
        let free_port = || -> anyhow::Result<u16> {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            held.borrow_mut().push(listener);
            Ok(port)
        };
        let node = |name: String, kind: NodeKind, id: u32| -> anyhow::Result<NodeInfo> {
            let kafka = kind != NodeKind::Zookeeper;
            let node_dir = dir.join(&name);
            fs::create_dir_all(&node_dir)?;
            let port = free_port()?;
            // A dedicated controller's only listener is its controller listener.
            let controller_port = match kind {
                NodeKind::Controller => Some(port),
                NodeKind::Combined => Some(free_port()?),
                _ => None,
            };
            Ok(NodeInfo {
                name,
                kind,
                id,
                port,
                controller_port,
                jmx_port: if kafka { Some(free_port()?) } else { None },
                admin_port: if kafka { None } else { Some(free_port()?) },
                peer_ports: if kafka { None } else { Some((free_port()?, free_port()?)) },
                // A SASL_SSL listener on brokers; a TLS secureClientPort on ZooKeeper.
                secure_port: match kind {
                    NodeKind::Broker | NodeKind::Combined | NodeKind::Zookeeper if spec.secure => Some(free_port()?),
                    _ => None,
                },
                jolokia_port: if kafka && spec.jmx_agents { Some(free_port()?) } else { None },
                prometheus_port: if kafka && spec.jmx_agents { Some(free_port()?) } else { None },
                dir: node_dir,
                pid: None,
            })
        };
        match spec.flavor {
            Flavor::Zookeeper => {
                for i in 1..=spec.zookeepers.max(1) {
                    nodes.push(node(format!("zk-{i}"), NodeKind::Zookeeper, i as u32)?);
                }
                for i in 1..=spec.brokers {
                    nodes.push(node(format!("broker-{i}"), NodeKind::Broker, i as u32)?);
                }
            }
            Flavor::KraftCombined => {
                for i in 1..=spec.brokers {
                    nodes.push(node(format!("kafka-{i}"), NodeKind::Combined, i as u32)?);
                }
            }
            Flavor::KraftSeparate => {
                for i in 1..=spec.controllers.max(1) {
                    nodes.push(node(format!("controller-{i}"), NodeKind::Controller, 100 + i as u32)?);
                }
                for i in 1..=spec.brokers {
                    nodes.push(node(format!("broker-{i}"), NodeKind::Broker, i as u32)?);
                }
            }
        }
        drop(held);
        let children = nodes.iter().map(|_| None).collect();
        let tls = if spec.secure { Some(super::tls::generate(&dir.join("tls"))?) } else { None };
        let state = State { spec, libs, cluster_id: random_cluster_id()?, nodes, tls };
        let cluster = Cluster { state, dir: dir.to_path_buf(), children, tied, owned: true, _tempdir: None };
        for n in &cluster.state.nodes {
            cluster.write_node_files(n)?;
        }
        cluster.save()?;
        Ok(cluster)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn spec(&self) -> &Spec {
        &self.state.spec
    }
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.state.nodes
    }
    pub fn node(&self, name: &str) -> anyhow::Result<&NodeInfo> {
        self.state.nodes.iter().find(|n| n.name == name).ok_or_else(|| anyhow!("no node `{name}` in this test bed"))
    }
    fn index(&self, name: &str) -> anyhow::Result<usize> {
        self.state.nodes.iter().position(|n| n.name == name).ok_or_else(|| anyhow!("no node `{name}` in this test bed"))
    }

    /// Kafka nodes that serve clients (brokers and combined nodes).
    pub fn brokers(&self) -> impl Iterator<Item = &NodeInfo> {
        self.state.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Broker | NodeKind::Combined))
    }
    pub fn zookeepers(&self) -> impl Iterator<Item = &NodeInfo> {
        self.state.nodes.iter().filter(|n| n.kind == NodeKind::Zookeeper)
    }
    pub fn controllers(&self) -> impl Iterator<Item = &NodeInfo> {
        self.state.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Controller | NodeKind::Combined))
    }

    /// `127.0.0.1:p1,127.0.0.1:p2,...` of the brokers.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers().map(|n| format!("127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",")
    }

    /// ZooKeeper connect string.
    pub fn zookeeper_connect(&self) -> String {
        self.zookeepers().map(|n| format!("127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",")
    }

    fn save(&self) -> anyhow::Result<()> {
        let tmp = self.dir.join("testbed.json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(&self.state)?)?;
        fs::rename(&tmp, self.dir.join("testbed.json"))?;
        Ok(())
    }

    /// Starts every node; on failure, kills what was started (even when not tied).
    fn start_all(&mut self) -> anyhow::Result<()> {
        let result = self.start_all_inner();
        if result.is_err() {
            self.teardown();
        }
        result
    }

    fn start_all_inner(&mut self) -> anyhow::Result<()> {
        let names: Vec<String> = self.state.nodes.iter().map(|n| n.name.clone()).collect();
        if self.state.spec.flavor != Flavor::Zookeeper {
            self.format_storage()?;
        }
        // ZooKeeper first (brokers need it), then every Kafka node at once.
        for phase in [true, false] {
            let group: Vec<&String> =
                names.iter().filter(|n| self.node(n).is_ok_and(|n| (n.kind == NodeKind::Zookeeper) == phase)).collect();
            for name in &group {
                self.spawn_node(name)?;
            }
            for name in &group {
                self.wait_ready(name)?;
            }
        }
        Ok(())
    }

    /// Starts a stopped node again with the same data and ports, and waits until it serves.
    pub fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        if let Some(pid) = self.state.nodes[i].pid
            && process::pid_alive(pid)
        {
            bail!("`{name}` is still running (pid {pid})");
        }
        // A ZooKeeper-mode broker killed a moment ago is still registered under
        // its old session until that session expires; Kafka then refuses to start
        // (NodeExistsException) and exits. Start it again until the session is gone.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.state.nodes[i].dir.join("server.log");
            let offset = fs::metadata(&log).map_or(0, |m| m.len());
            self.spawn_node(name)?;
            match self.wait_ready(name) {
                Err(_) if Instant::now() < deadline && log_since(&log, offset).contains("NodeExistsException") => {
                    std::thread::sleep(Duration::from_secs(1));
                }
                result => return result,
            }
        }
    }

    fn spawn_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        let node = &self.state.nodes[i];
        let mut cmd = self.java(node)?;
        let log = fs::OpenOptions::new().create(true).append(true).open(node.dir.join("stdout.log"))?;
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let child = spawn(cmd, self.tied).with_context(|| format!("cannot start java for `{name}`"))?;
        self.state.nodes[i].pid = Some(child.id());
        self.children[i] = Some(child);
        self.save()
    }

    /// Waits until the node answers on its own protocol.
    pub fn wait_ready(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        let node = self.state.nodes[i].clone();
        let (limit, what) =
            if node.is_kafka() { (KAFKA_READY, "ApiVersions") } else { (ZK_READY, "`srvr` with a Mode") };
        let deadline = Instant::now() + limit;
        let mut last_error;
        loop {
            let answer = if node.is_kafka() {
                api_versions(node.addr(), Duration::from_secs(2)).map(|_| ())
            } else {
                zookeeper_four_letter_word(node.addr(), "srvr", Duration::from_secs(2)).and_then(|a| {
                    if a.contains("Mode: ") {
                        Ok(())
                    } else {
                        Err(anyhow!("no Mode yet: {}", a.lines().next().unwrap_or("")))
                    }
                })
            };
            match answer {
                Ok(()) => return Ok(()),
                Err(e) => last_error = format!("{e:#}"),
            }
            if let Some(Some(child)) = self.children.get_mut(i)
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("`{name}` exited ({status}) before answering {what}; see {}", self.log_tail(&node));
            }
            if Instant::now() >= deadline {
                bail!(
                    "`{name}` did not answer {what} within {limit:?} (last: {last_error}); see {}",
                    self.log_tail(&node)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_tail(&self, node: &NodeInfo) -> String {
        let mut out = format!("{}/server.log and stdout.log", node.dir.display());
        for file in ["stdout.log", "server.log"] {
            if let Ok(mut f) = fs::File::open(node.dir.join(file)) {
                let mut text = String::new();
                let _ = f.read_to_string(&mut text);
                let tail: Vec<&str> = text.lines().rev().take(8).collect();
                let _ = write!(
                    out,
                    "\n--- last lines of {file} ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        out
    }

    /// Graceful stop: SIGTERM (Kafka's controlled shutdown), SIGKILL after 60 s.
    pub fn stop(&mut self, name: &str) -> anyhow::Result<()> {
        self.end(name, libc::SIGTERM, GRACEFUL_STOP)
    }

    /// `kill -9`: the process dies at once, without controlled shutdown.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        self.end(name, libc::SIGKILL, Duration::from_secs(10))
    }

    fn end(&mut self, name: &str, signal: i32, patience: Duration) -> anyhow::Result<()> {
        // Another process (`kafka-testbed start`, a recovery action) may have
        // started nodes since: act on, and save, the current pids.
        let _ = self.refresh();
        let i = self.index(name)?;
        let Some(pid) = self.state.nodes[i].pid else {
            bail!("`{name}` is not running");
        };
        signal_group(pid, signal).with_context(|| format!("signal `{name}` (pid {pid})"))?;
        if signal == libc::SIGTERM {
            // A stopped JVM cannot act on SIGTERM.
            let _ = signal_group(pid, libc::SIGCONT);
        }
        let mut gone = wait_gone(pid, self.children[i].as_mut(), patience);
        if !gone {
            let _ = signal_group(pid, libc::SIGKILL);
            gone = wait_gone(pid, self.children[i].as_mut(), Duration::from_secs(10));
        }
        if !gone {
            bail!("`{name}` (pid {pid}) did not exit");
        }
        self.children[i] = None;
        self.state.nodes[i].pid = None;
        self.save()
    }

    /// SIGSTOP: the process hangs with its sockets open (a hung broker).
    pub fn pause(&mut self, name: &str) -> anyhow::Result<()> {
        self.signal(name, libc::SIGSTOP)
    }

    /// SIGCONT after `pause`.
    pub fn resume(&mut self, name: &str) -> anyhow::Result<()> {
        self.signal(name, libc::SIGCONT)
    }

    fn signal(&mut self, name: &str, signal: i32) -> anyhow::Result<()> {
        let node = self.node(name)?;
        let pid = node.pid.ok_or_else(|| anyhow!("`{name}` is not running"))?;
        signal_group(pid, signal).with_context(|| format!("signal `{name}` (pid {pid})"))
    }

    /// Kills every JVM of the cluster and waits for them to exit.
    pub fn teardown(&mut self) {
        for i in 0..self.state.nodes.len() {
            if let Some(pid) = self.state.nodes[i].pid.take() {
                let _ = signal_group(pid, libc::SIGKILL);
                wait_gone(pid, self.children[i].as_mut(), Duration::from_secs(10));
                self.children[i] = None;
            }
        }
        // Nodes started by another process (`kafka-testbed start`, the daemon's
        // recovery action) are not our children: find them by their directory.
        for pid in super::process::jvm_pids_under(&self.dir) {
            if signal_group(pid, libc::SIGKILL).is_err() {
                // SAFETY: plain syscall with integer arguments.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            wait_gone(pid, None, Duration::from_secs(10));
        }
        let _ = self.save();
    }

    /// Runs a Kafka command-line tool's main class (e.g. `org.apache.kafka.tools.TopicCommand`).
    pub fn run_tool(&self, main_class: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = self.tool(main_class);
        cmd.args(args);
        let out = cmd.output().with_context(|| format!("cannot run java {main_class}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "{main_class} {} failed ({}):\n{stdout}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    /// Starts a long-running Kafka tool (a verifiable client) with its stdout
    /// piped; its stderr goes to `tools-<class>.log` in the bed's directory. It
    /// dies with this process.
    pub fn spawn_tool(&self, main_class: &str, args: &[&str]) -> anyhow::Result<std::process::Child> {
        let mut cmd = self.tool(main_class);
        let short = main_class.rsplit('.').next().unwrap_or(main_class);
        let log = fs::OpenOptions::new().create(true).append(true).open(self.dir.join(format!("tools-{short}.log")))?;
        cmd.args(args).stdout(Stdio::piped()).stderr(log);
        spawn(cmd, true).with_context(|| format!("cannot start java {main_class}"))
    }

    /// Creates a topic with Kafka's own `kafka-topics` tool.
    pub fn create_topic(&self, topic: &str, partitions: u32, replication_factor: u32) -> anyhow::Result<()> {
        self.create_topic_with(topic, partitions, replication_factor, &[])
    }

    /// Creates a topic with topic configs (`min.insync.replicas=2`, …).
    pub fn create_topic_with(
        &self,
        topic: &str,
        partitions: u32,
        replication_factor: u32,
        configs: &[&str],
    ) -> anyhow::Result<()> {
        let bootstrap = self.bootstrap_servers();
        let (p, rf) = (partitions.to_string(), replication_factor.to_string());
        let mut args = vec![
            "--bootstrap-server",
            bootstrap.as_str(),
            "--create",
            "--topic",
            topic,
            "--partitions",
            &p,
            "--replication-factor",
            &rf,
        ];
        for c in configs {
            args.extend(["--config", c]);
        }
        self.run_tool("org.apache.kafka.tools.TopicCommand", &args).map(|_| ())
    }

    /// Describes a topic with `kafka-topics --describe`.
    pub fn describe_topic(&self, topic: &str) -> anyhow::Result<String> {
        let bootstrap = self.bootstrap_servers();
        self.run_tool(
            "org.apache.kafka.tools.TopicCommand",
            &["--bootstrap-server", &bootstrap, "--describe", "--topic", topic],
        )
    }

    /// `java … main_class` for a short-lived Kafka tool, warnings to stderr.
    fn tool(&self, main_class: &str) -> Command {
        let mut cmd = Command::new("java");
        cmd.arg("-Xmx192m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg(log_config_arg(self.state.spec.line(), &self.dir.join("tools-log.properties")))
            .arg("-cp")
            .arg(format!("{}/*", self.state.libs.display()))
            .arg(main_class)
            .stdin(Stdio::null());
        cmd
    }

    fn format_storage(&self) -> anyhow::Result<()> {
        let mut running = Vec::new();
        for node in self.state.nodes.iter().filter(|n| n.is_kafka()) {
            let mut cmd = self.tool("kafka.tools.StorageTool");
            cmd.args(["format", "--ignore-formatted", "-t", &self.state.cluster_id, "-c"])
                .arg(node.dir.join("server.properties"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            running.push((node.name.clone(), cmd.spawn().context("cannot run kafka-storage format")?));
        }
        // Wait for every one before reporting, so no formatter outlives a failure.
        let mut failures = Vec::new();
        for (name, child) in running {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                failures.push(format!(
                    "kafka-storage format failed for `{name}`: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        match failures.first() {
            Some(first) => bail!("{first}"),
            None => Ok(()),
        }
    }

    fn java(&self, node: &NodeInfo) -> anyhow::Result<Command> {
        let line = self.state.spec.line();
        let mut cmd = Command::new("java");
        let heap = if node.is_kafka() { self.state.spec.heap_mb } else { 128 };
        cmd.arg(format!("-Xmx{heap}m"))
            .arg("-Xms32m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-Djava.awt.headless=true")
            .arg(format!("-Dkafka.logs.dir={}", node.dir.display()))
            .arg(log_config_arg(line, &node.dir.join("log.properties")));
        if let Some(jmx) = node.jmx_port {
            cmd.args([
                "-Dcom.sun.management.jmxremote".to_string(),
                format!("-Dcom.sun.management.jmxremote.port={jmx}"),
                format!("-Dcom.sun.management.jmxremote.rmi.port={jmx}"),
                format!("-Dcom.sun.management.jmxremote.authenticate={}", self.state.spec.jmx_auth),
                format!(
                    "-Dcom.sun.management.jmxremote.password.file={}",
                    node.dir.join("jmxremote.password").display()
                ),
                format!("-Dcom.sun.management.jmxremote.access.file={}", node.dir.join("jmxremote.access").display()),
                "-Dcom.sun.management.jmxremote.ssl=false".to_string(),
                "-Dcom.sun.management.jmxremote.host=127.0.0.1".to_string(),
                "-Djava.rmi.server.hostname=127.0.0.1".to_string(),
            ]);
        }
        if let (Some(jolokia), Some(prometheus)) = (node.jolokia_port, node.prometheus_port) {
            let agents = ensure_distribution(KafkaLine::Agents)?;
            let jar = |prefix: &str| -> anyhow::Result<PathBuf> {
                fs::read_dir(&agents)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
                    .ok_or_else(|| anyhow!("no {prefix}*.jar in {}", agents.display()))
            };
            let auth = if self.state.spec.jmx_auth {
                format!(",user={JMX_USER},password={JMX_PASSWORD}")
            } else {
                String::new()
            };
            cmd.arg(format!("-javaagent:{}=host=127.0.0.1,port={jolokia}{auth}", jar("jolokia-agent-jvm-")?.display()));
            cmd.arg(format!(
                "-javaagent:{}=127.0.0.1:{prometheus}:{}",
                jar("jmx_prometheus_javaagent-")?.display(),
                node.dir.join("jmx-exporter.yaml").display()
            ));
        }
        // ZooKeeper's secure client port: Netty, the broker's key and the CA,
        // client certificates required.
        if let (false, Some(_), Some(tls)) = (node.is_kafka(), node.secure_port, &self.state.tls) {
            let store = super::tls::STORE_PASSWORD;
            cmd.arg("-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory");
            cmd.arg(format!("-Dzookeeper.ssl.keyStore.location={}", tls.broker_p12.display()));
            cmd.arg(format!("-Dzookeeper.ssl.keyStore.password={store}"));
            cmd.arg("-Dzookeeper.ssl.keyStore.type=PKCS12");
            cmd.arg(format!("-Dzookeeper.ssl.trustStore.location={}", tls.truststore_p12.display()));
            cmd.arg(format!("-Dzookeeper.ssl.trustStore.password={store}"));
            cmd.arg("-Dzookeeper.ssl.trustStore.type=PKCS12");
            cmd.arg("-Dzookeeper.ssl.clientAuth=need");
        }
        cmd.arg("-cp").arg(format!("{}/*", self.state.libs.display()));
        if node.is_kafka() {
            cmd.arg("kafka.Kafka").arg(node.dir.join("server.properties"));
        } else {
            cmd.arg("org.apache.zookeeper.server.quorum.QuorumPeerMain").arg(node.dir.join("zoo.cfg"));
        }
        cmd.current_dir(&node.dir);
        Ok(cmd)
    }

    fn write_node_files(&self, node: &NodeInfo) -> anyhow::Result<()> {
        let line = self.state.spec.line();
        fs::write(node.dir.join("log.properties"), log_config(line, Some(&node.dir.join("server.log"))))?;
        fs::write(self.dir.join("tools-log.properties"), log_config(line, None))?;
        if node.kind == NodeKind::Zookeeper {
            let data = node.dir.join("data");
            fs::create_dir_all(&data)?;
            fs::write(data.join("myid"), format!("{}\n", node.id))?;
            fs::write(node.dir.join("zoo.cfg"), self.zoo_cfg(node))?;
        } else {
            fs::write(node.dir.join("server.properties"), self.server_properties(node))?;
            // The exporter's defaults: every MBean, names as the exporter makes them.
            let mut exporter = "lowercaseOutputName: false\n".to_string();
            if self.state.spec.jmx_auth {
                exporter += &format!(
                    "httpServer:\n  authentication:\n    basic:\n      username: {JMX_USER}\n      password: {JMX_PASSWORD}\n"
                );
            }
            fs::write(node.dir.join("jmx-exporter.yaml"), exporter)?;
            // The JVM refuses a password file others may read.
            let password_file = node.dir.join("jmxremote.password");
            fs::write(&password_file, format!("{JMX_USER} {JMX_PASSWORD}\n"))?;
            fs::set_permissions(&password_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            fs::write(node.dir.join("jmxremote.access"), format!("{JMX_USER} readonly\n"))?;
        }
        Ok(())
    }

    fn zoo_cfg(&self, node: &NodeInfo) -> String {
        let mut cfg = format!(
            // A short tick for fast elections; sessions may still be as long as
            // a broker asks (Kafka's default 18 s: `kafka_defaults`).
            "tickTime=500\ninitLimit=20\nsyncLimit=10\nmaxSessionTimeout=40000\ndataDir={data}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n\
             4lw.commands.whitelist={whitelist}\nquorumListenOnAllIPs=false\n",
            data = node.dir.join("data").display(),
            port = node.port,
            admin = node.admin_port.unwrap_or(0),
            whitelist = match self.state.spec.zookeeper_whitelist.as_str() {
                "*" => "*".to_string(),
                list => format!("srvr,{list}"),
            },
        );
        if let Some(secure) = node.secure_port {
            let _ = writeln!(cfg, "secureClientPort={secure}\nsecureClientPortAddress=127.0.0.1");
        }
        let zks: Vec<&NodeInfo> = self.zookeepers().collect();
        if zks.len() > 1 {
            for zk in zks {
                let (quorum, election) = zk.peer_ports.unwrap_or((0, 0));
                let _ = writeln!(cfg, "server.{}=127.0.0.1:{quorum}:{election}", zk.id);
            }
        }
        cfg
    }

    /// The CA, client certificates and stores of a `secure` test bed.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.state.tls.as_ref()
    }

    /// Creates (or updates) a SCRAM-SHA-256 and SCRAM-SHA-512 user with Kafka's
    /// own `kafka-configs`, through the plaintext listener.
    pub fn add_scram_user(&self, user: &str, password: &str) -> anyhow::Result<()> {
        // Kafka 4 refuses two mechanisms for one user in one request: one call each.
        for config in [
            format!("SCRAM-SHA-256=[iterations=4096,password={password}]"),
            format!("SCRAM-SHA-512=[password={password}]"),
        ] {
            let servers = self.bootstrap_servers();
            let args = [
                "--bootstrap-server",
                &servers,
                "--alter",
                "--add-config",
                &config,
                "--entity-type",
                "users",
                "--entity-name",
                user,
            ];
            self.run_tool("kafka.admin.ConfigCommand", &args)?;
        }
        Ok(())
    }

    /// The node's log directories, as in `log.dirs`.
    pub fn log_dirs(&self, node: &NodeInfo) -> Vec<PathBuf> {
        match self.state.spec.log_dirs {
            0 | 1 => vec![node.dir.join("data")],
            n => (1..=n).map(|i| node.dir.join(format!("data-{i}"))).collect(),
        }
    }

    fn server_properties(&self, node: &NodeInfo) -> String {
        let brokers = self.brokers().count().max(1);
        let rf = brokers.min(3);
        let mut p = format!(
            "log.dirs={logs}\nnum.partitions=1\ndefault.replication.factor={rf}\noffsets.topic.replication.factor={rf}\n\
             offsets.topic.num.partitions=3\ntransaction.state.log.replication.factor={rf}\n\
             transaction.state.log.min.isr={min_isr}\ntransaction.state.log.num.partitions=3\n\
             group.initial.rebalance.delay.ms=0\nnum.network.threads=2\nnum.io.threads=2\nbackground.threads=2\n\
             num.recovery.threads.per.data.dir=1\nnum.replica.fetchers=1\nlog.cleaner.threads=1\n\
             log.cleaner.dedupe.buffer.size=4194304\nauto.create.topics.enable=true\n",
            logs = self.log_dirs(node).iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(","),
            min_isr = rf.min(2),
        );
        let voters = || {
            self.controllers()
                .map(|c| format!("{}@127.0.0.1:{}", c.id, c.controller_port.unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(",")
        };
        match node.kind {
            NodeKind::Broker if self.state.spec.flavor == Flavor::Zookeeper => {
                let _ = write!(
                    p,
                    "broker.id={id}\nlisteners={listeners}\nadvertised.listeners={listeners}\n\
                     zookeeper.connect={zk}\n{session}zookeeper.connection.timeout.ms=30000\n",
                    id = node.id,
                    listeners = client_listeners(node),
                    zk = self.zookeeper_connect(),
                    session = if self.state.spec.kafka_defaults { "" } else { "zookeeper.session.timeout.ms=6000\n" },
                );
            }
            NodeKind::Broker => {
                let _ = write!(
                    p,
                    "process.roles=broker\nnode.id={id}\ncontroller.quorum.voters={voters}\ncontroller.listener.names=CONTROLLER\n\
                     listeners={listeners}\nadvertised.listeners={listeners}\n\
                     listener.security.protocol.map={map}\ninter.broker.listener.name=PLAINTEXT\n",
                    id = node.id,
                    listeners = client_listeners(node),
                    map = PROTOCOL_MAP,
                    voters = voters(),
                );
            }
            NodeKind::Controller => {
                let cport = node.controller_port.unwrap_or(0);
                let _ = write!(
                    p,
                    "process.roles=controller\nnode.id={id}\ncontroller.quorum.voters={voters}\ncontroller.listener.names=CONTROLLER\n\
                     listeners=CONTROLLER://127.0.0.1:{cport}\nlistener.security.protocol.map=CONTROLLER:PLAINTEXT\n",
                    id = node.id,
                    voters = voters(),
                );
            }
            NodeKind::Combined => {
                let cport = node.controller_port.unwrap_or(0);
                let _ = write!(
                    p,
                    "process.roles=broker,controller\nnode.id={id}\ncontroller.quorum.voters={voters}\ncontroller.listener.names=CONTROLLER\n\
                     listeners={listeners},CONTROLLER://127.0.0.1:{cport}\nadvertised.listeners={listeners}\n\
                     listener.security.protocol.map={map}\ninter.broker.listener.name=PLAINTEXT\n",
                    id = node.id,
                    listeners = client_listeners(node),
                    map = PROTOCOL_MAP,
                    voters = voters(),
                );
            }
            NodeKind::Zookeeper => {}
        }
        if let (Some(_), Some(tls)) = (node.secure_port, &self.state.tls) {
            let _ = write!(
                p,
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
                 listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}=\"{password}\";\n\
                 listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
                 listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
                 listener.name.sasl_ssl.ssl.client.auth=required\n\
                 ssl.keystore.type=PKCS12\nssl.keystore.location={keystore}\nssl.keystore.password={pw}\nssl.key.password={pw}\n\
                 ssl.truststore.type=PKCS12\nssl.truststore.location={truststore}\nssl.truststore.password={pw}\n",
                user = SASL_USER,
                password = SASL_PASSWORD,
                keystore = tls.broker_p12.display(),
                truststore = tls.truststore_p12.display(),
                pw = super::tls::STORE_PASSWORD,
            );
        }
        p
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned && self.tied {
            self.teardown();
        }
    }
}

/// What `file` gained after byte `offset`.
/// The JMX user of a `jmx_auth` test bed (JMX/RMI, Jolokia and the exporter).
pub const JMX_USER: &str = "monitorRole";
pub const JMX_PASSWORD: &str = "jmx-testbed-secret";

/// The user the SASL_SSL listener knows for PLAIN (SCRAM users are added with `add_scram_user`).
pub const SASL_USER: &str = "alice";
pub const SASL_PASSWORD: &str = "alice-secret";

const PROTOCOL_MAP: &str = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL";

/// A Kafka node's client listeners: PLAINTEXT, and SASL_SSL when it has a secure port.
fn client_listeners(node: &NodeInfo) -> String {
    match node.secure_port {
        Some(secure) => format!("PLAINTEXT://127.0.0.1:{},SASL_SSL://127.0.0.1:{secure}", node.port),
        None => format!("PLAINTEXT://127.0.0.1:{}", node.port),
    }
}

fn log_since(file: &Path, offset: u64) -> String {
    use std::io::{Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(file)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.read_to_string(&mut text);
    }
    text
}

/// A Kafka cluster id: 16 random bytes, URL-safe base64 without padding.
pub(crate) fn random_cluster_id() -> anyhow::Result<String> {
    loop {
        let id = random_base64_id()?;
        // Kafka's own ids never start with `-`: its tools would read one as an option.
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

fn random_base64_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    Ok(out)
}

pub(crate) fn log_config_arg(line: KafkaLine, path: &Path) -> String {
    match line {
        KafkaLine::V3_9 => format!("-Dlog4j.configuration=file:{}", path.display()),
        KafkaLine::V4 | KafkaLine::Agents => format!("-Dlog4j2.configurationFile={}", path.display()),
    }
}

/// Logging to `file` at INFO, or warnings to stderr for command-line tools.
pub(crate) fn log_config(line: KafkaLine, file: Option<&Path>) -> String {
    match (line, file) {
        (KafkaLine::V3_9, Some(f)) => format!(
            "log4j.rootLogger=INFO, file\nlog4j.appender.file=org.apache.log4j.FileAppender\nlog4j.appender.file.File={}\n\
             log4j.appender.file.layout=org.apache.log4j.PatternLayout\nlog4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n\
             log4j.logger.kafka.request.logger=WARN\n",
            f.display()
        ),
        (KafkaLine::V3_9, None) => "log4j.rootLogger=WARN, err\nlog4j.appender.err=org.apache.log4j.ConsoleAppender\n\
             log4j.appender.err.Target=System.err\nlog4j.appender.err.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.err.layout.ConversionPattern=%p %m%n\n"
            .to_string(),
        (KafkaLine::V4 | KafkaLine::Agents, Some(f)) => format!(
            "status = warn\nappender.file.type = File\nappender.file.name = FILE\nappender.file.fileName = {}\n\
             appender.file.layout.type = PatternLayout\nappender.file.layout.pattern = [%d] %p %m (%c)%n\n\
             rootLogger.level = info\nrootLogger.appenderRef.file.ref = FILE\n",
            f.display()
        ),
        (KafkaLine::V4 | KafkaLine::Agents, None) => {
            "status = warn\nappender.err.type = Console\nappender.err.name = ERR\nappender.err.target = SYSTEM_ERR\n\
             appender.err.layout.type = PatternLayout\nappender.err.layout.pattern = %p %m%n\n\
             rootLogger.level = warn\nrootLogger.appenderRef.err.ref = ERR\n"
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafka_uuids() {
        let id = random_cluster_id().unwrap();
        assert_eq!(id.len(), 22, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(id, random_cluster_id().unwrap());
    }
}
