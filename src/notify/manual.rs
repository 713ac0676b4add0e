//! `kafka-self-healing alert "message"`: an operator's own message to every
//! configured channel, through the same outbox as the daemon's.
//!
//! Owns: composing the manual notification (pure: `compose`), queueing it for
//! every channel, and seeing it delivered — by the running daemon when its
//! `/health` answers, else by this command itself.
//! Must never: lose it — a channel that fails keeps the message in the outbox,
//! and the daemon delivers it when it runs (at least once, like every notification).

use std::time::{Duration, SystemTime};

use super::channels;
use super::compose::Notification;
use crate::audit::rfc3339;
use crate::config::Config;
use crate::store::{self, millis, records};

/// Severities an operator may give.
pub const SEVERITIES: [&str; 4] = ["info", "warning", "error", "critical"];

/// The notification for `message`, from `by` (the login that ran the command).
pub fn compose(config: &Config, message: &str, severity: &str, by: &str, at: SystemTime) -> Notification {
    let cluster = &config.cluster.name;
    let first_line = message.lines().next().unwrap_or("").chars().take(120).collect::<String>();
    let body = format!("Cluster: {cluster}\nFrom: {by} (kafka-self-healing alert)\nAt: {}\n\n{message}\n", rfc3339(at));
    Notification::from_operator(cluster, "manual", severity, format!("[MANUAL] {cluster}: {first_line}"), body, at)
}

/// What happened to the message on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Kept in the outbox; the daemon retries it.
    Kept(String),
}

/// Queues `n` for every configured channel and sees it delivered; `daemon_up`
/// says whether the running daemon delivers (it polls the outbox), else this
/// process delivers once and leaves failures in the outbox.
pub async fn send(
    config: &Config,
    plugins: &crate::plugin::Registry,
    n: &Notification,
    daemon_up: bool,
) -> Result<Vec<(String, Outcome)>, String> {
    let channels: Vec<String> = channels::configured(config, plugins).into_iter().map(|(c, _)| c).collect();
    if channels.is_empty() {
        return Err("no notification channel is configured (notifications.smtp, slack, webhook, …)".into());
    }
    let path = std::path::Path::new(&config.system.state_dir).join(store::FILE_NAME);
    let conn = store::connect(&path).map_err(|e| e.to_string())?;
    let payload = serde_json::to_string(n).map_err(|e| e.to_string())?;
    let now = millis(SystemTime::now());
    let mut queued = Vec::new();
    for channel in &channels {
        let row = records::OutboxRow {
            channel: channel.as_str(),
            trigger: "manual",
            incident: n.incident_id.as_deref(),
            node: None,
            payload: &payload,
        };
        let id = records::enqueue(&conn, &row, now, now).map_err(|e| format!("cannot queue the message: {e}"))?;
        queued.push((channel.clone(), id));
    }
    let mut outcomes = Vec::new();
    if daemon_up {
        // The daemon polls its outbox every 250 ms; wait for its word on each row.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        for (channel, id) in queued {
            loop {
                let (delivered, error): (Option<i64>, Option<String>) = conn
                    .query_row("SELECT delivered_at, last_error FROM outbox WHERE id = ?1", [id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(|e| e.to_string())?;
                if delivered.is_some() {
                    outcomes.push((channel, Outcome::Delivered));
                    break;
                }
                if std::time::Instant::now() > deadline {
                    let why = error.unwrap_or_else(|| "not delivered within 30 s".into());
                    outcomes.push((channel, Outcome::Kept(why)));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        return Ok(outcomes);
    }
    let http = crate::http_client::build(|b| b.redirect(reqwest::redirect::Policy::none())).0;
    for (channel, id) in queued {
        let at = millis(SystemTime::now());
        match channels::deliver(config, plugins, &channel, n, &http).await {
            Ok(()) => {
                records::delivered(&conn, id, at).map_err(|e| e.to_string())?;
                outcomes.push((channel, Outcome::Delivered));
            }
            Err(e) => {
                // Due at once: the daemon tries it as soon as it runs.
                records::retry_later(&conn, id, at, &e.0).map_err(|e| e.to_string())?;
                outcomes.push((channel, Outcome::Kept(e.0)));
            }
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_alert_names_its_author_and_has_its_own_key() {
        let config = crate::setup::parse_str(
            "cluster:\n  name: prod\n  kafka_brokers: [{node_id: b, host: h}]\n",
            std::path::Path::new("t.yaml"),
            &|_| None,
        )
        .unwrap()
        .config;
        let n = compose(
            &config,
            "Disk replacement on broker-2 tonight\nExpect a planned stop.",
            "warning",
            "alice",
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(n.subject, "[MANUAL] prod: Disk replacement on broker-2 tonight");
        assert!(n.body.contains("From: alice") && n.body.contains("Expect a planned stop."));
        assert_eq!(n.incident_id.as_deref(), Some("manual-0"));
        assert_eq!(n.trigger, "manual");
    }
}
