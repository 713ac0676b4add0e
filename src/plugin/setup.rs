//! The `plugins` section and every list of method or action names, checked
//! against the registry (built-ins, configured and discovered plugins).
//!
//! Owns: reporting plugins that failed to load or are configured but exist
//! nowhere, a monitor asking for more time than its node's probes, and an
//! unknown, disabled or misplaced name wherever a list names one.
//! Must never: run a plugin (discovery already did, once), or stop at the
//! first problem.

use super::{Kind, Registry, builtin, known_names};
use crate::config::Role;
use crate::config::decode::suggest;
use crate::config::validate::Checker;

/// Checks method or action names against the registry, configured plugins and plugin directories.
pub fn names(c: &mut Checker, plugins: &Registry, kind: Kind, path: &str, names: &[String], role: Option<Role>) {
    for (i, name) in names.iter().enumerate() {
        let item = format!("{path}[{i}]");
        let known = builtin(kind, name).is_some() || plugins.discovered.find(kind, name).is_some();
        if known && !plugins.enabled(kind, name) {
            c.warning(&item, format!("{} plugin `{name}` is disabled under `plugins`; it is not run", kind.noun()), "");
        }
        if let Some(b) = builtin(kind, name) {
            if let Some(role) = role
                && !b.roles.contains(&role)
            {
                c.error(
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
        if let Some(e) = plugins.discovered.error_of(name) {
            c.error(
                &item,
                format!("{} plugin `{name}` could not be loaded: {}", kind.noun(), e.error),
                format!("fix {} (see `kafka-self-healing plugins list`)", e.path.display()),
            );
            continue;
        }
        let known = known_names(kind);
        let hint = match suggest(name, &known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "known {}s: {}; an external plugin must be listed under `plugins` or be an executable in `plugins.discovery.directories`",
                kind.noun(),
                known.join(", ")
            ),
        };
        c.error(&item, format!("unknown {} `{name}`", kind.noun()), hint);
    }
}

/// Every node's own method and action lists; plugins that failed to load
/// (the rest of the system runs without them), and plugins listed under
/// `plugins` that exist nowhere.
pub fn check(c: &mut Checker, plugins: &Registry) {
    // A node's own lists; those filled in from the global ones are checked there, once.
    for (role, i, node) in c.nodes() {
        let base = format!("cluster.{}[{i}]", role.config_list());
        let methods = format!("{base}.monitoring_methods");
        if let Some(list) = node.monitoring_methods.as_ref().filter(|_| c.written(&methods)) {
            names(c, plugins, Kind::Monitor, &methods, list, Some(role));
        }
        let actions = format!("{base}.recovery_actions");
        if let Some(list) = node.recovery_actions.as_ref().filter(|_| c.written(&actions)) {
            names(c, plugins, Kind::Action, &actions, list, Some(role));
        }
    }
    let registry = plugins;
    for e in &registry.discovered.errors {
        c.warning(
            "plugins.discovery.directories",
            format!("plugin {} is not loaded: {}", e.path.display(), e.error),
            "the daemon runs without it; `kafka-self-healing plugins list` shows every plugin",
        );
    }
    // A monitor never runs longer than its node's probes may take.
    let node_timeout = c.config.monitoring.timeout_seconds.duration();
    for e in registry.discovered.plugins.iter().filter(|e| e.kind == Kind::Monitor && e.timeout_asked) {
        if e.timeout > node_timeout {
            c.warning(
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
    let p = &c.config.plugins;
    for (kind, section, map) in [
        (Kind::Monitor, "monitoring_plugins", &p.monitoring_plugins),
        (Kind::Action, "recovery_plugins", &p.recovery_plugins),
        (Kind::Notifier, "notification_plugins", &p.notification_plugins),
    ] {
        for name in map.keys() {
            let known = builtin(kind, name).is_some()
                || registry.discovered.find(kind, name).is_some()
                || registry.not_loaded.iter().any(|e| e.kind == kind && e.name == *name)
                || registry.discovered.error_of(name).is_some();
            if !known {
                c.warning(
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
