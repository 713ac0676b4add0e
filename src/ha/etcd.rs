//! The etcd v3 backend: the election, this healer's presence and verdicts,
//! and the intent journal, under one key prefix (`ha.election_path`).
//!
//! Keys: `<prefix>/leader` (the leader's instance id, on its lease; its
//! creation revision is the fencing token), `<prefix>/members/<instance>`
//! (each healer's role and verdicts, on its own lease: gone when it is),
//! `<prefix>/intents/<incident>` (each open incident of the leader, with
//! its attempts; no lease: it outlives the leader).
//!
//! Owns: the campaign (a transaction that creates the leader key only if it
//! does not exist), keeping the lease alive, the leader key's watch, the
//! compare on the token that every intent write makes.
//! Must never: write the journal without comparing the token, or keep a
//! term past what its lease allows.

use std::time::Duration;

use tokio::time::Instant;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity, LeaseKeepAliveStream,
    LeaseKeeper, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse, WatchStream,
};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::backend::{self, MAX_INTENTS, WriteError, presence};
use super::election::{Election, Leadership, Outage, PUBLISH_EVERY, sleep_or_stop};
use super::opinion::Opinion;
use super::term::Lease;
use crate::config::Config;
use crate::store::IncidentRecord;

/// The connection and the keys.
pub struct Etcd {
    pub endpoints: Vec<String>,
    options: ConnectOptions,
    client: Mutex<Option<Client>>,
    prefix: String,
    pub ttl: Duration,
    request_timeout: Duration,
}

impl Etcd {
    /// The backend of `config.ha`; `env` reads the password's variable.
    pub fn from_config(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Etcd, String> {
        let ha = &config.ha;
        let ttl = ha.lease_seconds.duration();
        let request_timeout = (ttl / 3).clamp(Duration::from_millis(500), Duration::from_secs(5));
        let mut options = ConnectOptions::new()
            .with_connect_timeout(request_timeout)
            .with_timeout(request_timeout)
            .with_keep_alive(Duration::from_secs(1), request_timeout)
            .with_keep_alive_while_idle(true);
        if let Some(user) = &ha.username {
            let password = env(&ha.password_env)
                .ok_or_else(|| format!("ha.password_env: the environment variable {} is not set", ha.password_env))?;
            options = options.with_user(user.clone(), password);
        }
        let t = &ha.tls;
        if t.ca_file.is_some() || t.cert_file.is_some() {
            let read = |key: &str, path: &str| {
                std::fs::read(path).map_err(|e| format!("ha.tls.{key}: cannot read {path}: {e}"))
            };
            let mut tls = TlsOptions::new();
            if let Some(ca) = &t.ca_file {
                tls = tls.ca_certificate(Certificate::from_pem(read("ca_file", ca)?));
            }
            if let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) {
                tls = tls.identity(Identity::from_pem(read("cert_file", cert)?, read("key_file", key)?));
            }
            options = options.with_tls(tls);
        }
        Ok(Etcd {
            endpoints: ha.endpoints.clone(),
            options,
            client: Mutex::new(None),
            prefix: backend::prefix(config),
            ttl,
            request_timeout,
        })
    }

    fn leader_key(&self) -> String {
        format!("{}/leader", self.prefix)
    }
    fn member_key(&self, instance: &str) -> String {
        format!("{}/members/{instance}", self.prefix)
    }
    fn intent_key(&self, incident: &str) -> String {
        format!("{}/intents/{incident}", self.prefix)
    }
    fn outbox_key(&self, instance: &str, id: i64) -> String {
        format!("{}/outbox/{instance}/{id:012}", self.prefix)
    }
    fn controls_prefix(&self) -> String {
        format!("{}/controls/", self.prefix)
    }

    /// The client, connected on first use (the backend may be down at start).
    async fn client(&self) -> Result<Client, String> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let connect = Client::connect(&self.endpoints, Some(self.options.clone()));
        let client = tokio::time::timeout(self.request_timeout * 2, connect)
            .await
            .map_err(|_| format!("no etcd endpoint answered within {:?}", self.request_timeout * 2))?
            .map_err(|e| e.to_string())?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Bounds a request by the request time-out.
    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.request_timeout, f).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("etcd did not answer within {:?}", self.request_timeout)),
        }
    }

    /// One compare-and-write on the token; `Deposed` when it is not the leader key's.
    async fn fenced(&self, epoch: i64, op: TxnOp, within: Duration) -> Result<(), WriteError> {
        let mut c = self.client().await.map_err(WriteError::Backend)?;
        let key = self.leader_key();
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, epoch)])
            .and_then([op])
            .or_else([TxnOp::get(key, None)]);
        let within = within.min(self.request_timeout);
        let answer = match tokio::time::timeout(within, c.txn(txn)).await {
            Ok(r) => r.map_err(|e| WriteError::Backend(e.to_string()))?,
            Err(_) => return Err(WriteError::Backend(format!("etcd did not answer within {within:?}"))),
        };
        if answer.succeeded() {
            return Ok(());
        }
        let leader = answer.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
            _ => None,
        });
        Err(WriteError::Deposed(leader))
    }

    /// An incident's journal entry written under the token.
    pub async fn write_intent(
        &self,
        epoch: i64,
        incident: &str,
        value: Vec<u8>,
        within: Duration,
    ) -> Result<(), WriteError> {
        self.fenced(epoch, TxnOp::put(self.intent_key(incident), value, None), within).await
    }

    /// A closed incident leaves the journal.
    pub async fn forget_intent(&self, epoch: i64, incident: &str) -> Result<(), WriteError> {
        self.fenced(epoch, TxnOp::delete(self.intent_key(incident), None), self.request_timeout).await
    }

    /// A notification the leader queued, until it is delivered: the next
    /// leader delivers it if this one cannot.
    pub async fn write_notification(
        &self,
        epoch: i64,
        instance: &str,
        id: i64,
        value: Vec<u8>,
    ) -> Result<(), WriteError> {
        self.fenced(epoch, TxnOp::put(self.outbox_key(instance, id), value, None), self.request_timeout).await
    }

    /// Delivered (or given up on): out of the journal.
    pub async fn forget_notification(&self, instance: &str, id: i64) -> Result<(), String> {
        let mut c = self.client().await?;
        self.bounded(c.delete(self.outbox_key(instance, id), None)).await.map(|_| ())
    }

    /// Notifications other healers queued and did not deliver: (key, value).
    pub async fn foreign_notifications(&self, me: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut c = self.client().await?;
        let prefix = format!("{}/outbox/", self.prefix);
        let mine = format!("{prefix}{me}/");
        let got = self.bounded(c.get(prefix, Some(GetOptions::new().with_prefix().with_limit(1000)))).await?;
        Ok(got
            .kvs()
            .iter()
            .map(|kv| (String::from_utf8_lossy(kv.key()).into_owned(), kv.value().to_vec()))
            .filter(|(k, _)| !k.starts_with(&mine))
            .collect())
    }

    /// Removes one key (a notification taken over).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let mut c = self.client().await?;
        self.bounded(c.delete(key.to_string(), None)).await.map(|_| ())
    }

    /// The operator's controls, by key (any healer, or a command, writes them).
    pub async fn controls(&self) -> Result<Vec<(String, String)>, String> {
        let mut c = self.client().await?;
        let prefix = self.controls_prefix();
        let got = self.bounded(c.get(prefix.clone(), Some(GetOptions::new().with_prefix().with_limit(10_000)))).await?;
        Ok(got
            .kvs()
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key());
                (
                    key.strip_prefix(&prefix).unwrap_or(&key).to_string(),
                    String::from_utf8_lossy(kv.value()).into_owned(),
                )
            })
            .collect())
    }

    /// Sets (`Some`) or removes (`None`) one control; true when a removed one was there.
    pub async fn put_control(&self, key: &str, value: Option<&str>) -> Result<bool, String> {
        let mut c = self.client().await?;
        let key = format!("{}{key}", self.controls_prefix());
        match value {
            Some(v) => self.bounded(c.put(key, v.to_string(), None)).await.map(|_| true),
            None => self.bounded(c.delete(key, None)).await.map(|r| r.deleted() > 0),
        }
    }

    /// Every open incident in the journal.
    pub async fn intents(&self) -> Result<Vec<IncidentRecord>, String> {
        let mut c = self.client().await?;
        let prefix = format!("{}/intents/", self.prefix);
        let got =
            self.bounded(c.get(prefix, Some(GetOptions::new().with_prefix().with_limit(MAX_INTENTS as i64)))).await?;
        Ok(backend::read_intents(
            got.kvs().iter().map(|kv| (String::from_utf8_lossy(kv.key()).into_owned(), kv.value())),
        ))
    }

    /// What every other healer that is up published about `node`.
    pub async fn opinions(&self, me: &str, node: &str) -> Result<Vec<Opinion>, String> {
        let mut c = self.client().await?;
        let prefix = format!("{}/members/", self.prefix);
        let got = self.bounded(c.get(prefix, Some(GetOptions::new().with_prefix()))).await?;
        Ok(backend::read_opinions(me, node, got.kvs().iter().map(|kv| kv.value())))
    }
}

/// A lease of this healer's, kept alive.
struct Held {
    id: i64,
    lease: Lease,
    keeper: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
}

/// The etcd election of one healer.
pub struct Campaigner<'a> {
    pub el: &'a Election,
    pub etcd: &'a Etcd,
}

impl Campaigner<'_> {
    /// Campaigns, leads or follows until `shutdown`; on the way out gives
    /// the lease back, so a follower leads at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut outage = Outage::default();
        while !shutdown.is_cancelled() {
            let held = match self.grant().await {
                Ok(h) => h,
                Err(e) => {
                    outage.failed(self.el, &e).await;
                    if sleep_or_stop(Duration::from_secs(1), &shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            outage.over(self.el).await;
            if let Some(why) = self.under_lease(held, &shutdown).await {
                outage.failed(self.el, &why).await;
            }
        }
    }

    /// A new lease, with its keep-alive stream.
    async fn grant(&self) -> Result<Held, String> {
        let etcd = self.etcd;
        let mut c = etcd.client().await?;
        let sent = Instant::now();
        let granted = etcd.bounded(c.lease_grant(etcd.ttl.as_secs().max(1) as i64, None)).await?;
        let keeper = etcd.bounded(c.lease_keep_alive(granted.id())).await.ok();
        Ok(Held { id: granted.id(), lease: Lease::granted(0, sent, Duration::from_secs(granted.ttl() as u64)), keeper })
    }

    /// Everything while one lease lives: presence, campaign, leadership.
    /// `Some(why)` when the lease was lost to the backend's silence.
    async fn under_lease(&self, mut held: Held, shutdown: &CancellationToken) -> Option<String> {
        let etcd = self.etcd;
        let mut published: Option<Vec<u8>> = None;
        let mut watch: Option<WatchStream> = None;
        let mut renew = tokio::time::interval(etcd.ttl / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut publish = tokio::time::interval(PUBLISH_EVERY);
        let mut campaign_now = true;
        loop {
            if campaign_now && self.el.ha.term().is_none() {
                campaign_now = false;
                match self.campaign(&held).await {
                    Ok(Campaign::Follows(leader_rev)) => watch = self.watch_leader(leader_rev).await,
                    Ok(Campaign::Won) => watch = self.watch_leader(0).await,
                    Ok(Campaign::Again) => campaign_now = true,
                    Err(e) => warn!(message = "HA: the campaign failed; trying again.", error = %e),
                }
                published = None;
            }
            let deadline = held.lease.valid_until;
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.step_down(held.id, "the healer stops").await;
                    return None;
                }
                // The term itself ends on its own timer (`lease_expired`); here the lease is given up.
                _ = tokio::time::sleep_until(deadline) => {
                    warn!(message = "HA: the lease could not be renewed in time.", lease_s = etcd.ttl.as_secs());
                    return Some("the lease could not be renewed in time".into());
                }

                _ = renew.tick() => {
                    match self.keep_alive(&mut held).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // The backend let the lease go: every key on it is gone.
                            let ended = self.el.ha.end_term("the backend let its lease expire", None);
                            if ended {
                                self.el.record(Leadership::Lost("the backend let the lease expire")).await;
                            }
                            return None;
                        }
                        Err(e) => {
                            self.el.ha.backend_error(Some(e));
                            held.keeper = None;
                        }
                    }
                    if self.el.ha.term().is_none() && watch.is_none() {
                        campaign_now = true;
                    }
                }
                _ = publish.tick() => {
                    let value = presence(&self.el.ha, &self.el.verdicts());
                    if published.as_ref() != Some(&value) && self.publish(&held, value.clone()).await.is_ok() {
                        published = Some(value);
                    }
                }
                event = next_event(&mut watch) => match event {
                    Some(Gone::Deleted) => {
                        if self.el.ha.end_term("the leader key was deleted", None) {
                            self.el.record(Leadership::Lost("the leader key was deleted")).await;
                        }
                        campaign_now = true;
                    }
                    Some(Gone::Changed) => {}
                    None => { watch = None; campaign_now = true; }
                },
            }
        }
    }

    /// Tries once to become the leader.
    async fn campaign(&self, held: &Held) -> Result<Campaign, String> {
        let etcd = self.etcd;
        let mut c = etcd.client().await?;
        let key = etcd.leader_key();
        let sent = Instant::now();
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                self.el.ha.instance.clone(),
                Some(PutOptions::new().with_lease(held.id)),
            )])
            .or_else([TxnOp::get(key, None)]);
        let answer = etcd.bounded(c.txn(txn)).await?;
        if answer.succeeded() {
            let epoch = answer.header().map(|h| h.revision()).unwrap_or_default();
            let lease = Lease { epoch, ..held.lease };
            // Only as long as the lease it was won on; a grant older than this campaign counts from then.
            let lease = Lease { valid_until: lease.valid_until.min(sent + etcd.ttl), ..lease };
            self.el.ha.begin_term(lease);
            info!(message = "HA: this healer leads.", instance = %self.el.ha.instance, epoch);
            self.el.record(Leadership::Acquired { epoch, resumed: false }).await;
            return Ok(Campaign::Won);
        }
        let kv = answer.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g
                .kvs()
                .first()
                .map(|kv| (String::from_utf8_lossy(kv.value()).into_owned(), kv.create_revision(), kv.mod_revision())),
            _ => None,
        });
        match kv {
            Some((leader, epoch, rev)) => {
                if self.el.ha.standing().leader.as_deref() != Some(leader.as_str()) {
                    info!(message = "HA: another healer leads; this one follows.", leader = %leader, epoch);
                }
                self.el.ha.follow(Some(leader), Some(epoch));
                Ok(Campaign::Follows(rev))
            }
            // Gone between the compare and the read: try again at once.
            None => Ok(Campaign::Again),
        }
    }

    /// A watch on the leader key from `rev` on.
    async fn watch_leader(&self, rev: i64) -> Option<WatchStream> {
        let etcd = self.etcd;
        let mut c = etcd.client().await.ok()?;
        let mut options = etcd_client::WatchOptions::new();
        if rev > 0 {
            options = options.with_start_revision(rev + 1);
        }
        etcd.bounded(c.watch(etcd.leader_key(), Some(options))).await.ok()
    }

    /// One keep-alive; `Ok(false)` when the backend says the lease is gone.
    async fn keep_alive(&self, held: &mut Held) -> Result<bool, String> {
        let etcd = self.etcd;
        if held.keeper.is_none() {
            let mut c = etcd.client().await?;
            held.keeper = Some(etcd.bounded(c.lease_keep_alive(held.id)).await?);
        }
        let (keeper, stream) = held.keeper.as_mut().expect("set above");
        let sent = Instant::now();
        etcd.bounded(keeper.keep_alive()).await?;
        let answer = etcd.bounded(stream.message()).await?;
        let Some(answer) = answer else { return Err("the keep-alive stream ended".into()) };
        if answer.ttl() <= 0 {
            return Ok(false);
        }
        let ttl = Duration::from_secs(answer.ttl() as u64);
        held.lease = held.lease.renewed(sent, ttl);
        if self.el.ha.term().is_some() {
            self.el.ha.renewed(sent, ttl);
        }
        self.el.ha.backend_error(None);
        Ok(true)
    }

    /// This healer's presence and verdicts, on its lease.
    async fn publish(&self, held: &Held, value: Vec<u8>) -> Result<(), String> {
        let etcd = self.etcd;
        let mut c = etcd.client().await?;
        let put = c.put(etcd.member_key(&self.el.ha.instance), value, Some(PutOptions::new().with_lease(held.id)));
        etcd.bounded(put).await.map(|_| ())
    }

    /// Leaves: the lease goes back, so the leader key (if ours) is free now.
    async fn step_down(&self, lease: i64, why: &str) {
        let led = self.el.ha.end_term(why, None);
        let etcd = self.etcd;
        if let Ok(mut c) = etcd.client().await
            && let Err(e) = etcd.bounded(c.lease_revoke(lease)).await
        {
            warn!(message = "HA: the lease could not be given back; another healer leads when it expires.", error = %e);
        }
        if led {
            self.el.record(Leadership::Released(why)).await;
        }
    }
}

/// How a campaign ended.
enum Campaign {
    Won,
    /// Another leads; its key's last revision (the watch starts after it).
    Follows(i64),
    /// The key was gone by the time it was read: at once, again.
    Again,
}

/// What the leader key's watch saw.
enum Gone {
    Deleted,
    Changed,
}

/// The next event of the leader key; `None` when the watch broke. Waits
/// forever without a watch.
async fn next_event(watch: &mut Option<WatchStream>) -> Option<Gone> {
    let Some(w) = watch.as_mut() else { return std::future::pending().await };
    match w.message().await {
        Ok(Some(m)) => {
            if m.canceled() {
                return None;
            }
            Some(if m.events().iter().any(|e| e.event_type() == EventType::Delete) {
                Gone::Deleted
            } else {
                Gone::Changed
            })
        }
        _ => None,
    }
}
