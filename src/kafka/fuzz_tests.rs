//! Fuzzing the decoding of every response the client reads: random bytes,
//! and real encoded responses with bytes changed, cut short or grown, at
//! every version. Whatever a node (or something pretending to be one) sends,
//! the answer is an error, never a panic.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsResponse, BrokerId, DescribeClusterResponse, DescribeConfigsResponse, DescribeLogDirsResponse,
    DescribeQuorumResponse, MetadataResponse, ResponseHeader, SaslAuthenticateResponse, SaslHandshakeResponse,
    TopicName, describe_cluster_response::DescribeClusterBroker, metadata_response::MetadataResponseBroker,
    metadata_response::MetadataResponsePartition, metadata_response::MetadataResponseTopic,
};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use proptest::prelude::*;

use super::connection::decode;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2048)
}

/// A response with content in its arrays and strings, encoded at every version it has.
fn encoded<T: Encodable + Message>(value: &T) -> Vec<(i16, Vec<u8>)> {
    (T::VERSIONS.min..=T::VERSIONS.max)
        .filter_map(|v| {
            let mut buf = BytesMut::new();
            value.encode(&mut buf, v).ok().map(|_| (v, buf.to_vec()))
        })
        .collect()
}

fn metadata() -> MetadataResponse {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(2))
        .with_host(StrBytes::from_static_str("kafka-2.example.com"))
        .with_port(9092);
    let partition = MetadataResponsePartition::default()
        .with_leader_id(BrokerId(2))
        .with_replica_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
        .with_isr_nodes(vec![BrokerId(2), BrokerId(3)]);
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str("orders"))))
        .with_partitions(vec![partition.clone(), partition]);
    MetadataResponse::default().with_brokers(vec![broker.clone(), broker]).with_topics(vec![topic])
}

fn describe_cluster() -> DescribeClusterResponse {
    let broker = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(1))
        .with_host(StrBytes::from_static_str("kafka-1"))
        .with_port(9092)
        .with_is_fenced(true);
    DescribeClusterResponse::default().with_cluster_id(StrBytes::from_static_str("c-1")).with_brokers(vec![broker])
}

/// Decodes `bytes` as every response type at version `v` (and as a response header).
fn decode_all(bytes: &[u8], v: i16) {
    let b = || Bytes::copy_from_slice(bytes);
    let _ = decode::<ApiVersionsResponse>(b(), v);
    let _ = decode::<MetadataResponse>(b(), v);
    let _ = decode::<DescribeClusterResponse>(b(), v);
    let _ = decode::<DescribeConfigsResponse>(b(), v);
    let _ = decode::<DescribeLogDirsResponse>(b(), v);
    let _ = decode::<DescribeQuorumResponse>(b(), v);
    let _ = decode::<SaslHandshakeResponse>(b(), v);
    let _ = decode::<SaslAuthenticateResponse>(b(), v);
    for header in [0, 1] {
        let _ = ResponseHeader::decode(&mut b(), header);
    }
}

/// Real encodings of the responses the probes read, at every version.
fn seeds() -> Vec<(i16, Vec<u8>)> {
    let mut all = encoded(&metadata());
    all.extend(encoded(&describe_cluster()));
    all.extend(encoded(&ApiVersionsResponse::default()));
    all.extend(encoded(&DescribeQuorumResponse::default()));
    all.extend(encoded(&DescribeLogDirsResponse::default()));
    all
}

/// One change to an encoding: overwrite a byte, cut it short, or insert bytes.
#[derive(Debug, Clone)]
enum Change {
    Set(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Change::Set(at, b)),
        any::<usize>().prop_map(Change::Cut),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, b)| Change::Insert(at, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, changes: &[Change]) -> Vec<u8> {
    for c in changes {
        let len = bytes.len().max(1);
        match c {
            Change::Set(at, b) if !bytes.is_empty() => bytes[at % len] = *b,
            Change::Set(..) => {}
            Change::Cut(at) => bytes.truncate(at % len),
            Change::Insert(at, b) => {
                let at = (*at % len).min(bytes.len());
                bytes.splice(at..at, b.iter().copied());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256), v in 0i16..16) {
        decode_all(&bytes, v);
    }

    #[test]
    fn changed_real_responses_never_panic_the_decoder(
        seed in any::<proptest::sample::Index>(),
        changes in proptest::collection::vec(change(), 1..6),
    ) {
        let all = seeds();
        let (v, bytes) = &all[seed.index(all.len())];
        decode_all(&apply(bytes.clone(), &changes), *v);
    }
}

#[test]
fn a_response_that_claims_a_huge_array_is_an_error_not_an_allocation() {
    // Metadata v0: throttle time is absent; brokers: an i32 count of two billion.
    let claim = i32::MAX.to_be_bytes();
    let err = decode::<MetadataResponse>(Bytes::copy_from_slice(&claim), 0).unwrap_err();
    assert!(err.starts_with("cannot decode the response"), "{err}");
    // The same as a compact array (a varint), in a flexible version.
    let varint = [0xff, 0xff, 0xff, 0xff, 0x07];
    let mut body = vec![0, 0, 0, 0];
    body.extend(varint);
    assert!(decode::<MetadataResponse>(Bytes::from(body), 12).is_err());
}

/// End to end: something on a broker's port that answers the handshake with
/// a correctly framed response claiming billions of API versions. The client
/// says it is a protocol error; the process lives on.
#[tokio::test]
async fn a_peer_claiming_a_huge_array_is_a_protocol_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        loop {
            let Ok(size) = s.read_i32().await else { return };
            let mut request = vec![0u8; size as usize];
            if s.read_exact(&mut request).await.is_err() {
                return;
            }
            // Header: api key, api version, correlation id.
            let correlation = &request[4..8];
            let mut body = correlation.to_vec();
            body.extend([0, 0]); // error code
            body.extend([0xff, 0xff, 0xff, 0xff, 0x07]); // api_keys: a compact array of 2^32 - 2
            let mut frame = (body.len() as i32).to_be_bytes().to_vec();
            frame.extend(body);
            if s.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let timeouts = super::Timeouts { connect: Duration::from_secs(2), request: Duration::from_secs(2) };
    let err = match super::Connection::connect("127.0.0.1", port, &super::Security::plaintext(), timeouts).await {
        Ok(_) => panic!("a nonsense handshake was accepted"),
        Err(e) => e,
    };
    assert!(matches!(err, super::KafkaError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("cannot decode the response"), "{err}");
}
