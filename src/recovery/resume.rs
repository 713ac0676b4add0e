//! Start-up, and the start of each term with several healers: what a
//! stopped daemon (or the last leader) left behind.
//!
//! Owns: broker ids remembered in the store, attempts left running by the
//! last stop (closed as interrupted, never repeated), open incidents (each
//! resumes where it was: its attempts count, its backoff runs from the last
//! one's end), and nodes escalated before the stop (still held unless reset).
//! With several healers the open incidents come from the backend's intent
//! journal first (`take_over`).
//! Must never: repeat an attempt recorded as started, or forget a hold.

use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::engine::{Engine, now_ms};
use crate::store::{IncidentRecord, IncidentState, controls, records};
use crate::watch::REMEMBERED;

impl Engine {
    /// Start-up: attempts left running by a stopped daemon are closed (never
    /// repeated), open incidents resume, escalated nodes stay held.
    pub(super) async fn resume(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let store = &self.journal.store;
        // Once per term: a reload that kept the term has nothing to take over.
        if self.ha.enabled() && self.ha.take_over_due() {
            self.take_over().await?;
            self.ha.taken_over();
        }
        for (node, id) in store.call(|c| records::broker_ids(c)).await? {
            if self.nodes.iter().any(|n| n.id == node && n.broker_id.is_none()) {
                self.board.learn_broker_id(&node, id, REMEMBERED);
                self.state().stored_ids.insert(node, id);
            }
        }
        let interrupted = store.call(|c| records::close_interrupted(c, now_ms())).await?;
        if interrupted > 0 {
            warn!(
                message = "Recovery: attempts interrupted by the last stop are closed as failed, not repeated.",
                count = interrupted
            );
            self.journal.record("attempts_interrupted", None, None, json!({"count": interrupted})).await;
        }
        for incident in store.call(|c| records::list_incidents(c, None, None, true)).await? {
            let Some(node) = self.nodes.iter().find(|n| n.id == incident.node).cloned() else {
                let (id, reason) = (incident.id.clone(), "the node is no longer in the configuration");
                store
                    .call(move |c| records::close_incident(c, &id, IncidentState::Escalated, now_ms(), reason))
                    .await?;
                continue;
            };
            info!(message = "Recovery: resuming an open incident.", node = %node.id, incident = %incident.id, attempts = incident.attempts.len());
            let details = json!({"attempts_done": incident.attempts.len()});
            self.journal.record("incident_resumed", Some(&node.id), Some(&incident.id), details).await;
            self.ha.mirror(&incident).await;
            self.spawn_incident(node, incident, tracker, shutdown);
        }
        for node in &self.nodes {
            let id = node.id.clone();
            let (escalated, reset) = store
                .call(move |c| Ok((records::last_escalation(c, &id)?.is_some(), controls::reset_requested(c, &id)?)))
                .await?;
            if escalated && !reset {
                self.state().held.insert(node.id.clone());
            }
        }
        Ok(())
    }

    /// A new term: the open incidents are the intent journal's (the last
    /// leader's), not this healer's older copies. Imported into the local
    /// store, they resume like after a restart: an attempt that was running
    /// is closed as interrupted and the node is probed again before any next one.
    async fn take_over(&self) -> anyhow::Result<()> {
        let store = &self.journal.store;
        let mut intents = self.ha.intents().await;
        for _ in 0..3 {
            if intents.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            intents = self.ha.intents().await;
        }
        let intents = match intents {
            Ok(i) => i,
            Err(e) => {
                warn!(message = "HA: the intent journal cannot be read; this healer goes on from its own store.", error = %e);
                self.journal.record("handover_incomplete", None, None, json!({"error": e})).await;
                return Ok(());
            }
        };
        let known: Vec<String> = intents.iter().map(|i| i.id.clone()).collect();
        let mut interrupted = Vec::new();
        for incident in intents {
            for a in incident.attempts.iter().filter(|a| a.finished_at.is_none()) {
                interrupted.push(format!("{} attempt {} ({})", incident.node, a.n, a.action));
            }
            store.call(move |c| records::import_incident(c, &incident)).await?;
        }
        let mine: Vec<IncidentRecord> = store.call(|c| records::list_incidents(c, None, None, true)).await?;
        let mut closed = Vec::new();
        for stale in mine.into_iter().filter(|i| !known.contains(&i.id)) {
            let reason = "not in the leader's intent journal: another healer's term closed it or carries it on";
            let id = stale.id.clone();
            store.call(move |c| records::close_incident(c, &id, IncidentState::HandedOver, now_ms(), reason)).await?;
            closed.push(stale.id);
        }
        let notifications = self.take_over_notifications().await;
        info!(
            message = "HA: this healer takes over the open incidents.",
            incidents = known.len(),
            interrupted = interrupted.len(),
            notifications
        );
        let details = json!({"incidents": known, "interrupted_attempts": interrupted, "closed_here": closed,
                             "notifications_taken_over": notifications});
        self.journal.record("handover", None, None, details).await;
        Ok(())
    }

    /// Notifications other healers queued and never delivered go into this
    /// healer's outbox (its delivery loops send them: at least once, with the
    /// incident's own id, so PagerDuty and Alertmanager keep one incident).
    async fn take_over_notifications(&self) -> usize {
        let found = match self.ha.foreign_notifications().await {
            Ok(f) => f,
            Err(e) => {
                warn!(message = "HA: the other healers' undelivered notifications cannot be read.", error = %e);
                return 0;
            }
        };
        let mut taken = 0;
        for (key, row) in found {
            let text = |k: &str| row[k].as_str().map(str::to_string);
            let (Some(channel), Some(trigger), Some(payload)) = (text("channel"), text("trigger"), text("payload"))
            else {
                warn!(message = "HA: a notification in the backend cannot be read; it is skipped.", key = %key);
                continue;
            };
            let (incident, node) = (text("incident"), text("node"));
            let queued = self
                .journal
                .store
                .call(move |c| {
                    let row = records::OutboxRow {
                        channel: &channel,
                        trigger: &trigger,
                        incident: incident.as_deref(),
                        node: node.as_deref(),
                        payload: &payload,
                    };
                    records::enqueue(c, &row, now_ms(), now_ms())
                })
                .await;
            match queued {
                Ok(id) => {
                    self.ha.mirror_notification(id, &row).await;
                    self.ha.adopted(&key).await;
                    taken += 1;
                }
                Err(e) => {
                    warn!(message = "HA: a taken-over notification cannot be queued here.", key = %key, error = %e)
                }
            }
        }
        taken
    }
}
