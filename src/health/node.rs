//! One node's state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::monitor::{Cause, Observation, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Not probed yet, or only probes that could not tell.
    Unknown,
    Healthy,
    /// Serving, with a problem worth a look.
    Degraded,
    /// A probe failed; confirmation probes are under way.
    Suspect,
    /// Confirmed not serving.
    Failed,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Unknown => "unknown",
            NodeState::Healthy => "healthy",
            NodeState::Degraded => "degraded",
            NodeState::Suspect => "suspect",
            NodeState::Failed => "failed",
        }
    }
}

/// How many observations it takes to change state.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Consecutive failed rounds before a node is failed.
    pub failure: u32,
    /// Consecutive good rounds before a failed node is healthy again.
    pub recovery: u32,
    /// More than `flap_limit` changes into or out of `failed` within
    /// `flap_window` mark a node as flapping.
    pub flap_window: Duration,
    pub flap_limit: usize,
}

impl Thresholds {
    pub fn from_config(m: &crate::config::MonitoringConfig) -> Self {
        Thresholds {
            failure: m.failure_threshold.max(1),
            recovery: m.recovery_threshold.max(1),
            flap_window: m.flapping.window_seconds.duration(),
            flap_limit: m.flapping.max_changes as usize,
        }
    }
}

/// One round's combined result for a node (all its methods).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub status: Status,
    pub cause: Option<Cause>,
    pub detail: String,
}

/// Combines the observations of one round: any failed method fails the node;
/// methods that could not tell (`unknown`) never decide while another did.
pub fn verdict(observations: &[Observation]) -> Verdict {
    let pick = |status: Status| observations.iter().find(|o| o.status == status);
    // A broker that says what it is doing (starting, replaying its logs, shutting
    // down) explains the closed port better than the port itself.
    let explained = observations.iter().find(|o| {
        o.status == Status::Failed
            && matches!(o.cause, Some(Cause::Starting | Cause::LogRecovery | Cause::ShuttingDown))
    });
    let decisive = explained
        .or_else(|| pick(Status::Failed))
        .or_else(|| pick(Status::Degraded))
        .or_else(|| pick(Status::Healthy))
        .or_else(|| pick(Status::Unknown));
    match decisive {
        Some(o) => {
            let same = observations.iter().filter(|x| x.status == o.status);
            let mut parts: Vec<String> = same.map(|x| format!("{}: {}", x.method, x.detail)).collect();
            // A method that could not tell (a check that timed out) is named too, never silently dropped.
            if o.status != Status::Unknown {
                parts.extend(
                    observations
                        .iter()
                        .filter(|x| x.status == Status::Unknown)
                        .map(|x| format!("{}: could not tell ({})", x.method, x.detail)),
                );
            }
            Verdict { status: o.status, cause: o.cause, detail: parts.join("; ") }
        }
        None => Verdict { status: Status::Unknown, cause: None, detail: "no monitoring method".into() },
    }
}

/// A change of state, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub from: NodeState,
    pub to: NodeState,
    pub cause: Option<Cause>,
    pub detail: String,
    pub flapping: bool,
}

#[derive(Debug, Clone)]
pub struct NodeHealth {
    state: NodeState,
    bad: u32,
    good: u32,
    since: Instant,
    /// When the node last went into or out of `failed`.
    changes: VecDeque<Instant>,
}

impl NodeHealth {
    pub fn new(now: Instant) -> Self {
        NodeHealth { state: NodeState::Unknown, bad: 0, good: 0, since: now, changes: VecDeque::new() }
    }

    pub fn state(&self) -> NodeState {
        self.state
    }

    pub fn since(&self) -> Instant {
        self.since
    }

    /// Consecutive failed rounds so far.
    pub fn failed_rounds(&self) -> u32 {
        self.bad
    }

    /// True while a failure is not yet confirmed: the caller re-probes at a short spacing.
    pub fn needs_confirmation(&self) -> bool {
        self.state == NodeState::Suspect
    }

    /// True while a failed node answers again but not yet `recovery` times in a row.
    pub fn is_recovering(&self) -> bool {
        self.state == NodeState::Failed && self.good > 0
    }

    pub fn is_flapping(&self, now: Instant, t: &Thresholds) -> bool {
        self.changes.iter().filter(|c| now.duration_since(**c) <= t.flap_window).count() > t.flap_limit
    }

    /// Feeds a failure confirmed by other means than our own rounds (the
    /// cluster fenced the node or dropped its session while our probes
    /// wait): failed at once, however few rounds were counted.
    pub fn observe_confirmed(&mut self, v: &Verdict, now: Instant, t: &Thresholds) -> Option<Transition> {
        self.bad = self.bad.max(t.failure.saturating_sub(1));
        self.observe(v, now, t)
    }

    /// Feeds one round's verdict; returns the transition it caused, if any.
    pub fn observe(&mut self, v: &Verdict, now: Instant, t: &Thresholds) -> Option<Transition> {
        let next = match v.status {
            Status::Failed => {
                self.bad += 1;
                self.good = 0;
                if self.bad >= t.failure || self.state == NodeState::Failed {
                    NodeState::Failed
                } else {
                    NodeState::Suspect
                }
            }
            Status::Healthy | Status::Degraded => {
                self.good += 1;
                self.bad = 0;
                let up = if v.status == Status::Healthy { NodeState::Healthy } else { NodeState::Degraded };
                if self.state == NodeState::Failed && self.good < t.recovery { NodeState::Failed } else { up }
            }
            // A probe that could not tell changes nothing.
            Status::Unknown => self.state,
        };
        if next == self.state {
            return None;
        }
        let from = std::mem::replace(&mut self.state, next);
        self.since = now;
        if from == NodeState::Failed || next == NodeState::Failed {
            self.changes.push_back(now);
            while self.changes.len() > 64 {
                self.changes.pop_front();
            }
        }
        Some(Transition {
            from,
            to: next,
            cause: v.cause,
            detail: v.detail.clone(),
            flapping: self.is_flapping(now, t),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { failure: 3, recovery: 2, flap_window: Duration::from_secs(600), flap_limit: 4 };

    fn v(status: Status) -> Verdict {
        let cause = matches!(status, Status::Failed).then_some(Cause::ConnectionRefused);
        Verdict { status, cause, detail: String::new() }
    }

    /// Feeds a sequence of verdicts (H healthy, D degraded, F failed, U unknown)
    /// one second apart and returns the state after each.
    fn run(seq: &str) -> Vec<NodeState> {
        let start = Instant::now();
        let mut h = NodeHealth::new(start);
        seq.chars()
            .enumerate()
            .map(|(i, c)| {
                let status = match c {
                    'H' => Status::Healthy,
                    'D' => Status::Degraded,
                    'F' => Status::Failed,
                    _ => Status::Unknown,
                };
                h.observe(&v(status), start + Duration::from_secs(i as u64), &T);
                h.state()
            })
            .collect()
    }

    use NodeState::*;

    #[test]
    fn state_machine_table() {
        let cases: &[(&str, &[NodeState])] = &[
            ("H", &[Healthy]),
            ("U", &[Unknown]),
            // One failure is only suspicion; three in a row are a failure.
            ("HFH", &[Healthy, Suspect, Healthy]),
            ("HFFF", &[Healthy, Suspect, Suspect, Failed]),
            // A node down from the start is failed once confirmed.
            ("FFF", &[Suspect, Suspect, Failed]),
            // Recovery takes `recovery` good rounds; one good round is not enough.
            ("FFFHFH", &[Suspect, Suspect, Failed, Failed, Failed, Failed]),
            ("FFFHH", &[Suspect, Suspect, Failed, Failed, Healthy]),
            ("FFFHD", &[Suspect, Suspect, Failed, Failed, Degraded]),
            // Degraded is not failed, and comes and goes at once.
            ("HDH", &[Healthy, Degraded, Healthy]),
            // Unknown never counts for or against.
            ("HFUFUF", &[Healthy, Suspect, Suspect, Suspect, Suspect, Failed]),
            ("FFFUUU", &[Suspect, Suspect, Failed, Failed, Failed, Failed]),
        ];
        for (seq, want) in cases {
            assert_eq!(run(seq), want.to_vec(), "sequence {seq}");
        }
    }

    #[test]
    fn transitions_carry_cause_and_mark_flapping() {
        let start = Instant::now();
        let t = Thresholds { failure: 1, recovery: 1, ..T };
        let mut h = NodeHealth::new(start);
        let first = h.observe(&v(Status::Failed), start, &t).unwrap();
        assert_eq!((first.from, first.to, first.cause), (Unknown, Failed, Some(Cause::ConnectionRefused)));
        let mut flapping = false;
        for i in 1..10u64 {
            let status = if i % 2 == 0 { Status::Failed } else { Status::Healthy };
            if let Some(tr) = h.observe(&v(status), start + Duration::from_secs(i), &t) {
                flapping = tr.flapping;
            }
        }
        assert!(flapping, "ten changes in ten seconds is flapping");
        assert!(!h.is_flapping(start + Duration::from_secs(3600), &t), "an hour later it is not");
    }

    #[test]
    fn verdict_prefers_the_decisive_method() {
        let obs = |method: &'static str, status: Status| Observation {
            node: "n".into(),
            method: method.into(),
            status,
            cause: None,
            detail: format!("{method} said so"),
            latency: Duration::ZERO,
            findings: None,
        };
        let both = [obs("socket", Status::Healthy), obs("kafka_api", Status::Failed)];
        assert_eq!(verdict(&both).status, Status::Failed);
        assert_eq!(verdict(&both).detail, "kafka_api: kafka_api said so");
        let auth = [obs("kafka_metadata", Status::Unknown), obs("socket", Status::Healthy)];
        assert_eq!(verdict(&auth).status, Status::Healthy);
        assert_eq!(verdict(&[obs("x", Status::Unknown)]).status, Status::Unknown);
    }

    #[test]
    fn a_broker_that_says_it_is_recovering_explains_the_closed_port() {
        let failed = |method: &'static str, cause: Cause| Observation {
            node: "n".into(),
            method: method.into(),
            status: Status::Failed,
            cause: Some(cause),
            detail: String::new(),
            latency: Duration::ZERO,
            findings: None,
        };
        let round = [failed("kafka_api", Cause::ConnectionRefused), failed("jmx", Cause::LogRecovery)];
        assert_eq!(verdict(&round).cause, Some(Cause::LogRecovery));
        let crash = [failed("kafka_api", Cause::ConnectionRefused), failed("jmx", Cause::ConnectionRefused)];
        assert_eq!(verdict(&crash).cause, Some(Cause::ConnectionRefused));
    }
}
