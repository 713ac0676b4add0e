//! Recovery actions as plans: the exact processes (or HTTP call) an attempt
//! runs. Pure: building a plan runs nothing and reads nothing — whether the
//! node's host is this one, and which per-role file a step runs, are given in
//! the [`Target`] — so every action's command line is tested even where its
//! tool (docker, kubectl, salt) cannot run here.
//!
//! Owns: the command line of every built-in action, placeholders, the
//! environment given to scripts, and where a command runs (locally, or on the
//! node's host over SSH).
//! Must never: build a shell string from unquoted values (values go in argv,
//! or are single-quoted by `Node::fill` inside operator-written templates).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::config::{RecoveryConfig, SaltFunction, ServiceManager, SshConfig};
use crate::topology::{Node, Role};

/// One process to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What it is, for people: `pre-restart command 1`, `restart`, …
    pub label: String,
    pub argv: Vec<String>,
    /// Added to the daemon's environment.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// What one attempt does.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Processes run in order; the first that fails ends the attempt.
    Steps(Vec<Step>),
    /// POST `body` to `url`; any 2xx is success.
    Http { url: String, headers: Vec<(String, String)>, body: String, timeout: Duration },
}

impl Plan {
    /// The plan as one line for the audit trail (not yet masked).
    pub fn describe(&self) -> String {
        match self {
            Plan::Steps(steps) => steps.iter().map(|s| shell_words(&s.argv)).collect::<Vec<_>>().join(" && "),
            Plan::Http { url, .. } => format!("POST {url}"),
        }
    }
}

/// Quotes `argv` so the line can be pasted into a shell.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Finds the file of a per-role step: (directory, the configured names by
/// node type, the node's role, the extension) → its path, or why there is none.
pub type FindFile<'a> = &'a (dyn Fn(&str, &BTreeMap<String, String>, Role, &str) -> Result<PathBuf, String> + Sync);

/// The facts an action is built from.
#[derive(Clone)]
pub struct Target<'a> {
    pub node: &'a Node,
    /// The node's host is this machine: its commands run here, not over SSH.
    pub local: bool,
    /// Where the node type's script or playbook is (`files::per_role_file`).
    pub find_file: FindFile<'a>,
    pub attempt: u32,
    pub incident_id: &'a str,
    pub dry_run: bool,
    /// systemd gave up on the node's unit (`failed`, perhaps its start limit):
    /// `restart_service` resets it before the restart.
    pub unit_failed: bool,
    /// The fencing token of the leader that runs it (several healers).
    pub epoch: Option<i64>,
}

impl Target<'_> {
    /// Fills `{attempt}`, `{incident_id}` and the node's placeholders.
    fn fill(&self, template: &str, shell: bool) -> String {
        let id =
            if shell { format!("'{}'", self.incident_id.replace('\'', "'\\''")) } else { self.incident_id.to_string() };
        let t = template.replace("{attempt}", &self.attempt.to_string()).replace("{incident_id}", &id);
        self.node.fill(&t, shell)
    }

    /// The node's facts for scripts: `KAFKA_NODE_ID`, `KAFKA_HOST`, … plus the attempt.
    fn environment(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> =
            self.node.environment().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        env.push(("KAFKA_ATTEMPT".into(), self.attempt.to_string()));
        env.push(("KAFKA_INCIDENT_ID".into(), self.incident_id.to_string()));
        if let Some(epoch) = self.epoch {
            env.push(("KAFKA_HEALER_EPOCH".into(), epoch.to_string()));
        }
        env
    }

    fn facts(&self) -> serde_json::Value {
        let n = self.node;
        json!({
            "node_id": n.id, "host": n.host, "port": n.port, "node_type": n.role.as_str(),
            "broker_id": n.broker_id, "attempt": self.attempt, "incident_id": self.incident_id,
            "epoch": self.epoch,
        })
    }
}

/// `ssh [options] [user@]host --` for commands on the node's host.
fn ssh_prefix(ssh: &SshConfig, host: &str) -> Vec<String> {
    let connect = ssh.connect_timeout.duration().as_secs().max(1);
    let mut argv = vec![
        "ssh".to_string(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={connect}"),
        "-p".into(),
        ssh.port.to_string(),
    ];
    if let Some(id) = &ssh.identity_file {
        argv.extend(["-i".into(), id.clone()]);
    }
    for o in &ssh.options {
        argv.extend(["-o".into(), o.clone()]);
    }
    argv.push(match &ssh.user {
        Some(u) => format!("{u}@{host}"),
        None => host.to_string(),
    });
    argv.push("--".into());
    argv
}

/// The unit of the node's service.
pub(crate) fn unit(r: &RecoveryConfig, role: Role) -> &str {
    let s = &r.restart_service;
    match role {
        Role::KafkaBroker => &s.kafka_service_name,
        Role::KraftController => &s.kraft_controller_service_name,
        Role::Zookeeper => &s.zookeeper_service_name,
    }
}

/// `argv` as run on `node`'s host: here, or over SSH (`recovery.ssh`).
/// `local`: the node's host is this machine.
pub(crate) fn on_node_host(r: &RecoveryConfig, node: &Node, local: bool, argv: Vec<String>) -> Vec<String> {
    if local {
        argv
    } else {
        let mut full = ssh_prefix(&r.ssh, &node.host);
        full.push(shell_words(&argv));
        full
    }
}

/// Builds the plan of `action` for `target`; `Err` says why it cannot run.
pub fn plan(action: &str, r: &RecoveryConfig, t: &Target<'_>) -> Result<Plan, String> {
    let node = t.node;
    let secs = |s: crate::config::Seconds| s.duration();
    let step = |label: &str, argv: Vec<String>, timeout: Duration| Step {
        label: label.to_string(),
        argv,
        env: t.environment(),
        timeout,
    };
    // A command string from the config, run by `sh -c` here or on the node's host.
    let on_host = |argv: Vec<String>| on_node_host(r, node, t.local, argv);
    let shell = |command: &str| on_host(vec!["sh".into(), "-c".into(), t.fill(command, true)]);
    let plan = match crate::plugin::builtin(crate::plugin::Kind::Action, action).map(|b| b.name) {
        Some("restart_service") => {
            let s = &r.restart_service;
            let unit = unit(r, node.role).to_string();
            let mut reset = vec!["systemctl".to_string(), "reset-failed".into(), unit.clone()];
            let mut restart = match s.service_manager {
                ServiceManager::Service => vec!["service".to_string(), unit, "restart".into()],
                ServiceManager::Systemctl => vec!["systemctl".to_string(), "restart".into(), unit],
            };
            if s.use_sudo {
                restart.splice(0..0, ["sudo".to_string(), "-n".into()]);
                reset.splice(0..0, ["sudo".to_string(), "-n".into()]);
            }
            let mut steps = Vec::new();
            if t.unit_failed && s.service_manager == ServiceManager::Systemctl {
                // A unit past its start limit refuses `restart` until it is reset.
                steps.push(step("reset-failed", on_host(reset), secs(s.timeout)));
            }
            for (i, c) in s.pre_restart_commands.iter().enumerate() {
                steps.push(step(&format!("pre-restart command {}", i + 1), shell(c), secs(s.timeout)));
            }
            steps.push(step("restart", on_host(restart), secs(s.timeout)));
            for (i, c) in s.post_restart_commands.iter().enumerate() {
                steps.push(step(&format!("post-restart command {}", i + 1), shell(c), secs(s.timeout)));
            }
            Plan::Steps(steps)
        }
        Some("ssh") => {
            let command = r.ssh.command.as_deref().ok_or("`recovery.ssh.command` is not set")?;
            let mut argv = ssh_prefix(&r.ssh, &node.host);
            argv.push(t.fill(command, true));
            Plan::Steps(vec![step("ssh", argv, secs(r.ssh.timeout))])
        }
        Some("script") => {
            let s = &r.script;
            let path = (t.find_file)(&s.script_directory, &s.scripts, node.role, "sh")?;
            let mut st = step("script", vec![path.display().to_string()], secs(s.timeout));
            st.env.extend(s.environment_variables.iter().map(|(k, v)| (k.clone(), v.clone())));
            Plan::Steps(vec![st])
        }
        Some("ansible") => {
            let a = &r.ansible;
            let playbook = (t.find_file)(&a.playbook_directory, &a.playbooks, node.role, "yml")?;
            let mut vars = t.facts();
            if let serde_json::Value::Object(map) = &mut vars {
                for (k, v) in &a.extra_vars {
                    map.insert(k.clone(), v.clone());
                }
            }
            let mut argv = vec!["ansible-playbook".to_string()];
            if let Some(inv) = &a.inventory_file {
                argv.extend(["-i".into(), inv.clone()]);
            }
            argv.extend(["--limit".into(), node.host.clone(), "--extra-vars".into(), vars.to_string()]);
            if let Some(v) = &a.vault_password_file {
                argv.extend(["--vault-password-file".into(), v.clone()]);
            }
            if t.dry_run {
                argv.push("--check".into());
            }
            argv.push(playbook.display().to_string());
            Plan::Steps(vec![step("ansible-playbook", argv, secs(a.timeout))])
        }
        Some("salt") => {
            let s = &r.salt;
            let mut argv = vec![s.command.clone(), t.fill(&s.target, false)];
            match s.function {
                SaltFunction::StateApply => {
                    argv.push("state.apply".into());
                    argv.push(s.state.clone().ok_or("`recovery.salt.state` is needed for state.apply")?);
                }
                SaltFunction::ServiceRestart => {
                    argv.extend(["service.restart".to_string(), unit(r, node.role).to_string()])
                }
            }
            Plan::Steps(vec![step("salt", argv, secs(s.timeout))])
        }
        Some("restart_container") => {
            let c = &r.restart_container;
            let argv = vec![c.runtime.to_string(), "restart".into(), t.fill(&c.container, false)];
            Plan::Steps(vec![step("restart container", argv, secs(c.timeout))])
        }
        Some("docker_compose") => {
            let c = &r.docker_compose;
            let mut argv = vec!["docker".to_string(), "compose".into()];
            if let Some(f) = &c.file {
                argv.extend(["-f".into(), f.clone()]);
            }
            argv.extend(["restart".into(), t.fill(&c.service, false)]);
            Plan::Steps(vec![step("docker compose restart", argv, secs(c.timeout))])
        }
        Some(k @ ("restart_pod" | "kubectl_exec" | "scale_statefulset")) => {
            let k8s = &r.kubernetes;
            let mut argv = vec![k8s.kubectl.clone()];
            if let Some(ctx) = &k8s.context {
                argv.extend(["--context".into(), ctx.clone()]);
            }
            argv.extend(["--namespace".into(), k8s.namespace.clone()]);
            let pod = t.fill(&k8s.pod, false);
            match k {
                "restart_pod" => argv.extend(["delete".into(), "pod".into(), pod, "--wait=false".into()]),
                "kubectl_exec" => {
                    if k8s.exec_command.is_empty() {
                        return Err("`recovery.kubernetes.exec_command` is empty".into());
                    }
                    argv.extend(["exec".into(), pod, "--".into()]);
                    argv.extend(k8s.exec_command.iter().map(|c| t.fill(c, false)));
                }
                _ => {
                    let sts = k8s.statefulset.as_ref().ok_or("`recovery.kubernetes.statefulset` is not set")?;
                    argv.extend([
                        "scale".into(),
                        "statefulset".into(),
                        t.fill(sts, false),
                        format!("--replicas={}", k8s.replicas),
                    ]);
                }
            }
            Plan::Steps(vec![step(k, argv, secs(k8s.timeout))])
        }
        Some("http") => {
            let h = &r.http;
            let url = h.url.as_deref().ok_or("`recovery.http.url` is not set")?;
            Plan::Http {
                url: t.fill(url, false),
                headers: h.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                body: json!({"action": "recover", "dry_run": t.dry_run, "node": t.facts()}).to_string(),
                timeout: secs(h.timeout),
            }
        }
        _ => return Err(format!("`{action}` is not a recovery action of this version")),
    };
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> crate::config::Config {
        let yaml = format!(
            "cluster:\n  kafka_brokers:\n    - {{node_id: b1, host: kafka1.example.com, broker_id: 1}}\n{extra}"
        );
        crate::setup::parse_str(&yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config
    }

    fn node(host: &str, role: Role) -> Node {
        Node {
            id: "b1".into(),
            role,
            host: host.into(),
            port: 9092,
            broker_id: Some(1),
            jmx_port: None,
            admin_port: None,
            methods: Vec::new(),
            on_this_host: false,
        }
    }

    /// A target on `n`'s host: local for a loopback address, as the engine says.
    fn target<'a>(n: &'a Node, attempt: u32, incident_id: &'a str, dry_run: bool) -> Target<'a> {
        let local = n.host.starts_with("127.");
        Target {
            node: n,
            local,
            find_file: &crate::recovery::files::per_role_file,
            attempt,
            incident_id,
            dry_run,
            unit_failed: false,
            epoch: None,
        }
    }

    fn argv(action: &str, c: &crate::config::Config, n: &Node) -> Vec<Vec<String>> {
        let t = target(n, 2, "inc-1", false);
        match plan(action, &c.recovery, &t).unwrap() {
            Plan::Steps(steps) => steps.into_iter().map(|s| s.argv).collect(),
            Plan::Http { .. } => panic!("not a process"),
        }
    }

    #[test]
    fn restart_service_runs_locally_or_over_ssh() {
        let c = config(
            "recovery:\n  restart_service: {use_sudo: true, pre_restart_commands: [\"echo {node_id} {attempt}\"]}\n  ssh: {user: ops, port: 2222}\n",
        );
        let local = argv("restart_service", &c, &node("127.0.0.1", Role::KafkaBroker));
        assert_eq!(local[0], ["sh", "-c", "echo 'b1' 2"]);
        assert_eq!(local[1], ["sudo", "-n", "systemctl", "restart", "kafka"]);
        let remote = argv("service_restart", &c, &node("kafka1.example.com", Role::Zookeeper));
        assert_eq!(
            remote[1],
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-p",
                "2222",
                "ops@kafka1.example.com",
                "--",
                "sudo -n systemctl restart zookeeper"
            ]
        );
        // systemd gave up on the unit: reset it first, then restart.
        let n = node("kafka1.example.com", Role::KafkaBroker);
        let t = Target { unit_failed: true, ..target(&n, 1, "inc-1", false) };
        let Plan::Steps(steps) = plan("restart_service", &c.recovery, &t).unwrap() else { panic!() };
        let labels: Vec<&str> = steps.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["reset-failed", "pre-restart command 1", "restart"]);
        assert_eq!(steps[0].argv.last().unwrap(), "sudo -n systemctl reset-failed kafka");
    }

    #[test]
    fn orchestrators_get_exact_command_lines() {
        let c = config(
            "recovery:\n  salt: {target: \"{node_id}.minions\"}\n  restart_container: {runtime: podman, container: \"kafka-{broker_id}\"}\n\
             \x20 docker_compose: {file: /srv/kafka/compose.yaml, service: \"broker{broker_id}\"}\n\
             \x20 kubernetes: {namespace: kafka, pod: \"kafka-{broker_id}\", exec_command: [kill, \"1\"], statefulset: kafka, replicas: 3}\n",
        );
        let n = node("kafka1.example.com", Role::KafkaBroker);
        assert_eq!(argv("salt", &c, &n)[0], ["salt", "b1.minions", "service.restart", "kafka"]);
        assert_eq!(argv("restart_container", &c, &n)[0], ["podman", "restart", "kafka-1"]);
        assert_eq!(
            argv("docker_compose", &c, &n)[0],
            ["docker", "compose", "-f", "/srv/kafka/compose.yaml", "restart", "broker1"]
        );
        assert_eq!(
            argv("restart_pod", &c, &n)[0],
            ["kubectl", "--namespace", "kafka", "delete", "pod", "kafka-1", "--wait=false"]
        );
        assert_eq!(
            argv("kubectl_exec", &c, &n)[0],
            ["kubectl", "--namespace", "kafka", "exec", "kafka-1", "--", "kill", "1"]
        );
        assert_eq!(
            argv("scale_statefulset", &c, &n)[0],
            ["kubectl", "--namespace", "kafka", "scale", "statefulset", "kafka", "--replicas=3"]
        );
    }

    #[test]
    fn scripts_and_playbooks_are_found_per_role() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("default.sh"), "").unwrap();
        std::fs::write(dir.path().join("kafka_broker.yml"), "").unwrap();
        let d = dir.path().display();
        let c = config(&format!(
            "recovery:\n  script: {{script_directory: {d}, environment_variables: {{FOO: bar}}}}\n  ansible: {{playbook_directory: {d}, inventory_file: /etc/ansible/hosts, extra_vars: {{serial: 1}}}}\n"
        ));
        let n = node("kafka1.example.com", Role::KafkaBroker);
        let t = target(&n, 1, "inc-9", true);
        let Plan::Steps(script) = plan("script", &c.recovery, &t).unwrap() else { panic!() };
        assert_eq!(script[0].argv, [format!("{d}/default.sh")]);
        let env = &script[0].env;
        for (k, v) in [("KAFKA_NODE_ID", "b1"), ("KAFKA_PORT", "9092"), ("KAFKA_INCIDENT_ID", "inc-9"), ("FOO", "bar")]
        {
            assert!(env.contains(&(k.to_string(), v.to_string())), "{k}: {env:?}");
        }
        let Plan::Steps(play) = plan("ansible_playbook", &c.recovery, &t).unwrap() else { panic!() };
        let a = &play[0].argv;
        assert_eq!(&a[..5], ["ansible-playbook", "-i", "/etc/ansible/hosts", "--limit", "kafka1.example.com"]);
        assert!(a[6].contains("\"serial\":1") && a[6].contains("\"node_id\":\"b1\""), "{}", a[6]);
        assert_eq!(&a[7..], ["--check".to_string(), format!("{d}/kafka_broker.yml")]);
        let missing = plan("script", &config("recovery: {script: {script_directory: /nonexistent}}\n").recovery, &t);
        assert!(missing.unwrap_err().contains("/nonexistent/kafka_broker.sh"));
        assert!(plan("ssh", &c.recovery, &t).unwrap_err().contains("recovery.ssh.command"));
    }

    #[test]
    fn quoting_for_people() {
        let argv: Vec<String> = ["echo", "a b", "it's", "--x=1"].iter().map(|s| s.to_string()).collect();
        assert_eq!(shell_words(&argv), r"echo 'a b' 'it'\''s' --x=1");
    }
}
