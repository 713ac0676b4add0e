//! The `notifications` section, checked by the component that sends them.
//!
//! Owns: the notification rules — each channel's settings, routing and
//! triggers, templates that render, e-mail addresses, credentials that can be
//! used on the connection they would go over.
//! Must never: send anything, or stop at the first problem.

use crate::config::Trigger;
use crate::config::validate::{Checker, is_email};
use crate::plugin::Registry;

pub fn check(c: &mut Checker, plugins: &Registry) {
    let config = c.config;
    let n = &config.notifications;
    let channels = crate::notify::channels::configured(config, plugins);
    if channels.is_empty() {
        c.warning(
            "notifications",
            "no notification channel is configured: escalations will only be logged",
            "configure `notifications.smtp` (or another channel) so people hear about failures",
        );
    }
    for (key, url) in [
        ("webhook.url", n.webhook.as_ref().map(|w| w.url.as_str())),
        ("pagerduty.events_url", n.pagerduty.as_ref().map(|p| p.events_url.as_str())),
        ("alertmanager.url", n.alertmanager.as_ref().map(|a| a.url.as_str())),
        ("slack.webhook_url", n.slack.as_ref().map(|s| s.webhook_url.expose())),
        ("teams.webhook_url", n.teams.as_ref().map(|t| t.webhook_url.expose())),
        ("dead_mans_switch.alertmanager_url", n.dead_mans_switch.alertmanager_url.as_deref()),
        ("dead_mans_switch.ping_url", n.dead_mans_switch.ping_url.as_ref().map(|p| p.expose())),
    ] {
        if let Some(url) = url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            // The value may be a secret: name the key, not the value.
            c.error(
                &format!("notifications.{key}"),
                format!("`notifications.{key}` is not an http:// or https:// URL"),
                "",
            );
        }
    }
    let every = n.dead_mans_switch.interval_seconds.0;
    if every <= 0.0 {
        c.error(
            "notifications.dead_mans_switch.interval_seconds",
            format!("`notifications.dead_mans_switch.interval_seconds` must be above 0, found {every}"),
            "60 (the default); the watchdog alert ends three intervals after the last healer stops",
        );
    }
    for &trigger in Trigger::ALL {
        let Some(t) = crate::notify::compose::template_of(config, trigger) else { continue };
        for (part, template) in [("subject", &t.subject), ("body", &t.body)] {
            if let Some(template) = template
                && let Err(e) = crate::notify::compose::render(template, &crate::notify::compose::sample_context())
            {
                c.error(
                    &format!("notifications.templates.{trigger}.{part}"),
                    format!("the template does not render: {e}"),
                    "variables: cluster, trigger, node, node_type, incident_id, cause, evidence, failed_at, outcome, reason, cluster_state, next, default_subject, default_body, attempts (n, action, command, exit_code, result, output, started_at)",
                );
            }
        }
    }
    let d = &n.delivery;
    if d.max_backoff_seconds.0 < d.initial_backoff_seconds.0 {
        c.error(
            "notifications.delivery.max_backoff_seconds",
            "`max_backoff_seconds` is smaller than `initial_backoff_seconds`",
            "",
        );
    }
    let Some(smtp) = &n.smtp else { return };
    if smtp.use_tls && smtp.use_ssl {
        c.error(
            "notifications.smtp.use_ssl",
            "`use_tls` (STARTTLS) and `use_ssl` (implicit TLS) cannot both be true",
            "port 587 usually means `use_tls: true`, port 465 `use_ssl: true` with `use_tls: false`",
        );
    }
    if smtp.username.is_some() && smtp.password.is_some() && !smtp.use_tls && !smtp.use_ssl {
        let at = if c.written("notifications.smtp.username") {
            "notifications.smtp.username"
        } else {
            "notifications.smtp.password"
        };
        c.warning(
            at,
            "a username and password are set but the connection is not encrypted (`use_tls` and `use_ssl` are \
             false): most servers offer no login without TLS, and the password would cross the network in the clear",
            "set `use_tls: true` (STARTTLS, usually port 587) or `use_ssl: true` (usually port 465), or remove \
             `username`/`password` if the server needs no login; `kafka-self-healing notify-test` tries it",
        );
    }
    if c.written("notifications.smtp.host") && smtp.host.trim().is_empty() {
        c.error("notifications.smtp.host", "`notifications.smtp.host` must not be empty", "");
    }
    if smtp.port == 0 {
        c.error("notifications.smtp.port", "`notifications.smtp.port` must be between 1 and 65535, found 0", "");
    }
    if let Some(ca) = &smtp.ca_file {
        c.readable_file("notifications.smtp.ca_file", ca);
    }
    if smtp.to_emails.is_empty() {
        c.error(
            "notifications.smtp.to_emails",
            "`notifications.smtp.to_emails` is empty: nobody would receive the email",
            "list at least one address, e.g. `to_emails: [kafka-ops@example.com]`",
        );
    }
    let mut addresses = vec![("from_email".to_string(), smtp.from_email.clone())];
    for (key, list) in
        [("to_emails", &smtp.to_emails), ("cc_emails", &smtp.cc_emails), ("bcc_emails", &smtp.bcc_emails)]
    {
        addresses.extend(list.iter().enumerate().map(|(i, a)| (format!("{key}[{i}]"), a.clone())));
    }
    for (key, address) in addresses {
        if !is_email(&address) {
            c.error(
                &format!("notifications.smtp.{key}"),
                format!("`{address}` is not an email address"),
                "write name@domain",
            );
        }
    }
}
