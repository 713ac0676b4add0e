//! Running one attempt the guards admitted: wait out a stale registration,
//! re-verify, record, run (or say what would run), wait until it serves,
//! record the result.
//!
//! Owns: the last checks before an action (the node answers again; a guard
//! that changed while the attempt was prepared), what the attempt runs — an
//! external plugin or a built-in action's plan — and its record.
//! Must never: run an attempt it could not first record, run anything in a
//! dry run except a rehearsal that changes nothing (Ansible's `--check`), or
//! report success before the node serves again.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracing::{info, warn};

use super::actions::{self, Plan, Target};
use super::engine::{Engine, now_ms};
use super::files;
use super::journal::Timing;
use super::lifecycle::{Admitted, Attempted};
use super::runner;
use super::serving::Unproven;
use super::unit_state;
use crate::child::tail;
use crate::health::verdict;
use crate::monitor::{Cause, Status};
use crate::plugin::Kind;
use crate::plugin::external::External;
use crate::store::{AttemptRecord, IncidentRecord};
use crate::topology::{Node, Role};

/// What an attempt runs.
enum Runs {
    Plugin(External),
    Plan(Plan),
    /// Nothing can run: why.
    Cannot(String),
}

impl Engine {
    /// The admitted attempt on `node`.
    pub(super) async fn attempt(
        &self,
        node: &Node,
        incident: &mut IncidentRecord,
        admitted: &Admitted,
        guards: Value,
    ) -> Attempted {
        let n = admitted.attempt;
        self.await_stale_registration(node, incident).await;
        // The node may have come back while we waited: probe it once more now.
        let observations = futures::future::join_all(node.methods.iter().map(|m| self.prober.probe(node, m))).await;
        let v = verdict(&observations);
        if v.status != Status::Failed {
            info!(message = "Recovery attempt cancelled: the node answers again.", node = %node.id, incident = %incident.id, detail = %v.detail);
            let details = json!({"reason": "the node answers again", "detail": v.detail});
            self.journal.cancelled(node, incident, n, details).await;
            self.board.wake(&node.id);
            return Attempted::Cancelled;
        }
        // The re-probe may have taken a whole timeout: the operator may have paused
        // recovery, or the monitor lost the cluster, meanwhile. Ask once more, now.
        if let Some(r) = self.late_refusal(node) {
            info!(message = "Recovery attempt cancelled: a guard refuses it at the last moment.", node = %node.id, incident = %incident.id, guard = r.guard, reason = %r.reason);
            self.journal.cancelled(node, incident, n, json!({"reason": r.reason, "guard": r.guard})).await;
            return Attempted::Cancelled;
        }
        let action = admitted.action.clone();
        let target = Target {
            node,
            local: crate::host::is_this_host(&node.host),
            find_file: &files::per_role_file,
            attempt: n,
            incident_id: &incident.id,
            dry_run: self.dry_run,
            unit_failed: admitted.unit_failed,
            epoch: self.ha.epoch(),
        };
        let runs = match self.prober.plugins.external(Kind::Action, &action) {
            Some(plugin) => Runs::Plugin(plugin.clone()),
            None if !self.prober.plugins.enabled(Kind::Action, &action) => Runs::Cannot(format!(
                "recovery plugin `{action}` is disabled (plugins.recovery_plugins.{action}.enabled: false); nothing ran"
            )),
            None => match actions::plan(&action, &self.config.recovery, &target) {
                Ok(plan) => Runs::Plan(plan),
                Err(e) => Runs::Cannot(e),
            },
        };
        let command = match &runs {
            Runs::Plugin(e) => format!("plugin {} ({})", e.name, e.path.display()),
            Runs::Plan(p) => self.masker.mask(&p.describe()),
            Runs::Cannot(why) => format!("(cannot build: {why})"),
        };
        // Ansible's --check is a rehearsal that changes nothing: it runs in a dry run too.
        let executes = !self.dry_run || action == "ansible" || action == "ansible_playbook";
        let mut record = AttemptRecord {
            n,
            action: action.clone(),
            command: if executes { command } else { format!("would run: {command}") },
            dry_run: self.dry_run,
            started_at: now_ms(),
            finished_at: None,
            exit_code: None,
            success: None,
            result: None,
            output: None,
        };
        // The fence: this healer's term is valid and still the backend's, and
        // the attempt is in the intent journal before anything runs.
        let mut intended = incident.clone();
        intended.attempts.push(record.clone());
        if let Err(f) = self.ha.fence(&intended).await {
            warn!(message = "Recovery attempt refused: fenced.", node = %node.id, incident = %incident.id, attempt = n, reason = %f.reason);
            let details = json!({"attempt": n, "action": action, "reason": f.reason, "epoch": f.epoch});
            self.journal.record("fenced", Some(&node.id), Some(&incident.id), details).await;
            return Attempted::Cancelled;
        }
        if self.journal.attempt_started(node, incident, &record, guards).await.is_err() {
            return Attempted::NotRecorded;
        }
        let started = Instant::now();
        let mut timing = Timing::default();
        let (success, exit_code, result, output) = if !executes {
            (false, None, "dry run: not executed".to_string(), String::new())
        } else {
            let r = match &runs {
                Runs::Plugin(plugin) => self.run_plugin_action(plugin, node, incident, n).await,
                Runs::Plan(plan) => runner::run(plan, &self.masker, &self.http).await,
                Runs::Cannot(why) => runner::RunResult {
                    success: false,
                    exit_code: None,
                    duration: Duration::ZERO,
                    summary: format!("cannot run `{action}`: {why}"),
                    output: String::new(),
                },
            };
            if !matches!(runs, Runs::Cannot(_)) {
                timing.action = Some(r.duration);
            }
            if !r.success {
                (false, r.exit_code, r.summary, r.output)
            } else if self.dry_run {
                (false, r.exit_code, format!("{} (dry run: a rehearsal, nothing changed)", r.summary), r.output)
            } else {
                let validating = Instant::now();
                let served = self.await_serving(node, &incident.id, unit_state::applies(&action)).await;
                timing.validation = Some(validating.elapsed());
                let ok = served.is_ok();
                let said = match served {
                    Ok(after) => format!("{}; node serves again after {:.1}s", r.summary, after.as_secs_f64()),
                    Err(Unproven::TimedOut(limit)) => {
                        format!("{}, but the node did not pass its probes within {}s", r.summary, limit.as_secs())
                    }
                    Err(Unproven::Exited { after, evidence }) => format!(
                        "{}, but the process exited again {:.1}s later ({evidence}); its own log says why \
                         (journalctl -u {} on its host)",
                        r.summary,
                        after.as_secs_f64(),
                        actions::unit(&self.config.recovery, node.role)
                    ),
                };
                (ok, r.exit_code, said, r.output)
            }
        };
        timing.total = started.elapsed();
        record.finished_at = Some(now_ms());
        record.exit_code = exit_code;
        record.success = Some(success);
        record.result = Some(result);
        record.output = Some(tail(&output, 4000));
        self.journal.attempt_finished(node, incident, record, timing).await;
        if success { Attempted::Validated } else { Attempted::Failed }
    }

    /// ZooKeeper mode: while a crashed broker's old session still holds its
    /// registration, Kafka refuses to start (the new process exits with
    /// NodeExists). Waits, bounded, until the registrations watch sees it go.
    async fn await_stale_registration(&self, node: &Node, incident: &IncidentRecord) {
        let Some(id) =
            self.resolved(node).broker_id.filter(|id| node.role == Role::KafkaBroker && self.board.is_registered(*id))
        else {
            return;
        };
        // Only a process that is gone (nothing listens on its port) left its
        // session behind; a running one's session ends when the restart stops it.
        let gone = self
            .board
            .snapshot(&node.id)
            .and_then(|s| s.verdict)
            .is_some_and(|v| v.cause == Some(Cause::ConnectionRefused));
        if self.dry_run || !gone {
            return;
        }
        let limit = self.config.recovery.stale_registration_wait_seconds.duration();
        let evidence = format!(
            "/brokers/ids/{id} still exists: the crashed broker's ZooKeeper session has not expired, and Kafka \
             refuses to start until it has"
        );
        info!(message = "Recovery: waiting for the old registration to expire before the restart.", node = %node.id, incident = %incident.id, evidence = %evidence, limit_s = limit.as_secs());
        let details = json!({"evidence": evidence, "limit_s": limit.as_secs()});
        self.journal.record("awaiting_registration_expiry", Some(&node.id), Some(&incident.id), details).await;
        let started = Instant::now();
        while self.board.registration(id) == Some(true) && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let waited_s = started.elapsed().as_secs_f64();
        match self.board.registration(id) {
            Some(false) => {
                let details = json!({"waited_s": waited_s, "gone": true});
                self.journal.record("registration_expired", Some(&node.id), Some(&incident.id), details).await;
            }
            Some(true) => {
                let details = json!({"waited_s": waited_s, "gone": false});
                self.journal.record("registration_expired", Some(&node.id), Some(&incident.id), details).await;
                warn!(message = "Recovery: the old registration is still there; restarting anyway.", node = %node.id, incident = %incident.id, waited_s = started.elapsed().as_secs());
            }
            // The watch lost its session: nobody can say whether it is still
            // there. Restart now; if it is, Kafka refuses to start and the
            // attempt fails, the retry policy's next one comes.
            None => {
                let reason = "the ZooKeeper session watching /brokers/ids is lost: whether the old registration is still there cannot be told; restarting now (if it is, Kafka refuses to start, and the next attempt comes after the retry policy's delay)";
                warn!(message = "Recovery: the registrations are unknown; not waiting for the old one.", node = %node.id, incident = %incident.id);
                let details = json!({"waited_s": waited_s, "gone": null, "reason": reason});
                self.journal.record("registration_unknown", Some(&node.id), Some(&incident.id), details).await;
            }
        }
    }
}
