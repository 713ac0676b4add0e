//! Probes: ask a node whether it serves, over its own protocol.
//!
//! Owns: the built-in monitoring methods (`socket`, `kafka_api`,
//! `kafka_metadata`, `kafka_log_dirs`, `kraft_quorum`, `zookeeper`, `http`,
//! `command`, `jmx`), their time limits, the cluster's standing of one broker
//! as its peers' metadata has it (`standing`), and the
//! `Observation` each one produces — including the cluster-level findings a
//! probe learns on the way (controller, partitions, ZooKeeper mode, KRaft leader).
//! Must never: change the cluster (only read-only requests), decide that a node
//! has failed (that is `health`, from several observations), or treat a down
//! node as an error: a refused connection is an `Observation`, not an `Err`.

mod command;
mod external_probe;
mod http;
pub mod jmx;
mod kafka_api;
mod kafka_log_dirs;
mod kafka_metadata;
mod kraft_quorum;
pub mod setup;
mod socket;
pub mod standing;
mod zookeeper;

#[cfg(test)]
mod fuzz_tests;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::kafka::{KafkaError, Security, Timeouts};
use crate::plugin::{self, Kind};
use crate::topology::Node;

pub use kafka_metadata::advertised_id;

/// What one probe concluded about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    /// Serving, with a problem worth a look (a lagging voter, …).
    Degraded,
    /// The probe could not tell (wrong credentials, unsupported method, …): never counted as down.
    Unknown,
    /// Not serving.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unknown => "unknown",
            Status::Failed => "failed",
        }
    }
}

/// Why a probe did not find the node healthy; a small, bounded set (metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    ConnectionRefused,
    ConnectTimeout,
    /// Connected, but no answer in time: a hung or overloaded process.
    Timeout,
    ConnectionClosed,
    NetworkError,
    DnsFailure,
    ProtocolError,
    /// The broker is not in the cluster's metadata.
    NotRegistered,
    /// The broker is registered but fenced by the KRaft controller.
    Fenced,
    /// ZooKeeper answers but is not serving (no quorum, `ruok` ≠ `imok`).
    NotServing,
    /// No KRaft quorum leader.
    NoLeader,
    /// A voter or follower lags behind.
    Lagging,
    AuthenticationFailed,
    /// The TLS handshake failed: the listener answers, but trust could not be agreed.
    TlsFailed,
    Unsupported,
    ProbeError,
    /// A log directory is offline: a failed disk.
    LogDirOffline,
    /// A log directory's disk is nearly full.
    DiskFull,
    /// BrokerState says the broker is starting.
    Starting,
    /// BrokerState says the broker is replaying its logs after an unclean shutdown.
    LogRecovery,
    /// BrokerState says the broker is in (controlled) shutdown.
    ShuttingDown,
    /// The broker reports under-replicated partitions (JMX).
    UnderReplicated,
    /// The active controller reports offline partitions (JMX).
    OfflinePartitions,
    /// The request handlers are almost never idle.
    Overloaded,
    /// A `command` check said WARNING (exit 1).
    CheckWarning,
    /// A `command` check said CRITICAL (exit 2), or `http` got the wrong answer.
    CheckCritical,
    /// An external plugin hung, crashed, or answered something unusable.
    PluginError,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ConnectionRefused => "connection_refused",
            Cause::ConnectTimeout => "connect_timeout",
            Cause::Timeout => "timeout",
            Cause::ConnectionClosed => "connection_closed",
            Cause::NetworkError => "network_error",
            Cause::DnsFailure => "dns_failure",
            Cause::ProtocolError => "protocol_error",
            Cause::NotRegistered => "not_registered",
            Cause::Fenced => "fenced",
            Cause::NotServing => "not_serving",
            Cause::NoLeader => "no_leader",
            Cause::Lagging => "lagging",
            Cause::AuthenticationFailed => "authentication_failed",
            Cause::TlsFailed => "tls_failed",
            Cause::Unsupported => "unsupported",
            Cause::ProbeError => "probe_error",
            Cause::LogDirOffline => "log_dir_offline",
            Cause::DiskFull => "disk_full",
            Cause::Starting => "starting",
            Cause::PluginError => "plugin_error",
            Cause::LogRecovery => "log_recovery",
            Cause::ShuttingDown => "shutting_down",
            Cause::UnderReplicated => "under_replicated",
            Cause::OfflinePartitions => "offline_partitions",
            Cause::Overloaded => "overloaded",
            Cause::CheckWarning => "check_warning",
            Cause::CheckCritical => "check_critical",
        }
    }
}

/// The result of one probe of one node by one method.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub node: String,
    pub method: String,
    pub status: Status,
    pub cause: Option<Cause>,
    /// One line for people: what was seen.
    pub detail: String,
    #[serde(serialize_with = "serialize_secs")]
    pub latency: Duration,
    /// What the probe learnt about the cluster on the way.
    pub findings: Option<Findings>,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Cluster-level facts learnt by a probe.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Findings {
    Kafka(KafkaView),
    Zookeeper(ZookeeperView),
    Quorum(QuorumView),
}

/// The cluster as one broker's metadata describes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KafkaView {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: Vec<BrokerEntry>,
    pub partitions: usize,
    /// `topic-partition` without a leader.
    pub offline: Vec<String>,
    /// `topic-partition` whose ISR is smaller than its replica set.
    pub under_replicated: Vec<String>,
    /// `topic-partition` whose ISR is smaller than `min.insync.replicas`.
    pub under_min_isr: Vec<String>,
}

impl KafkaView {
    /// One line: controller, brokers and partition health.
    pub fn summary(&self) -> String {
        format!(
            "controller {}, {} brokers, {} partitions, {} offline, {} under-replicated, {} under min ISR",
            self.controller_id.map_or("none".to_string(), |c| c.to_string()),
            self.brokers.len(),
            self.partitions,
            self.offline.len(),
            self.under_replicated.len(),
            self.under_min_isr.len()
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokerEntry {
    pub id: i32,
    pub host: String,
    pub port: i32,
    /// KRaft only (DescribeCluster); `None` in ZooKeeper mode.
    pub fenced: Option<bool>,
}

/// One ZooKeeper server's own account (`srvr`, `mntr`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ZookeeperView {
    /// `leader`, `follower`, `standalone`, `observer`.
    pub mode: String,
    pub zxid: Option<String>,
    pub node_count: Option<u64>,
    /// Leader only (`mntr`).
    pub synced_followers: Option<u64>,
}

/// The KRaft metadata quorum as the answering node describes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuorumView {
    /// `None` when there is no leader.
    pub leader_id: Option<i32>,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    /// Voter id and how many records it is behind the high watermark.
    pub voters: Vec<(i32, i64)>,
    pub observers: Vec<(i32, i64)>,
}

/// Runs the built-in monitoring methods with the configured time limits.
#[derive(Debug, Clone)]
pub struct Prober {
    /// Time limit of one whole probe (`monitoring.timeout_seconds`).
    pub timeout: Duration,
    /// Time limit to connect (`monitoring.socket.connection_timeout`, at most `timeout`).
    pub connect_timeout: Duration,
    pub four_letter_words: Vec<String>,
    /// A voter further behind than this many records is `Lagging`.
    pub max_voter_lag: i64,
    pub http: crate::config::HttpProbeConfig,
    pub command: crate::config::CommandProbeConfig,
    /// TLS and SASL for every Kafka connection.
    pub security: Security,
    pub jmx: jmx::JmxSettings,
    /// Built-in switches and the external plugins found at start-up.
    pub plugins: std::sync::Arc<plugin::Registry>,
    http_client: reqwest::Client,
}

impl Prober {
    /// `plugins` is the registry the configuration was validated with (`Loaded::plugins`).
    pub fn from_config(config: &Config, security: Security, plugins: std::sync::Arc<plugin::Registry>) -> Self {
        let m = &config.monitoring;
        let timeout = m.timeout_seconds.duration();
        Prober {
            timeout,
            connect_timeout: m.socket.connection_timeout.duration().min(timeout),
            four_letter_words: m.zookeeper.four_letter_words.clone(),
            max_voter_lag: 10_000,
            http: m.http.clone(),
            command: m.command.clone(),
            security,
            jmx: jmx::JmxSettings::from_config(&m.jmx),
            plugins,
            // Health endpoints must answer themselves: no redirects followed.
            http_client: crate::http_client::build(|b| {
                b.redirect(reqwest::redirect::Policy::none()).connect_timeout(timeout)
            })
            .0,
        }
    }

    /// The cluster's metadata now, from the first of `peers` that answers
    /// (see `standing::fetch`).
    pub async fn cluster_metadata(&self, peers: &[Node], focus: Option<i32>) -> Option<standing::ClusterMetadata> {
        standing::fetch(self, peers, focus).await
    }

    /// The cluster's brokers and partition leaders, without the topics' minimums.
    pub async fn cluster_layout(&self, peers: &[Node]) -> Option<standing::ClusterMetadata> {
        standing::fetch_layout(self, peers).await
    }

    fn kafka_timeouts(&self) -> Timeouts {
        Timeouts { connect: self.connect_timeout, request: self.timeout }
    }

    /// Probes `node` with `method`; never fails, never takes longer than the time limit.
    pub async fn probe(&self, node: &Node, method: &str) -> Observation {
        let started = Instant::now();
        let builtin = plugin::builtin(Kind::Monitor, method);
        let external = match builtin {
            None => self.plugins.external(Kind::Monitor, method),
            Some(_) => None,
        };
        let name = builtin.map(|b| b.name).or(external.map(|e| e.name.as_str())).unwrap_or("unknown");
        let known = builtin.is_some() || self.plugins.discovered.find(Kind::Monitor, method).is_some();
        let disabled = known && !self.plugins.enabled(Kind::Monitor, method);
        let name = if disabled && external.is_none() && builtin.is_none() {
            self.plugins.discovered.find(Kind::Monitor, method).map_or(name, |e| e.name.as_str())
        } else {
            name
        };
        let work = async {
            if disabled {
                return Outcome::unknown(
                    Cause::Unsupported,
                    format!(
                        "monitoring plugin `{name}` is disabled (plugins.monitoring_plugins.{name}.enabled: false)"
                    ),
                );
            }
            if let Some(e) = external {
                let config = self.plugins.config_of(Kind::Monitor, &e.name);
                return external_probe::probe(e, node, &config, e.monitor_limit(self.timeout)).await;
            }
            match name {
                "socket" => socket::probe(self, node).await,
                "kafka_api" => kafka_api::probe(self, node).await,
                "kafka_metadata" => kafka_metadata::probe(self, node).await,
                "kafka_log_dirs" => kafka_log_dirs::probe(self, node).await,
                "kraft_quorum" => kraft_quorum::probe(self, node).await,
                "zookeeper" => zookeeper::probe(self, node).await,
                "http" => http::probe(self, node).await,
                "command" => command::probe(self, node).await,
                "jmx" => jmx::probe(self, node).await,
                _ => Outcome::unknown(
                    Cause::Unsupported,
                    format!("monitoring method `{method}` is not available in this version"),
                ),
            }
        };
        // Every connect and request inside has its own limit (`timeout`); a probe
        // makes at most four of them. This outer limit is only a safety net, so
        // a slow but working network (each answer within the limit) never fails.
        // A plugin is killed at its own limit: the node's timeout, or less if it asks.
        let budget = match external {
            Some(e) => e.monitor_limit(self.timeout) + Duration::from_secs(1),
            None => self.connect_timeout + self.timeout * 4,
        };
        let outcome = match (tokio::time::timeout(budget, work).await, external) {
            (Ok(outcome), _) => outcome,
            // A plugin that outlives its own limit says nothing about the node.
            (Err(_), Some(e)) => {
                Outcome::unknown(Cause::PluginError, format!("plugin `{}` did not finish within {budget:?}", e.name))
            }
            (Err(_), None) => Outcome::failed(Cause::Timeout, format!("the probe did not finish within {budget:?}")),
        };
        Observation {
            node: node.id.clone(),
            method: name.to_string(),
            status: outcome.status,
            cause: outcome.cause,
            detail: outcome.detail,
            latency: started.elapsed(),
            findings: outcome.findings,
        }
    }
}

/// What a method returns; `Prober::probe` adds node, method and latency.
struct Outcome {
    status: Status,
    cause: Option<Cause>,
    detail: String,
    findings: Option<Findings>,
}

impl Outcome {
    fn healthy(detail: impl Into<String>) -> Self {
        Outcome { status: Status::Healthy, cause: None, detail: detail.into(), findings: None }
    }
    fn degraded(cause: Cause, detail: impl Into<String>) -> Self {
        Outcome { status: Status::Degraded, cause: Some(cause), detail: detail.into(), findings: None }
    }
    fn failed(cause: Cause, detail: impl Into<String>) -> Self {
        Outcome { status: Status::Failed, cause: Some(cause), detail: detail.into(), findings: None }
    }
    fn unknown(cause: Cause, detail: impl Into<String>) -> Self {
        Outcome { status: Status::Unknown, cause: Some(cause), detail: detail.into(), findings: None }
    }
    fn with(mut self, findings: Findings) -> Self {
        self.findings = Some(findings);
        self
    }

    /// A Kafka request that failed: the node is down, hung, or speaks nonsense.
    fn from_kafka(e: &KafkaError) -> Self {
        let cause = match e {
            KafkaError::Resolve { .. } => Cause::DnsFailure,
            KafkaError::Connect { source, .. } => io_cause(source),
            KafkaError::ConnectTimeout { .. } => Cause::ConnectTimeout,
            KafkaError::Timeout { .. } => Cause::Timeout,
            KafkaError::Closed { .. } => Cause::ConnectionClosed,
            KafkaError::Io { source, .. } => io_cause(source),
            KafkaError::Protocol { .. } => Cause::ProtocolError,
            KafkaError::Unsupported { .. } => return Outcome::unknown(Cause::Unsupported, e.to_string()),
            KafkaError::Authentication { .. } => return Outcome::unknown(Cause::AuthenticationFailed, e.to_string()),
            KafkaError::Tls { .. } => return Outcome::unknown(Cause::TlsFailed, e.to_string()),
            KafkaError::Api { code: 58 | 33 | 34, .. } => {
                return Outcome::unknown(Cause::AuthenticationFailed, e.to_string());
            }
            KafkaError::Api { .. } => Cause::ProtocolError,
        };
        Outcome::failed(cause, e.to_string())
    }
}

fn io_cause(e: &std::io::Error) -> Cause {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => Cause::ConnectionRefused,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => Cause::ConnectionClosed,
        TimedOut => Cause::ConnectTimeout,
        _ => Cause::NetworkError,
    }
}
