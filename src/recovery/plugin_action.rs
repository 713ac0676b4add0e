//! The recovery plugin protocol: an external action's request and answer.
//!
//! Owns: what an external recovery plugin is told (the node, the incident,
//! the attempt, whether this is a dry run, its own configuration) and how its
//! answer becomes a result — success only for `{"success": true}` and exit 0.
//! Must never: let a plugin's words reach the record unmasked, or take a
//! missing `success` for one.

use std::time::Duration;

use serde_json::json;
use tracing::warn;

use super::engine::Engine;
use super::runner;
use crate::audit::rfc3339;
use crate::plugin::{Kind, external};
use crate::store::{IncidentRecord, from_millis};
use crate::topology::Node;

impl Engine {
    /// Runs an external recovery plugin: the node, the incident and the attempt
    /// on stdin; success is `{"success": true}` on stdout and exit 0.
    pub(super) async fn run_plugin_action(
        &self,
        plugin: &crate::plugin::external::External,
        node: &Node,
        incident: &IncidentRecord,
        n: u32,
    ) -> runner::RunResult {
        let body = json!({
            "node": node,
            "incident": {"id": incident.id, "cause": incident.cause, "evidence": incident.evidence,
                         "opened_at": rfc3339(from_millis(incident.opened_at))},
            "attempt": n,
            "dry_run": self.dry_run,
        });
        let config = self.prober.plugins.config_of(Kind::Action, &plugin.name);
        let request = external::request(Kind::Action, body, &config);
        let env: Vec<(String, String)> = node.environment().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let failed = |e: external::PluginError| {
            warn!(message = "Plugin error: the recovery plugin gave no usable answer.", plugin = %e.plugin, error = %e);
            runner::RunResult {
                success: false,
                exit_code: None,
                duration: Duration::ZERO,
                summary: self.masker.mask(&e.to_string()),
                output: self.masker.mask(&e.excerpt),
            }
        };
        let raw = match external::run(plugin, &[], &env, Some(request.to_string().as_bytes())).await {
            Ok(raw) => raw,
            Err(e) => return failed(e),
        };
        let answer = match external::answer(plugin, &raw) {
            Ok(a) => a,
            Err(e) => return failed(e),
        };
        let said = answer.get("success").and_then(serde_json::Value::as_bool);
        let message = answer.get("message").and_then(serde_json::Value::as_str).unwrap_or("").to_string();
        let details = answer.get("details").map(|d| d.to_string()).unwrap_or_default();
        let code = raw.exit_code.unwrap_or(-1);
        let (success, summary) = match said {
            None => (false, format!("plugin `{}`: the answer has no boolean `success` (exit {code})", plugin.name)),
            Some(true) if code == 0 => (true, format!("plugin {}: {message}", plugin.name)),
            Some(true) => (false, format!("plugin {}: said success but exited {code}: {message}", plugin.name)),
            Some(false) => (false, format!("plugin {}: failed (exit {code}): {message}", plugin.name)),
        };
        let stderr = String::from_utf8_lossy(&raw.stderr).into_owned();
        let output = [details, stderr].into_iter().filter(|t| !t.trim().is_empty()).collect::<Vec<_>>().join("\n");
        runner::RunResult {
            success,
            exit_code: raw.exit_code,
            duration: raw.duration,
            summary: self.masker.mask(&summary),
            output: self.masker.mask(&output),
        }
    }
}
