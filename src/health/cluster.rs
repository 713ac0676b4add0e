//! The cluster as a whole: what the nodes' findings say together.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::node::NodeState;
use crate::monitor::{Findings, KafkaView, Observation, QuorumView, Status};
use crate::topology::{Node, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quorum {
    /// Every member serves.
    Held,
    /// A quorum serves, but not every member: one more loss may cost it.
    AtRisk,
    Lost,
    /// Every member answers, but none said its mode (watched without the
    /// `zookeeper` method): whether one of them leads cannot be told.
    Unknown,
}

/// The ZooKeeper ensemble.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleState {
    pub size: usize,
    pub serving: usize,
    /// Node ids reporting `leader` (or `standalone`).
    pub leaders: Vec<String>,
    pub quorum: Quorum,
}

/// What a broker that answers the daemon but not its cluster is: no restart
/// mends a network path, so this is reported, never acted on.
pub const CUT_OFF: &str =
    "cut off from the cluster (a network partition between it and its peers, or a lost session); not restarted";

/// How long a broker must look cut off — in its peers' metadata read after
/// it came back, or missing from ZooKeeper's registrations — before the view
/// reports it. A broker that was just restarted is listed by its peers within
/// a second or two of serving; the watcher asks them again at once.
pub const CUT_OFF_CONFIRM: Duration = Duration::from_secs(10);

/// What tells a fresh finding about a broker from an old one.
#[derive(Debug, Clone)]
pub struct Seen {
    pub now: SystemTime,
    /// Per node: when its current state began, and when its last probe round
    /// ended. A peer's metadata is evidence about a broker only when it was
    /// read after that broker's state began. Empty: every observation is of
    /// this one round (`check`).
    pub times: HashMap<String, (SystemTime, Option<SystemTime>)>,
    /// Per broker node: since when it has looked cut off (kept by the watcher
    /// from the views' `suspected_cut_off`).
    pub cut_off_since: HashMap<String, SystemTime>,
    /// How long it must look so before it is reported.
    pub confirm: Duration,
}

impl Seen {
    /// One round, every node probed together (`check`): reported at once.
    pub fn one_round(now: SystemTime) -> Seen {
        Seen { now, times: HashMap::new(), cut_off_since: HashMap::new(), confirm: Duration::ZERO }
    }

    /// Whether `peer`'s last round ended after `node`'s current state began.
    fn fresh(&self, peer: &str, node: &str) -> bool {
        if self.times.is_empty() {
            return true;
        }
        match (self.times.get(peer).and_then(|(_, probed)| *probed), self.times.get(node).map(|(since, _)| *since)) {
            (Some(probed), Some(since)) => probed > since,
            _ => false,
        }
    }

    /// Whether `node` has looked cut off for `confirm` now.
    fn confirmed(&self, node: &str) -> bool {
        self.confirm.is_zero()
            || self
                .cut_off_since
                .get(node)
                .is_some_and(|since| self.now.duration_since(*since).unwrap_or_default() >= self.confirm)
    }
}

/// A broker that answers the daemon but that its cluster does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CutOff {
    pub node: String,
    pub broker_id: i32,
    /// The problem line, with the evidence.
    pub problem: String,
}

/// What the cluster looks like this round.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// The brokers' view of the cluster (from `kafka_metadata`), if any broker gave one.
    pub kafka: Option<KafkaView>,
    pub zookeeper: Option<EnsembleState>,
    /// The KRaft quorum (from `kraft_quorum`), if any node gave one.
    pub kraft: Option<QuorumView>,
    /// Broker ids registered in ZooKeeper (`/brokers/ids`), when it was asked.
    pub registered: Option<BTreeSet<i32>>,
    /// Every node failed at once: the daemon cannot reach the cluster, which
    /// says more about its own network than about the cluster.
    pub isolated: bool,
    /// Cluster-level problems, one line each, worst first.
    pub problems: Vec<String>,
    pub status: Status,
    /// Brokers reported as cut off (seen so for `Seen::confirm`).
    pub cut_off: Vec<CutOff>,
    /// Brokers that look cut off now, reported or not yet (node ids).
    #[serde(skip)]
    pub suspected_cut_off: Vec<String>,
}

/// Combines this round's node states and findings. When at least
/// `isolation_fraction` of the nodes (and at least two) are failed at once,
/// the view says the daemon is isolated instead.
///
/// `registered` is the ZooKeeper ensemble's list of registered broker ids
/// (`/brokers/ids`), when the daemon watches it. A broker is reported as cut
/// off only from peers' metadata read after it came back, once it has looked
/// so for `seen.confirm`.
pub fn summarize(
    nodes: &[(Node, NodeState)],
    observations: &[Observation],
    registered: Option<&BTreeSet<i32>>,
    isolation_fraction: f64,
    seen: &Seen,
) -> ClusterView {
    let mut suspected: Vec<String> = Vec::new();
    let mut reported: Vec<CutOff> = Vec::new();
    let mut problems: Vec<(Status, String)> = Vec::new();
    let views =
        |pick: fn(&Findings) -> bool| observations.iter().filter_map(move |o| o.findings.as_ref().filter(|f| pick(f)));

    // The brokers' view: prefer one that names a controller.
    let kafka: Option<KafkaView> = views(|f| matches!(f, Findings::Kafka(_)))
        .filter_map(|f| match f {
            Findings::Kafka(v) => Some(v),
            _ => None,
        })
        .max_by_key(|v| (v.controller_id.is_some(), v.brokers.len()))
        .cloned();
    if let Some(v) = &kafka {
        if v.controller_id.is_none() {
            problems.push((Status::Failed, "no active controller".into()));
        }
        if !v.offline.is_empty() {
            problems
                .push((Status::Failed, format!("{} offline partition(s): {}", v.offline.len(), sample(&v.offline))));
        }
        if !v.under_min_isr.is_empty() {
            problems.push((
                Status::Degraded,
                format!(
                    "{} partition(s) under min.insync.replicas: {}",
                    v.under_min_isr.len(),
                    sample(&v.under_min_isr)
                ),
            ));
        }
        if !v.under_replicated.is_empty() {
            problems.push((
                Status::Degraded,
                format!("{} under-replicated partition(s): {}", v.under_replicated.len(), sample(&v.under_replicated)),
            ));
        }
    }

    // ZooKeeper's word on registration: a broker that serves but has no
    // /brokers/ids entry is not part of the cluster (its session expired).
    if let Some(ids) = registered {
        for (node, _) in nodes.iter().filter(|(n, s)| n.role == Role::KafkaBroker && *s != NodeState::Failed) {
            if let Some(id) = node.broker_id.filter(|id| !ids.contains(id)) {
                suspected.push(node.id.clone());
                if seen.confirmed(&node.id) {
                    let problem = format!(
                        "broker {} (id {id}) answers here, but is not registered in ZooKeeper (/brokers/ids): {CUT_OFF}",
                        node.id
                    );
                    problems.push((Status::Degraded, problem.clone()));
                    reported.push(CutOff { node: node.id.clone(), broker_id: id, problem });
                }
            }
        }
    }

    // A broker's own metadata may be stale (a broker cut off from its peers
    // still lists itself, unfenced); its peers' metadata is the cluster's word.
    let mut cut_off: BTreeSet<i32> = BTreeSet::new();
    for (node, _) in nodes
        .iter()
        .filter(|(n, s)| n.role == Role::KafkaBroker && matches!(s, NodeState::Healthy | NodeState::Degraded))
    {
        let Some(id) = node.broker_id else { continue };
        // Only what the peers said after it came back: their earlier metadata
        // was read while it was down, and of course does not list it.
        let peer_views: Vec<&KafkaView> = observations
            .iter()
            .filter(|o| o.node != node.id && seen.fresh(&o.node, &node.id))
            .filter_map(|o| match &o.findings {
                Some(Findings::Kafka(v)) => Some(v),
                _ => None,
            })
            .collect();
        let entries = || peer_views.iter().filter_map(|v| v.brokers.iter().find(|b| b.id == id));
        let why = if peer_views.is_empty() {
            None
        } else if entries().next().is_none() {
            Some("its peers' metadata does not list it")
        } else if entries().any(|b| b.fenced == Some(true)) {
            Some("its peers' metadata says it is fenced")
        } else {
            None
        };
        if let Some(why) = why {
            cut_off.insert(id);
            if !suspected.contains(&node.id) {
                suspected.push(node.id.clone());
            }
            if seen.confirmed(&node.id) && !reported.iter().any(|c| c.node == node.id) {
                let problem = format!("broker {} (id {id}) answers here, but {why}: {CUT_OFF}", node.id);
                problems.push((Status::Degraded, problem.clone()));
                reported.push(CutOff { node: node.id.clone(), broker_id: id, problem });
            }
        }
    }
    // Fenced brokers the daemon does not reach (or does not know) are said plainly.
    if let Some(v) = &kafka {
        for b in v.brokers.iter().filter(|b| b.fenced == Some(true) && !cut_off.contains(&b.id)) {
            problems.push((Status::Degraded, format!("broker {} is fenced", b.id)));
        }
    }

    let zk_nodes: Vec<&(Node, NodeState)> = nodes.iter().filter(|(n, _)| n.role == Role::Zookeeper).collect();
    let zookeeper = (!zk_nodes.is_empty()).then(|| {
        let mut leaders = Vec::new();
        let mut serving = 0;
        // Serving members that said their mode (`srvr`/`stat`, or the AdminServer).
        let mut told = 0;
        for (node, state) in &zk_nodes {
            let mode = observations.iter().filter(|o| o.node == node.id).find_map(|o| match &o.findings {
                Some(Findings::Zookeeper(z)) => Some(z.mode.clone()),
                _ => None,
            });
            if matches!(state, NodeState::Healthy | NodeState::Degraded) {
                serving += 1;
                told += usize::from(mode.as_deref().is_some_and(|m| !m.is_empty()));
                if matches!(mode.as_deref(), Some("leader" | "standalone")) {
                    leaders.push(node.id.clone());
                }
            }
        }
        let size = zk_nodes.len();
        let majority = size / 2 + 1;
        // Without modes, only the count speaks: too few serving is lost, a
        // missing member is at risk, and the rest cannot be told — never "lost".
        let quorum = if serving < majority || leaders.len() > 1 || (leaders.is_empty() && told == serving) {
            Quorum::Lost
        } else if serving < size {
            Quorum::AtRisk
        } else if leaders.is_empty() {
            Quorum::Unknown
        } else {
            Quorum::Held
        };
        match quorum {
            Quorum::Lost => problems.push((
                Status::Failed,
                format!("ZooKeeper quorum lost: {serving} of {size} serving, {} leader(s)", leaders.len()),
            )),
            Quorum::AtRisk => {
                problems.push((Status::Degraded, format!("ZooKeeper quorum at risk: {serving} of {size} serving")))
            }
            Quorum::Held | Quorum::Unknown => {}
        }
        EnsembleState { size, serving, leaders, quorum }
    });

    // The KRaft quorum: prefer a view with a leader, the highest epoch, and the
    // voters' details (only the leader gives those).
    let kraft: Option<QuorumView> = views(|f| matches!(f, Findings::Quorum(_)))
        .filter_map(|f| match f {
            Findings::Quorum(q) => Some(q),
            _ => None,
        })
        .max_by_key(|q| (q.leader_id.is_some(), q.leader_epoch, q.voters.len()))
        .cloned();
    if let Some(q) = &kraft
        && q.leader_id.is_none()
    {
        problems.push((Status::Failed, "the KRaft metadata quorum has no leader".into()));
    }

    // Nodes on the daemon's own host prove nothing about its network: loopback is not a network.
    let remote: Vec<&(Node, NodeState)> = nodes.iter().filter(|(n, _)| !n.on_this_host).collect();
    let failed = remote.iter().filter(|(_, s)| *s == NodeState::Failed).count();
    let isolated = remote.len() > 1 && failed >= 2 && failed as f64 >= isolation_fraction * remote.len() as f64;
    if isolated {
        // Nothing else can be said about a cluster the daemon cannot see.
        let line = if failed == nodes.len() {
            "every node is unreachable: the daemon's own network is suspected, not the cluster".to_string()
        } else {
            format!(
                "{failed} of {} nodes on other hosts are unreachable at once: the daemon's own network is suspected, not the cluster",
                remote.len()
            )
        };
        return ClusterView {
            kafka,
            zookeeper,
            kraft,
            registered: registered.cloned(),
            isolated,
            problems: vec![line],
            status: Status::Unknown,
            cut_off: Vec::new(),
            suspected_cut_off: Vec::new(),
        };
    }
    for (node, state) in nodes {
        if *state == NodeState::Failed {
            problems.push((Status::Failed, format!("{} {} is down", node.role.as_str(), node.id)));
        }
    }

    problems.sort_by_key(|(status, _)| std::cmp::Reverse(*status));
    let node_status = nodes.iter().map(|(_, s)| match s {
        NodeState::Healthy => Status::Healthy,
        NodeState::Degraded | NodeState::Suspect => Status::Degraded,
        NodeState::Unknown => Status::Unknown,
        NodeState::Failed => Status::Failed,
    });
    let status = problems.iter().map(|(s, _)| *s).chain(node_status).max().unwrap_or(Status::Unknown);
    ClusterView {
        kafka,
        zookeeper,
        kraft,
        registered: registered.cloned(),
        isolated,
        problems: problems.into_iter().map(|(_, p)| p).collect(),
        status,
        cut_off: reported,
        suspected_cut_off: suspected,
    }
}

/// The first few items, for one line.
fn sample(items: &[String]) -> String {
    let mut out = items.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 5 {
        out.push_str(&format!(", … ({} more)", items.len() - 5));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::monitor::{Findings, ZookeeperView};

    fn node(id: &str, role: Role, broker_id: Option<i32>) -> Node {
        Node {
            id: id.into(),
            role,
            host: "h".into(),
            port: 9092,
            broker_id,
            jmx_port: None,
            admin_port: None,
            methods: vec![],
            on_this_host: false,
        }
    }

    fn once() -> Seen {
        Seen::one_round(SystemTime::UNIX_EPOCH)
    }

    fn zk(id: &str) -> Node {
        node(id, Role::Zookeeper, None)
    }

    fn broker(id: i32) -> Node {
        node(&format!("b{id}"), Role::KafkaBroker, Some(id))
    }

    fn zk_obs(id: &str, mode: &str) -> Observation {
        Observation {
            node: id.into(),
            method: "zookeeper".into(),
            status: Status::Healthy,
            cause: None,
            detail: String::new(),
            latency: Duration::ZERO,
            findings: Some(Findings::Zookeeper(ZookeeperView { mode: mode.into(), ..Default::default() })),
        }
    }

    #[test]
    fn zookeeper_quorum_table() {
        use NodeState::*;
        let cases = [
            ([Healthy, Healthy, Healthy], ["leader", "follower", "follower"], Quorum::Held, Status::Healthy),
            ([Failed, Healthy, Healthy], ["leader", "leader", "follower"], Quorum::AtRisk, Status::Failed),
            ([Healthy, Failed, Failed], ["leader", "", ""], Quorum::Lost, Status::Failed),
            ([Healthy, Healthy, Healthy], ["follower", "follower", "follower"], Quorum::Lost, Status::Failed),
            // Watched with `socket` only: no mode anywhere. Serving is not "lost".
            ([Healthy, Healthy, Healthy], ["", "", ""], Quorum::Unknown, Status::Healthy),
            ([Healthy, Healthy, Failed], ["", "", ""], Quorum::AtRisk, Status::Failed),
            ([Healthy, Failed, Failed], ["", "", ""], Quorum::Lost, Status::Failed),
            // Some said follower, one did not say: the leader may be that one.
            ([Healthy, Healthy, Healthy], ["follower", "", "follower"], Quorum::Unknown, Status::Healthy),
        ];
        for (states, modes, quorum, status) in cases {
            let nodes: Vec<(Node, NodeState)> =
                ["z1", "z2", "z3"].iter().zip(states).map(|(id, s)| (zk(id), s)).collect();
            let obs: Vec<Observation> = ["z1", "z2", "z3"]
                .iter()
                .zip(modes)
                .filter(|(_, m)| !m.is_empty())
                .map(|(id, m)| zk_obs(id, m))
                .collect();
            let view = summarize(&nodes, &obs, None, 1.0, &once());
            let ensemble = view.zookeeper.unwrap();
            assert_eq!(ensemble.quorum, quorum, "{states:?} {modes:?}");
            assert_eq!(view.status, status, "{states:?} {modes:?}: {:?}", view.problems);
        }
    }

    /// Broker `from`'s metadata, listing the brokers `ids`.
    fn view(from: i32, ids: &[i32]) -> Observation {
        use crate::monitor::{BrokerEntry, KafkaView};
        Observation {
            node: format!("b{from}"),
            method: "kafka_metadata".into(),
            status: Status::Healthy,
            cause: None,
            detail: String::new(),
            latency: Duration::ZERO,
            findings: Some(Findings::Kafka(KafkaView {
                controller_id: Some(1),
                brokers: ids.iter().map(|&id| BrokerEntry { id, host: "h".into(), port: 9092, fenced: None }).collect(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn a_broker_its_peers_do_not_list_is_a_problem() {
        let nodes = vec![(broker(1), NodeState::Healthy), (broker(2), NodeState::Healthy)];
        // b2 lists itself; b1, its peer, does not.
        let v = summarize(&nodes, &[view(1, &[1]), view(2, &[1, 2])], None, 1.0, &once());
        assert_eq!(
            v.problems,
            vec![format!("broker b2 (id 2) answers here, but its peers' metadata does not list it: {CUT_OFF}")]
        );
        assert_eq!(v.status, Status::Degraded);
        let v = summarize(&nodes, &[view(1, &[1, 2]), view(2, &[1, 2])], None, 1.0, &once());
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        // KRaft: its peers list it, fenced (it lost the controller); it does not know.
        let mut fenced = view(1, &[1, 2]);
        if let Some(Findings::Kafka(k)) = &mut fenced.findings {
            k.brokers[1].fenced = Some(true);
        }
        let v = summarize(&nodes, &[fenced.clone(), view(2, &[1, 2])], None, 1.0, &once());
        assert_eq!(
            v.problems,
            vec![format!("broker b2 (id 2) answers here, but its peers' metadata says it is fenced: {CUT_OFF}")]
        );
        // Fenced and not answering here: said plainly, once.
        let down = vec![(broker(1), NodeState::Healthy), (broker(2), NodeState::Failed)];
        let v = summarize(&down, &[fenced], None, 1.0, &once());
        assert!(v.problems.contains(&"broker 2 is fenced".to_string()), "{:?}", v.problems);
    }

    #[test]
    fn a_broker_just_back_is_not_cut_off_by_metadata_read_while_it_was_down() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let only_itself = view(1, &[1]);
        let nodes = vec![(broker(1), NodeState::Healthy), (broker(2), NodeState::Healthy)];
        // b2 serves again since second 100; b1's last round ended at 90, while b2 was down.
        let mut seen = Seen {
            now: t(100),
            times: [("b1".to_string(), (t(0), Some(t(90)))), ("b2".to_string(), (t(100), Some(t(100))))].into(),
            cut_off_since: HashMap::new(),
            confirm: CUT_OFF_CONFIRM,
        };
        let v = summarize(&nodes, std::slice::from_ref(&only_itself), None, 1.0, &seen);
        assert!(v.problems.is_empty() && v.suspected_cut_off.is_empty(), "{:?}", v.problems);
        assert_eq!(v.status, Status::Healthy, "no DEGRADED after every repair");
        // b1 asked again after b2's return, and still does not list it: suspected, not yet reported.
        seen.times.insert("b1".into(), (t(0), Some(t(101))));
        seen.now = t(101);
        let v = summarize(&nodes, std::slice::from_ref(&only_itself), None, 1.0, &seen);
        assert_eq!(v.suspected_cut_off, ["b2"]);
        assert!(v.problems.is_empty() && v.cut_off.is_empty(), "{:?}", v.problems);
        // Still so CUT_OFF_CONFIRM later: reported.
        seen.cut_off_since.insert("b2".into(), t(101));
        seen.now = t(111);
        let v = summarize(&nodes, std::slice::from_ref(&only_itself), None, 1.0, &seen);
        assert_eq!(v.cut_off.len(), 1);
        assert_eq!(v.cut_off[0].node, "b2");
        assert_eq!(v.problems, [v.cut_off[0].problem.clone()]);
        assert_eq!(v.status, Status::Degraded);
    }

    #[test]
    fn zookeeper_registration_is_the_clusters_word() {
        let nodes =
            vec![(broker(1), NodeState::Healthy), (broker(2), NodeState::Healthy), (broker(3), NodeState::Failed)];
        let registered: BTreeSet<i32> = [1].into_iter().collect();
        let v = summarize(&nodes, &[], Some(&registered), 1.0, &once());
        // b3 is down (said once, as down, worst first); b2 serves but does not count.
        assert_eq!(
            v.problems,
            vec![
                "kafka_broker b3 is down".to_string(),
                format!("broker b2 (id 2) answers here, but is not registered in ZooKeeper (/brokers/ids): {CUT_OFF}")
            ]
        );
    }

    #[test]
    fn everything_down_at_once_is_isolation() {
        let nodes = vec![(zk("z1"), NodeState::Failed), (zk("z2"), NodeState::Failed)];
        let view = summarize(&nodes, &[], None, 1.0, &once());
        assert!(view.isolated);
        assert!(view.problems[0].contains("daemon's own network"), "{:?}", view.problems);
        let one = vec![(zk("z1"), NodeState::Failed), (zk("z2"), NodeState::Healthy)];
        assert!(!summarize(&one, &[], None, 1.0, &once()).isolated);
        // With a fraction, most nodes down at once is enough.
        let most = vec![(zk("z1"), NodeState::Failed), (zk("z2"), NodeState::Failed), (zk("z3"), NodeState::Healthy)];
        assert!(!summarize(&most, &[], None, 1.0, &once()).isolated);
        let view = summarize(&most, &[], None, 0.6, &once());
        assert!(view.isolated);
        assert!(
            view.problems[0].starts_with("2 of 3 nodes on other hosts are unreachable at once"),
            "{:?}",
            view.problems
        );
        // Nodes on the daemon's own host: loopback is not a network, never isolation.
        let local = |id: &str| Node { on_this_host: true, ..zk(id) };
        let here = vec![(local("k1"), NodeState::Failed), (local("k1-controller"), NodeState::Failed)];
        let view = summarize(&here, &[], None, 1.0, &once());
        assert!(!view.isolated, "{:?}", view.problems);
        assert_eq!(view.status, Status::Failed);
    }
}
