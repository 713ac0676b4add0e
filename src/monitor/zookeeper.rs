//! `zookeeper`: four-letter words `ruok`, `srvr`/`stat`, `mntr`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::{error_chain, io_source};
use super::{Cause, Findings, Outcome, Prober, Status, ZookeeperView, io_cause};
use crate::topology::Node;

/// Answers longer than this are cut: `mntr` is a few KiB.
const MAX_ANSWER: u64 = 256 * 1024;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let mut view = ZookeeperView::default();
    let mut served = false;
    for word in &p.four_letter_words {
        let answer = match ask(p, node, word).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        match read_word(word, &answer, &mut view) {
            Word::Served => served = true,
            Word::Failed(outcome) => return outcome,
            Word::Skipped => {}
        }
    }
    if !served {
        if let Some(port) = node.admin_port {
            return admin_server(p, node, port).await;
        }
        return Outcome::unknown(
            Cause::Unsupported,
            "no four-letter word was answered: add them to 4lw.commands.whitelist (srvr is allowed by default), or set the node's `admin_port` to use the AdminServer",
        );
    }
    let detail = if view.mode.is_empty() { "imok".to_string() } else { format!("mode {}", view.mode) };
    Outcome::healthy(detail).with(Findings::Zookeeper(view))
}

/// What one four-letter word's answer says.
pub(super) enum Word {
    /// The server answers: it serves (what it said is in the view).
    Served,
    /// It is up but not serving, or the answer is not what the word asks for.
    Failed(Outcome),
    /// Not whitelisted, or a word that tells nothing here.
    Skipped,
}

/// Reads the answer to `word` into `view`. Any text is an answer: nothing here may panic.
pub(super) fn read_word(word: &str, answer: &str, view: &mut ZookeeperView) -> Word {
    if answer.contains("is not in the whitelist") || answer.contains("is not executed") {
        // ZooKeeper ≥ 3.5 answers only whitelisted words; others are not an outage.
        return Word::Skipped;
    }
    match word {
        "ruok" if answer.trim() != "imok" => {
            Word::Failed(Outcome::failed(Cause::NotServing, format!("`ruok` answered `{}`, not `imok`", answer.trim())))
        }
        "ruok" => Word::Served,
        "srvr" | "stat" => {
            if answer.contains("not currently serving requests") {
                return Word::Failed(Outcome::failed(
                    Cause::NotServing,
                    "running but not serving requests (no quorum)",
                ));
            }
            let field = |name: &str| answer.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
            match field("Mode:") {
                Some(mode) => view.mode = mode,
                None => {
                    return Word::Failed(Outcome::failed(Cause::NotServing, format!("`{word}` answer has no Mode")));
                }
            }
            view.zxid = field("Zxid:");
            view.node_count = field("Node count:").and_then(|v| v.parse().ok());
            Word::Served
        }
        "mntr" => {
            let field = |name: &str| {
                answer.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('\t'))).map(str::trim)
            };
            if let Some(state) = field("zk_server_state") {
                view.mode = state.to_string();
            }
            view.synced_followers = field("zk_synced_followers").and_then(|v| v.parse().ok());
            Word::Served
        }
        _ => Word::Skipped,
    }
}

/// Reads the AdminServer's `srvr` answer (and `monitor`'s, when it gave one).
pub(super) fn read_admin(srvr: &serde_json::Value, monitor: Option<&serde_json::Value>) -> Outcome {
    if let Some(error) = srvr["error"].as_str() {
        let cause = if error.contains("not currently serving") { Cause::NotServing } else { Cause::ProtocolError };
        return Outcome::failed(cause, format!("AdminServer srvr: {error}"));
    }
    let mode = srvr["server_stats"]["server_state"].as_str().unwrap_or_default().to_string();
    if mode.is_empty() {
        return Outcome::failed(Cause::NotServing, "AdminServer srvr: no server_state");
    }
    let view = ZookeeperView {
        mode,
        zxid: None,
        node_count: srvr["node_count"].as_u64().or_else(|| srvr["server_stats"]["node_count"].as_u64()),
        synced_followers: monitor.and_then(|m| m["synced_followers"].as_u64()),
    };
    Outcome::healthy(format!("mode {} (AdminServer)", view.mode)).with(Findings::Zookeeper(view))
}

async fn ask(p: &Prober, node: &Node, word: &str) -> Result<String, Outcome> {
    let connect = tokio::time::timeout(p.connect_timeout, TcpStream::connect(node.address())).await;
    let mut stream = match connect {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Outcome::failed(io_cause(&e), format!("connect to {}: {e}", node.address()))),
        Err(_) => {
            return Err(Outcome::failed(
                Cause::ConnectTimeout,
                format!("connect to {}: no answer within {:?}", node.address(), p.connect_timeout),
            ));
        }
    };
    let exchange = async {
        stream.write_all(word.as_bytes()).await?;
        let mut answer = Vec::new();
        (&mut stream).take(MAX_ANSWER).read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    match tokio::time::timeout(p.timeout.max(Duration::from_millis(100)), exchange).await {
        Ok(Ok(answer)) if answer.is_empty() => {
            Err(Outcome::failed(Cause::ConnectionClosed, format!("`{word}`: closed without an answer")))
        }
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(Outcome::failed(io_cause(&e), format!("`{word}`: {e}"))),
        Err(_) => Err(Outcome::failed(Cause::Timeout, format!("`{word}`: no answer within {:?}", p.timeout))),
    }
}

/// The AdminServer's `/commands/srvr` and `/commands/monitor`, for servers
/// whose four-letter words are not whitelisted (the ZooKeeper ≥ 3.5 default).
async fn admin_server(p: &Prober, node: &Node, port: u16) -> Outcome {
    let get = |command: &'static str| async move {
        let url = format!("http://{}:{port}/commands/{command}", node.host);
        let response = p.http_client.get(&url).timeout(p.timeout).send().await;
        let text = match response {
            Ok(r) => r.text().await,
            Err(e) => Err(e),
        };
        match text {
            Ok(body) => serde_json::from_str::<serde_json::Value>(&body)
                .map_err(|e| Outcome::failed(Cause::ProtocolError, format!("GET {url}: not JSON: {e}"))),
            Err(e) => {
                let cause =
                    if e.is_timeout() { Cause::Timeout } else { io_source(&e).map_or(Cause::NetworkError, io_cause) };
                Err(Outcome::failed(cause, format!("GET {url}: {}", error_chain(&e))))
            }
        }
    };
    let srvr = match get("srvr").await {
        Ok(v) => v,
        Err(outcome) => return outcome,
    };
    let without_monitor = read_admin(&srvr, None);
    if without_monitor.status != Status::Healthy {
        return without_monitor;
    }
    let monitor = get("monitor").await.ok();
    read_admin(&srvr, monitor.as_ref())
}
