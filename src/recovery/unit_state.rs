//! systemd's own view of a node's unit, for `restart_service` ladders: is
//! systemd already restarting it (`Restart=on-failure`), did it give up, or
//! is the unit simply stopped?
//!
//! Owns: the read-only command that asks (`systemctl show UNIT -p …`, locally
//! or over SSH like the restart itself) and the pure reading of its answer.
//! Must never: change the unit — asking needs no privilege and no sudo.

use std::time::Duration;

use super::actions::{Step, on_node_host, unit};
use crate::config::RecoveryConfig;
use crate::topology::Node;

/// What systemd says about a unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitState {
    pub unit: String,
    /// `active`, `activating`, `deactivating`, `reloading`, `inactive`, `failed`.
    pub active: String,
    /// `running`, `auto-restart`, `start`, `stop-sigterm`, `dead`, `failed`, …
    pub sub: String,
    /// `success`, `signal`, `exit-code`, `start-limit-hit`, …
    pub result: String,
    /// Restarts systemd made by itself (`NRestarts`).
    pub restarts: u32,
    /// When the unit's current main process started (epoch seconds), if it runs.
    pub started_at: Option<i64>,
}

/// What the engine makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// systemd is (re)starting or stopping it: a second restart on top would
    /// only kill the one in progress. Wait, bounded.
    InProgress,
    /// systemd gave up (`failed`, possibly the start limit): reset it, then start it.
    GaveUp,
    /// Stopped, or running but not serving: the ladder acts as usual.
    Act,
}

impl UnitState {
    /// `since`: when the node failed, or this daemon's last restart of it ended
    /// (epoch seconds). A unit that is `active` with a main process started
    /// after that was restarted by systemd (`Type=simple` is active as soon as
    /// the JVM runs, long before it serves): that restart is in progress too.
    pub fn verdict(&self, since: i64) -> Verdict {
        match self.active.as_str() {
            "activating" | "deactivating" | "reloading" => Verdict::InProgress,
            "failed" => Verdict::GaveUp,
            "active" if self.started_at.is_some_and(|t| t >= since) => Verdict::InProgress,
            _ => Verdict::Act,
        }
    }

    /// One line of evidence for the audit trail.
    pub fn evidence(&self) -> String {
        let started = match self.started_at {
            Some(t) if self.active == "active" => format!(
                ", main process started {}",
                crate::audit::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64))
            ),
            _ => String::new(),
        };
        format!(
            "systemd: {} is {} ({}){started}, result {}, {} automatic restart(s)",
            self.unit, self.active, self.sub, self.result, self.restarts
        )
    }
}

/// Whether `action` restarts a systemd unit (the built-in `restart_service`;
/// no external plugin may take a built-in's name): only then is systemd asked.
pub fn applies(action: &str) -> bool {
    crate::plugin::builtin(crate::plugin::Kind::Action, action).is_some_and(|b| b.name == "restart_service")
}

/// The command that asks systemd about `node`'s unit (`local`: on this machine).
pub fn query(r: &RecoveryConfig, node: &Node, local: bool) -> Step {
    let unit = unit(r, node.role).to_string();
    let argv = vec![
        "systemctl".to_string(),
        "show".into(),
        unit,
        "-p".into(),
        "Id,ActiveState,SubState,Result,NRestarts,ExecMainStartTimestamp".into(),
        "--timestamp=unix".into(),
    ];
    Step {
        label: "systemd unit state".into(),
        argv: on_node_host(r, node, local, argv),
        env: Vec::new(),
        timeout: Duration::from_secs(10).min(r.ssh.timeout.duration()),
    }
}

/// Reads `systemctl show -p …` output (`Key=value` lines); `None` when it
/// is not that (the unit does not exist, ssh printed an error).
pub fn parse(text: &str) -> Option<UnitState> {
    let mut s = UnitState::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim().to_string();
        match key.trim() {
            "Id" => s.unit = value,
            "ActiveState" => s.active = value,
            "SubState" => s.sub = value,
            "Result" => s.result = value,
            "NRestarts" => s.restarts = value.parse().unwrap_or(0),
            // `@1733051519` (empty when the unit never ran).
            "ExecMainStartTimestamp" => s.started_at = value.trim_start_matches('@').parse().ok(),
            _ => {}
        }
    }
    // `systemctl show` of a unit that does not exist still answers, with LoadState=not-found
    // and ActiveState=inactive: acting on it fails with the restart's own error.
    (!s.active.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_systemd_says_decides_whether_to_wait() {
        let cases = [
            ("activating", "auto-restart", Verdict::InProgress),
            ("activating", "start", Verdict::InProgress),
            ("deactivating", "stop-sigterm", Verdict::InProgress),
            ("reloading", "reload", Verdict::InProgress),
            ("failed", "failed", Verdict::GaveUp),
            ("inactive", "dead", Verdict::Act),
            ("active", "running", Verdict::Act),
        ];
        for (active, sub, verdict) in cases {
            let text = format!("Id=kafka.service\nActiveState={active}\nSubState={sub}\nResult=signal\nNRestarts=2\n");
            let state = parse(&text).unwrap();
            assert_eq!(state.verdict(0), verdict, "{active}/{sub}");
            assert_eq!(state.restarts, 2);
        }
        // Active again with a process systemd started after the failure: its restart is under way.
        let text = "Id=kafka.service\nActiveState=active\nSubState=running\nResult=success\nNRestarts=1\nExecMainStartTimestamp=@1000\n";
        let state = parse(text).unwrap();
        assert_eq!(state.started_at, Some(1000));
        assert_eq!(state.verdict(999), Verdict::InProgress);
        assert_eq!(state.verdict(1001), Verdict::Act, "started before the failure: running, not serving");
        let failed =
            parse("Id=kafka.service\nActiveState=failed\nSubState=failed\nResult=start-limit-hit\nNRestarts=5\n")
                .unwrap();
        assert_eq!(
            failed.evidence(),
            "systemd: kafka.service is failed (failed), result start-limit-hit, 5 automatic restart(s)"
        );
        assert_eq!(parse("ssh: connect to host broker-2 port 22: No route to host\n"), None);
    }

    #[test]
    fn the_question_runs_where_the_restart_would() {
        let yaml =
            "cluster:\n  kafka_brokers: [{node_id: b1, host: kafka1.example.com}]\nrecovery:\n  ssh: {user: ops}\n";
        let c = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap().config;
        let node = crate::topology::nodes(&c).remove(0);
        let step = query(&c.recovery, &node, false);
        assert_eq!(query(&c.recovery, &node, true).argv[0], "systemctl");
        assert_eq!(step.argv[0], "ssh");
        assert!(step.argv.contains(&"ops@kafka1.example.com".to_string()), "{:?}", step.argv);
        assert_eq!(
            step.argv.last().unwrap(),
            "systemctl show kafka -p Id,ActiveState,SubState,Result,NRestarts,ExecMainStartTimestamp --timestamp=unix"
        );
    }
}
