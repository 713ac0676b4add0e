//! Incidents, attempts and audit rows: the SQL behind them.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// The node is down (or not yet whole again) and the engine is working on it.
    #[default]
    Open,
    /// The node serves again.
    Recovered,
    /// Attempts are exhausted or a guard stopped the engine for good: people act.
    Escalated,
    /// Several healers: another healer's term carries it on (or closed it).
    HandedOver,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Recovered => "recovered",
            IncidentState::Escalated => "escalated",
            IncidentState::HandedOver => "handed_over",
        }
    }
    fn parse(s: &str) -> IncidentState {
        match s {
            "recovered" => IncidentState::Recovered,
            "escalated" => IncidentState::Escalated,
            "handed_over" => IncidentState::HandedOver,
            _ => IncidentState::Open,
        }
    }
}

/// One attempt of an incident, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub n: u32,
    pub action: String,
    /// The command line, secrets masked (`would run` in a dry run).
    pub command: String,
    pub dry_run: bool,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub success: Option<bool>,
    /// One line: what happened (`exit 0, node healthy after 4.2 s`, `timed out`, …).
    pub result: Option<String>,
    /// Last lines of stdout and stderr, secrets masked.
    pub output: Option<String>,
}

impl AttemptRecord {
    /// How long it ran, for people: `2.0s`, or `running`.
    pub fn took(&self) -> String {
        self.finished_at.map_or("running".into(), |f| format!("{:.1}s", (f - self.started_at) as f64 / 1000.0))
    }
}

/// One incident with its attempts. Serialised with its `phase`, `serve_s`
/// and `in_sync_s` too (derived, ignored when read back).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IncidentRecord {
    pub id: String,
    pub node: String,
    pub role: String,
    pub cause: Option<String>,
    pub evidence: String,
    pub opened_at: i64,
    pub state: IncidentState,
    pub closed_at: Option<i64>,
    /// Why it closed: downtime on recovery, the reason of an escalation.
    pub outcome: Option<String>,
    pub attempts: Vec<AttemptRecord>,
    /// When the node served again (its process answers its probes).
    #[serde(default)]
    pub served_at: Option<i64>,
    /// When it was back in the ISR of every partition it hosts.
    #[serde(default)]
    pub in_sync_at: Option<i64>,
    /// When its catch-up ran past `recovery.isr_catch_up_timeout_seconds`.
    #[serde(default)]
    pub degraded_at: Option<i64>,
    /// The partitions it was last seen behind on (`topic-partition`).
    #[serde(default)]
    pub behind: Vec<String>,
    /// A repeat: how many incidents in a row of this node, this one included,
    /// each opened within `recovery.cooldown_seconds` of the one before it
    /// recovering (0: not a repeat).
    #[serde(default)]
    pub repeat: u32,
    /// For a repeat: when the node's previous incident recovered.
    #[serde(default)]
    pub previous_recovered_at: Option<i64>,
}

impl Serialize for IncidentRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (serve_s, in_sync_s) = self.times();
        let mut st = s.serialize_struct("IncidentRecord", 19)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("node", &self.node)?;
        st.serialize_field("role", &self.role)?;
        st.serialize_field("cause", &self.cause)?;
        st.serialize_field("evidence", &self.evidence)?;
        st.serialize_field("opened_at", &self.opened_at)?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("phase", &self.phase())?;
        st.serialize_field("closed_at", &self.closed_at)?;
        st.serialize_field("outcome", &self.outcome)?;
        st.serialize_field("served_at", &self.served_at)?;
        st.serialize_field("in_sync_at", &self.in_sync_at)?;
        st.serialize_field("degraded_at", &self.degraded_at)?;
        st.serialize_field("serve_s", &serve_s)?;
        st.serialize_field("in_sync_s", &in_sync_s)?;
        st.serialize_field("behind", &self.behind)?;
        st.serialize_field("repeat", &self.repeat)?;
        st.serialize_field("previous_recovered_at", &self.previous_recovered_at)?;
        st.serialize_field("attempts", &self.attempts)?;
        st.end()
    }
}

/// Where an incident is in its life, for people: down, serving but not yet
/// in sync, in sync too late, or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Open: the node does not serve.
    Down,
    /// Open: it serves, and is catching up on its partitions.
    CatchingUp,
    /// Open: it serves, but did not catch up within the time allowed.
    Degraded,
    Recovered,
    Escalated,
    /// Another healer's term carries it on.
    HandedOver,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Down => "down",
            Phase::CatchingUp => "catching_up",
            Phase::Degraded => "degraded",
            Phase::Recovered => "recovered",
            Phase::Escalated => "escalated",
            Phase::HandedOver => "handed_over",
        }
    }
}

impl IncidentRecord {
    pub fn phase(&self) -> Phase {
        match (self.state, self.served_at, self.degraded_at) {
            (IncidentState::Recovered, ..) => Phase::Recovered,
            (IncidentState::Escalated, ..) => Phase::Escalated,
            (IncidentState::HandedOver, ..) => Phase::HandedOver,
            (IncidentState::Open, None, _) => Phase::Down,
            (IncidentState::Open, Some(_), None) => Phase::CatchingUp,
            (IncidentState::Open, Some(_), Some(_)) => Phase::Degraded,
        }
    }

    /// Seconds from detection to serving, and to back in sync, when known.
    pub fn times(&self) -> (Option<f64>, Option<f64>) {
        let since = |at: Option<i64>| at.map(|t| (t - self.opened_at).max(0) as f64 / 1000.0);
        (since(self.served_at), since(self.in_sync_at))
    }

    /// `serving after 12.3s, in sync after 20.1s` — what is known of it.
    pub fn times_text(&self) -> Option<String> {
        let (serve, sync) = self.times();
        let mut parts = Vec::new();
        if let Some(s) = serve {
            parts.push(format!("serving after {s:.1}s"));
        }
        if let Some(s) = sync {
            parts.push(format!("in sync (ISR) after {s:.1}s"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The node serves again: the catch-up begins.
pub fn mark_served(conn: &Connection, id: &str, at: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE incidents SET served_at = ?2 WHERE id = ?1 AND served_at IS NULL", params![id, at])?;
    Ok(())
}

/// The node failed again before it caught up: it is down again.
pub fn mark_down_again(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE incidents SET served_at = NULL, degraded_at = NULL, behind = NULL WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}

/// The catch-up: the partitions still behind, and when it ran out of time (degraded).
pub fn mark_behind(conn: &Connection, id: &str, behind: &[String], degraded_at: Option<i64>) -> rusqlite::Result<()> {
    let behind = serde_json::to_string(behind).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "UPDATE incidents SET behind = ?2, degraded_at = coalesce(degraded_at, ?3) WHERE id = ?1",
        params![id, behind, degraded_at],
    )?;
    Ok(())
}

/// Back in the ISR of every partition it hosts.
pub fn mark_in_sync(conn: &Connection, id: &str, at: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE incidents SET in_sync_at = ?2, behind = '[]' WHERE id = ?1", params![id, at])?;
    Ok(())
}

pub fn insert_incident(conn: &Connection, i: &IncidentRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO incidents(id, node, role, cause, evidence, opened_at, state, repeat, previous_recovered_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            i.id,
            i.node,
            i.role,
            i.cause,
            i.evidence,
            i.opened_at,
            i.state.as_str(),
            i.repeat,
            i.previous_recovered_at
        ],
    )?;
    Ok(())
}

pub fn close_incident(
    conn: &Connection,
    id: &str,
    state: IncidentState,
    at: i64,
    outcome: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE incidents SET state = ?2, closed_at = ?3, outcome = ?4 WHERE id = ?1",
        params![id, state.as_str(), at, outcome],
    )?;
    Ok(())
}

/// Records that attempt `n` is about to run (before anything is executed).
pub fn start_attempt(conn: &Connection, incident: &str, a: &AttemptRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO attempts(incident_id, n, action, command, dry_run, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![incident, a.n, a.action, a.command, a.dry_run, a.started_at],
    )?;
    Ok(())
}

pub fn finish_attempt(conn: &Connection, incident: &str, a: &AttemptRecord) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE attempts SET finished_at = ?3, exit_code = ?4, success = ?5, result = ?6, output = ?7
         WHERE incident_id = ?1 AND n = ?2",
        params![incident, a.n, a.finished_at, a.exit_code, a.success, a.result, a.output],
    )?;
    Ok(())
}

/// An open incident as the intent journal of another healer's term has it
/// (the backend's word wins over this healer's older copy).
pub fn import_incident(conn: &Connection, i: &IncidentRecord) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM attempts WHERE incident_id = ?1", params![i.id])?;
    tx.execute(
        "INSERT OR REPLACE INTO incidents(id, node, role, cause, evidence, opened_at, state, served_at, in_sync_at, degraded_at, behind, repeat, previous_recovered_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8, ?9, ?10, ?11, ?12)",
        params![i.id, i.node, i.role, i.cause, i.evidence, i.opened_at, i.served_at, i.in_sync_at, i.degraded_at,
                serde_json::to_string(&i.behind).unwrap_or_default(), i.repeat, i.previous_recovered_at],
    )?;
    for a in &i.attempts {
        tx.execute(
            "INSERT INTO attempts(incident_id, n, action, command, dry_run, started_at, finished_at, exit_code, success, result, output)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![i.id, a.n, a.action, a.command, a.dry_run, a.started_at, a.finished_at, a.exit_code, a.success, a.result, a.output],
        )?;
    }
    tx.commit()
}

/// Attempts that started but never finished (the daemon died during them):
/// closed as failed and interrupted, so they are never run again. Returns how many.
pub fn close_interrupted(conn: &Connection, at: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE attempts SET finished_at = ?1, success = 0,
             result = 'interrupted: the healer running it stopped while it ran; not repeated'
         WHERE finished_at IS NULL",
        params![at],
    )
}

fn incident_from(row: &Row<'_>) -> rusqlite::Result<IncidentRecord> {
    let state: String = row.get("state")?;
    Ok(IncidentRecord {
        id: row.get("id")?,
        node: row.get("node")?,
        role: row.get("role")?,
        cause: row.get("cause")?,
        evidence: row.get("evidence")?,
        opened_at: row.get("opened_at")?,
        state: IncidentState::parse(&state),
        closed_at: row.get("closed_at")?,
        outcome: row.get("outcome")?,
        attempts: Vec::new(),
        served_at: row.get("served_at")?,
        in_sync_at: row.get("in_sync_at")?,
        degraded_at: row.get("degraded_at")?,
        behind: row.get::<_, Option<String>>("behind")?.and_then(|b| serde_json::from_str(&b).ok()).unwrap_or_default(),
        repeat: row.get::<_, Option<u32>>("repeat")?.unwrap_or(0),
        previous_recovered_at: row.get("previous_recovered_at")?,
    })
}

fn attempts_of(conn: &Connection, incident: &str) -> rusqlite::Result<Vec<AttemptRecord>> {
    let mut stmt = conn.prepare(
        "SELECT n, action, command, dry_run, started_at, finished_at, exit_code, success, result, output
         FROM attempts WHERE incident_id = ?1 ORDER BY n",
    )?;
    let rows = stmt.query_map(params![incident], |r| {
        Ok(AttemptRecord {
            n: r.get(0)?,
            action: r.get(1)?,
            command: r.get(2)?,
            dry_run: r.get(3)?,
            started_at: r.get(4)?,
            finished_at: r.get(5)?,
            exit_code: r.get(6)?,
            success: r.get(7)?,
            result: r.get(8)?,
            output: r.get(9)?,
        })
    })?;
    rows.collect()
}

/// Incidents, newest first; `node` and `since` (epoch millis) filter.
pub fn list_incidents(
    conn: &Connection,
    node: Option<&str>,
    since: Option<i64>,
    only_open: bool,
) -> rusqlite::Result<Vec<IncidentRecord>> {
    let mut stmt = conn.prepare(
        "SELECT * FROM incidents
         WHERE (?1 IS NULL OR node = ?1) AND (?2 IS NULL OR opened_at >= ?2) AND (?3 = 0 OR state = 'open')
         ORDER BY opened_at DESC, id DESC",
    )?;
    let incidents: Vec<IncidentRecord> =
        stmt.query_map(params![node, since, only_open], incident_from)?.collect::<Result<_, _>>()?;
    incidents
        .into_iter()
        .map(|mut i| {
            i.attempts = attempts_of(conn, &i.id)?;
            Ok(i)
        })
        .collect()
}

/// Incidents open at any moment in `[from, to]` (epoch millis), oldest first, without their attempts.
pub fn incidents_overlapping(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<IncidentRecord>> {
    let mut stmt = conn.prepare(
        "SELECT * FROM incidents WHERE opened_at <= ?2 AND (closed_at IS NULL OR closed_at >= ?1)
         ORDER BY opened_at, id",
    )?;
    stmt.query_map(params![from, to], incident_from)?.collect()
}

/// The latest incident of `node`, if it is closed as recovered: a new failure
/// soon after it is a repeat.
pub fn last_recovered(conn: &Connection, node: &str) -> rusqlite::Result<Option<IncidentRecord>> {
    conn.query_row(
        "SELECT * FROM incidents WHERE node = ?1 ORDER BY opened_at DESC, id DESC LIMIT 1",
        params![node],
        incident_from,
    )
    .optional()
    .map(|i| i.filter(|i| i.state == IncidentState::Recovered && i.closed_at.is_some()))
}

/// The latest escalated incident of `node`, if its escalation still holds the node.
pub fn last_escalation(conn: &Connection, node: &str) -> rusqlite::Result<Option<IncidentRecord>> {
    conn.query_row(
        "SELECT * FROM incidents WHERE node = ?1 ORDER BY opened_at DESC, id DESC LIMIT 1",
        params![node],
        incident_from,
    )
    .optional()
    .map(|i| i.filter(|i| i.state == IncidentState::Escalated))
}

/// Attempts (not dry runs) started at or after `since` in the whole cluster.
/// Remembers `node`'s learned broker id.
pub fn save_broker_id(conn: &Connection, node: &str, id: i32, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO broker_ids (node, broker_id, learned_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(node) DO UPDATE SET broker_id = excluded.broker_id, learned_at = excluded.learned_at",
        rusqlite::params![node, id, at],
    )?;
    Ok(())
}

/// Every remembered broker id, by node.
pub fn broker_ids(conn: &Connection) -> rusqlite::Result<Vec<(String, i32)>> {
    let mut stmt = conn.prepare("SELECT node, broker_id FROM broker_ids ORDER BY node")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

pub fn attempts_started_since(conn: &Connection, since: i64) -> rusqlite::Result<u32> {
    conn.query_row("SELECT COUNT(*) FROM attempts WHERE started_at >= ?1 AND dry_run = 0", params![since], |r| r.get(0))
}

pub fn insert_audit(
    conn: &Connection,
    at: i64,
    event: &str,
    node: Option<&str>,
    incident: Option<&str>,
    record: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit(at, event, node, incident_id, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, event, node, incident, record],
    )?;
    Ok(())
}

/// Audit records in order, optionally of one incident.
pub fn audit_records(conn: &Connection, incident: Option<&str>) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT record FROM audit WHERE (?1 IS NULL OR incident_id = ?1) ORDER BY seq")?;
    let rows = stmt.query_map(params![incident], |r| r.get(0))?;
    rows.collect()
}

/// The latest `limit` audit records, newest first.
pub fn recent_audit(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT record FROM audit ORDER BY seq DESC LIMIT ?1")?;
    let rows = stmt.query_map(params![limit], |r| r.get(0))?;
    rows.collect()
}

/// A notification waiting in the outbox.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub channel: String,
    pub payload: String,
    pub tries: u32,
    pub created_at: i64,
    pub trigger: String,
}

/// A notification for one channel, as the outbox keeps it.
#[derive(Debug, Clone, Copy)]
pub struct OutboxRow<'a> {
    pub channel: &'a str,
    pub trigger: &'a str,
    pub incident: Option<&'a str>,
    pub node: Option<&'a str>,
    pub payload: &'a str,
}

/// Puts one notification in the outbox, due at `due_at`.
pub fn enqueue(conn: &Connection, row: &OutboxRow<'_>, at: i64, due_at: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO outbox(channel, trigger, incident_id, node, payload, created_at, next_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![row.channel, row.trigger, row.incident, row.node, row.payload, at, due_at],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records a notification held back by a rate limit: never sent, summarised later.
pub fn suppress(conn: &Connection, row: &OutboxRow<'_>, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO outbox(channel, trigger, incident_id, node, payload, created_at, next_at, suppressed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
        params![row.channel, row.trigger, row.incident, row.node, row.payload, at],
    )?;
    Ok(())
}

/// Notifications queued for `channel` (not suppressed) since `since`, and of
/// those, the ones about `node` with `trigger`.
pub fn sent_since(
    conn: &Connection,
    channel: &str,
    since: i64,
    node: Option<&str>,
    trigger: &str,
) -> rusqlite::Result<(u32, u32)> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN node IS ?3 AND trigger = ?4 THEN 1 ELSE 0 END), 0)
         FROM outbox WHERE channel = ?1 AND created_at >= ?2 AND suppressed_at IS NULL",
        params![channel, since, node, trigger],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Suppressed notifications of `channel` not yet summarised: (id, payload).
pub fn unsummarised(conn: &Connection, channel: &str) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare(
        "SELECT id, payload FROM outbox WHERE channel = ?1 AND suppressed_at IS NOT NULL AND summarised_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map(params![channel], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

pub fn mark_summarised(conn: &Connection, ids: &[i64], at: i64) -> rusqlite::Result<()> {
    for id in ids {
        conn.execute("UPDATE outbox SET summarised_at = ?2 WHERE id = ?1", params![id, at])?;
    }
    Ok(())
}

/// Undelivered notifications of `channel` due at `now`, oldest first — and
/// only up to the first that is not due: a channel delivers strictly in order,
/// also across restarts.
pub fn due(conn: &Connection, channel: &str, now: i64, limit: u32) -> rusqlite::Result<Vec<Pending>> {
    let mut stmt = conn.prepare(
        "SELECT id, channel, payload, tries, created_at, trigger, next_at FROM outbox
         WHERE channel = ?1 AND delivered_at IS NULL AND dropped_at IS NULL AND suppressed_at IS NULL
         ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![channel, limit], |r| {
        let next_at: i64 = r.get(6)?;
        Ok(Pending {
            id: r.get(0)?,
            channel: r.get(1)?,
            payload: r.get(2)?,
            tries: r.get(3)?,
            created_at: r.get(4)?,
            trigger: r.get(5)?,
        })
        .map(|p| (p, next_at))
    })?;
    let rows: Vec<(Pending, i64)> = rows.collect::<Result<_, _>>()?;
    Ok(rows.into_iter().take_while(|(_, next_at)| *next_at <= now).map(|(p, _)| p).collect())
}

pub fn delivered(conn: &Connection, id: i64, at: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE outbox SET delivered_at = ?2, tries = tries + 1 WHERE id = ?1", params![id, at])?;
    Ok(())
}

pub fn retry_later(conn: &Connection, id: i64, next_at: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE outbox SET tries = tries + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
        params![id, next_at, error],
    )?;
    Ok(())
}

pub fn drop_pending(conn: &Connection, id: i64, at: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE outbox SET dropped_at = ?2, last_error = ?3 WHERE id = ?1", params![id, at, error])?;
    Ok(())
}

/// Notifications neither delivered nor dropped.
pub fn outbox_depth(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND dropped_at IS NULL AND suppressed_at IS NULL",
        [],
        |r| r.get(0),
    )
}

/// Notification counts of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelCounts {
    pub channel: String,
    pub delivered: u32,
    pub dropped: u32,
    /// Neither delivered nor given up yet.
    pub waiting: u32,
    /// Held back by rate limits (summarised instead).
    pub held_back: u32,
}

/// Notification counts per channel for rows created in `[from, to)`.
pub fn outbox_counts(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<ChannelCounts>> {
    let mut stmt = conn.prepare(
        "SELECT channel,
                SUM(delivered_at IS NOT NULL),
                SUM(dropped_at IS NOT NULL),
                SUM(delivered_at IS NULL AND dropped_at IS NULL AND suppressed_at IS NULL),
                SUM(suppressed_at IS NOT NULL)
         FROM outbox WHERE created_at >= ?1 AND created_at < ?2 GROUP BY channel ORDER BY channel",
    )?;
    let rows = stmt.query_map(params![from, to], |r| {
        Ok(ChannelCounts {
            channel: r.get(0)?,
            delivered: r.get(1)?,
            dropped: r.get(2)?,
            waiting: r.get(3)?,
            held_back: r.get(4)?,
        })
    })?;
    rows.collect()
}
