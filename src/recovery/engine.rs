//! The recovery engine: one incident per failed node, attempts per the retry
//! policy and the action ladder, every guard consulted before each attempt,
//! every decision recorded in the store and the audit trail.
//!
//! Owns: incidents' lifecycle (open → recovered | escalated), holding a node
//! after an escalation until it is healthy or reset, the parallelism slots,
//! and the one escalation of a cluster-wide event.
//! Must never: act without a guard's consent, act twice on one node at once,
//! run an attempt it cannot first record, or repeat an attempt recorded as
//! started (after a restart it is closed as interrupted and the next one comes).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use super::actions::{self, Target};
use super::guards::{self, GuardInput, Peers, RefusalKind};
use super::policy::{RetryPolicy, ladder_step};
use super::runner;
use super::unit_state::{self, UnitState};
use crate::audit::{Audit, rfc3339};
use crate::config::{Config, NodeConfig};
use crate::health::{NodeState, verdict};
use crate::monitor::{Cause, Prober, Status};
use crate::plugin::Kind;
use crate::secrets::Masker;
use crate::store::{AttemptRecord, IncidentRecord, IncidentState, Store, controls, from_millis, millis, records};
use crate::telemetry::Telemetry;
use crate::topology::{Node, Role};
use crate::watch::{Board, NodeEvent};

/// What the engine did, for notifications and the API.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IncidentEvent {
    Opened {
        incident: IncidentRecord,
    },
    AttemptFinished {
        incident: IncidentRecord,
        attempt: AttemptRecord,
    },
    Recovered {
        incident: IncidentRecord,
    },
    Escalated {
        incident: IncidentRecord,
        reason: String,
        /// The guards that held attempts back during the incident (`guard: reason`).
        refusals: Vec<String>,
    },
    /// Isolation or mass failure: nothing is done anywhere until it clears.
    ClusterEvent {
        reason: String,
    },
    /// The daemon itself cannot do its job (the state store refuses writes, …).
    SystemError {
        reason: String,
    },
    /// The daemon reloaded its configuration (SIGHUP).
    ConfigurationChanged {
        reason: String,
    },
    /// The daemon itself is short of memory, CPU or disk (self-monitoring).
    PerformanceDegraded {
        reason: String,
    },
}

/// How often the engine looks at the board, the operator's controls and waits.
const TICK: Duration = Duration::from_millis(250);
/// How soon after its port closed a broker must look cleanly stopped
/// (registration removed, or fenced) for a planned stop rather than a crash.
const CLEAN_WINDOW: Duration = Duration::from_secs(3);
/// How often systemd is asked about a unit while it restarts it itself.
const UNIT_POLL: Duration = Duration::from_secs(1);

/// Why a restart that ran did not bring the node back.
enum Unproven {
    /// It did not pass its probes within the validation time.
    TimedOut(Duration),
    /// systemd says the restarted process exited (`failed` or `inactive`).
    Exited { after: Duration, evidence: String },
}
/// The shortest time between two probes the validation asks for.
const MIN_WAKE: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Shared {
    /// Nodes with an incident being worked on.
    active: HashSet<String>,
    /// Nodes with an action running, and their roles.
    in_flight: HashMap<String, Role>,
    /// Escalated nodes: no action until healthy again or reset.
    held: HashSet<String>,
    recovered_at: HashMap<String, Instant>,
    /// The cluster-wide event escalated and not yet cleared.
    cluster_event: Option<String>,
    /// Operator pause (epoch millis; `i64::MAX` until resumed).
    paused_until: Option<i64>,
    /// Nodes in an operator's maintenance window: until (epoch millis), reason.
    maintenance: HashMap<String, (i64, String)>,
    /// Failed nodes in maintenance already logged as such.
    noted_in_maintenance: HashSet<String>,
    /// Failed nodes already logged as down while a pause or blackout holds recovery off.
    noted_held_off: HashSet<String>,
    /// The `monitoring.blackout_periods` window in force, as of the last tick.
    blackout: Option<String>,
    /// Brokers seen stopping cleanly, and when.
    planned_stops: HashMap<String, Instant>,
    /// Nodes that went down inside a maintenance window: when it ends, the
    /// operator's grace is over — no second grace as a planned stop.
    failed_in_maintenance: HashSet<String>,
    /// Incidents a guard holds back now: the guard, its latest reason, since when.
    holds: HashMap<String, Hold>,
    /// Learned broker ids already written to the state store.
    stored_ids: HashMap<String, i32>,
}

/// A guard holding an incident back.
#[derive(Debug, Clone)]
struct Hold {
    guard: &'static str,
    reason: String,
    since: Instant,
}

impl Shared {
    /// Down on purpose (a maintenance window, a clean stop): not part of a mass failure.
    fn expected_down(&self, node: &str) -> bool {
        self.maintenance.contains_key(node) || self.planned_stops.contains_key(node)
    }
}

/// The engine's view for people and programs (`/api/v1/status`, `status`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineStatus {
    /// RFC 3339 time, or `until resumed`, while an operator pause holds every action.
    pub paused_until: Option<String>,
    /// (node, until, reason) of every current maintenance window.
    pub maintenance: Vec<(String, String, String)>,
    /// Nodes with an incident being worked on.
    pub active: Vec<String>,
    /// Nodes with a recovery action running now.
    pub in_flight: Vec<String>,
    /// Escalated nodes no action touches until healthy or reset.
    pub held: Vec<String>,
    /// Brokers seen stopping cleanly (planned restarts), seconds ago.
    pub planned_stops: Vec<(String, f64)>,
    /// `recovery.planned_restart_grace_seconds`: a planned stop still down after it is an incident.
    pub planned_grace_s: f64,
    /// Incidents a guard holds back: (node, guard, reason, seconds held).
    pub holds: Vec<(String, String, String, f64)>,
    /// Isolation or mass failure: nothing acts until it clears.
    pub cluster_event: Option<String>,
    pub dry_run: bool,
}

/// Everything the engine needs, built once by the composition root.
pub struct Engine {
    pub config: Arc<Config>,
    pub nodes: Vec<Node>,
    pub store: Store,
    pub audit: Audit,
    pub masker: Arc<Masker>,
    pub prober: Arc<Prober>,
    pub board: Arc<Board>,
    pub dry_run: bool,
    pub events: broadcast::Sender<IncidentEvent>,
    pub telemetry: Arc<Telemetry>,
    http: reqwest::Client,
    shared: Mutex<Shared>,
}

fn now_ms() -> i64 {
    millis(SystemTime::now())
}

/// `inc-20261124-162013-123-broker-1`
fn incident_id(node: &str, at: SystemTime) -> String {
    let ts = rfc3339(at);
    let compact: String = ts.chars().filter(|c| c.is_ascii_digit()).collect();
    let safe: String = node.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("inc-{}-{}-{}-{safe}", &compact[..8], &compact[8..14], &compact[14..17])
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
        events: broadcast::Sender<IncidentEvent>,
        telemetry: Arc<Telemetry>,
    ) -> Engine {
        let mut nodes = crate::topology::nodes(&config);
        crate::topology::mark_this_host(&mut nodes, crate::host::is_named_this_host);
        Engine {
            config,
            nodes,
            store,
            audit,
            masker,
            prober,
            board,
            dry_run,
            events,
            telemetry,
            http: crate::http_client::build(|b| b.redirect(reqwest::redirect::Policy::none())).0,
            shared: Mutex::new(Shared::default()),
        }
    }

    /// What the engine is doing now, for the status API and the metrics.
    pub fn status(&self) -> EngineStatus {
        let s = self.shared();
        let now = now_ms();
        let sorted = |set: &HashSet<String>| {
            let mut v: Vec<String> = set.iter().cloned().collect();
            v.sort();
            v
        };
        let mut in_flight: Vec<String> = s.in_flight.keys().cloned().collect();
        in_flight.sort();
        let mut planned: Vec<(String, f64)> =
            s.planned_stops.iter().map(|(n, at)| (n.clone(), at.elapsed().as_secs_f64())).collect();
        planned.sort_by(|a, b| a.0.cmp(&b.0));
        EngineStatus {
            paused_until: s
                .paused_until
                .filter(|u| *u > now)
                .map(|u| if u == i64::MAX { "until resumed".to_string() } else { rfc3339(from_millis(u)) }),
            maintenance: s
                .maintenance
                .iter()
                .filter(|(_, (until, _))| *until > now)
                .map(|(n, (until, reason))| (n.clone(), rfc3339(from_millis(*until)), reason.clone()))
                .collect(),
            active: sorted(&s.active),
            in_flight,
            held: sorted(&s.held),
            planned_stops: planned,
            planned_grace_s: self.config.recovery.planned_restart_grace_seconds.0,
            holds: {
                let mut h: Vec<(String, String, String, f64)> = s
                    .holds
                    .iter()
                    .map(|(n, h)| (n.clone(), h.guard.to_string(), h.reason.clone(), h.since.elapsed().as_secs_f64()))
                    .collect();
                h.sort_by(|a, b| a.0.cmp(&b.0));
                h
            },
            cluster_event: s.cluster_event.clone(),
            dry_run: self.dry_run,
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `node` with its broker id, configured or learned from the metadata.
    fn resolved(&self, node: &Node) -> Node {
        let mut node = node.clone();
        if node.role == Role::KafkaBroker && node.broker_id.is_none() {
            node.broker_id = self.board.broker_id(&node.id);
        }
        node
    }

    /// How many processes `nodes` are: entries of one process (siblings) count once.
    fn processes<'n>(&self, nodes: impl Iterator<Item = &'n Node>) -> usize {
        nodes
            .map(|n| {
                let n = self.resolved(n);
                match n.broker_id {
                    Some(id) => format!("{}#{id}", n.host),
                    None => format!("{}:{}", n.host, n.port),
                }
            })
            .collect::<HashSet<_>>()
            .len()
    }

    /// The other entries of `node`'s process: a KRaft node that is broker and
    /// controller at once is listed twice (same host, same node id). One
    /// restart acts on both, so one validation waits for both.
    fn siblings(&self, node: &Node) -> Vec<String> {
        let node = self.resolved(node);
        let Some(id) = node.broker_id else { return Vec::new() };
        self.nodes
            .iter()
            .map(|n| self.resolved(n))
            .filter(|n| n.id != node.id && n.host == node.host && n.broker_id == Some(id))
            .map(|n| n.id)
            .collect()
    }

    /// Writes broker ids the watcher learned to the state store (and the audit
    /// trail), so a restart with that broker down still knows them.
    async fn remember_broker_ids(&self) {
        let learned: Vec<(String, crate::watch::BrokerId)> = {
            let shared = self.shared();
            self.board
                .broker_ids()
                .into_iter()
                .filter(|(_, b)| b.source != "configuration" && b.source != "state store")
                .filter(|(n, b)| shared.stored_ids.get(n) != Some(&b.id))
                .collect()
        };
        for (node, b) in learned {
            let (n, id) = (node.clone(), b.id);
            if let Err(e) = self.store.call(move |c| records::save_broker_id(c, &n, id, now_ms())).await {
                warn!(message = "Recovery: cannot remember a learned broker id.", node = %node, error = %e);
                continue;
            }
            self.audit
                .record("broker_id_learned", Some(&node), None, json!({"broker_id": b.id, "from": b.source}))
                .await;
            self.shared().stored_ids.insert(node, b.id);
        }
    }

    fn node_config(&self, id: &str) -> Option<&NodeConfig> {
        self.config.cluster.nodes().find(|(_, n)| n.node_id == id).map(|(_, n)| n)
    }

    fn ladder(&self, node: &str) -> Vec<String> {
        self.node_config(node)
            .and_then(|n| n.recovery_actions.clone())
            .unwrap_or_else(|| self.config.recovery.actions.clone())
    }

    /// Runs until `shutdown`: resumes open incidents, then opens one per failed node.
    pub async fn run(
        self: Arc<Self>,
        mut node_events: broadcast::Receiver<NodeEvent>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        if let Err(e) = self.resume(&tracker, &shutdown).await {
            error!(message = "Recovery engine: cannot read the state store; no action will run.", error = %e);
            let reason = format!("the recovery engine cannot read the state store ({e}); no recovery action will run");
            let _ = self.events.send(IncidentEvent::SystemError { reason });
            return;
        }
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                event = node_events.recv() => match event {
                    Ok(e) if e.transition.to == NodeState::Failed => self.open_if_needed(&e.node, &tracker, &shutdown).await,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => self.tick(&tracker, &shutdown).await,
            }
        }
    }

    /// Start-up: attempts left running by a stopped daemon are closed (never
    /// repeated), open incidents resume, escalated nodes stay held.
    async fn resume(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) -> anyhow::Result<()> {
        for (node, id) in self.store.call(|c| records::broker_ids(c)).await? {
            let unconfigured = self.nodes.iter().any(|n| n.id == node && n.broker_id.is_none());
            if unconfigured {
                self.board.learn_broker_id(&node, id, "state store");
                self.shared().stored_ids.insert(node, id);
            }
        }
        let interrupted = self.store.call(|c| records::close_interrupted(c, now_ms())).await?;
        if interrupted > 0 {
            warn!(
                message = "Recovery: attempts interrupted by the last stop are closed as failed, not repeated.",
                count = interrupted
            );
            self.audit.record("attempts_interrupted", None, None, json!({"count": interrupted})).await;
        }
        let open = self.store.call(|c| records::list_incidents(c, None, None, true)).await?;
        for incident in open {
            match self.nodes.iter().find(|n| n.id == incident.node).cloned() {
                Some(node) => {
                    info!(message = "Recovery: resuming an open incident.", node = %node.id, incident = %incident.id, attempts = incident.attempts.len());
                    self.audit
                        .record(
                            "incident_resumed",
                            Some(&node.id),
                            Some(&incident.id),
                            json!({"attempts_done": incident.attempts.len()}),
                        )
                        .await;
                    self.spawn_incident(node, incident, tracker, shutdown);
                }
                None => {
                    let reason = "the node is no longer in the configuration";
                    let id = incident.id.clone();
                    self.store
                        .call(move |c| records::close_incident(c, &id, IncidentState::Escalated, now_ms(), reason))
                        .await?;
                }
            }
        }
        for node in &self.nodes {
            let id = node.id.clone();
            let (escalation, reset) = self
                .store
                .call(move |c| Ok((records::last_escalation(c, &id)?, controls::get(c, &controls::reset_key(&id))?)))
                .await?;
            if escalation.is_some() && reset.is_none() {
                self.shared().held.insert(node.id.clone());
            }
        }
        Ok(())
    }

    /// Operator controls, held nodes, the cluster-wide event, and failed nodes
    /// the events did not bring (a reset node, a missed event).
    async fn tick(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        self.telemetry.liveness.beat("recovery", TICK);
        self.remember_broker_ids().await;
        let controls = self
            .store
            .call(|c| {
                Ok((
                    controls::get(c, controls::PAUSED_UNTIL)?,
                    controls::with_prefix(c, "reset:")?,
                    controls::with_prefix(c, "maintenance:")?,
                ))
            })
            .await;
        let (paused, resets, windows) = match controls {
            Ok(c) => c,
            Err(e) => {
                error!(message = "Recovery: cannot read the operator's controls.", error = %e);
                return;
            }
        };
        {
            let mut shared = self.shared();
            shared.paused_until = paused.and_then(|p| p.parse().ok()).filter(|until: &i64| *until > now_ms());
            shared.blackout = guards::blackout_at(&self.config.monitoring.blackout_periods, &|tz| {
                guards::wall_clock(SystemTime::now(), tz)
            });
            if shared.paused_until.is_none() && shared.blackout.is_none() {
                shared.noted_held_off.clear();
            }
        }
        let mut current = HashMap::new();
        for (key, value) in windows {
            let node = key.trim_start_matches("maintenance:").to_string();
            let v: serde_json::Value = serde_json::from_str(&value).unwrap_or_default();
            let until = v["until"].as_i64().unwrap_or(0);
            if until > now_ms() {
                current.insert(node, (until, v["reason"].as_str().unwrap_or("").to_string()));
            } else {
                // Over: the node counts again; still down means an incident now.
                let k = key.clone();
                let _ = self.store.call(move |c| controls::delete(c, &k)).await;
                info!(message = "Recovery: maintenance window over.", node = %node);
                self.audit.record("maintenance_ended", Some(&node), None, json!({"by": "expiry"})).await;
            }
        }
        {
            let mut shared = self.shared();
            shared.noted_in_maintenance.retain(|n| current.contains_key(n));
            shared.maintenance = current;
        }
        for (key, _) in resets {
            let node = key.trim_start_matches("reset:").to_string();
            let k = key.clone();
            let _ = self.store.call(move |c| controls::delete(c, &k)).await;
            if self.shared().held.remove(&node) {
                info!(message = "Recovery: node re-armed by an operator.", node = %node);
            }
            self.audit.record("operator_reset", Some(&node), None, json!({})).await;
        }
        let states: Vec<(Node, NodeState)> = self
            .nodes
            .iter()
            .map(|n| (n.clone(), self.board.snapshot(&n.id).map_or(NodeState::Unknown, |s| s.state)))
            .collect();
        // An escalated node that serves again is re-armed; a cleanly stopped one is back.
        for (node, state) in &states {
            if matches!(state, NodeState::Healthy | NodeState::Degraded) {
                self.shared().failed_in_maintenance.remove(&node.id);
            }
            if matches!(state, NodeState::Healthy | NodeState::Degraded)
                && self.shared().planned_stops.remove(&node.id).is_some()
            {
                info!(message = "Recovery: a cleanly stopped broker is back.", node = %node.id);
            }
            if matches!(state, NodeState::Healthy | NodeState::Degraded) && self.shared().held.remove(&node.id) {
                info!(message = "Recovery: an escalated node serves again and is re-armed.", node = %node.id);
                self.audit.record("hold_released", Some(&node.id), None, json!({"state": state.as_str()})).await;
            }
        }
        self.cluster_event(&states).await;
        for (node, state) in states {
            if state == NodeState::Failed {
                self.open_if_needed(&node, tracker, shutdown).await;
            }
        }
    }

    /// Escalates a cluster-wide event once, and says when it is over.
    async fn cluster_event(&self, states: &[(Node, NodeState)]) {
        let failed = {
            let shared = self.shared();
            self.processes(
                states.iter().filter(|(n, s)| *s == NodeState::Failed && !shared.expected_down(&n.id)).map(|(n, _)| n),
            )
        };
        let isolated =
            self.board.cluster.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|c| c.isolated);
        let input = GuardInput { isolated, failed_nodes: failed, ..self.calm_input(Role::KafkaBroker) };
        let now = match guards::check(&input) {
            Err(r) if r.kind == RefusalKind::ClusterEvent => Some(r.reason),
            _ => None,
        };
        let before = self.shared().cluster_event.clone();
        match (&before, &now) {
            (None, Some(reason)) => {
                error!(message = "Recovery: escalated — no action anywhere until it clears.", reason = %reason);
                self.audit.record("escalated", None, None, json!({"scope": "cluster", "reason": reason})).await;
                let _ = self.events.send(IncidentEvent::ClusterEvent { reason: reason.clone() });
            }
            (Some(_), None) => {
                info!(message = "Recovery: the cluster-wide event is over; recovery resumes.");
                self.audit.record("cluster_event_cleared", None, None, json!({})).await;
            }
            _ => {}
        }
        self.shared().cluster_event = now;
    }

    /// A guard input where nothing stands in the way; callers fill in the facts.
    fn calm_input(&self, role: Role) -> GuardInput {
        let r = &self.config.recovery;
        GuardInput {
            role,
            running: false,
            flapping: false,
            isolated: false,
            failed_nodes: 0,
            total_nodes: self.processes(self.nodes.iter()),
            max_failed_fraction: r.max_failed_fraction,
            paused: None,
            maintenance: None,
            blackout: None,
            cooldown_left: None,
            actions_last_hour: 0,
            max_actions_per_hour: r.max_actions_per_hour,
            in_flight: Vec::new(),
            sibling_in_flight: false,
            max_parallel: r.max_parallel as usize,
            peers: Peers::default(),
            at_min_isr: Some(Vec::new()),
            cluster_counts_it: None,
        }
    }

    async fn open_if_needed(self: &Arc<Self>, node: &Node, tracker: &TaskTracker, shutdown: &CancellationToken) {
        let node = &self.resolved(node);
        let fenced = self.kraft_fenced_early(node).await;
        {
            let mut shared = self.shared();
            if shared.active.contains(&node.id) || shared.held.contains(&node.id) {
                return;
            }
            // An operator pause or a blackout period: the operator said "hands off".
            // Down is expected; once it ends, a node still down is an incident.
            let held_off = match shared.paused_until {
                Some(until) if until > now_ms() => Some(if until == i64::MAX {
                    "recovery is paused until resumed".to_string()
                } else {
                    format!("recovery is paused until {}", rfc3339(from_millis(until)))
                }),
                _ => shared.blackout.as_ref().map(|b| format!("blackout period {b}")),
            };
            if let Some(why) = held_off {
                if shared.noted_held_off.insert(node.id.clone()) {
                    info!(message = "Recovery: node down while the operator holds recovery off; no incident until that ends.", node = %node.id, reason = %why);
                    let (audit, node_id) = (self.audit.clone(), node.id.clone());
                    tokio::spawn(async move {
                        audit.record("down_while_held_off", Some(&node_id), None, json!({"reason": why})).await;
                    });
                }
                return;
            }
            if let Some((until, reason)) = shared.maintenance.get(&node.id).cloned() {
                // An operator is working on it: down is expected, not an incident.
                shared.failed_in_maintenance.insert(node.id.clone());
                if shared.noted_in_maintenance.insert(node.id.clone()) {
                    info!(message = "Recovery: node down during its maintenance window; no incident.", node = %node.id, until = %rfc3339(from_millis(until)), reason = %reason);
                }
                return;
            }
            if self.planned_stop(node, &mut shared, fenced) {
                return;
            }
            shared.active.insert(node.id.clone());
        }
        let snapshot = self.board.snapshot(&node.id);
        let v = snapshot.as_ref().and_then(|s| s.verdict.clone());
        let opened = SystemTime::now();
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
        };
        let stored = incident.clone();
        if let Err(e) = self.store.call(move |c| records::insert_incident(c, &stored)).await {
            error!(message = "Recovery: cannot record the incident; no action without a record.", node = %node.id, error = %e);
            let reason = format!("{} failed, but the incident cannot be recorded ({e}): no action is taken", node.id);
            let _ = self.events.send(IncidentEvent::SystemError { reason });
            self.shared().active.remove(&node.id);
            return;
        }
        warn!(message = "Recovery: incident opened.", node = %node.id, incident = %incident.id, cause = incident.cause.as_deref().unwrap_or("none"), evidence = %incident.evidence);
        self.audit
            .record(
                "detected",
                Some(&node.id),
                Some(&incident.id),
                json!({"role": incident.role, "cause": incident.cause, "evidence": incident.evidence}),
            )
            .await;
        self.telemetry.metrics.incident_opened(&incident.node);
        let _ = self.events.send(IncidentEvent::Opened { incident: incident.clone() });
        self.spawn_incident(node.clone(), incident, tracker, shutdown);
    }

    fn spawn_incident(
        self: &Arc<Self>,
        node: Node,
        incident: IncidentRecord,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        self.shared().active.insert(node.id.clone());
        let engine = self.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let id = node.id.clone();
            engine.work(node, incident, shutdown).await;
            let mut shared = engine.shared();
            shared.active.remove(&id);
            shared.holds.remove(&id);
        });
    }

    /// ZooKeeper mode: whether the failed broker `node` stopped cleanly and is
    /// still within `planned_restart_grace_seconds` — or may have, and the
    /// evidence is not in yet. A controlled shutdown closes the broker's
    /// ZooKeeper session at once, so its registration disappears within seconds
    /// of its port; after a crash it stays until the session expires. Waiting
    /// those seconds costs nothing: ZooKeeper refuses a crashed broker's restart
    /// until its session is gone anyway.
    fn planned_stop(&self, node: &Node, shared: &mut Shared, kraft_fenced: Option<bool>) -> bool {
        let (Role::KafkaBroker, Some(id)) = (node.role, node.broker_id) else { return false };
        if shared.failed_in_maintenance.contains(&node.id) {
            return false;
        }
        // A controlled shutdown closes the port. A hung broker keeps it open (it
        // times out) and its session expires like a clean close might look when
        // the detection took as long as the session timeout: never a planned stop.
        let hung = self
            .board
            .snapshot(&node.id)
            .and_then(|s| s.verdict)
            .is_some_and(|v| matches!(v.cause, Some(Cause::Timeout | Cause::ConnectTimeout)));
        if hung {
            return false;
        }
        let zookeeper_mode = self.board.registered.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if !zookeeper_mode && !self.kraft_mode() {
            return false; // neither registrations nor a KRaft controller to ask
        }
        let Some(failed_since) = self.board.snapshot(&node.id).map(|s| s.since) else { return false };
        let grace = self.config.recovery.planned_restart_grace_seconds.duration();
        if let Some(seen) = shared.planned_stops.get(&node.id) {
            if seen.elapsed() < grace {
                return true;
            }
            info!(message = "Recovery: a cleanly stopped broker is still down after its grace period; incident.", node = %node.id, grace_s = grace.as_secs());
            shared.planned_stops.remove(&node.id);
            return false;
        }
        let clean = if zookeeper_mode {
            let deregistered = self.board.deregistered.lock().unwrap_or_else(|p| p.into_inner()).get(&id).copied();
            match deregistered {
                Some(at) if at.saturating_duration_since(failed_since) <= CLEAN_WINDOW => Some(
                    "its ZooKeeper registration was removed within 3 s of its port closing (a clean session close)",
                ),
                // Deregistered long after the port closed: the session expired — a crash.
                Some(_) => return false,
                None => None,
            }
        } else {
            // KRaft: a controlled shutdown ends with the controller fencing the broker at
            // once; a crashed broker stays unfenced until its session times out.
            (kraft_fenced == Some(true)).then_some(
                "the controller fenced it within 3 s of its port closing (a controlled shutdown; a crash stays unfenced until its session times out)",
            )
        };
        let Some(evidence) = clean else {
            // No evidence yet: give a clean shutdown its few seconds.
            return failed_since.elapsed() <= CLEAN_WINDOW;
        };
        shared.planned_stops.insert(node.id.clone(), failed_since);
        info!(message = "Recovery: broker stopped cleanly (controlled shutdown); maintenance, no incident.", node = %node.id, evidence, grace_s = grace.as_secs());
        let (audit, node_id) = (self.audit.clone(), node.id.clone());
        let secs = grace.as_secs();
        tokio::spawn(async move {
            audit
                .record("planned_stop_detected", Some(&node_id), None, json!({"evidence": evidence, "grace_s": secs}))
                .await;
        });
        true
    }

    /// The cluster runs on KRaft (controllers are configured, or a quorum was seen).
    fn kraft_mode(&self) -> bool {
        !self.config.cluster.kraft_controllers.is_empty()
            || self.board.cluster.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|v| v.kraft.is_some())
    }

    /// KRaft, within `CLEAN_WINDOW` of a broker's port closing: whether a serving
    /// peer's DescribeCluster says the controller fenced it (or forgot it).
    /// `None` when nobody could tell.
    async fn kraft_fenced_early(&self, node: &Node) -> Option<bool> {
        let (Role::KafkaBroker, Some(id)) = (node.role, node.broker_id) else { return None };
        if !self.kraft_mode() || self.board.registered.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return None;
        }
        let failed_since = self.board.snapshot(&node.id)?.since;
        if failed_since.elapsed() > CLEAN_WINDOW || self.shared().planned_stops.contains_key(&node.id) {
            return None;
        }
        let peers: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::KafkaBroker && n.id != node.id)
            .filter(|n| matches!(self.state_of(&n.id), NodeState::Healthy | NodeState::Degraded))
            .collect();
        for peer in peers.into_iter().take(2) {
            let o = self.prober.probe(peer, "kafka_metadata").await;
            if let Some(crate::monitor::Findings::Kafka(view)) = o.findings {
                return match view.brokers.iter().find(|b| b.id == id) {
                    Some(b) => b.fenced,
                    // Gone from the registrations altogether.
                    None => Some(true),
                };
            }
        }
        None
    }

    /// Runs an external recovery plugin: the node, the incident and the attempt
    /// on stdin; success is `{"success": true}` on stdout and exit 0.
    async fn run_plugin_action(
        &self,
        plugin: &crate::plugin::external::External,
        node: &Node,
        incident: &IncidentRecord,
        n: u32,
    ) -> runner::RunResult {
        use crate::plugin::external;
        let body = json!({
            "node": node,
            "incident": {"id": incident.id, "cause": incident.cause, "evidence": incident.evidence,
                         "opened_at": rfc3339(from_millis(incident.opened_at))},
            "attempt": n,
            "dry_run": self.dry_run,
        });
        let config = self.prober.plugins.config_of(Kind::Action, &plugin.name);
        let request = external::request(Kind::Action, body, &config);
        let env: Vec<(String, String)> = node.environment().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let failed = |e: external::PluginError| {
            warn!(message = "Plugin error: the recovery plugin gave no usable answer.", plugin = %e.plugin, error = %e);
            runner::RunResult {
                success: false,
                exit_code: None,
                duration: Duration::ZERO,
                summary: self.masker.mask(&e.to_string()),
                output: self.masker.mask(&e.excerpt),
            }
        };
        let raw = match external::run(plugin, &[], &env, Some(request.to_string().as_bytes())).await {
            Ok(raw) => raw,
            Err(e) => return failed(e),
        };
        let answer = match external::answer(plugin, &raw) {
            Ok(a) => a,
            Err(e) => return failed(e),
        };
        let said = answer.get("success").and_then(serde_json::Value::as_bool);
        let message = answer.get("message").and_then(serde_json::Value::as_str).unwrap_or("").to_string();
        let details = answer.get("details").map(|d| d.to_string()).unwrap_or_default();
        let code = raw.exit_code.unwrap_or(-1);
        let (success, summary) = match said {
            None => (false, format!("plugin `{}`: the answer has no boolean `success` (exit {code})", plugin.name)),
            Some(true) if code == 0 => (true, format!("plugin {}: {message}", plugin.name)),
            Some(true) => (false, format!("plugin {}: said success but exited {code}: {message}", plugin.name)),
            Some(false) => (false, format!("plugin {}: failed (exit {code}): {message}", plugin.name)),
        };
        let stderr = String::from_utf8_lossy(&raw.stderr).into_owned();
        let output = [details, stderr].into_iter().filter(|t| !t.trim().is_empty()).collect::<Vec<_>>().join("\n");
        runner::RunResult {
            success,
            exit_code: raw.exit_code,
            duration: raw.duration,
            summary: self.masker.mask(&summary),
            output: self.masker.mask(&output),
        }
    }

    /// When the node's last round says it is starting or replaying its logs
    /// (BrokerState over `jmx`): that cause and the evidence.
    fn reports_self_recovery(&self, node: &str) -> Option<(Cause, String)> {
        let snapshot = self.board.snapshot(node)?;
        let v = snapshot.verdict?;
        match v.cause {
            Some(c @ (Cause::Starting | Cause::LogRecovery)) => Some((c, v.detail)),
            _ => None,
        }
    }

    fn state_of(&self, node: &str) -> NodeState {
        self.board.snapshot(node).map_or(NodeState::Unknown, |s| s.state)
    }

    /// Records that guard `r` holds the incident back: once when it starts
    /// (and the guard that held it before, if another, lets go), never again
    /// while the same guard holds — however its text changes (a cooldown
    /// counts down). Returns how long this guard has held it.
    async fn hold(&self, node: &Node, incident: &IncidentRecord, r: &guards::Refusal, n: u32) -> Duration {
        let previous = {
            let mut shared = self.shared();
            match shared.holds.get_mut(&node.id) {
                Some(h) if h.guard == r.guard => {
                    h.reason = r.reason.clone();
                    return h.since.elapsed();
                }
                _ => shared
                    .holds
                    .insert(node.id.clone(), Hold { guard: r.guard, reason: r.reason.clone(), since: Instant::now() }),
            }
        };
        if let Some(p) = previous {
            self.released(node, incident, &p).await;
        }
        self.telemetry.metrics.guard_refused(r.guard);
        info!(message = "Recovery held back by a guard; waiting.", node = %node.id, incident = %incident.id, guard = r.guard, reason = %r.reason);
        self.audit
            .record(
                "guard_refused",
                Some(&node.id),
                Some(&incident.id),
                json!({"guard": r.guard, "reason": r.reason, "attempt": n}),
            )
            .await;
        Duration::ZERO
    }

    /// The guard holding the incident back lets go (the next step may run).
    async fn release_hold(&self, node: &Node, incident: &IncidentRecord) {
        let held = self.shared().holds.remove(&node.id);
        if let Some(h) = held {
            self.released(node, incident, &h).await;
        }
    }

    async fn released(&self, node: &Node, incident: &IncidentRecord, h: &Hold) {
        let held_s = h.since.elapsed().as_secs_f64();
        info!(message = "Recovery: the guard no longer holds the incident back.", node = %node.id, incident = %incident.id, guard = h.guard, held_s);
        self.audit
            .record(
                "guard_released",
                Some(&node.id),
                Some(&incident.id),
                json!({"guard": h.guard, "held_s": (held_s * 10.0).round() / 10.0, "last_reason": h.reason}),
            )
            .await;
    }

    /// One incident, until it is recovered, escalated, or the daemon stops.
    async fn work(&self, node: Node, mut incident: IncidentRecord, shutdown: CancellationToken) {
        let policy = RetryPolicy::for_node(&self.config, self.node_config(&node.id));
        let ladder = self.ladder(&node.id);
        let mut last_end = incident.attempts.last().and_then(|a| a.finished_at).map(from_millis);
        let mut refusals: Vec<String> = Vec::new();
        let guard_wait = self.config.recovery.guard_wait_escalate_seconds.duration();
        let mut node = node;
        // systemd's view of the unit (restart_service ladders): last asked, since when
        // systemd is restarting it itself, and whether it gave up.
        let mut unit_asked: Option<Instant> = None;
        let mut unit_state: Option<UnitState> = None;
        let mut systemd_since: Option<Instant> = None;
        let mut systemd_restarted = false;
        let jitter: f64 = rand::random::<f64>() * 2.0 - 1.0;
        // What the broker last said it was doing (starting, log recovery), since when,
        // and whether that has lasted past `log_recovery_stall_seconds`.
        let mut recovering: Option<(Cause, Instant)> = None;
        let mut stalled = false;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            // Its broker id may have been learned from the metadata meanwhile.
            node = self.resolved(&node);
            match self.state_of(&node.id) {
                NodeState::Healthy | NodeState::Degraded => {
                    let by = if systemd_restarted { Some("systemd") } else { None };
                    return self.recovered(&node, &mut incident, by).await;
                }
                NodeState::Failed => {}
                // Not known yet (just started) or being confirmed: look again shortly.
                NodeState::Unknown | NodeState::Suspect => {
                    if sleep_or_stop(TICK, &shutdown).await {
                        return;
                    }
                    continue;
                }
            }
            // The broker's JVM answers and says it is starting or replaying its logs:
            // restarting it now would start its recovery from zero. Let it finish.
            match (self.reports_self_recovery(&node.id), recovering) {
                (Some((cause, evidence)), last) if last.is_none_or(|(c, _)| c != cause) => {
                    recovering = Some((cause, Instant::now()));
                    stalled = false;
                    let stall = self.config.recovery.log_recovery_stall_seconds.duration();
                    info!(message = "Recovery: the broker is recovering by itself; no action while it progresses.", node = %node.id, incident = %incident.id, evidence = %evidence, stall_s = stall.as_secs());
                    self.audit
                        .record(
                            "recovering_by_itself",
                            Some(&node.id),
                            Some(&incident.id),
                            json!({"evidence": format!("{evidence} since {}", rfc3339(SystemTime::now())), "stall_s": stall.as_secs()}),
                        )
                        .await;
                    if sleep_or_stop(TICK, &shutdown).await {
                        return;
                    }
                    continue;
                }
                (Some((cause, evidence)), Some((_, since))) if !stalled => {
                    let stall = self.config.recovery.log_recovery_stall_seconds.duration();
                    if since.elapsed() < stall {
                        if sleep_or_stop(TICK, &shutdown).await {
                            return;
                        }
                        continue;
                    }
                    stalled = true;
                    warn!(message = "Recovery: the broker's own recovery stalled; acting.", node = %node.id, incident = %incident.id, state = cause.as_str(), stalled_s = since.elapsed().as_secs());
                    self.audit
                        .record(
                            "self_recovery_stalled",
                            Some(&node.id),
                            Some(&incident.id),
                            json!({"evidence": evidence, "unchanged_s": since.elapsed().as_secs(), "stall_s": stall.as_secs()}),
                        )
                        .await;
                }
                (Some(_), _) => {}
                (None, _) => recovering = None,
            }
            let n = incident.attempts.len() as u32 + 1;
            if ladder.is_empty() {
                let reason = "no recovery action is configured for this node (`recovery.actions` is empty)".to_string();
                return self.escalate(&node, &mut incident, reason, &refusals).await;
            }
            if n > policy.max_attempts {
                let reason = format!("{} attempts failed (max_attempts {})", n - 1, policy.max_attempts);
                return self.escalate(&node, &mut incident, reason, &refusals).await;
            }
            // systemd restarting the unit itself (Restart=on-failure): a restart on top
            // would kill the one in progress. Wait for it, bounded, with its evidence.
            let restarts_unit = ladder_step(&ladder, n).is_some_and(unit_state::applies);
            if restarts_unit && unit_asked.is_none_or(|at| at.elapsed() >= UNIT_POLL) {
                unit_asked = Some(Instant::now());
                unit_state = self.unit_state(&node).await;
            }
            // Since when a new process would be systemd's doing: the failure, or our last restart.
            let failed_at =
                self.board.snapshot(&node.id).map_or_else(SystemTime::now, |s| SystemTime::now() - s.since.elapsed());
            let since = millis(last_end.map_or(failed_at, |end| end.max(failed_at))) / 1000 - 1;
            let verdict = unit_state.as_ref().filter(|_| restarts_unit).map(|u| u.verdict(since));
            let in_progress = verdict == Some(unit_state::Verdict::InProgress);
            if in_progress {
                let wait = self.config.recovery.restart_service.systemd_wait_seconds.duration();
                let evidence = unit_state.as_ref().map(UnitState::evidence).unwrap_or_default();
                let first = systemd_since.is_none();
                let since = *systemd_since.get_or_insert_with(Instant::now);
                if first {
                    systemd_restarted = true;
                    info!(message = "Recovery: systemd is restarting the unit itself; no second restart on top.", node = %node.id, incident = %incident.id, evidence = %evidence, wait_s = wait.as_secs());
                    self.audit
                        .record(
                            "restarting_by_systemd",
                            Some(&node.id),
                            Some(&incident.id),
                            json!({"evidence": evidence, "wait_s": wait.as_secs()}),
                        )
                        .await;
                }
                if since.elapsed() < wait {
                    if sleep_or_stop(TICK, &shutdown).await {
                        return;
                    }
                    continue;
                }
                if systemd_restarted {
                    systemd_restarted = false;
                    warn!(message = "Recovery: systemd's own restart did not bring the node back in time; acting.", node = %node.id, incident = %incident.id, evidence = %evidence, waited_s = since.elapsed().as_secs());
                    self.audit
                        .record(
                            "systemd_restart_stalled",
                            Some(&node.id),
                            Some(&incident.id),
                            json!({"evidence": evidence, "waited_s": since.elapsed().as_secs()}),
                        )
                        .await;
                }
            }
            if let Some(end) = last_end {
                let due = end + policy.delay_before(n, jitter);
                if let Ok(left) = due.duration_since(SystemTime::now())
                    && !left.is_zero()
                {
                    if sleep_or_stop(left.min(TICK), &shutdown).await {
                        return;
                    }
                    continue;
                }
            }
            // Guards, then a slot: atomically, so two nodes never take one slot.
            let mut input = self.guard_input(&node).await;
            let refusal = {
                let mut shared = self.shared();
                input.in_flight = shared.in_flight.iter().filter(|(id, _)| **id != node.id).map(|(_, r)| *r).collect();
                let siblings = self.siblings(&node);
                input.sibling_in_flight = shared.in_flight.keys().any(|id| siblings.contains(id));
                match guards::check(&input) {
                    Ok(()) => {
                        shared.in_flight.insert(node.id.clone(), node.role);
                        None
                    }
                    Err(r) => Some(r),
                }
            };
            if let Some(r) = refusal {
                if r.kind == RefusalKind::Escalate {
                    return self.escalate(&node, &mut incident, r.reason, &refusals).await;
                }
                // One entry per guard, with its latest reason, for the escalation.
                let key = format!("{}: {}", r.guard, r.reason);
                match refusals.iter_mut().find(|k| k.starts_with(&format!("{}: ", r.guard))) {
                    Some(k) => *k = key,
                    None => refusals.push(key),
                }
                let held = self.hold(&node, &incident, &r, n).await;
                if held >= guard_wait && !r.ends_by_itself() {
                    let reason = format!(
                        "held back by the `{}` guard for {}s (recovery.guard_wait_escalate_seconds is {}s): {}",
                        r.guard,
                        held.as_secs(),
                        guard_wait.as_secs(),
                        r.reason
                    );
                    return self.escalate(&node, &mut incident, reason, &refusals).await;
                }
                if sleep_or_stop(Duration::from_secs(1), &shutdown).await {
                    return;
                }
                continue;
            }
            self.release_hold(&node, &incident).await;
            let mut consulted = guards::consulted(&input);
            let unit_failed = verdict == Some(unit_state::Verdict::GaveUp);
            if let Some(u) = unit_state.as_ref().filter(|_| restarts_unit) {
                consulted["systemd"] = json!(u.evidence());
            }
            let outcome = self.attempt(&node, &mut incident, n, &ladder, consulted, unit_failed).await;
            unit_asked = None;
            self.shared().in_flight.remove(&node.id);
            match outcome {
                AttemptOutcome::Cancelled => {
                    if sleep_or_stop(Duration::from_secs(1), &shutdown).await {
                        return;
                    }
                }
                AttemptOutcome::NotRecorded => {
                    if sleep_or_stop(Duration::from_secs(5), &shutdown).await {
                        return;
                    }
                }
                AttemptOutcome::Validated => {
                    return self.recovered(&node, &mut incident, Some("kafka-self-healing")).await;
                }
                AttemptOutcome::Failed => last_end = Some(SystemTime::now()),
            }
        }
    }

    /// The facts the guards look at, gathered now.
    async fn guard_input(&self, node: &Node) -> GuardInput {
        let snapshot = self.board.snapshot(&node.id);
        let running = snapshot.as_ref().and_then(|s| s.verdict.as_ref()).is_some_and(|v| {
            !matches!(
                v.cause,
                Some(Cause::ConnectionRefused | Cause::ConnectTimeout | Cause::DnsFailure | Cause::NetworkError)
            )
        });
        let states: HashMap<String, NodeState> =
            self.nodes.iter().map(|n| (n.id.clone(), self.state_of(&n.id))).collect();
        let serving = |id: &str| matches!(states.get(id), Some(NodeState::Healthy | NodeState::Degraded));
        let members: Vec<&Node> = self.nodes.iter().filter(|n| n.role == node.role).collect();
        let peers = Peers {
            members: members.len(),
            serving_others: members.iter().filter(|n| n.id != node.id && serving(&n.id)).count(),
        };
        let at_min_isr = match (node.role, running, node.broker_id) {
            (Role::KafkaBroker, true, Some(id)) => {
                let healthy: Vec<Node> = self
                    .nodes
                    .iter()
                    .filter(|n| n.role == Role::KafkaBroker && n.id != node.id && serving(&n.id))
                    .cloned()
                    .collect();
                self.prober.partitions_at_min_isr(&healthy, id).await
            }
            (Role::KafkaBroker, true, None) => None,
            _ => Some(Vec::new()),
        };
        let cluster_counts_it = match (node.role, snapshot.as_ref().and_then(|s| s.verdict.as_ref()), node.broker_id) {
            (Role::KafkaBroker, Some(v), Some(id))
                if matches!(
                    v.cause,
                    Some(Cause::Timeout | Cause::ConnectTimeout | Cause::NetworkError | Cause::DnsFailure)
                ) =>
            {
                self.cluster_counts(node, id)
            }
            _ => None,
        };
        let hour_ago = now_ms() - 3_600_000;
        let actions_last_hour =
            self.store.call(move |c| records::attempts_started_since(c, hour_ago)).await.unwrap_or(u32::MAX);
        let isolated =
            self.board.cluster.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|c| c.isolated);
        let r = &self.config.recovery;
        let shared = self.shared();
        let (paused, maintenance) = operator_holds(&shared, &node.id);
        let cooldown_left = shared
            .recovered_at
            .get(&node.id)
            .map(|at| (*at + r.cooldown_seconds.duration()).saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero());
        let now = SystemTime::now();
        GuardInput {
            running,
            flapping: snapshot.as_ref().is_some_and(|s| s.flapping),
            isolated,
            failed_nodes: self.processes(
                self.nodes.iter().filter(|n| states[&n.id] == NodeState::Failed && !shared.expected_down(&n.id)),
            ),
            paused,
            maintenance,
            blackout: guards::blackout_at(&self.config.monitoring.blackout_periods, &|tz| guards::wall_clock(now, tz)),
            cooldown_left,
            actions_last_hour,
            peers,
            at_min_isr,
            cluster_counts_it,
            ..self.calm_input(node.role)
        }
    }

    /// Whether the cluster still counts broker `id` although `node` does not
    /// answer from here: serving peers' latest metadata lists it (unfenced),
    /// and in ZooKeeper mode its registration is there. The evidence, or
    /// `None` (it is gone from the cluster's view, or no peer could tell).
    fn cluster_counts(&self, node: &Node, id: i32) -> Option<String> {
        let mut listed_by = Vec::new();
        for peer in self.nodes.iter().filter(|n| n.role == Role::KafkaBroker && n.id != node.id) {
            let Some(s) = self.board.snapshot(&peer.id) else { continue };
            if !matches!(s.state, NodeState::Healthy | NodeState::Degraded) {
                continue;
            }
            let lists = s.observations.iter().any(|o| match &o.findings {
                Some(crate::monitor::Findings::Kafka(v)) => {
                    v.brokers.iter().any(|b| b.id == id && b.fenced != Some(true))
                }
                _ => false,
            });
            if lists {
                listed_by.push(peer.id.clone());
            }
        }
        if listed_by.is_empty() {
            return None;
        }
        let registered = self.board.registered.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let zookeeper = match registered {
            Some(ids) if !ids.contains(&id) => return None,
            Some(_) => format!("; broker {id} registered in ZooKeeper (/brokers/ids/{id})"),
            None => String::new(),
        };
        Some(format!("broker {id} listed, unfenced, in the metadata of {}{zookeeper}", listed_by.join(", ")))
    }

    /// The guards that can change while an attempt is being prepared —
    /// isolation, mass failure, pause, maintenance, blackout — from what is
    /// known now, without any I/O: asked again immediately before an action.
    fn late_refusal(&self, node: &Node) -> Option<guards::Refusal> {
        let isolated =
            self.board.cluster.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|c| c.isolated);
        let states: Vec<(String, NodeState)> =
            self.nodes.iter().map(|n| (n.id.clone(), self.state_of(&n.id))).collect();
        let shared = self.shared();
        let (paused, maintenance) = operator_holds(&shared, &node.id);
        let input = GuardInput {
            isolated,
            failed_nodes: self.processes(
                self.nodes
                    .iter()
                    .zip(&states)
                    .filter(|(_, (id, s))| *s == NodeState::Failed && !shared.expected_down(id))
                    .map(|(n, _)| n),
            ),
            paused,
            maintenance,
            blackout: shared.blackout.clone(),
            ..self.calm_input(node.role)
        };
        guards::check(&input).err()
    }

    /// What systemd says about `node`'s unit, asked where the restart would run;
    /// `None` when it cannot be asked (the host does not answer, no such unit).
    async fn unit_state(&self, node: &Node) -> Option<UnitState> {
        let step = unit_state::query(&self.config.recovery, node);
        let r = runner::run(&actions::Plan::Steps(vec![step]), &self.masker, &self.http).await;
        if !r.success {
            debug!(message = "Recovery: cannot ask systemd about the unit.", node = %node.id, result = %r.summary);
            return None;
        }
        unit_state::parse(&r.output)
    }

    /// ZooKeeper mode: while a crashed broker's old session still holds its
    /// registration, Kafka refuses to start (the new process exits with
    /// NodeExists). Waits, bounded, until the registrations watch sees it go.
    async fn await_stale_registration(&self, node: &Node, incident: &IncidentRecord) {
        let registered = |id: i32| {
            self.board
                .registered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_some_and(|ids| ids.contains(&id))
        };
        let Some(id) = self.resolved(node).broker_id.filter(|id| node.role == Role::KafkaBroker && registered(*id))
        else {
            return;
        };
        // Only a process that is gone (nothing listens on its port) left its
        // session behind; a running one's session ends when the restart stops it.
        let gone = self
            .board
            .snapshot(&node.id)
            .and_then(|s| s.verdict)
            .is_some_and(|v| v.cause == Some(crate::monitor::Cause::ConnectionRefused));
        if self.dry_run || !gone {
            return;
        }
        let limit = self.config.recovery.stale_registration_wait_seconds.duration();
        let evidence = format!(
            "/brokers/ids/{id} still exists: the crashed broker's ZooKeeper session has not expired, and Kafka \
             refuses to start until it has"
        );
        info!(message = "Recovery: waiting for the old registration to expire before the restart.", node = %node.id, incident = %incident.id, evidence = %evidence, limit_s = limit.as_secs());
        self.audit
            .record(
                "awaiting_registration_expiry",
                Some(&node.id),
                Some(&incident.id),
                json!({"evidence": evidence, "limit_s": limit.as_secs()}),
            )
            .await;
        let started = Instant::now();
        while registered(id) && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let gone = !registered(id);
        self.audit
            .record(
                "registration_expired",
                Some(&node.id),
                Some(&incident.id),
                json!({"waited_s": started.elapsed().as_secs_f64(), "gone": gone}),
            )
            .await;
        if !gone {
            warn!(message = "Recovery: the old registration is still there; restarting anyway.", node = %node.id, incident = %incident.id, waited_s = started.elapsed().as_secs());
        }
    }

    /// Attempt `n`: re-verify, record, run (or say what would run), validate, record.
    async fn attempt(
        &self,
        node: &Node,
        incident: &mut IncidentRecord,
        n: u32,
        ladder: &[String],
        guards: serde_json::Value,
        unit_failed: bool,
    ) -> AttemptOutcome {
        self.await_stale_registration(node, incident).await;
        // The node may have come back while we waited: probe it once more now.
        let observations = futures::future::join_all(node.methods.iter().map(|m| self.prober.probe(node, m))).await;
        let v = verdict(&observations);
        if v.status != Status::Failed {
            info!(message = "Recovery attempt cancelled: the node answers again.", node = %node.id, incident = %incident.id, detail = %v.detail);
            self.audit
                .record(
                    "attempt_cancelled",
                    Some(&node.id),
                    Some(&incident.id),
                    json!({"attempt": n, "reason": "the node answers again", "detail": v.detail}),
                )
                .await;
            self.board.wake(&node.id);
            return AttemptOutcome::Cancelled;
        }
        // The re-probe may have taken a whole timeout: the operator may have paused
        // recovery, or the monitor lost the cluster, meanwhile. Ask once more, now.
        if let Some(r) = self.late_refusal(node) {
            info!(message = "Recovery attempt cancelled: a guard refuses it at the last moment.", node = %node.id, incident = %incident.id, guard = r.guard, reason = %r.reason);
            self.audit
                .record(
                    "attempt_cancelled",
                    Some(&node.id),
                    Some(&incident.id),
                    json!({"attempt": n, "reason": r.reason, "guard": r.guard}),
                )
                .await;
            return AttemptOutcome::Cancelled;
        }
        let Some(action) = ladder_step(ladder, n).map(str::to_string) else {
            return AttemptOutcome::Failed;
        };
        let target = Target { node, attempt: n, incident_id: &incident.id, dry_run: self.dry_run, unit_failed };
        // An external recovery plugin, or a built-in action's plan.
        let external = self.prober.plugins.external(Kind::Action, &action).cloned();
        let plan = match &external {
            Some(_) => Err("an external plugin".to_string()),
            None if !self.prober.plugins.enabled(Kind::Action, &action) => Err(format!(
                "recovery plugin `{action}` is disabled (plugins.recovery_plugins.{action}.enabled: false); nothing ran"
            )),
            None => actions::plan(&action, &self.config.recovery, &target),
        };
        let command = match (&external, &plan) {
            (Some(e), _) => format!("plugin {} ({})", e.name, e.path.display()),
            (None, Ok(p)) => self.masker.mask(&p.describe()),
            (None, Err(e)) => format!("(cannot build: {e})"),
        };
        // Ansible's --check is a rehearsal that changes nothing: it runs in a dry run too.
        let executes = !self.dry_run || action == "ansible" || action == "ansible_playbook";
        let shown = if executes { command.clone() } else { format!("would run: {command}") };
        let mut record = AttemptRecord {
            n,
            action: action.clone(),
            command: shown.clone(),
            dry_run: self.dry_run,
            started_at: now_ms(),
            finished_at: None,
            exit_code: None,
            success: None,
            result: None,
            output: None,
        };
        let (id, started) = (incident.id.clone(), record.clone());
        if let Err(e) = self.store.call(move |c| records::start_attempt(c, &id, &started)).await {
            error!(message = "Recovery: cannot record the attempt; it does not run.", node = %node.id, error = %e);
            let reason = format!("attempt {n} on {} cannot be recorded ({e}): it does not run", node.id);
            let _ = self.events.send(IncidentEvent::SystemError { reason });
            return AttemptOutcome::NotRecorded;
        }
        warn!(message = "Recovery attempt started.", node = %node.id, incident = %incident.id, attempt = n, action = %action, command = %shown);
        self.audit
            .record(
                "attempt_started",
                Some(&node.id),
                Some(&incident.id),
                json!({"attempt": n, "action": action, "command": shown, "dry_run": self.dry_run, "guards": guards}),
            )
            .await;

        let started = Instant::now();
        let (mut action_time, mut validation_time) = (None, None);
        let (success, exit_code, result, output) = match (&plan, executes) {
            (_, false) => (false, None, "dry run: not executed".to_string(), String::new()),
            (Err(e), true) if external.is_none() => (false, None, format!("cannot run `{action}`: {e}"), String::new()),
            (plan, true) => {
                let r = match (&external, plan) {
                    (Some(e), _) => self.run_plugin_action(e, node, incident, n).await,
                    (None, Ok(plan)) => runner::run(plan, &self.masker, &self.http).await,
                    (None, Err(_)) => unreachable!("handled above"),
                };
                action_time = Some(r.duration);
                if !r.success {
                    (false, r.exit_code, r.summary, r.output)
                } else if self.dry_run {
                    (false, r.exit_code, format!("{} (dry run: a rehearsal, nothing changed)", r.summary), r.output)
                } else {
                    let validating = Instant::now();
                    let validated = self.validate(node, &incident.id, unit_state::applies(&action)).await;
                    validation_time = Some(validating.elapsed());
                    match validated {
                        Ok(after) => (
                            true,
                            r.exit_code,
                            format!("{}; node serves again after {:.1}s", r.summary, after.as_secs_f64()),
                            r.output,
                        ),
                        Err(Unproven::TimedOut(limit)) => (
                            false,
                            r.exit_code,
                            format!("{}, but the node did not pass its probes within {}s", r.summary, limit.as_secs()),
                            r.output,
                        ),
                        Err(Unproven::Exited { after, evidence }) => (
                            false,
                            r.exit_code,
                            format!(
                                "{}, but the process exited again {:.1}s later ({evidence}); its own log says why \
                                 (journalctl -u {} on its host)",
                                r.summary,
                                after.as_secs_f64(),
                                actions::unit(&self.config.recovery, node.role)
                            ),
                            r.output,
                        ),
                    }
                }
            }
        };
        record.finished_at = Some(now_ms());
        record.exit_code = exit_code;
        record.success = Some(success);
        record.result = Some(result.clone());
        record.output = Some(tail(&output, 4000));
        let (id, finished) = (incident.id.clone(), record.clone());
        if let Err(e) = self.store.call(move |c| records::finish_attempt(c, &id, &finished)).await {
            error!(message = "Recovery: cannot record the attempt's end.", node = %node.id, error = %e);
        }
        info!(
            target: crate::logging::PERFORMANCE,
            message = "Recovery attempt timing.",
            node = %node.id, action = %action, success,
            response_time_ms = started.elapsed().as_millis() as u64,
            action_ms = action_time.map(|d| d.as_millis() as u64),
            validation_ms = validation_time.map(|d| d.as_millis() as u64),
        );
        let level_msg = if success { "Recovery attempt succeeded." } else { "Recovery attempt failed." };
        if success {
            info!(message = level_msg, node = %node.id, incident = %incident.id, attempt = n, action = %action, result = %result, duration_ms = started.elapsed().as_millis() as u64);
        } else {
            warn!(message = level_msg, node = %node.id, incident = %incident.id, attempt = n, action = %action, result = %result, duration_ms = started.elapsed().as_millis() as u64);
        }
        self.audit
            .record(
                "attempt_finished",
                Some(&node.id),
                Some(&incident.id),
                json!({"attempt": n, "action": action, "success": success, "exit_code": exit_code,
                       "duration_s": started.elapsed().as_secs_f64(),
                       "action_s": action_time.map(|d| d.as_secs_f64()), "validation_s": validation_time.map(|d| d.as_secs_f64()),
                       "result": result, "output": tail(&output, 2000)}),
            )
            .await;
        incident.attempts.push(record.clone());
        self.telemetry.metrics.attempt(&incident.node, &record.action, record.success == Some(true));
        let _ = self.events.send(IncidentEvent::AttemptFinished { incident: incident.clone(), attempt: record });
        if success { AttemptOutcome::Validated } else { AttemptOutcome::Failed }
    }

    /// Waits until the watcher sees the node serving again (its `recovery_threshold`
    /// rounds), waking it to probe at the validation interval. `watch_unit`
    /// (a `restart_service` restart): systemd is asked every two seconds too,
    /// and a unit that is `failed` or `inactive` again ends the wait at once —
    /// the process exited, nothing will serve.
    async fn validate(&self, node: &Node, incident: &str, watch_unit: bool) -> Result<Duration, Unproven> {
        let v = &self.config.recovery.recovery_validation;
        let (limit, every) = (v.timeout_seconds.duration(), v.interval_seconds.duration().max(MIN_WAKE));
        let stall = self.config.recovery.log_recovery_stall_seconds.duration();
        let started = Instant::now();
        let mut next_wake = started;
        // While the broker reports starting or log recovery, the limit is extended
        // until its state has not changed for `log_recovery_stall_seconds`.
        let mut reported: Option<(Cause, Instant)> = None;
        // The last moment the broker said it was recovering: once it stops saying
        // so it still gets the whole validation time to pass its probes.
        let mut last_report: Option<Instant> = None;
        let serving = |id: &str| matches!(self.state_of(id), NodeState::Healthy | NodeState::Degraded);
        let siblings = self.siblings(node);
        let mut unit_asked = started;
        loop {
            // The restarted process is whole when every entry of it serves (a KRaft
            // node's controller listener opens long before its broker's). Past the
            // limit, the node itself serving is enough: its sibling's incident decides.
            if serving(&node.id) && (siblings.iter().all(|s| serving(s)) || started.elapsed() >= limit) {
                return Ok(started.elapsed());
            }
            for s in siblings.iter().filter(|s| !serving(s)) {
                if Instant::now() >= next_wake {
                    self.board.wake(s);
                }
            }
            let now_reported = self.reports_self_recovery(&node.id);
            if now_reported.is_some() {
                last_report = Some(Instant::now());
            }
            match (now_reported, reported) {
                (Some((cause, _)), Some((c, _))) if c == cause => {}
                (Some((cause, evidence)), _) => {
                    // A new state is progress: the limit runs from here.
                    reported = Some((cause, Instant::now()));
                    info!(message = "Recovery: validation extended while the broker recovers by itself.", node = %node.id, evidence = %evidence, stall_s = stall.as_secs());
                    self.audit
                        .record(
                            "validation_extended",
                            Some(&node.id),
                            Some(incident),
                            json!({"evidence": format!("{evidence} since {}", rfc3339(SystemTime::now())), "stall_s": stall.as_secs()}),
                        )
                        .await;
                }
                (None, _) => reported = None,
            }
            let extended = reported.is_some_and(|(_, since)| since.elapsed() < stall)
                || last_report.is_some_and(|at| at.elapsed() < limit);
            if started.elapsed() >= limit && !extended {
                return Err(Unproven::TimedOut(started.elapsed().max(limit)));
            }
            if watch_unit && unit_asked.elapsed() >= 2 * UNIT_POLL {
                unit_asked = Instant::now();
                if let Some(u) = self.unit_state(node).await
                    && matches!(u.active.as_str(), "failed" | "inactive")
                    && !serving(&node.id)
                {
                    return Err(Unproven::Exited { after: started.elapsed(), evidence: u.evidence() });
                }
            }
            if Instant::now() >= next_wake {
                self.board.wake(&node.id);
                next_wake += every;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes the incident: the node serves again. `by` says who restarted it —
    /// this daemon, systemd (the unit's own `Restart=`), or nobody (`None`: it came back by itself).
    async fn recovered(&self, node: &Node, incident: &mut IncidentRecord, by: Option<&str>) {
        let now = SystemTime::now();
        let downtime = now.duration_since(from_millis(incident.opened_at)).unwrap_or_default();
        let who = match by {
            Some("systemd") => "; restarted by systemd (the unit's Restart=), not by this daemon",
            None if incident.attempts.is_empty() => "; it came back by itself",
            _ => "",
        };
        let outcome =
            format!("recovered after {:.1}s, {} attempt(s){who}", downtime.as_secs_f64(), incident.attempts.len());
        let (id, text) = (incident.id.clone(), outcome.clone());
        if let Err(e) = self
            .store
            .call(move |c| records::close_incident(c, &id, IncidentState::Recovered, millis(now), &text))
            .await
        {
            error!(message = "Recovery: cannot record the recovery.", node = %node.id, error = %e);
        }
        incident.state = IncidentState::Recovered;
        incident.closed_at = Some(millis(now));
        incident.outcome = Some(outcome.clone());
        self.shared().recovered_at.insert(node.id.clone(), Instant::now());
        info!(message = "Recovery: node recovered.", node = %node.id, incident = %incident.id, downtime_s = downtime.as_secs_f64(), attempts = incident.attempts.len());
        self.audit
            .record(
                "recovered",
                Some(&node.id),
                Some(&incident.id),
                json!({"downtime_s": downtime.as_secs_f64(), "attempts": incident.attempts.len(), "restarted_by": by}),
            )
            .await;
        let _ = self.events.send(IncidentEvent::Recovered { incident: incident.clone() });
    }

    async fn escalate(&self, node: &Node, incident: &mut IncidentRecord, reason: String, refusals: &[String]) {
        let now = SystemTime::now();
        let (id, text) = (incident.id.clone(), reason.clone());
        if let Err(e) = self
            .store
            .call(move |c| records::close_incident(c, &id, IncidentState::Escalated, millis(now), &text))
            .await
        {
            error!(message = "Recovery: cannot record the escalation.", node = %node.id, error = %e);
        }
        incident.state = IncidentState::Escalated;
        incident.closed_at = Some(millis(now));
        incident.outcome = Some(reason.clone());
        self.shared().held.insert(node.id.clone());
        error!(message = "Recovery: escalated; no further action on this node until it is healthy or reset.", node = %node.id, incident = %incident.id, reason = %reason);
        self.audit
            .record(
                "escalated",
                Some(&node.id),
                Some(&incident.id),
                json!({"reason": reason, "attempts": incident.attempts.len(), "guards_refused": refusals}),
            )
            .await;
        self.telemetry.metrics.escalated(&node.id);
        let _ = self.events.send(IncidentEvent::Escalated {
            incident: incident.clone(),
            reason,
            refusals: refusals.to_vec(),
        });
    }
}

enum AttemptOutcome {
    /// The node answered again before anything ran.
    Cancelled,
    /// The store refused the record: nothing ran.
    NotRecorded,
    Validated,
    Failed,
}

/// The operator's pause and `node`'s maintenance window, as the guards word them.
fn operator_holds(shared: &Shared, node: &str) -> (Option<String>, Option<String>) {
    let maintenance = shared.maintenance.get(node).map(|(until, reason)| {
        let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
        format!("until {}{why}", rfc3339(from_millis(*until)))
    });
    let paused = shared.paused_until.filter(|u| *u > now_ms()).map(|until| {
        if until == i64::MAX { "until resumed".to_string() } else { format!("until {}", rfc3339(from_millis(until))) }
    });
    (paused, maintenance)
}

/// Sleeps; true when the daemon is stopping.
async fn sleep_or_stop(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// The last `max` bytes of `s` (on a character boundary).
fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_are_readable_and_safe_in_commands() {
        let at = std::time::UNIX_EPOCH + Duration::from_millis(1_795_537_773_123);
        assert_eq!(incident_id("broker-1", at), "inc-20261124-162933-123-broker-1");
        assert_eq!(incident_id("zk 1;rm", at), "inc-20261124-162933-123-zk_1_rm");
        assert_eq!(tail("abcdef", 3), "…def");
    }
}
