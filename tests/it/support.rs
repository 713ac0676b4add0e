//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

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

/// Polls `f` every 250 ms until it gives a value; fails with `what` after `limit`.
pub fn wait_until<T>(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(250));
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
