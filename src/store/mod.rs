//! The state store: one SQLite file (WAL) under `system.state_dir`.
//!
//! Owns: the schema, and the one thread that holds the connection — every
//! read and write of the daemon goes through it, in order. Incidents, their
//! attempts, the audit trail, and the operator's controls (pause, resets).
//! Must never: hold a secret (commands are stored masked), or be written by
//! two tasks at once. Operators may read the file with `sqlite3`; the CLI
//! (`incidents reset`, `pause`) writes controls from another process, which
//! SQLite serialises with its own lock.

pub mod records;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use tokio::sync::oneshot;

pub use records::{AttemptRecord, IncidentRecord, IncidentState, Phase};

/// The file name inside `system.state_dir`.
pub const FILE_NAME: &str = "state.db";

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A handle to the store's thread; cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("state store {0}: cannot create its directory: {1}")]
    Directory(String, std::io::Error),
    #[error("the state store's thread is gone")]
    Gone,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    role TEXT NOT NULL,
    cause TEXT,
    evidence TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    closed_at INTEGER,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS incidents_node ON incidents(node, opened_at);
CREATE TABLE IF NOT EXISTS attempts (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    n INTEGER NOT NULL,
    action TEXT NOT NULL,
    command TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    exit_code INTEGER,
    success INTEGER,
    result TEXT,
    output TEXT,
    PRIMARY KEY (incident_id, n)
);
CREATE INDEX IF NOT EXISTS attempts_started ON attempts(started_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    node TEXT,
    incident_id TEXT,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    trigger TEXT NOT NULL,
    incident_id TEXT,
    node TEXT,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    delivered_at INTEGER,
    dropped_at INTEGER,
    last_error TEXT,
    -- Held back by a rate limit or cooldown; summarised later (summarised_at).
    suppressed_at INTEGER,
    summarised_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(channel, delivered_at, dropped_at, next_at);
CREATE TABLE IF NOT EXISTS controls (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    at INTEGER NOT NULL
);
-- Broker ids learned from the cluster's metadata (brokers configured without `broker_id`).
CREATE TABLE IF NOT EXISTS broker_ids (
    node TEXT PRIMARY KEY,
    broker_id INTEGER NOT NULL,
    learned_at INTEGER NOT NULL
);
";

/// Columns added since the first release, with their type: added to a
/// store written by an older version, so it opens unchanged otherwise.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // When the node served again, when it was back in the ISR of every
    // partition it hosts, and when its catch-up ran out of time (degraded).
    ("incidents", "served_at", "INTEGER"),
    ("incidents", "in_sync_at", "INTEGER"),
    ("incidents", "degraded_at", "INTEGER"),
    // JSON list of the partitions it was still behind on.
    ("incidents", "behind", "TEXT"),
    // A repeat failure: its place in a row of incidents each opened within
    // `recovery.cooldown_seconds` of the last recovery, and when that was.
    ("incidents", "repeat", "INTEGER"),
    ("incidents", "previous_recovered_at", "INTEGER"),
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
            [column],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The inverse of `millis`.
pub fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// Opens (creating if needed) the store file with WAL and the schema.
pub fn connect(path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Sqlite { path: path.display().to_string(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Directory(path.display().to_string(), e))?;
    }
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    migrate(&conn).map_err(err)?;
    Ok(conn)
}

impl Store {
    /// Opens the store at `dir/state.db` and starts its thread.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        let mut conn = connect(&path)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("state-store".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Directory(path.display().to_string(), e))?;
        Ok(Store { jobs, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store's thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let path = self.path.display().to_string();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn).map_err(|source| StoreError::Sqlite { path, source }));
        });
        self.jobs.send(job).map_err(|_| StoreError::Gone)?;
        rx.await.map_err(|_| StoreError::Gone)?
    }
}

pub mod controls;
