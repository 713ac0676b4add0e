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
mod email;

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
use crate::recovery::IncidentEvent;
use crate::store::{Store, millis, records};
use crate::watch::Board;

/// The notifier: reads incident events, fills the outbox, empties it.
pub struct Notifier {
    config: Arc<Config>,
    store: Store,
    audit: Audit,
    board: Arc<Board>,
    http: reqwest::Client,
    queued: Notify,
}

impl Notifier {
    pub fn new(config: Arc<Config>, store: Store, audit: Audit, board: Arc<Board>) -> Notifier {
        Notifier {
            config,
            store,
            audit,
            board,
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default(),
            queued: Notify::new(),
        }
    }

    /// Runs until `shutdown`; what is not delivered stays in the outbox for the next start.
    pub async fn run(
        self: Arc<Self>,
        mut events: broadcast::Receiver<IncidentEvent>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        let channels: Vec<&'static str> = channels::configured(&self.config).into_iter().map(|(c, _)| c).collect();
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
    async fn enqueue(&self, event: &IncidentEvent) {
        let state = self
            .board
            .cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| if c.problems.is_empty() { "healthy".to_string() } else { c.problems.join("; ") });
        let Some(n) = compose::compose(&self.config, event, state.as_deref()) else { return };
        if !compose::enabled(&self.config, &n.trigger) {
            return;
        }
        let payload = match serde_json::to_string(&n) {
            Ok(p) => p,
            Err(e) => return error!(message = "Notification: cannot serialise.", error = %e),
        };
        for (channel, routing) in channels::configured(&self.config) {
            if !channels::routes(routing, &n) {
                continue;
            }
            let (payload, trigger, incident, node) =
                (payload.clone(), n.trigger.clone(), n.incident_id.clone(), n.node.clone());
            let stored = self
                .store
                .call(move |c| {
                    records::enqueue(
                        c,
                        channel,
                        &trigger,
                        incident.as_deref(),
                        node.as_deref(),
                        &payload,
                        millis(SystemTime::now()),
                    )
                })
                .await;
            if let Err(e) = stored {
                error!(message = "Notification: cannot write to the outbox; it is lost.", channel, error = %e);
            }
        }
        self.queued.notify_waiters();
    }

    async fn deliver_loop(self: Arc<Self>, channel: &'static str, shutdown: CancellationToken) {
        let d = &self.config.notifications.delivery;
        let (initial, max) = (d.initial_backoff_seconds.duration(), d.max_backoff_seconds.duration());
        let give_up = Duration::from_secs_f64(d.give_up_after_hours * 3600.0);
        // After a failure the whole channel waits (its queue stays in order).
        let mut resume_at = std::time::Instant::now();
        loop {
            let now = millis(SystemTime::now());
            let due = if std::time::Instant::now() >= resume_at {
                self.store.call(move |c| records::due(c, channel, now, 20)).await.unwrap_or_default()
            } else {
                Vec::new()
            };
            for p in due {
                let n: Notification = match serde_json::from_str(&p.payload) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ =
                            self.store.call(move |c| records::drop_pending(c, p.id, now, "unreadable payload")).await;
                        error!(message = "Notification dropped: unreadable outbox row.", channel, error = %e);
                        continue;
                    }
                };
                match channels::deliver(&self.config, channel, &n, &self.http).await {
                    Ok(()) => {
                        let at = millis(SystemTime::now());
                        let _ = self.store.call(move |c| records::delivered(c, p.id, at)).await;
                        info!(message = "Notification delivered.", channel, trigger = %n.trigger, node = n.node.as_deref().unwrap_or("-"), tries = p.tries + 1);
                        self.audit
                            .record(
                                "notification_delivered",
                                n.node.as_deref(),
                                n.incident_id.as_deref(),
                                json!({"channel": channel, "trigger": n.trigger, "subject": n.subject, "tries": p.tries + 1}),
                            )
                            .await;
                    }
                    Err(e) => {
                        let age = Duration::from_millis((now - p.created_at).max(0) as u64);
                        if age > give_up {
                            let reason = e.0.clone();
                            let _ = self.store.call(move |c| records::drop_pending(c, p.id, now, &reason)).await;
                            error!(message = "Notification dropped after retrying for too long.", channel, trigger = %n.trigger, error = %e.0);
                            continue;
                        }
                        let backoff = initial.mul_f64(2f64.powi(p.tries.min(20) as i32)).min(max);
                        let next = now + backoff.as_millis() as i64;
                        let reason = e.0.clone();
                        let _ = self.store.call(move |c| records::retry_later(c, p.id, next, &reason)).await;
                        resume_at = std::time::Instant::now() + backoff;
                        warn!(message = "Notification delivery failed; will retry.", channel, trigger = %n.trigger, error = %e.0, retry_in_s = backoff.as_secs_f64());
                        // The channel is down: the rest of its queue waits too, in order.
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.queued.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }
}
