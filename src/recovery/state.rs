//! What the engine holds between ticks, shared by its incidents, and the
//! view of it that people and programs read.
//!
//! Owns: the nodes being worked on, the actions in flight (the parallelism
//! slots), escalated nodes held until healthy or reset, the operator's
//! controls as of the last tick, planned stops, guards' holds, brokers
//! catching up, and `EngineStatus`.
//! Must never: do I/O, or decide whether to act (that is `opening`,
//! `lifecycle`, `guards`).

use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime};

use serde::Serialize;

use super::lifecycle::Hold;
use crate::audit::rfc3339;
use crate::store::controls::{Maintenance, Pause};
use crate::store::from_millis;
use crate::topology::Role;

#[derive(Debug, Default)]
pub struct State {
    /// Nodes with an incident being worked on.
    pub active: HashSet<String>,
    /// Nodes with an action running, and their roles.
    pub in_flight: HashMap<String, Role>,
    /// Escalated nodes: no action until healthy again or reset.
    pub held: HashSet<String>,
    /// The cluster-wide event escalated and not yet cleared.
    pub cluster_event: Option<String>,
    /// Operator controls the engine could not write (their keys), said once.
    pub noted_unwritable: HashSet<String>,
    /// Brokers reported cut off from their cluster, and since when (epoch millis).
    pub cut_off: HashMap<String, (i64, String)>,
    /// The operator's pause, as of the last tick (only while in force).
    pub pause: Option<Pause>,
    /// Nodes in an operator's maintenance window, as of the last tick.
    pub maintenance: HashMap<String, Maintenance>,
    /// Failed nodes in maintenance already logged as such.
    pub noted_in_maintenance: HashSet<String>,
    /// Failed nodes already logged as down while a pause or blackout holds recovery off.
    pub noted_held_off: HashSet<String>,
    /// Unreadable controls already reported (key and value's complaint).
    pub noted_unreadable: HashSet<(String, String)>,
    /// The `monitoring.blackout_periods` window in force, as of the last tick.
    pub blackout: Option<String>,
    /// Brokers seen stopping cleanly, and when.
    pub planned_stops: HashMap<String, Instant>,
    /// Nodes that went down inside a maintenance window: when it ends, the
    /// operator's grace is over — no second grace as a planned stop.
    pub failed_in_maintenance: HashSet<String>,
    /// Incidents a guard holds back now.
    pub holds: HashMap<String, Hold>,
    /// Learned broker ids already written to the state store.
    pub stored_ids: HashMap<String, i32>,
    /// Brokers that serve again and are catching up: how many partitions
    /// they are still behind on (`None`: unknown), and whether that took too long.
    pub catching_up: HashMap<String, (Option<usize>, bool)>,
}

/// What changed when a node serves again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Back {
    /// It had stopped cleanly (a planned stop) and is back.
    pub from_planned_stop: bool,
    /// It was held after an escalation and is re-armed.
    pub hold_released: bool,
}

impl State {
    /// Down on purpose (a maintenance window, a clean stop): not part of a mass failure.
    pub fn expected_down(&self, node: &str) -> bool {
        self.maintenance.contains_key(node) || self.planned_stops.contains_key(node)
    }

    /// `node` serves again: its planned stop, its maintenance failure and its
    /// escalation's hold are over.
    pub fn serves_again(&mut self, node: &str) -> Back {
        self.failed_in_maintenance.remove(node);
        Back { from_planned_stop: self.planned_stops.remove(node).is_some(), hold_released: self.held.remove(node) }
    }

    /// The pause in force at `now_ms`, as the guards word it.
    pub fn paused(&self, now_ms: i64) -> Option<String> {
        self.pause.filter(|p| p.holds_at(now_ms)).map(|p| match p {
            Pause::UntilResumed => "until resumed".to_string(),
            Pause::Until(until) => format!("until {}", rfc3339(from_millis(until))),
        })
    }

    /// `node`'s maintenance window, as the guards word it.
    pub fn in_maintenance(&self, node: &str) -> Option<String> {
        self.maintenance.get(node).map(|m| {
            let why = if m.reason.is_empty() { String::new() } else { format!(" ({})", m.reason) };
            format!("until {}{why}", rfc3339(from_millis(m.until)))
        })
    }

    /// The view for `/api/v1/status` and `status`.
    pub fn status(&self, now_ms: i64, planned_grace_s: f64, dry_run: bool) -> EngineStatus {
        let sorted = |set: &HashSet<String>| {
            let mut v: Vec<String> = set.iter().cloned().collect();
            v.sort();
            v
        };
        let mut in_flight: Vec<String> = self.in_flight.keys().cloned().collect();
        in_flight.sort();
        let mut planned: Vec<(String, f64)> =
            self.planned_stops.iter().map(|(n, at)| (n.clone(), at.elapsed().as_secs_f64())).collect();
        planned.sort_by(|a, b| a.0.cmp(&b.0));
        let mut maintenance: Vec<(String, String, String)> = self
            .maintenance
            .values()
            .filter(|m| m.until > now_ms)
            .map(|m| (m.node.clone(), rfc3339(from_millis(m.until)), m.reason.clone()))
            .collect();
        maintenance.sort();
        let now = SystemTime::now();
        let mut holds: Vec<(String, String, String, f64)> = self
            .holds
            .iter()
            .map(|(n, h)| {
                let held = now.duration_since(h.since).unwrap_or_default().as_secs_f64();
                (n.clone(), h.guard.to_string(), h.reason.clone(), held)
            })
            .collect();
        holds.sort_by(|a, b| a.0.cmp(&b.0));
        let mut catching_up: Vec<(String, Option<usize>, bool)> =
            self.catching_up.iter().map(|(n, (behind, late))| (n.clone(), *behind, *late)).collect();
        catching_up.sort_by(|a, b| a.0.cmp(&b.0));
        EngineStatus {
            catching_up,
            paused_until: self.pause.filter(|p| p.holds_at(now_ms)).map(|p| match p {
                Pause::UntilResumed => "until resumed".to_string(),
                Pause::Until(until) => rfc3339(from_millis(until)),
            }),
            maintenance,
            active: sorted(&self.active),
            in_flight,
            held: sorted(&self.held),
            planned_stops: planned,
            planned_grace_s,
            holds,
            cluster_event: self.cluster_event.clone(),
            dry_run,
        }
    }
}

/// The engine's view for people and programs (`/api/v1/status`, `status`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineStatus {
    /// RFC 3339 time, or `until resumed`, while an operator pause holds every action.
    pub paused_until: Option<String>,
    /// (node, until, reason) of every current maintenance window.
    pub maintenance: Vec<(String, String, String)>,
    /// Nodes with an incident being worked on.
    pub active: Vec<String>,
    /// Nodes with a recovery action running now.
    pub in_flight: Vec<String>,
    /// Escalated nodes no action touches until healthy or reset.
    pub held: Vec<String>,
    /// Brokers seen stopping cleanly (planned restarts), seconds ago.
    pub planned_stops: Vec<(String, f64)>,
    /// `recovery.planned_restart_grace_seconds`: a planned stop still down after it is an incident.
    pub planned_grace_s: f64,
    /// Incidents a guard holds back: (node, guard, reason, seconds held).
    pub holds: Vec<(String, String, String, f64)>,
    /// Brokers that serve again and catch up: (node, partitions still behind
    /// — unknown when no metadata could be read —, past `isr_catch_up_timeout_seconds`).
    pub catching_up: Vec<(String, Option<usize>, bool)>,
    /// Isolation or mass failure: nothing acts until it clears.
    pub cluster_event: Option<String>,
    pub dry_run: bool,
}
