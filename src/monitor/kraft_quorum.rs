//! `kraft_quorum`: DescribeQuorum — the KRaft leader, its epoch, and each voter's lag.

use kafka_protocol::messages::{DescribeQuorumRequest, TopicName, describe_quorum_request};
use kafka_protocol::protocol::StrBytes;

use super::{Cause, Findings, Outcome, Prober, QuorumView};
use crate::kafka::Connection;
use crate::kafka::KafkaError;
use crate::topology::Node;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let mut conn = match Connection::connect(&node.host, node.port, &p.security, p.kafka_timeouts()).await {
        Ok(c) => c,
        Err(e) => return Outcome::from_kafka(&e),
    };
    let request = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![describe_quorum_request::PartitionData::default().with_partition_index(0)]),
    ]);
    let response = match conn.send(&request, "DescribeQuorum").await {
        Ok(r) => r,
        Err(e @ KafkaError::Unsupported { .. }) => {
            return Outcome::unknown(Cause::Unsupported, format!("{e}: is this a KRaft node?"));
        }
        Err(e) => return Outcome::from_kafka(&e),
    };
    let partition = response.topics.first().and_then(|t| t.partitions.first());
    let Some(partition) = partition.filter(|_| response.error_code == 0) else {
        let code = partition.map_or(response.error_code, |p| p.error_code);
        return Outcome::failed(Cause::ProtocolError, format!("DescribeQuorum answered error code {code}"));
    };
    // Only the active controller describes the quorum; a follower answers
    // NOT_LEADER_OR_FOLLOWER with the leader it knows. It serves: that is healthy.
    if partition.error_code == 6 {
        let view = QuorumView {
            leader_id: Some(partition.leader_id.0).filter(|l| *l >= 0),
            leader_epoch: partition.leader_epoch,
            ..QuorumView::default()
        };
        let outcome = match view.leader_id {
            Some(leader) => Outcome::healthy(format!("follower of leader {leader}, epoch {}", view.leader_epoch)),
            None => {
                Outcome::failed(Cause::NoLeader, format!("follower that knows no leader (epoch {})", view.leader_epoch))
            }
        };
        return outcome.with(Findings::Quorum(view));
    }
    if partition.error_code != 0 {
        return Outcome::failed(
            Cause::ProtocolError,
            format!("DescribeQuorum answered error code {}", partition.error_code),
        );
    }
    let hw = partition.high_watermark;
    let lag = |leo: i64| (hw - leo).max(0);
    let view = QuorumView {
        leader_id: Some(partition.leader_id.0).filter(|l| *l >= 0),
        leader_epoch: partition.leader_epoch,
        high_watermark: hw,
        voters: partition.current_voters.iter().map(|v| (v.replica_id.0, lag(v.log_end_offset))).collect(),
        observers: partition.observers.iter().map(|v| (v.replica_id.0, lag(v.log_end_offset))).collect(),
    };
    let outcome = match view.leader_id {
        None => {
            Outcome::failed(Cause::NoLeader, format!("the metadata quorum has no leader (epoch {})", view.leader_epoch))
        }
        Some(leader) => {
            let lagging: Vec<String> = view
                .voters
                .iter()
                .filter(|(_, l)| *l > p.max_voter_lag)
                .map(|(id, l)| format!("voter {id} is {l} records behind"))
                .collect();
            let mine = node.broker_id.and_then(|id| view.voters.iter().find(|(v, _)| *v == id));
            let detail = format!("leader {leader}, epoch {}, {} voters", view.leader_epoch, view.voters.len());
            match mine {
                Some((_, l)) if *l > p.max_voter_lag => {
                    Outcome::degraded(Cause::Lagging, format!("{detail}; this voter is {l} records behind"))
                }
                _ if !lagging.is_empty() => Outcome::healthy(format!("{detail}; {}", lagging.join(", "))),
                _ => Outcome::healthy(detail),
            }
        }
    };
    outcome.with(Findings::Quorum(view))
}
