//! The `monitoring` section, checked by the component that runs it.
//!
//! Owns: the monitoring rules — known method names, thresholds, the
//! isolation fraction, read-only ZooKeeper words, the
//! settings each used method needs (HTTP URL, command, JMX transport, checks,
//! ports and the bridge jar).
//! Must never: probe anything, or stop at the first problem.

use crate::config::JmxTransport;
use crate::config::decode::suggest;
use crate::config::validate::Checker;
use crate::plugin::setup::names;
use crate::plugin::{Kind, Registry};

pub fn check(c: &mut Checker, plugins: &Registry) {
    let config = c.config;
    let m = &config.monitoring;
    names(c, plugins, Kind::Monitor, "monitoring.methods", &m.methods.clone(), None);
    // Only the `zookeeper` method asks a member its mode; without it the
    // ensemble's quorum and leader are unknown.
    let blind: Vec<(usize, &str)> = config
        .cluster
        .zookeeper_nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.monitoring_methods.iter().flatten().any(|x| x == "zookeeper"))
        .map(|(i, n)| (i, n.node_id.as_str()))
        .collect();
    if let Some((i, _)) = blind.first() {
        let own = format!("cluster.zookeeper_nodes[{i}].monitoring_methods");
        let at = if c.written(&own) { own } else { "monitoring.methods".to_string() };
        let names: Vec<&str> = blind.iter().map(|(_, id)| *id).collect();
        c.warning(
            &at,
            format!(
                "ZooKeeper node(s) {} are watched without the `zookeeper` method: their mode is not asked, so the quorum and its leader are shown as unknown",
                names.join(", ")
            ),
            "add `zookeeper` to the methods (e.g. `methods: [socket, zookeeper]`); it sends read-only four-letter words",
        );
    }
    for (key, value) in [("failure_threshold", m.failure_threshold), ("recovery_threshold", m.recovery_threshold)] {
        if value == 0 {
            c.error(&format!("monitoring.{key}"), format!("`monitoring.{key}` must be at least 1, found 0"), "");
        }
    }
    if !(m.isolation_fraction > 0.0 && m.isolation_fraction <= 1.0) {
        c.error(
            "monitoring.isolation_fraction",
            format!("`monitoring.isolation_fraction` must be above 0 and at most 1, found {}", m.isolation_fraction),
            "1.0 (the default) means every node must be unreachable",
        );
    } else if m.isolation_fraction < 0.5 {
        c.warning(
            "monitoring.isolation_fraction",
            format!("`monitoring.isolation_fraction` {} is below one half: a real outage of half the cluster would be called isolation", m.isolation_fraction),
            "",
        );
    }
    if m.timeout_seconds.0 > m.interval_seconds.0 {
        c.warning(
            "monitoring.timeout_seconds",
            format!(
                "`monitoring.timeout_seconds` ({}) is longer than `monitoring.interval_seconds` ({}): a hung node delays the next round",
                m.timeout_seconds, m.interval_seconds
            ),
            "keep the timeout below the interval",
        );
    }
    // Read-only words only: monitors never change anything (`crst` and `srst`
    // reset statistics, `stmk` sets the trace mask, `kill` stopped old servers).
    const WORDS: &[&str] = &[
        "ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "isro", "dirs", "dump", "reqs", "wchc", "wchp",
    ];
    const CHANGING: &[&str] = &["crst", "srst", "stmk", "kill"];
    for (i, word) in m.zookeeper.four_letter_words.iter().enumerate() {
        if CHANGING.contains(&word.as_str()) {
            c.error(
                &format!("monitoring.zookeeper.four_letter_words[{i}]"),
                format!("`{word}` changes the ZooKeeper server (it resets statistics or settings); monitors only read"),
                format!("remove `{word}`; read-only words: {}", WORDS.join(", ")),
            );
        } else if !WORDS.contains(&word.as_str()) {
            let hint = suggest(word, WORDS)
                .map_or_else(|| format!("known words: {}", WORDS.join(", ")), |s| format!("did you mean `{s}`?"));
            c.error(
                &format!("monitoring.zookeeper.four_letter_words[{i}]"),
                format!("`{word}` is not a ZooKeeper four-letter word"),
                hint,
            );
        }
    }
    // A method that needs settings of its own must have them.
    // Where `name` is first listed, in `monitoring.methods` or a node's list.
    let used = |name: &str| -> Option<String> {
        if let Some(i) = m.methods.iter().position(|x| x == name) {
            return Some(format!("monitoring.methods[{i}]"));
        }
        let c = &config.cluster;
        let lists = [
            ("kafka_brokers", &c.kafka_brokers),
            ("kraft_controllers", &c.kraft_controllers),
            ("zookeeper_nodes", &c.zookeeper_nodes),
        ];
        lists.iter().find_map(|(list, nodes)| {
            nodes.iter().enumerate().find_map(|(n, node)| {
                let i = node.monitoring_methods.as_ref()?.iter().position(|x| x == name)?;
                Some(format!("cluster.{list}[{n}].monitoring_methods[{i}]"))
            })
        })
    };
    if let Some(at) = used("http").filter(|_| m.http.url.is_none()) {
        c.error(
            &at,
            "the `http` method is used but `monitoring.http.url` is not set",
            "e.g. `http: {url: \"http://{host}:8080/health\"}`",
        );
    }
    if let Some(at) = used("command").filter(|_| m.command.command.is_none()) {
        c.error(
            &at,
            "the `command` method is used but `monitoring.command.command` is not set",
            "e.g. `command: {command: \"/usr/lib/nagios/plugins/check_tcp -H {host} -p {port}\"}`",
        );
    }
    if let Some(url) = &m.http.url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        c.error("monitoring.http.url", format!("`{url}` is not an http:// or https:// URL"), "");
    }
    let jmx = &m.jmx;
    for (i, entry) in jmx.metrics_to_check.iter().enumerate() {
        if let Err(e) = crate::monitor::jmx::parse_check(entry) {
            c.error(
                &format!("monitoring.jmx.metrics_to_check[{i}]"),
                e,
                "write `MBEAN[::ATTRIBUTE] [OP NUMBER]`, e.g. `kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions > 0`",
            );
        }
    }
    if let Some(url) = &jmx.url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        c.error("monitoring.jmx.url", format!("`{url}` is not an http:// or https:// URL"), "");
    }
    // Only where a node will use it: `monitoring.methods` may list `jmx` for
    // ZooKeeper nodes, where it does not apply and is left out of their list.
    let node_uses_jmx = config.cluster.nodes().any(|(_, node)| {
        node.monitoring_methods.as_ref().is_some_and(|ms| ms.iter().any(|x| x == "jmx" || x == "jmx_monitoring"))
    });
    let jmx_used = used("jmx").or_else(|| used("jmx_monitoring")).filter(|_| node_uses_jmx);
    let needs_port = match jmx.transport {
        JmxTransport::Rmi => true,
        JmxTransport::Jolokia | JmxTransport::Prometheus => jmx.url.as_deref().is_none_or(|u| u.contains("{jmx_port}")),
    };
    if jmx_used.is_some() && needs_port {
        for (role, n, node) in c.nodes() {
            let uses = node
                .monitoring_methods
                .as_ref()
                .is_some_and(|ms| ms.iter().any(|x| x == "jmx" || x == "jmx_monitoring"));
            if uses && node.jmx_port.is_none() {
                let base = format!("cluster.{}[{n}]", role.config_list());
                c.error(
                    &base,
                    format!("node `{}` is watched with `jmx` but has no `jmx_port`", node.node_id),
                    "add `jmx_port:` (the JMX/RMI port, or the agent's HTTP port for jolokia/prometheus)",
                );
            }
        }
    }
    if let Some(at) = jmx_used.filter(|_| jmx.transport == JmxTransport::Rmi) {
        match crate::monitor::jmx::find_jar(jmx.bridge_jar.as_deref()) {
            Some(jar) if jmx.bridge_jar.is_some() => {
                c.readable_file("monitoring.jmx.bridge_jar", &jar.display().to_string());
            }
            Some(_) => {}
            None => c.error(
                &at,
                "`jmx` over JMX/RMI needs the bridge jar, and none was found",
                "build it with `jmx-bridge/build.sh /usr/share/kafka-self-healing/jmx-bridge.jar`, or set `monitoring.jmx.bridge_jar`",
            ),
        }
    }
    if jmx.authentication && jmx.username.is_none() && c.cx.env("JMX_USERNAME").is_none() {
        c.error(
            "monitoring.jmx.authentication",
            "JMX authentication is on but no user is given",
            "set `monitoring.jmx.username` or export JMX_USERNAME (and JMX_PASSWORD)",
        );
    }
}
