//! The journal: each step of an incident written once, everywhere it must go.
//!
//! Owns: for every lifecycle step (detected, a lifecycle note, attempt started
//! and finished, cancelled, serving, catching up, in sync, recovered,
//! escalated, the cluster-wide event) one
//! call that writes the state store, the audit trail, the log line, the metric
//! and the event for notifications — in that order, so nothing is announced
//! that was not recorded.
//! Must never: decide anything (that is `lifecycle`, `opening`, `guards`), or
//! let a step that must be recorded first (an incident, an attempt's start)
//! go on when the store refuses it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::broadcast;
use tracing::{error, info, warn};

use super::lifecycle::{Note, RestartedBy};
use crate::audit::{Audit, rfc3339};
use crate::child::tail;
use crate::events::Event;
use crate::store::{AttemptRecord, IncidentRecord, IncidentState, Store, millis, records};
use crate::telemetry::Telemetry;
use crate::topology::Node;

/// Where each step is written.
#[derive(Clone)]
pub struct Journal {
    pub store: Store,
    pub audit: Audit,
    pub telemetry: Arc<Telemetry>,
    pub events: broadcast::Sender<Event>,
    /// The intent journal in the backend, and the term's token for the audit.
    pub ha: Arc<crate::ha::Ha>,
}

/// How long an attempt's parts took, for the record and the performance log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub total: Duration,
    pub action: Option<Duration>,
    pub validation: Option<Duration>,
}

impl Journal {
    /// An audit record that belongs to no lifecycle step (operator controls,
    /// learned ids, planned stops, waits).
    pub async fn record(&self, kind: &str, node: Option<&str>, incident: Option<&str>, details: Value) {
        let mut details = details;
        // With several healers every record says under which term it was written.
        if let (Some(epoch), Some(d)) = (self.ha.epoch(), details.as_object_mut()) {
            d.entry("epoch").or_insert(json!(epoch));
        }
        self.audit.record(kind, node, incident, details).await;
    }

    /// The daemon cannot do its job: people are told.
    pub fn system_error(&self, reason: String) {
        let _ = self.events.send(Event::SystemError { reason });
    }

    /// A new incident. Without a record nothing may act: `Err` when the store refused it.
    pub async fn detected(&self, incident: &IncidentRecord) -> Result<(), ()> {
        let stored = incident.clone();
        if let Err(e) = self.store.call(move |c| records::insert_incident(c, &stored)).await {
            error!(message = "Recovery: cannot record the incident; no action without a record.", node = %incident.node, error = %e);
            self.system_error(format!(
                "{} failed, but the incident cannot be recorded ({e}): no action is taken",
                incident.node
            ));
            return Err(());
        }
        warn!(message = "Recovery: incident opened.", node = %incident.node, incident = %incident.id, cause = incident.cause.as_deref().unwrap_or("none"), evidence = %incident.evidence);
        self.record(
            "detected",
            Some(&incident.node),
            Some(&incident.id),
            json!({"role": incident.role, "cause": incident.cause, "evidence": incident.evidence}),
        )
        .await;
        self.telemetry.metrics.incident_opened(&incident.node);
        self.ha.mirror(incident).await;
        let _ = self.events.send(Event::Opened { incident: incident.clone() });
        Ok(())
    }

    /// A step the lifecycle found worth writing down.
    pub async fn note(&self, node: &Node, incident: &IncidentRecord, note: &Note) {
        let (node, id) = (node.id.as_str(), incident.id.as_str());
        let since = || rfc3339(SystemTime::now());
        match note {
            Note::RecoveringByItself { evidence, stall } => {
                info!(message = "Recovery: the broker is recovering by itself; no action while it progresses.", node, incident = id, evidence = %evidence, stall_s = stall.as_secs());
                let details = json!({"evidence": format!("{evidence} since {}", since()), "stall_s": stall.as_secs()});
                self.record("recovering_by_itself", Some(node), Some(id), details).await;
            }
            Note::SelfRecoveryStalled { cause, evidence, unchanged, stall } => {
                warn!(
                    message = "Recovery: the broker's own recovery stalled; acting.",
                    node,
                    incident = id,
                    state = cause.as_str(),
                    stalled_s = unchanged.as_secs()
                );
                let details =
                    json!({"evidence": evidence, "unchanged_s": unchanged.as_secs(), "stall_s": stall.as_secs()});
                self.record("self_recovery_stalled", Some(node), Some(id), details).await;
            }
            Note::RestartingBySystemd { evidence, wait } => {
                info!(message = "Recovery: systemd is restarting the unit itself; no second restart on top.", node, incident = id, evidence = %evidence, wait_s = wait.as_secs());
                let details = json!({"evidence": evidence, "wait_s": wait.as_secs()});
                self.record("restarting_by_systemd", Some(node), Some(id), details).await;
            }
            Note::SystemdRestartStalled { evidence, waited } => {
                warn!(message = "Recovery: systemd's own restart did not bring the node back in time; acting.", node, incident = id, evidence = %evidence, waited_s = waited.as_secs());
                let details = json!({"evidence": evidence, "waited_s": waited.as_secs()});
                self.record("systemd_restart_stalled", Some(node), Some(id), details).await;
            }
            Note::Held { hold, attempt } => {
                self.telemetry.metrics.guard_refused(hold.guard);
                info!(message = "Recovery held back by a guard; waiting.", node, incident = id, guard = hold.guard, reason = %hold.reason);
                let details = json!({"guard": hold.guard, "reason": hold.reason, "attempt": attempt});
                self.record("guard_refused", Some(node), Some(id), details).await;
            }
            Note::Released { hold, held } => {
                let held_s = held.as_secs_f64();
                info!(
                    message = "Recovery: the guard no longer holds the incident back.",
                    node,
                    incident = id,
                    guard = hold.guard,
                    held_s
                );
                let details =
                    json!({"guard": hold.guard, "held_s": (held_s * 10.0).round() / 10.0, "last_reason": hold.reason});
                self.record("guard_released", Some(node), Some(id), details).await;
            }
            Note::FailedAgain { repeat, recovered_ago, restart_in } => {
                let restart_at = SystemTime::now() + *restart_in;
                warn!(
                    message = "Recovery: the node failed again soon after it recovered; restarting it after a delay that grows with each repeat.",
                    node,
                    incident = id,
                    repeat,
                    recovered_ago_s = recovered_ago.as_secs(),
                    restart_in_s = restart_in.as_secs(),
                );
                let tenths = |d: &Duration| (d.as_secs_f64() * 10.0).round() / 10.0;
                let details = json!({
                    "repeat": repeat,
                    "recovered_ago_s": tenths(recovered_ago),
                    "restart_in_s": tenths(restart_in),
                    "restart_at": rfc3339(restart_at),
                });
                self.record("failed_again", Some(node), Some(id), details).await;
                let _ = self.events.send(Event::FailedAgain {
                    incident: incident.clone(),
                    repeat: *repeat,
                    recovered_ago_s: recovered_ago.as_secs(),
                    restart_at: millis(restart_at),
                });
            }
        }
    }

    /// Attempt `record.n` was cancelled before anything ran.
    pub async fn cancelled(&self, node: &Node, incident: &IncidentRecord, n: u32, details: Value) {
        let mut details = details;
        details["attempt"] = json!(n);
        self.record("attempt_cancelled", Some(&node.id), Some(&incident.id), details).await;
    }

    /// An attempt about to run. `Err` when the store refused it: it does not run.
    pub async fn attempt_started(
        &self,
        node: &Node,
        incident: &IncidentRecord,
        record: &AttemptRecord,
        guards: Value,
    ) -> Result<(), ()> {
        let (id, started, n) = (incident.id.clone(), record.clone(), record.n);
        if let Err(e) = self.store.call(move |c| records::start_attempt(c, &id, &started)).await {
            error!(message = "Recovery: cannot record the attempt; it does not run.", node = %node.id, error = %e);
            self.system_error(format!("attempt {n} on {} cannot be recorded ({e}): it does not run", node.id));
            return Err(());
        }
        warn!(message = "Recovery attempt started.", node = %node.id, incident = %incident.id, attempt = n, action = %record.action, command = %record.command);
        self.record(
            "attempt_started",
            Some(&node.id),
            Some(&incident.id),
            json!({"attempt": n, "action": record.action, "command": record.command, "dry_run": record.dry_run, "guards": guards}),
        )
        .await;
        Ok(())
    }

    /// The attempt ended (`record` carries its result); it joins the incident.
    pub async fn attempt_finished(
        &self,
        node: &Node,
        incident: &mut IncidentRecord,
        record: AttemptRecord,
        timing: Timing,
    ) {
        let (id, finished) = (incident.id.clone(), record.clone());
        if let Err(e) = self.store.call(move |c| records::finish_attempt(c, &id, &finished)).await {
            error!(message = "Recovery: cannot record the attempt's end.", node = %node.id, error = %e);
        }
        let success = record.success == Some(true);
        let result = record.result.clone().unwrap_or_default();
        let output = record.output.clone().unwrap_or_default();
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        info!(
            target: crate::logging::PERFORMANCE,
            message = "Recovery attempt timing.",
            node = %node.id, action = %record.action, success,
            response_time_ms = timing.total.as_millis() as u64,
            action_ms = ms(timing.action),
            validation_ms = ms(timing.validation),
        );
        let duration_ms = timing.total.as_millis() as u64;
        if success {
            info!(message = "Recovery attempt succeeded.", node = %node.id, incident = %incident.id, attempt = record.n, action = %record.action, result = %result, duration_ms);
        } else {
            warn!(message = "Recovery attempt failed.", node = %node.id, incident = %incident.id, attempt = record.n, action = %record.action, result = %result, duration_ms);
        }
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        self.record(
            "attempt_finished",
            Some(&node.id),
            Some(&incident.id),
            json!({"attempt": record.n, "action": record.action, "success": success, "exit_code": record.exit_code,
                   "duration_s": timing.total.as_secs_f64(),
                   "action_s": secs(timing.action), "validation_s": secs(timing.validation),
                   "result": result, "output": tail(&output, 2000)}),
        )
        .await;
        incident.attempts.push(record.clone());
        self.ha.mirror(incident).await;
        self.telemetry.metrics.attempt(&incident.node, &record.action, success);
        let _ = self.events.send(Event::AttemptFinished { incident: incident.clone(), attempt: record });
    }

    /// The node serves again (once per incident, until it fails again).
    pub async fn serving(&self, node: &Node, incident: &mut IncidentRecord) {
        if incident.served_at.is_some() {
            return;
        }
        let at = millis(SystemTime::now());
        let id = incident.id.clone();
        if let Err(e) = self.store.call(move |c| records::mark_served(c, &id, at)).await {
            error!(message = "Recovery: cannot record that the node serves again.", node = %node.id, error = %e);
        }
        incident.served_at = Some(at);
        let serve_s = incident.times().0.unwrap_or_default();
        info!(message = "Recovery: the node serves again.", node = %node.id, incident = %incident.id, serve_s);
        self.record("serving", Some(&node.id), Some(&incident.id), json!({"serve_s": serve_s})).await;
    }

    /// The partitions the broker is still behind on changed.
    pub async fn behind(&self, node: &Node, incident: &mut IncidentRecord, behind: &[String]) {
        let (id, list) = (incident.id.clone(), behind.to_vec());
        if let Err(e) = self.store.call(move |c| records::mark_behind(c, &id, &list, None)).await {
            error!(message = "Recovery: cannot record the catch-up.", node = %node.id, error = %e);
        }
        if incident.behind.is_empty() {
            info!(message = "Recovery: the broker serves and is catching up on its partitions.", node = %node.id, incident = %incident.id, behind = behind.len());
            self.record("catching_up", Some(&node.id), Some(&incident.id), json!({"behind": behind})).await;
        }
        incident.behind = behind.to_vec();
    }

    /// The catch-up ran out of time: people are told once; the incident stays open.
    pub async fn catch_up_timed_out(
        &self,
        node: &Node,
        incident: &mut IncidentRecord,
        behind: &[String],
        unknown: Option<&str>,
        limit: Duration,
    ) {
        let at = millis(SystemTime::now());
        let (id, list) = (incident.id.clone(), behind.to_vec());
        if let Err(e) = self.store.call(move |c| records::mark_behind(c, &id, &list, Some(at))).await {
            error!(message = "Recovery: cannot record the catch-up's time-out.", node = %node.id, error = %e);
        }
        incident.degraded_at = Some(at);
        incident.behind = behind.to_vec();
        warn!(message = "Recovery: the broker serves but has not caught up in time; the incident stays open, degraded.", node = %node.id, incident = %incident.id, behind = behind.len(), limit_s = limit.as_secs(), unknown = unknown.unwrap_or(""));
        let details = json!({"behind": behind, "limit_s": limit.as_secs(), "unknown": unknown});
        self.record("catch_up_timed_out", Some(&node.id), Some(&incident.id), details).await;
        self.telemetry.metrics.catch_up_timed_out(&node.id);
        let _ = self.events.send(Event::CatchUpTimedOut { incident: incident.clone(), behind: behind.to_vec() });
    }

    /// Back in the ISR of every partition it hosts.
    pub async fn in_sync(&self, node: &Node, incident: &mut IncidentRecord) {
        let at = millis(SystemTime::now());
        let id = incident.id.clone();
        if let Err(e) = self.store.call(move |c| records::mark_in_sync(c, &id, at)).await {
            error!(message = "Recovery: cannot record that the broker is in sync.", node = %node.id, error = %e);
        }
        incident.in_sync_at = Some(at);
        incident.behind.clear();
        let in_sync_s = incident.times().1.unwrap_or_default();
        info!(message = "Recovery: the broker is back in the ISR of every partition it hosts.", node = %node.id, incident = %incident.id, in_sync_s);
        self.record("in_sync", Some(&node.id), Some(&incident.id), json!({"in_sync_s": in_sync_s})).await;
    }

    /// It failed again before it caught up.
    pub async fn down_again(&self, node: &Node, incident: &mut IncidentRecord) {
        let id = incident.id.clone();
        if let Err(e) = self.store.call(move |c| records::mark_down_again(c, &id)).await {
            error!(message = "Recovery: cannot record that the node is down again.", node = %node.id, error = %e);
        }
        warn!(message = "Recovery: the node failed again before it caught up.", node = %node.id, incident = %incident.id);
        self.record("down_again", Some(&node.id), Some(&incident.id), json!({"behind": incident.behind})).await;
        incident.served_at = None;
        incident.degraded_at = None;
        incident.behind.clear();
    }

    /// The node serves again: the incident is closed as recovered.
    pub async fn recovered(&self, node: &Node, incident: &mut IncidentRecord, by: RestartedBy) {
        let now = SystemTime::now();
        let downtime = now.duration_since(crate::store::from_millis(incident.opened_at)).unwrap_or_default();
        let who = match by {
            RestartedBy::Systemd => "; restarted by systemd (the unit's Restart=), not by this daemon",
            RestartedBy::Nobody if incident.attempts.is_empty() => "; it came back by itself",
            _ => "",
        };
        let times = incident.times_text().map_or(String::new(), |t| format!(" ({t})"));
        let outcome = format!(
            "recovered after {:.1}s{times}, {} attempt(s){who}",
            downtime.as_secs_f64(),
            incident.attempts.len()
        );
        self.close(incident, IncidentState::Recovered, now, outcome).await;
        info!(message = "Recovery: node recovered.", node = %node.id, incident = %incident.id, downtime_s = downtime.as_secs_f64(), attempts = incident.attempts.len());
        self.record(
            "recovered",
            Some(&node.id),
            Some(&incident.id),
            json!({"downtime_s": downtime.as_secs_f64(), "attempts": incident.attempts.len(), "restarted_by": by.name(),
                   "serve_s": incident.times().0, "in_sync_s": incident.times().1}),
        )
        .await;
        let _ = self.events.send(Event::Recovered { incident: incident.clone() });
    }

    /// People must look: the incident is closed as escalated.
    pub async fn escalated(&self, node: &Node, incident: &mut IncidentRecord, reason: String, refusals: &[String]) {
        self.close(incident, IncidentState::Escalated, SystemTime::now(), reason.clone()).await;
        error!(message = "Recovery: escalated; no further action on this node until it is healthy or reset.", node = %node.id, incident = %incident.id, reason = %reason);
        self.record(
            "escalated",
            Some(&node.id),
            Some(&incident.id),
            json!({"reason": reason, "attempts": incident.attempts.len(), "guards_refused": refusals}),
        )
        .await;
        self.telemetry.metrics.escalated(&node.id);
        let _ = self.events.send(Event::Escalated { incident: incident.clone(), reason, refusals: refusals.to_vec() });
    }

    async fn close(&self, incident: &mut IncidentRecord, state: IncidentState, at: SystemTime, outcome: String) {
        let (id, text) = (incident.id.clone(), outcome.clone());
        if let Err(e) = self.store.call(move |c| records::close_incident(c, &id, state, millis(at), &text)).await {
            error!(message = "Recovery: cannot record the incident's close.", node = %incident.node, error = %e);
        }
        incident.state = state;
        incident.closed_at = Some(millis(at));
        incident.outcome = Some(outcome);
        self.ha.mirror(incident).await;
    }

    /// A broker answers here but its cluster does not count it: told once, never acted on.
    pub async fn cut_off(&self, node: &str, problem: &str, since: i64) {
        warn!(
            message = "Monitor: a broker is cut off from its cluster; it is not restarted (a restart cannot mend a network path).",
            node, problem
        );
        self.record("cut_off", Some(node), None, json!({"problem": problem})).await;
        let _ = self.events.send(Event::CutOff { node: node.into(), problem: problem.into(), since, cleared: false });
    }

    /// The cut-off broker counts in its cluster again.
    pub async fn cut_off_cleared(&self, node: &str, problem: &str, since: i64) {
        let lasted_s = (millis(SystemTime::now()) - since).max(0) / 1000;
        info!(message = "Monitor: the broker counts in its cluster again.", node, lasted_s);
        self.record("cut_off_cleared", Some(node), None, json!({"lasted_s": lasted_s})).await;
        let _ = self.events.send(Event::CutOff { node: node.into(), problem: problem.into(), since, cleared: true });
    }

    /// Isolation or mass failure began: one escalation for the whole cluster.
    pub async fn cluster_event(&self, reason: &str) {
        error!(message = "Recovery: escalated — no action anywhere until it clears.", reason = %reason);
        self.record("escalated", None, None, json!({"scope": "cluster", "reason": reason})).await;
        let _ = self.events.send(Event::ClusterEvent { reason: reason.to_string() });
    }

    /// The cluster-wide event is over.
    pub async fn cluster_event_cleared(&self) {
        info!(message = "Recovery: the cluster-wide event is over; recovery resumes.");
        self.record("cluster_event_cleared", None, None, json!({})).await;
    }
}
