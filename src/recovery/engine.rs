//! The recovery engine: the shell that wires the incident lifecycle to the
//! world — one task per incident, the operator's controls read every tick,
//! the one escalation of a cluster-wide event.
//!
//! Owns: when decisions are asked for and carried out (opening rules from
//! `opening`, each incident's steps from `lifecycle`, guards from `guards`),
//! the parallelism slots taken atomically with the guards' consent, and
//! resuming open incidents after a restart.
//! Must never: act without a guard's consent, act twice on one node at once,
//! run an attempt it cannot first record, or repeat an attempt recorded as
//! started (after a restart it is closed as interrupted and the next one comes).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

use super::guards::{self, RefusalKind};
use super::journal::Journal;
use super::lifecycle::{Lifecycle, Next, Observed, Repeat, Settings, TICK};
use super::opening::{self, Opening, Stop};
use super::policy::RetryPolicy;
use super::state::{EngineStatus, State};
use super::whole::Whole;
use crate::audit::{Audit, rfc3339};
use crate::config::Config;
use crate::events::Event;
use crate::health::NodeState;
use crate::monitor::Prober;
use crate::secrets::Masker;
use crate::store::{IncidentRecord, IncidentState, Store, from_millis, millis};
use crate::telemetry::Telemetry;
use crate::topology::Node;
use crate::watch::{Board, NodeEvent};

/// Everything the engine needs, built once by the composition root.
pub struct Engine {
    pub config: Arc<Config>,
    pub nodes: Vec<Node>,
    pub(super) masker: Arc<Masker>,
    pub(super) prober: Arc<Prober>,
    pub(super) board: Arc<Board>,
    pub(super) dry_run: bool,
    pub(super) journal: Journal,
    pub(super) telemetry: Arc<Telemetry>,
    pub(super) http: reqwest::Client,
    /// This healer's standing among several: the engine acts only in a term.
    pub ha: Arc<crate::ha::Ha>,
    state: Mutex<State>,
}

pub(super) fn now_ms() -> i64 {
    millis(SystemTime::now())
}

/// `inc-20261124-162013-123-broker-1`
fn incident_id(node: &str, at: SystemTime) -> String {
    let ts = rfc3339(at);
    let compact: String = ts.chars().filter(|c| c.is_ascii_digit()).collect();
    let safe: String = node.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("inc-{}-{}-{}-{safe}", &compact[..8], &compact[8..14], &compact[14..17])
}

/// Sleeps; true when the daemon is stopping.
async fn sleep_or_stop(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        store: Store,
        audit: Audit,
        masker: Arc<Masker>,
        prober: Arc<Prober>,
        board: Arc<Board>,
        dry_run: bool,
        events: broadcast::Sender<Event>,
        telemetry: Arc<Telemetry>,
        ha: Arc<crate::ha::Ha>,
    ) -> Engine {
        let mut nodes = crate::topology::nodes(&config);
        crate::topology::mark_this_host(&mut nodes, crate::host::is_named_this_host);
        Engine {
            config,
            nodes,
            masker,
            prober,
            board,
            dry_run,
            journal: Journal { store, audit, telemetry: telemetry.clone(), events, ha: ha.clone() },
            telemetry,
            http: crate::http_client::build(|b| b.redirect(reqwest::redirect::Policy::none())).0,
            ha,
            state: Mutex::new(State::default()),
        }
    }

    /// What the engine is doing now, for the status API and the metrics.
    pub fn status(&self) -> EngineStatus {
        self.state().status(now_ms(), self.config.recovery.planned_restart_grace_seconds.0, self.dry_run)
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs until `shutdown`, one term at a time (alone: one term): waits
    /// until this healer may act, resumes the open incidents (the last
    /// leader's, with several healers), then opens one per failed node —
    /// until the term ends.
    pub async fn run(
        self: Arc<Self>,
        mut node_events: broadcast::Receiver<NodeEvent>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        while let Some(term) = self.await_term(&shutdown).await {
            // Work under the term ends with the term, or with this generation
            // (a reload keeps the term: the next generation goes on with it).
            let acting = term.token.child_token();
            tokio::spawn({
                let (generation, acting) = (shutdown.clone(), acting.clone());
                async move {
                    tokio::select! {
                        _ = generation.cancelled() => acting.cancel(),
                        _ = acting.cancelled() => {}
                    }
                }
            });
            if let Err(e) = self.resume(&tracker, &acting).await {
                error!(message = "Recovery engine: cannot read the state store; no action will run.", error = %e);
                let reason =
                    format!("the recovery engine cannot read the state store ({e}); no recovery action will run");
                return self.journal.system_error(reason);
            }
            // What happened while another healer acted is not this one's to answer.
            node_events = node_events.resubscribe();
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = acting.cancelled() => break,
                    event = node_events.recv() => match event {
                        Ok(e) if e.transition.to == NodeState::Failed => self.open_if_needed(&e.node, &tracker, &acting).await,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = tick.tick() => self.tick(&tracker, &acting).await,
                }
            }
            // The term ended: the incident tasks stop at their next step
            // (each says so); what they held is the next leader's now.
        }
    }

    /// Waits until this healer may act; the engine's loop beats meanwhile
    /// (its liveness is this healer's, leader or not).
    async fn await_term(&self, shutdown: &CancellationToken) -> Option<crate::ha::Term> {
        let mut changes = self.ha.subscribe();
        let mut tick = tokio::time::interval(TICK);
        loop {
            // This generation is over (a stop, or a reload that keeps the term
            // for the next one): no term is this engine's any more.
            if shutdown.is_cancelled() {
                return None;
            }
            if let Some(t) = self.ha.term() {
                return Some(t);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = changes.changed() => {}
                _ = tick.tick() => {
                    self.telemetry.liveness.beat("recovery", TICK);
                    // A follower shows the controls every healer holds.
                    self.show_controls().await;
                }
            }
        }
    }

    /// Operator controls, held nodes, the cluster-wide event, and failed nodes
    /// the events did not bring (a reset node, a missed event).
    async fn tick(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        self.telemetry.liveness.beat("recovery", TICK);
        self.remember_broker_ids().await;
        if !self.read_controls().await {
            return;
        }
        let states: Vec<(Node, NodeState)> = self.nodes.iter().map(|n| (n.clone(), self.board.state(&n.id))).collect();
        // An escalated node that serves again is re-armed; a cleanly stopped one is back.
        for (node, state) in states.iter().filter(|(_, s)| matches!(s, NodeState::Healthy | NodeState::Degraded)) {
            let back = self.state().serves_again(&node.id);
            if back.from_planned_stop {
                info!(message = "Recovery: a cleanly stopped broker is back.", node = %node.id);
            }
            if back.hold_released {
                info!(message = "Recovery: an escalated node serves again and is re-armed.", node = %node.id);
                self.journal.record("hold_released", Some(&node.id), None, json!({"state": state.as_str()})).await;
            }
        }
        self.cluster_event().await;
        self.cut_offs().await;
        for (node, state) in states {
            if state == NodeState::Failed {
                self.open_if_needed(&node, tracker, shutdown).await;
            }
        }
    }

    /// Escalates a cluster-wide event once, and says when it is over.
    async fn cluster_event(&self) {
        let now = match guards::check(&self.cluster_input()) {
            Err(r) if r.kind == RefusalKind::ClusterEvent => Some(r.reason),
            _ => None,
        };
        let before = std::mem::replace(&mut self.state().cluster_event, now.clone());
        match (before, now) {
            (None, Some(reason)) => self.journal.cluster_event(&reason).await,
            (Some(_), None) => self.journal.cluster_event_cleared().await,
            _ => {}
        }
    }

    /// Tells people once of each broker the cluster view reports cut off, and
    /// once when it counts again (nothing is acted on either way).
    async fn cut_offs(&self) {
        let now: Vec<(String, String)> = self
            .board
            .cluster()
            .map(|v| v.cut_off.into_iter().map(|c| (c.node, c.problem)).collect())
            .unwrap_or_default();
        let (new, gone) = {
            let mut state = self.state();
            let gone: Vec<(String, (i64, String))> = state
                .cut_off
                .iter()
                .filter(|(node, _)| !now.iter().any(|(n, _)| n == *node))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            for (node, _) in &gone {
                state.cut_off.remove(node);
            }
            let (mut new, at) = (Vec::new(), now_ms());
            for (node, problem) in now {
                if !state.cut_off.contains_key(&node) {
                    state.cut_off.insert(node.clone(), (at, problem.clone()));
                    new.push((node, problem, at));
                }
            }
            (new, gone)
        };
        for (node, problem, since) in new {
            self.journal.cut_off(&node, &problem, since).await;
        }
        for (node, (since, problem)) in gone {
            self.journal.cut_off_cleared(&node, &problem, since).await;
        }
    }

    /// The opening rules for a failed node; an incident when they say so.
    async fn open_if_needed(self: &Arc<Self>, node: &Node, tracker: &TaskTracker, shutdown: &CancellationToken) {
        let node = &self.resolved(node);
        let facts = self.opening_facts(node).await;
        let grace = facts.stop.grace.as_secs();
        {
            let mut state = self.state();
            match opening::open(&facts, now_ms(), Instant::now()) {
                Opening::Handled | Opening::Planned(Stop::InGrace | Stop::AwaitingEvidence) => return,
                Opening::HeldOff(why) => {
                    if state.noted_held_off.insert(node.id.clone()) {
                        info!(message = "Recovery: node down while the operator holds recovery off; no incident until that ends.", node = %node.id, reason = %why);
                        self.record_later("down_while_held_off", node, json!({"reason": why}));
                    }
                    return;
                }
                Opening::InMaintenance(until, reason) => {
                    state.failed_in_maintenance.insert(node.id.clone());
                    if state.noted_in_maintenance.insert(node.id.clone()) {
                        info!(message = "Recovery: node down during its maintenance window; no incident.", node = %node.id, until = %rfc3339(from_millis(until)), reason = %reason);
                    }
                    return;
                }
                Opening::Planned(Stop::Detected(evidence)) => {
                    if let Some(since) = facts.stop.failed_since {
                        state.planned_stops.insert(node.id.clone(), since);
                    }
                    info!(message = "Recovery: broker stopped cleanly (controlled shutdown); maintenance, no incident.", node = %node.id, evidence, grace_s = grace);
                    self.record_later("planned_stop_detected", node, json!({"evidence": evidence, "grace_s": grace}));
                    return;
                }
                Opening::Planned(Stop::Unplanned | Stop::GraceOver) => return,
                Opening::Open { grace_over } => {
                    if grace_over {
                        info!(message = "Recovery: a cleanly stopped broker is still down after its grace period; incident.", node = %node.id, grace_s = grace);
                        state.planned_stops.remove(&node.id);
                    }
                    state.active.insert(node.id.clone());
                }
            }
        }
        let v = self.board.snapshot(&node.id).and_then(|s| s.verdict);
        let opened = SystemTime::now();
        let (repeat, previous_recovered_at) = self.repeat_of(node, millis(opened)).await;
        let incident = IncidentRecord {
            id: incident_id(&node.id, opened),
            node: node.id.clone(),
            role: node.role.as_str().to_string(),
            cause: v.as_ref().and_then(|v| v.cause).map(|c| c.as_str().to_string()),
            evidence: v.as_ref().map_or_else(String::new, |v| v.detail.clone()),
            opened_at: millis(opened),
            state: IncidentState::Open,
            closed_at: None,
            outcome: None,
            attempts: Vec::new(),
            repeat,
            previous_recovered_at,
            ..IncidentRecord::default()
        };
        if self.journal.detected(&incident).await.is_err() {
            self.state().active.remove(&node.id);
            return;
        }
        self.spawn_incident(node.clone(), incident, tracker, shutdown);
    }

    /// Whether a new incident of `node` opened at `now` (epoch millis) is a
    /// repeat: its previous incident recovered less than
    /// `recovery.cooldown_seconds` ago. Its place in that row, and when the
    /// previous one recovered; `(0, None)` otherwise, and when the store cannot
    /// tell (then it is told as a first failure, and restarted at once).
    async fn repeat_of(&self, node: &Node, now: i64) -> (u32, Option<i64>) {
        let cooldown = (self.config.recovery.cooldown_seconds.0 * 1000.0) as i64;
        let id = node.id.clone();
        match self.journal.store.call(move |c| crate::store::records::last_recovered(c, &id)).await {
            Ok(Some(last)) => match last.closed_at {
                Some(at) if now - at < cooldown => (last.repeat + 1, Some(at)),
                _ => (0, None),
            },
            Ok(None) => (0, None),
            Err(e) => {
                error!(message = "Recovery: cannot read the node's last incident; a failure soon after a recovery is not told as a repeat.", node = %node.id, error = %e);
                (0, None)
            }
        }
    }

    /// An audit record written without holding up the caller (which holds the state's lock).
    fn record_later(&self, kind: &'static str, node: &Node, details: serde_json::Value) {
        let (journal, node) = (self.journal.clone(), node.id.clone());
        tokio::spawn(async move { journal.record(kind, Some(&node), None, details).await });
    }

    pub(super) fn spawn_incident(
        self: &Arc<Self>,
        node: Node,
        incident: IncidentRecord,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        self.state().active.insert(node.id.clone());
        let engine = self.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let (id, incident_id) = (node.id.clone(), incident.id.clone());
            let epoch = engine.ha.epoch();
            engine.work(node, incident, shutdown.clone()).await;
            // The term it worked under ended (not this generation alone: a
            // reload keeps the term, and the next generation resumes the incident).
            if engine.ha.enabled() && !engine.ha.stopping() && engine.ha.epoch() != epoch {
                // The term ended under it: whatever it would have done next is refused.
                info!(message = "Recovery: this healer no longer leads; the incident is the next leader's.", node = %id, incident = %incident_id);
                let details = json!({"reason": "this healer no longer leads: its pending steps are refused, the next leader takes the incident over", "epoch": epoch});
                engine.journal.record("fenced", Some(&id), Some(&incident_id), details).await;
            }
            let mut state = engine.state();
            state.active.remove(&id);
            state.holds.remove(&id);
        });
    }

    /// The lifecycle's settings for `node`: the retry policy and ladder, its own or the defaults.
    fn settings(&self, node: &str) -> Settings {
        let r = &self.config.recovery;
        let own = self.config.cluster.nodes().find(|(_, n)| n.node_id == node).map(|(_, n)| n);
        Settings {
            policy: RetryPolicy::for_node(&self.config, own),
            ladder: own.and_then(|n| n.recovery_actions.clone()).unwrap_or_else(|| r.actions.clone()),
            stall: r.log_recovery_stall_seconds.duration(),
            guard_wait: r.guard_wait_escalate_seconds.duration(),
            systemd_wait: r.restart_service.systemd_wait_seconds.duration(),
        }
    }

    /// One incident, until it is recovered, escalated, or the daemon stops:
    /// the lifecycle decides, the engine observes and carries it out.
    async fn work(&self, mut node: Node, mut incident: IncidentRecord, shutdown: CancellationToken) {
        let last_end = incident.attempts.last().and_then(|a| a.finished_at).map(from_millis);
        let jitter = rand::random::<f64>() * 2.0 - 1.0;
        let mut life = Lifecycle::new(self.settings(&node.id), incident.attempts.len() as u32, last_end, jitter);
        if let (1.., Some(at)) = (incident.repeat, incident.previous_recovered_at) {
            life = life.repeating(Repeat { n: incident.repeat, recovered_at: from_millis(at) });
        }
        loop {
            if !self.ha.acting(&shutdown) {
                return;
            }
            // Its broker id may have been learned from the metadata meanwhile.
            node = self.resolved(&node);
            let snapshot = self.board.snapshot(&node.id);
            let since = snapshot.as_ref().map(|s| s.since.elapsed());
            let observed = Observed {
                state: self.board.state(&node.id),
                self_recovery: self.reports_self_recovery(&node.id),
                failed_at: SystemTime::now() - since.unwrap_or_default(),
                flapping: snapshot.is_some_and(|s| s.flapping),
            };
            let step = life.next(&observed, SystemTime::now());
            for note in &step.notes {
                self.journal.note(&node, &incident, note).await;
            }
            let next = match step.next {
                Next::AskGuards { .. } => self.ask_guards(&node, &mut incident, &mut life, &observed).await,
                other => other,
            };
            match next {
                Next::Recovered(by) => match self.await_whole(&node, &mut incident, &shutdown).await {
                    Whole::Done => return self.journal.recovered(&node, &mut incident, by).await,
                    Whole::FailedAgain => life.failed_again(SystemTime::now()),
                    Whole::Stopping => return,
                },
                Next::Escalate(reason) => {
                    self.state().held.insert(node.id.clone());
                    return self.journal.escalated(&node, &mut incident, reason, life.refusals()).await;
                }
                Next::AskSystemd => {
                    let unit = self.unit_state(&node).await;
                    life.unit_answered(unit, SystemTime::now());
                }
                Next::Wait(d) => {
                    if !d.is_zero() && sleep_or_stop(d, &shutdown).await {
                        return;
                    }
                }
                // The guards answered above; stepping again asks anew.
                Next::AskGuards { .. } => {}
            }
        }
    }

    /// The guards, then a slot — atomically, so two nodes never take one slot —
    /// then the attempt. What comes next.
    async fn ask_guards(&self, node: &Node, incident: &mut IncidentRecord, life: &mut Lifecycle, o: &Observed) -> Next {
        let mut input = self.guard_input(node).await;
        let siblings = self.siblings(node);
        let refusal = {
            let mut state = self.state();
            input.in_flight = state.in_flight.iter().filter(|(id, _)| **id != node.id).map(|(_, r)| *r).collect();
            input.sibling_in_flight = state.in_flight.keys().any(|id| siblings.contains(id));
            let checked = guards::check(&input);
            if checked.is_ok() {
                state.in_flight.insert(node.id.clone(), node.role);
            }
            checked.err()
        };
        if let Some(r) = refusal {
            let step = life.refused(&r, SystemTime::now());
            self.mirror_hold(node, life);
            for note in &step.notes {
                self.journal.note(node, incident, note).await;
            }
            return step.next;
        }
        let admitted = life.admitted(o, SystemTime::now());
        self.mirror_hold(node, life);
        for note in &admitted.notes {
            self.journal.note(node, incident, note).await;
        }
        let mut consulted = guards::consulted(&input);
        if let Some(evidence) = &admitted.systemd {
            consulted["systemd"] = json!(evidence);
        }
        let how = self.attempt(node, incident, &admitted, consulted).await;
        self.state().in_flight.remove(&node.id);
        life.finished(how, SystemTime::now())
    }

    /// The status shows the guard holding the incident back.
    fn mirror_hold(&self, node: &Node, life: &Lifecycle) {
        let mut state = self.state();
        match life.hold() {
            Some(h) => state.holds.insert(node.id.clone(), h.clone()),
            None => state.holds.remove(&node.id),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_are_readable_and_safe_in_commands() {
        let at = std::time::UNIX_EPOCH + Duration::from_millis(1_795_537_773_123);
        assert_eq!(incident_id("broker-1", at), "inc-20261124-162933-123-broker-1");
        assert_eq!(incident_id("zk 1;rm", at), "inc-20261124-162933-123-zk_1_rm");
        assert_eq!(crate::child::tail("abcdef", 3), "…def");
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod shell_tests;
