//! What the daemon says about itself: metrics, liveness of its loops, and its
//! own resource use.
//!
//! Owns: the counters the components feed (`metrics`), the heartbeats of the
//! daemon's loops (`Liveness`, behind `/health` and the systemd watchdog), and
//! process sampling (`process`) and the daemon's judgement of its own
//! resources (`selfmon`).
//! Must never: decide anything about the cluster, or block a caller — feeding
//! a metric or a heartbeat is a short lock.

pub mod metrics;
pub mod process;
pub mod selfmon;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use metrics::{Gauges, Metrics};

/// Shared by every component; built once by the composition root.
#[derive(Default)]
pub struct Telemetry {
    pub metrics: Metrics,
    pub liveness: Liveness,
    /// Above `system.memory_limit_mb`: optional work is shed.
    pub shedding: AtomicBool,
}

impl Telemetry {
    pub fn shedding(&self) -> bool {
        self.shedding.load(Ordering::Relaxed)
    }
}

/// The heartbeats of the daemon's loops.
#[derive(Default)]
pub struct Liveness {
    beats: Mutex<BTreeMap<&'static str, (Instant, Duration)>>,
}

/// A loop that has not beaten in time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stale {
    pub name: &'static str,
    pub silent_seconds: f64,
    pub expected_every_seconds: f64,
}

impl Liveness {
    /// `name` is alive and beats at least every `every`.
    pub fn beat(&self, name: &'static str, every: Duration) {
        self.beats.lock().unwrap_or_else(|p| p.into_inner()).insert(name, (Instant::now(), every));
    }

    /// Loops silent for more than three periods plus five seconds of slack.
    pub fn stale(&self, now: Instant) -> Vec<Stale> {
        let beats = self.beats.lock().unwrap_or_else(|p| p.into_inner());
        beats
            .iter()
            .filter_map(|(name, (at, every))| {
                let silent = now.saturating_duration_since(*at);
                (silent > *every * 3 + Duration::from_secs(5)).then_some(Stale {
                    name,
                    silent_seconds: silent.as_secs_f64(),
                    expected_every_seconds: every.as_secs_f64(),
                })
            })
            .collect()
    }

    /// The loops that have beaten at least once.
    pub fn names(&self) -> Vec<&'static str> {
        self.beats.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_loop_is_stale() {
        let l = Liveness::default();
        l.beat("engine", Duration::from_millis(250));
        assert!(l.stale(Instant::now()).is_empty());
        let later = Instant::now() + Duration::from_secs(6);
        assert_eq!(l.stale(later)[0].name, "engine");
    }
}
