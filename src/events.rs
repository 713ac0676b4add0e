//! The events notifications ride on.
//!
//! Owns: the vocabulary of what happened — an incident's steps (opened, failed
//! again soon after a recovery, an attempt finished, its catch-up timed out, recovered, escalated) and the daemon's own events (a
//! cluster-wide event, a system error, a reload, degraded performance).
//! Must never: depend on who sends or who receives them (recovery, telemetry
//! and the application send; notify and the API receive).

use serde::Serialize;

use crate::store::{AttemptRecord, IncidentRecord};

/// Something people may need to hear about: what the recovery engine did
/// to an incident, or what happened to the daemon itself.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Opened {
        incident: IncidentRecord,
    },
    AttemptFinished {
        incident: IncidentRecord,
        attempt: AttemptRecord,
    },
    Recovered {
        incident: IncidentRecord,
    },
    /// It failed again within `recovery.cooldown_seconds` of its last
    /// recovery (`repeat` such failures in a row): restarted at `restart_at`
    /// (epoch millis), after a delay that grows with each repeat.
    FailedAgain {
        incident: IncidentRecord,
        repeat: u32,
        recovered_ago_s: u64,
        restart_at: i64,
    },
    /// It serves again, but has not caught up on its partitions within
    /// `recovery.isr_catch_up_timeout_seconds`: the incident stays open, degraded.
    CatchUpTimedOut {
        incident: IncidentRecord,
        /// The partitions it is still behind on.
        behind: Vec<String>,
    },
    Escalated {
        incident: IncidentRecord,
        reason: String,
        /// The guards that held attempts back during the incident (`guard: reason`).
        refusals: Vec<String>,
    },
    /// A broker answers this healer but its cluster does not count it (its
    /// peers' metadata, ZooKeeper's registrations), seen so for
    /// `health::CUT_OFF_CONFIRM` since `since` (epoch millis); `cleared` once
    /// it counts again. Never restarted: no restart mends a network path.
    CutOff {
        node: String,
        problem: String,
        since: i64,
        cleared: bool,
    },
    /// Isolation or mass failure: nothing is done anywhere until it clears.
    ClusterEvent {
        reason: String,
    },
    /// The daemon itself cannot do its job (the state store refuses writes, …).
    SystemError {
        reason: String,
    },
    /// The daemon reloaded its configuration (SIGHUP).
    ConfigurationChanged {
        reason: String,
    },
    /// The daemon itself is short of memory, CPU or disk (self-monitoring).
    PerformanceDegraded {
        reason: String,
    },
}
