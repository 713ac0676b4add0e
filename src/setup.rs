//! Setup: a configuration file → a configuration every component has checked,
//! with the runtime parts built from it once (Vector's component `build()`).
//!
//! Owns: running the stages in order — `config` decodes the text and checks
//! the rules between keys; each component checks its own section and builds
//! its runtime part (`plugin::setup`: the registry, discovery reads the plugin
//! directories here, once; `monitor::setup`, `recovery::setup`,
//! `notify::setup`, `logging::setup`; `kafka::setup`: TLS and SASL) — and the
//! defaults that depend on a component (the monitoring methods that apply to
//! each node). Every problem of every stage is reported at once, located.
//! Must never: act on the configuration, or stop at the first problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::validate::{self, Checker};
use crate::config::{self, Config, Ctx, Diagnostics, Role};
use crate::kafka::Security;
use crate::plugin::{self, Kind, Registry};

/// A configuration that passed validation, with the warnings it produced.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
    pub warnings: Diagnostics,
    /// TLS and SASL settings for Kafka connections, checked and ready.
    pub security: Security,
    /// Built-ins and the external plugins discovery found while validating —
    /// read once, so no plugin's `describe` runs twice.
    pub plugins: Arc<Registry>,
}

/// Reads and validates `path` against the process environment.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    load_with_env(path, &|name| std::env::var(name).ok())
}

/// Reads and validates `path`; `env` answers `${VAR}` and `*_env` look-ups.
pub fn load_with_env(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Diagnostics> {
    parse_str(&config::read(path)?, path, env)
}

/// Validates configuration text; `path` is only used in messages.
pub fn parse_str(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Diagnostics> {
    let config::Decoded { mut config, mut cx, sections } = config::decode(text, path, env)?;
    resolve_methods(&mut config);
    let (security, plugins) =
        if sections { check(&config, &mut cx) } else { (Security::plaintext(), Registry::default()) };
    let report = Diagnostics::new(path, cx.diagnostics);
    if report.has_errors() {
        return Err(report);
    }
    Ok(Loaded { path: path.to_path_buf(), config, warnings: report, security, plugins: Arc::new(plugins) })
}

/// Every component's checks; diagnostics go into `cx`. Returns the Kafka
/// connection security the checks found usable (plaintext when there were
/// errors), and the plugin registry.
fn check(config: &Config, cx: &mut Ctx) -> (Security, Registry) {
    let plugins = Registry::load(config);
    let mut c = Checker { cx, config };
    plugin::setup::check(&mut c, &plugins);
    validate::check(&mut c);
    crate::monitor::setup::check(&mut c, &plugins);
    crate::recovery::setup::check(&mut c, &plugins);
    crate::notify::setup::check(&mut c, &plugins);
    crate::logging::setup::check(&mut c);
    crate::ha::setup::check(&mut c);
    let security = crate::kafka::setup::check(&mut c);
    (security, plugins)
}

/// Each node's monitoring methods when it names none: `monitoring.methods`
/// as it applies to the node's role — built-ins that cannot check the role
/// are left out (the runbook's `[socket, jmx]` also covers ZooKeeper nodes,
/// where `jmx` means nothing); nothing left means the role's defaults.
fn resolve_methods(config: &mut Config) {
    let methods = config.monitoring.methods.clone();
    for (role, node) in config.cluster.nodes_mut() {
        node.monitoring_methods.get_or_insert_with(|| applicable(role, &methods));
    }
}

fn applicable(role: Role, methods: &[String]) -> Vec<String> {
    let applicable: Vec<String> = methods
        .iter()
        .filter(|m| plugin::builtin(Kind::Monitor, m).is_none_or(|b| b.roles.contains(&role)))
        .cloned()
        .collect();
    if applicable.is_empty() { role.default_methods().iter().map(|m| m.to_string()).collect() } else { applicable }
}
