//! `kafka-self-healing plugins list` and `plugins test`: what the registry
//! holds, and one invocation of one plugin with its input and output shown.
//!
//! Owns: the table of plugins and the test invocation (a monitor probes one
//! node; a recovery plugin runs with `"dry_run": true`; a notifier gets a
//! `[TEST]` message).
//! Must never: run a built-in recovery action — testing one would restart a node.

use serde_json::{Value, json};

use crate::config::Config;
use crate::plugin::external::{self, External, Style};
use crate::plugin::{Kind, Listed, Registry};
use crate::topology::{self, Node};

/// The listing as a table.
pub fn table(listing: &[Listed]) -> String {
    let mut out = String::new();
    let header = ["KIND", "NAME", "ENABLED", "PRIORITY", "SOURCE"];
    let rows: Vec<[String; 5]> = listing
        .iter()
        .map(|l| {
            [
                l.kind.to_string(),
                l.name.clone(),
                if l.error.is_some() {
                    "ERROR".into()
                } else if l.enabled {
                    "yes".into()
                } else {
                    "no".into()
                },
                l.priority.to_string(),
                l.source.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        if let Some(last) = l.last_mut() {
            *last = last.trim_end().to_string();
        }
        l.join("  ") + "\n"
    };
    out.push_str(&line(&header.map(String::from)));
    for (r, l) in rows.iter().zip(listing) {
        out.push_str(&line(r));
        if let Some(e) = &l.error {
            out.push_str(&format!("    error: {e}\n"));
        }
    }
    out
}

fn pick_node<'n>(nodes: &'n [Node], name: &str, wanted: Option<&str>) -> Result<&'n Node, String> {
    match wanted {
        Some(id) => nodes.iter().find(|n| n.id == id).ok_or_else(|| {
            let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
            format!("no node `{id}`; the nodes are: {}", ids.join(", "))
        }),
        None => nodes
            .iter()
            .find(|n| n.methods.iter().any(|m| m == name))
            .or_else(|| nodes.first())
            .ok_or_else(|| "the configuration has no node".to_string()),
    }
}

/// Runs `name` once and says what went in and what came out.
pub async fn test(
    config: &Config,
    security: crate::kafka::Security,
    registry: &std::sync::Arc<Registry>,
    name: &str,
    node: Option<&str>,
) -> Result<String, String> {
    let nodes = topology::nodes(config);
    let found: Vec<&External> = registry.discovered.plugins.iter().filter(|p| p.name == name).collect();
    let Some(plugin) = found.first().copied() else {
        if let Some(b) = crate::plugin::builtin(Kind::Monitor, name) {
            let node = pick_node(&nodes, name, node)?;
            let prober = crate::monitor::Prober::from_config(config, security, registry.clone());
            let o = prober.probe(node, b.name).await;
            return Ok(format!(
                "built-in monitor `{}` on {} ({}):\n{}\n",
                b.name,
                node.id,
                node.address(),
                serde_json::to_string_pretty(&o).unwrap_or_default()
            ));
        }
        if let Some(e) = registry.discovered.error_of(name) {
            return Err(format!("plugin `{name}` is not loaded: {} ({})", e.error, e.path.display()));
        }
        return Err(format!(
            "no external plugin `{name}`; `kafka-self-healing plugins list` shows them (built-in actions and channels are not run by `plugins test`)"
        ));
    };
    let config_of = registry.config_of(plugin.kind, name);
    let (request, env) = match plugin.kind {
        Kind::Monitor => {
            let node = pick_node(&nodes, name, node)?;
            (json!({"node": node}), env_of(node))
        }
        Kind::Action => {
            let node = pick_node(&nodes, name, node)?;
            let body = json!({
                "node": node,
                "incident": {"id": "test", "cause": "test", "evidence": "kafka-self-healing plugins test", "opened_at": crate::audit::rfc3339(std::time::SystemTime::now())},
                "attempt": 1,
                "dry_run": true,
            });
            (body, env_of(node))
        }
        Kind::Notifier => {
            let n = crate::notify::manual::compose(
                config,
                "Test of a notification plugin (kafka-self-healing plugins test)",
                "info",
                "plugins test",
                std::time::SystemTime::now(),
            );
            (json!({"notification": n}), Vec::new())
        }
    };
    let mut out =
        format!("plugin `{}` ({}, {}) at {}\n", plugin.name, plugin.kind.dir(), plugin.manifest, plugin.path.display());
    let stdin = match plugin.style {
        Style::Nagios => {
            out.push_str("input: none (a Nagios check: environment KAFKA_NODE_ID, KAFKA_HOST, KAFKA_PORT, …)\n");
            None
        }
        Style::Protocol => {
            let r = external::request(plugin.kind, request, &config_of);
            out.push_str(&format!("input:\n{}\n", serde_json::to_string_pretty(&r).unwrap_or_default()));
            Some(r.to_string())
        }
    };
    match external::run(plugin, &[], &env, stdin.as_deref().map(str::as_bytes)).await {
        Err(e) => Err(format!("{out}{e}")),
        Ok(raw) => {
            out.push_str(&format!(
                "exit: {}\nduration: {:.3}s\nstdout:\n{}\n",
                raw.exit_code.map_or("killed by a signal".to_string(), |c| c.to_string()),
                raw.duration.as_secs_f64(),
                String::from_utf8_lossy(&raw.stdout).trim_end()
            ));
            if !raw.stderr.is_empty() {
                out.push_str(&format!("stderr:\n{}\n", String::from_utf8_lossy(&raw.stderr).trim_end()));
            }
            if plugin.style == Style::Protocol {
                match external::answer(plugin, &raw) {
                    Ok(a) => out.push_str(&format!("answer: {}\n", Value::Object(a))),
                    Err(e) => return Err(format!("{out}{e}")),
                }
            }
            Ok(out)
        }
    }
}

fn env_of(node: &Node) -> Vec<(String, String)> {
    node.environment().into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
