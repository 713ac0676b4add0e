//! Start-up: what a stopped daemon left behind.
//!
//! Owns: broker ids remembered in the store, attempts left running by the
//! last stop (closed as interrupted, never repeated), open incidents (each
//! resumes where it was: its attempts count, its backoff runs from the last
//! one's end), and nodes escalated before the stop (still held unless reset).
//! Must never: repeat an attempt recorded as started, or forget a hold.

use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::engine::{Engine, now_ms};
use crate::store::{IncidentState, controls, records};
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
}
