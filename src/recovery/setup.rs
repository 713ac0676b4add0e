//! The `recovery` section, checked by the component that acts on it.
//!
//! Owns: the recovery rules — known action names in every ladder, the
//! settings each used action needs, a `script` or `ansible` step's file for
//! each node type that uses it (said now, not when an incident first reaches
//! that step), retry bounds of the node types, the guards' limits.
//! Must never: run an action, or stop at the first problem.

use crate::config::validate::{Checker, Policy, is_executable};
use crate::config::{Role, SaltFunction};
use crate::plugin::setup::names;
use crate::plugin::{Kind, Registry, builtin};

pub fn check(c: &mut Checker, plugins: &Registry) {
    let config = c.config;
    let r = &config.recovery;
    names(c, plugins, Kind::Action, "recovery.actions", &r.actions.clone(), None);
    if r.actions.is_empty() {
        c.warning(
            "recovery.actions",
            "`recovery.actions` is empty: failures are escalated without any repair attempt",
            "",
        );
    }
    let types = &r.node_types;
    for role in Role::ALL {
        let (key, t) = (role.as_str(), types.of(role));
        let base = format!("recovery.node_types.{key}");
        if !c.written(&base) {
            continue;
        }
        if let Some(actions) = &t.actions {
            names(c, plugins, Kind::Action, &format!("{base}.actions"), &actions.clone(), None);
        }
        let policy = Policy {
            max_attempts: t.max_attempts,
            initial: Some(t.initial_delay_seconds.unwrap_or(r.initial_delay_seconds)),
            multiplier: t.backoff_multiplier,
            max_delay: Some(t.max_delay_seconds.unwrap_or(r.max_delay_seconds)),
        };
        c.retry_policy(&base, &policy);
    }
    if r.max_parallel == 0 {
        c.error("recovery.max_parallel", "`recovery.max_parallel` must be at least 1, found 0", "");
    }
    if !(r.max_failed_fraction > 0.0 && r.max_failed_fraction <= 1.0) {
        c.error(
            "recovery.max_failed_fraction",
            format!("`recovery.max_failed_fraction` must be above 0 and at most 1, found {}", r.max_failed_fraction),
            "0.4 (the default): more than 40 % of the nodes down at once stops every action",
        );
    }
    if r.max_actions_per_hour == 0 {
        c.warning("recovery.max_actions_per_hour", "`recovery.max_actions_per_hour` is 0: no action will ever run", "");
    }
    if r.recovery_validation.timeout_seconds.0 <= 0.0 {
        c.error(
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
    for (role, n, node) in c.nodes() {
        if c.written(&format!("cluster.{}[{n}].recovery_actions", role.config_list())) {
            for (i, a) in node.recovery_actions.iter().flatten().enumerate() {
                ladders.push((format!("cluster.{}[{n}].recovery_actions[{i}]", role.config_list()), a));
            }
        }
    }
    for (at, action) in ladders {
        let name = builtin(Kind::Action, action).map(|b| b.name);
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
            Some("salt") if r.salt.function == SaltFunction::StateApply && r.salt.state.is_none() => {
                Some(("recovery.salt.state", "the state to apply"))
            }
            _ => None,
        };
        if let Some((key, hint)) = missing {
            c.error(&at, format!("the `{action}` action is used but `{key}` is not set"), hint);
        }
    }
    // A `script` or `ansible` step needs its file for each node type that uses it:
    // said now, not when an incident first reaches that step.
    let mut checked: Vec<(&str, Role)> = Vec::new();
    for (role, _, node) in c.nodes() {
        for action in node.recovery_actions.iter().flatten() {
            let (key, dir, map, ext) = match builtin(Kind::Action, action).map(|b| b.name) {
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
            let at = if c.written(&at) { at } else { "recovery.actions".to_string() };
            match super::files::per_role_file(dir, map, role, ext) {
                Err(missing) => c.warning(
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
                Ok(path) if key == "script" && !is_executable(&path) => c.warning(
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
                c.error(
                    &format!("recovery.{section}.{key}"),
                    format!("`{key}` is not a node type"),
                    "write kafka_broker, kraft_controller, zookeeper or default",
                );
            }
        }
    }
}
