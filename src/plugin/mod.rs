//! The registry of monitors, recovery actions and notifiers, by config name.
//!
//! Owns: which names exist, what kind each is, which node roles a monitor or
//! action applies to, and the runbook's plugin names that map onto built-ins.
//! Must never: run anything itself. The built-ins live in `monitor/`,
//! `recovery/` and `notify/`; external plugins are found and spoken to by
//! `external`.

pub mod external;
pub mod setup;

use serde::Serialize;

use crate::config::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Monitor,
    Action,
    Notifier,
}

impl Kind {
    /// The plugin directory (and manifest `kind`) of this kind.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Monitor => "monitoring",
            Kind::Action => "recovery",
            Kind::Notifier => "notification",
        }
    }

    /// A manifest's `kind`.
    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::Monitor, Kind::Action, Kind::Notifier].into_iter().find(|k| k.dir() == text)
    }

    pub fn noun(self) -> &'static str {
        match self {
            Kind::Monitor => "monitoring method",
            Kind::Action => "recovery action",
            Kind::Notifier => "notification channel",
        }
    }
}

/// A built-in plugin: its config name and where it applies.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    pub roles: &'static [Role],
    pub summary: &'static str,
}

const ALL: &[Role] = &[Role::KafkaBroker, Role::KraftController, Role::Zookeeper];
const KAFKA: &[Role] = &[Role::KafkaBroker, Role::KraftController];
const BROKER: &[Role] = &[Role::KafkaBroker];

const fn monitor(name: &'static str, roles: &'static [Role], summary: &'static str) -> Builtin {
    Builtin { name, kind: Kind::Monitor, roles, summary }
}
const fn action(name: &'static str, summary: &'static str) -> Builtin {
    Builtin { name, kind: Kind::Action, roles: ALL, summary }
}
const fn notifier(name: &'static str, summary: &'static str) -> Builtin {
    Builtin { name, kind: Kind::Notifier, roles: ALL, summary }
}

/// Every built-in, in the order they are listed to operators.
pub const BUILTINS: &[Builtin] = &[
    monitor("socket", ALL, "TCP connect to the node's port"),
    monitor("kafka_api", KAFKA, "Kafka protocol: connect and ApiVersions"),
    monitor(
        "kafka_metadata",
        BROKER,
        "Metadata/DescribeCluster: registration, controller, offline and under-replicated partitions",
    ),
    monitor("kafka_log_dirs", BROKER, "DescribeLogDirs: offline log directories"),
    monitor("kraft_quorum", KAFKA, "DescribeQuorum: KRaft leader, epoch and voter lag"),
    monitor("zookeeper", &[Role::Zookeeper], "four-letter words ruok/srvr/mntr and the AdminServer"),
    monitor("jmx", KAFKA, "broker MBeans through Jolokia, a Prometheus exporter or JMX/RMI"),
    monitor("http", ALL, "an HTTP endpoint's status code and body"),
    monitor("command", ALL, "any executable, Nagios exit-code convention"),
    action("restart_service", "systemctl/service restart, locally or over SSH"),
    action("ssh", "a command on the node's host over SSH"),
    action("script", "an executable from the script directory"),
    action("ansible", "ansible-playbook limited to the node"),
    action("salt", "salt service.restart / state.apply"),
    action("restart_container", "docker/podman restart"),
    action("docker_compose", "docker compose restart of a service"),
    action("restart_pod", "kubectl delete pod"),
    action("kubectl_exec", "kubectl exec a command in the pod"),
    action("scale_statefulset", "kubectl scale a StatefulSet"),
    action("http", "call an orchestration webhook"),
    notifier("smtp", "email"),
    notifier("slack", "Slack incoming webhook"),
    notifier("teams", "Microsoft Teams webhook"),
    notifier("webhook", "generic JSON POST"),
    notifier("pagerduty", "PagerDuty Events API v2"),
    notifier("alertmanager", "Prometheus Alertmanager"),
    notifier("command", "an executable that reads the message as JSON"),
];

/// The runbook's plugin names and the built-in each one is.
pub const RUNBOOK_ALIASES: &[(&str, &str)] = &[
    ("tcp", "socket"),
    ("socket_monitoring", "socket"),
    ("jmx_monitoring", "jmx"),
    ("zookeeper_monitoring", "zookeeper"),
    ("kafka_api_monitoring", "kafka_api"),
    ("http_monitoring", "http"),
    ("service_restart", "restart_service"),
    ("ansible_playbook", "ansible"),
    ("script_execution", "script"),
    ("ssh_command", "ssh"),
    ("salt_state", "salt"),
    ("email_notification", "smtp"),
    ("email", "smtp"),
    ("slack_notification", "slack"),
    ("teams_notification", "teams"),
    ("webhook_notification", "webhook"),
    ("pagerduty_notification", "pagerduty"),
    ("alertmanager_notification", "alertmanager"),
];

/// The built-in `name` names, directly or through a runbook alias.
pub fn builtin(kind: Kind, name: &str) -> Option<&'static Builtin> {
    let canonical = RUNBOOK_ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, target)| target);
    BUILTINS.iter().find(|b| b.kind == kind && b.name == canonical)
}

/// Every name an operator may write for `kind`: built-ins and their aliases.
pub fn known_names(kind: Kind) -> Vec<&'static str> {
    let mut names: Vec<&str> = BUILTINS.iter().filter(|b| b.kind == kind).map(|b| b.name).collect();
    for (alias, target) in RUNBOOK_ALIASES {
        if BUILTINS.iter().any(|b| b.kind == kind && b.name == *target) {
            names.push(alias);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_builtins_of_their_kind() {
        for (alias, target) in RUNBOOK_ALIASES {
            assert!(BUILTINS.iter().any(|b| b.name == *target), "{alias} → {target} is not a built-in");
        }
        assert_eq!(builtin(Kind::Monitor, "jmx_monitoring").map(|b| b.name), Some("jmx"));
        assert_eq!(builtin(Kind::Action, "service_restart").map(|b| b.name), Some("restart_service"));
        assert_eq!(builtin(Kind::Notifier, "slack_notification").map(|b| b.name), Some("slack"));
        // `http` is both a monitor and an action; the kind decides.
        assert_eq!(builtin(Kind::Action, "http").map(|b| b.kind), Some(Kind::Action));
        assert!(builtin(Kind::Monitor, "restart_service").is_none());
    }
}

/// Every monitor, action and notifier the daemon can use — built-ins and
/// discovered external plugins — with the operator's `plugins.*` switches.
/// Built once from the configuration (discovery reads the directories).
#[derive(Debug, Default)]
pub struct Registry {
    pub discovered: external::Discovered,
    /// `plugins.{monitoring,recovery,notification}_plugins`, by kind and canonical name.
    entries: Vec<(Kind, String, crate::config::PluginEntry)>,
    /// Discovered but not loaded: `auto_load: false` and not listed.
    pub not_loaded: Vec<external::External>,
}

/// One line of `plugins list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub kind: &'static str,
    /// `built-in`, or the executable's path.
    pub source: String,
    pub enabled: bool,
    pub priority: i32,
    pub description: String,
    /// Why it is not usable, when it is not.
    pub error: Option<String>,
}

/// Priority of a plugin not listed under `plugins`.
pub const DEFAULT_PRIORITY: i32 = 100;

impl Registry {
    /// Built-ins, plus what `plugins.discovery` finds (when enabled).
    pub fn load(config: &crate::config::Config) -> Registry {
        let p = &config.plugins;
        let mut entries = Vec::new();
        for (kind, map) in [
            (Kind::Monitor, &p.monitoring_plugins),
            (Kind::Action, &p.recovery_plugins),
            (Kind::Notifier, &p.notification_plugins),
        ] {
            for (name, entry) in map {
                let canonical = builtin(kind, name).map_or(name.clone(), |b| b.name.to_string());
                entries.push((kind, canonical, entry.clone()));
            }
        }
        let mut registry = Registry { entries, ..Registry::default() };
        if p.discovery.enabled {
            let mut found = external::discover(&p.discovery.directories);
            if !p.discovery.auto_load {
                let (listed, unlisted): (Vec<_>, Vec<_>) =
                    found.plugins.into_iter().partition(|e| registry.entry(e.kind, &e.name).is_some());
                found.plugins = listed;
                registry.not_loaded = unlisted;
            }
            registry.discovered = found;
        }
        registry
    }

    fn entry(&self, kind: Kind, name: &str) -> Option<&crate::config::PluginEntry> {
        let canonical = builtin(kind, name).map_or(name, |b| b.name);
        self.entries.iter().find(|(k, n, _)| *k == kind && n == canonical).map(|(_, _, e)| e)
    }

    /// Switched on (the default) — `enabled: false` under `plugins` switches it off.
    pub fn enabled(&self, kind: Kind, name: &str) -> bool {
        self.entry(kind, name).is_none_or(|e| e.enabled)
    }

    pub fn priority(&self, kind: Kind, name: &str) -> i32 {
        self.entry(kind, name).map_or(DEFAULT_PRIORITY, |e| e.priority)
    }

    /// The `config` the operator gave the plugin (`null` when none).
    pub fn config_of(&self, kind: Kind, name: &str) -> serde_json::Value {
        self.entry(kind, name).map_or(serde_json::Value::Null, |e| e.config.clone())
    }

    /// The external plugin `name` of `kind`, when discovered and enabled.
    pub fn external(&self, kind: Kind, name: &str) -> Option<&external::External> {
        self.discovered.find(kind, name).filter(|_| self.enabled(kind, name))
    }

    /// Every plugin, built-in and external, with its switches and load errors.
    pub fn listing(&self) -> Vec<Listed> {
        let mut out: Vec<Listed> = BUILTINS
            .iter()
            .map(|b| Listed {
                name: b.name.to_string(),
                kind: b.kind.dir(),
                source: "built-in".into(),
                enabled: self.enabled(b.kind, b.name),
                priority: self.priority(b.kind, b.name),
                description: b.summary.to_string(),
                error: None,
            })
            .collect();
        for e in &self.discovered.plugins {
            out.push(Listed {
                name: e.name.clone(),
                kind: e.kind.dir(),
                source: format!("{} ({})", e.path.display(), e.manifest),
                enabled: self.enabled(e.kind, &e.name),
                priority: self.priority(e.kind, &e.name),
                description: e.description.clone(),
                error: None,
            });
        }
        for e in &self.not_loaded {
            out.push(Listed {
                name: e.name.clone(),
                kind: e.kind.dir(),
                source: e.path.display().to_string(),
                enabled: false,
                priority: self.priority(e.kind, &e.name),
                description: e.description.clone(),
                error: Some(
                    "not loaded: plugins.discovery.auto_load is false and it is not listed under plugins".into(),
                ),
            });
        }
        for err in &self.discovered.errors {
            let name = err.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(Listed {
                name,
                kind: "-",
                source: err.path.display().to_string(),
                enabled: false,
                priority: DEFAULT_PRIORITY,
                description: String::new(),
                error: Some(err.error.clone()),
            });
        }
        out.sort_by(|a, b| (a.kind, a.priority, &a.name).cmp(&(b.kind, b.priority, &b.name)));
        out
    }
}
