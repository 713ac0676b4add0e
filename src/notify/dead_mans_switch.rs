//! The dead man's switch: a signal every interval while this healer runs, so
//! people learn when none does — an always-firing alert to Alertmanager (the
//! "Watchdog" pattern: a route sends it to a service that pages when it
//! stops) and/or a ping URL (healthchecks-style).
//!
//! Owns: the signal's shape — the same labels from every healer of one
//! cluster, so several healers make one alert that ends only when the last
//! one stops — and its rhythm (`endsAt` three intervals ahead).
//! Must never: name the ping URL in a log (it is a secret), or stop the
//! healer when the signal cannot be sent.

use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::audit::rfc3339;
use crate::config::Config;

/// The alert's name: an Alertmanager route matches it.
pub const ALERTNAME: &str = "KafkaSelfHealingWatchdog";

/// The alert Alertmanager receives at `now` (one per cluster, whichever healer sends it).
pub fn alert(cluster: &str, now: SystemTime, interval: Duration) -> serde_json::Value {
    json!([{
        "labels": {"alertname": ALERTNAME, "cluster": cluster, "severity": "none"},
        "annotations": {
            "summary": format!("kafka-self-healing runs for {cluster}"),
            "description": "Always firing while a healer runs. Route it to a dead man's switch: when it stops, no healer watches the cluster.",
        },
        "startsAt": rfc3339(now),
        "endsAt": rfc3339(now + interval * 3),
    }])
}

/// Sends the signal every interval until `shutdown`.
pub async fn run(config: std::sync::Arc<Config>, shutdown: CancellationToken) {
    let d = &config.notifications.dead_mans_switch;
    if d.alertmanager_url.is_none() && d.ping_url.is_none() {
        return;
    }
    let interval = d.interval_seconds.duration();
    let http = crate::http_client::build(|b| b).0;
    let timeout = interval.min(Duration::from_secs(10));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Some(base) = &d.alertmanager_url {
            let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
            let body = alert(&config.cluster.name, SystemTime::now(), interval);
            match http
                .post(&url)
                .timeout(timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await
                .and_then(|r| r.error_for_status())
            {
                Ok(_) => debug!(message = "Dead man's switch: the watchdog alert was sent.", alertmanager = %base),
                Err(e) => {
                    warn!(message = "Dead man's switch: Alertmanager did not take the watchdog alert.", alertmanager = %base, error = %e.without_url())
                }
            }
        }
        if let Some(ping) = &d.ping_url {
            match http.get(ping.expose()).timeout(timeout).send().await.and_then(|r| r.error_for_status()) {
                Ok(_) => debug!("Dead man's switch: pinged."),
                Err(e) => {
                    warn!(message = "Dead man's switch: the ping URL did not answer (the URL is a secret and not shown).", error = %e.without_url())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_alert_is_one_per_cluster_and_ends_three_intervals_ahead() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = alert("prod", now, Duration::from_secs(60));
        assert_eq!(a[0]["labels"], json!({"alertname": ALERTNAME, "cluster": "prod", "severity": "none"}));
        assert_eq!(a[0]["startsAt"], rfc3339(now));
        assert_eq!(a[0]["endsAt"], rfc3339(now + Duration::from_secs(180)));
    }
}
