//! The coordination backend behind the election: etcd v3 or ZooKeeper.
//!
//! Owns: the one set of operations the rest of the daemon uses whatever the
//! backend — fenced writes to the intent journal and the outbox (refused
//! unless the caller's token is still the leader's), the journal's and the
//! outbox's reads, and the other healers' verdicts — and what both
//! backends store the same way (the bounded intent, the presence record,
//! the key layout under `ha.election_path`).
//! Must never: write the journal without the backend's own check of the
//! token, or decide who leads (each backend's election does that).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tracing::warn;

use super::Ha;
use super::etcd::Etcd;
use super::opinion::Opinion;
use super::zookeeper::ZooKeeper;
use crate::config::{Config, HaBackend};
use crate::store::IncidentRecord;

/// The journal keeps at most this many open incidents (one per node is the usual).
pub const MAX_INTENTS: usize = 256;
/// An attempt's output kept in the journal (the full one is in the leader's store).
const OUTPUT_KEPT: usize = 400;

/// A journal write that did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The token is not the leader's any more: who leads now, if anyone.
    Deposed(Option<String>),
    /// The backend did not answer.
    Backend(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Deposed(Some(l)) => write!(f, "deposed: {l} leads"),
            WriteError::Deposed(None) => write!(f, "deposed: nobody leads"),
            WriteError::Backend(e) => f.write_str(e),
        }
    }
}

/// `ha.election_path`, or `/kafka-self-healing/<cluster.name>`.
pub fn prefix(config: &Config) -> String {
    let path =
        config.ha.election_path.clone().unwrap_or_else(|| format!("/kafka-self-healing/{}", config.cluster.name));
    path.trim_end_matches('/').to_string()
}

/// `ha.instance_id`, or the host name.
pub fn instance_id(config: &Config) -> String {
    config.ha.instance_id.clone().unwrap_or_else(crate::host::hostname)
}

/// The incident as the journal keeps it: every attempt's output cut to its tail.
pub fn intent_value(incident: &IncidentRecord) -> Result<Vec<u8>, String> {
    let mut kept = incident.clone();
    for a in &mut kept.attempts {
        a.output = a.output.as_deref().map(|o| crate::child::tail(o, OUTPUT_KEPT));
    }
    serde_json::to_vec(&kept).map_err(|e| e.to_string())
}

/// The journal's entries read back; one that cannot be read is skipped and logged.
pub fn read_intents<'a>(entries: impl IntoIterator<Item = (String, &'a [u8])>) -> Vec<IncidentRecord> {
    let mut out = Vec::new();
    for (key, value) in entries {
        match serde_json::from_slice::<IncidentRecord>(value) {
            Ok(i) => out.push(i),
            Err(e) => {
                warn!(message = "HA: an intent in the journal cannot be read; it is skipped.", key = %key, error = %e)
            }
        }
    }
    out
}

/// What a healer tells the others about itself (rewritten only when it changes).
pub fn presence(ha: &Ha, verdicts: &BTreeMap<String, String>) -> Vec<u8> {
    let s = ha.standing();
    serde_json::to_vec(&json!({
        "instance": ha.instance, "role": s.role.as_str(), "epoch": s.epoch,
        "verdicts": verdicts,
    }))
    .unwrap_or_default()
}

/// Every other healer's verdict on `node`, from their presence records.
pub fn read_opinions<'a>(me: &str, node: &str, presences: impl IntoIterator<Item = &'a [u8]>) -> Vec<Opinion> {
    let mut out = Vec::new();
    for value in presences {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(value) else { continue };
        let Some(instance) = v["instance"].as_str() else { continue };
        if instance == me {
            continue;
        }
        let state = v["verdicts"][node].as_str().map(str::to_string);
        out.push(Opinion { instance: instance.to_string(), state });
    }
    out
}

/// The backend `ha.backend` names.
pub enum Backend {
    Etcd(Box<Etcd>),
    ZooKeeper(Box<ZooKeeper>),
}

impl Backend {
    /// The backend of `config.ha`; `env` reads the password's variable.
    pub fn from_config(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Backend, String> {
        Ok(match config.ha.backend {
            HaBackend::Etcd => Backend::Etcd(Box::new(Etcd::from_config(config, env)?)),
            HaBackend::Zookeeper => Backend::ZooKeeper(Box::new(ZooKeeper::from_config(config, env)?)),
        })
    }

    /// The lease (etcd) or session timeout (ZooKeeper) asked for.
    pub fn ttl(&self) -> Duration {
        match self {
            Backend::Etcd(b) => b.ttl,
            Backend::ZooKeeper(b) => b.ttl,
        }
    }

    /// What the backend is, for people: `etcd http://…` or `ZooKeeper host:2181,…`.
    pub fn describe(&self) -> String {
        match self {
            Backend::Etcd(b) => format!("etcd {}", b.endpoints.join(",")),
            Backend::ZooKeeper(b) => format!("ZooKeeper {}", b.connect),
        }
    }

    /// The incident (bounded) written to the journal under the token.
    pub async fn write_intent(
        &self,
        epoch: i64,
        incident: &IncidentRecord,
        within: Duration,
    ) -> Result<(), WriteError> {
        let value = intent_value(incident).map_err(WriteError::Backend)?;
        match self {
            Backend::Etcd(b) => b.write_intent(epoch, &incident.id, value, within).await,
            Backend::ZooKeeper(b) => b.write_intent(epoch, &incident.id, value, within).await,
        }
    }

    /// A closed incident leaves the journal.
    pub async fn forget_intent(&self, epoch: i64, incident: &str) -> Result<(), WriteError> {
        match self {
            Backend::Etcd(b) => b.forget_intent(epoch, incident).await,
            Backend::ZooKeeper(b) => b.forget_intent(epoch, incident).await,
        }
    }

    /// A notification the leader queued, until it is delivered.
    pub async fn write_notification(
        &self,
        epoch: i64,
        instance: &str,
        id: i64,
        value: Vec<u8>,
    ) -> Result<(), WriteError> {
        match self {
            Backend::Etcd(b) => b.write_notification(epoch, instance, id, value).await,
            Backend::ZooKeeper(b) => b.write_notification(epoch, instance, id, value).await,
        }
    }

    /// Delivered (or given up on): out of the backend.
    pub async fn forget_notification(&self, instance: &str, id: i64) -> Result<(), String> {
        match self {
            Backend::Etcd(b) => b.forget_notification(instance, id).await,
            Backend::ZooKeeper(b) => b.forget_notification(instance, id).await,
        }
    }

    /// Notifications other healers queued and did not deliver: (key, value).
    pub async fn foreign_notifications(&self, me: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        match self {
            Backend::Etcd(b) => b.foreign_notifications(me).await,
            Backend::ZooKeeper(b) => b.foreign_notifications(me).await,
        }
    }

    /// Removes one key (a notification taken over).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        match self {
            Backend::Etcd(b) => b.delete(key).await,
            Backend::ZooKeeper(b) => b.delete(key).await,
        }
    }

    /// The operator's controls (pause, maintenance windows, resets), by key:
    /// with several healers they live here, bind whichever healer leads, and
    /// any healer (or a command on its host) may change them. Unfenced.
    pub async fn controls(&self) -> Result<Vec<(String, String)>, String> {
        match self {
            Backend::Etcd(b) => b.controls().await,
            Backend::ZooKeeper(b) => b.controls().await,
        }
    }

    /// Sets or removes one control; true when a removed one was there.
    pub async fn put_control(&self, entry: &crate::store::controls::Entry) -> Result<bool, String> {
        match self {
            Backend::Etcd(b) => b.put_control(&entry.key, entry.value.as_deref()).await,
            Backend::ZooKeeper(b) => b.put_control(&entry.key, entry.value.as_deref()).await,
        }
    }

    /// Every open incident in the journal.
    pub async fn intents(&self) -> Result<Vec<IncidentRecord>, String> {
        match self {
            Backend::Etcd(b) => b.intents().await,
            Backend::ZooKeeper(b) => b.intents().await,
        }
    }

    /// What every other healer that is up published about `node`.
    pub async fn opinions(&self, me: &str, node: &str) -> Result<Vec<Opinion>, String> {
        match self {
            Backend::Etcd(b) => b.opinions(me, node).await,
            Backend::ZooKeeper(b) => b.opinions(me, node).await,
        }
    }
}
