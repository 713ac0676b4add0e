//! Whether a failed node opens an incident: the opening rules, pure, with the
//! clock passed in.
//!
//! Owns: the operator's "hands off" (a pause, a blackout period, a node's
//! maintenance window), a node already being worked on or held after an
//! escalation, and a broker's planned stop (a controlled shutdown) with its
//! grace period.
//! Must never: do I/O or read a clock: the engine gathers the facts (the
//! board, the controls, a peer's metadata) and carries the decision out.

use std::time::{Duration, Instant};

use crate::store::controls::Pause;

/// How soon after its port closed a broker must look cleanly stopped
/// (registration removed, or fenced) for a planned stop rather than a crash.
pub const CLEAN_WINDOW: Duration = Duration::from_secs(3);

/// What is known about a failed node when it might open an incident.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// An incident is being worked on for it.
    pub active: bool,
    /// Escalated and not re-armed.
    pub held: bool,
    pub pause: Option<Pause>,
    /// The `monitoring.blackout_periods` window in force.
    pub blackout: Option<String>,
    /// Its maintenance window: until (epoch millis), the operator's reason.
    pub maintenance: Option<(i64, String)>,
    pub stop: StopFacts,
}

/// What tells a broker's controlled shutdown from a crash.
#[derive(Debug, Clone, Default)]
pub struct StopFacts {
    /// A broker with a known id (nothing else has a planned stop).
    pub broker_id: Option<i32>,
    /// It went down inside a maintenance window that has ended: no second grace.
    pub failed_in_maintenance: bool,
    /// Its probes time out: a hung process keeps its port open, never a clean stop.
    pub hung: bool,
    /// ZooKeeper's registrations are watched.
    pub zookeeper_mode: bool,
    /// The cluster runs on KRaft.
    pub kraft_mode: bool,
    /// Since when it is failed (the watcher's state change).
    pub failed_since: Option<Instant>,
    /// When it was found stopping cleanly before, if it was.
    pub planned_since: Option<Instant>,
    /// ZooKeeper mode: when its registration disappeared.
    pub deregistered_at: Option<Instant>,
    /// KRaft: whether a serving peer's metadata says the controller fenced it
    /// (`None`: nobody could tell).
    pub kraft_fenced: Option<bool>,
    /// Whether a serving peer's metadata, read after its port closed, says it
    /// still leads a partition another in-sync replica could lead (`None`:
    /// nobody could tell). A controlled shutdown hands those over first.
    pub still_leads: Option<bool>,
    /// `recovery.planned_restart_grace_seconds`.
    pub grace: Duration,
}

/// What a failed broker's stop looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A crash, or not a broker this can tell about: an incident.
    Unplanned,
    /// Found stopping cleanly before, and still within its grace.
    InGrace,
    /// Found stopping cleanly before, still down after its grace: an incident now.
    GraceOver,
    /// Just now found stopping cleanly: the evidence.
    Detected(&'static str),
    /// No evidence yet, within `CLEAN_WINDOW` of the port closing: wait for it.
    AwaitingEvidence,
}

/// ZooKeeper mode: a controlled shutdown closes the broker's ZooKeeper
/// session at once, so its registration disappears within seconds of its
/// port; after a crash it stays until the session expires. KRaft: a
/// controlled shutdown ends with the controller fencing the broker at once;
/// a crashed broker stays unfenced until its session times out. In both, a
/// controlled shutdown moves away the leadership of every partition another
/// in-sync replica can lead before the port closes: a broker found still
/// leading one is a crash at once. Without that evidence (it led nothing
/// another could take) the evidence of a clean stop is awaited, at most
/// `CLEAN_WINDOW`.
pub fn stop(f: &StopFacts, now: Instant) -> Stop {
    if f.broker_id.is_none() || f.failed_in_maintenance || f.hung {
        return Stop::Unplanned;
    }
    if !f.zookeeper_mode && !f.kraft_mode {
        return Stop::Unplanned; // neither registrations nor a KRaft controller to ask
    }
    let Some(failed_since) = f.failed_since else { return Stop::Unplanned };
    if let Some(seen) = f.planned_since {
        return if now.saturating_duration_since(seen) < f.grace { Stop::InGrace } else { Stop::GraceOver };
    }
    let clean = if f.zookeeper_mode {
        match f.deregistered_at {
            Some(at) if at.saturating_duration_since(failed_since) <= CLEAN_WINDOW => {
                Some("its ZooKeeper registration was removed within 3 s of its port closing (a clean session close)")
            }
            // Deregistered long after the port closed: the session expired — a crash.
            Some(_) => return Stop::Unplanned,
            None => None,
        }
    } else {
        (f.kraft_fenced == Some(true)).then_some(
            "the controller fenced it within 3 s of its port closing (a controlled shutdown; a crash stays unfenced until its session times out)",
        )
    };
    match clean {
        Some(evidence) => Stop::Detected(evidence),
        // Its port closed while it still led partitions others could lead: no
        // controlled shutdown left it so — a crash, known now, not in 3 s.
        None if f.still_leads == Some(true) => Stop::Unplanned,
        None if now.saturating_duration_since(failed_since) <= CLEAN_WINDOW => Stop::AwaitingEvidence,
        None => Stop::Unplanned,
    }
}

/// Whether the failed node opens an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// Already being worked on, or held after an escalation.
    Handled,
    /// The operator holds recovery off (pause, blackout): the words for it.
    HeldOff(String),
    /// In its maintenance window: until (epoch millis), the reason.
    InMaintenance(i64, String),
    /// A planned stop (or maybe one, awaiting evidence): no incident.
    Planned(Stop),
    /// An incident; `grace_over` when a planned stop outlived its grace.
    Open { grace_over: bool },
}

/// The opening rules, in order: already handled, the operator's pause or
/// blackout, the node's maintenance window, a planned stop.
pub fn open(f: &Facts, now_ms: i64, now: Instant) -> Opening {
    if f.active || f.held {
        return Opening::Handled;
    }
    // The operator said "hands off". Down is expected; once it ends, a node still down is an incident.
    let held_off = match f.pause {
        Some(p) if p.holds_at(now_ms) => Some(match p {
            Pause::UntilResumed => "recovery is paused until resumed".to_string(),
            Pause::Until(until) => {
                format!("recovery is paused until {}", crate::audit::rfc3339(crate::store::from_millis(until)))
            }
        }),
        _ => f.blackout.as_ref().map(|b| format!("blackout period {b}")),
    };
    if let Some(why) = held_off {
        return Opening::HeldOff(why);
    }
    if let Some((until, reason)) = &f.maintenance {
        return Opening::InMaintenance(*until, reason.clone());
    }
    match stop(&f.stop, now) {
        Stop::Unplanned => Opening::Open { grace_over: false },
        Stop::GraceOver => Opening::Open { grace_over: true },
        planned => Opening::Planned(planned),
    }
}
