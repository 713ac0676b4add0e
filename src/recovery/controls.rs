//! Every tick: the operator's controls read from the store, and broker ids
//! the watcher learned written to it.
//!
//! Owns: taking the pause, maintenance windows (ending those that are over)
//! and reset requests into the engine's state, reporting a control that
//! cannot be read (once), and remembering learned broker ids across restarts.
//! Must never: act on a node, or take an unreadable control for a default.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::json;
use tracing::{error, info, warn};

use super::engine::{Engine, now_ms};
use super::guards;
use crate::store::{controls, records};
use crate::watch::{BrokerId, CONFIGURED, REMEMBERED};

impl Engine {
    /// Reads the operator's controls: the pause, maintenance windows (ending
    /// those that are over), resets. False when the store cannot be read.
    /// A healer that does not act (a follower) only shows them: `acting` false
    /// ends no window and takes no reset (the leader does, where they live).
    pub(super) async fn read_controls(&self) -> bool {
        self.read_controls_as(true).await
    }

    /// The controls as a follower shows them (`status`, the page, the API).
    pub(super) async fn show_controls(&self) {
        self.read_controls_as(false).await;
    }

    async fn read_controls_as(&self, acting: bool) -> bool {
        let read = match self.journal.store.call(|c| controls::read(c)).await {
            Ok(c) => c,
            Err(e) => {
                error!(message = "Recovery: cannot read the operator's controls.", error = %e);
                return false;
            }
        };
        let now = now_ms();
        for (key, why) in read.unreadable {
            if self.state().noted_unreadable.insert((key.clone(), why.clone())) {
                error!(message = "Recovery: an operator control in the state store cannot be read; it has no effect. Set it again with the command that wrote it.", key = %key, error = %why);
            }
        }
        let mut current = HashMap::new();
        for window in read.maintenance {
            if window.until > now {
                current.insert(window.node.clone(), window);
                continue;
            }
            if !acting {
                continue;
            }
            // Over: the node counts again; still down means an incident now.
            // Recorded once: the end is written where the control lives before
            // it is audited, and a write that fails is said once and tried again.
            if self.write_control(controls::Entry::maintenance_over(&window.node)).await {
                info!(message = "Recovery: maintenance window over.", node = %window.node);
                self.journal.record("maintenance_ended", Some(&window.node), None, json!({"by": "expiry"})).await;
            }
        }
        {
            let mut state = self.state();
            state.pause = read.pause.filter(|p| p.holds_at(now));
            state.blackout = guards::blackout_at(&self.config.monitoring.blackout_periods, &|tz| {
                guards::wall_clock(SystemTime::now(), tz)
            });
            if state.pause.is_none() && state.blackout.is_none() {
                state.noted_held_off.clear();
            }
            state.noted_in_maintenance.retain(|n| current.contains_key(n));
            state.maintenance = current;
        }
        for node in read.resets.into_iter().filter(|_| acting) {
            // Taken once: the request leaves where it lives before the node is re-armed.
            if !self.write_control(controls::Entry::reset_taken(&node)).await {
                continue;
            }
            if self.state().held.remove(&node) {
                info!(message = "Recovery: node re-armed by an operator.", node = %node);
            }
            self.journal.record("operator_reset", Some(&node), None, json!({})).await;
        }
        true
    }

    /// Writes a control the engine changes (a window over, a reset taken)
    /// where it lives: with several healers the backend, then the store. A
    /// failure is said once per control, and the next tick tries again.
    async fn write_control(&self, entry: controls::Entry) -> bool {
        let written = match self.ha.put_control(&entry).await {
            Ok(()) => {
                let e = entry.clone();
                self.journal.store.call(move |c| e.apply(c, now_ms())).await.map(|_| ()).map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                self.state().noted_unwritable.remove(&entry.key);
                true
            }
            Err(e) => {
                if self.state().noted_unwritable.insert(entry.key.clone()) {
                    error!(message = "Recovery: an operator control cannot be written; it is tried again every tick.", key = %entry.key, error = %e);
                }
                false
            }
        }
    }

    /// Writes broker ids the watcher learned to the state store (and the audit
    /// trail), so a restart with that broker down still knows them.
    pub(super) async fn remember_broker_ids(&self) {
        let learned: Vec<(String, BrokerId)> = {
            let state = self.state();
            self.board
                .broker_ids()
                .into_iter()
                .filter(|(_, b)| b.source != CONFIGURED && b.source != REMEMBERED)
                .filter(|(n, b)| state.stored_ids.get(n) != Some(&b.id))
                .collect()
        };
        for (node, b) in learned {
            let (n, id) = (node.clone(), b.id);
            if let Err(e) = self.journal.store.call(move |c| records::save_broker_id(c, &n, id, now_ms())).await {
                warn!(message = "Recovery: cannot remember a learned broker id.", node = %node, error = %e);
                continue;
            }
            let details = json!({"broker_id": b.id, "from": b.source});
            self.journal.record("broker_id_learned", Some(&node), None, details).await;
            self.state().stored_ids.insert(node, b.id);
        }
    }
}
