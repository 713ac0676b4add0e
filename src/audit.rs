//! The audit trail: one JSON line per decision, in `logging.audit.file` and
//! in the state store.
//!
//! Owns: the record's shape (`ts`, `event`, `cluster`, `node`, `incident_id`,
//! then the event's fields) and masking every record before it is written.
//! Must never: drop a record silently (a write that fails is logged as an
//! error), or write a secret.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::config::AuditLogConfig;
use crate::logging::RotatingFile;
use crate::secrets::Masker;
use crate::store::{Store, millis, records};

/// Writes audit records; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    cluster: String,
    /// Who decides: `Recovery` (the engine), `Notification`, `Daemon`; written
    /// as `source` so the runbook's `grep "Recovery" audit.log` finds the engine's records.
    source: &'static str,
    store: Store,
    file: Option<Arc<Mutex<RotatingFile>>>,
    masker: Arc<Masker>,
}

impl Audit {
    /// `config` is `logging.audit`; nothing is written to a file when it is disabled.
    pub fn open(cluster: &str, store: Store, config: &AuditLogConfig, masker: Arc<Masker>) -> anyhow::Result<Audit> {
        let file = match config.enabled && !config.file.is_empty() {
            true => Some(Arc::new(Mutex::new(crate::logging::open_log_file(
                Path::new(&config.file),
                "logging.audit.file",
                config.max_size_mb,
                config.backup_count,
            )?))),
            false => None,
        };
        Ok(Audit { cluster: cluster.to_string(), source: "Daemon", store, file, masker })
    }

    /// The same trail; records say `source` decided.
    pub fn for_source(&self, source: &'static str) -> Audit {
        Audit { source, ..self.clone() }
    }

    /// Records `event` about `node` / `incident` with `fields` (a JSON object).
    pub async fn record(&self, event: &str, node: Option<&str>, incident: Option<&str>, fields: Value) {
        let now = SystemTime::now();
        let mut fields = fields;
        if let Value::Object(map) = &mut fields {
            map.entry("source").or_insert_with(|| json!(self.source));
        }
        let line = line(&self.cluster, &self.masker, now, event, node, incident, fields);
        if let Some(file) = &self.file {
            let written =
                file.lock().map_err(|_| std::io::Error::other("poisoned")).and_then(|mut f| append(&mut f, &line));
            if let Err(e) = written {
                tracing::error!(message = "Cannot write the audit log.", error = %e);
            }
        }
        let (event, node, incident) = (event.to_string(), node.map(str::to_string), incident.map(str::to_string));
        let stored = self
            .store
            .call(move |c| records::insert_audit(c, millis(now), &event, node.as_deref(), incident.as_deref(), &line))
            .await;
        if let Err(e) = stored {
            tracing::error!(message = "Cannot store an audit record.", error = %e);
        }
    }
}

/// One audit record as its masked JSON line: `ts`, `event`, `cluster`,
/// `node`, `incident_id`, then `fields`. The one shape for every writer —
/// the engine, the notifier, and the operator's commands (CLI and API).
pub fn line(
    cluster: &str,
    masker: &Masker,
    at: SystemTime,
    event: &str,
    node: Option<&str>,
    incident: Option<&str>,
    fields: Value,
) -> String {
    let mut record = Map::new();
    record.insert("ts".into(), json!(rfc3339(at)));
    record.insert("event".into(), json!(event));
    record.insert("cluster".into(), json!(cluster));
    if let Some(n) = node {
        record.insert("node".into(), json!(n));
    }
    if let Some(i) = incident {
        record.insert("incident_id".into(), json!(i));
    }
    if let Value::Object(extra) = fields {
        record.extend(extra);
    }
    masker.mask(&Value::Object(record).to_string())
}

/// Appends `line` to the size-rotated audit file.
fn append(file: &mut RotatingFile, line: &str) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    // One write: a line is never split by a rotation.
    file.write_all(&bytes)?;
    file.flush()
}

/// Writes one record from a short-lived process (an operator's command): the
/// same shape, masking and size rotation as the daemon's writer. The store
/// row is the caller's (it holds the connection).
pub fn append_to_file(config: &AuditLogConfig, line: &str) -> Result<(), String> {
    if !config.enabled || config.file.is_empty() {
        return Ok(());
    }
    let mut file = crate::logging::open_log_file(
        Path::new(&config.file),
        "logging.audit.file",
        config.max_size_mb,
        config.backup_count,
    )
    .map_err(|e| format!("{e:#}"))?;
    append(&mut file, line).map_err(|e| format!("cannot write the audit log {}: {e}", config.file))
}

/// `2026-11-24T16:20:13.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let ms = millis(t);
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_millis(1_795_537_773_123)), "2026-11-24T16:29:33.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
    }
}
