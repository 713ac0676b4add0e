//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// The `kafka-self-healing` binary built for this test run.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-self-healing"))
}

/// The `kafka-testbed` binary built for this test run.
pub fn testbed_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-testbed"))
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

/// A configuration that watches every node of `cluster` on 127.0.0.1, with
/// `monitoring` (indented lines) as its monitoring section; the state store
/// and the audit log go in `dir`.
pub fn config_for(cluster: &kafka_self_healing::testbed::Cluster, monitoring: &str, dir: &Path) -> String {
    let nodes = kafka_self_healing::testbed::cluster_section("test-bed", &[("", cluster)]);
    format!(
        "{nodes}monitoring:\n{monitoring}\nlogging:\n  file: \"\"\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n",
        dir.join("audit.log").display(),
        dir.join("state").display()
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
