//! A leader's term: how long this healer may act on its lease.
//!
//! Owns: the local half of fencing — the time this healer's lease is known
//! to be valid, from when the keep-alive that renewed it was *sent* (the
//! backend received it later, so its own expiry is never sooner).
//! Must never: read a clock (the caller passes `now`), or extend a term past
//! what the backend granted.

use std::time::Duration;

// The `ha` module's instant type (the runtime's, so its timing rules can be
// tested on paused time); this module never reads a clock.
use super::Instant;

/// Taken off the backend's grant: this healer stops acting this much before
/// the backend could let another healer lead.
pub const MARGIN: Duration = Duration::from_millis(500);

/// The fencing token and the lease behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The leader key's creation revision (etcd) or the lock node's creation
    /// zxid (ZooKeeper): it grows with every new leader, so an action
    /// carrying an older one is stale.
    pub epoch: i64,
    /// Until when this healer may act.
    pub valid_until: Instant,
}

impl Lease {
    /// A lease granted (or renewed) for `ttl` by a request sent at `sent`.
    pub fn granted(epoch: i64, sent: Instant, ttl: Duration) -> Lease {
        Lease { epoch, valid_until: sent + ttl.saturating_sub(MARGIN) }
    }

    /// Renewed by a keep-alive sent at `sent` that the backend answered with `ttl` left.
    pub fn renewed(self, sent: Instant, ttl: Duration) -> Lease {
        Lease { valid_until: Lease::granted(self.epoch, sent, ttl).valid_until.max(self.valid_until), ..self }
    }

    /// Whether this healer may still act at `now`.
    pub fn valid(&self, now: Instant) -> bool {
        now < self.valid_until
    }

    /// How long it may still act.
    pub fn left(&self, now: Instant) -> Duration {
        self.valid_until.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_ends_before_the_backend_could_grant_it_to_another() {
        let t0 = Instant::now();
        let lease = Lease::granted(7, t0, Duration::from_secs(10));
        assert!(lease.valid(t0 + Duration::from_millis(9_400)));
        assert!(!lease.valid(t0 + Duration::from_millis(9_500)), "stops {MARGIN:?} before the backend's expiry");
        assert_eq!(lease.left(t0 + Duration::from_secs(20)), Duration::ZERO);
    }

    #[test]
    fn a_renewal_counts_from_when_it_was_sent_and_never_shortens_the_term() {
        let t0 = Instant::now();
        let lease = Lease::granted(7, t0, Duration::from_secs(10));
        let renewed = lease.renewed(t0 + Duration::from_secs(3), Duration::from_secs(10));
        assert_eq!(renewed.valid_until, t0 + Duration::from_millis(12_500));
        assert_eq!(renewed.epoch, 7);
        // A late answer with less time left does not take time away.
        assert_eq!(renewed.renewed(t0 + Duration::from_secs(1), Duration::from_secs(2)), renewed);
    }
}
