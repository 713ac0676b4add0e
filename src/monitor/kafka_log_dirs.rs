//! `kafka_log_dirs`: DescribeLogDirs — an offline log directory is a failed
//! disk; a nearly full one is about to be.

use kafka_protocol::messages::DescribeLogDirsRequest;

use super::{Cause, Outcome, Prober};
use crate::kafka::Connection;
use crate::topology::Node;

/// Above this share of a log directory's disk in use, the node is degraded.
const FULL_PERCENT: f64 = 95.0;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let mut conn = match Connection::connect(&node.host, node.port, &p.security, p.kafka_timeouts()).await {
        Ok(c) => c,
        Err(e) => return Outcome::from_kafka(&e),
    };
    // An empty topic list: the directories, without a listing of every partition.
    let request = DescribeLogDirsRequest::default().with_topics(Some(Vec::new()));
    let response = match conn.send(&request, "DescribeLogDirs").await {
        Ok(r) => r,
        Err(e) => return Outcome::from_kafka(&e),
    };
    if response.error_code != 0 {
        return Outcome::failed(
            Cause::ProtocolError,
            format!("DescribeLogDirs answered error code {}", response.error_code),
        );
    }
    let offline: Vec<String> = response
        .results
        .iter()
        .filter(|d| d.error_code != 0)
        .map(|d| format!("{} ({})", d.log_dir.as_str(), crate::kafka::error_name(d.error_code)))
        .collect();
    if !offline.is_empty() {
        return Outcome::degraded(
            Cause::LogDirOffline,
            format!(
                "{} of {} log dir(s) offline (disk failure): {}",
                offline.len(),
                response.results.len(),
                offline.join(", ")
            ),
        );
    }
    let full: Vec<String> = response
        .results
        .iter()
        .filter(|d| d.total_bytes > 0 && d.usable_bytes >= 0)
        .filter_map(|d| {
            let used = 100.0 * (d.total_bytes - d.usable_bytes) as f64 / d.total_bytes as f64;
            (used > FULL_PERCENT).then(|| format!("{} {used:.0}% full", d.log_dir.as_str()))
        })
        .collect();
    if !full.is_empty() {
        return Outcome::degraded(Cause::DiskFull, full.join(", "));
    }
    Outcome::healthy(format!("{} log dir(s) online", response.results.len()))
}
