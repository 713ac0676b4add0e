//! A real etcd cluster on 127.0.0.1 (Debian's `etcd-server`), for the
//! high-availability tests: members started, killed, stopped and started
//! again, and the keys read back through etcd's own JSON gateway.
//!
//! Owns: the members' ports, data directories and processes.
//! Must never: leave a member running (each dies with the process that
//! started it, and on drop), or listen on anything but 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::config::free_port;
use crate::process;

/// Where Debian puts the server.
pub const ETCD: &str = "/usr/bin/etcd";

struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// The cluster; every member stops on drop.
pub struct EtcdCluster {
    dir: PathBuf,
    token: String,
    members: Vec<Member>,
}

impl EtcdCluster {
    /// `n` members in `dir`, started and answering (a leader elected).
    pub fn start(n: usize, dir: &Path) -> Result<EtcdCluster, String> {
        if !Path::new(ETCD).exists() {
            return Err(format!("{ETCD} is missing: install Debian's etcd-server (testing/setup.sh does)"));
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let members = (0..n)
            .map(|i| Member { name: format!("etcd-{i}"), client: free_port(), peer: free_port(), child: None })
            .collect();
        let token = format!("ksh-{}-{}", std::process::id(), free_port());
        let mut cluster = EtcdCluster { dir: dir.to_path_buf(), token, members };
        for i in 0..n {
            cluster.spawn(i, "new")?;
        }
        cluster.wait_healthy(Duration::from_secs(30))?;
        Ok(cluster)
    }

    fn initial_cluster(&self) -> String {
        self.members.iter().map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer)).collect::<Vec<_>>().join(",")
    }

    fn spawn(&mut self, i: usize, state: &str) -> Result<(), String> {
        let initial = self.initial_cluster();
        let m = &self.members[i];
        let data = self.dir.join(&m.name);
        let log = std::fs::File::create(self.dir.join(format!("{}.log", m.name))).map_err(|e| e.to_string())?;
        let client = format!("http://127.0.0.1:{}", m.client);
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let mut cmd = Command::new(ETCD);
        cmd.args(["--name", &m.name, "--data-dir"])
            .arg(&data)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial, "--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", "100", "--election-timeout", "1000"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = process::spawn(cmd, true).map_err(|e| format!("cannot start {ETCD}: {e}"))?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// The client URLs, for `ha.endpoints`.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| format!("http://127.0.0.1:{}", m.client)).collect()
    }

    /// `[http://…, http://…]`, for a YAML flow list.
    pub fn endpoints_yaml(&self) -> String {
        format!("[{}]", self.endpoints().join(", "))
    }

    /// SIGKILL of member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Member `i` again, with its data: it rejoins the cluster.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        self.kill(i);
        self.spawn(i, "existing")
    }

    /// Until a majority serves (`/health` says true on a running member).
    pub fn wait_healthy(&self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let healthy = self
                .members
                .iter()
                .filter(|m| m.child.is_some())
                .any(|m| http_get(m.client, "/health").is_some_and(|b| b.contains("\"health\":\"true\"")));
            if healthy {
                return Ok(());
            }
            if started.elapsed() > limit {
                let logs: Vec<String> = self
                    .members
                    .iter()
                    .map(|m| std::fs::read_to_string(self.dir.join(format!("{}.log", m.name))).unwrap_or_default())
                    .collect();
                return Err(format!("etcd is not healthy within {limit:?}:\n{}", logs.join("\n")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The value and creation revision of `key`, read through a running member's gateway.
    pub fn get(&self, key: &str) -> Option<(String, i64)> {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let body = format!("{{\"key\":\"{}\"}}", b64(key.as_bytes()));
        let m = self.members.iter().find(|m| m.child.is_some())?;
        let answer = http_post(m.client, "/v3/kv/range", &body)?;
        let v: serde_json::Value = serde_json::from_str(&answer).ok()?;
        let kv = v["kvs"].as_array()?.first()?;
        let value = base64::engine::general_purpose::STANDARD.decode(kv["value"].as_str()?).ok()?;
        let rev = kv["create_revision"].as_str()?.parse().ok()?;
        Some((String::from_utf8_lossy(&value).into_owned(), rev))
    }

    /// The sum of the samples of `metric` (every label set) over the running
    /// members' `/metrics`.
    pub fn metric_sum(&self, metric: &str) -> f64 {
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .filter_map(|m| http_get(m.client, "/metrics"))
            .flat_map(|text| {
                text.lines()
                    .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    /// The keys under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let body =
            format!("{{\"key\":\"{}\",\"range_end\":\"{}\",\"keys_only\":true}}", b64(prefix.as_bytes()), b64(&end));
        let Some(m) = self.members.iter().find(|m| m.child.is_some()) else { return Vec::new() };
        let Some(answer) = http_post(m.client, "/v3/kv/range", &body) else { return Vec::new() };
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        v["kvs"]
            .as_array()
            .map(|kvs| {
                kvs.iter()
                    .filter_map(|kv| base64::engine::general_purpose::STANDARD.decode(kv["key"].as_str()?).ok())
                    .map(|k| String::from_utf8_lossy(&k).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http(port, &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
}

fn http_post(port: u16, path: &str, body: &str) -> Option<String> {
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http(port, &request)
}

/// One HTTP/1.0 exchange on 127.0.0.1; the body when the status is 200.
fn http(port: u16, request: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}
