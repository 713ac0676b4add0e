//! `standing`: the partitions and brokers as the cluster's metadata has them
//! now, asked of a peer — and what that says about one broker: whether the
//! cluster still lists it (or has fenced it), which of its partitions it is
//! not in sync for, which it should lead and does not, and which partitions
//! are short of replicas because of someone else.
//!
//! Owns: reading Metadata, DescribeCluster (fenced brokers, KRaft) and
//! `min.insync.replicas` from the first peer that answers, and the pure
//! questions asked of the result.
//! Must never: write to the cluster (the preferred-leader election is
//! `recovery::leadership`'s), or ask the broker in question about itself — a
//! broker cut off or hung has no say on its own standing.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeConfigsRequest, MetadataRequest,
    describe_configs_request::DescribeConfigsResource,
};
use kafka_protocol::protocol::StrBytes;

use super::Prober;
use crate::kafka::Connection;
use crate::topology::Node;

/// DescribeConfigs resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;

/// One partition as the metadata has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    /// `-1` when it has no leader.
    pub leader: i32,
    /// In assignment order: the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl PartitionState {
    /// `topic-partition`, as Kafka's tools print it.
    pub fn label(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    fn short(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    /// A replica other than `id` is missing from the ISR.
    fn short_of_other_than(&self, id: i32) -> bool {
        self.replicas.iter().any(|r| *r != id && !self.isr.contains(r))
    }
}

/// A listed broker: its id, advertised address, and whether the controller fenced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: i32,
    pub host: String,
    pub port: i32,
    /// KRaft 4.x (DescribeCluster v2) lists fenced brokers; older clusters drop them.
    pub fenced: bool,
}

/// Which partitions count when a running broker is about to be restarted
/// (`recovery.running_broker_gate`, decoded by config).
pub use crate::config::RunningBrokerGate as Gate;

/// The cluster as one peer's metadata has it now.
#[derive(Debug, Clone, Default)]
pub struct ClusterMetadata {
    /// The node id of the peer that answered.
    pub asked: String,
    /// Metadata's controller: in ZooKeeper mode the active controller, in KRaft
    /// a broker that forwards to it (KIP-590).
    pub controller: Option<i32>,
    pub brokers: Vec<Listed>,
    pub partitions: Vec<PartitionState>,
    /// `min.insync.replicas` of the topics it could be read for.
    pub min_isr: BTreeMap<String, usize>,
}

impl ClusterMetadata {
    /// `Some(fenced)` while the cluster lists broker `id`; `None` once it has dropped it.
    pub fn listed(&self, id: i32) -> Option<bool> {
        self.brokers.iter().find(|b| b.id == id).map(|b| b.fenced)
    }

    /// How many partitions have a replica on broker `id`.
    pub fn hosted(&self, id: i32) -> usize {
        self.partitions.iter().filter(|p| p.replicas.contains(&id)).count()
    }

    /// Partitions with a replica on `id` that is not in their ISR: it has not caught up.
    pub fn behind(&self, id: i32) -> Vec<String> {
        self.partitions.iter().filter(|p| p.replicas.contains(&id) && !p.isr.contains(&id)).map(|p| p.label()).collect()
    }

    /// Partitions whose preferred leader is `id`, in sync, while another broker
    /// (or nobody) leads: what a preferred-leader election moves back.
    pub fn not_leading(&self, id: i32) -> Vec<(String, i32)> {
        self.partitions
            .iter()
            .filter(|p| p.replicas.first() == Some(&id) && p.isr.contains(&id) && p.leader != id)
            .map(|p| (p.topic.clone(), p.partition))
            .collect()
    }

    /// `topic-partition` of the partitions `id` is the preferred replica of
    /// and leads.
    pub fn leading(&self, id: i32) -> Vec<String> {
        self.partitions
            .iter()
            .filter(|p| p.replicas.first() == Some(&id) && p.leader == id)
            .map(|p| p.label())
            .collect()
    }

    /// `topic-partition` of the partitions `id` leads while another in-sync
    /// replica could: a controlled shutdown hands these over before the
    /// broker closes its port, a crash leaves them where they were.
    pub fn leading_with_a_successor(&self, id: i32) -> Vec<String> {
        self.partitions.iter().filter(|p| p.leader == id && p.isr.iter().any(|r| *r != id)).map(|p| p.label()).collect()
    }

    /// Partitions with `id` among at most `min.insync.replicas` in-sync
    /// replicas: restarting it would stop writes. A topic whose minimum could
    /// not be read counts as at its minimum.
    pub fn at_min_isr(&self, id: i32) -> Vec<String> {
        self.partitions
            .iter()
            .filter(|p| p.isr.contains(&id))
            .filter(|p| self.min_isr.get(&p.topic).is_none_or(|min| p.isr.len() <= *min))
            .map(|p| p.label())
            .collect()
    }

    /// Partitions short of a replica other than `id` — another broker is
    /// behind or down — that restarting the running broker `id` could make
    /// worse: every such partition (`Gate::Cluster`), those `id` is in sync
    /// for (`Gate::Shared`), or none (`Gate::Off`). Partitions short only of
    /// `id` itself never count: its restart cannot shrink them further.
    pub fn short_elsewhere(&self, id: i32, gate: Gate) -> Vec<String> {
        let counts = |p: &&PartitionState| match gate {
            Gate::Cluster => true,
            Gate::Shared => p.isr.contains(&id),
            Gate::Off => false,
        };
        self.partitions.iter().filter(|p| p.short_of_other_than(id)).filter(counts).map(|p| p.label()).collect()
    }

    /// Every partition whose ISR is smaller than its replica set.
    pub fn under_replicated(&self) -> Vec<String> {
        self.partitions.iter().filter(|p| p.short()).map(|p| p.label()).collect()
    }
}

/// The cluster's metadata from the first of `peers` that answers (`None`
/// when none does). `min.insync.replicas` is read for the topics with a
/// partition short of replicas, and those `focus` is in sync for.
pub async fn fetch(p: &Prober, peers: &[Node], focus: Option<i32>) -> Option<ClusterMetadata> {
    fetch_from(p, peers, Some(focus)).await
}

/// The brokers and the partitions' leaders and ISRs only, without
/// `min.insync.replicas` (no DescribeConfigs): what tells a crash from a
/// controlled shutdown, asked on every look while a broker's stop is told.
pub async fn fetch_layout(p: &Prober, peers: &[Node]) -> Option<ClusterMetadata> {
    fetch_from(p, peers, None).await
}

/// `min_isr_for`: `None` reads no minimum; `Some(focus)` as `fetch` says.
async fn fetch_from(p: &Prober, peers: &[Node], min_isr_for: Option<Option<i32>>) -> Option<ClusterMetadata> {
    for peer in peers {
        let Ok(mut conn) = Connection::connect(&peer.host, peer.port, &p.security, p.kafka_timeouts()).await else {
            continue;
        };
        let Ok(mut metadata) = read(&mut conn).await else { continue };
        metadata.asked = peer.id.clone();
        let Some(focus) = min_isr_for else { return Some(metadata) };
        let topics: BTreeSet<String> = metadata
            .partitions
            .iter()
            .filter(|p| p.short() || focus.is_some_and(|id| p.isr.contains(&id)))
            .map(|p| p.topic.clone())
            .collect();
        metadata.min_isr = min_insync_replicas(&mut conn, topics.iter()).await;
        return Some(metadata);
    }
    None
}

async fn read(conn: &mut Connection) -> Result<ClusterMetadata, crate::kafka::KafkaError> {
    let request = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
    let metadata = conn.send(&request, "Metadata").await?;
    let mut out = ClusterMetadata {
        controller: Some(metadata.controller_id.0).filter(|c| *c >= 0),
        brokers: metadata
            .brokers
            .iter()
            .map(|b| Listed { id: b.node_id.0, host: b.host.to_string(), port: b.port, fenced: false })
            .collect(),
        ..ClusterMetadata::default()
    };
    if conn.supported(ApiKey::DescribeCluster).is_some_and(|(_, max)| max >= 2) {
        let request = DescribeClusterRequest::default().with_include_fenced_brokers(true);
        let cluster = conn.send(&request, "DescribeCluster").await?;
        if cluster.error_code == 0 {
            out.brokers = cluster
                .brokers
                .iter()
                .map(|b| Listed { id: b.broker_id.0, host: b.host.to_string(), port: b.port, fenced: b.is_fenced })
                .collect();
        }
    }
    for topic in &metadata.topics {
        let name = topic.name.as_ref().map_or_else(|| "?".to_string(), |n| n.0.to_string());
        for part in &topic.partitions {
            out.partitions.push(PartitionState {
                topic: name.clone(),
                partition: part.partition_index,
                leader: part.leader_id.0,
                replicas: part.replica_nodes.iter().map(|b| b.0).collect(),
                isr: part.isr_nodes.iter().map(|b| b.0).collect(),
            });
        }
    }
    Ok(out)
}

/// `min.insync.replicas` per topic; topics the broker would not describe are left out.
pub(super) async fn min_insync_replicas<'t>(
    conn: &mut Connection,
    topics: impl Iterator<Item = &'t String>,
) -> BTreeMap<String, usize> {
    let resources: Vec<DescribeConfigsResource> = topics
        .map(|t| {
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(StrBytes::from_string(t.clone()))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str("min.insync.replicas")]))
        })
        .collect();
    if resources.is_empty() {
        return BTreeMap::new();
    }
    let request = DescribeConfigsRequest::default().with_resources(resources);
    let Ok(response) = conn.send(&request, "DescribeConfigs").await else {
        return BTreeMap::new();
    };
    response
        .results
        .iter()
        .filter(|r| r.error_code == 0)
        .filter_map(|r| {
            let value = r.configs.iter().find(|c| c.name.as_str() == "min.insync.replicas")?.value.as_ref()?;
            Some((r.resource_name.to_string(), value.as_str().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(topic: &str, partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionState {
        PartitionState { topic: topic.into(), partition, leader, replicas: replicas.to_vec(), isr: isr.to_vec() }
    }

    fn metadata() -> ClusterMetadata {
        ClusterMetadata {
            asked: "broker-1".into(),
            controller: Some(1),
            brokers: vec![
                Listed { id: 1, host: "h1".into(), port: 9092, fenced: false },
                Listed { id: 3, host: "h3".into(), port: 9092, fenced: true },
            ],
            partitions: vec![
                // Broker 2 came back and is behind here; it prefers to lead it.
                part("t", 0, 1, &[2, 1, 3], &[1, 3]),
                // Back in sync, but broker 1 still leads what 2 should.
                part("t", 1, 1, &[2, 3, 1], &[1, 2, 3]),
                // Short of broker 3, with 2 in sync.
                part("u", 0, 1, &[1, 2, 3], &[1, 2]),
                // Whole, led by its preferred leader.
                part("u", 1, 3, &[3, 1, 2], &[3, 1, 2]),
            ],
            min_isr: BTreeMap::from([("t".to_string(), 2), ("u".to_string(), 2)]),
        }
    }

    #[test]
    fn one_brokers_standing() {
        let m = metadata();
        assert_eq!(m.listed(1), Some(false));
        assert_eq!(m.listed(3), Some(true));
        assert_eq!(m.listed(2), None, "dropped from the metadata");
        assert_eq!(m.hosted(2), 4);
        assert_eq!(m.behind(2), vec!["t-0"]);
        assert_eq!(m.not_leading(2), vec![("t".to_string(), 1)], "t-0 is preferred too, but 2 is not in sync");
        assert_eq!(m.at_min_isr(2), vec!["u-0"]);
        assert_eq!(m.under_replicated(), vec!["t-0", "u-0"]);
    }

    #[test]
    fn the_running_broker_gate_never_counts_a_brokers_own_absence() {
        let m = metadata();
        // For broker 2, t-0 is short only of itself; u-0 of broker 3.
        assert_eq!(m.short_elsewhere(2, Gate::Cluster), vec!["u-0"]);
        assert_eq!(m.short_elsewhere(2, Gate::Shared), vec!["u-0"]);
        // Broker 3 is in neither short partition's ISR except t-0 (short of 2).
        assert_eq!(m.short_elsewhere(3, Gate::Cluster), vec!["t-0"]);
        assert_eq!(m.short_elsewhere(3, Gate::Shared), vec!["t-0"]);
        assert_eq!(m.short_elsewhere(1, Gate::Cluster), vec!["t-0", "u-0"]);
        assert!(m.short_elsewhere(1, Gate::Off).is_empty());
        let only_2_behind = ClusterMetadata { partitions: vec![part("t", 0, 1, &[2, 1, 3], &[1, 3])], ..m.clone() };
        assert!(only_2_behind.short_elsewhere(2, Gate::Cluster).is_empty(), "its own catch-up never holds it back");
        let elsewhere = ClusterMetadata { partitions: vec![part("t", 0, 1, &[1, 3, 4], &[1, 4])], ..m };
        assert_eq!(elsewhere.short_elsewhere(2, Gate::Cluster), vec!["t-0"]);
        assert!(elsewhere.short_elsewhere(2, Gate::Shared).is_empty(), "2 holds no replica of it");
    }
}
