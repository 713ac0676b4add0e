//! `kafka_metadata`: the broker is registered (and not fenced) in the cluster's
//! view, plus what that view says about the controller and the partitions.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, MetadataRequest};

use super::{BrokerEntry, Cause, Findings, KafkaView, Outcome, Prober};
use crate::kafka::Connection;
use crate::topology::Node;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let mut conn = match Connection::connect(&node.host, node.port, &p.security, p.kafka_timeouts()).await {
        Ok(c) => c,
        Err(e) => return Outcome::from_kafka(&e),
    };
    let view = match cluster_view(&mut conn).await {
        Ok(v) => v,
        Err(outcome) => return outcome,
    };
    let me = match node.broker_id {
        Some(id) => view.brokers.iter().find(|b| b.id == id),
        None => advertised_id(&view, &node.host, node.port).and_then(|id| view.brokers.iter().find(|b| b.id == id)),
    };
    let summary = view.summary();
    let outcome = match me {
        Some(b) if b.fenced == Some(true) => {
            Outcome::failed(Cause::Fenced, format!("broker {} is fenced; {summary}", b.id))
        }
        Some(b) => Outcome::healthy(format!("broker {} registered; {summary}", b.id)),
        None if node.broker_id.is_some() => Outcome::failed(
            Cause::NotRegistered,
            format!("broker {} is not in the cluster metadata; {summary}", node.broker_id.unwrap_or_default()),
        ),
        None => Outcome::unknown(
            Cause::ProbeError,
            format!(
                "no broker in the metadata advertises {}; set `broker_id` for this node. {summary}",
                node.address()
            ),
        ),
    };
    outcome.with(Findings::Kafka(view))
}

/// The broker id of the broker that advertises `host:port` in `view`, if one does.
/// How a node without a configured `broker_id` learns it.
pub fn advertised_id(view: &KafkaView, host: &str, port: u16) -> Option<i32> {
    view.brokers.iter().find(|b| b.port == i32::from(port) && same_host(&b.host, host)).map(|b| b.id)
}

fn same_host(advertised: &str, configured: &str) -> bool {
    let local = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "::1");
    advertised.eq_ignore_ascii_case(configured) || (local(advertised) && local(configured))
}

/// Metadata for every topic, DescribeCluster for fencing, and
/// `min.insync.replicas` of the topics whose ISR has shrunk.
async fn cluster_view(conn: &mut Connection) -> Result<KafkaView, Outcome> {
    let request = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
    let metadata = conn.send(&request, "Metadata").await.map_err(|e| Outcome::from_kafka(&e))?;
    let mut view = KafkaView {
        cluster_id: metadata.cluster_id.as_ref().map(|c| c.to_string()),
        controller_id: Some(metadata.controller_id.0).filter(|c| *c >= 0),
        brokers: metadata
            .brokers
            .iter()
            .map(|b| BrokerEntry { id: b.node_id.0, host: b.host.to_string(), port: b.port, fenced: None })
            .collect(),
        ..KafkaView::default()
    };
    if conn.supported(ApiKey::DescribeCluster).is_some_and(|(_, max)| max >= 2) {
        // Version 2 lists fenced brokers too (KRaft); older versions do not say.
        let request = DescribeClusterRequest::default().with_include_fenced_brokers(true);
        let cluster = conn.send(&request, "DescribeCluster").await.map_err(|e| Outcome::from_kafka(&e))?;
        if cluster.error_code == 0 {
            view.brokers = cluster
                .brokers
                .iter()
                .map(|b| BrokerEntry {
                    id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    fenced: Some(b.is_fenced),
                })
                .collect();
            view.controller_id = Some(cluster.controller_id.0).filter(|c| *c >= 0);
        }
    }
    view.brokers.sort_by_key(|b| b.id);

    // Partitions whose ISR is smaller than the replica set, with their ISR size.
    let mut shrunk: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for topic in &metadata.topics {
        let name = topic.name.as_ref().map_or_else(|| "?".to_string(), |n| n.0.to_string());
        for part in &topic.partitions {
            view.partitions += 1;
            let label = format!("{name}-{}", part.partition_index);
            if part.leader_id.0 < 0 {
                view.offline.push(label.clone());
            }
            if part.isr_nodes.len() < part.replica_nodes.len() {
                view.under_replicated.push(label.clone());
                shrunk.entry(name.clone()).or_default().push((label, part.isr_nodes.len()));
            }
        }
    }
    if !shrunk.is_empty() {
        let min_isr = super::standing::min_insync_replicas(conn, shrunk.keys()).await;
        for (topic, parts) in &shrunk {
            let min = min_isr.get(topic).copied().unwrap_or(1);
            view.under_min_isr.extend(parts.iter().filter(|(_, isr)| *isr < min).map(|(label, _)| label.clone()));
        }
    }
    Ok(view)
}
