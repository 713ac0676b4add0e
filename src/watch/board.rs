//! The board: what the watcher knows now, shared with its readers (the
//! recovery engine, the API, the metrics).
//!
//! Owns: the latest snapshot of every node, the cluster view, ZooKeeper's
//! list of registered brokers and when each one disappeared, every broker's
//! id and where it came from, and the wakers that ask a node's watcher to
//! probe now.
//! Must never: decide anything (readers decide from what it holds), or hand
//! out its locks — every access is one short method call.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::health::{ClusterView, NodeState, Verdict};
use crate::monitor::Observation;

/// What a node's watcher is woken with.
#[derive(Debug, Clone)]
pub enum Wake {
    /// Probe now (the held connection closed or came back; validation wants a look).
    Probe,
    /// The held connection's heartbeat is late: start confirming at once,
    /// without waiting for it to time out.
    Suspect,
    /// The heartbeat timed out: that counts as a failed round.
    Evidence(Box<Observation>),
}
use crate::topology::Node;

/// The latest known state of one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSnapshot {
    pub node: Node,
    pub state: NodeState,
    pub verdict: Option<Verdict>,
    pub observations: Vec<Observation>,
    /// More state changes than `monitoring.flapping` allows, lately.
    pub flapping: bool,
    #[serde(skip)]
    pub since: Instant,
    /// When the last probe round ended (`None` before the first).
    #[serde(skip)]
    pub probed_at: Option<SystemTime>,
}

impl NodeSnapshot {
    /// Before the first probe round.
    pub fn unknown(node: &Node) -> NodeSnapshot {
        NodeSnapshot {
            node: node.clone(),
            state: NodeState::Unknown,
            verdict: None,
            observations: Vec::new(),
            flapping: false,
            since: Instant::now(),
            probed_at: None,
        }
    }

    /// It answers its probes (healthy or degraded).
    pub fn serving(&self) -> bool {
        matches!(self.state, NodeState::Healthy | NodeState::Degraded)
    }
}

/// A broker's id and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerId {
    pub id: i32,
    /// `configuration`, `metadata from NODE`, or `state store` (learned before a restart).
    pub source: String,
}

/// What the watcher knows now; shared with readers (status API, recovery).
#[derive(Debug, Default)]
pub struct Board {
    nodes: Mutex<HashMap<String, NodeSnapshot>>,
    cluster: Mutex<Option<ClusterView>>,
    /// Broker ids registered in ZooKeeper (`/brokers/ids`), in ZooKeeper mode.
    registered: Mutex<Option<BTreeSet<i32>>>,
    /// Since when the session watching them is lost: the list is then
    /// unknown, not its last value.
    registrations_lost: Mutex<Option<Instant>>,
    /// ZooKeeper mode: when each broker id's registration disappeared (cleared when it is back).
    deregistered: Mutex<HashMap<i32, Instant>>,
    /// Per node: asks its watcher to probe now (the recovery engine, after an action).
    wakers: Mutex<HashMap<String, mpsc::Sender<Wake>>>,
    /// Kafka's broker id of each broker: configured, or learned from the
    /// cluster's metadata (the broker that advertises the node's address).
    broker_ids: Mutex<HashMap<String, BrokerId>>,
}

/// A poisoned lock still holds the last consistent value: every writer
/// replaces whole values.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Board {
    // --- nodes ---

    /// The latest snapshot of `node`.
    pub fn snapshot(&self, node: &str) -> Option<NodeSnapshot> {
        lock(&self.nodes).get(node).cloned()
    }

    /// `node`'s state now (`Unknown` when it is not watched).
    pub fn state(&self, node: &str) -> NodeState {
        lock(&self.nodes).get(node).map_or(NodeState::Unknown, |s| s.state)
    }

    /// Every snapshot, sorted by node id.
    pub fn snapshots(&self) -> Vec<NodeSnapshot> {
        let mut all: Vec<NodeSnapshot> = lock(&self.nodes).values().cloned().collect();
        all.sort_by(|a, b| a.node.id.cmp(&b.node.id));
        all
    }

    /// Replaces `snapshot.node`'s snapshot (the watcher, after each round).
    pub fn publish(&self, snapshot: NodeSnapshot) {
        lock(&self.nodes).insert(snapshot.node.id.clone(), snapshot);
    }

    /// Registers the channel that asks `node`'s watcher to probe now.
    pub fn add_waker(&self, node: &str, waker: mpsc::Sender<Wake>) {
        lock(&self.wakers).insert(node.to_string(), waker);
    }

    /// Asks the watcher of `node` to probe it now; false if it is busy or gone.
    pub fn wake(&self, node: &str) -> bool {
        lock(&self.wakers).get(node).is_some_and(|w| w.try_send(Wake::Probe).is_ok())
    }

    // --- the cluster ---

    /// The latest cluster view (`None` before every node was probed once).
    pub fn cluster(&self) -> Option<ClusterView> {
        lock(&self.cluster).clone()
    }

    pub fn set_cluster(&self, view: ClusterView) {
        *lock(&self.cluster) = Some(view);
    }

    /// Every node is unreachable from here: the daemon's own network is suspected.
    pub fn isolated(&self) -> bool {
        lock(&self.cluster).as_ref().is_some_and(|c| c.isolated)
    }

    /// A KRaft quorum was seen in the cluster's metadata.
    pub fn kraft_seen(&self) -> bool {
        lock(&self.cluster).as_ref().is_some_and(|c| c.kraft.is_some())
    }

    // --- ZooKeeper's registrations ---

    /// ZooKeeper mode: the broker ids registered under `/brokers/ids` now
    /// (`None` in KRaft mode, before the first read, and while the session
    /// watching them is lost: then nobody can tell).
    pub fn registered(&self) -> Option<BTreeSet<i32>> {
        if lock(&self.registrations_lost).is_some() {
            return None;
        }
        lock(&self.registered).clone()
    }

    /// The registrations are watched (ZooKeeper mode, read at least once),
    /// whether or not their session is up now.
    pub fn zookeeper_mode(&self) -> bool {
        lock(&self.registered).is_some()
    }

    /// Whether broker `id` is registered in ZooKeeper now; `None` when that
    /// cannot be told (not ZooKeeper mode, or the watch's session is lost).
    pub fn registration(&self, id: i32) -> Option<bool> {
        self.registered().map(|ids| ids.contains(&id))
    }

    /// Broker `id` is registered in ZooKeeper now, as far as is known.
    pub fn is_registered(&self, id: i32) -> bool {
        self.registration(id) == Some(true)
    }

    /// The session watching the registrations is lost (`at`): the list is
    /// unknown until a new session reads it.
    pub fn registrations_lost(&self, at: Instant) {
        lock(&self.registrations_lost).get_or_insert(at);
    }

    /// Since when the registrations are unknown (their session lost).
    pub fn registrations_unknown_since(&self) -> Option<Instant> {
        *lock(&self.registrations_lost)
    }

    /// The registrations watch read `ids`: records when each one that went
    /// away disappeared, and forgets that for each one that is back.
    pub fn set_registered(&self, ids: BTreeSet<i32>, at: Instant) {
        let mut registered = lock(&self.registered);
        if let Some(before) = registered.as_ref() {
            let mut deregistered = lock(&self.deregistered);
            for gone in before.difference(&ids) {
                deregistered.insert(*gone, at);
            }
            for back in ids.difference(before) {
                deregistered.remove(back);
            }
        }
        *registered = Some(ids);
        *lock(&self.registrations_lost) = None;
    }

    /// When broker `id`'s registration disappeared (`None` while it is there).
    pub fn deregistered_at(&self, id: i32) -> Option<Instant> {
        lock(&self.deregistered).get(&id).copied()
    }

    // --- broker ids ---

    /// Kafka's broker id of `node`, configured or learned; `None` while unknown.
    pub fn broker_id(&self, node: &str) -> Option<i32> {
        lock(&self.broker_ids).get(node).map(|b| b.id)
    }

    /// Every known broker id, by node.
    pub fn broker_ids(&self) -> HashMap<String, BrokerId> {
        lock(&self.broker_ids).clone()
    }

    /// The node whose broker id is `id`.
    pub fn node_of_broker(&self, id: i32) -> Option<String> {
        lock(&self.broker_ids).iter().find(|(_, b)| b.id == id).map(|(n, _)| n.clone())
    }

    /// Records `node`'s broker id. The cluster's own word (`metadata …`)
    /// replaces anything learned before; a configured id is never replaced,
    /// and a remembered one (`state store`) only fills a gap. True when it changed.
    pub fn learn_broker_id(&self, node: &str, id: i32, source: &str) -> bool {
        let mut ids = lock(&self.broker_ids);
        match ids.get(node) {
            Some(b) if b.source == CONFIGURED || b.id == id => return false,
            Some(_) if source == REMEMBERED => return false,
            Some(b) => {
                warn!(message = "Broker id changed: the cluster's metadata gives another id than before.", node = %node, before = b.id, now = id, source = %source)
            }
            None if source == CONFIGURED => {}
            None => info!(message = "Broker id learned.", node = %node, broker_id = id, source = %source),
        }
        ids.insert(node.to_string(), BrokerId { id, source: source.to_string() });
        true
    }
}

/// The source of a broker id written in the configuration.
pub const CONFIGURED: &str = "configuration";
/// The source of a broker id learned before a restart and kept in the state store.
pub const REMEMBERED: &str = "state store";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_remember_when_each_one_went_and_forget_it_when_back() {
        let board = Board::default();
        assert!(!board.zookeeper_mode());
        let t0 = Instant::now();
        board.set_registered([1, 2, 3].into(), t0);
        assert!(board.zookeeper_mode() && board.is_registered(2));
        assert_eq!(board.deregistered_at(2), None, "the first read is no departure");
        let t1 = t0 + std::time::Duration::from_secs(1);
        board.set_registered([1, 3].into(), t1);
        assert_eq!(board.deregistered_at(2), Some(t1));
        assert!(!board.is_registered(2));
        board.set_registered([1, 2, 3].into(), t1);
        assert_eq!(board.deregistered_at(2), None);
        // The watch's session lost: unknown, never the last list (issue: a stale view).
        board.registrations_lost(t1);
        assert!(board.zookeeper_mode(), "still ZooKeeper mode");
        assert_eq!(board.registered(), None);
        assert_eq!(board.registration(2), None);
        assert!(!board.is_registered(2));
        assert_eq!(board.registrations_unknown_since(), Some(t1));
        // A new session reads them: known again.
        board.set_registered([1, 3].into(), t1);
        assert_eq!(board.registration(2), Some(false));
        assert_eq!(board.registrations_unknown_since(), None);
    }

    #[test]
    fn a_configured_broker_id_is_never_replaced_and_a_remembered_one_only_fills_a_gap() {
        let board = Board::default();
        assert!(board.learn_broker_id("kafka-1", 1, CONFIGURED));
        assert!(!board.learn_broker_id("kafka-1", 7, "metadata from kafka-2"));
        assert!(board.learn_broker_id("kafka-2", 2, REMEMBERED));
        assert!(board.learn_broker_id("kafka-2", 5, "metadata from kafka-1"));
        assert!(!board.learn_broker_id("kafka-2", 9, REMEMBERED));
        assert_eq!(board.broker_id("kafka-2"), Some(5));
        assert_eq!(board.node_of_broker(5).as_deref(), Some("kafka-2"));
    }
}
