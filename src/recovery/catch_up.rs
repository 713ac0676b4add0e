//! After a broker serves again: whether it is whole — back in the ISR of
//! every partition it hosts — and when its catch-up has taken too long.
//!
//! Owns: the phases after `serving` — `catching_up` until the broker is in
//! sync, `degraded` once `recovery.isr_catch_up_timeout_seconds` has passed
//! (said once; the incident stays open), and back to the lifecycle when it
//! fails again on the way.
//! Must never: do I/O, read a clock of its own, or act on the broker: a
//! broker that is behind is caught up by Kafka's replica fetchers, not by a
//! restart.

use std::time::{Duration, SystemTime};

/// How often the catch-up is looked at.
pub const POLL: Duration = Duration::from_secs(1);

/// What was seen of the broker just now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The watcher calls it failed again.
    Failed,
    /// A peer's metadata: the partitions it is not yet in sync for (none: whole).
    Behind(Vec<String>),
    /// No broker's metadata could be read: why.
    Unknown(String),
}

/// What comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Look again after `POLL`.
    Wait,
    /// Back in the ISR of every partition it hosts.
    InSync,
    /// Still behind when its time ran out (said once): the partitions, or
    /// none when nobody's metadata could tell; the incident stays open.
    TimedOut { behind: Vec<String>, unknown: Option<String> },
    /// It failed again before it caught up: the lifecycle takes over.
    FailedAgain,
}

/// One broker's catch-up.
#[derive(Debug, Clone)]
pub struct CatchUp {
    served_at: SystemTime,
    limit: Duration,
    timed_out: bool,
}

impl CatchUp {
    /// A broker that served again at `served_at`; `timed_out` when that was
    /// already said (an incident resumed after a restart of the daemon).
    pub fn new(served_at: SystemTime, limit: Duration, timed_out: bool) -> CatchUp {
        CatchUp { served_at, limit, timed_out }
    }

    pub fn next(&mut self, seen: &Seen, now: SystemTime) -> Step {
        let (behind, unknown) = match seen {
            Seen::Failed => return Step::FailedAgain,
            Seen::Behind(b) if b.is_empty() => return Step::InSync,
            Seen::Behind(b) => (b.clone(), None),
            Seen::Unknown(why) => (Vec::new(), Some(why.clone())),
        };
        let waited = now.duration_since(self.served_at).unwrap_or_default();
        if !self.timed_out && waited >= self.limit {
            self.timed_out = true;
            return Step::TimedOut { behind, unknown };
        }
        Step::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(60);

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + s)
    }

    fn behind(p: &[&str]) -> Seen {
        Seen::Behind(p.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn catching_up_then_in_sync() {
        let mut c = CatchUp::new(at(0), LIMIT, false);
        assert_eq!(c.next(&behind(&["t-0", "t-1"]), at(1)), Step::Wait);
        assert_eq!(c.next(&behind(&["t-1"]), at(10)), Step::Wait);
        assert_eq!(c.next(&behind(&[]), at(11)), Step::InSync);
    }

    #[test]
    fn too_slow_is_said_once_and_the_incident_waits_on() {
        let mut c = CatchUp::new(at(0), LIMIT, false);
        assert_eq!(c.next(&behind(&["t-1"]), at(59)), Step::Wait);
        assert_eq!(c.next(&behind(&["t-1"]), at(60)), Step::TimedOut { behind: vec!["t-1".into()], unknown: None });
        assert_eq!(c.next(&behind(&["t-1"]), at(61)), Step::Wait, "said once");
        assert_eq!(c.next(&behind(&[]), at(300)), Step::InSync, "and closed when it catches up at last");
    }

    #[test]
    fn no_metadata_runs_out_of_time_too_and_says_why() {
        let mut c = CatchUp::new(at(0), LIMIT, false);
        let unknown = Seen::Unknown("no broker answered".into());
        assert_eq!(c.next(&unknown, at(30)), Step::Wait);
        assert_eq!(
            c.next(&unknown, at(61)),
            Step::TimedOut { behind: vec![], unknown: Some("no broker answered".into()) }
        );
    }

    #[test]
    fn failing_again_hands_back_to_the_lifecycle_and_a_resumed_one_does_not_repeat_itself() {
        let mut c = CatchUp::new(at(0), LIMIT, false);
        assert_eq!(c.next(&Seen::Failed, at(5)), Step::FailedAgain);
        let mut resumed = CatchUp::new(at(0), LIMIT, true);
        assert_eq!(resumed.next(&behind(&["t-0"]), at(500)), Step::Wait, "its time-out was said before the restart");
    }
}
