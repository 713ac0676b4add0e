//! Leadership restored: a preferred-leader election (ElectLeaders,
//! PREFERRED) for the partitions a recovered broker should lead, so its
//! peers stop carrying its load without waiting for Kafka's own rebalance
//! (`leader.imbalance.check.interval.seconds`, 300 s by default).
//!
//! Owns: the one request, where it goes (the controller Metadata names; in
//! KRaft a broker that forwards it), and what each partition's answer means.
//! Must never: move a partition whose preferred leader is not the recovered
//! broker, or one it is not in sync for (the metadata picked them), or count
//! "election not needed" as a failure.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ElectLeadersRequest, TopicName, elect_leaders_request::TopicPartitions};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::{Connection, Security, Timeouts};

/// ElectLeaders' election type for the preferred replica.
const PREFERRED: i8 = 0;
/// The partition's preferred replica already leads it.
const ELECTION_NOT_NEEDED: i16 = kafka_protocol::error::ResponseError::ElectionNotNeeded.code();
/// How long the controller may take for the election.
const ELECTION_TIMEOUT_MS: i32 = 30_000;

/// What the election did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elected {
    /// `topic-partition` now led by their preferred leader.
    pub moved: Vec<String>,
    /// Already led by it when the controller looked.
    pub not_needed: Vec<String>,
    /// `topic-partition: error` the controller refused.
    pub failed: Vec<String>,
}

/// Asks the broker at `host:port` to elect the preferred leader of `partitions`.
/// `Err` when the request could not be made or was refused as a whole (an
/// ACL: it needs ALTER on the CLUSTER resource).
pub async fn elect_preferred(
    host: &str,
    port: u16,
    security: &Security,
    timeouts: Timeouts,
    partitions: &[(String, i32)],
) -> Result<Elected, String> {
    let mut grouped: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, p) in partitions {
        grouped.entry(topic).or_default().push(*p);
    }
    let topics = grouped
        .into_iter()
        .map(|(t, ps)| {
            TopicPartitions::default().with_topic(TopicName(StrBytes::from_string(t.to_string()))).with_partitions(ps)
        })
        .collect();
    let request = ElectLeadersRequest::default()
        .with_election_type(PREFERRED)
        .with_topic_partitions(Some(topics))
        .with_timeout_ms(ELECTION_TIMEOUT_MS);
    // The election itself may take the controller a while: wait for it.
    let timeouts = Timeouts {
        request: timeouts.request.max(std::time::Duration::from_millis(ELECTION_TIMEOUT_MS as u64)),
        ..timeouts
    };
    let mut conn = Connection::connect(host, port, security, timeouts).await.map_err(|e| e.to_string())?;
    let response = conn.send(&request, "ElectLeaders").await.map_err(|e| e.to_string())?;
    if response.error_code != 0 {
        return Err(format!("ElectLeaders refused: {}", error_name(response.error_code)));
    }
    let mut out = Elected::default();
    for topic in &response.replica_election_results {
        for p in &topic.partition_result {
            let label = format!("{}-{}", topic.topic.0, p.partition_id);
            match p.error_code {
                0 => out.moved.push(label),
                ELECTION_NOT_NEEDED => out.not_needed.push(label),
                code => {
                    let message = p.error_message.as_ref().map_or(String::new(), |m| format!(" ({m})"));
                    out.failed.push(format!("{label}: {}{message}", error_name(code)));
                }
            }
        }
    }
    Ok(out)
}

/// Kafka's name for an error code an election answers with.
fn error_name(code: i16) -> String {
    let name =
        kafka_protocol::error::ResponseError::try_from_code(code).map_or("NONE".to_string(), |e| format!("{e:?}"));
    if code == 31 {
        return format!("{name} (the healer's principal needs ALTER on the CLUSTER resource)");
    }
    name
}
