//! `kafka-self-healing report`: what the store says about a period —
//! availability per node, incidents, MTTR, recovery success rate, escalations,
//! notification delivery.
//!
//! Owns: the arithmetic (pure: `build` from records) and rendering it as
//! Markdown or JSON.
//! Must never: invent numbers — downtime is what incidents recorded (from
//! confirmed failure to recovery); a node down inside a maintenance window or
//! before the daemon watched it has no incident and is not counted, and the
//! report says so.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::rfc3339;
use crate::store::records::ChannelCounts;
use crate::store::{IncidentRecord, IncidentState, from_millis};

/// One node's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeFigures {
    pub node: String,
    pub role: String,
    pub incidents: u32,
    pub downtime_seconds: f64,
    /// 100 × (1 − downtime / period).
    pub availability_percent: f64,
}

/// One channel's delivery figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelFigures {
    pub channel: String,
    pub delivered: u32,
    pub dropped: u32,
    pub waiting: u32,
    pub held_back: u32,
    /// delivered / (delivered + dropped + waiting); `None` without any.
    pub delivery_rate_percent: Option<f64>,
}

/// The report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceReport {
    pub cluster: String,
    pub from: String,
    pub to: String,
    pub period_seconds: f64,
    pub nodes: Vec<NodeFigures>,
    pub incidents: u32,
    pub recovered: u32,
    pub escalated: u32,
    pub open: u32,
    /// Several healers: closed here when another healer's term took it over
    /// (that healer's store has the rest of it).
    pub handed_over: u32,
    /// Mean time from confirmed failure to recovery, of recovered incidents.
    pub mttr_seconds: Option<f64>,
    pub attempts: u32,
    pub successful_attempts: u32,
    pub recovery_success_rate_percent: Option<f64>,
    pub notifications: Vec<ChannelFigures>,
    pub incident_list: Vec<IncidentLine>,
    /// Day by day (UTC): incidents by how they ended, and notifications.
    pub days: Vec<DayFigures>,
}

/// One incident in the list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentLine {
    pub id: String,
    pub node: String,
    pub opened_at: String,
    pub state: String,
    pub duration_seconds: Option<f64>,
    pub attempts: usize,
    pub cause: Option<String>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Computes the report of `[from, to)` (epoch millis). `nodes` are the
/// configured (node, role); `incidents` those overlapping the period;
/// `outbox` the per-channel notification counts.
/// One UTC day of the period.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayFigures {
    /// `2026-12-01`.
    pub day: String,
    /// Incidents opened that day, by how they ended (or not yet).
    pub recovered: u32,
    pub escalated: u32,
    pub open: u32,
    pub handed_over: u32,
    /// Notifications queued that day: delivered, and dropped or still waiting.
    pub notifications_delivered: u32,
    pub notifications_not_delivered: u32,
}

const DAY_MS: i64 = 86_400_000;

/// The UTC days that `[from, to)` touches, each as its first millisecond.
pub fn days_of(from: i64, to: i64) -> Vec<i64> {
    let first = from - from.rem_euclid(DAY_MS);
    (0..).map(|i| first + i * DAY_MS).take_while(|d| *d < to).collect()
}

/// `outbox_by_day`: each day of [`days_of`] with its notification counts.
pub fn build(
    cluster: &str,
    nodes: &[(String, String)],
    incidents: &[IncidentRecord],
    outbox: &[ChannelCounts],
    outbox_by_day: &[(i64, Vec<ChannelCounts>)],
    from: i64,
    to: i64,
) -> ServiceReport {
    let period = (to - from).max(1) as f64 / 1000.0;
    let mut per_node: BTreeMap<&str, (u32, f64)> = BTreeMap::new();
    let (mut recovered, mut escalated, mut open, mut handed_over) = (0, 0, 0, 0);
    let (mut attempts, mut successes) = (0u32, 0u32);
    let mut repair_times = Vec::new();
    let mut list = Vec::new();
    for i in incidents {
        let end = i.closed_at.unwrap_or(to).min(to);
        let start = i.opened_at.max(from);
        let down = (end - start).max(0) as f64 / 1000.0;
        let entry = per_node.entry(i.node.as_str()).or_default();
        entry.0 += 1;
        entry.1 += down;
        match i.state {
            IncidentState::Recovered => {
                recovered += 1;
                if let Some(c) = i.closed_at {
                    repair_times.push((c - i.opened_at) as f64 / 1000.0);
                }
            }
            IncidentState::Escalated => escalated += 1,
            IncidentState::Open => open += 1,
            // Another healer's store has the rest of it.
            IncidentState::HandedOver => handed_over += 1,
        }
        for a in i.attempts.iter().filter(|a| !a.dry_run) {
            attempts += 1;
            if a.success == Some(true) {
                successes += 1;
            }
        }
        list.push(IncidentLine {
            id: i.id.clone(),
            node: i.node.clone(),
            opened_at: rfc3339(from_millis(i.opened_at)),
            state: i.state.as_str().to_string(),
            duration_seconds: i.closed_at.map(|c| round1((c - i.opened_at) as f64 / 1000.0)),
            attempts: i.attempts.len(),
            cause: i.cause.clone(),
        });
    }
    let nodes = nodes
        .iter()
        .map(|(node, role)| {
            let (count, down) = per_node.get(node.as_str()).copied().unwrap_or_default();
            NodeFigures {
                node: node.clone(),
                role: role.clone(),
                incidents: count,
                downtime_seconds: round1(down),
                availability_percent: (100.0 * (1.0 - down / period) * 1000.0).round() / 1000.0,
            }
        })
        .collect();
    let notifications = outbox
        .iter()
        .map(|c| {
            let total = c.delivered + c.dropped + c.waiting;
            ChannelFigures {
                channel: c.channel.clone(),
                delivered: c.delivered,
                dropped: c.dropped,
                waiting: c.waiting,
                held_back: c.held_back,
                delivery_rate_percent: (total > 0).then(|| round1(100.0 * c.delivered as f64 / total as f64)),
            }
        })
        .collect();
    ServiceReport {
        cluster: cluster.to_string(),
        from: rfc3339(from_millis(from)),
        to: rfc3339(from_millis(to)),
        period_seconds: period,
        nodes,
        incidents: incidents.len() as u32,
        recovered,
        escalated,
        open,
        handed_over,
        mttr_seconds: (!repair_times.is_empty())
            .then(|| round1(repair_times.iter().sum::<f64>() / repair_times.len() as f64)),
        attempts,
        successful_attempts: successes,
        recovery_success_rate_percent: (attempts > 0).then(|| round1(100.0 * successes as f64 / attempts as f64)),
        notifications,
        incident_list: list,
        days: days_of(from, to)
            .into_iter()
            .map(|day| {
                let opened = || incidents.iter().filter(move |i| i.opened_at >= day && i.opened_at < day + DAY_MS);
                let count = |s: IncidentState| opened().filter(|i| i.state == s).count() as u32;
                let sent = outbox_by_day.iter().find(|(d, _)| *d == day).map(|(_, c)| c.as_slice()).unwrap_or(&[]);
                DayFigures {
                    day: rfc3339(from_millis(day)).chars().take(10).collect(),
                    recovered: count(IncidentState::Recovered),
                    escalated: count(IncidentState::Escalated),
                    open: count(IncidentState::Open),
                    handed_over: count(IncidentState::HandedOver),
                    notifications_delivered: sent.iter().map(|c| c.delivered).sum(),
                    notifications_not_delivered: sent.iter().map(|c| c.dropped + c.waiting).sum(),
                }
            })
            .collect(),
    }
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("-".into(), |v| format!("{v}{unit}"))
}

/// The report as Markdown.
pub fn markdown(r: &ServiceReport) -> String {
    let mut out = format!("# kafka-self-healing report: {}\n\nPeriod: {} to {}\n\n", r.cluster, r.from, r.to);
    out.push_str("## Summary\n\n| | |\n|---|---|\n");
    out.push_str(&format!(
        "| Incidents | {} ({} recovered, {} escalated, {} open, {} handed over to another healer) |\n",
        r.incidents, r.recovered, r.escalated, r.open, r.handed_over
    ));
    out.push_str(&format!("| MTTR (failure confirmed → serving again) | {} |\n", opt(r.mttr_seconds, " s")));
    out.push_str(&format!(
        "| Recovery attempts | {} ({} successful; success rate {}) |\n",
        r.attempts,
        r.successful_attempts,
        opt(r.recovery_success_rate_percent, " %")
    ));
    out.push_str("\n## Availability per node\n\n| Node | Role | Incidents | Downtime (s) | Availability |\n|---|---|---|---|---|\n");
    for n in &r.nodes {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} % |\n",
            n.node, n.role, n.incidents, n.downtime_seconds, n.availability_percent
        ));
    }
    out.push_str(
        "\nDowntime counts incidents only: from the confirmed failure to the recovery. \
         Planned stops and maintenance windows open no incident and are not counted.\n",
    );
    out.push_str("\n## Notifications\n\n");
    if r.notifications.is_empty() {
        out.push_str("None in this period.\n");
    } else {
        out.push_str("| Channel | Delivered | Dropped | Waiting | Held back (rate limits) | Delivery rate |\n|---|---|---|---|---|---|\n");
        for c in &r.notifications {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                c.channel,
                c.delivered,
                c.dropped,
                c.waiting,
                c.held_back,
                opt(c.delivery_rate_percent, " %")
            ));
        }
    }
    out.push_str("\n## Incidents\n\n");
    if r.incident_list.is_empty() {
        out.push_str("None in this period.\n");
    } else {
        out.push_str(
            "| Opened | Node | State | Duration (s) | Attempts | Cause | Id |\n|---|---|---|---|---|---|---|\n",
        );
        for i in &r.incident_list {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                i.opened_at,
                i.node,
                i.state,
                opt(i.duration_seconds, ""),
                i.attempts,
                i.cause.as_deref().unwrap_or("-"),
                i.id
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AttemptRecord;

    fn incident(
        node: &str,
        opened: i64,
        closed: Option<i64>,
        state: IncidentState,
        successes: &[bool],
    ) -> IncidentRecord {
        IncidentRecord {
            id: format!("inc-{node}-{opened}"),
            node: node.into(),
            role: "kafka_broker".into(),
            cause: Some("connection_refused".into()),
            evidence: String::new(),
            opened_at: opened,
            state,
            closed_at: closed,
            outcome: None,
            attempts: successes
                .iter()
                .enumerate()
                .map(|(n, ok)| AttemptRecord {
                    n: n as u32 + 1,
                    action: "script".into(),
                    command: String::new(),
                    dry_run: false,
                    started_at: opened,
                    finished_at: Some(opened + 1),
                    exit_code: Some(0),
                    success: Some(*ok),
                    result: None,
                    output: None,
                })
                .collect(),
            ..IncidentRecord::default()
        }
    }

    #[test]
    fn availability_mttr_and_rates_from_the_records() {
        let day = 86_400_000;
        let nodes =
            vec![("b1".to_string(), "kafka_broker".to_string()), ("b2".to_string(), "kafka_broker".to_string())];
        let incidents = vec![
            incident("b1", 1000, Some(1000 + 8_640_000), IncidentState::Recovered, &[false, true]), // 10 % of a day
            incident("b1", 50_000_000, Some(50_000_000 + 60_000), IncidentState::Recovered, &[true]),
            incident("b2", day - 3_600_000, None, IncidentState::Open, &[false]), // still open at the end
            // Several healers: another healer's term took this one over.
            incident("b2", 2_000, Some(5_000), IncidentState::HandedOver, &[]),
        ];
        let outbox =
            vec![ChannelCounts { channel: "slack".into(), delivered: 3, dropped: 1, waiting: 0, held_back: 2 }];
        let r = build("c", &nodes, &incidents, &outbox, &[], 0, day);
        assert_eq!(r.incidents, 4);
        assert_eq!((r.recovered, r.escalated, r.open, r.handed_over), (2, 0, 1, 1));
        assert_eq!(r.recovered + r.escalated + r.open + r.handed_over, r.incidents, "every incident in one column");
        assert_eq!(r.days[0].handed_over, 1);
        assert!(markdown(&r).contains("4 (2 recovered, 0 escalated, 1 open, 1 handed over to another healer)"));
        assert_eq!(r.mttr_seconds, Some((8640.0 + 60.0) / 2.0));
        assert_eq!((r.attempts, r.successful_attempts), (4, 2));
        assert_eq!(r.recovery_success_rate_percent, Some(50.0));
        assert_eq!(r.nodes[0].downtime_seconds, 8700.0);
        assert_eq!(r.nodes[0].availability_percent, 89.931);
        // The handed-over incident counts while this healer held it (3 s).
        assert_eq!(r.nodes[1].downtime_seconds, 3603.0);
        assert_eq!(r.notifications[0].delivery_rate_percent, Some(75.0));
        let md = markdown(&r);
        assert!(md.contains("| b1 | kafka_broker | 2 | 8700 | 89.931 % |"), "{md}");
        assert!(md.contains("| slack | 3 | 1 | 0 | 2 | 75 % |"), "{md}");
    }
}
