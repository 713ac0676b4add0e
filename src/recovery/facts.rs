//! The facts the engine's decisions are made from, gathered now: from the
//! watcher's board, the state store, a peer's metadata, systemd.
//!
//! Owns: the guards' input (including which partitions are at min ISR and
//! whether the cluster still counts a broker that does not answer from
//! here), the facts of the opening rules, the broker ids and sibling entries
//! of one process, and what systemd says about a unit.
//! Must never: decide (the decisions are `guards`, `opening`, `lifecycle`),
//! or change anything it reads.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use tracing::debug;

use super::engine::{Engine, now_ms};
use super::guards::{self, GuardInput, Peers};
use super::opening::{CLEAN_WINDOW, Facts, StopFacts};
use super::unit_state::{self, UnitState};
use super::{actions, runner};
use crate::health::NodeState;
use crate::monitor::Cause;
use crate::monitor::standing::ClusterMetadata;
use crate::store::records;
use crate::topology::{Node, Role};

impl Engine {
    /// `node` with its broker id, configured or learned from the metadata.
    pub(super) fn resolved(&self, node: &Node) -> Node {
        let mut node = node.clone();
        if node.role == Role::KafkaBroker && node.broker_id.is_none() {
            node.broker_id = self.board.broker_id(&node.id);
        }
        node
    }

    /// How many processes `nodes` are: entries of one process (siblings) count once.
    pub(super) fn processes<'n>(&self, nodes: impl Iterator<Item = &'n Node>) -> usize {
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
    pub(super) fn siblings(&self, node: &Node) -> Vec<String> {
        let node = self.resolved(node);
        let Some(id) = node.broker_id else { return Vec::new() };
        self.nodes
            .iter()
            .map(|n| self.resolved(n))
            .filter(|n| n.id != node.id && n.host == node.host && n.broker_id == Some(id))
            .map(|n| n.id)
            .collect()
    }

    pub(super) fn serving(&self, node: &str) -> bool {
        matches!(self.board.state(node), NodeState::Healthy | NodeState::Degraded)
    }

    /// Failed processes that are not down on purpose, for the mass-failure guard.
    fn failed_processes(&self) -> usize {
        let state = self.state();
        self.processes(
            self.nodes.iter().filter(|n| self.board.state(&n.id) == NodeState::Failed && !state.expected_down(&n.id)),
        )
    }

    /// The cluster runs on KRaft (controllers are configured, or a quorum was seen).
    pub(super) fn kraft_mode(&self) -> bool {
        !self.config.cluster.kraft_controllers.is_empty() || self.board.kraft_seen()
    }

    /// When the node's last round says it is starting or replaying its logs
    /// (BrokerState over `jmx`): that cause and the evidence.
    pub(super) fn reports_self_recovery(&self, node: &str) -> Option<(Cause, String)> {
        let v = self.board.snapshot(node)?.verdict?;
        match v.cause {
            Some(c @ (Cause::Starting | Cause::LogRecovery)) => Some((c, v.detail)),
            _ => None,
        }
    }

    /// The facts of the opening rules for the failed `node` (its broker id resolved).
    pub(super) async fn opening_facts(&self, node: &Node) -> Facts {
        let (kraft_fenced, still_leads) = self.early_look(node).await;
        let snapshot = self.board.snapshot(&node.id);
        let hung = snapshot
            .as_ref()
            .and_then(|s| s.verdict.as_ref())
            .is_some_and(|v| matches!(v.cause, Some(Cause::Timeout | Cause::ConnectTimeout)));
        let state = self.state();
        let broker_id = node.broker_id.filter(|_| node.role == Role::KafkaBroker);
        Facts {
            active: state.active.contains(&node.id),
            held: state.held.contains(&node.id),
            pause: state.pause,
            blackout: state.blackout.clone(),
            maintenance: state.maintenance.get(&node.id).map(|m| (m.until, m.reason.clone())),
            stop: StopFacts {
                broker_id,
                failed_in_maintenance: state.failed_in_maintenance.contains(&node.id),
                hung,
                zookeeper_mode: self.board.zookeeper_mode(),
                kraft_mode: self.kraft_mode(),
                failed_since: snapshot.as_ref().map(|s| s.since),
                planned_since: state.planned_stops.get(&node.id).copied(),
                deregistered_at: broker_id.and_then(|id| self.board.deregistered_at(id)),
                kraft_fenced,
                still_leads,
                grace: self.config.recovery.planned_restart_grace_seconds.duration(),
            },
        }
    }

    /// Within `CLEAN_WINDOW` of a broker's port closing, one look at a serving
    /// peer's metadata: whether the controller fenced it (or forgot it: KRaft
    /// only), and whether it still leads a partition another in-sync replica
    /// could lead — a controlled shutdown moves such leadership away before
    /// the port closes, a crash leaves it. `(None, None)` when nobody could tell.
    async fn early_look(&self, node: &Node) -> (Option<bool>, Option<bool>) {
        let (Role::KafkaBroker, Some(id)) = (node.role, node.broker_id) else { return (None, None) };
        let Some(failed_since) = self.board.snapshot(&node.id).map(|s| s.since) else { return (None, None) };
        if failed_since.elapsed() > CLEAN_WINDOW || self.state().planned_stops.contains_key(&node.id) {
            return (None, None);
        }
        let peers: Vec<Node> = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::KafkaBroker && n.id != node.id && self.serving(&n.id))
            .take(2)
            .cloned()
            .collect();
        let Some(m) = self.prober.cluster_layout(&peers).await else { return (None, None) };
        let kraft = self.kraft_mode() && !self.board.zookeeper_mode();
        // Gone from the brokers listed altogether: fenced and unregistered.
        let fenced = kraft.then(|| m.listed(id).unwrap_or(true));
        (fenced, Some(!m.leading_with_a_successor(id).is_empty()))
    }

    /// The cluster-wide guards' input (isolation, mass failure), and the
    /// operator's holds when `late_refusal` fills them in: every per-node fact
    /// is one that lets those guards alone speak. Never the input of a
    /// decision to act: that is `guard_input`, which sets every field.
    pub(super) fn cluster_input(&self) -> GuardInput {
        let r = &self.config.recovery;
        GuardInput {
            role: Role::KafkaBroker,
            running: false,
            flapping: false,
            isolated: self.board.isolated(),
            failed_nodes: self.failed_processes(),
            total_nodes: self.processes(self.nodes.iter()),
            max_failed_fraction: r.max_failed_fraction,
            paused: None,
            maintenance: None,
            blackout: None,
            actions_last_hour: Ok(0),
            max_actions_per_hour: r.max_actions_per_hour,
            in_flight: Vec::new(),
            sibling_in_flight: false,
            max_parallel: r.max_parallel as usize,
            peers: Peers::default(),
            at_min_isr: Some(Vec::new()),
            short_elsewhere: Some(Vec::new()),
            gate: r.running_broker_gate,
            cluster_counts_it: None,
            second_opinion: None,
        }
    }

    /// The facts the guards look at, gathered now (the slots are filled in
    /// by the engine, under its lock).
    pub(super) async fn guard_input(&self, node: &Node) -> GuardInput {
        let snapshot = self.board.snapshot(&node.id);
        let verdict = snapshot.as_ref().and_then(|s| s.verdict.as_ref());
        let running = verdict.is_some_and(|v| {
            !matches!(
                v.cause,
                Some(Cause::ConnectionRefused | Cause::ConnectTimeout | Cause::DnsFailure | Cause::NetworkError)
            )
        });
        let states: HashMap<String, NodeState> =
            self.nodes.iter().map(|n| (n.id.clone(), self.board.state(&n.id))).collect();
        let serving = |id: &str| matches!(states.get(id), Some(NodeState::Healthy | NodeState::Degraded));
        let members: Vec<&Node> = self.nodes.iter().filter(|n| n.role == node.role).collect();
        let peers = Peers {
            members: members.len(),
            serving_others: members.iter().filter(|n| n.id != node.id && serving(&n.id)).count(),
        };
        let gate = self.config.recovery.running_broker_gate;
        // One fresh look at the cluster's metadata, from the serving peers,
        // answers every partition guard and whether the cluster still counts it.
        let metadata = match (node.role, node.broker_id) {
            (Role::KafkaBroker, Some(id)) => {
                let healthy: Vec<Node> = self
                    .nodes
                    .iter()
                    .filter(|n| n.role == Role::KafkaBroker && n.id != node.id && serving(&n.id))
                    .cloned()
                    .collect();
                self.prober.cluster_metadata(&healthy, Some(id)).await.map(|m| (id, m))
            }
            _ => None,
        };
        let (at_min_isr, short_elsewhere) = match (node.role, running, &metadata) {
            (Role::KafkaBroker, true, Some((id, m))) => (Some(m.at_min_isr(*id)), Some(m.short_elsewhere(*id, gate))),
            (Role::KafkaBroker, true, None) => (None, None),
            _ => (Some(Vec::new()), Some(Vec::new())),
        };
        let unreachable = verdict.is_some_and(|v| {
            matches!(v.cause, Some(Cause::Timeout | Cause::ConnectTimeout | Cause::NetworkError | Cause::DnsFailure))
        });
        let cluster_counts_it = match &metadata {
            Some((id, m)) if unreachable => self.cluster_counts(*id, m),
            _ => None,
        };
        let second_opinion = self.ha.second_opinion(&node.id).await;
        let hour_ago = now_ms() - 3_600_000;
        let actions_last_hour = self
            .journal
            .store
            .call(move |c| records::attempts_started_since(c, hour_ago))
            .await
            .map_err(|e| e.to_string());
        let r = &self.config.recovery;
        // Both read the engine's state: before its lock is taken below.
        let (failed_nodes, total_nodes) = (self.failed_processes(), self.processes(self.nodes.iter()));
        let state = self.state();
        let now = SystemTime::now();
        // Every field set here: a guard added later cannot default to "allowed".
        GuardInput {
            role: node.role,
            running,
            flapping: snapshot.as_ref().is_some_and(|s| s.flapping),
            isolated: self.board.isolated(),
            failed_nodes,
            total_nodes,
            max_failed_fraction: r.max_failed_fraction,
            paused: state.paused(now_ms()),
            maintenance: state.in_maintenance(&node.id),
            blackout: guards::blackout_at(&self.config.monitoring.blackout_periods, &|tz| guards::wall_clock(now, tz)),
            actions_last_hour,
            max_actions_per_hour: r.max_actions_per_hour,
            // The engine fills the slots in under its lock.
            in_flight: Vec::new(),
            sibling_in_flight: false,
            max_parallel: r.max_parallel as usize,
            peers,
            at_min_isr,
            short_elsewhere,
            gate,
            cluster_counts_it,
            second_opinion,
        }
    }

    /// Whether the cluster still counts broker `id` although it does not
    /// answer from here: a serving peer's metadata, read just now, lists it
    /// unfenced, and in ZooKeeper mode its registration is there. The
    /// evidence, or `None` (it is gone from the cluster's view).
    fn cluster_counts(&self, id: i32, m: &ClusterMetadata) -> Option<String> {
        if m.listed(id) != Some(false) {
            return None;
        }
        let zookeeper = match self.board.registered() {
            Some(ids) if !ids.contains(&id) => return None,
            Some(_) => format!("; broker {id} registered in ZooKeeper (/brokers/ids/{id})"),
            None => String::new(),
        };
        Some(format!("broker {id} listed, unfenced, in the metadata of {} just now{zookeeper}", m.asked))
    }

    /// The guards that can change while an attempt is being prepared —
    /// isolation, mass failure, pause, maintenance, blackout — from what is
    /// known now, without any I/O: asked again immediately before an action.
    pub(super) fn late_refusal(&self, node: &Node) -> Option<guards::Refusal> {
        let cluster = self.cluster_input();
        let state = self.state();
        let input = GuardInput {
            paused: state.paused(now_ms()),
            maintenance: state.in_maintenance(&node.id),
            blackout: state.blackout.clone(),
            role: node.role,
            ..cluster
        };
        guards::check(&input).err()
    }

    /// What systemd says about `node`'s unit, asked where the restart would run;
    /// `None` when it cannot be asked (the host does not answer, no such unit).
    pub(super) async fn unit_state(&self, node: &Node) -> Option<UnitState> {
        let step = unit_state::query(&self.config.recovery, node, crate::host::is_this_host(&node.host));
        let r = runner::run(&actions::Plan::Steps(vec![step]), &self.masker, &self.http).await;
        if !r.success {
            debug!(message = "Recovery: cannot ask systemd about the unit.", node = %node.id, result = %r.summary);
            return None;
        }
        unit_state::parse(&r.output)
    }
}
