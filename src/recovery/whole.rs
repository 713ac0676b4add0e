//! The end of an incident: a broker that serves again is recovered only
//! once it is back in the ISR of every partition it hosts, and then it leads
//! again what it should.
//!
//! Owns: the `serving` → `catching_up` → (`degraded`) → in sync steps of a
//! Kafka broker's incident, read once a second from a peer's metadata
//! (`catch_up` decides), and the preferred-leader election that follows
//! (`recovery.restore_leadership`).
//! Must never: restart anything — a broker that is behind is caught up by
//! its replica fetchers — or keep an incident open for a node that is not a
//! Kafka broker.

use std::time::SystemTime;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::catch_up::{CatchUp, POLL, Seen, Step};
use super::engine::Engine;
use super::leadership;
use crate::health::NodeState;
use crate::store::{IncidentRecord, from_millis};
use crate::topology::{Node, Role};

/// How the wait for a whole broker ended.
pub(super) enum Whole {
    /// In sync (or not a broker, or catch-up switched off): close the incident.
    Done,
    /// It failed again first: the lifecycle goes on.
    FailedAgain,
    /// The daemon is stopping; the incident stays open and resumes.
    Stopping,
}

impl Engine {
    /// Records that `node` serves again, then — for a Kafka broker — waits
    /// until it is back in sync, saying once if that takes longer than
    /// `recovery.isr_catch_up_timeout_seconds`, and restores its leadership.
    pub(super) async fn await_whole(
        &self,
        node: &Node,
        incident: &mut IncidentRecord,
        shutdown: &CancellationToken,
    ) -> Whole {
        self.journal.serving(node, incident).await;
        let limit = self.config.recovery.isr_catch_up_timeout_seconds.duration();
        if node.role != Role::KafkaBroker || limit.is_zero() {
            return Whole::Done;
        }
        let Some(id) = self.resolved(node).broker_id else {
            let reason = "its broker id is not known (set `broker_id`), so its partitions cannot be told";
            info!(message = "Recovery: closing without the ISR catch-up.", node = %node.id, incident = %incident.id, reason);
            self.journal
                .record("catch_up_skipped", Some(&node.id), Some(&incident.id), json!({"reason": reason}))
                .await;
            return Whole::Done;
        };
        let served = from_millis(incident.served_at.unwrap_or_default());
        let mut catch = CatchUp::new(served, limit, incident.degraded_at.is_some());
        let mut last_behind: Option<Vec<String>> = None;
        let ended = loop {
            let seen = self.catch_up_seen(node, id).await;
            let behind = match &seen {
                Seen::Behind(b) => Some(b.len()),
                _ => None,
            };
            let late = incident.degraded_at.is_some();
            self.state().catching_up.insert(node.id.clone(), (behind, late));
            match catch.next(&seen, SystemTime::now()) {
                Step::InSync => {
                    self.journal.in_sync(node, incident).await;
                    if self.config.recovery.restore_leadership && !self.dry_run {
                        self.restore_leadership(node, incident, id).await;
                    }
                    break Whole::Done;
                }
                Step::FailedAgain => {
                    self.journal.down_again(node, incident).await;
                    break Whole::FailedAgain;
                }
                Step::TimedOut { behind, unknown } => {
                    self.journal.catch_up_timed_out(node, incident, &behind, unknown.as_deref(), limit).await;
                    last_behind = Some(behind);
                }
                Step::Wait => {
                    if let Seen::Behind(b) = &seen
                        && last_behind.as_ref() != Some(b)
                    {
                        self.journal.behind(node, incident, b).await;
                        last_behind = Some(b.clone());
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break Whole::Stopping,
                _ = tokio::time::sleep(POLL) => {}
            }
        };
        self.state().catching_up.remove(&node.id);
        ended
    }

    /// What the catch-up looks at: the watcher's state, then a serving
    /// peer's metadata (the broker's own when no peer answers: the ISR is
    /// the controller's word, whoever relays it).
    async fn catch_up_seen(&self, node: &Node, id: i32) -> Seen {
        if self.board.state(&node.id) == NodeState::Failed {
            return Seen::Failed;
        }
        let mut asked: Vec<Node> = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::KafkaBroker && n.id != node.id && self.serving(&n.id))
            .cloned()
            .collect();
        asked.push(node.clone());
        match self.prober.cluster_metadata(&asked, None).await {
            Some(m) if m.hosted(id) == 0 && m.listed(id).is_none() => {
                Seen::Unknown(format!("broker {id} is not in the metadata of {}", m.asked))
            }
            Some(m) => Seen::Behind(m.behind(id)),
            None => Seen::Unknown("no broker's metadata could be read".into()),
        }
    }

    /// The preferred-leader election for the partitions broker `id` should
    /// lead and does not, audited with what moved.
    async fn restore_leadership(&self, node: &Node, incident: &IncidentRecord, id: i32) {
        let asked: Vec<Node> =
            self.nodes.iter().filter(|n| n.role == Role::KafkaBroker && self.serving(&n.id)).cloned().collect();
        let Some(m) = self.prober.cluster_metadata(&asked, None).await else {
            warn!(message = "Recovery: leadership not restored: no broker's metadata could be read.", node = %node.id);
            return;
        };
        let partitions = m.not_leading(id);
        if partitions.is_empty() {
            let leading = m.leading(id);
            if leading.is_empty() {
                return;
            }
            // Kafka's own rebalance may have come first (a new controller
            // runs it 5 s after it takes over): say so, it is the outcome.
            let details = json!({"broker_id": id, "asked": [], "moved": [], "not_needed": leading, "failed": []});
            self.journal.record("leadership_restored", Some(&node.id), Some(&incident.id), details).await;
            return;
        }
        // Where the election goes: the controller Metadata names, at the
        // address configured for it (else the one it advertises).
        let Some(controller) = m.controller else {
            warn!(message = "Recovery: leadership not restored: the metadata names no controller.", node = %node.id);
            return;
        };
        let configured = self.nodes.iter().find(|n| self.resolved(n).broker_id == Some(controller));
        let address = match configured {
            Some(n) => Some((n.host.clone(), n.port)),
            None => m.brokers.iter().find(|b| b.id == controller).map(|b| (b.host.clone(), b.port as u16)),
        };
        let Some((host, port)) = address else { return };
        let started = std::time::Instant::now();
        let timeouts = crate::kafka::Timeouts { connect: self.prober.connect_timeout, request: self.prober.timeout };
        let result = leadership::elect_preferred(&host, port, &self.prober.security, timeouts, &partitions).await;
        let took_s = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
        let labels: Vec<String> = partitions.iter().map(|(t, p)| format!("{t}-{p}")).collect();
        let details = match &result {
            Ok(e) => {
                info!(message = "Recovery: leadership restored (preferred-leader election).", node = %node.id, incident = %incident.id, moved = e.moved.len(), not_needed = e.not_needed.len(), failed = e.failed.len());
                json!({"broker_id": id, "asked": labels, "moved": e.moved, "not_needed": e.not_needed,
                       "failed": e.failed, "controller": controller, "took_s": took_s})
            }
            Err(why) => {
                warn!(message = "Recovery: the preferred-leader election failed; Kafka's own rebalance will move them later.", node = %node.id, incident = %incident.id, error = %why);
                json!({"broker_id": id, "asked": labels, "error": why, "controller": controller, "took_s": took_s})
            }
        };
        self.journal.record("leadership_restored", Some(&node.id), Some(&incident.id), details).await;
    }
}
