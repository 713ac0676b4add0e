//! What a notification says: trigger, subject and body from an incident
//! event. Pure.
//!
//! Owns: the wording people read at 3 a.m. — node, cause and evidence, every
//! attempt with its command and output, the cluster's state, what to do next.
//! Must never: contain a secret (commands and output come masked from the
//! store), or depend on the channel (channels only format).

use serde::{Deserialize, Serialize};

use crate::audit::rfc3339;
use crate::config::{Config, Trigger};
use crate::events::Event;
use crate::store::{IncidentRecord, from_millis};

/// One notification, channel-independent; stored in the outbox as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `on_failure_detected`, `on_recovery_failure`, `on_recovery_success`,
    /// `on_max_retries_exceeded`, `on_isolation`.
    pub trigger: String,
    /// `critical`, `error`, `warning` or `info` (PagerDuty's words).
    pub severity: String,
    /// The alert this belongs to is over (a recovery, a cleared cluster event).
    pub resolved: bool,
    pub cluster: String,
    pub node: Option<String>,
    /// `kafka_broker`, `kraft_controller`, `zookeeper`.
    pub node_type: Option<String>,
    /// Dedup key: one incident, one thread.
    pub incident_id: Option<String>,
    pub subject: String,
    pub body: String,
    /// When it happened (RFC 3339).
    pub at: String,
    /// The incident with its attempts, for channels that carry structure.
    pub incident: Option<IncidentRecord>,
}

impl Notification {
    /// A message from an operator's command (`alert`, `notify-test`) about the
    /// cluster as a whole, with a dedup key of its own (`TRIGGER-MILLIS`): it
    /// never merges with an incident.
    pub fn from_operator(
        cluster: &str,
        trigger: &str,
        severity: &str,
        subject: String,
        body: String,
        at: std::time::SystemTime,
    ) -> Notification {
        Notification {
            trigger: trigger.into(),
            severity: severity.into(),
            resolved: false,
            cluster: cluster.into(),
            node: None,
            node_type: None,
            incident_id: Some(format!("{trigger}-{}", crate::store::millis(at))),
            subject,
            body,
            at: crate::audit::rfc3339(at),
            incident: None,
        }
    }
}

/// The trigger an event is, if any (a successful attempt is told by the recovery).
pub fn trigger_of(event: &Event) -> Option<Trigger> {
    Some(match event {
        Event::Opened { .. } => Trigger::FailureDetected,
        Event::AttemptFinished { attempt, .. } if attempt.success == Some(true) => return None,
        Event::AttemptFinished { .. } => Trigger::RecoveryFailure,
        Event::Recovered { .. } => Trigger::RecoverySuccess,
        Event::FailedAgain { .. } => Trigger::FailedAgain,
        Event::CatchUpTimedOut { .. } => Trigger::CatchUpTimeout,
        Event::Escalated { .. } => Trigger::MaxRetriesExceeded,
        Event::ClusterEvent { .. } => Trigger::Isolation,
        Event::CutOff { .. } => Trigger::CutOff,
        Event::SystemError { .. } => Trigger::SystemError,
        Event::ConfigurationChanged { .. } => Trigger::ConfigurationChange,
        Event::PerformanceDegraded { .. } => Trigger::PerformanceDegradation,
    })
}

/// Whether `trigger` is switched on in `notifications.triggers`.
pub fn enabled(config: &Config, trigger: Trigger) -> bool {
    let t = &config.notifications.triggers;
    match trigger {
        Trigger::FailureDetected => t.on_failure_detected,
        Trigger::RecoveryFailure => t.on_recovery_failure,
        Trigger::RecoverySuccess => t.on_recovery_success,
        Trigger::FailedAgain => t.on_failed_again,
        Trigger::CatchUpTimeout => t.on_catch_up_timeout,
        Trigger::MaxRetriesExceeded => t.on_max_retries_exceeded,
        Trigger::Isolation => t.on_isolation,
        Trigger::CutOff => t.on_cut_off,
        Trigger::SystemError => t.on_system_error,
        Trigger::ConfigurationChange => t.on_configuration_change,
        Trigger::PerformanceDegradation => t.on_performance_degradation,
    }
}

fn fill(template: &str, cluster: &str, i: Option<&IncidentRecord>) -> String {
    let mut out = template.replace("{cluster}", cluster);
    if let Some(i) = i {
        out = out
            .replace("{node_id}", &i.node)
            .replace("{node_type}", &i.role)
            .replace("{incident_id}", &i.id)
            .replace("{cause}", i.cause.as_deref().unwrap_or("unknown"));
    }
    out
}

fn attempts_text(i: &IncidentRecord) -> String {
    if i.attempts.is_empty() {
        return "Attempts: none.\n".into();
    }
    let mut out = String::from("Attempts:\n");
    for a in &i.attempts {
        out.push_str(&format!(
            "  #{} {} at {} ({}), exit {}: {}\n     command: {}\n",
            a.n,
            a.action,
            rfc3339(from_millis(a.started_at)),
            a.took(),
            a.exit_code.map_or("-".to_string(), |c| c.to_string()),
            a.result.as_deref().unwrap_or(""),
            a.command
        ));
        if let Some(output) = a.output.as_deref().filter(|o| !o.trim().is_empty()) {
            let excerpt: Vec<&str> = output.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
            out.push_str(&format!("     output (last lines):\n       {}\n", excerpt.join("\n       ")));
        }
    }
    out
}

/// The notification for `event` (`None` for events that notify nobody).
/// `cluster_state` is the cluster view's one-line summary, if known.
pub fn compose(config: &Config, event: &Event, cluster_state: Option<&str>) -> Option<Notification> {
    let trigger = trigger_of(event)?;
    let cluster = &config.cluster.name;
    let templates = config.notifications.smtp.as_ref().map(|s| s.templates.clone()).unwrap_or_default();
    let state = cluster_state.unwrap_or("unknown");
    let failed_again_next;
    let (incident, severity, resolved, subject, next) = match event {
        Event::Opened { incident } => (
            Some(incident),
            "error",
            false,
            fill("[FAILED] {node_id} ({node_type}) is down in {cluster}", cluster, Some(incident)),
            "The recovery engine is acting on it; you will hear again if it recovers or is escalated.",
        ),
        Event::AttemptFinished { incident, .. } => (
            Some(incident),
            "error",
            false,
            fill(&templates.failure_subject, cluster, Some(incident)),
            "The engine retries per the policy; no action is needed yet.",
        ),
        Event::Recovered { incident } => (
            Some(incident),
            "info",
            true,
            fill(&templates.recovery_subject, cluster, Some(incident)),
            "Nothing to do. Check why it failed when convenient (the node's logs around the failure time).",
        ),
        Event::FailedAgain { incident, repeat, restart_at, .. } => {
            let in_s = ((*restart_at - incident.opened_at).max(0) as f64 / 1000.0).round();
            failed_again_next = format!(
                "It is restarted at {} ({in_s:.0}s after it failed: the retry policy's delay for the {} failure in a row \
                 within recovery.cooldown_seconds; each further one waits longer). If it fails again that soon \
                 max_attempts times in a row, or flaps (monitoring.flapping), it is escalated instead. Look at why it \
                 does not stay up (its server.log around both failures).",
                rfc3339(from_millis(*restart_at)),
                crate::recovery::lifecycle::ordinal(*repeat)
            );
            (
                Some(incident),
                "error",
                false,
                fill(
                    "[FAILED AGAIN] {node_id} ({node_type}) failed again soon after it recovered in {cluster}",
                    cluster,
                    Some(incident),
                ),
                failed_again_next.as_str(),
            )
        }
        Event::CatchUpTimedOut { incident, behind } => (
            Some(incident),
            "warning",
            false,
            fill("[DEGRADED] {node_id} serves again but is still behind in {cluster}", cluster, Some(incident)),
            if behind.is_empty() {
                "No broker's metadata could be read to tell whether it caught up; the incident stays open until one can."
            } else {
                "The broker serves, but these partitions are still short of it: one more failure may take them offline. \
                 Check its replica fetchers (kafka.server:type=ReplicaFetcherManager,name=MaxLag), disk and network; \
                 the incident closes by itself once it is back in every ISR."
            },
        ),
        Event::Escalated { incident, .. } => (
            Some(incident),
            "critical",
            false,
            fill(&templates.escalation_subject, cluster, Some(incident)),
            "The daemon has stopped acting on this node. Read the attempts below, fix the cause, then start the node \
             (it is re-armed once healthy) or run `kafka-self-healing incidents reset NODE`.",
        ),
        Event::CutOff { node, cleared: false, .. } => (
            None,
            "error",
            false,
            format!("[CUT OFF] {node} answers the healer but not its cluster in {cluster}"),
            "Not restarted: a restart cannot mend a network path, and the broker still runs. Check the network between \
             this broker and its peers, the controllers or ZooKeeper (firewall rules, routes, a switch, a lost session). \
             Its partitions are short of it while this lasts; you will hear again when it is back.",
        ),
        Event::CutOff { node, cleared: true, .. } => (
            None,
            "info",
            true,
            format!("[RESOLVED] {node} counts in its cluster again in {cluster}"),
            "Nothing to do; its replicas catch up by themselves.",
        ),
        Event::ClusterEvent { .. } => (
            None,
            "critical",
            false,
            fill("[ESCALATION] {cluster}: no automatic action — cluster-wide event", cluster, None),
            "Check the network between this host and the cluster first; actions resume by themselves when it clears.",
        ),
        Event::SystemError { .. } => (
            None,
            "critical",
            false,
            fill("[SYSTEM ERROR] kafka-self-healing for {cluster} needs attention", cluster, None),
            "Look at the daemon's application log and its state directory (disk full? permissions?); until fixed it may not act.",
        ),
        Event::ConfigurationChanged { .. } => (
            None,
            "info",
            false,
            fill("[CONFIG] kafka-self-healing for {cluster} reloaded its configuration", cluster, None),
            "Nothing to do if the change was intended; `kafka-self-healing config show` prints what is in effect.",
        ),
        Event::PerformanceDegraded { .. } => (
            None,
            "warning",
            false,
            fill("[PERFORMANCE] kafka-self-healing for {cluster} is short of resources", cluster, None),
            "Look at performance.log and the host's memory, CPU and disk; the daemon sheds optional work above system.memory_limit_mb.",
        ),
    };
    let mut body = String::new();
    body.push_str(&format!("Cluster: {cluster}\n"));
    if let Some(i) = incident {
        body.push_str(&format!("Node: {} ({})\n", i.node, i.role));
        if let Some(n) = config.cluster.nodes().find(|(_, n)| n.node_id == i.node).map(|(_, n)| n) {
            body.push_str(&format!(
                "Address: {}:{}{}\n",
                n.host,
                n.port.unwrap_or_default(),
                n.broker_id.map_or(String::new(), |b| format!(", broker id {b}"))
            ));
        }
        body.push_str(&format!("Incident: {}\n", i.id));
        body.push_str(&format!("Failed at: {}\n", rfc3339(from_millis(i.opened_at))));
        body.push_str(&format!("Cause: {}\nEvidence: {}\n", i.cause.as_deref().unwrap_or("unknown"), i.evidence));
        if let Some(outcome) = &i.outcome {
            body.push_str(&format!("Outcome: {outcome}\n"));
        }
        if let Some(times) = i.times_text() {
            body.push_str(&format!("Times: {times}\n"));
        }
        if let Event::CatchUpTimedOut { behind, .. } = event {
            let shown: Vec<&str> = behind.iter().take(20).map(String::as_str).collect();
            let more = behind.len().saturating_sub(shown.len());
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            body.push_str(&format!("Still behind on {} partition(s): {}{more}\n", behind.len(), shown.join(", ")));
        }
        if let Event::FailedAgain { recovered_ago_s, repeat, incident, .. } = event {
            let previous = incident.previous_recovered_at.map(|at| rfc3339(from_millis(at))).unwrap_or_default();
            body.push_str(&format!(
                "Failed again: {recovered_ago_s}s after it recovered ({previous}); repeat {repeat} in a row within recovery.cooldown_seconds\n"
            ));
        }
        if let Event::Escalated { reason, refusals, .. } = event {
            body.push_str(&format!("Escalated because: {reason}\n"));
            if !refusals.is_empty() {
                body.push_str(&format!("Guards that held attempts back:\n  {}\n", refusals.join("\n  ")));
            }
        }
        body.push_str(&attempts_text(i));
    }
    if let Event::ClusterEvent { reason }
    | Event::SystemError { reason }
    | Event::ConfigurationChanged { reason }
    | Event::PerformanceDegraded { reason } = event
    {
        body.push_str(&format!("Reason: {reason}\n"));
    }
    if let Event::CutOff { node, problem, since, .. } = event {
        body.push_str(&format!("Node: {node} (kafka_broker)\n"));
        body.push_str(&format!("Since: {}\nEvidence: {problem}\n", rfc3339(from_millis(*since))));
    }
    body.push_str(&format!("Cluster now: {state}\n"));
    body.push_str(&format!("Next: {next}\n"));
    let (subject, body) = apply_template(config, trigger, event, incident, state, next, subject, body);
    let cut_off = match event {
        Event::CutOff { node, since, .. } => Some((node, since)),
        _ => None,
    };
    Some(Notification {
        trigger: trigger.to_string(),
        severity: severity.to_string(),
        resolved,
        cluster: cluster.clone(),
        node: incident.map(|i| i.node.clone()).or_else(|| cut_off.map(|(node, _)| node.clone())),
        node_type: incident.map(|i| i.role.clone()).or_else(|| cut_off.map(|_| "kafka_broker".to_string())),
        // One alert per cut-off: its report and its end share the key.
        incident_id: incident
            .map(|i| i.id.clone())
            .or_else(|| cut_off.map(|(node, since)| format!("cut-off-{node}-{since}"))),
        subject,
        body,
        at: rfc3339(std::time::SystemTime::now()),
        incident: incident.cloned(),
    })
}

/// The configurable template of `trigger` (the daemon's own events have none).
pub fn template_of(config: &Config, trigger: Trigger) -> Option<&crate::config::MessageTemplate> {
    let t = &config.notifications.templates;
    match trigger {
        Trigger::FailureDetected => Some(&t.on_failure_detected),
        Trigger::RecoveryFailure => Some(&t.on_recovery_failure),
        Trigger::RecoverySuccess => Some(&t.on_recovery_success),
        Trigger::MaxRetriesExceeded => Some(&t.on_max_retries_exceeded),
        Trigger::Isolation => Some(&t.on_isolation),
        Trigger::CatchUpTimeout
        | Trigger::FailedAgain
        | Trigger::CutOff
        | Trigger::SystemError
        | Trigger::ConfigurationChange
        | Trigger::PerformanceDegradation => None,
    }
}

/// Renders one template; `Err` is the template's own error (for `validate` and the log).
pub fn render(template: &str, context: &minijinja::Value) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("t", template).map_err(|e| e.to_string())?;
    env.get_template("t").and_then(|t| t.render(context)).map_err(|e| e.to_string())
}

/// A context with every variable a template may use, for `validate` to render against.
pub fn sample_context() -> minijinja::Value {
    minijinja::context! {
        cluster => "cluster", trigger => "on_failure_detected", node => "node", node_type => "kafka_broker",
        incident_id => "inc", cause => "connection_refused", evidence => "evidence", failed_at => "2026-01-01T00:00:00Z",
        outcome => "", reason => "", cluster_state => "healthy", next => "next", default_subject => "subject",
        default_body => "body",
        attempts => vec![minijinja::context! {
            n => 1, action => "restart_service", command => "systemctl restart kafka", exit_code => 1,
            result => "exit 1", output => "", started_at => "2026-01-01T00:00:00Z",
        }],
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_template(
    config: &Config,
    trigger: Trigger,
    event: &Event,
    incident: Option<&IncidentRecord>,
    state: &str,
    next: &str,
    subject: String,
    body: String,
) -> (String, String) {
    let Some(t) = template_of(config, trigger).filter(|t| t.subject.is_some() || t.body.is_some()) else {
        return (subject, body);
    };
    let attempts: Vec<minijinja::Value> = incident
        .map(|i| {
            i.attempts
                .iter()
                .map(|a| {
                    minijinja::context! {
                        n => a.n, action => a.action, command => a.command, exit_code => a.exit_code,
                        result => a.result, output => a.output, started_at => rfc3339(from_millis(a.started_at)),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let reason = match event {
        Event::Escalated { reason, .. }
        | Event::ClusterEvent { reason }
        | Event::SystemError { reason }
        | Event::ConfigurationChanged { reason }
        | Event::PerformanceDegraded { reason } => reason.clone(),
        _ => String::new(),
    };
    let context = minijinja::context! {
        cluster => config.cluster.name, trigger => trigger.as_str(),
        node => incident.map(|i| i.node.clone()), node_type => incident.map(|i| i.role.clone()),
        incident_id => incident.map(|i| i.id.clone()), cause => incident.and_then(|i| i.cause.clone()),
        evidence => incident.map(|i| i.evidence.clone()),
        failed_at => incident.map(|i| rfc3339(from_millis(i.opened_at))),
        outcome => incident.and_then(|i| i.outcome.clone()), reason => reason,
        cluster_state => state, next => next, default_subject => subject.clone(), default_body => body.clone(),
        attempts => attempts,
    };
    let render_or_default = |template: &Option<String>, default: &str, what: &str| -> String {
        let Some(template) = template else { return default.to_string() };
        let filled = fill(template, &config.cluster.name, incident);
        match render(&filled, &context) {
            Ok(text) => text,
            Err(e) => {
                // Never lose a notification over a template: send the built-in wording.
                tracing::error!(message = "Notification template failed; the built-in wording is sent.", trigger = trigger.as_str(), part = what, error = %e);
                default.to_string()
            }
        }
    };
    let subject_out = render_or_default(&t.subject, &subject, "subject");
    let body_out = render_or_default(&t.body, &body, "body");
    (subject_out, body_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AttemptRecord, IncidentState};

    fn incident() -> IncidentRecord {
        IncidentRecord {
            id: "inc-1".into(),
            node: "k1".into(),
            role: "kafka_broker".into(),
            cause: Some("connection_refused".into()),
            evidence: "kafka_api: connect refused".into(),
            opened_at: 1_795_537_773_123,
            state: IncidentState::Escalated,
            closed_at: None,
            outcome: Some("3 attempts failed".into()),
            attempts: vec![AttemptRecord {
                n: 1,
                action: "restart_service".into(),
                command: "systemctl restart kafka".into(),
                dry_run: false,
                started_at: 1_795_537_773_200,
                finished_at: Some(1_795_537_775_200),
                exit_code: Some(1),
                success: Some(false),
                result: Some("restart: exit 1".into()),
                output: Some("Job for kafka.service failed".into()),
            }],
            ..IncidentRecord::default()
        }
    }

    #[test]
    fn an_escalation_says_everything_needed() {
        let yaml = "cluster:\n  name: prod\n  kafka_brokers:\n    - {node_id: k1, host: kafka1, broker_id: 1}\n";
        let config = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config;
        let event = Event::Escalated {
            incident: incident(),
            reason: "3 attempts failed".into(),
            refusals: vec!["max_parallel: 1 action(s) already running".into()],
        };
        let n = compose(&config, &event, Some("1 of 3 brokers down")).unwrap();
        assert_eq!(n.trigger, "on_max_retries_exceeded");
        assert_eq!(n.subject, "[ESCALATION] k1 needs a human");
        assert_eq!(n.severity, "critical");
        for needle in [
            "Cluster: prod",
            "Node: k1 (kafka_broker)",
            "Address: kafka1:9092, broker id 1",
            "Failed at: 2026-11-24T16:29:33.123Z",
            "Cause: connection_refused",
            "#1 restart_service",
            "exit 1: restart: exit 1",
            "command: systemctl restart kafka",
            "Job for kafka.service failed",
            "Cluster now: 1 of 3 brokers down",
            "Guards that held attempts back:\n  max_parallel: 1 action(s) already running",
            "incidents reset NODE",
        ] {
            assert!(n.body.contains(needle), "missing `{needle}` in:\n{}", n.body);
        }
        let recovered = compose(&config, &Event::Recovered { incident: incident() }, None).unwrap();
        assert!(recovered.resolved && recovered.subject == "[RESOLVED] k1 Recovered");
        let broken = Event::SystemError { reason: "the state store refuses writes: disk full".into() };
        let n = compose(&config, &broken, None).unwrap();
        assert_eq!((n.trigger.as_str(), n.severity.as_str()), ("on_system_error", "critical"));
        assert!(
            n.subject.starts_with("[SYSTEM ERROR]")
                && n.body.contains("Reason: the state store refuses writes: disk full")
        );
    }

    #[test]
    fn a_failure_soon_after_a_recovery_says_when_the_restart_comes_and_what_follows() {
        let yaml = "cluster:\n  name: prod\n  kafka_brokers:\n    - {node_id: k1, host: kafka1, broker_id: 1}\n";
        let config = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config;
        let opened = incident().opened_at;
        let repeat = IncidentRecord {
            state: IncidentState::Open,
            attempts: Vec::new(),
            outcome: None,
            repeat: 1,
            previous_recovered_at: Some(opened - 36_000),
            ..incident()
        };
        let event =
            Event::FailedAgain { incident: repeat, repeat: 1, recovered_ago_s: 36, restart_at: opened + 10_000 };
        let n = compose(&config, &event, None).unwrap();
        assert_eq!((n.trigger.as_str(), n.severity.as_str(), n.resolved), ("on_failed_again", "error", false));
        assert_eq!(n.subject, "[FAILED AGAIN] k1 (kafka_broker) failed again soon after it recovered in prod");
        for needle in [
            "Failed again: 36s after it recovered (2026-11-24T16:28:57.123Z); repeat 1 in a row",
            "It is restarted at 2026-11-24T16:29:43.123Z (10s after it failed",
            "the 1st failure in a row within recovery.cooldown_seconds",
            "max_attempts times in a row, or flaps (monitoring.flapping), it is escalated instead",
        ] {
            assert!(n.body.contains(needle), "missing `{needle}` in:\n{}", n.body);
        }
        // On by default: a failure soon after a recovery is never held in silence.
        assert!(enabled(&config, Trigger::FailedAgain));
    }

    #[test]
    fn a_cut_off_broker_is_told_with_its_evidence_and_resolved_under_the_same_key() {
        let yaml = "cluster:\n  name: prod\n  kafka_brokers:\n    - {node_id: k1, host: kafka1, broker_id: 1}\n";
        let config = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config;
        let problem = "broker k1 (id 1) answers here, but its peers' metadata does not list it: cut off".to_string();
        let event =
            |cleared| Event::CutOff { node: "k1".into(), problem: problem.clone(), since: 1_795_537_773_123, cleared };
        let n = compose(&config, &event(false), Some("degraded")).unwrap();
        assert_eq!((n.trigger.as_str(), n.severity.as_str(), n.resolved), ("on_cut_off", "error", false));
        assert_eq!(n.subject, "[CUT OFF] k1 answers the healer but not its cluster in prod");
        assert_eq!((n.node.as_deref(), n.node_type.as_deref()), (Some("k1"), Some("kafka_broker")));
        for needle in ["Since: 2026-11-24T16:29:33.123Z", "Evidence: broker k1 (id 1) answers here", "Not restarted"] {
            assert!(n.body.contains(needle), "missing `{needle}` in:\n{}", n.body);
        }
        let back = compose(&config, &event(true), None).unwrap();
        assert!(back.resolved && back.subject.starts_with("[RESOLVED] k1"), "{back:?}");
        assert_eq!(back.incident_id, n.incident_id, "one alert: its end resolves it");
        assert!(enabled(&config, Trigger::CutOff));
    }

    #[test]
    fn a_recovery_says_how_long_to_serve_and_to_sync_and_a_slow_catch_up_names_the_partitions() {
        let yaml = "cluster:\n  name: prod\n  kafka_brokers:\n    - {node_id: k1, host: kafka1, broker_id: 1}\n";
        let config = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config;
        let opened = incident().opened_at;
        let whole = IncidentRecord {
            state: IncidentState::Recovered,
            served_at: Some(opened + 12_000),
            in_sync_at: Some(opened + 20_500),
            ..incident()
        };
        let n = compose(&config, &Event::Recovered { incident: whole }, None).unwrap();
        assert!(n.body.contains("Times: serving after 12.0s, in sync (ISR) after 20.5s"), "{}", n.body);
        let behind = IncidentRecord { state: IncidentState::Open, served_at: Some(opened + 12_000), ..incident() };
        let event = Event::CatchUpTimedOut { incident: behind, behind: vec!["orders-0".into(), "orders-3".into()] };
        let n = compose(&config, &event, None).unwrap();
        assert_eq!((n.trigger.as_str(), n.severity.as_str(), n.resolved), ("on_catch_up_timeout", "warning", false));
        assert_eq!(n.subject, "[DEGRADED] k1 serves again but is still behind in prod");
        assert!(n.body.contains("Still behind on 2 partition(s): orders-0, orders-3"), "{}", n.body);
        assert!(n.body.contains("MaxLag"), "what to look at: {}", n.body);
    }

    #[test]
    fn templates_override_subject_and_body() {
        let yaml = "cluster:\n  name: prod\n  kafka_brokers:\n    - {node_id: k1, host: kafka1}\n\
                    notifications:\n  templates:\n    on_max_retries_exceeded:\n      subject: \"PAGE {node_id}: {{ cause }}\"\n\
                    \x20     body: \"{% for a in attempts %}{{ a.n }}:{{ a.action }}={{ a.exit_code }} {% endfor %}in {{ cluster }}\"\n";
        let config = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config;
        let event = Event::Escalated { incident: incident(), reason: "3 attempts failed".into(), refusals: vec![] };
        let n = compose(&config, &event, None).unwrap();
        assert_eq!(n.subject, "PAGE k1: connection_refused");
        assert_eq!(n.body, "1:restart_service=1 in prod");
        assert!(render("{{ nope }}", &sample_context()).is_err(), "undefined variables are errors");
    }
}
