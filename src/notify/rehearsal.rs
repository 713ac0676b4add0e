//! `kafka-self-healing notify-test`: one test message to each configured
//! channel, now, directly — to learn before an incident whether people would
//! hear about it.
//!
//! Owns: composing the test message (pure: `compose`) and sending it once per
//! channel, with each channel's result or its exact error. PagerDuty and
//! Alertmanager get the message's resolution right after it, so a test opens
//! no incident anyone must close.
//! Must never: go through the outbox (a test that failed is not retried
//! later, and never reaches people when nobody is watching), or skip a
//! channel because of its routing: every configured channel is tested.

use std::time::SystemTime;

use super::channels;
use super::compose::Notification;
use crate::audit::rfc3339;
use crate::config::Config;
use crate::plugin::Registry;

/// The test message, from `by` on `host`.
pub fn compose(config: &Config, by: &str, host: &str, at: SystemTime) -> Notification {
    let cluster = &config.cluster.name;
    let body = format!(
        "Cluster: {cluster}\nFrom: {by} on {host} (kafka-self-healing notify-test)\nAt: {}\n\n\
         This is a test message: nothing is wrong and nothing needs doing. If you read it,\n\
         kafka-self-healing's notifications reach you on this channel.\n",
        rfc3339(at)
    );
    Notification::from_operator(
        cluster,
        "test",
        "info",
        format!("[TEST] {cluster}: kafka-self-healing notify-test"),
        body,
        at,
    )
}

/// Channels whose alerts stay open until resolved: the test resolves its own.
fn opens_an_alert(channel: &str) -> bool {
    matches!(channel, "pagerduty" | "alertmanager")
}

/// Sends `n` to every configured channel (or only `only`), one at a time.
/// `Err` when there is nothing to test; else each channel with `Ok(what
/// happened)` or `Err(the exact error)`.
pub async fn send(
    config: &Config,
    plugins: &Registry,
    n: &Notification,
    only: Option<&str>,
) -> Result<Vec<(String, Result<String, String>)>, String> {
    let configured: Vec<String> = channels::configured(config, plugins).into_iter().map(|(c, _)| c).collect();
    if configured.is_empty() {
        return Err("no notification channel is configured (notifications.smtp, slack, webhook, …)".into());
    }
    let chosen: Vec<String> = match only {
        None => configured.clone(),
        Some(name) => match configured.iter().find(|c| c.as_str() == name) {
            Some(c) => vec![c.clone()],
            None => {
                return Err(format!("no channel `{name}` is configured; configured: {}", configured.join(", ")));
            }
        },
    };
    let http = crate::http_client::build(|b| b.redirect(reqwest::redirect::Policy::none())).0;
    let mut results = Vec::new();
    for channel in chosen {
        let result = match channels::deliver(config, plugins, &channel, n, &http).await {
            Err(e) => Err(e.0),
            Ok(()) if opens_an_alert(&channel) => {
                let resolution = Notification { resolved: true, ..n.clone() };
                match channels::deliver(config, plugins, &channel, &resolution, &http).await {
                    Ok(()) => Ok("delivered, and resolved at once (no open alert is left)".to_string()),
                    Err(e) => {
                        Err(format!("delivered, but its resolution failed — resolve the test alert by hand: {}", e.0))
                    }
                }
            }
            Ok(()) => Ok("delivered".to_string()),
        };
        results.push((channel, result));
    }
    Ok(results)
}
