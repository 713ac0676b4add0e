//! A thin async Kafka protocol client for probes.
//!
//! Owns: one TCP connection to one node, request framing, correlation ids,
//! ApiVersions negotiation (Kafka 4 removed old versions, KIP-896: we always
//! negotiate), TLS and SASL (PLAIN, SCRAM), per-request timeouts, and
//! classifying what went wrong.
//! Must never: retry behind the caller's back (a probe must see every failure),
//! send anything that changes the cluster, or log request contents.
//! Messages are encoded and decoded by the `kafka-protocol` crate.

mod connection;
mod error;
mod scram;
mod security;
pub mod setup;

pub use connection::{Connection, Timeouts};
pub use error::{KafkaError, error_name};
pub use security::{Mechanism, Security, SecurityError};

#[cfg(test)]
mod fuzz_tests;
