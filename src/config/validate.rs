//! Checks between values, after decoding: everything a type cannot say alone.
//!
//! Owns: the semantic rules of the configuration (unique node ids, retry
//! bounds, known method and action names, TLS files present, ...). Every rule
//! runs; every problem is reported at the place it was written.
//! Must never: stop at the first problem, change the configuration, or print
//! a secret's value.

use std::collections::HashMap;

use super::decode::{Ctx, Seconds, suggest};
use super::schema::{Config, NodeConfig, RetryPolicyOverride};
use super::yaml::Mark;
use crate::kafka::Security;
use crate::plugin::{self, Kind};
use crate::topology::Role;

/// Runs every rule; diagnostics go into `cx`. Returns the Kafka connection
/// security the rules found usable (plaintext when there were errors), and the
/// plugin registry (discovery reads the plugin directories here, once).
pub fn validate(config: &Config, cx: &mut Ctx) -> (Security, plugin::Registry) {
    let plugins = plugin::Registry::load(config);
    let mut v = Validator { cx, config, plugins: &plugins };
    v.plugins();
    v.cluster();
    v.retry_policy("recovery", &Policy::of_recovery(config));
    v.monitoring();
    v.recovery();
    v.notifications();
    v.logging();
    let security = v.security();
    v.system();
    (security, plugins)
}

struct Validator<'c, 'a> {
    cx: &'c mut Ctx<'a>,
    config: &'c Config,
    /// Built-ins and the external plugins discovery found.
    plugins: &'c plugin::Registry,
}

/// The effective retry policy of one place in the file, for bounds checks.
struct Policy {
    max_attempts: Option<u32>,
    initial: Option<Seconds>,
    multiplier: Option<f64>,
    max_delay: Option<Seconds>,
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

impl<'c> Validator<'c, '_> {
    /// Where `path` was written; falls back to the closest written parent.
    fn mark(&self, path: &str) -> Mark {
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

    fn written(&self, path: &str) -> bool {
        self.cx.marks.contains_key(path)
    }

    /// Reports a problem at `path`, unless decoding already reported one there.
    fn error(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        if self.cx.failed(path) {
            return;
        }
        let mark = self.mark(path);
        self.cx.error(mark, message, hint);
    }

    fn warning(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        let mark = self.mark(path);
        self.cx.warning(mark, message, hint);
    }

    fn nodes(&self) -> Vec<(Role, usize, &'c NodeConfig)> {
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
            // Lists filled in from the global ones are checked there, once.
            if let Some(methods) =
                node.monitoring_methods.as_ref().filter(|_| self.written(&format!("{base}.monitoring_methods")))
            {
                self.names(Kind::Monitor, &format!("{base}.monitoring_methods"), methods, Some(role));
            }
            if let Some(actions) =
                node.recovery_actions.as_ref().filter(|_| self.written(&format!("{base}.recovery_actions")))
            {
                self.names(Kind::Action, &format!("{base}.recovery_actions"), actions, Some(role));
            }
            if let Some(o) = node.retry_policy.as_ref().filter(|_| self.written(&format!("{base}.retry_policy"))) {
                let policy = Policy::of_override(config, o);
                self.retry_policy(&format!("{base}.retry_policy"), &policy);
            }
        }
    }

    fn retry_policy(&mut self, base: &str, p: &Policy) {
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

    /// Checks method or action names against the registry, configured plugins and plugin directories.
    fn names(&mut self, kind: Kind, path: &str, names: &[String], role: Option<Role>) {
        for (i, name) in names.iter().enumerate() {
            let item = format!("{path}[{i}]");
            let known = plugin::builtin(kind, name).is_some() || self.plugins.discovered.find(kind, name).is_some();
            if known && !self.plugins.enabled(kind, name) {
                self.warning(
                    &item,
                    format!("{} plugin `{name}` is disabled under `plugins`; it is not run", kind.noun()),
                    "",
                );
            }
            if let Some(b) = plugin::builtin(kind, name) {
                if let Some(role) = role
                    && !b.roles.contains(&role)
                {
                    self.error(
                        &item,
                        format!("{} `{name}` cannot be used on a {} node", kind.noun(), role.as_str()),
                        format!(
                            "`{}` applies to: {}",
                            b.name,
                            b.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
                continue;
            }
            if known {
                continue;
            }
            if let Some(e) = self.plugins.discovered.error_of(name) {
                self.error(
                    &item,
                    format!("{} plugin `{name}` could not be loaded: {}", kind.noun(), e.error),
                    format!("fix {} (see `kafka-self-healing plugins list`)", e.path.display()),
                );
                continue;
            }
            let known = plugin::known_names(kind);
            let hint = match suggest(name, &known) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "known {}s: {}; an external plugin must be listed under `plugins` or be an executable in `plugins.discovery.directories`",
                    kind.noun(),
                    known.join(", ")
                ),
            };
            self.error(&item, format!("unknown {} `{name}`", kind.noun()), hint);
        }
    }

    /// Plugins that failed to load (the rest of the system runs without them),
    /// and plugins listed under `plugins` that exist nowhere.
    fn plugins(&mut self) {
        let registry = self.plugins;
        for e in &registry.discovered.errors {
            self.warning(
                "plugins.discovery.directories",
                format!("plugin {} is not loaded: {}", e.path.display(), e.error),
                "the daemon runs without it; `kafka-self-healing plugins list` shows every plugin",
            );
        }
        // A monitor never runs longer than its node's probes may take.
        let node_timeout = self.config.monitoring.timeout_seconds.duration();
        for e in registry.discovered.plugins.iter().filter(|e| e.kind == Kind::Monitor && e.timeout_asked) {
            if e.timeout > node_timeout {
                self.warning(
                    "monitoring.timeout_seconds",
                    format!(
                        "monitoring plugin `{}` asks for {}s (`timeout_seconds` in its manifest), more than \
                         `monitoring.timeout_seconds` ({}s): it is killed after {}s",
                        e.name,
                        e.timeout.as_secs_f64(),
                        node_timeout.as_secs_f64(),
                        node_timeout.as_secs_f64()
                    ),
                    "raise `monitoring.timeout_seconds`, or lower the manifest's `timeout_seconds`",
                );
            }
        }
        let p = &self.config.plugins;
        for (kind, section, map) in [
            (Kind::Monitor, "monitoring_plugins", &p.monitoring_plugins),
            (Kind::Action, "recovery_plugins", &p.recovery_plugins),
            (Kind::Notifier, "notification_plugins", &p.notification_plugins),
        ] {
            for name in map.keys() {
                let known = plugin::builtin(kind, name).is_some()
                    || registry.discovered.find(kind, name).is_some()
                    || registry.not_loaded.iter().any(|e| e.kind == kind && e.name == *name)
                    || registry.discovered.error_of(name).is_some();
                if !known {
                    self.warning(
                        &format!("plugins.{section}.{name}"),
                        format!(
                            "no {} plugin `{name}`: not a built-in, and not found in plugins.discovery.directories",
                            kind.noun()
                        ),
                        "check the name, or install the plugin's executable in a plugin directory",
                    );
                }
            }
        }
    }

    fn monitoring(&mut self) {
        let config = self.config;
        let m = &config.monitoring;
        self.names(Kind::Monitor, "monitoring.methods", &m.methods.clone(), None);
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
            let at = if self.written(&own) { own } else { "monitoring.methods".to_string() };
            let names: Vec<&str> = blind.iter().map(|(_, id)| *id).collect();
            self.warning(
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
                self.error(&format!("monitoring.{key}"), format!("`monitoring.{key}` must be at least 1, found 0"), "");
            }
        }
        if !(m.isolation_fraction > 0.0 && m.isolation_fraction <= 1.0) {
            self.error(
                "monitoring.isolation_fraction",
                format!(
                    "`monitoring.isolation_fraction` must be above 0 and at most 1, found {}",
                    m.isolation_fraction
                ),
                "1.0 (the default) means every node must be unreachable",
            );
        } else if m.isolation_fraction < 0.5 {
            self.warning(
                "monitoring.isolation_fraction",
                format!("`monitoring.isolation_fraction` {} is below one half: a real outage of half the cluster would be called isolation", m.isolation_fraction),
                "",
            );
        }
        if m.timeout_seconds.0 > m.interval_seconds.0 {
            self.warning(
                "monitoring.timeout_seconds",
                format!(
                    "`monitoring.timeout_seconds` ({}) is longer than `monitoring.interval_seconds` ({}): a hung node delays the next round",
                    m.timeout_seconds, m.interval_seconds
                ),
                "keep the timeout below the interval",
            );
        }
        for (i, period) in m.blackout_periods.iter().enumerate() {
            let base = format!("monitoring.blackout_periods[{i}]");
            for (key, value) in [("start_time", &period.start_time), ("end_time", &period.end_time)] {
                let path = format!("{base}.{key}");
                if self.written(&path) && parse_hh_mm(value).is_none() {
                    self.error(
                        &path,
                        format!("`{path}` must be a time as HH:MM (24-hour), found `{value}`"),
                        "e.g. \"02:00\" (quote it: YAML reads 02:00 as a number in some parsers)",
                    );
                }
            }
            for (j, day) in period.days.iter().enumerate() {
                if weekday(day).is_none() {
                    self.error(
                        &format!("{base}.days[{j}]"),
                        format!("`{day}` is not a day of the week"),
                        "write mon, tue, wed, thu, fri, sat or sun",
                    );
                }
            }
            if !matches!(period.timezone.to_ascii_lowercase().as_str(), "utc" | "local") {
                self.error(
                    &format!("{base}.timezone"),
                    format!("unknown timezone `{}`", period.timezone),
                    "write `utc` or `local`",
                );
            }
        }
        // Read-only words only: monitors never change anything (`crst` and `srst`
        // reset statistics, `stmk` sets the trace mask, `kill` stopped old servers).
        const WORDS: &[&str] = &[
            "ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "isro", "dirs", "dump", "reqs", "wchc",
            "wchp",
        ];
        const CHANGING: &[&str] = &["crst", "srst", "stmk", "kill"];
        for (i, word) in m.zookeeper.four_letter_words.iter().enumerate() {
            if CHANGING.contains(&word.as_str()) {
                self.error(
                    &format!("monitoring.zookeeper.four_letter_words[{i}]"),
                    format!(
                        "`{word}` changes the ZooKeeper server (it resets statistics or settings); monitors only read"
                    ),
                    format!("remove `{word}`; read-only words: {}", WORDS.join(", ")),
                );
            } else if !WORDS.contains(&word.as_str()) {
                let hint = suggest(word, WORDS)
                    .map_or_else(|| format!("known words: {}", WORDS.join(", ")), |s| format!("did you mean `{s}`?"));
                self.error(
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
            self.error(
                &at,
                "the `http` method is used but `monitoring.http.url` is not set",
                "e.g. `http: {url: \"http://{host}:8080/health\"}`",
            );
        }
        if let Some(at) = used("command").filter(|_| m.command.command.is_none()) {
            self.error(
                &at,
                "the `command` method is used but `monitoring.command.command` is not set",
                "e.g. `command: {command: \"/usr/lib/nagios/plugins/check_tcp -H {host} -p {port}\"}`",
            );
        }
        if let Some(url) = &m.http.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            self.error("monitoring.http.url", format!("`{url}` is not an http:// or https:// URL"), "");
        }
        let jmx = &m.jmx;
        if !crate::monitor::jmx::TRANSPORTS.contains(&jmx.transport.as_str()) {
            self.error(
                "monitoring.jmx.transport",
                format!("unknown JMX transport `{}`", jmx.transport),
                "write `rmi` (JMX/RMI on `jmx_port`), `jolokia` or `prometheus`",
            );
        }
        for (i, entry) in jmx.metrics_to_check.iter().enumerate() {
            if let Err(e) = crate::monitor::jmx::parse_check(entry) {
                self.error(
                    &format!("monitoring.jmx.metrics_to_check[{i}]"),
                    e,
                    "write `MBEAN[::ATTRIBUTE] [OP NUMBER]`, e.g. `kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions > 0`",
                );
            }
        }
        if let Some(url) = &jmx.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            self.error("monitoring.jmx.url", format!("`{url}` is not an http:// or https:// URL"), "");
        }
        let jmx_used = used("jmx").or_else(|| used("jmx_monitoring"));
        let needs_port = match jmx.transport.as_str() {
            "rmi" => true,
            _ => jmx.url.as_deref().is_none_or(|u| u.contains("{jmx_port}")),
        };
        if jmx_used.is_some() && needs_port {
            for (role, n, node) in self.nodes() {
                let uses = node
                    .monitoring_methods
                    .as_ref()
                    .is_some_and(|ms| ms.iter().any(|x| x == "jmx" || x == "jmx_monitoring"));
                if uses && node.jmx_port.is_none() {
                    let base = format!("cluster.{}[{n}]", role.config_list());
                    self.error(
                        &base,
                        format!("node `{}` is watched with `jmx` but has no `jmx_port`", node.node_id),
                        "add `jmx_port:` (the JMX/RMI port, or the agent's HTTP port for jolokia/prometheus)",
                    );
                }
            }
        }
        if let Some(at) = jmx_used.filter(|_| jmx.transport == "rmi") {
            match crate::monitor::jmx::find_jar(jmx.bridge_jar.as_deref()) {
                Some(jar) if jmx.bridge_jar.is_some() => {
                    self.readable_file("monitoring.jmx.bridge_jar", &jar.display().to_string());
                }
                Some(_) => {}
                None => self.error(
                    &at,
                    "`jmx` over JMX/RMI needs the bridge jar, and none was found",
                    "build it with `jmx-bridge/build.sh /usr/share/kafka-self-healing/jmx-bridge.jar`, or set `monitoring.jmx.bridge_jar`",
                ),
            }
        }
        if jmx.authentication && jmx.username.is_none() && self.cx.env("JMX_USERNAME").is_none() {
            self.error(
                "monitoring.jmx.authentication",
                "JMX authentication is on but no user is given",
                "set `monitoring.jmx.username` or export JMX_USERNAME (and JMX_PASSWORD)",
            );
        }
    }

    fn recovery(&mut self) {
        let config = self.config;
        let r = &config.recovery;
        self.names(Kind::Action, "recovery.actions", &r.actions.clone(), None);
        if r.actions.is_empty() {
            self.warning(
                "recovery.actions",
                "`recovery.actions` is empty: failures are escalated without any repair attempt",
                "",
            );
        }
        let manager = r.restart_service.service_manager.as_str();
        if !matches!(manager, "systemctl" | "service") {
            self.error(
                "recovery.restart_service.service_manager",
                format!("unknown service manager `{manager}`"),
                "write `systemctl` or `service`",
            );
        }
        let types = &r.node_types;
        for role in Role::ALL {
            let (key, t) = (role.as_str(), types.of(role));
            let base = format!("recovery.node_types.{key}");
            if !self.written(&base) {
                continue;
            }
            if let Some(actions) = &t.actions {
                self.names(Kind::Action, &format!("{base}.actions"), &actions.clone(), None);
            }
            let policy = Policy {
                max_attempts: t.max_attempts,
                initial: Some(t.initial_delay_seconds.unwrap_or(r.initial_delay_seconds)),
                multiplier: t.backoff_multiplier,
                max_delay: Some(t.max_delay_seconds.unwrap_or(r.max_delay_seconds)),
            };
            self.retry_policy(&base, &policy);
        }
        if r.max_parallel == 0 {
            self.error("recovery.max_parallel", "`recovery.max_parallel` must be at least 1, found 0", "");
        }
        if !(r.max_failed_fraction > 0.0 && r.max_failed_fraction <= 1.0) {
            self.error(
                "recovery.max_failed_fraction",
                format!(
                    "`recovery.max_failed_fraction` must be above 0 and at most 1, found {}",
                    r.max_failed_fraction
                ),
                "0.4 (the default): more than 40 % of the nodes down at once stops every action",
            );
        }
        if r.max_actions_per_hour == 0 {
            self.warning(
                "recovery.max_actions_per_hour",
                "`recovery.max_actions_per_hour` is 0: no action will ever run",
                "",
            );
        }
        if r.recovery_validation.timeout_seconds.0 <= 0.0 {
            self.error(
                "recovery.recovery_validation.timeout_seconds",
                "`recovery.recovery_validation.timeout_seconds` must be above 0",
                "give the node time to start: e.g. 180",
            );
        }
        // An action in a ladder must have the settings it needs.
        let mut ladders: Vec<(String, &String)> =
            r.actions.iter().enumerate().map(|(i, a)| (format!("recovery.actions[{i}]"), a)).collect();
        for role in Role::ALL {
            let (key, t) = (role.as_str(), r.node_types.of(role));
            for (i, a) in t.actions.iter().flatten().enumerate() {
                ladders.push((format!("recovery.node_types.{key}.actions[{i}]"), a));
            }
        }
        for (role, n, node) in self.nodes() {
            if self.written(&format!("cluster.{}[{n}].recovery_actions", role.config_list())) {
                for (i, a) in node.recovery_actions.iter().flatten().enumerate() {
                    ladders.push((format!("cluster.{}[{n}].recovery_actions[{i}]", role.config_list()), a));
                }
            }
        }
        for (at, action) in ladders {
            let name = plugin::builtin(Kind::Action, action).map(|b| b.name);
            let missing = match name {
                Some("ssh") if r.ssh.command.is_none() => {
                    Some(("recovery.ssh.command", "e.g. `ssh: {command: \"sudo systemctl restart kafka\"}`"))
                }
                Some("http") if r.http.url.is_none() => {
                    Some(("recovery.http.url", "e.g. `http: {url: \"https://orchestrator/restart/{node_id}\"}`"))
                }
                Some("kubectl_exec") if r.kubernetes.exec_command.is_empty() => {
                    Some(("recovery.kubernetes.exec_command", "e.g. `exec_command: [kill, \"1\"]`"))
                }
                Some("scale_statefulset") if r.kubernetes.statefulset.is_none() => {
                    Some(("recovery.kubernetes.statefulset", "the StatefulSet's name"))
                }
                Some("salt") if r.salt.function == "state.apply" && r.salt.state.is_none() => {
                    Some(("recovery.salt.state", "the state to apply"))
                }
                _ => None,
            };
            if let Some((key, hint)) = missing {
                self.error(&at, format!("the `{action}` action is used but `{key}` is not set"), hint);
            }
        }
        if !matches!(r.salt.function.as_str(), "service.restart" | "state.apply") {
            self.error(
                "recovery.salt.function",
                format!("unknown salt function `{}`", r.salt.function),
                "write `service.restart` or `state.apply`",
            );
        }
        if !matches!(r.restart_container.runtime.as_str(), "docker" | "podman") {
            self.error(
                "recovery.restart_container.runtime",
                format!("unknown container runtime `{}`", r.restart_container.runtime),
                "write `docker` or `podman`",
            );
        }
        // A `script` or `ansible` step needs its file for each node type that uses it:
        // said now, not when an incident first reaches that step.
        let mut checked: Vec<(&str, Role)> = Vec::new();
        for (role, _, node) in self.nodes() {
            for action in node.recovery_actions.iter().flatten() {
                let (key, dir, map, ext) = match plugin::builtin(Kind::Action, action).map(|b| b.name) {
                    Some("script") => ("script", &r.script.script_directory, &r.script.scripts, "sh"),
                    Some("ansible") => ("ansible", &r.ansible.playbook_directory, &r.ansible.playbooks, "yml"),
                    _ => continue,
                };
                if checked.contains(&(key, role)) {
                    continue;
                }
                checked.push((key, role));
                let dir_key = if key == "script" { "script_directory" } else { "playbook_directory" };
                let at = format!("recovery.{key}.{dir_key}");
                let at = if self.written(&at) { at } else { "recovery.actions".to_string() };
                match crate::recovery::actions::per_role_file(dir, map, role, ext) {
                    Err(missing) => self.warning(
                        &at,
                        format!(
                            "the `{action}` step has nothing to run for {} nodes such as `{}`: {missing}",
                            role.as_str(),
                            node.node_id
                        ),
                        format!(
                            "create it (or `default.{ext}`) in `recovery.{key}.{dir_key}`, or name it in `recovery.{key}.{}`; until then an incident fails at this step",
                            if key == "script" { "scripts" } else { "playbooks" }
                        ),
                    ),
                    Ok(path) if key == "script" && !is_executable(&path) => self.warning(
                        &at,
                        format!("{} is not executable: the `script` step would fail", path.display()),
                        format!("chmod +x {}", path.display()),
                    ),
                    Ok(_) => {}
                }
            }
        }
        for (section, map) in [("ansible.playbooks", &r.ansible.playbooks), ("script.scripts", &r.script.scripts)] {
            for key in map.keys() {
                if !matches!(key.as_str(), "kafka_broker" | "kraft_controller" | "zookeeper" | "default") {
                    self.error(
                        &format!("recovery.{section}.{key}"),
                        format!("`{key}` is not a node type"),
                        "write kafka_broker, kraft_controller, zookeeper or default",
                    );
                }
            }
        }
    }

    fn notifications(&mut self) {
        let config = self.config;
        let n = &config.notifications;
        let channels = crate::notify::channels::configured(config, self.plugins);
        if channels.is_empty() {
            self.warning(
                "notifications",
                "no notification channel is configured: escalations will only be logged",
                "configure `notifications.smtp` (or another channel) so people hear about failures",
            );
        }
        const TRIGGERS: &[&str] = &[
            "on_failure_detected",
            "on_recovery_failure",
            "on_recovery_success",
            "on_max_retries_exceeded",
            "on_isolation",
            "on_system_error",
        ];
        for (channel, routing) in &channels {
            for (i, t) in routing.triggers.iter().enumerate() {
                if !TRIGGERS.contains(&t.as_str()) {
                    self.error(
                        &format!("notifications.{channel}.routing.triggers[{i}]"),
                        format!(
                            "`{t}` is not a trigger{}",
                            suggest(t, TRIGGERS).map_or(String::new(), |s| format!("; did you mean `{s}`?"))
                        ),
                        format!("one of: {}", TRIGGERS.join(", ")),
                    );
                }
            }
            for (i, t) in routing.node_types.iter().enumerate() {
                if !matches!(t.as_str(), "kafka_broker" | "kraft_controller" | "zookeeper") {
                    self.error(
                        &format!("notifications.{channel}.routing.node_types[{i}]"),
                        format!("`{t}` is not a node type"),
                        "write kafka_broker, kraft_controller or zookeeper",
                    );
                }
            }
        }
        for (key, url) in [
            ("webhook.url", n.webhook.as_ref().map(|w| w.url.as_str())),
            ("pagerduty.events_url", n.pagerduty.as_ref().map(|p| p.events_url.as_str())),
            ("alertmanager.url", n.alertmanager.as_ref().map(|a| a.url.as_str())),
            ("slack.webhook_url", n.slack.as_ref().map(|s| s.webhook_url.expose())),
            ("teams.webhook_url", n.teams.as_ref().map(|t| t.webhook_url.expose())),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                // The value may be a secret: name the key, not the value.
                self.error(
                    &format!("notifications.{key}"),
                    format!("`notifications.{key}` is not an http:// or https:// URL"),
                    "",
                );
            }
        }
        for trigger in [
            "on_failure_detected",
            "on_recovery_failure",
            "on_recovery_success",
            "on_max_retries_exceeded",
            "on_isolation",
        ] {
            let Some(t) = crate::notify::compose::template_of(config, trigger) else { continue };
            for (part, template) in [("subject", &t.subject), ("body", &t.body)] {
                if let Some(template) = template
                    && let Err(e) = crate::notify::compose::render(template, &crate::notify::compose::sample_context())
                {
                    self.error(
                        &format!("notifications.templates.{trigger}.{part}"),
                        format!("the template does not render: {e}"),
                        "variables: cluster, trigger, node, node_type, incident_id, cause, evidence, failed_at, outcome, reason, cluster_state, next, default_subject, default_body, attempts (n, action, command, exit_code, result, output, started_at)",
                    );
                }
            }
        }
        let d = &n.delivery;
        if d.max_backoff_seconds.0 < d.initial_backoff_seconds.0 {
            self.error(
                "notifications.delivery.max_backoff_seconds",
                "`max_backoff_seconds` is smaller than `initial_backoff_seconds`",
                "",
            );
        }
        let Some(smtp) = &n.smtp else { return };
        if smtp.use_tls && smtp.use_ssl {
            self.error(
                "notifications.smtp.use_ssl",
                "`use_tls` (STARTTLS) and `use_ssl` (implicit TLS) cannot both be true",
                "port 587 usually means `use_tls: true`, port 465 `use_ssl: true` with `use_tls: false`",
            );
        }
        if smtp.username.is_some() && smtp.password.is_some() && !smtp.use_tls && !smtp.use_ssl {
            let at = if self.written("notifications.smtp.username") {
                "notifications.smtp.username"
            } else {
                "notifications.smtp.password"
            };
            self.warning(
                at,
                "a username and password are set but the connection is not encrypted (`use_tls` and `use_ssl` are \
                 false): most servers offer no login without TLS, and the password would cross the network in the clear",
                "set `use_tls: true` (STARTTLS, usually port 587) or `use_ssl: true` (usually port 465), or remove \
                 `username`/`password` if the server needs no login; `kafka-self-healing notify-test` tries it",
            );
        }
        if self.written("notifications.smtp.host") && smtp.host.trim().is_empty() {
            self.error("notifications.smtp.host", "`notifications.smtp.host` must not be empty", "");
        }
        if smtp.port == 0 {
            self.error("notifications.smtp.port", "`notifications.smtp.port` must be between 1 and 65535, found 0", "");
        }
        if let Some(ca) = &smtp.ca_file {
            self.readable_file("notifications.smtp.ca_file", ca);
        }
        if smtp.to_emails.is_empty() {
            self.error(
                "notifications.smtp.to_emails",
                "`notifications.smtp.to_emails` is empty: nobody would receive the email",
                "list at least one address, e.g. `to_emails: [kafka-ops@example.com]`",
            );
        }
        let mut addresses = vec![("from_email".to_string(), smtp.from_email.clone())];
        for (key, list) in
            [("to_emails", &smtp.to_emails), ("cc_emails", &smtp.cc_emails), ("bcc_emails", &smtp.bcc_emails)]
        {
            addresses.extend(list.iter().enumerate().map(|(i, a)| (format!("{key}[{i}]"), a.clone())));
        }
        for (key, address) in addresses {
            if !is_email(&address) {
                self.error(
                    &format!("notifications.smtp.{key}"),
                    format!("`{address}` is not an email address"),
                    "write name@domain",
                );
            }
        }
    }

    fn logging(&mut self) {
        let config = self.config;
        let l = &config.logging;
        if crate::logging::level_filter(&l.level).is_none() {
            self.error(
                "logging.level",
                format!("unknown log level `{}`", l.level),
                "write TRACE, DEBUG, INFO, WARNING or ERROR",
            );
        }
        match l.format.as_str() {
            "text" | "json" => {}
            f if f.contains("%(") => self.warning(
                "logging.format",
                "a Python logging format string is not used by this implementation; lines are written in the `text` format",
                "write `format: text` or `format: json` to silence this warning",
            ),
            other => self.error("logging.format", format!("unknown log format `{other}`"), "write `text` or `json`"),
        }
        if l.audit.include_sensitive_data {
            self.warning(
                "logging.audit.include_sensitive_data",
                "`include_sensitive_data: true` is ignored: secrets are never written to the audit log",
                "",
            );
        }
    }

    /// Checks `security` and returns the settings Kafka connections will use.
    fn security(&mut self) -> Security {
        let config = self.config;
        let s = &config.security;
        if s.credentials.storage_method != "environment" {
            self.error(
                "security.credentials.storage_method",
                format!("unknown credentials storage method `{}`", s.credentials.storage_method),
                "only `environment` is supported: put secrets in environment variables (e.g. systemd EnvironmentFile=)",
            );
        }
        if s.credentials.encryption_key_file.is_some() {
            self.warning(
                "security.credentials.encryption_key_file",
                "`encryption_key_file` is not used by this implementation",
                "",
            );
        }
        let ssl = &s.ssl;
        let mut usable = true;
        if ssl.enabled {
            for (key, value) in [
                ("keystore_path", &ssl.keystore_path),
                ("truststore_path", &ssl.truststore_path),
                ("ca_file", &ssl.ca_file),
                ("cert_file", &ssl.cert_file),
                ("key_file", &ssl.key_file),
            ] {
                if let Some(file) = value {
                    usable &= self.readable_file(&format!("security.ssl.{key}"), file);
                }
            }
            if ssl.cert_file.is_some() != ssl.key_file.is_some() {
                usable = false;
                self.error(
                    "security.ssl",
                    "`cert_file` and `key_file` go together",
                    "give both (PEM client certificate and its key), or neither",
                );
            }
        }
        if !(ssl.enabled || s.sasl.enabled) {
            return Security::plaintext();
        }
        let cx = &*self.cx;
        let problems = Security::problems(s, &|name| cx.env(name));
        usable &= problems.is_empty();
        for e in problems {
            self.security_error(e);
        }
        if !usable {
            return Security::plaintext();
        }
        // Build the real TLS and SASL settings: wrong passwords, unreadable
        // stores and unset variables are found now, not at the first probe.
        let cx = &*self.cx;
        match Security::from_config(s, &|name| cx.env(name)) {
            Ok(security) => security,
            Err(e) => {
                self.security_error(e);
                Security::plaintext()
            }
        }
    }

    /// Reports at the key if written, else at the section's `enabled: true`.
    fn security_error(&mut self, e: crate::kafka::SecurityError) {
        let section = if e.key.starts_with("security.sasl") { "security.sasl" } else { "security.ssl" };
        let at = if self.written(&e.key) { e.key.clone() } else { format!("{section}.enabled") };
        self.error(&at, e.message, e.hint);
    }

    /// Reports an unreadable file; true when it can be read.
    fn readable_file(&mut self, path: &str, file: &str) -> bool {
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
        if s.metrics.format != "prometheus" {
            self.error(
                "system.metrics.format",
                format!("unknown metrics format `{}`", s.metrics.format),
                "write `prometheus`",
            );
        }
        if s.state_dir.trim().is_empty() {
            self.error("system.state_dir", "`system.state_dir` must not be empty", "");
        }
    }
}

fn is_executable(path: &std::path::Path) -> bool {
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

pub(crate) fn parse_hh_mm(text: &str) -> Option<(u32, u32)> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() <= 5).then_some((h, m))
}

pub(crate) fn weekday(day: &str) -> Option<usize> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let lower = day.to_ascii_lowercase();
    DAYS.iter().position(|d| {
        lower.len() >= 3
            && lower.starts_with(d)
            && (lower.len() == 3 || format!("{d}day").starts_with(&lower) || lower.ends_with("day"))
    })
}

fn is_email(address: &str) -> bool {
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
    fn times_days_and_addresses() {
        assert_eq!(parse_hh_mm("02:00"), Some((2, 0)));
        assert_eq!(parse_hh_mm("23:59"), Some((23, 59)));
        assert_eq!(parse_hh_mm("24:00"), None);
        assert_eq!(parse_hh_mm("7"), None);
        assert_eq!(weekday("sun"), Some(6));
        assert_eq!(weekday("Sunday"), Some(6));
        assert_eq!(weekday("wednesday"), Some(2));
        assert_eq!(weekday("funday"), None);
        assert!(is_email("ops@example.com"));
        assert!(is_email("Kafka Ops <ops@example.com>"));
        assert!(!is_email("ops.example.com"));
        assert!(!is_email("a b@c"));
    }
}
