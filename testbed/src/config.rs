//! A kafka-self-healing `cluster:` section for running test beds.

use super::cluster::{Cluster, NodeKind};

/// The `cluster:` section of a configuration that watches every node of
/// `clusters` on 127.0.0.1; each node id gets its cluster's prefix.
///
/// KRaft nodes that are broker and controller at once appear twice: as a
/// broker on the client port and as a controller (`<name>-controller`) on the
/// controller port, as an operator would list them.
pub fn cluster_section(name: &str, clusters: &[(&str, &Cluster)]) -> String {
    let (mut brokers, mut controllers, mut zookeepers) = (String::new(), String::new(), String::new());
    for (prefix, cluster) in clusters {
        for n in cluster.nodes() {
            let id = format!("{prefix}{}", n.name);
            match n.kind {
                NodeKind::Broker | NodeKind::Combined => {
                    brokers +=
                        &format!("    - {{node_id: {id}, host: 127.0.0.1, port: {}, broker_id: {}}}\n", n.port, n.id);
                }
                NodeKind::Zookeeper => {
                    let admin = n.admin_port.map_or(String::new(), |p| format!(", admin_port: {p}"));
                    zookeepers += &format!("    - {{node_id: {id}, host: 127.0.0.1, port: {}{admin}}}\n", n.port);
                }
                NodeKind::Controller => {}
            }
            if let (NodeKind::Controller | NodeKind::Combined, Some(port)) = (n.kind, n.controller_port) {
                let id = if n.kind == NodeKind::Combined { format!("{id}-controller") } else { id };
                controllers +=
                    &format!("    - {{node_id: {id}, host: 127.0.0.1, port: {port}, broker_id: {}}}\n", n.id);
            }
        }
    }
    section(name, &brokers, &controllers, &zookeepers)
}

/// A `cluster:` section from the three lists' entry lines (empty lists left out).
pub(crate) fn section(name: &str, brokers: &str, controllers: &str, zookeepers: &str) -> String {
    let list = |key: &str, body: &str| if body.is_empty() { String::new() } else { format!("  {key}:\n{body}") };
    format!(
        "cluster:\n  name: {name}\n{}{}{}",
        list("kafka_brokers", brokers),
        list("kraft_controllers", controllers),
        list("zookeeper_nodes", zookeepers)
    )
}

/// A TCP port nobody listens on right now, on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A `system:` line putting the daemon's HTTP server on a free port of
/// 127.0.0.1, so daemons started side by side never collide on 8080.
pub fn http_line() -> String {
    format!("  metrics: {{port: {}, bind_address: 127.0.0.1}}\n", free_port())
}
