//! A round's results, as a table for people and JSON for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::health::{ClusterView, NodeState, Quorum, Verdict};
use crate::monitor::{Observation, Status};
use crate::topology::Node;

#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub node: Node,
    pub state: NodeState,
    pub verdict: Verdict,
    /// The last round of observations (one per method).
    pub observations: Vec<Observation>,
    /// Rounds of probes it took to settle the state (more than one: confirmation).
    pub probes: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub cluster_name: String,
    pub nodes: Vec<NodeReport>,
    pub cluster: ClusterView,
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl CheckReport {
    /// The exit status of `check`: 0 healthy, 1 degraded (or cannot tell), 2 failed.
    pub fn exit_code(&self) -> u8 {
        match self.cluster.status {
            Status::Healthy => 0,
            Status::Degraded | Status::Unknown => 1,
            Status::Failed => 2,
        }
    }

    /// The report as a table and a few lines of cluster findings.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "NODE".to_string(),
            "ROLE".into(),
            "ADDRESS".into(),
            "STATE".into(),
            "LATENCY".into(),
            "DETAIL".into(),
        ]];
        for r in &self.nodes {
            let latency = r.observations.iter().map(|o| o.latency).max().unwrap_or_default();
            rows.push([
                r.node.id.clone(),
                r.node.role.as_str().to_string(),
                r.node.address(),
                r.state.as_str().to_string(),
                format!("{:.0} ms", latency.as_secs_f64() * 1000.0),
                r.verdict.detail.clone(),
            ]);
        }
        let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for row in &rows {
            for (c, cell) in row.iter().enumerate() {
                if c < 5 {
                    let _ = write!(out, "{cell:<w$}  ", w = widths[c]);
                } else {
                    let _ = write!(out, "{cell}");
                }
            }
            out.push('\n');
        }
        out.push('\n');
        let c = &self.cluster;
        if let Some(k) = &c.kafka {
            let _ = writeln!(out, "Kafka:      {}", k.summary());
        }
        if let Some(z) = &c.zookeeper {
            let quorum = match z.quorum {
                Quorum::Held => "quorum held",
                Quorum::AtRisk => "quorum at risk",
                Quorum::Lost => "QUORUM LOST",
                Quorum::Unknown => "quorum unknown (no mode information: add the `zookeeper` method)",
            };
            let leader = match (z.leaders.is_empty(), z.quorum) {
                (true, Quorum::Unknown | Quorum::AtRisk) => "leader not known".to_string(),
                (true, _) => "no leader".to_string(),
                (false, _) => format!("leader {}", z.leaders.join(", ")),
            };
            let registered = match &c.registered {
                Some(ids) => format!(
                    "; brokers registered: {}",
                    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                ),
                None => String::new(),
            };
            let _ = writeln!(out, "ZooKeeper:  {} of {} serving, {leader}: {quorum}{registered}", z.serving, z.size);
        }
        if let Some(q) = &c.kraft {
            let leader = q.leader_id.map_or("NO LEADER".to_string(), |l| format!("leader {l}"));
            let _ = writeln!(out, "KRaft:      {leader}, epoch {}, {} voter(s)", q.leader_epoch, q.voters.len());
        }
        for p in &c.problems {
            let _ = writeln!(out, "Problem:    {p}");
        }
        let overall = match c.status {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unknown => "unknown",
            Status::Failed => "failed",
        };
        let _ = writeln!(
            out,
            "Overall:    {overall} (cluster `{}`, checked in {:.2} s)",
            self.cluster_name,
            self.duration.as_secs_f64()
        );
        out
    }
}
