//! Configuration: YAML text → a typed [`Config`] with every problem located.
//!
//! Owns: the schema (`schema`, `role`), reading the file, the YAML tree
//! (`yaml`), typed decoding with `${VAR}` expansion (`decode`, `env`), the
//! rules between keys (`validate`, with the [`validate::Checker`] every
//! component's own checks report through), and the one-line summary the
//! daemon logs. The ground floor: it imports no other module of the daemon;
//! `crate::setup` runs it and each component's checks.
//! Must never: act on the configuration, or hand out a secret's value except
//! through [`decode::Secret::expose`].
//!
//! Keeping YAML behind this module means the rest of the daemon sees only
//! plain structs.

pub mod calendar;
pub mod decode;
pub mod diagnostic;
pub mod env;
mod role;
pub mod schema;
pub mod validate;
pub mod yaml;

use std::path::Path;

pub use calendar::{TimeOfDay, Weekday};
pub use decode::{Seconds, SecondsOrZero, Secret};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use role::Role;
pub use schema::*;

/// Any YAML text as plain JSON data, or the first parse error with its place.
pub fn yaml_to_json(text: &str) -> Result<serde_json::Value, String> {
    match yaml::parse(text) {
        Ok(node) => Ok(yaml::to_json(&node)),
        Err(errors) => Err(errors
            .first()
            .map_or_else(|| "not YAML".to_string(), |e| format!("{}:{}: {}", e.mark.line, e.mark.col, e.message))),
    }
}

pub use decode::Ctx;
use decode::Decode;
use yaml::{Mark, Value};

/// Where `run`, `check` and `config show` look without `--config`.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/kafka-self-healing/config.yaml";

/// The environment variable that overrides [`DEFAULT_CONFIG_PATH`].
pub const CONFIG_PATH_ENV: &str = "KAFKA_SELF_HEALING_CONFIG";

/// The runbook's environment overlay sections: accepted, not used.
pub const OVERLAY_SECTIONS: &[&str] =
    &["environment", "development", "docker", "kubernetes", "testing", "multi_datacenter"];

/// The largest configuration file read (a fleet of 2,000 brokers is about 300 KB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The text of the configuration file `path`, or why it cannot be read.
pub fn read(path: &Path) -> Result<String, Diagnostics> {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.is_file()
        && meta.len() > MAX_FILE_BYTES
    {
        let d = Diagnostic {
            severity: Severity::Error,
            mark: None,
            message: format!(
                "the configuration file is {} bytes, more than the {MAX_FILE_BYTES} this daemon reads",
                meta.len()
            ),
            hint: None,
        }
        .with_hint("is this the right file? A configuration is a few kilobytes");
        return Err(Diagnostics::new(path, vec![d]));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "give the file with --config FILE or {CONFIG_PATH_ENV}=FILE; examples are in examples/ (start from examples/config_minimal.yaml)"
            ),
            std::io::ErrorKind::PermissionDenied => "the daemon's user must be able to read the file".to_string(),
            _ => String::new(),
        };
        let mut d = Diagnostic {
            severity: Severity::Error,
            mark: None,
            message: format!("cannot read the configuration file: {e}"),
            hint: None,
        };
        if !hint.is_empty() {
            d = d.with_hint(hint);
        }
        Diagnostics::new(path, vec![d])
    })?;
    Ok(text)
}

/// Decoded configuration text: the configuration with its defaults, and the
/// context that holds every diagnostic so far and where each key was written.
pub struct Decoded<'a> {
    pub config: Config,
    pub cx: Ctx<'a>,
    /// The file is a mapping of sections: the rules between keys apply.
    pub sections: bool,
}

/// YAML text → a typed configuration with its defaults (`${VAR}` expanded by
/// `env`); `Err` only when the text is not YAML. `path` is only used in messages.
pub fn decode<'a>(
    text: &str,
    path: &Path,
    env: &'a dyn Fn(&str) -> Option<String>,
) -> Result<Decoded<'a>, Diagnostics> {
    let mut root = match yaml::parse(text) {
        Ok(root) => root,
        Err(errors) => {
            let diagnostics = errors
                .into_iter()
                .map(|e| {
                    let d = Diagnostic::error(e.mark, e.message);
                    match e.hint {
                        Some(h) => d.with_hint(h),
                        None => d,
                    }
                })
                .collect();
            return Err(Diagnostics::new(path, diagnostics));
        }
    };
    let mut cx = Ctx::new(env);
    if matches!(root.value, Value::Null) {
        cx.error(
            Mark { line: 1, col: 1 },
            "the configuration file is empty",
            "start from examples/config_minimal.yaml",
        );
    } else if let Value::Map(entries) = &mut root.value {
        entries.retain(|(key, _)| {
            let overlay = OVERLAY_SECTIONS.contains(&key.name.as_str());
            if overlay {
                cx.warning(
                    key.mark,
                    format!("section `{}` is not used by this implementation", key.name),
                    "environment overlays are not merged; put the values in the main sections",
                );
            }
            !overlay
        });
    }
    let mut config = Config::decode(&root, &mut cx).unwrap_or_default();
    fill_defaults(&mut config, env);
    // Rules between keys mean something only for a mapping of sections.
    let sections = matches!(root.value, Value::Map(_));
    Ok(Decoded { config, cx, sections })
}

/// Defaults that depend on other values or on the environment.
fn fill_defaults(config: &mut Config, env: &dyn Fn(&str) -> Option<String>) {
    let actions = config.recovery.actions.clone();
    let r = &config.recovery;
    let policy = RetryPolicyOverride {
        max_attempts: Some(r.max_attempts),
        initial_delay_seconds: Some(r.initial_delay_seconds),
        backoff_multiplier: Some(r.backoff_multiplier),
        max_delay_seconds: Some(r.max_delay_seconds),
    };
    let types = config.recovery.node_types.clone();
    for (role, node) in config.cluster.nodes_mut() {
        // The node's own keys, then its type's, then `recovery`'s.
        let t = types.of(role);
        node.port.get_or_insert(role.default_port());
        node.recovery_actions.get_or_insert_with(|| t.actions.clone().unwrap_or_else(|| actions.clone()));
        let own = node.retry_policy.take().unwrap_or_default();
        node.retry_policy = Some(RetryPolicyOverride {
            max_attempts: own.max_attempts.or(t.max_attempts).or(policy.max_attempts),
            initial_delay_seconds: own
                .initial_delay_seconds
                .or(t.initial_delay_seconds)
                .or(policy.initial_delay_seconds),
            backoff_multiplier: own.backoff_multiplier.or(t.backoff_multiplier).or(policy.backoff_multiplier),
            max_delay_seconds: own.max_delay_seconds.or(t.max_delay_seconds).or(policy.max_delay_seconds),
        });
    }
    // The runbook's variables fill credentials the file leaves out; an empty
    // value (`${SMTP_USERNAME:-}`) means "none".
    let from_env = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(smtp) = &mut config.notifications.smtp {
        smtp.username = smtp.username.take().filter(|u| !u.is_empty()).or_else(|| from_env("SMTP_USERNAME"));
        smtp.password =
            smtp.password.take().filter(|p| !p.is_empty()).or_else(|| from_env("SMTP_PASSWORD").map(Secret::new));
    }
    let jmx = &mut config.monitoring.jmx;
    jmx.username = jmx.username.take().filter(|u| !u.is_empty()).or_else(|| from_env("JMX_USERNAME"));
    jmx.password = jmx.password.take().filter(|p| !p.is_empty()).or_else(|| from_env("JMX_PASSWORD").map(Secret::new));
}

impl schema::NodeTypesRecovery {
    /// The settings of node type `role`.
    pub fn of(&self, role: Role) -> &schema::NodeTypeRecovery {
        match role {
            Role::KafkaBroker => &self.kafka_broker,
            Role::KraftController => &self.kraft_controller,
            Role::Zookeeper => &self.zookeeper,
        }
    }
}

impl ClusterConfig {
    /// Every node with its role: brokers, then controllers, then ZooKeeper.
    pub fn nodes(&self) -> impl Iterator<Item = (Role, &NodeConfig)> {
        let brokers = self.kafka_brokers.iter().map(|n| (Role::KafkaBroker, n));
        let controllers = self.kraft_controllers.iter().map(|n| (Role::KraftController, n));
        let zookeeper = self.zookeeper_nodes.iter().map(|n| (Role::Zookeeper, n));
        brokers.chain(controllers).chain(zookeeper)
    }

    /// Every node with its role, to fill in what depends on other modules (`crate::setup`).
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = (Role, &mut NodeConfig)> {
        let brokers = self.kafka_brokers.iter_mut().map(|n| (Role::KafkaBroker, n));
        let controllers = self.kraft_controllers.iter_mut().map(|n| (Role::KraftController, n));
        let zookeeper = self.zookeeper_nodes.iter_mut().map(|n| (Role::Zookeeper, n));
        brokers.chain(controllers).chain(zookeeper)
    }
}

impl NodeConfig {
    /// The node's port; always set after loading.
    pub fn port_or(&self, role: Role) -> u16 {
        self.port.unwrap_or(role.default_port())
    }
}

impl NotificationsConfig {
    /// Names of the configured built-in channels, in the order of the file's sections.
    pub fn channels(&self) -> Vec<&'static str> {
        let configured = [
            ("smtp", self.smtp.is_some()),
            ("slack", self.slack.is_some()),
            ("teams", self.teams.is_some()),
            ("webhook", self.webhook.is_some()),
            ("pagerduty", self.pagerduty.is_some()),
            ("alertmanager", self.alertmanager.is_some()),
            ("command", self.command.is_some()),
        ];
        configured.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
    }
}

impl Config {
    /// The one-line summary logged at start-up and printed by `validate`.
    pub fn summary(&self) -> String {
        let c = &self.cluster;
        let channels = self.notifications.channels();
        format!(
            "cluster `{}`: {} Kafka broker(s), {} KRaft controller(s), {} ZooKeeper node(s); notification channels: {}",
            c.name,
            c.kafka_brokers.len(),
            c.kraft_controllers.len(),
            c.zookeeper_nodes.len(),
            if channels.is_empty() { "none".to_string() } else { channels.join(", ") }
        )
    }
}

/// Every key as a `section.key` path, for the documentation test. A section
/// type used in several places (a node in each of the three node lists) is
/// listed under its first place only, as `docs/configuration.md` does.
pub fn all_key_paths() -> Vec<String> {
    fn walk(prefix: &str, fields: &[decode::FieldDoc], seen: &mut Vec<Vec<&'static str>>, out: &mut Vec<String>) {
        for f in fields {
            let path = if prefix.is_empty() { f.name.to_string() } else { format!("{prefix}.{}", f.name) };
            out.push(path.clone());
            if let Some(children) = (f.children)() {
                let names: Vec<&'static str> = children.iter().map(|c| c.name).collect();
                if !seen.contains(&names) {
                    seen.push(names);
                    walk(&path, children, seen, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("", Config::FIELDS, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod fuzz_tests;
