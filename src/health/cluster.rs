//! The cluster as a whole: what the nodes' findings say together.

use std::collections::BTreeSet;

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
}

/// Combines this round's node states and findings. When at least
/// `isolation_fraction` of the nodes (and at least two) are failed at once,
/// the view says the daemon is isolated instead.
///
/// `registered` is the ZooKeeper ensemble's list of registered broker ids
/// (`/brokers/ids`), when the daemon watches it.
pub fn summarize(
    nodes: &[(Node, NodeState)],
    observations: &[Observation],
    registered: Option<&BTreeSet<i32>>,
    isolation_fraction: f64,
) -> ClusterView {
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
                problems.push((
                    Status::Degraded,
                    format!("broker {} (id {id}) answers here, but is not registered in ZooKeeper (/brokers/ids): {CUT_OFF}", node.id),
                ));
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
        let peer_views: Vec<&KafkaView> = observations
            .iter()
            .filter(|o| o.node != node.id)
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
            problems
                .push((Status::Degraded, format!("broker {} (id {id}) answers here, but {why}: {CUT_OFF}", node.id)));
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
            let view = summarize(&nodes, &obs, None, 1.0);
            let ensemble = view.zookeeper.unwrap();
            assert_eq!(ensemble.quorum, quorum, "{states:?} {modes:?}");
            assert_eq!(view.status, status, "{states:?} {modes:?}: {:?}", view.problems);
        }
    }

    #[test]
    fn a_broker_its_peers_do_not_list_is_a_problem() {
        use crate::monitor::{BrokerEntry, KafkaView};
        let view = |from: i32, ids: &[i32]| Observation {
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
        };
        let nodes = vec![(broker(1), NodeState::Healthy), (broker(2), NodeState::Healthy)];
        // b2 lists itself; b1, its peer, does not.
        let v = summarize(&nodes, &[view(1, &[1]), view(2, &[1, 2])], None, 1.0);
        assert_eq!(
            v.problems,
            vec![format!("broker b2 (id 2) answers here, but its peers' metadata does not list it: {CUT_OFF}")]
        );
        assert_eq!(v.status, Status::Degraded);
        let v = summarize(&nodes, &[view(1, &[1, 2]), view(2, &[1, 2])], None, 1.0);
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        // KRaft: its peers list it, fenced (it lost the controller); it does not know.
        let mut fenced = view(1, &[1, 2]);
        if let Some(Findings::Kafka(k)) = &mut fenced.findings {
            k.brokers[1].fenced = Some(true);
        }
        let v = summarize(&nodes, &[fenced.clone(), view(2, &[1, 2])], None, 1.0);
        assert_eq!(
            v.problems,
            vec![format!("broker b2 (id 2) answers here, but its peers' metadata says it is fenced: {CUT_OFF}")]
        );
        // Fenced and not answering here: said plainly, once.
        let down = vec![(broker(1), NodeState::Healthy), (broker(2), NodeState::Failed)];
        let v = summarize(&down, &[fenced], None, 1.0);
        assert!(v.problems.contains(&"broker 2 is fenced".to_string()), "{:?}", v.problems);
    }

    #[test]
    fn zookeeper_registration_is_the_clusters_word() {
        let nodes =
            vec![(broker(1), NodeState::Healthy), (broker(2), NodeState::Healthy), (broker(3), NodeState::Failed)];
        let registered: BTreeSet<i32> = [1].into_iter().collect();
        let v = summarize(&nodes, &[], Some(&registered), 1.0);
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
        let view = summarize(&nodes, &[], None, 1.0);
        assert!(view.isolated);
        assert!(view.problems[0].contains("daemon's own network"), "{:?}", view.problems);
        let one = vec![(zk("z1"), NodeState::Failed), (zk("z2"), NodeState::Healthy)];
        assert!(!summarize(&one, &[], None, 1.0).isolated);
        // With a fraction, most nodes down at once is enough.
        let most = vec![(zk("z1"), NodeState::Failed), (zk("z2"), NodeState::Failed), (zk("z3"), NodeState::Healthy)];
        assert!(!summarize(&most, &[], None, 1.0).isolated);
        let view = summarize(&most, &[], None, 0.6);
        assert!(view.isolated);
        assert!(
            view.problems[0].starts_with("2 of 3 nodes on other hosts are unreachable at once"),
            "{:?}",
            view.problems
        );
        // Nodes on the daemon's own host: loopback is not a network, never isolation.
        let local = |id: &str| Node { on_this_host: true, ..zk(id) };
        let here = vec![(local("k1"), NodeState::Failed), (local("k1-controller"), NodeState::Failed)];
        let view = summarize(&here, &[], None, 1.0);
        assert!(!view.isolated, "{:?}", view.problems);
        assert_eq!(view.status, Status::Failed);
    }
}
