//! The JMX/RMI bridge: one long-lived `java -jar jmx-bridge.jar` child,
//! JSON lines over its stdin/stdout (protocol in `jmx-bridge/JmxBridge.java`).
//!
//! Owns: starting the child on first use (and again if it dies), matching
//! answers to requests by id, and time limits on our side too.
//! Must never: block a probe on a dead or hung bridge beyond its time limit,
//! let the child outlive the daemon (its stdin closes and it exits; it is
//! also killed on drop), or log a request (it holds the JMX password).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

use super::checks::{Metric, Reading};
use crate::monitor::Cause;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

struct Running {
    stdin: ChildStdin,
    pending: Pending,
    _child: Child,
}

/// A lazily started bridge process shared by every `jmx` probe of a `Prober`.
pub struct Bridge {
    java: String,
    jar: Option<PathBuf>,
    running: tokio::sync::Mutex<Option<Running>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").field("java", &self.java).field("jar", &self.jar).finish()
    }
}

/// Why the bridge gave no readings.
#[derive(Debug)]
pub struct BridgeError {
    pub cause: Cause,
    /// `true` when the node's JMX port itself said no (refused, timed out):
    /// evidence about the node, not about us.
    pub about_node: bool,
    pub detail: String,
}

/// Where the bridge jar is: the configured path, else next to the binary (or
/// one directory up, as in a cargo `target/` tree), else the package's place.
pub fn find_jar(configured: Option<&str>) -> Option<PathBuf> {
    if let Some(path) = configured {
        return Some(PathBuf::from(path));
    }
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let mut candidates = Vec::new();
    if let Some(dir) = exe_dir {
        candidates.push(dir.join("jmx-bridge.jar"));
        if let Some(up) = dir.parent() {
            candidates.push(up.join("jmx-bridge.jar"));
        }
    }
    candidates.push(PathBuf::from("/usr/share/kafka-self-healing/jmx-bridge.jar"));
    candidates.push(PathBuf::from("/usr/lib/kafka-self-healing/jmx-bridge.jar"));
    candidates.into_iter().find(|p| p.is_file())
}

impl Bridge {
    pub fn new(java: &str, jar: Option<PathBuf>) -> Self {
        Bridge { java: java.to_string(), jar, running: tokio::sync::Mutex::new(None), next_id: AtomicU64::new(1) }
    }

    /// Reads `metrics` from the JMX/RMI endpoint `host:port`.
    pub async fn read(
        &self,
        host: &str,
        port: u16,
        credentials: Option<(&str, &str)>,
        metrics: &[Metric],
        timeout: Duration,
    ) -> Result<Vec<Reading>, BridgeError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({
            "id": id,
            "url": format!("service:jmx:rmi:///jndi/rmi://{host}:{port}/jmxrmi"),
            "username": credentials.map(|c| c.0),
            "password": credentials.map(|c| c.1),
            "timeout_ms": timeout.as_millis() as u64,
            "read": metrics.iter().map(|m| json!([m.mbean, m.attribute])).collect::<Vec<_>>(),
        });
        let answer = self.exchange(id, &request, timeout + Duration::from_secs(2)).await?;
        parse_answer(&answer, metrics.len())
    }

    async fn exchange(&self, id: u64, request: &Value, limit: Duration) -> Result<Value, BridgeError> {
        let ours = |detail: String| BridgeError { cause: Cause::ProbeError, about_node: false, detail };
        let (tx, rx) = oneshot::channel();
        {
            let mut running = self.running.lock().await;
            if running.is_none() {
                *running = Some(self.start().map_err(ours)?);
            }
            let Some(r) = running.as_mut() else { return Err(ours("the bridge is not running".into())) };
            r.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
            let mut line = request.to_string();
            line.push('\n');
            if let Err(e) = r.stdin.write_all(line.as_bytes()).await {
                // The child died: start a new one next time.
                *running = None;
                return Err(ours(format!("the JMX bridge is gone ({e}); it is restarted on the next probe")));
            }
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => {
                *self.running.lock().await = None;
                Err(ours("the JMX bridge exited while answering; it is restarted on the next probe".into()))
            }
            Err(_) => {
                if let Some(r) = self.running.lock().await.as_ref() {
                    r.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                }
                Err(BridgeError {
                    cause: Cause::Timeout,
                    about_node: true,
                    detail: format!("JMX: no answer within {limit:?}"),
                })
            }
        }
    }

    fn start(&self) -> Result<Running, String> {
        let jar = self.jar.as_ref().ok_or_else(|| {
            "the JMX bridge jar was not found: build it with `jmx-bridge/build.sh` and set `monitoring.jmx.bridge_jar`"
                .to_string()
        })?;
        let mut child = Command::new(&self.java)
            .args(["-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar"])
            .arg(jar)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start `{} -jar {}`: {e}", self.java, jar.display()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the JMX bridge has no pipes".into());
        };
        let pending: Pending = Arc::default();
        let answers = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(answer) = serde_json::from_str::<Value>(&line) else {
                    tracing::warn!(message = "The JMX bridge wrote a line that is not JSON.", line = %truncate(&line));
                    continue;
                };
                let Some(id) = answer["id"].as_u64() else {
                    tracing::warn!(message = "The JMX bridge could not read a request.", answer = %truncate(&line));
                    continue;
                };
                if let Some(tx) = answers.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
                    let _ = tx.send(answer);
                }
            }
            // EOF: dropping the senders tells every waiting probe.
            answers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(message = "JMX bridge stderr.", line = %truncate(&line));
            }
        });
        Ok(Running { stdin, pending, _child: child })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Turns the bridge's answer into readings, or the reason there are none.
fn parse_answer(answer: &Value, expected: usize) -> Result<Vec<Reading>, BridgeError> {
    let detail = answer["detail"].as_str().unwrap_or("").to_string();
    if answer["ok"] != true {
        let (cause, about_node) = match answer["kind"].as_str() {
            Some("refused") => (Cause::ConnectionRefused, true),
            Some("timeout") => (Cause::Timeout, true),
            Some("auth") => (Cause::AuthenticationFailed, false),
            Some("io") => (Cause::NetworkError, true),
            _ => (Cause::ProbeError, false),
        };
        return Err(BridgeError { cause, about_node, detail: format!("JMX: {detail}") });
    }
    let values = answer["values"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if values.len() != expected {
        return Err(BridgeError {
            cause: Cause::ProtocolError,
            about_node: false,
            detail: format!("the JMX bridge answered {} values for {expected} reads", values.len()),
        });
    }
    Ok(values
        .iter()
        .map(|v| match (&v["value"], v["error"].as_str()) {
            (_, Some("not_found")) => Reading::NotFound,
            (_, Some(_)) => Reading::Error(v["detail"].as_str().unwrap_or("error").to_string()),
            (Value::Number(n), None) => n.as_f64().map_or(Reading::Error("not a number".into()), Reading::Value),
            (other, None) => Reading::Error(format!("not a number: {}", truncate(&other.to_string()))),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_readings_or_causes() {
        let ok = json!({"id": 1, "ok": true, "values": [{"value": 3}, {"error": "not_found", "detail": "x"}, {"value": "a"}]});
        let r = parse_answer(&ok, 3).unwrap();
        assert_eq!(r[0], Reading::Value(3.0));
        assert_eq!(r[1], Reading::NotFound);
        assert!(matches!(&r[2], Reading::Error(e) if e.contains("not a number")));
        let refused = json!({"id": 1, "ok": false, "kind": "refused", "detail": "ConnectException"});
        let e = parse_answer(&refused, 3).unwrap_err();
        assert_eq!((e.cause, e.about_node), (Cause::ConnectionRefused, true));
        let auth = json!({"id": 1, "ok": false, "kind": "auth", "detail": "bad"});
        assert_eq!(parse_answer(&auth, 3).unwrap_err().cause, Cause::AuthenticationFailed);
        assert_eq!(parse_answer(&ok, 2).unwrap_err().cause, Cause::ProtocolError);
    }
}
