//! The operator's controls kept in the store: written by the CLI (another
//! process), read by the daemon every tick.
//!
//! Owns: the typed controls — a pause, per-node maintenance windows, per-node
//! reset requests — and their encoding in the `controls` table.
//! Must never: guess at a value it cannot read: an unreadable control is
//! returned as such, with its key and why, for the reader to report.

use rusqlite::{Connection, OptionalExtension, params};

/// `paused_until`: epoch millis until which no action runs (`i64::MAX` = until resumed).
const PAUSED_UNTIL: &str = "paused_until";
const MAINTENANCE: &str = "maintenance:";
const RESET: &str = "reset:";

/// An operator's pause of every recovery action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Until this moment (epoch millis).
    Until(i64),
    /// Until `kafka-self-healing resume`.
    UntilResumed,
}

impl Pause {
    /// In force at `now` (epoch millis).
    pub fn holds_at(self, now: i64) -> bool {
        match self {
            Pause::Until(until) => until > now,
            Pause::UntilResumed => true,
        }
    }

    fn encode(self) -> String {
        match self {
            Pause::Until(until) => until.to_string(),
            Pause::UntilResumed => i64::MAX.to_string(),
        }
    }

    fn decode(value: &str) -> Result<Pause, String> {
        match value.trim().parse::<i64>() {
            Ok(i64::MAX) => Ok(Pause::UntilResumed),
            Ok(until) => Ok(Pause::Until(until)),
            Err(_) => Err(format!("`{value}` is not epoch milliseconds")),
        }
    }
}

/// A node in an operator's maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub node: String,
    /// Epoch millis.
    pub until: i64,
    /// The operator's words (already masked), may be empty.
    pub reason: String,
}

impl Maintenance {
    fn encode(&self) -> String {
        serde_json::json!({"until": self.until, "reason": self.reason}).to_string()
    }

    fn decode(node: &str, value: &str) -> Result<Maintenance, String> {
        let v: serde_json::Value = serde_json::from_str(value).map_err(|e| format!("`{value}` is not JSON ({e})"))?;
        let until = v["until"].as_i64().ok_or_else(|| format!("`{value}` has no integer `until`"))?;
        let reason = match &v["reason"] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(r) => r.clone(),
            other => return Err(format!("`reason` is {other}, not a string")),
        };
        Ok(Maintenance { node: node.to_string(), until, reason })
    }
}

/// Every control in the store now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controls {
    pub pause: Option<Pause>,
    pub maintenance: Vec<Maintenance>,
    /// Nodes an operator re-armed after an escalation (`incidents reset`).
    pub resets: Vec<String>,
    /// Controls that cannot be read: (key, why). They act as if absent.
    pub unreadable: Vec<(String, String)>,
}

/// Every control as it is kept: (key, value), by key.
pub fn entries(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT key, value FROM controls ORDER BY key")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    rows.collect()
}

/// Several healers: the controls become `entries` (the backend's, where they
/// live), in one transaction. True when anything changed.
pub fn replace_all(conn: &Connection, entries: &[(String, String)], at: i64) -> rusqlite::Result<bool> {
    let now = self::entries(conn)?;
    if now == entries {
        return Ok(false);
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM controls", [])?;
    for (key, value) in entries {
        tx.execute("INSERT INTO controls(key, value, at) VALUES (?1, ?2, ?3)", params![key, value, at])?;
    }
    tx.commit()?;
    Ok(true)
}

/// One control as it is kept: its key, and its value (`None`: removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Option<String>,
}

impl Entry {
    pub fn pause(pause: Pause) -> Entry {
        Entry { key: PAUSED_UNTIL.into(), value: Some(pause.encode()) }
    }
    pub fn resume() -> Entry {
        Entry { key: PAUSED_UNTIL.into(), value: None }
    }
    pub fn maintenance(m: &Maintenance) -> Entry {
        Entry { key: format!("{MAINTENANCE}{}", m.node), value: Some(m.encode()) }
    }
    pub fn maintenance_over(node: &str) -> Entry {
        Entry { key: format!("{MAINTENANCE}{node}"), value: None }
    }
    pub fn reset(node: &str, at: i64) -> Entry {
        Entry { key: format!("{RESET}{node}"), value: Some(at.to_string()) }
    }
    pub fn reset_taken(node: &str) -> Entry {
        Entry { key: format!("{RESET}{node}"), value: None }
    }

    /// Writes it here; true when a removed one was there.
    pub fn apply(&self, conn: &Connection, at: i64) -> rusqlite::Result<bool> {
        match &self.value {
            Some(v) => set(conn, &self.key, v, at).map(|_| true),
            None => delete(conn, &self.key),
        }
    }
}

/// Reads every control.
pub fn read(conn: &Connection) -> rusqlite::Result<Controls> {
    let mut controls = Controls::default();
    for (key, value) in entries(conn)? {
        let decoded = if key == PAUSED_UNTIL {
            Pause::decode(&value).map(|p| controls.pause = Some(p))
        } else if let Some(node) = key.strip_prefix(MAINTENANCE) {
            Maintenance::decode(node, &value).map(|m| controls.maintenance.push(m))
        } else if let Some(node) = key.strip_prefix(RESET) {
            controls.resets.push(node.to_string());
            Ok(())
        } else {
            Err("no such control (written by a newer version?)".to_string())
        };
        if let Err(why) = decoded {
            controls.unreadable.push((key, why));
        }
    }
    Ok(controls)
}

fn set(conn: &Connection, key: &str, value: &str, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO controls(key, value, at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, at = excluded.at",
        params![key, value, at],
    )?;
    Ok(())
}

fn delete(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM controls WHERE key = ?1", params![key])? > 0)
}

pub fn pause(conn: &Connection, pause: Pause, at: i64) -> rusqlite::Result<()> {
    Entry::pause(pause).apply(conn, at).map(|_| ())
}

/// Lifts the pause; true when there was one.
pub fn resume(conn: &Connection) -> rusqlite::Result<bool> {
    Entry::resume().apply(conn, 0)
}

pub fn start_maintenance(conn: &Connection, m: &Maintenance, at: i64) -> rusqlite::Result<()> {
    Entry::maintenance(m).apply(conn, at).map(|_| ())
}

/// Ends `node`'s maintenance window; true when there was one.
pub fn end_maintenance(conn: &Connection, node: &str) -> rusqlite::Result<bool> {
    Entry::maintenance_over(node).apply(conn, 0)
}

/// Asks the daemon to re-arm `node` after an escalation.
pub fn request_reset(conn: &Connection, node: &str, at: i64) -> rusqlite::Result<()> {
    Entry::reset(node, at).apply(conn, at).map(|_| ())
}

/// Whether a reset of `node` waits to be taken.
pub fn reset_requested(conn: &Connection, node: &str) -> rusqlite::Result<bool> {
    let key = format!("{RESET}{node}");
    Ok(conn.query_row("SELECT 1 FROM controls WHERE key = ?1", params![key], |_| Ok(())).optional()?.is_some())
}

/// The daemon took `node`'s reset request.
pub fn take_reset(conn: &Connection, node: &str) -> rusqlite::Result<bool> {
    Entry::reset_taken(node).apply(conn, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE controls (key TEXT PRIMARY KEY, value TEXT NOT NULL, at INTEGER NOT NULL)")
            .unwrap();
        c
    }

    #[test]
    fn controls_read_back_as_written() {
        let c = conn();
        pause(&c, Pause::UntilResumed, 1).unwrap();
        let m = Maintenance { node: "kafka-2".into(), until: 5_000, reason: "disk swap".into() };
        start_maintenance(&c, &m, 1).unwrap();
        request_reset(&c, "kafka-3", 1).unwrap();
        let read = read(&c).unwrap();
        assert_eq!(read.pause, Some(Pause::UntilResumed));
        assert_eq!(read.maintenance, vec![m]);
        assert_eq!(read.resets, vec!["kafka-3".to_string()]);
        assert!(read.unreadable.is_empty());
        assert!(reset_requested(&c, "kafka-3").unwrap() && take_reset(&c, "kafka-3").unwrap());
        assert!(resume(&c).unwrap() && !resume(&c).unwrap());
        assert!(end_maintenance(&c, "kafka-2").unwrap());
        assert_eq!(super::read(&c).unwrap(), Controls::default());
    }

    #[test]
    fn the_backends_controls_replace_these_and_nothing_changes_twice() {
        let c = conn();
        pause(&c, Pause::UntilResumed, 1).unwrap();
        let shared = [
            Entry::maintenance(&Maintenance { node: "kafka-2".into(), until: 9, reason: String::new() }),
            Entry::reset("kafka-1", 3),
        ];
        let mut pairs: Vec<(String, String)> =
            shared.iter().map(|e| (e.key.clone(), e.value.clone().unwrap())).collect();
        pairs.sort();
        assert!(replace_all(&c, &pairs, 5).unwrap());
        assert!(!replace_all(&c, &pairs, 6).unwrap(), "the same entries: no write");
        let read = read(&c).unwrap();
        assert_eq!(read.pause, None, "the local pause is gone: the backend's word");
        assert_eq!(read.resets, ["kafka-1"]);
        assert_eq!(read.maintenance.len(), 1);
    }

    #[test]
    fn an_unreadable_control_is_named_not_defaulted() {
        let c = conn();
        set(&c, PAUSED_UNTIL, "soon", 1).unwrap();
        set(&c, "maintenance:kafka-1", "{\"reason\": \"x\"}", 1).unwrap();
        set(&c, "maintenance:kafka-2", "{\"until\": 9, \"reason\": 3}", 1).unwrap();
        let read = read(&c).unwrap();
        assert_eq!(read.pause, None);
        assert!(read.maintenance.is_empty());
        let keys: Vec<&str> = read.unreadable.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["maintenance:kafka-1", "maintenance:kafka-2", "paused_until"]);
        assert!(read.unreadable[0].1.contains("no integer `until`"), "{:?}", read.unreadable);
    }
}
