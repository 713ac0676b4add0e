//! Notifications: the right people hear about an incident, once, and nothing
//! is lost.
//!
//! Owns: turning incident events into notifications (`compose`, pure),
//! routing them to channels (`channels::routes`), the durable outbox in the
//! state store (every notification is written before it is sent), and one
//! delivery loop per channel with exponential backoff (`channels`, `email`).
//! Must never: block monitoring or recovery (it only reads their events),
//! drop a notification silently, or send a secret.

pub mod channels;
pub mod compose;
pub mod dead_mans_switch;
mod email;
pub mod manual;
pub mod rehearsal;
pub mod setup;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

pub use compose::Notification;

use crate::audit::Audit;
use crate::config::Config;
use crate::events::Event;
use crate::plugin::Registry;
use crate::store::{Store, millis, records};
use crate::telemetry::Telemetry;
use crate::watch::Board;

/// The notifier: reads incident events, fills the outbox, empties it.
pub struct Notifier {
    config: Arc<Config>,
    store: Store,
    audit: Audit,
    board: Arc<Board>,
    http: reqwest::Client,
    queued: Notify,
    telemetry: Arc<Telemetry>,
    /// External notification plugins and the `plugins` switches.
    plugins: Arc<Registry>,
    /// Several healers: what is queued and not yet delivered is in the backend too.
    ha: Arc<crate::ha::Ha>,
}

impl Notifier {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        audit: Audit,
        board: Arc<Board>,
        telemetry: Arc<Telemetry>,
        plugins: Arc<Registry>,
        ha: Arc<crate::ha::Ha>,
    ) -> Notifier {
        Notifier {
            config,
            store,
            audit,
            board,
            http: crate::http_client::build(|b| b.redirect(reqwest::redirect::Policy::none())).0,
            queued: Notify::new(),
            telemetry,
            plugins,
            ha,
        }
    }

    /// Runs until `shutdown`; what is not delivered stays in the outbox for the next start.
    pub async fn run(
        self: Arc<Self>,
        mut events: broadcast::Receiver<Event>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        let channels: Vec<String> =
            channels::configured(&self.config, &self.plugins).into_iter().map(|(c, _)| c).collect();
        for channel in channels {
            tracker.spawn(self.clone().deliver_loop(channel, shutdown.clone()));
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                event = events.recv() => match event {
                    Ok(e) => self.enqueue(&e).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        error!(message = "Notification: events were missed (the notifier fell behind).", missed = n);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// Composes the event's notification and writes one outbox row per channel it is routed to.
    async fn enqueue(&self, event: &Event) {
        let state = self
            .board
            .cluster()
            .map(|c| if c.problems.is_empty() { "healthy".to_string() } else { c.problems.join("; ") });
        let Some(n) = compose::compose(&self.config, event, state.as_deref()) else { return };
        if !compose::trigger_of(event).is_some_and(|t| compose::enabled(&self.config, t)) {
            return;
        }
        let payload = match serde_json::to_string(&n) {
            Ok(p) => p,
            Err(e) => return error!(message = "Notification: cannot serialise.", error = %e),
        };
        let limits = &self.config.notifications.rate_limiting;
        let (per_hour, cooldown_ms) =
            (limits.max_notifications_per_hour, (limits.cooldown_period_minutes * 60_000.0) as i64);
        // People must hear about an escalation: rate limits never hold one back.
        let limited = !matches!(n.trigger.as_str(), "on_max_retries_exceeded" | "on_isolation" | "on_system_error");
        let group_wait_ms = (self.config.notifications.group_wait_seconds.0 * 1000.0) as i64;
        for (channel, routing) in channels::configured(&self.config, &self.plugins) {
            if !channels::routes(routing, &n) {
                continue;
            }
            let (payload, trigger, incident, node) =
                (payload.clone(), n.trigger.clone(), n.incident_id.clone(), n.node.clone());
            let owned = channel.clone();
            let stored = self
                .store
                .call(move |c| {
                    let channel = owned.as_str();
                    let now = millis(SystemTime::now());
                    let held = if limited {
                        let (hour, _) = records::sent_since(c, channel, now - 3_600_000, node.as_deref(), &trigger)?;
                        let (_, same) = records::sent_since(c, channel, now - cooldown_ms, node.as_deref(), &trigger)?;
                        if same > 0 {
                            Some("cooldown_period_minutes")
                        } else if hour >= per_hour {
                            Some("max_notifications_per_hour")
                        } else {
                            None
                        }
                    } else {
                        None
                    };
                    let row = records::OutboxRow {
                        channel,
                        trigger: &trigger,
                        incident: incident.as_deref(),
                        node: node.as_deref(),
                        payload: &payload,
                    };
                    let queued = match held {
                        Some(_) => {
                            records::suppress(c, &row, now)?;
                            None
                        }
                        None => {
                            // Held for `group_wait_seconds` so nodes failing together go out as one message.
                            let due_at = if channels::groups(channel, &trigger) { now + group_wait_ms } else { now };
                            Some(records::enqueue(c, &row, now, due_at)?)
                        }
                    };
                    Ok((held, queued))
                })
                .await;
            if let Ok((_, Some(id))) = &stored
                && self.ha.enabled()
            {
                let payload = serde_json::to_string(&n).unwrap_or_default();
                let row = json!({"channel": channel, "trigger": n.trigger, "incident": n.incident_id,
                                 "node": n.node, "payload": payload});
                self.ha.mirror_notification(*id, &row).await;
            }
            let stored = stored.map(|(held, _)| held);
            match stored {
                Err(e) => {
                    error!(message = "Notification: cannot write to the outbox; it is lost.", channel, error = %e)
                }
                Ok(Some(limit)) => {
                    self.telemetry.metrics.notification(&channel, &n.trigger, "suppressed", 1);
                    info!(message = "Notification held back by a rate limit; it will be summarised.", channel, trigger = %n.trigger, limit);
                    self.audit
                        .record(
                            "notification_suppressed",
                            n.node.as_deref(),
                            n.incident_id.as_deref(),
                            json!({"channel": channel, "trigger": n.trigger, "limit": limit}),
                        )
                        .await;
                }
                Ok(None) => {}
            }
        }
        self.queued.notify_waiters();
    }

    /// A `performance.log` line per delivery; a slow one in the application log too.
    fn timing(&self, channel: &str, trigger: &str, took: Duration, ok: bool) {
        let ms = took.as_millis() as u64;
        info!(target: crate::logging::PERFORMANCE, message = "Notification delivery timing.", channel, trigger, ok, response_time_ms = ms);
        let perf = &self.config.logging.performance;
        if perf.log_slow_operations && ms > perf.slow_operation_threshold_ms {
            let line = format!(
                "Notification slow: {channel} took {ms} ms (threshold {} ms)",
                perf.slow_operation_threshold_ms
            );
            warn!(target: crate::logging::PERFORMANCE, message = %line, channel, response_time_ms = ms);
            warn!(message = %line, channel, response_time_ms = ms);
        }
    }

    /// Once the oldest held-back notification is a cooldown old, queues one
    /// summary of everything held back.
    async fn summarise(&self, channel: &str) {
        let cooldown_ms = (self.config.notifications.rate_limiting.cooldown_period_minutes * 60_000.0) as i64;
        let cluster = self.config.cluster.name.clone();
        let owned = channel.to_string();
        let queued = self
            .store
            .call(move |c| {
                let channel = owned.as_str();
                let held = records::unsummarised(c, channel)?;
                let now = millis(SystemTime::now());
                if held.is_empty() {
                    return Ok(None);
                }
                let oldest_at = c.query_row("SELECT created_at FROM outbox WHERE id = ?1", [held[0].0], |r| r.get::<_, i64>(0))?;
                // One summary per cooldown period, whatever the hourly limit: it is the
                // message that says what the limits held back.
                if now - oldest_at < cooldown_ms {
                    return Ok(None);
                }
                let lines: Vec<String> = held
                    .iter()
                    .filter_map(|(_, p)| serde_json::from_str::<Notification>(p).ok())
                    .map(|n| format!("{}  {}", n.at, n.subject))
                    .collect();
                let summary = Notification {
                    trigger: "summary".into(),
                    severity: "warning".into(),
                    resolved: false,
                    cluster: cluster.clone(),
                    node: None,
                    node_type: None,
                    incident_id: None,
                    subject: format!("[SUMMARY] {} notification(s) held back by rate limits in {cluster}", lines.len()),
                    body: format!(
                        "These were not sent on their own (notifications.rate_limiting); the incidents are in `kafka-self-healing incidents`:\n{}\n",
                        lines.join("\n")
                    ),
                    at: crate::audit::rfc3339(SystemTime::now()),
                    incident: None,
                };
                let payload = serde_json::to_string(&summary).unwrap_or_default();
                let row = records::OutboxRow { channel, trigger: "summary", incident: None, node: None, payload: &payload };
                records::enqueue(c, &row, now, now)?;
                let ids: Vec<i64> = held.iter().map(|(id, _)| *id).collect();
                records::mark_summarised(c, &ids, now)?;
                Ok(Some(ids.len()))
            })
            .await;
        match queued {
            Ok(Some(n)) => info!(message = "Notification summary queued.", channel, held_back = n),
            Ok(None) => {}
            Err(e) => error!(message = "Notification: cannot summarise held-back notifications.", channel, error = %e),
        }
    }

    async fn deliver_loop(self: Arc<Self>, owned: String, shutdown: CancellationToken) {
        let channel = owned.as_str();
        let d = &self.config.notifications.delivery;
        let (initial, max) = (d.initial_backoff_seconds.duration(), d.max_backoff_seconds.duration());
        let give_up = Duration::from_secs_f64(d.give_up_after_hours * 3600.0);
        // After a failure the whole channel waits (its queue stays in order).
        let mut resume_at = std::time::Instant::now();
        loop {
            let now = millis(SystemTime::now());
            let due = if std::time::Instant::now() >= resume_at {
                let ch = owned.clone();
                self.store.call(move |c| records::due(c, &ch, now, 20)).await.unwrap_or_default()
            } else {
                Vec::new()
            };
            let group_wait_ms = (self.config.notifications.group_wait_seconds.0 * 1000.0) as i64;
            for group in group_due(channel, due, group_wait_ms) {
                let mut parsed = Vec::new();
                for p in group {
                    match serde_json::from_str::<Notification>(&p.payload) {
                        Ok(n) => parsed.push((p, n)),
                        Err(e) => {
                            let _ = self
                                .store
                                .call(move |c| records::drop_pending(c, p.id, now, "unreadable payload"))
                                .await;
                            error!(message = "Notification dropped: unreadable outbox row.", channel, error = %e);
                        }
                    }
                }
                let Some(n) = merge(parsed.iter().map(|(_, n)| n).collect()) else { continue };
                let ids: Vec<i64> = parsed.iter().map(|(p, _)| p.id).collect();
                let tries = parsed.iter().map(|(p, _)| p.tries).max().unwrap_or(0);
                let created = parsed.iter().map(|(p, _)| p.created_at).min().unwrap_or(now);
                let sending = std::time::Instant::now();
                let delivered = channels::deliver(&self.config, &self.plugins, channel, &n, &self.http).await;
                self.timing(channel, &n.trigger, sending.elapsed(), delivered.is_ok());
                match delivered {
                    Ok(()) => {
                        let at = millis(SystemTime::now());
                        let done = ids.clone();
                        let _ = self
                            .store
                            .call(move |c| done.iter().try_for_each(|id| records::delivered(c, *id, at)))
                            .await;
                        self.telemetry.metrics.notification(channel, &n.trigger, "delivered", ids.len());
                        for id in &ids {
                            self.ha.notification_done(*id).await;
                        }
                        info!(message = "Notification delivered.", channel, trigger = %n.trigger, node = n.node.as_deref().unwrap_or("-"), grouped = ids.len(), tries = tries + 1);
                        for (_, one) in &parsed {
                            self.audit
                                .record(
                                    "notification_delivered",
                                    one.node.as_deref(),
                                    one.incident_id.as_deref(),
                                    json!({"channel": channel, "trigger": one.trigger, "subject": n.subject, "tries": tries + 1, "grouped": ids.len()}),
                                )
                                .await;
                        }
                    }
                    Err(e) => {
                        let age = Duration::from_millis((now - created).max(0) as u64);
                        let reason = e.0.clone();
                        if age > give_up {
                            let done = ids.clone();
                            let _ = self
                                .store
                                .call(move |c| {
                                    done.iter().try_for_each(|id| records::drop_pending(c, *id, now, &reason))
                                })
                                .await;
                            self.telemetry.metrics.notification(channel, &n.trigger, "dropped", ids.len());
                            for id in &ids {
                                self.ha.notification_done(*id).await;
                            }
                            error!(message = "Notification dropped after retrying for too long.", channel, trigger = %n.trigger, error = %e.0);
                            continue;
                        }
                        let backoff = initial.mul_f64(2f64.powi(tries.min(20) as i32)).min(max);
                        let next = now + backoff.as_millis() as i64;
                        let done = ids.clone();
                        let _ = self
                            .store
                            .call(move |c| done.iter().try_for_each(|id| records::retry_later(c, *id, next, &reason)))
                            .await;
                        resume_at = std::time::Instant::now() + backoff;
                        self.telemetry.metrics.notification(channel, &n.trigger, "failed", ids.len());
                        warn!(message = "Notification delivery failed; will retry.", channel, trigger = %n.trigger, error = %e.0, retry_in_s = backoff.as_secs_f64());
                        // The channel is down: the rest of its queue waits too, in order.
                        break;
                    }
                }
            }
            if std::time::Instant::now() >= resume_at {
                self.summarise(channel).await;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.queued.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }
}

/// Splits a channel's due notifications into messages: consecutive ones of the
/// same trigger created within `group_wait_ms` of the first go together.
fn group_due(channel: &str, due: Vec<records::Pending>, group_wait_ms: i64) -> Vec<Vec<records::Pending>> {
    let node_of = |p: &records::Pending| -> Option<String> {
        serde_json::from_str::<serde_json::Value>(&p.payload).ok()?["node"].as_str().map(str::to_string)
    };
    let mut groups: Vec<Vec<records::Pending>> = Vec::new();
    for p in due {
        // The open group of this trigger it may join: started within `group_wait_ms`,
        // and no later message about the same node in between (it would jump ahead of it).
        let node = node_of(&p);
        let target = groups.iter().rposition(|g| {
            let first = &g[0];
            channels::groups(channel, &p.trigger)
                && first.trigger == p.trigger
                && p.created_at - first.created_at <= group_wait_ms
        });
        let target =
            target.filter(|&i| groups[i + 1..].iter().flatten().all(|later| node.is_none() || node_of(later) != node));
        match target {
            Some(i) => groups[i].push(p),
            None => groups.push(vec![p]),
        }
    }
    groups
}

/// One message for several notifications of one trigger (or the one itself).
fn merge(mut ns: Vec<&Notification>) -> Option<Notification> {
    if ns.len() <= 1 {
        return ns.pop().cloned();
    }
    let first = ns[0];
    let nodes: Vec<&str> = ns.iter().filter_map(|n| n.node.as_deref()).collect();
    let mut merged = first.clone();
    merged.subject =
        format!("[{} nodes] {}", ns.len(), ns.iter().map(|n| n.subject.as_str()).collect::<Vec<_>>().join("; "));
    merged.body = ns.iter().map(|n| n.body.as_str()).collect::<Vec<_>>().join("\n----\n");
    merged.node = None;
    merged.node_type = None;
    merged.incident_id = None;
    merged.incident = None;
    merged.body = format!("{} nodes: {}\n\n{}", ns.len(), nodes.join(", "), merged.body);
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, trigger: &str, node: &str, at: i64) -> records::Pending {
        records::Pending {
            id,
            channel: "webhook".into(),
            payload: json!({"node": node}).to_string(),
            tries: 0,
            created_at: at,
            trigger: trigger.into(),
        }
    }

    fn ids(groups: &[Vec<records::Pending>]) -> Vec<Vec<i64>> {
        groups.iter().map(|g| g.iter().map(|p| p.id).collect()).collect()
    }

    #[test]
    fn nodes_failing_together_group_across_other_nodes_escalations() {
        let due = vec![
            row(1, "on_failure_detected", "down-2", 0),
            row(2, "on_max_retries_exceeded", "down-2", 2),
            row(3, "on_failure_detected", "down-1", 2),
            row(4, "on_max_retries_exceeded", "down-1", 3),
        ];
        assert_eq!(ids(&group_due("webhook", due, 2000)), [vec![1, 3], vec![2], vec![4]]);
    }

    #[test]
    fn a_node_never_overtakes_its_own_earlier_message() {
        let due = vec![
            row(1, "on_recovery_success", "b1", 0),
            row(2, "on_failure_detected", "b1", 10),
            row(3, "on_recovery_success", "b1", 20),
        ];
        // The second recovery may not join the first: b1's failure sits between them.
        assert_eq!(ids(&group_due("webhook", due, 2000)), [vec![1], vec![2], vec![3]]);
        // Outside the wait, or to a channel that never groups: one by one.
        let apart = vec![row(1, "on_failure_detected", "a", 0), row(2, "on_failure_detected", "b", 5000)];
        assert_eq!(ids(&group_due("webhook", apart, 2000)), [vec![1], vec![2]]);
        let pd = vec![row(1, "on_failure_detected", "a", 0), row(2, "on_failure_detected", "b", 1)];
        assert_eq!(ids(&group_due("pagerduty", pd, 2000)), [vec![1], vec![2]]);
    }
}
