//! Waiting until a restarted node serves again (the attempt's validation).
//!
//! Owns: how long a restart has to prove itself — `recovery_validation`,
//! extended while the broker says it is starting or replaying its logs —
//! waking the watcher to probe at the validation interval, waiting for every
//! entry of the restarted process, and ending the wait at once when systemd
//! says the restarted process exited.
//! Must never: act on the node, or call it serving before the watcher does
//! (its `recovery_threshold` rounds).

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tracing::info;

use super::engine::Engine;
use super::lifecycle::UNIT_POLL;
use crate::audit::rfc3339;
use crate::monitor::Cause;
use crate::topology::Node;

/// The shortest time between two probes the validation asks for.
const MIN_WAKE: Duration = Duration::from_millis(100);

/// Why a restart that ran did not bring the node back.
pub enum Unproven {
    /// It did not pass its probes within the validation time.
    TimedOut(Duration),
    /// systemd says the restarted process exited (`failed` or `inactive`).
    Exited { after: Duration, evidence: String },
}

impl Engine {
    /// Waits until the watcher sees the node serving again (its `recovery_threshold`
    /// rounds), waking it to probe at the validation interval. `watch_unit`
    /// (a `restart_service` restart): systemd is asked every two seconds too,
    /// and a unit that is `failed` or `inactive` again ends the wait at once —
    /// the process exited, nothing will serve.
    pub(super) async fn await_serving(
        &self,
        node: &Node,
        incident: &str,
        watch_unit: bool,
    ) -> Result<Duration, Unproven> {
        let v = &self.config.recovery.recovery_validation;
        let (limit, every) = (v.timeout_seconds.duration(), v.interval_seconds.duration().max(MIN_WAKE));
        let stall = self.config.recovery.log_recovery_stall_seconds.duration();
        let started = Instant::now();
        let mut next_wake = started;
        // While the broker reports starting or log recovery, the limit is extended
        // until its state has not changed for `log_recovery_stall_seconds`.
        let mut reported: Option<(Cause, Instant)> = None;
        // The last moment the broker said it was recovering: once it stops saying
        // so it still gets the whole validation time to pass its probes.
        let mut last_report: Option<Instant> = None;
        let serving = |id: &str| self.serving(id);
        let siblings = self.siblings(node);
        let mut unit_asked = started;
        loop {
            // The restarted process is whole when every entry of it serves (a KRaft
            // node's controller listener opens long before its broker's). Past the
            // limit, the node itself serving is enough: its sibling's incident decides.
            if serving(&node.id) && (siblings.iter().all(|s| serving(s)) || started.elapsed() >= limit) {
                return Ok(started.elapsed());
            }
            for s in siblings.iter().filter(|s| !serving(s)) {
                if Instant::now() >= next_wake {
                    self.board.wake(s);
                }
            }
            let now_reported = self.reports_self_recovery(&node.id);
            if now_reported.is_some() {
                last_report = Some(Instant::now());
            }
            match (now_reported, reported) {
                (Some((cause, _)), Some((c, _))) if c == cause => {}
                (Some((cause, evidence)), _) => {
                    // A new state is progress: the limit runs from here.
                    reported = Some((cause, Instant::now()));
                    info!(message = "Recovery: validation extended while the broker recovers by itself.", node = %node.id, evidence = %evidence, stall_s = stall.as_secs());
                    self.journal
                        .record(
                            "validation_extended",
                            Some(&node.id),
                            Some(incident),
                            json!({"evidence": format!("{evidence} since {}", rfc3339(SystemTime::now())), "stall_s": stall.as_secs()}),
                        )
                        .await;
                }
                (None, _) => reported = None,
            }
            let extended = reported.is_some_and(|(_, since)| since.elapsed() < stall)
                || last_report.is_some_and(|at| at.elapsed() < limit);
            if started.elapsed() >= limit && !extended {
                return Err(Unproven::TimedOut(started.elapsed().max(limit)));
            }
            if watch_unit && unit_asked.elapsed() >= 2 * UNIT_POLL {
                unit_asked = Instant::now();
                if let Some(u) = self.unit_state(node).await
                    && matches!(u.active.as_str(), "failed" | "inactive")
                    && !serving(&node.id)
                {
                    return Err(Unproven::Exited { after: started.elapsed(), evidence: u.evidence() });
                }
            }
            if Instant::now() >= next_wake {
                self.board.wake(&node.id);
                next_wake += every;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
