//! The nodes the daemon watches, as plain data.
//!
//! Owns: node roles and identities shared by every other module.
//! Must never: do I/O or hold runtime state.

use std::fmt;

use serde::Serialize;

/// What a node is in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    KafkaBroker,
    KraftController,
    Zookeeper,
}

impl Role {
    /// The name used in config (`recovery.script.scripts`), audit records and env (`KAFKA_NODE_TYPE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::KafkaBroker => "kafka_broker",
            Role::KraftController => "kraft_controller",
            Role::Zookeeper => "zookeeper",
        }
    }

    /// The port a node of this role listens on when the config does not say.
    pub fn default_port(self) -> u16 {
        match self {
            Role::KafkaBroker => 9092,
            Role::KraftController => 9093,
            Role::Zookeeper => 2181,
        }
    }

    /// The monitoring methods used when neither the node nor `monitoring.methods` names any.
    pub fn default_methods(self) -> &'static [&'static str] {
        match self {
            Role::KafkaBroker => &["kafka_api", "kafka_metadata"],
            Role::KraftController => &["kraft_quorum"],
            Role::Zookeeper => &["zookeeper"],
        }
    }

    /// The config list that holds nodes of this role.
    pub fn config_list(self) -> &'static str {
        match self {
            Role::KafkaBroker => "kafka_brokers",
            Role::KraftController => "kraft_controllers",
            Role::Zookeeper => "zookeeper_nodes",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node as the daemon watches it: identity, address and the methods that probe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub id: String,
    pub role: Role,
    pub host: String,
    pub port: u16,
    /// Kafka's broker.id / node.id, when configured.
    pub broker_id: Option<i32>,
    pub jmx_port: Option<u16>,
    /// Monitoring methods, already resolved (node list, global list or role defaults).
    pub methods: Vec<String>,
}

impl Node {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Every node of the configuration, brokers first.
pub fn nodes(config: &crate::config::Config) -> Vec<Node> {
    config
        .cluster
        .nodes()
        .map(|(role, n)| Node {
            id: n.node_id.clone(),
            role,
            host: n.host.clone(),
            port: n.port_or(role),
            broker_id: n.broker_id,
            jmx_port: n.jmx_port,
            methods: n
                .monitoring_methods
                .clone()
                .unwrap_or_else(|| role.default_methods().iter().map(|m| m.to_string()).collect()),
        })
        .collect()
}
