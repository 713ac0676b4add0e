//! The rules between keys, after decoding: everything a type cannot say
//! alone and no component needs to be asked about.
//!
//! Owns: the located reporting every check uses ([`Checker`]), and the
//! configuration's own rules — node identities and addresses, retry bounds,
//! the `system` section. Each component checks its own section in its
//! `setup` module (plugins, monitoring, recovery, notifications, logging,
//! Kafka security); `crate::setup` runs them all.
//! Must never: stop at the first problem, change the configuration, or print
//! a secret's value.

use std::collections::HashMap;

use super::decode::{Ctx, Seconds};
use super::role::Role;
use super::schema::{Config, NodeConfig, RetryPolicyOverride};
use super::yaml::Mark;

/// The configuration's own rules; diagnostics go into `c.cx`.
pub fn check(c: &mut Checker) {
    c.cluster();
    c.retry_policy("recovery", &Policy::of_recovery(c.config));
    c.system();
}

/// Reports problems at the place they were written: every rule, in `config`
/// and in each component's setup, checks through one.
pub struct Checker<'c, 'a> {
    pub cx: &'c mut Ctx<'a>,
    pub config: &'c Config,
}

/// The effective retry policy of one place in the file, for bounds checks.
pub struct Policy {
    pub max_attempts: Option<u32>,
    pub initial: Option<Seconds>,
    pub multiplier: Option<f64>,
    pub max_delay: Option<Seconds>,
}

impl Policy {
    fn of_recovery(c: &Config) -> Self {
        let r = &c.recovery;
        Policy {
            max_attempts: Some(r.max_attempts),
            initial: Some(r.initial_delay_seconds),
            multiplier: Some(r.backoff_multiplier),
            max_delay: Some(r.max_delay_seconds),
        }
    }

    fn of_override(c: &Config, o: &RetryPolicyOverride) -> Self {
        let r = &c.recovery;
        Policy {
            max_attempts: o.max_attempts,
            initial: Some(o.initial_delay_seconds.unwrap_or(r.initial_delay_seconds)),
            multiplier: o.backoff_multiplier,
            max_delay: Some(o.max_delay_seconds.unwrap_or(r.max_delay_seconds)),
        }
    }
}

impl<'c> Checker<'c, '_> {
    /// Where `path` was written; falls back to the closest written parent.
    pub fn mark(&self, path: &str) -> Mark {
        let mut p = path;
        loop {
            if let Some(m) = self.cx.marks.get(p) {
                return *m;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return Mark { line: 1, col: 1 },
            }
        }
    }

    /// `path` is written in the file (not a default).
    pub fn written(&self, path: &str) -> bool {
        self.cx.marks.contains_key(path)
    }

    /// Reports a problem at `path`, unless decoding already reported one there.
    pub fn error(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        if self.cx.failed(path) {
            return;
        }
        let mark = self.mark(path);
        self.cx.error(mark, message, hint);
    }

    pub fn warning(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        let mark = self.mark(path);
        self.cx.warning(mark, message, hint);
    }

    /// Every configured node: its role, its index in its list, its settings.
    pub fn nodes(&self) -> Vec<(Role, usize, &'c NodeConfig)> {
        let c = &self.config.cluster;
        let lists = [
            (Role::KafkaBroker, &c.kafka_brokers),
            (Role::KraftController, &c.kraft_controllers),
            (Role::Zookeeper, &c.zookeeper_nodes),
        ];
        lists.into_iter().flat_map(|(role, list)| list.iter().enumerate().map(move |(i, n)| (role, i, n))).collect()
    }

    fn cluster(&mut self) {
        let config = self.config;
        let nodes = self.nodes();
        if nodes.is_empty() && self.cx.diagnostics.iter().all(|d| !d.message.contains("cluster.")) {
            self.error(
                "cluster",
                "the cluster has no nodes: `cluster.kafka_brokers`, `cluster.kraft_controllers` and `cluster.zookeeper_nodes` are all empty",
                "list at least one node, e.g. `kafka_brokers: [{node_id: kafka-1, host: kafka1.example.com, port: 9092}]`",
            );
        }
        let mut seen: HashMap<&str, Mark> = HashMap::new();
        for (role, i, node) in nodes {
            let base = format!("cluster.{}[{i}]", role.config_list());
            let id_path = format!("{base}.node_id");
            if self.written(&id_path) {
                if node.node_id.trim().is_empty() {
                    self.error(
                        &id_path,
                        "`node_id` must not be empty",
                        "give every node a unique name, e.g. `kafka-broker-1`",
                    );
                } else if let Some((at, bad)) = unsafe_id_char(&node.node_id) {
                    self.error(
                        &id_path,
                        format!(
                            "`node_id` {:?} has {bad:?} at character {at}: a node id may contain only letters, digits, `.`, `_` and `-` (at most {MAX_ID_LEN} characters)",
                            node.node_id
                        ),
                        "node ids appear in log lines, file names, metric labels and commands: use a name like `kafka-broker-1`",
                    );
                } else if let Some(first) = seen.get(node.node_id.as_str()) {
                    let line = first.line;
                    self.error(
                        &id_path,
                        format!("duplicate node_id `{}` (first used at line {line})", node.node_id),
                        "node ids must be unique across brokers, controllers and ZooKeeper nodes",
                    );
                } else {
                    seen.insert(&node.node_id, self.mark(&id_path));
                }
            }
            let host_path = format!("{base}.host");
            if self.written(&host_path) && node.host.trim().is_empty() {
                self.error(
                    &host_path,
                    format!("`{host_path}` must not be empty"),
                    "write the host name or IP address the daemon connects to",
                );
            } else if node.host.contains(char::is_whitespace) || node.host.contains("://") {
                self.error(
                    &host_path,
                    format!("`{host_path}` is not a host name: `{}`", node.host),
                    "write only the host name or address; the port goes in `port`",
                );
            }
            for (key, value) in [("port", node.port), ("jmx_port", node.jmx_port)] {
                if value == Some(0) {
                    self.error(
                        &format!("{base}.{key}"),
                        format!("`{base}.{key}` must be between 1 and 65535, found 0"),
                        "",
                    );
                }
            }
            if let Some(o) = node.retry_policy.as_ref().filter(|_| self.written(&format!("{base}.retry_policy"))) {
                let policy = Policy::of_override(config, o);
                self.retry_policy(&format!("{base}.retry_policy"), &policy);
            }
        }
    }

    pub fn retry_policy(&mut self, base: &str, p: &Policy) {
        if p.max_attempts == Some(0) {
            self.error(
                &format!("{base}.max_attempts"),
                format!("`{base}.max_attempts` must be at least 1, found 0"),
                "1 means a single attempt, then escalation",
            );
        }
        if let Some(m) = p.multiplier
            && m < 1.0
        {
            self.error(
                &format!("{base}.backoff_multiplier"),
                format!("`{base}.backoff_multiplier` must be at least 1.0, found {m}"),
                "below 1.0 the delays would shrink; 1.0 keeps them constant, 2.0 doubles them",
            );
        }
        if let (Some(initial), Some(max)) = (p.initial, p.max_delay)
            && max.0 < initial.0
        {
            let at = if self.written(&format!("{base}.max_delay_seconds")) {
                "max_delay_seconds"
            } else {
                "initial_delay_seconds"
            };
            self.error(
                &format!("{base}.{at}"),
                format!("`{base}.max_delay_seconds` ({}) is smaller than `initial_delay_seconds` ({})", max, initial),
                "the longest delay must be at least the first one",
            );
        }
    }

    /// Reports an unreadable file; true when it can be read.
    pub fn readable_file(&mut self, path: &str, file: &str) -> bool {
        if let Err(e) = std::fs::File::open(file) {
            self.error(
                path,
                format!("cannot read `{file}`: {e}"),
                "check the path and that the daemon's user may read it",
            );
            return false;
        }
        true
    }

    fn system(&mut self) {
        let config = self.config;
        let s = &config.system;
        if s.max_concurrent_operations == 0 {
            self.error(
                "system.max_concurrent_operations",
                "`system.max_concurrent_operations` must be at least 1, found 0",
                "",
            );
        }
        for (path, value) in [
            ("system.cpu_limit_percent", s.cpu_limit_percent),
            ("system.self_monitoring.cpu_threshold_percent", s.self_monitoring.cpu_threshold_percent),
            ("system.self_monitoring.disk_threshold_percent", s.self_monitoring.disk_threshold_percent),
        ] {
            if !(value > 0.0 && value <= 100.0) {
                self.error(path, format!("`{path}` must be a percentage between 0 and 100, found {value}"), "");
            }
        }
        if s.metrics.port == 0 {
            self.error("system.metrics.port", "`system.metrics.port` must be between 1 and 65535, found 0", "");
        }
        if s.metrics.bind_address.parse::<std::net::IpAddr>().is_err() {
            self.error(
                "system.metrics.bind_address",
                format!("`system.metrics.bind_address` is not an IP address: `{}`", s.metrics.bind_address),
                "write `0.0.0.0` (every interface), `127.0.0.1` (this host only) or one of the host's addresses",
            );
        }
        if ["/", "/health", "/ready"].contains(&s.metrics.endpoint.as_str()) || s.metrics.endpoint.starts_with("/api/")
        {
            self.error(
                "system.metrics.endpoint",
                format!(
                    "`system.metrics.endpoint` `{}` is taken by the status page, health or API",
                    s.metrics.endpoint
                ),
                "keep the default `/metrics`",
            );
        }
        if !s.metrics.endpoint.starts_with('/') {
            self.error(
                "system.metrics.endpoint",
                format!("`system.metrics.endpoint` must start with `/`, found `{}`", s.metrics.endpoint),
                "",
            );
        }
        if s.state_dir.trim().is_empty() {
            self.error("system.state_dir", "`system.state_dir` must not be empty", "");
        }
    }
}

pub fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// The longest node id accepted.
pub const MAX_ID_LEN: usize = 128;

/// The first character of `id` outside `[A-Za-z0-9._-]` (1-based position), or
/// the character past [`MAX_ID_LEN`].
pub fn unsafe_id_char(id: &str) -> Option<(usize, char)> {
    id.chars()
        .enumerate()
        .find(|(i, c)| *i >= MAX_ID_LEN || !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .map(|(i, c)| (i + 1, c))
}

pub fn is_email(address: &str) -> bool {
    let address = address.trim();
    // "Name <a@b>" is accepted as well as a bare address.
    let bare = match (address.find('<'), address.rfind('>')) {
        (Some(l), Some(r)) if l < r => &address[l + 1..r],
        _ => address,
    };
    match bare.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !bare.contains(char::is_whitespace) && !domain.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(is_email("ops@example.com"));
        assert!(is_email("Kafka Ops <ops@example.com>"));
        assert!(!is_email("ops.example.com"));
        assert!(!is_email("a b@c"));
    }
}
