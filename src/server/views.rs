//! What the API and the status page show: the watcher's snapshots and the
//! engine's status combined into one view per node and one for the cluster.
//!
//! Owns: the words people read — a node's *shown* state (`maintenance`,
//! `recovering`, `recovering-by-itself`, `catching-up`, `escalated` on top of the watcher's
//! `healthy` … `failed`) and the JSON shapes of `/api/v1/...`.
//! Must never: do I/O or decide anything; it only describes.

use std::time::{Instant, SystemTime};

use serde::Serialize;

use crate::audit::rfc3339;
use crate::health::{ClusterView, NodeState};
use crate::monitor::{Cause, Observation};
use crate::recovery::EngineStatus;
use crate::watch::NodeSnapshot;

/// One probe's result as shown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeView {
    pub method: String,
    pub status: String,
    pub cause: Option<String>,
    pub detail: String,
    pub latency_ms: f64,
}

/// One node as shown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeView {
    pub id: String,
    pub role: String,
    pub address: String,
    pub broker_id: Option<i32>,
    /// The watcher's state: unknown, healthy, degraded, suspect, failed.
    pub state: String,
    /// What a person should read: the state, or what the daemon knows on top of it.
    pub shown: String,
    /// One line: why it is shown so.
    pub reason: String,
    pub since_seconds: f64,
    pub last_probe: Option<String>,
    /// The slowest method of the last round.
    pub latency_ms: Option<f64>,
    pub cause: Option<String>,
    pub flapping: bool,
    pub maintenance_until: Option<String>,
    pub probes: Vec<ProbeView>,
}

fn probe_view(o: &Observation) -> ProbeView {
    ProbeView {
        method: o.method.to_string(),
        status: o.status.as_str().to_string(),
        cause: o.cause.map(|c| c.as_str().to_string()),
        detail: o.detail.clone(),
        latency_ms: (o.latency.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
    }
}

/// The view of one node.
pub fn node_view(s: &NodeSnapshot, engine: &EngineStatus, now: Instant) -> NodeView {
    let id = &s.node.id;
    let cause = s.verdict.as_ref().and_then(|v| v.cause);
    let maintenance = engine.maintenance.iter().find(|(n, _, _)| n == id);
    let planned = engine.planned_stops.iter().find(|(n, _)| n == id);
    let down = matches!(s.state, NodeState::Failed | NodeState::Suspect);
    let (shown, reason) = if let Some((_, until, why)) = maintenance {
        (
            "maintenance",
            format!(
                "operator maintenance until {until}{}",
                if why.is_empty() { String::new() } else { format!(": {why}") }
            ),
        )
    } else if let (Some(until), true, false) = (&engine.paused_until, down, engine.active.contains(id)) {
        let until = if until.starts_with("until") { until.clone() } else { format!("until {until}") };
        ("maintenance", format!("recovery paused {until}; no incident until it ends"))
    } else if let (Some((_, ago)), true) = (planned, down) {
        let left = (engine.planned_grace_s - ago).max(0.0);
        (
            "maintenance",
            format!("planned stop: clean shutdown seen {ago:.0} s ago; an incident if still down in {left:.0} s"),
        )
    } else if engine.in_flight.contains(id) {
        ("recovering", "a recovery action is running".to_string())
    } else if engine.held.contains(id) && s.state != NodeState::Healthy {
        ("escalated", "escalated to people; no action until it is healthy or reset".to_string())
    } else if down && matches!(cause, Some(Cause::Starting | Cause::LogRecovery)) {
        (
            "recovering-by-itself",
            "the broker is starting or replaying its logs; no action while it progresses".to_string(),
        )
    } else if let (true, Some((_, guard, why, held))) = (down, engine.holds.iter().find(|(n, ..)| n == id)) {
        ("failed", format!("incident open; held back by the `{guard}` guard for {held:.0} s: {why}"))
    } else if down && engine.active.contains(id) {
        ("failed", "incident open; waiting for the next attempt".to_string())
    } else if let (false, Some((_, behind, late))) = (down, engine.catching_up.iter().find(|(n, ..)| n == id)) {
        let behind = behind.map_or("an unknown number of".to_string(), |b| b.to_string());
        let reason = format!(
            "serves again; not yet back in the ISR of {behind} partition(s) it hosts{}",
            if *late { " — longer than recovery.isr_catch_up_timeout_seconds" } else { "" }
        );
        (if *late { "degraded" } else { "catching-up" }, reason)
    } else {
        let detail = s.verdict.as_ref().map(|v| v.detail.clone()).unwrap_or_else(|| "not probed yet".into());
        (s.state.as_str(), detail)
    };
    NodeView {
        id: id.clone(),
        role: s.node.role.as_str().to_string(),
        address: s.node.address(),
        broker_id: s.node.broker_id,
        state: s.state.as_str().to_string(),
        shown: shown.to_string(),
        reason,
        since_seconds: now.saturating_duration_since(s.since).as_secs_f64().round(),
        last_probe: s.probed_at.map(rfc3339),
        latency_ms: s.observations.iter().map(|o| o.latency).max().map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
        cause: cause.map(|c| c.as_str().to_string()),
        flapping: s.flapping,
        maintenance_until: maintenance.map(|(_, until, _)| until.clone()),
        probes: s.observations.iter().map(probe_view).collect(),
    }
}

/// The cluster as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSummary {
    pub name: String,
    /// healthy, degraded, failed, unknown (before the first full round).
    pub status: String,
    pub problems: Vec<String>,
    pub isolated: bool,
    pub view: Option<ClusterView>,
}

pub fn cluster_summary(name: &str, view: Option<&ClusterView>) -> ClusterSummary {
    ClusterSummary {
        name: name.to_string(),
        status: view.map_or("unknown".into(), |v| v.status.as_str().to_string()),
        problems: view.map(|v| v.problems.clone()).unwrap_or_default(),
        isolated: view.is_some_and(|v| v.isolated),
        view: view.cloned(),
    }
}

/// The daemon as shown.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonView {
    pub version: &'static str,
    pub started_at: String,
    pub uptime_seconds: f64,
    pub now: String,
    pub healthy: bool,
    pub ready: bool,
    pub shedding: bool,
    #[serde(flatten)]
    pub engine: EngineStatus,
}

/// `started` as RFC 3339, and the seconds since.
pub fn uptime(started: SystemTime) -> (String, f64) {
    (rfc3339(started), SystemTime::now().duration_since(started).unwrap_or_default().as_secs_f64().round())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Verdict;
    use crate::monitor::Status;
    use crate::topology::{Node, Role};

    fn snapshot(state: NodeState, cause: Option<Cause>) -> NodeSnapshot {
        NodeSnapshot {
            node: Node {
                id: "broker-1".into(),
                role: Role::KafkaBroker,
                host: "127.0.0.1".into(),
                port: 9092,
                broker_id: Some(1),
                jmx_port: None,
                admin_port: None,
                methods: vec!["socket".into()],
                on_this_host: false,
            },
            state,
            verdict: Some(Verdict { status: Status::Failed, cause, detail: "connection refused".into() }),
            observations: vec![],
            flapping: false,
            since: Instant::now(),
            probed_at: Some(SystemTime::now()),
        }
    }

    #[test]
    fn what_a_person_reads_first() {
        let now = Instant::now();
        let mut engine = EngineStatus::default();
        let failed = snapshot(NodeState::Failed, Some(Cause::ConnectionRefused));
        assert_eq!(node_view(&failed, &engine, now).shown, "failed");
        engine.holds = vec![("broker-1".into(), "min_isr".into(), "no partition view".into(), 42.0)];
        assert_eq!(
            node_view(&failed, &engine, now).reason,
            "incident open; held back by the `min_isr` guard for 42 s: no partition view"
        );
        engine.holds.clear();
        let starting = snapshot(NodeState::Failed, Some(Cause::LogRecovery));
        assert_eq!(node_view(&starting, &engine, now).shown, "recovering-by-itself");
        engine.in_flight = vec!["broker-1".into()];
        assert_eq!(node_view(&failed, &engine, now).shown, "recovering");
        engine.planned_stops = vec![("broker-1".into(), 12.0)];
        engine.planned_grace_s = 600.0;
        let v = node_view(&failed, &engine, now);
        assert_eq!(
            (v.shown.as_str(), v.reason.as_str()),
            ("maintenance", "planned stop: clean shutdown seen 12 s ago; an incident if still down in 588 s")
        );
        engine.maintenance = vec![("broker-1".into(), "2026-11-24T20:00:00Z".into(), "kernel upgrade".into())];
        let v = node_view(&snapshot(NodeState::Healthy, None), &engine, now);
        assert_eq!(v.shown, "maintenance");
        assert_eq!(v.maintenance_until.as_deref(), Some("2026-11-24T20:00:00Z"));
        assert!(v.reason.ends_with(": kernel upgrade"));
    }

    #[test]
    fn an_escalated_node_says_so_until_it_is_healthy() {
        let engine = EngineStatus { held: vec!["broker-1".into()], ..Default::default() };
        let now = Instant::now();
        assert_eq!(node_view(&snapshot(NodeState::Failed, None), &engine, now).shown, "escalated");
        assert_eq!(node_view(&snapshot(NodeState::Healthy, None), &engine, now).shown, "healthy");
    }
}
