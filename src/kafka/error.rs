use std::time::Duration;

/// Why a request to a Kafka node did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("connect to {addr}: no answer within {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    #[error("{api}: no answer within {after:?}")]
    Timeout { api: &'static str, after: Duration },
    #[error("{api}: the node closed the connection")]
    Closed { api: &'static str },
    #[error("{api}: {source}")]
    Io { api: &'static str, source: std::io::Error },
    #[error("{api}: protocol error: {detail}")]
    Protocol { api: &'static str, detail: String },
    #[error("{api}: no common version (we speak {ours}, the node {theirs})")]
    Unsupported { api: &'static str, ours: String, theirs: String },
    #[error("TLS with {addr}: {detail}")]
    Tls { addr: String, detail: String },
    #[error("SASL {mechanism} authentication failed: {detail}")]
    Authentication { mechanism: &'static str, detail: String },
    #[error("{api}: error code {code} ({name})")]
    Api { api: &'static str, code: i16, name: &'static str },
}

impl KafkaError {
    /// The node actively refused the connection: nothing listens on the port.
    pub fn is_refused(&self) -> bool {
        matches!(self, KafkaError::Connect { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused)
    }
}

/// Names of the Kafka error codes a probe may meet.
pub fn error_name(code: i16) -> &'static str {
    match code {
        0 => "NONE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        8 => "BROKER_NOT_AVAILABLE",
        14 => "COORDINATOR_LOAD_IN_PROGRESS",
        15 => "COORDINATOR_NOT_AVAILABLE",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        31 => "CLUSTER_AUTHORIZATION_FAILED",
        33 => "UNSUPPORTED_SASL_MECHANISM",
        34 => "ILLEGAL_SASL_STATE",
        35 => "UNSUPPORTED_VERSION",
        41 => "NOT_CONTROLLER",
        56 => "KAFKA_STORAGE_ERROR",
        58 => "SASL_AUTHENTICATION_FAILED",
        -1 => "UNKNOWN_SERVER_ERROR",
        _ => "UNKNOWN",
    }
}
