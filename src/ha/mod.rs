//! High availability: several healers watch one cluster, exactly one acts.
//!
//! Owns: this healer's standing (standalone, leader, follower, candidate),
//! the current term — its fencing token (etcd: the leader key's creation
//! revision; ZooKeeper: the lock node's creation zxid), its lease, and the cancellation token every piece of
//! work done under it runs with — the fence each action passes before it
//! runs, the intent journal of open incidents in the backend, and the other
//! healers' verdicts (the second opinion).
//! Must never: let an action start without a term that is valid now and
//! still the backend's, or decide what to repair (that is `recovery`).

pub mod backend;
pub mod controls;
pub mod election;
pub mod etcd;
pub mod opinion;
pub mod setup;
pub mod term;
pub mod zookeeper;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// HA's instants are the runtime's (the std clock unless a test pauses it).
pub use tokio::time::Instant;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::IncidentRecord;
use backend::{Backend, WriteError};
use opinion::SecondOpinion;
use term::Lease;

/// What this healer is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No election (`ha.enabled: false`): it acts alone.
    Standalone,
    /// It holds the election: it acts and notifies.
    Leader,
    /// Another healer leads: it watches, publishes its verdicts, serves the API read-only.
    Follower,
    /// Nobody is known to lead (the backend cannot be reached, or the
    /// election is being run): nothing acts here.
    Candidate,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
        }
    }

    /// Whether this healer acts.
    pub fn acts(self) -> bool {
        matches!(self, Role::Standalone | Role::Leader)
    }
}

/// This healer's standing, for `/ready`, `status`, the page and `/metrics`.
#[derive(Debug, Clone)]
pub struct Standing {
    pub role: Role,
    pub instance: String,
    /// The healer that leads, when known.
    pub leader: Option<String>,
    /// The leader's fencing token, when known.
    pub epoch: Option<i64>,
    /// When this healer last renewed its lease with the backend.
    pub renewed: Option<Instant>,
    /// Since when it has this role.
    pub since: SystemTime,
    /// Why the backend cannot be used, while it cannot.
    pub error: Option<String>,
}

impl Standing {
    fn new(role: Role, instance: &str) -> Standing {
        Standing {
            role,
            instance: instance.to_string(),
            leader: None,
            epoch: None,
            renewed: None,
            since: SystemTime::now(),
            error: None,
        }
    }

    /// The JSON the API and the status page show.
    pub fn view(&self) -> Value {
        json!({
            "role": self.role.as_str(),
            "instance": self.instance,
            "leader": self.leader,
            "epoch": self.epoch,
            "lease_age_s": self.renewed.map(|r| (r.elapsed().as_secs_f64() * 10.0).round() / 10.0),
            "since": crate::audit::rfc3339(self.since),
            "error": self.error,
        })
    }
}

/// One term of leadership: work under it stops when the token is cancelled.
#[derive(Debug, Clone)]
pub struct Term {
    pub lease: Lease,
    pub token: CancellationToken,
}

/// The handle every component shares.
pub struct Ha {
    instance: String,
    confirm_from: u32,
    backend: Option<Backend>,
    standing: watch::Sender<Standing>,
    term: Mutex<Option<Term>>,
    /// The healer's own stop: a term that ends with it is not a handover.
    shutdown: CancellationToken,
    /// This healer was the last leader it knows of (it tells people when
    /// the backend is lost, so several healers make one message).
    led_last: std::sync::atomic::AtomicBool,
    /// The epoch of the term whose handover the engine has done.
    taken_over: std::sync::atomic::AtomicI64,
}

/// Why an action may not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fenced {
    pub reason: String,
    /// The token the action would have carried.
    pub epoch: Option<i64>,
}

impl Ha {
    /// A healer without election: one term that lasts until `shutdown`.
    pub fn standalone(instance: &str, shutdown: &CancellationToken) -> Arc<Ha> {
        let ha = Ha::new(instance, 0, None, Role::Standalone, shutdown);
        let far = Instant::now() + std::time::Duration::from_secs(100 * 365 * 86_400);
        *ha.lock() = Some(Term { lease: Lease { epoch: 0, valid_until: far }, token: shutdown.child_token() });
        Arc::new(ha)
    }

    fn new(
        instance: &str,
        confirm_from: u32,
        backend: Option<Backend>,
        role: Role,
        shutdown: &CancellationToken,
    ) -> Ha {
        Ha {
            shutdown: shutdown.clone(),
            led_last: std::sync::atomic::AtomicBool::new(false),
            taken_over: std::sync::atomic::AtomicI64::new(i64::MIN),
            instance: instance.to_string(),
            confirm_from,
            backend,
            standing: watch::Sender::new(Standing::new(role, instance)),
            term: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Term>> {
        self.term.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn enabled(&self) -> bool {
        self.backend.is_some()
    }

    /// The healer itself is stopping.
    pub fn stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn standing(&self) -> Standing {
        self.standing.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Standing> {
        self.standing.subscribe()
    }

    /// The term this healer acts under now, if any: not ended, and its
    /// lease valid now (whatever the election's own loop is waiting for).
    pub fn term(&self) -> Option<Term> {
        self.lock().clone().filter(|t| !t.token.is_cancelled() && t.lease.valid(Instant::now()))
    }

    /// Ends the term the moment its lease runs out unrenewed — on its own
    /// timer, so nothing the election waits for (a backend that does not
    /// answer) can keep a stale term alive. `true` when it ended one.
    pub async fn lease_expired(&self) -> bool {
        loop {
            let until = match self.lock().as_ref() {
                Some(t) if !t.token.is_cancelled() => t.lease.valid_until,
                _ => return false,
            };
            tokio::time::sleep_until(until).await;
            let expired =
                self.lock().as_ref().is_some_and(|t| !t.token.is_cancelled() && !t.lease.valid(Instant::now()));
            if expired {
                return self.end_term("its lease could not be renewed in time", None);
            }
        }
    }

    /// Whether work under `token` may go on now: its term is the current
    /// one and its lease valid (a healer that was stopped past its lease
    /// knows it the moment it runs again, whichever of its tasks runs first).
    pub fn acting(&self, token: &CancellationToken) -> bool {
        !token.is_cancelled() && self.term().is_some()
    }

    /// With several healers, one of the operator's controls changed in the
    /// backend (where they live; the mirror brings it into the store within
    /// a second). Alone, nothing to do: the store is where they live.
    pub async fn put_control(&self, entry: &crate::store::controls::Entry) -> Result<(), String> {
        match &self.backend {
            Some(b) => b.put_control(entry).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// Whether the term now has not been taken over yet (its open incidents
    /// and notifications imported from the backend): once per term, not
    /// again after a reload that kept it.
    pub fn take_over_due(&self) -> bool {
        let epoch = self.term().map(|t| t.lease.epoch);
        epoch.is_none_or(|e| self.taken_over.load(std::sync::atomic::Ordering::SeqCst) != e)
    }

    /// The term now has been taken over.
    pub fn taken_over(&self) {
        if let Some(e) = self.term().map(|t| t.lease.epoch) {
            self.taken_over.store(e, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The fencing token of the term now, for the audit and the action's environment.
    pub fn epoch(&self) -> Option<i64> {
        self.enabled().then(|| self.term().map(|t| t.lease.epoch)).flatten()
    }

    /// The last check before an action: the term is valid now and still the
    /// backend's; the incident (with the attempt about to start) is written
    /// to the intent journal in the same transaction. `Ok` with the token.
    pub async fn fence(&self, incident: &IncidentRecord) -> Result<Option<i64>, Fenced> {
        let Some(backend) = &self.backend else { return Ok(None) };
        let Some(term) = self.term() else {
            return Err(Fenced { reason: "this healer does not lead (its term ended)".into(), epoch: None });
        };
        let epoch = Some(term.lease.epoch);
        if !term.lease.valid(Instant::now()) {
            self.end_term("its lease ran out before it was renewed", None);
            return Err(Fenced { reason: "this healer's lease ran out before it was renewed".into(), epoch });
        }
        match backend.write_intent(term.lease.epoch, incident, term.lease.left(Instant::now())).await {
            Ok(()) => Ok(epoch),
            Err(WriteError::Deposed(leader)) => {
                let reason = match &leader {
                    Some(l) => format!("{l} leads now (a newer term than {})", term.lease.epoch),
                    None => format!("the backend no longer holds term {}", term.lease.epoch),
                };
                self.end_term(&reason, leader);
                Err(Fenced { reason, epoch })
            }
            Err(WriteError::Backend(e)) => {
                Err(Fenced { reason: format!("the backend could not confirm the term: {e}"), epoch })
            }
        }
    }

    /// The incident's state written to the intent journal (best effort: a
    /// failure is logged; the next write or the handover closes the gap).
    pub async fn mirror(&self, incident: &IncidentRecord) {
        let (Some(backend), Some(term)) = (&self.backend, self.term()) else { return };
        let result = if incident.state == crate::store::IncidentState::Open {
            backend.write_intent(term.lease.epoch, incident, term.lease.left(Instant::now())).await
        } else {
            backend.forget_intent(term.lease.epoch, &incident.id).await
        };
        if let Err(e) = result {
            tracing::warn!(message = "HA: the intent journal could not be updated.", incident = %incident.id, error = %e);
        }
    }

    /// A notification queued in this healer's outbox (`id`), written to the
    /// backend too while it is not delivered (best effort, logged).
    pub async fn mirror_notification(&self, id: i64, row: &Value) {
        let (Some(backend), Some(term)) = (&self.backend, self.term()) else { return };
        let value = serde_json::to_vec(row).unwrap_or_default();
        if let Err(e) = backend.write_notification(term.lease.epoch, &self.instance, id, value).await {
            tracing::warn!(message = "HA: a queued notification could not be written to the backend.", error = %e);
        }
    }

    /// Delivered or given up on: the backend forgets it.
    pub async fn notification_done(&self, id: i64) {
        let Some(backend) = &self.backend else { return };
        if let Err(e) = backend.forget_notification(&self.instance, id).await {
            tracing::warn!(message = "HA: a delivered notification could not be removed from the backend.", error = %e);
        }
    }

    /// The notifications other healers queued and did not deliver, taken
    /// out of the backend: (key, row). The caller queues them here.
    pub async fn foreign_notifications(&self) -> Result<Vec<(String, Value)>, String> {
        let Some(backend) = &self.backend else { return Ok(Vec::new()) };
        let found = backend.foreign_notifications(&self.instance).await?;
        Ok(found.into_iter().filter_map(|(k, v)| Some((k, serde_json::from_slice(&v).ok()?))).collect())
    }

    /// A notification taken over and queued here: the old key goes.
    pub async fn adopted(&self, key: &str) {
        if let Some(backend) = &self.backend
            && let Err(e) = backend.delete(key).await
        {
            tracing::warn!(message = "HA: a taken-over notification could not be removed from the backend.", key, error = %e);
        }
    }

    /// The open incidents the backend knows (the last leader's), for the handover.
    pub async fn intents(&self) -> Result<Vec<IncidentRecord>, String> {
        match &self.backend {
            Some(b) => b.intents().await,
            None => Ok(Vec::new()),
        }
    }

    /// What the other healers say about `node`; `None` when no second
    /// opinion is asked for (standalone, `confirm_from: 0`).
    pub async fn second_opinion(&self, node: &str) -> Option<Result<SecondOpinion, String>> {
        let backend = self.backend.as_ref()?;
        if self.confirm_from == 0 {
            return None;
        }
        Some(backend.opinions(&self.instance, node).await.map(|o| opinion::decide(self.confirm_from, &o)))
    }

    /// A new term: this healer leads.
    fn begin_term(&self, lease: Lease) -> Term {
        let term = Term { lease, token: self.shutdown.child_token() };
        self.led_last.store(true, std::sync::atomic::Ordering::SeqCst);
        *self.lock() = Some(term.clone());
        self.standing.send_modify(|s| {
            *s = Standing {
                role: Role::Leader,
                leader: Some(self.instance.clone()),
                epoch: Some(lease.epoch),
                renewed: Some(Instant::now()),
                since: SystemTime::now(),
                error: None,
                ..s.clone()
            }
        });
        term
    }

    /// The term's lease was renewed.
    fn renewed(&self, sent: Instant, ttl: std::time::Duration) {
        if let Some(t) = self.lock().as_mut() {
            t.lease = t.lease.renewed(sent, ttl);
        }
        self.standing.send_modify(|s| s.renewed = Some(Instant::now()));
    }

    /// The term is over: everything under it stops. `true` when there was one.
    fn end_term(&self, reason: &str, leader: Option<String>) -> bool {
        let ended = self.lock().take();
        if let Some(t) = &ended {
            t.token.cancel();
            tracing::warn!(message = "HA: this healer no longer leads; it stops acting.", epoch = t.lease.epoch, reason = %reason);
        }
        let role = if leader.is_some() { Role::Follower } else { Role::Candidate };
        self.standing.send_modify(|s| {
            if s.role != role || s.leader != leader {
                s.since = SystemTime::now();
            }
            s.role = role;
            s.epoch = if leader.is_some() { s.epoch } else { None };
            s.leader = leader;
        });
        ended.is_some()
    }

    /// Another healer leads (or nobody does); this one follows.
    fn follow(&self, leader: Option<String>, epoch: Option<i64>) {
        if leader.is_some() {
            self.led_last.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        self.end_term("another healer leads", leader.clone());
        self.standing.send_modify(|s| {
            s.role = if leader.is_some() { Role::Follower } else { Role::Candidate };
            s.leader = leader;
            s.epoch = epoch;
        });
    }

    /// Whether this healer was the last leader it knows of.
    fn led_last(&self) -> bool {
        self.led_last.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The backend answers again, or not (`Some(why)`).
    fn backend_error(&self, error: Option<String>) {
        self.standing.send_if_modified(|s| {
            let changed = s.error != error;
            s.error = error;
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A candidate without a backend: the transitions the elections drive, alone.
    fn candidate() -> (Ha, CancellationToken) {
        let stop = CancellationToken::new();
        (Ha::new("a", 1, None, Role::Candidate, &stop), stop)
    }

    #[test]
    fn a_term_begins_is_renewed_and_ends_and_its_work_stops_with_it() {
        let (ha, _stop) = candidate();
        assert!(ha.term().is_none());
        let t0 = Instant::now();
        let term = ha.begin_term(Lease::granted(7, t0, Duration::from_secs(10)));
        let s = ha.standing();
        assert_eq!((s.role, s.leader.as_deref(), s.epoch), (Role::Leader, Some("a"), Some(7)));
        assert!(ha.acting(&term.token) && ha.led_last());
        // A renewal sent later extends it; one answered late never shortens it.
        ha.renewed(t0 + Duration::from_secs(3), Duration::from_secs(10));
        let renewed = ha.term().unwrap().lease.valid_until;
        ha.renewed(t0, Duration::from_secs(1));
        assert_eq!(ha.term().unwrap().lease.valid_until, renewed);
        // Another healer leads: the term ends, work under it is refused, this one follows.
        ha.follow(Some("b".into()), Some(9));
        assert!(term.token.is_cancelled() && !ha.acting(&term.token) && ha.term().is_none());
        let s = ha.standing();
        assert_eq!((s.role, s.leader.as_deref(), s.epoch), (Role::Follower, Some("b"), Some(9)));
        assert!(!ha.led_last(), "another led after it");
        // Nobody leads: a candidate, no epoch.
        assert!(!ha.end_term("the leader key is gone", None), "no term to end");
        assert_eq!((ha.standing().role, ha.standing().epoch), (Role::Candidate, None));
    }

    #[test]
    fn the_handover_is_taken_once_per_term_not_again_after_a_reload() {
        let (ha, _stop) = candidate();
        ha.begin_term(Lease::granted(7, Instant::now(), Duration::from_secs(10)));
        assert!(ha.take_over_due());
        ha.taken_over();
        assert!(!ha.take_over_due(), "a reload that kept term 7 takes nothing over");
        ha.end_term("lost", None);
        ha.begin_term(Lease::granted(8, Instant::now(), Duration::from_secs(10)));
        assert!(ha.take_over_due(), "a new term takes over again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_term_ends_on_its_own_timer_when_it_is_not_renewed() {
        let (ha, _stop) = candidate();
        let term = ha.begin_term(Lease::granted(3, Instant::now(), Duration::from_secs(3)));
        let started = tokio::time::Instant::now();
        assert!(ha.lease_expired().await, "it ended the term");
        // Paused time: the timer fired at the lease's end (3 s less the margin; the
        // timer's millisecond), not later.
        let at = started.elapsed();
        assert!(at >= Duration::from_secs(3) - term::MARGIN && at < Duration::from_millis(2_510), "{at:?}");
        assert!(term.token.is_cancelled() && ha.term().is_none());
        assert_eq!(ha.standing().role, Role::Candidate);
        assert!(!ha.lease_expired().await, "no term, nothing to end");
    }

    #[tokio::test]
    async fn alone_there_is_one_term_until_the_stop_and_nothing_is_fenced() {
        let stop = CancellationToken::new();
        let ha = Ha::standalone("a", &stop);
        let term = ha.term().expect("alone: a term at once");
        assert_eq!(ha.epoch(), None, "no fencing token alone");
        assert_eq!(ha.fence(&IncidentRecord::default()).await, Ok(None));
        assert!(
            ha.put_control(&crate::store::controls::Entry::resume()).await.is_ok(),
            "alone: the store is where controls live"
        );
        stop.cancel();
        assert!(!ha.acting(&term.token) && ha.stopping());
    }
}
