//! Operator commands on the state store: `incidents`, `incidents reset`,
//! `pause`, `resume`. They work with the daemon running (it reads the
//! controls within a second) or stopped.
//!
//! Owns: parsing durations such as `2h` or `7d`, and printing incidents for
//! people (table) and programs (JSON).
//! Must never: change an incident's history (a reset only re-arms the node),
//! or print a secret (commands are stored masked).

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::audit::rfc3339;
use crate::store::{self, IncidentRecord, controls, from_millis, millis, records};

/// The longest duration `parse_duration` accepts: ten years.
pub const MAX_DURATION_SECS: u64 = 3650 * 86_400;

/// Parses `90s`, `30m`, `2h`, `7d`, `1h30m` (at most [`MAX_DURATION_SECS`]).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration; write e.g. 30m, 2h, 7d or 1h30m");
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).unwrap_or(u64::MAX);
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    if total > MAX_DURATION_SECS {
        return Err(format!(
            "`{text}` is longer than {} days, the longest pause or maintenance window; without `--for`, a pause lasts until `resume`",
            MAX_DURATION_SECS / 86_400
        ));
    }
    Ok(Duration::from_secs(total))
}

fn open(state_dir: &str) -> Result<rusqlite::Connection, String> {
    store::connect(&Path::new(state_dir).join(store::FILE_NAME)).map_err(|e| e.to_string())
}

/// Where an operator command's audit record goes besides the store, and who
/// asked (the login running the CLI, or `api` for the HTTP API). Records go
/// through `audit::line` (the daemon's shape, secrets masked) and the same
/// size-rotated file.
#[derive(Clone)]
pub struct AuditFile {
    cluster: String,
    config: crate::config::AuditLogConfig,
    masker: std::sync::Arc<crate::secrets::Masker>,
    pub by: Option<String>,
    /// Several healers (`ha.enabled`): the configuration whose backend holds
    /// the controls, and this healer's instance id (in every record).
    shared: Option<(std::sync::Arc<crate::config::Config>, String)>,
}

impl AuditFile {
    /// `logging.audit` of `config`, with the secrets `config` names masked.
    pub fn of(config: &crate::config::Config) -> Self {
        AuditFile {
            cluster: config.cluster.name.clone(),
            config: config.logging.audit.clone(),
            masker: std::sync::Arc::new(crate::secrets::Masker::from_config(config, &|name| std::env::var(name).ok())),
            by: None,
            shared: config
                .ha
                .enabled
                .then(|| (std::sync::Arc::new(config.clone()), crate::ha::backend::instance_id(config))),
        }
    }

    /// A control written where it lives: with several healers the backend
    /// first (so every healer, leading now or later, holds it; if it cannot
    /// be reached nothing changes), then this healer's store. True when a
    /// removed control was there.
    fn write(&self, conn: &rusqlite::Connection, entry: &controls::Entry, at: i64) -> Result<bool, String> {
        let shared = match &self.shared {
            Some((config, _)) => Some(crate::ha::controls::publish_blocking(config, entry)?),
            None => None,
        };
        let here = entry.apply(conn, at).map_err(|e| e.to_string())?;
        Ok(shared.unwrap_or(here))
    }

    /// The same file; records say `by` asked.
    pub fn by(mut self, by: &str) -> Self {
        self.by = Some(by.to_string());
        self
    }

    /// Records `event` (about `node`) with `record`'s fields in the store and the file.
    fn record(
        &self,
        conn: &rusqlite::Connection,
        event: &str,
        node: Option<&str>,
        mut record: serde_json::Value,
    ) -> Result<(), String> {
        let now = SystemTime::now();
        let who = self.by.clone().unwrap_or_else(login);
        record["by"] = serde_json::json!(who);
        record["source"] = serde_json::json!("Operator");
        if let Some((_, healer)) = &self.shared {
            // Given to this healer; held by every healer (the backend's).
            record["healer"] = serde_json::json!(healer);
            record["shared"] = serde_json::json!(true);
        }
        let line = crate::audit::line(&self.cluster, &self.masker, now, event, node, None, record);
        records::insert_audit(conn, millis(now), event, node, None, &line).map_err(|e| e.to_string())?;
        crate::audit::append_to_file(&self.config, &line)
    }
}

/// Records an operator's `event` in the store's audit trail and the audit file.
pub fn record_operator(
    state_dir: &str,
    audit: &AuditFile,
    event: &str,
    node: Option<&str>,
    record: serde_json::Value,
) -> Result<(), String> {
    let conn = open(state_dir)?;
    audit.record(&conn, event, node, record)
}

/// The report of the last `period`.
pub fn report(
    state_dir: &str,
    config: &crate::config::Config,
    period: Duration,
) -> Result<crate::report::ServiceReport, String> {
    let conn = open(state_dir)?;
    let now = SystemTime::now();
    let (from, to) = (millis(now - period), millis(now));
    // Incidents overlapping the period: opened in it, or still open / closed in it.
    let incidents: Vec<IncidentRecord> = records::list_incidents(&conn, None, None, false)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|i| i.opened_at < to && i.closed_at.is_none_or(|c| c >= from))
        .collect();
    let outbox = records::outbox_counts(&conn, from, to).map_err(|e| e.to_string())?;
    let by_day = crate::report::days_of(from, to)
        .into_iter()
        .map(|day| Ok((day, records::outbox_counts(&conn, day.max(from), (day + 86_400_000).min(to))?)))
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    let nodes: Vec<(String, String)> =
        crate::topology::nodes(config).into_iter().map(|n| (n.id, n.role.as_str().to_string())).collect();
    Ok(crate::report::build(&config.cluster.name, &nodes, &incidents, &outbox, &by_day, from, to))
}

/// Who runs this command: the login behind `sudo`, else the user, else `operator`.
pub fn login() -> String {
    std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "operator".into())
}

/// Incidents, newest first.
pub fn list(state_dir: &str, node: Option<&str>, since: Option<Duration>) -> Result<Vec<IncidentRecord>, String> {
    let conn = open(state_dir)?;
    let since = since.map(|d| millis(SystemTime::now() - d));
    records::list_incidents(&conn, node, since, false).map_err(|e| e.to_string())
}

/// Re-arms `node` after an escalation; the daemon picks it up within a second.
pub fn reset(state_dir: &str, audit: &AuditFile, node: &str) -> Result<(), String> {
    let conn = open(state_dir)?;
    let now = millis(SystemTime::now());
    audit.write(&conn, &controls::Entry::reset(node, now), now)?;
    audit.record(&conn, "operator_reset_requested", Some(node), serde_json::json!({}))
}

/// Pauses every recovery action, for `duration` or until `resume`.
pub fn pause(state_dir: &str, audit: &AuditFile, duration: Option<Duration>) -> Result<String, String> {
    let conn = open(state_dir)?;
    let now = SystemTime::now();
    let (pause, until_text) = match duration {
        Some(d) => (controls::Pause::Until(millis(now + d)), rfc3339(now + d)),
        None => (controls::Pause::UntilResumed, "resumed".to_string()),
    };
    let text = match duration {
        Some(_) => format!("until {until_text}"),
        None => "until `kafka-self-healing resume`".to_string(),
    };
    audit.write(&conn, &controls::Entry::pause(pause), millis(now))?;
    audit.record(&conn, "operator_pause", None, serde_json::json!({"until": until_text}))?;
    Ok(text)
}

/// Puts `node` in maintenance for `duration`: while it lasts, the node being
/// down opens no incident and no action touches it.
pub fn maintenance_start(
    state_dir: &str,
    audit: &AuditFile,
    node: &str,
    duration: Duration,
    reason: &str,
) -> Result<String, String> {
    let conn = open(state_dir)?;
    let now = SystemTime::now();
    let until = now + duration;
    // The reason is shown by the API and the status page: never a secret there either.
    let reason = &audit.masker.mask(reason);
    let window = controls::Maintenance { node: node.to_string(), until: millis(until), reason: reason.clone() };
    audit.write(&conn, &controls::Entry::maintenance(&window), millis(now))?;
    let text = rfc3339(until);
    audit.record(&conn, "maintenance_started", Some(node), serde_json::json!({"until": text, "reason": reason}))?;
    Ok(text)
}

/// Ends `node`'s maintenance window; true when there was one.
pub fn maintenance_end(state_dir: &str, audit: &AuditFile, node: &str) -> Result<bool, String> {
    let conn = open(state_dir)?;
    let was = audit.write(&conn, &controls::Entry::maintenance_over(node), millis(SystemTime::now()))?;
    audit.record(
        &conn,
        "maintenance_ended",
        Some(node),
        serde_json::json!({"by": "operator", "was_in_maintenance": was}),
    )?;
    Ok(was)
}

/// Lifts a pause; true when there was one.
pub fn resume(state_dir: &str, audit: &AuditFile) -> Result<bool, String> {
    let conn = open(state_dir)?;
    let was = audit.write(&conn, &controls::Entry::resume(), millis(SystemTime::now()))?;
    audit.record(&conn, "operator_resume", None, serde_json::json!({"was_paused": was}))?;
    Ok(was)
}

/// Incidents and their attempts as a table.
pub fn table(incidents: &[IncidentRecord]) -> String {
    if incidents.is_empty() {
        return "No incidents.\n".into();
    }
    let mut out = String::new();
    for i in incidents {
        let when = rfc3339(from_millis(i.opened_at));
        out.push_str(&format!(
            "{}  {}  {} ({})  {}  cause: {}\n",
            i.id,
            when,
            i.node,
            i.role,
            i.phase().as_str().to_uppercase(),
            i.cause.as_deref().unwrap_or("-")
        ));
        if let Some(outcome) = &i.outcome {
            out.push_str(&format!("    outcome: {outcome}\n"));
        } else if let Some(times) = i.times_text() {
            out.push_str(&format!("    so far: {times}\n"));
        }
        if !i.behind.is_empty() {
            let shown: Vec<&str> = i.behind.iter().take(10).map(String::as_str).collect();
            let more = if i.behind.len() > shown.len() { ", …" } else { "" };
            out.push_str(&format!("    behind on {} partition(s): {}{more}\n", i.behind.len(), shown.join(", ")));
        }
        for a in &i.attempts {
            out.push_str(&format!(
                "    #{} {}  {}  [{}] {}\n",
                a.n,
                a.action,
                rfc3339(from_millis(a.started_at)),
                a.took(),
                a.result.as_deref().unwrap_or("")
            ));
            out.push_str(&format!("       {}\n", a.command));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("2 hours").is_err());
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("0m").is_err());
    }
}
