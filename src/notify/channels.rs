//! Delivering one notification to one channel: SMTP, Slack, Teams, a generic
//! webhook, PagerDuty, Alertmanager, or a command.
//!
//! Owns: each channel's wire format, threading (email Message-ID and
//! In-Reply-To per incident, PagerDuty dedup keys, Alertmanager labels), and
//! telling a failure worth retrying from one that is not.
//! Must never: log a webhook URL, a routing key or a password; follow redirects.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::compose::Notification;
use crate::config::{Config, Routing};
use crate::plugin::external::{self, External};
use crate::plugin::{Kind, Registry};

/// An external notification plugin: the notification on stdin, `{"delivered": true}` back.
async fn deliver_plugin(plugin: &External, config: &serde_json::Value, n: &Notification) -> Result<(), DeliveryError> {
    let body = json!({"notification": n});
    let request = external::request(Kind::Notifier, body, config);
    let raw = external::run(plugin, &[], &[], Some(request.to_string().as_bytes()))
        .await
        .map_err(|e| DeliveryError(e.to_string()))?;
    let answer = external::answer(plugin, &raw).map_err(|e| DeliveryError(e.to_string()))?;
    let message = answer.get("message").and_then(serde_json::Value::as_str).unwrap_or("");
    match (answer.get("delivered").and_then(serde_json::Value::as_bool), raw.exit_code) {
        (Some(true), Some(0)) => Ok(()),
        (Some(true), code) => {
            Err(DeliveryError(format!("plugin `{}` said delivered but exited {code:?}: {message}", plugin.name)))
        }
        (Some(false), _) => Err(DeliveryError(format!("plugin `{}` did not deliver: {message}", plugin.name))),
        (None, _) => Err(DeliveryError(format!("plugin `{}`: the answer has no boolean `delivered`", plugin.name))),
    }
}

/// Every routing lets an external notification plugin's messages through.
static ALL_ROUTES: std::sync::LazyLock<Routing> = std::sync::LazyLock::new(Routing::default);

/// The channels to use by name, with their routing: the configured built-ins
/// not disabled under `plugins.notification_plugins`, then the external
/// notification plugins (every message the triggers let through).
pub fn configured<'c>(config: &'c Config, plugins: &Registry) -> Vec<(String, &'c Routing)> {
    let mut out: Vec<(String, &'c Routing)> =
        builtin_channels(config).into_iter().map(|(name, r)| (name.to_string(), r)).collect();
    out.retain(|(name, _)| plugins.enabled(Kind::Notifier, name));
    for p in &plugins.discovered.plugins {
        if p.kind == Kind::Notifier && plugins.enabled(Kind::Notifier, &p.name) {
            out.push((p.name.clone(), &ALL_ROUTES));
        }
    }
    out.sort_by_key(|(name, _)| plugins.priority(Kind::Notifier, name));
    out
}

fn builtin_channels(config: &Config) -> Vec<(&'static str, &Routing)> {
    let n = &config.notifications;
    let mut out: Vec<(&'static str, &Routing)> = Vec::new();
    if let Some(c) = &n.smtp {
        out.push(("smtp", &c.routing));
    }
    if let Some(c) = &n.slack {
        out.push(("slack", &c.routing));
    }
    if let Some(c) = &n.teams {
        out.push(("teams", &c.routing));
    }
    if let Some(c) = &n.webhook {
        out.push(("webhook", &c.routing));
    }
    if let Some(c) = &n.pagerduty {
        out.push(("pagerduty", &c.routing));
    }
    if let Some(c) = &n.alertmanager {
        out.push(("alertmanager", &c.routing));
    }
    if let Some(c) = &n.command {
        out.push(("command", &c.routing));
    }
    out
}

/// Whether `channel` sends notifications of `trigger` grouped (`group_wait_seconds`):
/// message channels do; PagerDuty and Alertmanager keep one alert per incident,
/// and escalations and summaries never wait.
pub fn groups(channel: &str, trigger: &str) -> bool {
    !matches!(channel, "pagerduty" | "alertmanager")
        && !matches!(trigger, "on_max_retries_exceeded" | "on_isolation" | "on_system_error" | "summary")
}

/// Whether `routing` lets `n` through.
pub fn routes(routing: &Routing, n: &Notification) -> bool {
    let trigger_ok = routing.triggers.is_empty() || routing.triggers.iter().any(|t| t.as_str() == n.trigger);
    let type_ok = routing.node_types.is_empty()
        || n.node_type.as_ref().is_none_or(|t| routing.node_types.iter().any(|x| x.as_str() == t));
    trigger_ok && type_ok
}

/// Why a delivery failed; every failure is retried later (a channel that is
/// down for an hour delivers everything once back).
#[derive(Debug)]
pub struct DeliveryError(pub String);

/// Sends `n` to `channel`: a built-in, or an external notification plugin.
pub async fn deliver(
    config: &Config,
    plugins: &Registry,
    channel: &str,
    n: &Notification,
    http: &reqwest::Client,
) -> Result<(), DeliveryError> {
    if let Some(p) = plugins.external(Kind::Notifier, channel) {
        return deliver_plugin(p, &plugins.config_of(Kind::Notifier, channel), n).await;
    }
    let c = &config.notifications;
    let timeout = c.delivery.timeout.duration();
    let text = format!("*{}*\n```\n{}```", n.subject, n.body);
    match channel {
        "slack" => {
            let s = c.slack.as_ref().ok_or_else(|| DeliveryError("slack is not configured".into()))?;
            post_json(http, s.webhook_url.expose(), &json!({"text": text}), &[], timeout, "Slack").await
        }
        "teams" => {
            let t = c.teams.as_ref().ok_or_else(|| DeliveryError("teams is not configured".into()))?;
            let card = json!({"@type": "MessageCard", "@context": "https://schema.org/extensions",
                              "summary": n.subject, "title": n.subject, "text": format!("<pre>{}</pre>", html_escape(&n.body))});
            post_json(http, t.webhook_url.expose(), &card, &[], timeout, "Teams").await
        }
        "webhook" => {
            let w = c.webhook.as_ref().ok_or_else(|| DeliveryError("webhook is not configured".into()))?;
            let body = serde_json::to_vec(n).map_err(|e| DeliveryError(e.to_string()))?;
            let mut headers: Vec<(String, String)> = w.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            if let Some(secret) = &w.secret {
                headers.push(("X-Signature-256".into(), format!("sha256={}", sign(secret.expose(), &body))));
            }
            post_bytes(http, &w.url, body, &headers, timeout, "webhook").await
        }
        "pagerduty" => {
            let p = c.pagerduty.as_ref().ok_or_else(|| DeliveryError("pagerduty is not configured".into()))?;
            let event = json!({
                "routing_key": p.routing_key.expose(),
                "event_action": if n.resolved { "resolve" } else { "trigger" },
                "dedup_key": n.incident_id.clone().unwrap_or_else(|| format!("{}-cluster", n.cluster)),
                "payload": {
                    "summary": n.subject,
                    "source": n.node.clone().unwrap_or_else(|| n.cluster.clone()),
                    "severity": n.severity,
                    "component": n.node_type,
                    "group": n.cluster,
                    "custom_details": {"body": n.body, "trigger": n.trigger},
                },
            });
            post_json(http, &p.events_url, &event, &[], timeout, "PagerDuty").await
        }
        "alertmanager" => {
            let a = c.alertmanager.as_ref().ok_or_else(|| DeliveryError("alertmanager is not configured".into()))?;
            // The labels identify the alert: the same for its trigger and its resolution.
            let mut labels = json!({
                "alertname": "KafkaSelfHealingIncident",
                "cluster": n.cluster,
                "incident_id": n.incident_id.clone().unwrap_or_else(|| "cluster".into()),
            });
            if let Some(node) = &n.node {
                labels["node"] = json!(node);
            }
            for (k, v) in &a.labels {
                labels[k] = json!(v);
            }
            let mut alert = json!({"labels": labels,
                                   "annotations": {"summary": n.subject, "description": n.body, "severity": n.severity}});
            let starts = n.incident.as_ref().map(|i| crate::audit::rfc3339(crate::store::from_millis(i.opened_at)));
            alert["startsAt"] = json!(starts.unwrap_or_else(|| n.at.clone()));
            if n.resolved {
                alert["endsAt"] = json!(n.at);
            }
            let url = format!("{}/api/v2/alerts", a.url.trim_end_matches('/'));
            post_json(http, &url, &json!([alert]), &[], timeout, "Alertmanager").await
        }
        "command" => {
            let cmd = c.command.as_ref().ok_or_else(|| DeliveryError("command is not configured".into()))?;
            run_command(&cmd.command, &cmd.args, n, cmd.timeout.duration()).await
        }
        "smtp" => super::email::send(config, n).await,
        other => Err(DeliveryError(format!("unknown channel `{other}`"))),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Hex HMAC-SHA256 of `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(String, String)],
    timeout: Duration,
    what: &str,
) -> Result<(), DeliveryError> {
    let bytes = serde_json::to_vec(body).map_err(|e| DeliveryError(e.to_string()))?;
    post_bytes(http, url, bytes, headers, timeout, what).await
}

async fn post_bytes(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(String, String)],
    timeout: Duration,
    what: &str,
) -> Result<(), DeliveryError> {
    let mut request =
        http.post(url).timeout(timeout).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    for (k, v) in headers {
        request = request.header(k.as_str(), v.as_str());
    }
    // The URL may hold a token (Slack, Teams): errors name the channel, not the URL.
    let response = request.send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "no answer in time"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        DeliveryError(format!("{what}: {kind}"))
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let text: String = response.text().await.unwrap_or_default().chars().take(200).collect();
        Err(DeliveryError(format!("{what}: HTTP {status}: {text}")))
    }
}

async fn run_command(program: &str, args: &[String], n: &Notification, timeout: Duration) -> Result<(), DeliveryError> {
    let input = serde_json::to_vec(n).map_err(|e| DeliveryError(e.to_string()))?;
    let spec = crate::child::Spec {
        program: program.as_ref(),
        args: args.iter().map(Into::into).collect(),
        env: Vec::new(),
        stdin: Some(&input),
        stdout: crate::child::Keep::Nothing,
        stderr: crate::child::Keep::Head(200),
        limit: timeout,
        at_limit: crate::child::AtLimit::Kill,
        death_signal: libc::SIGKILL,
    };
    let exit = crate::child::run(spec).await.map_err(|e| DeliveryError(format!("cannot run `{program}`: {e}")))?;
    let said = exit.stderr.text();
    match exit.code {
        _ if exit.timed_out => Err(DeliveryError(format!("`{program}` did not finish within {timeout:?}"))),
        Some(0) => Ok(()),
        Some(code) => Err(DeliveryError(format!("`{program}` exited with exit status: {code}: {}", said.trim()))),
        None => Err(DeliveryError(format!("`{program}` was killed by a signal: {}", said.trim()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_summary_names_every_configured_channel() {
        let yaml = "cluster:\n  kafka_brokers: [{node_id: k1, host: kafka1}]\nnotifications:\n  \
                    slack: {webhook_url: \"https://hooks.example.com/x\"}\n  \
                    teams: {webhook_url: \"https://teams.example.com/x\"}\n  \
                    webhook: {url: \"https://example.com/hook\"}\n  \
                    pagerduty: {routing_key: abc}\n  \
                    alertmanager: {url: \"http://127.0.0.1:9093\"}\n  \
                    command: {command: /bin/true}\n";
        let config = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config;
        let ours: Vec<&str> = builtin_channels(&config).into_iter().map(|(n, _)| n).collect();
        assert_eq!(config.notifications.channels(), ours);
        assert_eq!(ours, ["slack", "teams", "webhook", "pagerduty", "alertmanager", "command"]);
        assert!(
            config
                .summary()
                .ends_with("notification channels: slack, teams, webhook, pagerduty, alertmanager, command")
        );
    }

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
