//! The election's shell: started once per configuration, it runs the
//! backend's own campaign (`etcd` or `zookeeper`), ends each term on its
//! own timer, and tells people once when the backend is out of reach.
//!
//! Owns: what both backends' elections share — the parts they report to
//! (the standing, the audit, the events), the term's expiry timer, the
//! one message when the backend is lost.
//! Must never: keep a term alive past its lease, or let several healers
//! each send the backend-lost message.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::backend::{self, Backend};
use super::{Ha, Role};
use crate::audit::Audit;
use crate::config::Config;
use crate::events::Event;
use crate::watch::Board;

/// How often this healer's verdicts are compared with what it last published.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// What the election reports to, from the configuration running now: a
/// reload that leaves the `ha` section as it was keeps the election (and
/// its term) and gives it the new generation's parts (`Rewire`).
pub struct Parts {
    pub board: Arc<Board>,
    pub nodes: Vec<String>,
    pub audit: Audit,
    pub events: broadcast::Sender<Event>,
    /// Where the backend's operator controls are mirrored.
    pub store: crate::store::Store,
}

/// Hands a running election the parts of a new generation.
#[derive(Clone)]
pub struct Rewire(Arc<std::sync::Mutex<Parts>>);

impl Rewire {
    pub fn to(&self, parts: Parts) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = parts;
    }

    /// The store of the generation running now.
    pub fn store(&self) -> crate::store::Store {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).store.clone()
    }
}

/// The election: this healer's handle and what it reports to.
pub struct Election {
    pub ha: Arc<Ha>,
    parts: Rewire,
}

/// Why a term ended or began, for the audit trail: one record kind each.
pub enum Leadership<'a> {
    Acquired { epoch: i64, resumed: bool },
    Lost(&'a str),
    Released(&'a str),
}

impl Election {
    fn parts(&self) -> std::sync::MutexGuard<'_, Parts> {
        self.parts.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The audit trail of the generation running now.
    pub fn audit(&self) -> Audit {
        self.parts().audit.clone()
    }

    /// Writes the leadership record of `what`.
    pub async fn record(&self, what: Leadership<'_>) {
        let (kind, details) = match what {
            Leadership::Acquired { epoch, resumed: false } => {
                ("leadership_acquired", json!({"instance": self.ha.instance, "epoch": epoch}))
            }
            Leadership::Acquired { epoch, resumed: true } => {
                ("leadership_acquired", json!({"instance": self.ha.instance, "epoch": epoch, "resumed": true}))
            }
            Leadership::Lost(reason) => ("leadership_lost", json!({"reason": reason})),
            Leadership::Released(reason) => ("leadership_released", json!({"reason": reason})),
        };
        self.audit().record(kind, None, None, details).await;
    }

    /// The backend this election runs on.
    pub fn backend(&self) -> &Backend {
        self.ha.backend.as_ref().expect("an election has a backend")
    }

    /// Campaigns, leads or follows until `shutdown`; on the way out gives
    /// leadership back, so a follower leads at once.
    pub async fn run(self, shutdown: CancellationToken) {
        match self.backend() {
            Backend::Etcd(etcd) => super::etcd::Campaigner { el: &self, etcd }.run(shutdown).await,
            Backend::ZooKeeper(zk) => super::zookeeper::Contender { el: &self, zk }.run(shutdown).await,
        }
    }

    /// This healer's verdict on every node, as it publishes them.
    pub fn verdicts(&self) -> std::collections::BTreeMap<String, String> {
        let parts = self.parts();
        parts.nodes.iter().map(|n| (n.clone(), parts.board.state(n).as_str().to_string())).collect()
    }

    /// People are told once that the backend is out of reach: only by the
    /// healer that led last, so several healers make one message when the
    /// backend's quorum is lost. `true` once told (or not to tell).
    pub async fn tell_lost(&self, error: &str) -> bool {
        let what = self.backend().describe();
        let was_leader = self.ha.led_last();
        warn!(message = "HA: the backend cannot be reached: no healer acts until it can.", backend = %what, error = %error);
        self.audit()
            .record("ha_backend_unreachable", None, None, json!({"backend": what, "error": error, "told": was_leader}))
            .await;
        if was_leader {
            let reason = format!(
                "healer {} led last and cannot reach the coordination backend ({what}) ({error}): it does not act until it can; \
                 if no other healer reaches it either (its quorum lost), nobody acts",
                self.ha.instance,
            );
            let _ = self.parts().events.send(Event::SystemError { reason });
        }
        true
    }

    /// The backend answers again after it did not.
    pub async fn reachable_again(&self) {
        let what = self.backend().describe();
        tracing::info!(message = "HA: the backend answers again.", backend = %what);
        self.audit().record("ha_backend_reachable", None, None, json!({"backend": what})).await;
    }
}

/// How long the backend has been out of reach, and whether people were
/// told: both elections report through it, so the message goes once per
/// outage, after a lease without the backend.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<Instant>,
    told: bool,
}

impl Outage {
    /// The backend failed with `error`: noted; people are told once it has
    /// lasted a lease.
    pub async fn failed(&mut self, el: &Election, error: &str) {
        let since = *self.since.get_or_insert_with(Instant::now);
        el.ha.backend_error(Some(error.to_string()));
        if since.elapsed() >= el.backend().ttl() && !self.told {
            self.told = el.tell_lost(error).await;
        }
    }

    /// The backend answers: the outage, if any, is over.
    pub async fn over(&mut self, el: &Election) {
        if self.since.take().is_some() {
            el.reachable_again().await;
        }
        self.told = false;
        el.ha.backend_error(None);
    }

    /// Whether the backend is out of reach now.
    pub fn ongoing(&self) -> bool {
        self.since.is_some()
    }
}

/// Sleeps `d`; `true` when the healer stops meanwhile.
pub async fn sleep_or_stop(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// Builds the handle of `config.ha` and, when enabled, starts the election
/// under `tracker` until `shutdown`; the `Rewire` gives it a later
/// generation's parts.
pub fn start(
    config: &Config,
    parts: Parts,
    tracker: &tokio_util::task::TaskTracker,
    shutdown: &CancellationToken,
) -> Result<(Arc<Ha>, Option<Rewire>), String> {
    let instance = backend::instance_id(config);
    if !config.ha.enabled {
        return Ok((Ha::standalone(&instance, shutdown), None));
    }
    let backend = Backend::from_config(config, &|n| std::env::var(n).ok())?;
    let ha = Arc::new(Ha::new(&instance, config.ha.confirm_from, Some(backend), Role::Candidate, shutdown));
    let rewire = Rewire(Arc::new(std::sync::Mutex::new(parts)));
    let election = Election { ha: ha.clone(), parts: rewire.clone() };
    tracker.spawn(expire_terms(ha.clone(), rewire.clone(), shutdown.clone()));
    tracker.spawn(super::controls::mirror(ha.clone(), rewire.clone(), shutdown.clone()));
    tracker.spawn(election.run(shutdown.clone()));
    Ok((ha, Some(rewire)))
}

/// Ends each term the moment its lease runs out unrenewed, in a task of its
/// own: nothing the election waits for (a backend that does not answer)
/// keeps a stale term alive.
async fn expire_terms(ha: Arc<Ha>, parts: Rewire, shutdown: CancellationToken) {
    let mut changes = ha.subscribe();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            ended = ha.lease_expired() => {
                if ended {
                    let el = Election { ha: ha.clone(), parts: parts.clone() };
                    el.record(Leadership::Lost("the lease could not be renewed in time")).await;
                    continue;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = changes.changed() => {}
        }
    }
}
