//! An external monitoring plugin as a probe: the JSON protocol (request with
//! the node and the plugin's `config`; answer `{status, message, metrics}`) or
//! a Nagios check (exit code and first line).
//!
//! Must never: let a plugin's failure look like the node's — a plugin that
//! hangs, crashes, exits non-zero or answers garbage is `unknown` with cause
//! `plugin_error` (counted in `probe_errors_total`), never `failed`.

use serde_json::{Value, json};
use tracing::warn;

use super::command::nagios;
use super::{Cause, Outcome};
use crate::plugin::Kind;
use crate::plugin::external::{self, External, PluginError, Style};
use crate::topology::Node;

fn plugin_error(e: PluginError) -> Outcome {
    warn!(message = "Plugin error: the probe could not tell.", plugin = %e.plugin, error = %e);
    Outcome::unknown(Cause::PluginError, e.to_string())
}

/// `limit`: the plugin's time limit on this node ([`External::monitor_limit`]).
pub(super) async fn probe(plugin: &External, node: &Node, config: &Value, limit: std::time::Duration) -> Outcome {
    let env: Vec<(String, String)> = node.environment().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    if plugin.style == Style::Nagios {
        return match external::run_within(plugin, limit, &[], &env, None).await {
            Ok(raw) => nagios(raw.exit_code, &raw.stdout),
            Err(e) => plugin_error(e),
        };
    }
    let request = external::request(Kind::Monitor, json!({"node": node}), config);
    match external::run_within(plugin, limit, &[], &env, Some(request.to_string().as_bytes())).await {
        Ok(raw) => read(plugin, &raw),
        Err(e) => plugin_error(e),
    }
}

/// A protocol monitor's answer: `{"status": …, "message": …, "metrics": {…}}` and exit 0.
/// Any bytes are an answer: nothing here may panic.
pub(super) fn read(plugin: &External, raw: &external::RawRun) -> Outcome {
    let answer = match external::answer(plugin, raw) {
        Ok(a) => a,
        Err(e) => return plugin_error(e),
    };
    let bad = |what: String| {
        plugin_error(PluginError { plugin: plugin.name.clone(), what, excerpt: external::excerpt(&raw.stdout) })
    };
    if raw.exit_code != Some(0) {
        return bad(format!(
            "exited {} (a monitor answers with exit 0 and its status in the JSON)",
            raw.exit_code.unwrap_or(-1)
        ));
    }
    let message = match answer.get("message") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(m)) => m.clone(),
        Some(other) => return bad(format!("`message` must be a string, found {other}")),
    };
    let metrics = match answer.get("metrics") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        Some(other) => return bad(format!("`metrics` must be an object, found {other}")),
    };
    let detail = match (message.is_empty(), metrics.is_empty()) {
        (_, true) => message,
        (true, false) => metrics,
        (false, false) => format!("{message} ({metrics})"),
    };
    match answer.get("status").and_then(Value::as_str) {
        Some("healthy") => Outcome::healthy(detail),
        Some("degraded") => Outcome::degraded(Cause::CheckWarning, detail),
        Some("failed") => Outcome::failed(Cause::CheckCritical, detail),
        Some("unknown") => Outcome::unknown(Cause::ProbeError, detail),
        other => bad(format!(
            "answered status {}; expected healthy, degraded, failed or unknown",
            other.map_or("none".to_string(), |s| format!("`{s}`"))
        )),
    }
}
