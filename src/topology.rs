//! The nodes the daemon watches, as plain data.
//!
//! Owns: node roles and identities shared by every other module.
//! Must never: do I/O or hold runtime state.

use serde::Serialize;

pub use crate::config::Role;

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
    /// ZooKeeper AdminServer port.
    pub admin_port: Option<u16>,
    /// Monitoring methods, already resolved (node list, global list or role defaults).
    pub methods: Vec<String>,
    /// The node is configured by the daemon's own host name (see
    /// [`mark_this_host`]): its failure says nothing about the daemon's network.
    pub on_this_host: bool,
}

/// Marks the nodes whose host `is_this_host` says is the daemon's own.
pub fn mark_this_host(nodes: &mut [Node], is_this_host: impl Fn(&str) -> bool) {
    for n in nodes {
        n.on_this_host = is_this_host(&n.host);
    }
}

impl Node {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Fills `{node_id}`, `{host}`, `{port}`, `{node_type}`, `{broker_id}` and
    /// `{jmx_port}` in `template`; with `shell`, each value is single-quoted
    /// for `sh -c` so a value can never become shell syntax.
    pub fn fill(&self, template: &str, shell: bool) -> String {
        let opt = |v: Option<String>| v.unwrap_or_default();
        let values = [
            ("{node_id}", self.id.clone()),
            ("{host}", self.host.clone()),
            ("{port}", self.port.to_string()),
            ("{node_type}", self.role.as_str().to_string()),
            ("{broker_id}", opt(self.broker_id.map(|b| b.to_string()))),
            ("{jmx_port}", opt(self.jmx_port.map(|p| p.to_string()))),
        ];
        let mut out = template.to_string();
        for (key, value) in values {
            let value = if shell { format!("'{}'", value.replace('\'', "'\\''")) } else { value };
            out = out.replace(key, &value);
        }
        out
    }

    /// The environment scripts see: `KAFKA_NODE_ID`, `KAFKA_HOST`, `KAFKA_PORT`,
    /// `KAFKA_NODE_TYPE` (and `KAFKA_BROKER_ID` when known).
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("KAFKA_NODE_ID", self.id.clone()),
            ("KAFKA_HOST", self.host.clone()),
            ("KAFKA_PORT", self.port.to_string()),
            ("KAFKA_NODE_TYPE", self.role.as_str().to_string()),
        ];
        if let Some(id) = self.broker_id {
            env.push(("KAFKA_BROKER_ID", id.to_string()));
        }
        env
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
            admin_port: n.admin_port,
            methods: by_priority(
                config,
                n.monitoring_methods
                    .clone()
                    .unwrap_or_else(|| role.default_methods().iter().map(|m| m.to_string()).collect()),
            ),
            on_this_host: false,
        })
        .collect()
}

/// Monitoring methods in `plugins.monitoring_plugins` priority order (lower
/// first; the written order among equals).
fn by_priority(config: &crate::config::Config, mut methods: Vec<String>) -> Vec<String> {
    use crate::plugin::{self, DEFAULT_PRIORITY, Kind};
    let canonical = |name: &str| plugin::builtin(Kind::Monitor, name).map_or(name.to_string(), |b| b.name.to_string());
    let priority = |m: &String| {
        let wanted = canonical(m);
        config
            .plugins
            .monitoring_plugins
            .iter()
            .find(|(k, _)| canonical(k) == wanted)
            .map_or(DEFAULT_PRIORITY, |(_, e)| e.priority)
    };
    methods.sort_by_key(priority);
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_quoted_for_the_shell() {
        let node = Node {
            id: "kafka-1".into(),
            role: Role::KafkaBroker,
            host: "it's.example".into(),
            port: 9092,
            broker_id: Some(1),
            jmx_port: None,
            admin_port: None,
            methods: vec![],
            on_this_host: false,
        };
        assert_eq!(
            node.fill("{host}:{port} {node_type}/{broker_id}/{jmx_port}", false),
            "it's.example:9092 kafka_broker/1/"
        );
        assert_eq!(node.fill("check -H {host}", true), "check -H 'it'\\''s.example'");
    }
}
