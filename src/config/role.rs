//! The roles a node can have, as the configuration names them.

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
    /// Every role, in the order the configuration lists them.
    pub const ALL: [Role; 3] = [Role::KafkaBroker, Role::KraftController, Role::Zookeeper];

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

impl Role {
    /// The role `text` names (`kafka_broker`, `kraft_controller`, `zookeeper`).
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(text))
    }
}

impl super::decode::Decode for Role {
    fn decode(node: &super::yaml::Node, cx: &mut super::decode::Ctx) -> Option<Self> {
        let text = <String as super::decode::Decode>::decode(node, cx)?;
        let role = Role::parse(&text);
        if role.is_none() {
            cx.error(
                node.mark,
                format!("`{text}` is not a node type"),
                "write kafka_broker, kraft_controller or zookeeper",
            );
        }
        role
    }
}
