//! `kafka_api`: the node speaks the Kafka protocol (connect + ApiVersions).

use super::{Outcome, Prober};
use crate::kafka::Connection;
use crate::topology::Node;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    match Connection::connect(&node.host, node.port, &p.security, p.kafka_timeouts()).await {
        Ok(conn) => Outcome::healthy(format!("ApiVersions answered ({} APIs)", conn.api_count())),
        Err(e) => Outcome::from_kafka(&e),
    }
}
