//! The ZooKeeper backend: the election, this healer's presence and
//! verdicts, and the intent journal, under one path (`ha.election_path`,
//! inside the chroot of `ha.connect`).
//!
//! Nodes: `<prefix>/leader/_c_<uuid>-latch-<sequence>` (every healer's
//! contender node, ephemeral and sequential: the lowest leads — Apache
//! Curator's lock layout, through the `zookeeper-client` crate's recipe;
//! the lock node's creation zxid is the fencing token),
//! `<prefix>/members/<instance>` (each healer's role and verdicts,
//! ephemeral: gone with its session), `<prefix>/intents/<incident>` and
//! `<prefix>/outbox/<instance>/<id>` (persistent: they outlive the leader).
//!
//! Owns: the session (its timeout is the lease), the contention for the
//! lock, Curator's connection-state rules — SUSPENDED (the connection
//! lost) ends the term at once, LOST (the session expired) means not the
//! leader — and the lock check that every journal write makes (a multi
//! whose first op checks that this healer's lock node still exists).
//! Must never: write the journal without that check, or act on a term
//! while the session's connection is down.

use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zookeeper_client as zk;

use super::backend::{self, MAX_INTENTS, WriteError, presence};
use super::election::{Election, Leadership, Outage, PUBLISH_EVERY, sleep_or_stop};
use super::opinion::Opinion;
use super::term::Lease;
use crate::config::Config;
use crate::store::IncidentRecord;

/// The session and the paths.
pub struct ZooKeeper {
    /// `ha.connect` as written: hosts, then an optional chroot.
    pub connect: String,
    prefix: String,
    /// The session timeout asked for (`ha.lease_seconds`).
    pub ttl: Duration,
    request_timeout: Duration,
    /// `user:password` for the `digest` scheme; nodes are then the creator's only.
    auth: Option<Vec<u8>>,
    /// `ha.tls`: TLS to the servers' secure client port (and a client
    /// certificate, for `ssl.clientAuth=need`).
    tls: Option<zk::TlsOptions>,
    /// The current session's client (none between sessions).
    client: Mutex<Option<zk::Client>>,
    /// The lock this healer holds while it leads, and its token.
    held: Mutex<Option<Held>>,
}

/// The lock while it is this healer's.
struct Held {
    lock: zk::OwnedLockClient,
    epoch: i64,
}

/// One fenced write.
enum Op {
    Put(String, Vec<u8>),
    Delete(String),
}

impl ZooKeeper {
    /// The backend of `config.ha`; `env` reads the password's variable.
    pub fn from_config(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<ZooKeeper, String> {
        let ha = &config.ha;
        let connect = ha.connect.clone().ok_or("ha.connect: the ZooKeeper backend needs a connect string")?;
        let ttl = ha.lease_seconds.duration();
        let auth = match &ha.username {
            Some(user) => {
                let password = env(&ha.password_env).ok_or_else(|| {
                    format!("ha.password_env: the environment variable {} is not set", ha.password_env)
                })?;
                Some(format!("{user}:{password}").into_bytes())
            }
            None => None,
        };
        let t = &ha.tls;
        let read = |key: &str, path: &str| {
            std::fs::read_to_string(path).map_err(|e| format!("ha.tls.{key}: cannot read {path}: {e}"))
        };
        let tls = match (&t.ca_file, &t.cert_file, &t.key_file) {
            (None, None, None) => None,
            (ca, cert, key) => {
                let mut options = zk::TlsOptions::new();
                if let Some(ca) = ca {
                    options = options
                        .with_pem_ca(&read("ca_file", ca)?)
                        .map_err(|e| format!("ha.tls.ca_file: {ca} is not a PEM certificate: {e}"))?;
                }
                if let (Some(cert), Some(key)) = (cert, key) {
                    options = options
                        .with_pem_identity(&read("cert_file", cert)?, &read("key_file", key)?)
                        .map_err(|e| format!("ha.tls.cert_file/key_file: not a PEM certificate and key: {e}"))?;
                }
                Some(options)
            }
        };
        Ok(ZooKeeper {
            tls,
            connect,
            prefix: backend::prefix(config),
            ttl,
            request_timeout: (ttl / 3).clamp(Duration::from_millis(500), Duration::from_secs(5)),
            auth,
            client: Mutex::new(None),
            held: Mutex::new(None),
        })
    }

    fn leader_dir(&self) -> String {
        format!("{}/leader", self.prefix)
    }
    fn members_dir(&self) -> String {
        format!("{}/members", self.prefix)
    }
    fn member_path(&self, instance: &str) -> String {
        format!("{}/members/{instance}", self.prefix)
    }
    fn intents_dir(&self) -> String {
        format!("{}/intents", self.prefix)
    }
    fn intent_path(&self, incident: &str) -> String {
        format!("{}/intents/{incident}", self.prefix)
    }
    fn outbox_dir(&self) -> String {
        format!("{}/outbox", self.prefix)
    }
    fn controls_dir(&self) -> String {
        format!("{}/controls", self.prefix)
    }
    fn outbox_path(&self, instance: &str, id: i64) -> String {
        format!("{}/outbox/{instance}/{id:012}", self.prefix)
    }

    /// Who may read and change the nodes: with `ha.username`, only healers
    /// holding the same credentials; without, anyone.
    fn acls(&self) -> zk::Acls<'static> {
        if self.auth.is_some() { zk::Acls::creator_all() } else { zk::Acls::anyone_all() }
    }

    fn persistent(&self) -> zk::CreateOptions<'static> {
        zk::CreateMode::Persistent.with_acls(self.acls())
    }

    /// Bounds a request by the request time-out.
    async fn bounded<T>(&self, f: impl std::future::Future<Output = Result<T, zk::Error>>) -> Result<T, String> {
        match tokio::time::timeout(self.request_timeout, f).await {
            Ok(r) => r.map_err(|e| format!("ZooKeeper: {e}")),
            Err(_) => Err(format!("ZooKeeper did not answer within {:?}", self.request_timeout)),
        }
    }

    /// A new session, inside the chroot (created when missing), with the
    /// election's directories in place.
    async fn session(&self) -> Result<zk::Client, String> {
        let (hosts, chroot) = match self.connect.find('/') {
            Some(i) => (&self.connect[..i], Some(self.connect[i..].trim_end_matches('/'))),
            None => (self.connect.as_str(), None),
        };
        let mut connector = zk::Client::connector()
            .with_session_timeout(self.ttl)
            .with_connection_timeout(self.request_timeout)
            .with_fail_eagerly();
        if let Some(auth) = &self.auth {
            connector = connector.with_auth("digest", auth);
        }
        let tls = self.tls.is_some();
        if let Some(options) = &self.tls {
            connector = connector.with_tls(options.clone());
        }
        // With `ha.tls` every server is asked over TLS (their secureClientPort).
        let connecting =
            async { if tls { connector.secure_connect(hosts).await } else { connector.connect(hosts).await } };
        let client = match tokio::time::timeout(self.ttl + self.request_timeout, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(format!("no ZooKeeper server of {hosts} gave a session: {e}")),
            Err(_) => return Err(format!("no ZooKeeper server of {hosts} gave a session within {:?}", self.ttl)),
        };
        let client = match chroot.filter(|c| !c.is_empty()) {
            Some(root) => {
                self.bounded(client.mkdir(root, &self.persistent())).await?;
                client.chroot(root.to_string()).map_err(|_| format!("ha.connect: `{root}` is not a chroot path"))?
            }
            None => client,
        };
        if client.session_timeout() != self.ttl {
            warn!(
                message = "HA: ZooKeeper gave another session timeout than ha.lease_seconds (the servers' minSessionTimeout/maxSessionTimeout bound it); the lease follows the server.",
                asked_ms = self.ttl.as_millis() as u64,
                given_ms = client.session_timeout().as_millis() as u64
            );
        }
        for dir in [self.leader_dir(), self.members_dir(), self.intents_dir(), self.outbox_dir(), self.controls_dir()] {
            self.bounded(client.mkdir(&dir, &self.persistent())).await?;
        }
        Ok(client)
    }

    /// The current session's client.
    async fn client(&self) -> Result<zk::Client, String> {
        self.client.lock().await.clone().ok_or_else(|| "no ZooKeeper session".to_string())
    }

    /// The lowest contender: the leader's instance and token, if any.
    async fn leader(&self, client: &zk::Client) -> Result<Option<(String, i64)>, String> {
        let mut children = match self.bounded(client.list_children(&self.leader_dir())).await {
            Ok(c) => c,
            Err(e) => return Err(e),
        };
        children.sort_by(|a, b| sequence(a).cmp(sequence(b)));
        for child in children {
            match self.bounded(client.get_data(&format!("{}/{child}", self.leader_dir()))).await {
                Ok((data, stat)) => return Ok(Some((String::from_utf8_lossy(&data).into_owned(), stat.czxid))),
                // Gone between the list and the read: the next one.
                Err(_) => continue,
            }
        }
        Ok(None)
    }

    /// One write under the lock: the multi checks first that this healer's
    /// lock node (of token `epoch`) still exists.
    async fn fenced(&self, epoch: i64, op: Op, within: Duration) -> Result<(), WriteError> {
        let held = self.held.lock().await;
        let Some(h) = held.as_ref().filter(|h| h.epoch == epoch) else {
            drop(held);
            return Err(WriteError::Deposed(self.leader_now().await));
        };
        let write = async {
            match &op {
                Op::Put(path, value) => match h.lock.set_data(path, value, None).await {
                    Err(zk::Error::NoNode) => h.lock.create(path, value, &self.persistent()).await.map(|_| ()),
                    r => r.map(|_| ()),
                },
                Op::Delete(path) => match h.lock.delete(path, None).await {
                    Err(zk::Error::NoNode) => Ok(()),
                    r => r,
                },
            }
        };
        let within = within.min(self.request_timeout);
        match tokio::time::timeout(within, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(zk::Error::RuntimeInconsistent)) => {
                drop(held);
                Err(WriteError::Deposed(self.leader_now().await))
            }
            Ok(Err(e)) => Err(WriteError::Backend(format!("ZooKeeper: {e}"))),
            Err(_) => Err(WriteError::Backend(format!("ZooKeeper did not answer within {within:?}"))),
        }
    }

    /// Who leads now, as far as can be told.
    async fn leader_now(&self) -> Option<String> {
        let client = self.client().await.ok()?;
        self.leader(&client).await.ok().flatten().map(|(l, _)| l)
    }

    /// An incident's journal entry written under the token.
    pub async fn write_intent(
        &self,
        epoch: i64,
        incident: &str,
        value: Vec<u8>,
        within: Duration,
    ) -> Result<(), WriteError> {
        self.fenced(epoch, Op::Put(self.intent_path(incident), value), within).await
    }

    /// A closed incident leaves the journal.
    pub async fn forget_intent(&self, epoch: i64, incident: &str) -> Result<(), WriteError> {
        self.fenced(epoch, Op::Delete(self.intent_path(incident)), self.request_timeout).await
    }

    /// A notification the leader queued, until it is delivered.
    pub async fn write_notification(
        &self,
        epoch: i64,
        instance: &str,
        id: i64,
        value: Vec<u8>,
    ) -> Result<(), WriteError> {
        self.fenced(epoch, Op::Put(self.outbox_path(instance, id), value), self.request_timeout).await
    }

    /// Delivered (or given up on): out of the journal.
    pub async fn forget_notification(&self, instance: &str, id: i64) -> Result<(), String> {
        self.delete(&self.outbox_path(instance, id)).await
    }

    /// Notifications other healers queued and did not deliver: (path, value).
    pub async fn foreign_notifications(&self, me: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let client = self.client().await?;
        let mut out = Vec::new();
        for instance in self.bounded(client.list_children(&self.outbox_dir())).await? {
            if instance == me {
                continue;
            }
            let dir = format!("{}/{instance}", self.outbox_dir());
            let Ok(mut ids) = self.bounded(client.list_children(&dir)).await else { continue };
            ids.sort();
            for id in ids.into_iter().take(1000) {
                let path = format!("{dir}/{id}");
                if let Ok((data, _)) = self.bounded(client.get_data(&path)).await {
                    out.push((path, data));
                }
            }
        }
        Ok(out)
    }

    /// Removes one node (a notification delivered or taken over).
    pub async fn delete(&self, path: &str) -> Result<(), String> {
        let client = self.client().await?;
        match tokio::time::timeout(self.request_timeout, client.delete(path, None)).await {
            Ok(Ok(())) | Ok(Err(zk::Error::NoNode)) => Ok(()),
            Ok(Err(e)) => Err(format!("ZooKeeper: {e}")),
            Err(_) => Err(format!("ZooKeeper did not answer within {:?}", self.request_timeout)),
        }
    }

    /// The election's session, or (a command, no election running) a session of its own.
    async fn any_client(&self) -> Result<zk::Client, String> {
        match self.client().await {
            Ok(c) => Ok(c),
            Err(_) => self.session().await,
        }
    }

    /// The operator's controls, by key (any healer, or a command, writes them).
    pub async fn controls(&self) -> Result<Vec<(String, String)>, String> {
        let client = self.any_client().await?;
        let listed = tokio::time::timeout(self.request_timeout, client.list_children(&self.controls_dir())).await;
        let mut keys = match listed {
            Ok(Ok(k)) => k,
            // Made by the first session of a version that knows controls: none yet.
            Ok(Err(zk::Error::NoNode)) => return Ok(Vec::new()),
            Ok(Err(e)) => return Err(format!("ZooKeeper: {e}")),
            Err(_) => return Err(format!("ZooKeeper did not answer within {:?}", self.request_timeout)),
        };
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            match client.get_data(&format!("{}/{key}", self.controls_dir())).await {
                Ok((data, _)) => out.push((key, String::from_utf8_lossy(&data).into_owned())),
                // Removed between the list and the read.
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(format!("ZooKeeper: {e}")),
            }
        }
        Ok(out)
    }

    /// Sets (`Some`) or removes (`None`) one control; true when a removed one was there.
    pub async fn put_control(&self, key: &str, value: Option<&str>) -> Result<bool, String> {
        let client = self.any_client().await?;
        self.bounded(client.mkdir(&self.controls_dir(), &self.persistent())).await?;
        let path = format!("{}/{key}", self.controls_dir());
        let write = async {
            match value {
                Some(v) => match client.set_data(&path, v.as_bytes(), None).await {
                    Err(zk::Error::NoNode) => {
                        client.create(&path, v.as_bytes(), &self.persistent()).await.map(|_| true)
                    }
                    r => r.map(|_| true),
                },
                None => match client.delete(&path, None).await {
                    Err(zk::Error::NoNode) => Ok(false),
                    r => r.map(|_| true),
                },
            }
        };
        match tokio::time::timeout(self.request_timeout, write).await {
            Ok(r) => r.map_err(|e| format!("ZooKeeper: {e}")),
            Err(_) => Err(format!("ZooKeeper did not answer within {:?}", self.request_timeout)),
        }
    }

    /// Every open incident in the journal.
    pub async fn intents(&self) -> Result<Vec<IncidentRecord>, String> {
        let client = self.client().await?;
        let mut found = Vec::new();
        for id in self.bounded(client.list_children(&self.intents_dir())).await?.into_iter().take(MAX_INTENTS) {
            let path = self.intent_path(&id);
            if let Ok((data, _)) = self.bounded(client.get_data(&path)).await {
                found.push((path, data));
            }
        }
        Ok(backend::read_intents(found.iter().map(|(k, v)| (k.clone(), v.as_slice()))))
    }

    /// What every other healer that is up published about `node`.
    pub async fn opinions(&self, me: &str, node: &str) -> Result<Vec<Opinion>, String> {
        let client = self.client().await?;
        let mut values = Vec::new();
        for instance in self.bounded(client.list_children(&self.members_dir())).await? {
            if instance == me {
                continue;
            }
            if let Ok((data, _)) = self.bounded(client.get_data(&self.member_path(&instance))).await {
                values.push(data);
            }
        }
        Ok(backend::read_opinions(me, node, values.iter().map(Vec::as_slice)))
    }
}

/// Why the backend is out of reach while the session's connection is down.
const LOST_CONNECTION: &str = "the connection to ZooKeeper is lost";

/// A contender node's sequence (its last ten digits, as Curator sorts them).
fn sequence(child: &str) -> &str {
    &child[child.len().saturating_sub(10)..]
}

/// The ZooKeeper election of one healer.
pub struct Contender<'a> {
    pub el: &'a Election,
    pub zk: &'a ZooKeeper,
}

/// How a session ended.
enum Ended {
    /// The healer stops.
    Stopping,
    /// A new session is needed: why.
    Again(String),
}

impl Contender<'_> {
    /// Contends, leads or follows until `shutdown`, one session after the
    /// other; on the way out deletes its lock node, so a follower leads at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut outage = Outage::default();
        while !shutdown.is_cancelled() {
            let client = match self.zk.session().await {
                Ok(c) => c,
                Err(e) => {
                    outage.failed(self.el, &e).await;
                    if sleep_or_stop(Duration::from_secs(1), &shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            outage.over(self.el).await;
            *self.zk.client.lock().await = Some(client.clone());
            let ended = self.in_session(&client, &mut outage, &shutdown).await;
            *self.zk.held.lock().await = None;
            *self.zk.client.lock().await = None;
            match ended {
                Ended::Stopping => break,
                Ended::Again(why) => {
                    warn!(message = "HA: the ZooKeeper session is over; starting a new one.", reason = %why);
                    outage.failed(self.el, &why).await;
                    if sleep_or_stop(Duration::from_millis(200), &shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    /// Everything while one session lives: presence, contention, leadership.
    async fn in_session(&self, client: &zk::Client, outage: &mut Outage, shutdown: &CancellationToken) -> Ended {
        let zk = self.zk;
        let dir = zk.leader_dir();
        let prefix = match zk::LockPrefix::new_curator(&dir, "latch-") {
            Ok(p) => p,
            Err(e) => return Ended::Again(format!("the election path {dir} cannot hold a lock: {e}")),
        };
        let mut state = client.state_watcher();
        let instance = self.el.ha.instance.clone();
        let mut contend = Box::pin(client.lock(prefix, instance.as_bytes(), zk::LockOptions::new(zk.acls())));
        let mut contending = true;
        let mut lock_path: Option<String> = None;
        let mut watch = self.look(client).await;
        let mut renew = tokio::time::interval(zk.ttl / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut publish = tokio::time::interval(PUBLISH_EVERY);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut published: Option<Vec<u8>> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.step_down(client, lock_path.as_deref(), "the healer stops").await;
                    return Ended::Stopping;
                }
                got = &mut contend, if contending => {
                    contending = false;
                    match got {
                        Ok(lock) => {
                            let lock = lock.into_owned();
                            let path = lock.lock_path().to_string();
                            if let Err(e) = self.lead(client, lock).await {
                                return Ended::Again(e);
                            }
                            lock_path = Some(path);
                        }
                        Err(e) => return Ended::Again(format!("the contention for the lock failed: {e}")),
                    }
                }
                s = state.changed() => match s {
                    zk::SessionState::Disconnected => {
                        // Curator's SUSPENDED: stop acting at once.
                        outage.failed(self.el, LOST_CONNECTION).await;
                        if self.el.ha.end_term("the connection to ZooKeeper is lost (suspended)", None) {
                            self.el.record(Leadership::Lost("the connection to ZooKeeper is lost (suspended)")).await;
                        }
                    }
                    zk::SessionState::SyncConnected => {
                        outage.over(self.el).await;
                        if let Some(path) = &lock_path
                            && let Err(e) = self.resume(client, path).await
                        {
                            return Ended::Again(e);
                        }
                        watch = self.look(client).await;
                    }
                    zk::SessionState::ConnectedReadOnly => {}
                    other => {
                        // Curator's LOST: not the leader.
                        let why = format!("the ZooKeeper session ended ({other:?})");
                        if self.el.ha.end_term(&why, None) {
                            self.el.record(Leadership::Lost(&why)).await;
                        }
                        return Ended::Again(why);
                    }
                },
                _ = renew.tick(), if lock_path.is_some() && !outage.ongoing() => {
                    if let Some(path) = &lock_path
                        && let Err(e) = self.renew(client, path).await
                    {
                        return Ended::Again(e);
                    }
                }
                _ = publish.tick(), if !outage.ongoing() => {
                    let value = presence(&self.el.ha, &self.el.verdicts());
                    if published.as_ref() != Some(&value) && self.publish(client, &value).await.is_ok() {
                        published = Some(value);
                    }
                }
                _ = changed(&mut watch) => watch = self.look(client).await,
                // People are told once the connection stays lost a lease long.
                _ = tick.tick(), if outage.ongoing() => outage.failed(self.el, LOST_CONNECTION).await,
            }
        }
    }

    /// The lock is this healer's: a term begins, its token the lock node's creation zxid.
    async fn lead(&self, client: &zk::Client, lock: zk::OwnedLockClient) -> Result<(), String> {
        let sent = Instant::now();
        let stat = self.zk.bounded(client.check_stat(lock.lock_path())).await?;
        let Some(stat) = stat else { return Err("the lock node vanished as it was won".into()) };
        let epoch = stat.czxid;
        *self.zk.held.lock().await = Some(Held { lock, epoch });
        self.el.ha.begin_term(Lease::granted(epoch, sent, client.session_timeout()));
        info!(message = "HA: this healer leads.", instance = %self.el.ha.instance, epoch);
        self.el.record(Leadership::Acquired { epoch, resumed: false }).await;
        Ok(())
    }

    /// Connected again within the session: the lock node is still this
    /// healer's (nobody else could lead meanwhile), so a new term begins on it.
    async fn resume(&self, client: &zk::Client, path: &str) -> Result<(), String> {
        let sent = Instant::now();
        match self.zk.bounded(client.check_stat(path)).await? {
            Some(stat) if stat.ephemeral_owner == client.session_id().0 => {
                self.begin_again(client, stat.czxid, sent).await;
                Ok(())
            }
            _ => Err("the lock node is gone".into()),
        }
    }

    /// A new term on the lock this healer still holds (checked by a round
    /// trip sent at `sent`).
    async fn begin_again(&self, client: &zk::Client, epoch: i64, sent: Instant) {
        self.el.ha.begin_term(Lease::granted(epoch, sent, client.session_timeout()));
        info!(message = "HA: this healer still holds the lock and leads again.", epoch);
        self.el.record(Leadership::Acquired { epoch, resumed: true }).await;
    }

    /// One round trip that proves the session alive and the lock node there.
    /// A term that ended on its timer while the lock stayed this healer's
    /// (renewals answered too late) begins again on it: nobody else could lead.
    async fn renew(&self, client: &zk::Client, path: &str) -> Result<(), String> {
        let sent = Instant::now();
        match self.zk.bounded(client.check_stat(path)).await {
            Ok(Some(stat)) => {
                if self.el.ha.term().is_some() {
                    self.el.ha.renewed(sent, client.session_timeout());
                } else if stat.ephemeral_owner == client.session_id().0 {
                    self.begin_again(client, stat.czxid, sent).await;
                }
                Ok(())
            }
            Ok(None) => {
                let why = "the lock node was deleted";
                if self.el.ha.end_term(why, None) {
                    self.el.record(Leadership::Lost(why)).await;
                }
                Err(why.into())
            }
            Err(e) => {
                self.el.ha.backend_error(Some(e));
                Ok(())
            }
        }
    }

    /// Who leads, for a follower's standing; a watch on the contenders.
    async fn look(&self, client: &zk::Client) -> Option<Watch> {
        let watch = self
            .zk
            .bounded(client.get_and_watch_children(&self.zk.leader_dir()))
            .await
            .ok()
            .map(|(_, _, w)| Box::pin(w.changed()) as Watch);
        if self.el.ha.term().is_some() || self.zk.held.lock().await.is_some() {
            return watch;
        }
        if let Ok(found) = self.zk.leader(client).await {
            let (leader, epoch) = found.map(|(l, e)| (Some(l), Some(e))).unwrap_or((None, None));
            if leader.as_deref() != Some(self.el.ha.instance.as_str()) {
                if leader.is_some() && self.el.ha.standing().leader != leader {
                    info!(message = "HA: another healer leads; this one follows.", leader = ?leader, epoch = ?epoch);
                }
                self.el.ha.follow(leader, epoch);
            }
        }
        watch
    }

    /// This healer's presence and verdicts: an ephemeral node of this
    /// session (one left by an earlier session of the same healer is replaced).
    async fn publish(&self, client: &zk::Client, value: &[u8]) -> Result<(), String> {
        let zk = self.zk;
        let path = zk.member_path(&self.el.ha.instance);
        let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk.acls());
        match zk.bounded(client.check_stat(&path)).await? {
            Some(stat) if stat.ephemeral_owner == client.session_id().0 => {
                zk.bounded(client.set_data(&path, value, None)).await.map(|_| ())
            }
            Some(_) => {
                let _ = zk.bounded(client.delete(&path, None)).await;
                zk.bounded(client.create(&path, value, &ephemeral)).await.map(|_| ())
            }
            None => zk.bounded(client.create(&path, value, &ephemeral)).await.map(|_| ()),
        }
    }

    /// Leaves: the lock node goes at once, so the next contender leads now.
    async fn step_down(&self, client: &zk::Client, lock_path: Option<&str>, why: &str) {
        let led = self.el.ha.end_term(why, None);
        *self.zk.held.lock().await = None;
        for path in lock_path.into_iter().map(str::to_string).chain([self.zk.member_path(&self.el.ha.instance)]) {
            if let Err(e) = self.zk.bounded(client.delete(&path, None)).await {
                warn!(message = "HA: a node could not be deleted on the way out; it goes with the session.", path = %path, error = %e);
            }
        }
        if led {
            self.el.record(Leadership::Released(why)).await;
        }
    }
}

/// A watch on the contenders, as a future that stays put across polls.
type Watch = std::pin::Pin<Box<dyn std::future::Future<Output = zk::WatchedEvent> + Send>>;

/// The contenders changed; waits forever without a watch.
async fn changed(watch: &mut Option<Watch>) {
    match watch {
        Some(w) => {
            w.await;
        }
        None => std::future::pending().await,
    }
}
