//! Helpers shared by the integration tests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_testbed::netns::Netns;
use kafka_testbed::{Cluster, cluster_section};
use serde_json::Value;

/// The `kafka-self-healing` binary built for this test run.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-self-healing"))
}

/// The test bed's launcher, `kafka-testbed`: an example of this package, so
/// `cargo test` builds it with the tests, into the profile's `examples/`.
pub const TESTBED: &str = if cfg!(debug_assertions) {
    concat!(env!("CARGO_TARGET_TMPDIR"), "/../debug/examples/kafka-testbed")
} else {
    concat!(env!("CARGO_TARGET_TMPDIR"), "/../release/examples/kafka-testbed")
};

/// The `kafka-testbed` launcher built for this test run.
pub fn testbed_bin() -> Command {
    assert!(Path::new(TESTBED).is_file(), "{TESTBED} is missing: build it with `cargo build --example kafka-testbed`");
    Command::new(TESTBED)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` and returns its output; prints the command and everything it wrote
/// so a failing assertion shows what happened (ripgrep's harness does the same).
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    eprintln!(
        "$ {cmd:?}\n[exit {:?}]\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a condition polled by [`wait_until`] gives: `true`, or a value.
pub trait Reached {
    type Value;
    fn reached(self) -> Option<Self::Value>;
}

impl Reached for bool {
    type Value = ();
    fn reached(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Reached for Option<T> {
    type Value = T;
    fn reached(self) -> Option<T> {
        self
    }
}

/// The one wait of the tests: polls `f` every 100 ms until it is `true` (or
/// gives a value, which is returned); fails naming `what` after `limit`.
pub fn wait_until<R: Reached>(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> R) -> R::Value {
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = f().reached() {
            return v;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Writes `text` to `name` in a fresh temporary directory.
pub fn write_temp(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Cluster tests take this lock: on 2 cores, clusters run one at a time.
pub fn cluster_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub use kafka_testbed::{free_port, http_line};

/// A configuration that watches every node of `cluster` on 127.0.0.1, with
/// `monitoring` (indented lines) as its monitoring section; the state store
/// and the audit log go in `dir`.
pub fn config_for(cluster: &kafka_testbed::Cluster, monitoring: &str, dir: &Path) -> String {
    let nodes = kafka_testbed::cluster_section("test-bed", &[("", cluster)]);
    format!(
        "{nodes}monitoring:\n{monitoring}\nlogging:\n  file: \"\"\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
        dir.join("audit.log").display(),
        dir.join("state").display(),
        http_line()
    )
}

/// A TCP proxy on 127.0.0.1 that delays every chunk in both directions, and
/// can cut every open connection once: a slow or lossy network on demand.
pub struct DelayProxy {
    pub port: u16,
    conns: std::sync::Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl DelayProxy {
    pub fn start(upstream: std::net::SocketAddr, delay: std::time::Duration) -> DelayProxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns = std::sync::Arc::new(Mutex::new(Vec::new()));
        let registry = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                registry.lock().unwrap().push(client.try_clone().unwrap());
                for (from, to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    std::thread::spawn(move || pump(from, to, delay));
                }
            }
        });
        DelayProxy { port, conns }
    }

    /// Closes every connection open now, as a network blip would.
    pub fn cut_connections(&self) -> usize {
        let mut conns = self.conns.lock().unwrap();
        for c in conns.iter() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let n = conns.len();
        conns.clear();
        n
    }
}

fn pump(mut from: std::net::TcpStream, mut to: std::net::TcpStream, delay: std::time::Duration) {
    use std::io::{Read, Write};
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                std::thread::sleep(delay);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A real Kafka client (kcat) run with `args`; `input` goes to its stdin.
pub fn kcat(args: &[&str], input: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is installed by testing/setup.sh");
    if let Some(text) = input {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Number of brokers in the cluster's metadata, as a real client sees it.
pub fn registered_brokers(cluster: &kafka_testbed::Cluster) -> Option<usize> {
    let (ok, text) = kcat(&["-L", "-b", &cluster.bootstrap_servers(), "-m", "5"], None);
    if !ok {
        return None;
    }
    text.lines().find_map(|l| l.trim().strip_suffix(" brokers:").and_then(|n| n.parse().ok()))
}

/// True when every partition of `topic` has `n` in-sync replicas.
pub fn fully_in_sync(cluster: &kafka_testbed::Cluster, topic: &str, n: usize) -> bool {
    let (ok, text) = kcat(&["-L", "-b", &cluster.bootstrap_servers(), "-t", topic, "-m", "5"], None);
    let isrs: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split("isrs: ").nth(1))
        .map(|isrs| isrs.split(',').filter(|s| !s.trim().is_empty()).count())
        .collect();
    ok && !isrs.is_empty() && isrs.iter().all(|c| *c == n)
}

pub fn produce_and_consume(cluster: &kafka_testbed::Cluster, topic: &str, message: &str) {
    let boot = cluster.bootstrap_servers();
    let (ok, text) = kcat(
        &["-P", "-b", &boot, "-t", topic, "-X", "acks=all", "-X", "message.timeout.ms=30000"],
        Some(&format!("{message}\n")),
    );
    assert!(ok, "produce failed: {text}");
    let (ok, text) =
        kcat(&["-C", "-b", &boot, "-t", topic, "-o", "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=100"], None);
    assert!(ok, "consume failed: {text}");
    assert!(text.lines().any(|l| l == message), "message `{message}` not consumed; got: {text}");
}

/// The audit trail (`audit.log` in `dir`), one JSON record per line.
pub fn audit_log(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

// --- The daemon harness: one daemon run against a cluster of the bed. ---

/// One daemon run: its files, its process, its audit trail.
pub struct Run {
    pub dir: PathBuf,
    pub config: PathBuf,
    /// Environment the daemon gets on top of the test's own.
    pub env: Vec<(String, String)>,
    /// The network namespace the daemon runs in (`ip netns exec`), if not the machine's.
    pub netns: Option<String>,
    child: Option<Child>,
}

impl Run {
    /// Writes a configuration watching `cluster` with `recovery` (indented
    /// lines) as its recovery section, and starts the daemon with `args`.
    pub fn start(cluster: &Cluster, dir: &Path, recovery: &str, args: &[&str]) -> Run {
        let mut run = Run::start_config_only(cluster, dir, recovery);
        run.spawn(args);
        run
    }

    pub fn spawn(&mut self, args: &[&str]) {
        let stderr = std::fs::File::create(self.dir.join("stderr.log")).unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => kafka_testbed::netns::command_in(ns, env!("CARGO_BIN_EXE_kafka-self-healing")),
            None => bin(),
        };
        let child = cmd
            .args(["run", "--config"])
            .arg(&self.config)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the daemon starts");
        self.child = Some(child);
        self.wait_for("daemon_started", Duration::from_secs(20), |_| true);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn audit(&self) -> Vec<Value> {
        audit_log(&self.dir)
    }

    pub fn events(&self, event: &str) -> Vec<Value> {
        self.audit().into_iter().filter(|r| r["event"] == event).collect()
    }

    /// Waits for an audit record `event` matching `pred`; returns it.
    pub fn wait_for(&self, event: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Some(r) = self.events(event).into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                started.elapsed() < limit,
                "no `{event}` audit record within {limit:?}; audit:\n{}\nlog tail:\n{}\nstderr:\n{}",
                std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default(),
                tail(&std::fs::read_to_string(self.dir.join("application.log")).unwrap_or_default()),
                tail(&std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn incidents(&self) -> Vec<Value> {
        let out = run(bin().args(["incidents", "--output", "json", "--config"]).arg(&self.config));
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("incidents as JSON")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// An executable script in `dir/scripts/default.sh` with `body`.
pub fn script(dir: &Path, body: &str) -> PathBuf {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let path = scripts.join("default.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    scripts
}

/// The test bed's own start command: what an operator's restart script would run.
pub fn start_command(cluster: &Cluster) -> String {
    format!("exec {TESTBED} start \"$KAFKA_NODE_ID\" --dir {}", cluster.dir().display())
}

pub fn for_node<'a>(records: &'a [Value], node: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["node"] == node).collect()
}

impl Run {
    /// Like `start`, with the daemon inside `netns`.
    pub fn start_in(netns: &Netns, cluster: &Cluster, dir: &Path, recovery: &str) -> Run {
        let mut r = Run::start_config_only(cluster, dir, recovery);
        r.netns = Some(netns.name().to_string());
        r.spawn(&[]);
        r
    }

    pub fn start_config_only(cluster: &Cluster, dir: &Path, recovery: &str) -> Run {
        Run::config_with(cluster, dir, "  interval_seconds: 2\n  timeout_seconds: 2", recovery)
    }

    /// The configuration, with `monitoring` (indented lines) as its monitoring section.
    pub fn config_with(cluster: &Cluster, dir: &Path, monitoring: &str, recovery: &str) -> Run {
        let text = format!(
            "{}monitoring:\n{monitoring}\nrecovery:\n{recovery}\n\
             logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
            cluster_section("test-bed", &[("", cluster)]),
            dir.join("application.log").display(),
            dir.join("audit.log").display(),
            dir.join("state").display(),
            http_line()
        );
        let config = write_temp(dir, "config.yaml", &text);
        Run::with_config(dir, config)
    }

    /// A run of the configuration file `config`, its files in `dir` (not started).
    pub fn with_config(dir: &Path, config: PathBuf) -> Run {
        Run { dir: dir.to_path_buf(), config, env: Vec::new(), netns: None, child: None }
    }
}
