//! One incident's lifecycle as a pure state machine: given what is observed
//! now and the clock, what comes next — close it, wait, escalate, or ask the
//! guards for the next attempt — and what is worth writing down on the way.
//!
//! Owns: the rules between detection and close — a broker recovering by
//! itself (and when that has stalled), systemd restarting the unit itself
//! (bounded), the action ladder and `max_attempts`, the backoff between
//! attempts (across restarts of the daemon), a guard's hold and its
//! de-duplication, escalation of a hold that lasts too long, a repeat
//! failure soon after a recovery (restarted after a delay that grows with
//! each repeat, told once, escalated when restarts do not hold), and who
//! gets the credit when the node serves again.
//! Must never: do I/O, read a clock of its own, or sleep: the engine brings
//! the observations and the time, and carries the decisions out.

use std::time::{Duration, SystemTime};

use super::guards::{Refusal, RefusalKind};
use super::policy::{RetryPolicy, ladder_step};
use super::unit_state::{self, UnitState, Verdict};
use crate::health::NodeState;
use crate::monitor::Cause;

/// How often the engine looks again while nothing changes.
pub const TICK: Duration = Duration::from_millis(250);
/// How long a refused attempt waits before the guards are asked again.
pub const REFUSED_WAIT: Duration = Duration::from_secs(1);
/// How long after an attempt the store could not record it is tried again.
pub const UNRECORDED_WAIT: Duration = Duration::from_secs(5);
/// How often systemd is asked about a unit while it restarts it itself.
pub const UNIT_POLL: Duration = Duration::from_secs(1);

/// The configuration a lifecycle follows.
#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: RetryPolicy,
    /// The node's action ladder (`recovery.actions`, or its own).
    pub ladder: Vec<String>,
    /// `recovery.log_recovery_stall_seconds`.
    pub stall: Duration,
    /// `recovery.guard_wait_escalate_seconds`.
    pub guard_wait: Duration,
    /// `recovery.restart_service.systemd_wait_seconds`.
    pub systemd_wait: Duration,
}

/// What the engine observed of the node just now.
#[derive(Debug, Clone)]
pub struct Observed {
    pub state: NodeState,
    /// The broker says it is starting or replaying its logs: that cause, and the evidence.
    pub self_recovery: Option<(Cause, String)>,
    /// When the node was last seen failing (the start of its current state).
    pub failed_at: SystemTime,
    /// More state changes than `monitoring.flapping` allows, lately.
    pub flapping: bool,
}

/// The node failed again within `recovery.cooldown_seconds` of its last
/// recovery: this incident is a repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    /// Its place in a row of such incidents (1: the first failure soon after a recovery).
    pub n: u32,
    /// When the previous incident recovered.
    pub recovered_at: SystemTime,
}

/// Who restarted a node that serves again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartedBy {
    /// This daemon's attempt, validated.
    Us,
    /// systemd's own `Restart=`, while we waited for it.
    Systemd,
    /// Nobody: it came back by itself.
    Nobody,
}

impl RestartedBy {
    /// For the audit trail (`restarted_by`).
    pub fn name(self) -> Option<&'static str> {
        match self {
            RestartedBy::Us => Some("kafka-self-healing"),
            RestartedBy::Systemd => Some("systemd"),
            RestartedBy::Nobody => None,
        }
    }
}

/// A guard holding the incident back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub guard: &'static str,
    /// Its latest reason (a cooldown counts down).
    pub reason: String,
    pub since: SystemTime,
}

/// Worth writing down (the journal writes each one once).
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// The broker started or replays its logs: no action while it progresses.
    RecoveringByItself { evidence: String, stall: Duration },
    /// Its own recovery has not moved for `stall`: acting.
    SelfRecoveryStalled { cause: Cause, evidence: String, unchanged: Duration, stall: Duration },
    /// systemd restarts the unit itself: no second restart on top, for up to `wait`.
    RestartingBySystemd { evidence: String, wait: Duration },
    /// systemd's restart did not bring the node back within its wait: acting.
    SystemdRestartStalled { evidence: String, waited: Duration },
    /// A guard began holding the incident back (once per guard, however its words change).
    Held { hold: Hold, attempt: u32 },
    /// The guard that held it back let go.
    Released { hold: Hold, held: Duration },
    /// It failed again `recovered_ago` after its last recovery (repeat `repeat`
    /// in a row): the first restart runs after `restart_in`, not at once.
    FailedAgain { repeat: u32, recovered_ago: Duration, restart_in: Duration },
}

/// What comes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// It serves again: close the incident.
    Recovered(RestartedBy),
    /// Look again after this long.
    Wait(Duration),
    /// People must look: close the incident as escalated.
    Escalate(String),
    /// Ask systemd about the unit the next attempt restarts (`unit_answered`), then step again.
    AskSystemd,
    /// Ask the guards whether attempt `n` may run now.
    AskGuards { attempt: u32 },
}

/// A decision: the notes to write, then what comes next.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub notes: Vec<Note>,
    pub next: Next,
}

impl Step {
    fn plain(next: Next) -> Step {
        Step { notes: Vec::new(), next }
    }
}

/// The guards let attempt `n` run.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// The hold that ended, if any.
    pub notes: Vec<Note>,
    pub attempt: u32,
    pub action: String,
    /// systemd gave up on the unit (`failed`): the restart resets it first.
    pub unit_failed: bool,
    /// What systemd said about the unit, for the attempt's record.
    pub systemd: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// The node answered again, or a guard refused at the last moment: nothing ran.
    Cancelled,
    /// The store refused the record: nothing ran.
    NotRecorded,
    /// It ran and the node serves again.
    Validated,
    /// It ran (or could not), and the node does not serve.
    Failed,
}

/// One incident's state between steps.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    settings: Settings,
    attempts_done: u32,
    /// When the last attempt ended (also one recorded before a restart).
    last_end: Option<SystemTime>,
    /// In [-1, 1]: spreads the backoff of nodes that failed together.
    jitter: f64,
    /// One entry per guard that held it back (`guard: reason`), for the escalation.
    refusals: Vec<String>,
    hold: Option<Hold>,
    /// What the broker last said it was doing, since when; and whether that stalled.
    recovering: Option<(Cause, SystemTime)>,
    stalled: bool,
    /// systemd's view of the unit (restart_service ladders), and when last asked.
    unit: Option<UnitState>,
    unit_asked: Option<SystemTime>,
    /// Since when systemd is restarting the unit itself, and whether that is
    /// the restart now credited (cleared once it stalled).
    systemd_since: Option<SystemTime>,
    systemd_restarted: bool,
    /// A repeat failure, and when its first restart is due once told.
    repeat: Option<Repeat>,
    repeat_due: Option<SystemTime>,
}

impl Lifecycle {
    /// A new incident, or one resumed after a restart: `attempts_done`
    /// attempts recorded, the last of which ended at `last_end`.
    pub fn new(settings: Settings, attempts_done: u32, last_end: Option<SystemTime>, jitter: f64) -> Lifecycle {
        Lifecycle {
            settings,
            attempts_done,
            last_end,
            jitter: jitter.clamp(-1.0, 1.0),
            refusals: Vec::new(),
            hold: None,
            recovering: None,
            stalled: false,
            unit: None,
            unit_asked: None,
            systemd_since: None,
            systemd_restarted: false,
            repeat: None,
            repeat_due: None,
        }
    }

    /// This incident is a repeat failure (its first attempt has not run yet).
    pub fn repeating(mut self, repeat: Repeat) -> Lifecycle {
        self.repeat = Some(repeat);
        self
    }

    /// The guards that held attempts back (`guard: reason`), for the escalation.
    pub fn refusals(&self) -> &[String] {
        &self.refusals
    }

    /// The guard holding the incident back now.
    pub fn hold(&self) -> Option<&Hold> {
        self.hold.as_ref()
    }

    fn attempt(&self) -> u32 {
        self.attempts_done + 1
    }

    fn restarts_unit(&self) -> bool {
        ladder_step(&self.settings.ladder, self.attempt()).is_some_and(unit_state::applies)
    }

    /// Whether systemd should be asked about the unit: the next attempt
    /// restarts a unit and the last answer is older than `UNIT_POLL`.
    fn wants_unit_state(&self, now: SystemTime) -> bool {
        self.restarts_unit() && self.unit_asked.is_none_or(|at| elapsed(at, now) >= UNIT_POLL)
    }

    /// systemd's answer (`None`: it could not be asked).
    pub fn unit_answered(&mut self, unit: Option<UnitState>, now: SystemTime) {
        self.unit = unit;
        self.unit_asked = Some(now);
    }

    /// systemd's verdict on the unit, when the next attempt restarts it.
    fn unit_verdict(&self, o: &Observed) -> Option<Verdict> {
        // Since when a new process would be systemd's doing: the failure, or our last restart.
        let since = self.last_end.map_or(o.failed_at, |end| end.max(o.failed_at));
        let since = epoch_seconds(since) - 1;
        self.unit.as_ref().filter(|_| self.restarts_unit()).map(|u| u.verdict(since))
    }

    /// What comes next, given what is observed at `now`.
    pub fn next(&mut self, o: &Observed, now: SystemTime) -> Step {
        match o.state {
            NodeState::Healthy | NodeState::Degraded => {
                let by = if self.systemd_restarted { RestartedBy::Systemd } else { RestartedBy::Nobody };
                return Step::plain(Next::Recovered(by));
            }
            // Not known yet (just started) or being confirmed: look again shortly.
            NodeState::Unknown | NodeState::Suspect => return Step::plain(Next::Wait(TICK)),
            NodeState::Failed => {}
        }
        let mut notes = Vec::new();
        // The broker's JVM answers and says it is starting or replaying its logs:
        // restarting it now would start its recovery from zero. Let it finish.
        let stall = self.settings.stall;
        match (&o.self_recovery, self.recovering) {
            (Some((cause, evidence)), last) if last.is_none_or(|(c, _)| c != *cause) => {
                self.recovering = Some((*cause, now));
                self.stalled = false;
                notes.push(Note::RecoveringByItself { evidence: evidence.clone(), stall });
                return Step { notes, next: Next::Wait(TICK) };
            }
            (Some((cause, evidence)), Some((_, since))) if !self.stalled => {
                if elapsed(since, now) < stall {
                    return Step::plain(Next::Wait(TICK));
                }
                self.stalled = true;
                notes.push(Note::SelfRecoveryStalled {
                    cause: *cause,
                    evidence: evidence.clone(),
                    unchanged: elapsed(since, now),
                    stall,
                });
            }
            (Some(_), _) => {}
            (None, _) => self.recovering = None,
        }
        let n = self.attempt();
        let max = self.settings.policy.max_attempts;
        if self.settings.ladder.is_empty() {
            let reason = "no recovery action is configured for this node (`recovery.actions` is empty)".to_string();
            return Step { notes, next: Next::Escalate(reason) };
        }
        if n > max {
            let reason = format!("{} attempts failed (max_attempts {max})", n - 1);
            return Step { notes, next: Next::Escalate(reason) };
        }
        // Failed again soon after it recovered: never held in silence. Restarted
        // after the retry policy's delay for the repeat (growing with each one),
        // said once; escalated at once when restarts do not hold.
        if let Some(r) = self.repeat.filter(|_| self.attempts_done == 0 && self.repeat_due.is_none()) {
            let ago = elapsed(r.recovered_at, o.failed_at).as_secs();
            let ordinal = ordinal(r.n);
            if o.flapping {
                let reason = format!(
                    "it failed again {ago}s after it recovered and is flapping (monitoring.flapping): restarting it again would not fix the cause"
                );
                return Step { notes, next: Next::Escalate(reason) };
            }
            if r.n >= max {
                let reason = format!(
                    "it failed again {ago}s after it recovered, the {ordinal} time in a row within recovery.cooldown_seconds: restarts do not hold (max_attempts {max})"
                );
                return Step { notes, next: Next::Escalate(reason) };
            }
            let restart_in = self.settings.policy.delay_before(r.n + 1, self.jitter);
            self.repeat_due = Some(now + restart_in);
            notes.push(Note::FailedAgain {
                repeat: r.n,
                recovered_ago: elapsed(r.recovered_at, o.failed_at),
                restart_in,
            });
        }
        // systemd restarting the unit itself (Restart=on-failure): a restart on top
        // would kill the one in progress. Wait for it, bounded, with its evidence.
        if self.wants_unit_state(now) {
            return Step { notes, next: Next::AskSystemd };
        }
        if self.unit_verdict(o) == Some(Verdict::InProgress) {
            let wait = self.settings.systemd_wait;
            let evidence = self.unit.as_ref().map(UnitState::evidence).unwrap_or_default();
            let since = match self.systemd_since {
                Some(since) => since,
                None => {
                    self.systemd_restarted = true;
                    notes.push(Note::RestartingBySystemd { evidence: evidence.clone(), wait });
                    *self.systemd_since.insert(now)
                }
            };
            if elapsed(since, now) < wait {
                return Step { notes, next: Next::Wait(TICK) };
            }
            if self.systemd_restarted {
                self.systemd_restarted = false;
                notes.push(Note::SystemdRestartStalled { evidence, waited: elapsed(since, now) });
            }
        }
        let due = match (self.last_end, self.repeat_due) {
            (Some(end), _) => Some(end + self.settings.policy.delay_before(n, self.jitter)),
            (None, due) => due,
        };
        if let Some(due) = due {
            if let Ok(left) = due.duration_since(now)
                && !left.is_zero()
            {
                return Step { notes, next: Next::Wait(left.min(TICK)) };
            }
        }
        Step { notes, next: Next::AskGuards { attempt: n } }
    }

    /// A guard refused attempt `n`: hold (noted once per guard), wait, or
    /// escalate — at once when the guard says so, or when it has held the
    /// incident for `guard_wait` and will not let go by itself.
    pub fn refused(&mut self, r: &Refusal, now: SystemTime) -> Step {
        if r.kind == RefusalKind::Escalate {
            return Step::plain(Next::Escalate(r.reason.clone()));
        }
        // One entry per guard, with its latest reason, for the escalation.
        let entry = format!("{}: {}", r.guard, r.reason);
        let prefix = format!("{}: ", r.guard);
        match self.refusals.iter_mut().find(|k| k.starts_with(&prefix)) {
            Some(k) => *k = entry,
            None => self.refusals.push(entry),
        }
        let mut notes = Vec::new();
        let held = match &mut self.hold {
            Some(h) if h.guard == r.guard => {
                h.reason = r.reason.clone();
                elapsed(h.since, now)
            }
            _ => {
                let hold = Hold { guard: r.guard, reason: r.reason.clone(), since: now };
                if let Some(previous) = self.hold.replace(hold.clone()) {
                    let held = elapsed(previous.since, now);
                    notes.push(Note::Released { hold: previous, held });
                }
                notes.push(Note::Held { hold, attempt: self.attempt() });
                Duration::ZERO
            }
        };
        let wait = self.settings.guard_wait;
        if held >= wait && !r.ends_by_itself() {
            let reason = format!(
                "held back by the `{}` guard for {}s (recovery.guard_wait_escalate_seconds is {}s): {}",
                r.guard,
                held.as_secs(),
                wait.as_secs(),
                r.reason
            );
            return Step { notes, next: Next::Escalate(reason) };
        }
        Step { notes, next: Next::Wait(REFUSED_WAIT) }
    }

    /// The guards let the next attempt run (the engine took a slot).
    pub fn admitted(&mut self, o: &Observed, now: SystemTime) -> Admitted {
        let mut notes = Vec::new();
        if let Some(hold) = self.hold.take() {
            let held = elapsed(hold.since, now);
            notes.push(Note::Released { hold, held });
        }
        let attempt = self.attempt();
        Admitted {
            notes,
            attempt,
            action: ladder_step(&self.settings.ladder, attempt).unwrap_or_default().to_string(),
            unit_failed: self.unit_verdict(o) == Some(Verdict::GaveUp),
            systemd: self.unit.as_ref().filter(|_| self.restarts_unit()).map(UnitState::evidence),
        }
    }

    /// It served again but failed before it was whole: the next attempt waits
    /// out the backoff from now, and systemd gets no credit for the last restart.
    pub fn failed_again(&mut self, now: SystemTime) {
        self.last_end = Some(now);
        self.systemd_restarted = false;
        self.systemd_since = None;
        self.recovering = None;
        self.stalled = false;
    }

    /// Attempt ended at `now` as `how`.
    pub fn finished(&mut self, how: Attempted, now: SystemTime) -> Next {
        self.unit_asked = None;
        match how {
            Attempted::Cancelled => Next::Wait(REFUSED_WAIT),
            Attempted::NotRecorded => Next::Wait(UNRECORDED_WAIT),
            Attempted::Validated => {
                self.attempts_done += 1;
                Next::Recovered(RestartedBy::Us)
            }
            Attempted::Failed => {
                self.attempts_done += 1;
                self.last_end = Some(now);
                Next::Wait(Duration::ZERO)
            }
        }
    }
}

/// `1st`, `2nd`, `3rd`, `4th` … for people.
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}

fn epoch_seconds(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
