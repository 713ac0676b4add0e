//! The registry of monitors, recovery actions and notifiers, by config name.
//!
//! Owns: which names exist, what kind each is, which node roles a monitor or
//! action applies to, and the runbook's plugin names that map onto built-ins.
//! Must never: run anything. The implementations live in `monitor/`,
//! `recovery/` and `notify/`; this module only knows their names.

use crate::topology::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Monitor,
    Action,
    Notifier,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Monitor => "monitoring method",
            Kind::Action => "recovery action",
            Kind::Notifier => "notification channel",
        }
    }
}

/// A built-in plugin: its config name and where it applies.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    pub roles: &'static [Role],
    pub summary: &'static str,
}

const ALL: &[Role] = &[Role::KafkaBroker, Role::KraftController, Role::Zookeeper];
const KAFKA: &[Role] = &[Role::KafkaBroker, Role::KraftController];
const BROKER: &[Role] = &[Role::KafkaBroker];

const fn monitor(name: &'static str, roles: &'static [Role], summary: &'static str) -> Builtin {
    Builtin { name, kind: Kind::Monitor, roles, summary }
}
const fn action(name: &'static str, summary: &'static str) -> Builtin {
    Builtin { name, kind: Kind::Action, roles: ALL, summary }
}
const fn notifier(name: &'static str, summary: &'static str) -> Builtin {
    Builtin { name, kind: Kind::Notifier, roles: ALL, summary }
}

/// Every built-in, in the order they are listed to operators.
pub const BUILTINS: &[Builtin] = &[
    monitor("socket", ALL, "TCP connect to the node's port"),
    monitor("kafka_api", KAFKA, "Kafka protocol: connect and ApiVersions"),
    monitor(
        "kafka_metadata",
        BROKER,
        "Metadata/DescribeCluster: registration, controller, offline and under-replicated partitions",
    ),
    monitor("kafka_log_dirs", BROKER, "DescribeLogDirs: offline log directories"),
    monitor("kraft_quorum", KAFKA, "DescribeQuorum: KRaft leader, epoch and voter lag"),
    monitor("zookeeper", &[Role::Zookeeper], "four-letter words ruok/srvr/mntr and the AdminServer"),
    monitor("jmx", KAFKA, "broker MBeans through Jolokia, a Prometheus exporter or JMX/RMI"),
    monitor("http", ALL, "an HTTP endpoint's status code and body"),
    monitor("command", ALL, "any executable, Nagios exit-code convention"),
    action("restart_service", "systemctl/service restart, locally or over SSH"),
    action("ssh", "a command on the node's host over SSH"),
    action("script", "an executable from the script directory"),
    action("ansible", "ansible-playbook limited to the node"),
    action("salt", "salt service.restart / state.apply"),
    action("restart_container", "docker/podman restart"),
    action("docker_compose", "docker compose restart of a service"),
    action("restart_pod", "kubectl delete pod"),
    action("kubectl_exec", "kubectl exec a command in the pod"),
    action("scale_statefulset", "kubectl scale a StatefulSet"),
    action("http", "call an orchestration webhook"),
    notifier("smtp", "email"),
    notifier("slack", "Slack incoming webhook"),
    notifier("teams", "Microsoft Teams webhook"),
    notifier("webhook", "generic JSON POST"),
    notifier("pagerduty", "PagerDuty Events API v2"),
    notifier("alertmanager", "Prometheus Alertmanager"),
    notifier("command", "an executable that reads the message as JSON"),
];

/// The runbook's plugin names and the built-in each one is.
pub const RUNBOOK_ALIASES: &[(&str, &str)] = &[
    ("tcp", "socket"),
    ("socket_monitoring", "socket"),
    ("jmx_monitoring", "jmx"),
    ("zookeeper_monitoring", "zookeeper"),
    ("kafka_api_monitoring", "kafka_api"),
    ("http_monitoring", "http"),
    ("service_restart", "restart_service"),
    ("ansible_playbook", "ansible"),
    ("script_execution", "script"),
    ("ssh_command", "ssh"),
    ("salt_state", "salt"),
    ("email_notification", "smtp"),
    ("email", "smtp"),
    ("slack_notification", "slack"),
    ("teams_notification", "teams"),
    ("webhook_notification", "webhook"),
    ("pagerduty_notification", "pagerduty"),
    ("alertmanager_notification", "alertmanager"),
];

/// The built-in `name` names, directly or through a runbook alias.
pub fn builtin(kind: Kind, name: &str) -> Option<&'static Builtin> {
    let canonical = RUNBOOK_ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, target)| target);
    BUILTINS.iter().find(|b| b.kind == kind && b.name == canonical)
}

/// Every name an operator may write for `kind`: built-ins and their aliases.
pub fn known_names(kind: Kind) -> Vec<&'static str> {
    let mut names: Vec<&str> = BUILTINS.iter().filter(|b| b.kind == kind).map(|b| b.name).collect();
    for (alias, target) in RUNBOOK_ALIASES {
        if BUILTINS.iter().any(|b| b.kind == kind && b.name == *target) {
            names.push(alias);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_builtins_of_their_kind() {
        for (alias, target) in RUNBOOK_ALIASES {
            assert!(BUILTINS.iter().any(|b| b.name == *target), "{alias} → {target} is not a built-in");
        }
        assert_eq!(builtin(Kind::Monitor, "jmx_monitoring").map(|b| b.name), Some("jmx"));
        assert_eq!(builtin(Kind::Action, "service_restart").map(|b| b.name), Some("restart_service"));
        assert_eq!(builtin(Kind::Notifier, "slack_notification").map(|b| b.name), Some("slack"));
        // `http` is both a monitor and an action; the kind decides.
        assert_eq!(builtin(Kind::Action, "http").map(|b| b.kind), Some(Kind::Action));
        assert!(builtin(Kind::Monitor, "restart_service").is_none());
    }
}
