//! Schema and migrations, tracked by `PRAGMA user_version`.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{is_busy, QueueError, Result};

/// Schema version this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1: every table. `IF NOT EXISTS` so that a database created by the
/// Python pipeline (same contract tables, `user_version` 0) is adopted; the
/// columns this build adds are added by [`add_missing_columns`].
const SCHEMA_V1: &str = r#"
CREATE TABLE IF NOT EXISTS processing_queue (
    group_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    received_at REAL NOT NULL,
    last_update REAL NOT NULL,
    expected_subbands INTEGER,
    retry_count INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_message TEXT,
    checkpoint_path TEXT,
    processing_stage TEXT DEFAULT 'collecting',
    chunk_minutes REAL,
    has_calibrator INTEGER,
    calibrators TEXT,
    owner TEXT,
    started_at REAL,
    finished_at REAL,
    next_attempt_at REAL
);
CREATE INDEX IF NOT EXISTS idx_processing_queue_state ON processing_queue(state);
CREATE INDEX IF NOT EXISTS idx_processing_queue_received_at ON processing_queue(received_at);

CREATE TABLE IF NOT EXISTS subband_files (
    group_id TEXT NOT NULL REFERENCES processing_queue(group_id) ON DELETE CASCADE,
    subband_idx INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    registered_at REAL,
    PRIMARY KEY (group_id, subband_idx)
);

CREATE TABLE IF NOT EXISTS performance_metrics (
    group_id TEXT PRIMARY KEY,
    load_time REAL,
    phase_time REAL,
    write_time REAL,
    total_time REAL,
    writer_type TEXT,
    recorded_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS hdf5_files (
    path TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    group_id TEXT,
    subband_code TEXT,
    subband_num INTEGER,
    timestamp_iso TEXT,
    timestamp_mjd REAL,
    file_size_bytes INTEGER,
    modified_time REAL,
    indexed_at REAL NOT NULL,
    stored INTEGER NOT NULL DEFAULT 1,
    ra_deg REAL,
    dec_deg REAL,
    obs_date TEXT,
    obs_time TEXT
);
CREATE INDEX IF NOT EXISTS idx_hdf5_files_group_id ON hdf5_files(group_id);
CREATE INDEX IF NOT EXISTS idx_hdf5_files_timestamp_mjd ON hdf5_files(timestamp_mjd);

CREATE TABLE IF NOT EXISTS invalid_files (
    path TEXT PRIMARY KEY,
    file_size_bytes INTEGER,
    modified_time REAL,
    reason TEXT NOT NULL,
    checked_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS late_files (
    path TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    subband_idx INTEGER NOT NULL,
    group_state TEXT NOT NULL,
    received_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS ms_index (
    path TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    start_mjd REAL,
    end_mjd REAL,
    mid_mjd REAL,
    ra_deg REAL,
    dec_deg REAL,
    n_spw INTEGER,
    n_rows INTEGER,
    n_missing_subbands INTEGER,
    size_bytes INTEGER,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_ms_index_group_id ON ms_index(group_id);
"#;

/// Columns this build adds to contract tables that an older (Python-made)
/// database may lack: (table, column, declaration).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("processing_queue", "owner", "TEXT"),
    ("processing_queue", "started_at", "REAL"),
    ("processing_queue", "finished_at", "REAL"),
    ("processing_queue", "next_attempt_at", "REAL"),
    ("subband_files", "registered_at", "REAL"),
];

/// Per-connection settings: busy timeout first (so that the WAL switch waits
/// for other openers), then WAL, foreign keys and `synchronous=NORMAL`.
pub(crate) fn init_connection(
    conn: &Connection,
    busy_timeout: Duration,
    read_only: bool,
) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    if !read_only {
        // Switching a fresh file to WAL needs an exclusive lock, and SQLite
        // returns SQLITE_BUSY at once (without the busy handler) when another
        // opener holds a conflicting lock; retry until the busy timeout.
        let mode: String = retry_busy(busy_timeout, || {
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        })?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "SQLite refused WAL mode; concurrency will suffer");
        }
    }
    conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")
}

/// Runs `f` again while it fails with SQLITE_BUSY/LOCKED, for at most `limit`.
pub(crate) fn retry_busy<T, E: AsBusy>(
    limit: Duration,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(5);
    loop {
        match f() {
            Err(e) if e.as_busy() && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Errors that can say "the database was busy".
pub(crate) trait AsBusy {
    fn as_busy(&self) -> bool;
}

impl AsBusy for rusqlite::Error {
    fn as_busy(&self) -> bool {
        is_busy(self)
    }
}

impl AsBusy for QueueError {
    fn as_busy(&self) -> bool {
        self.is_retryable()
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] inside one `BEGIN IMMEDIATE`
/// transaction, so two processes opening a fresh file at once serialise:
/// the second sees the version the first wrote and does nothing.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let open_err = |source| QueueError::Open {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_err)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(open_err)?;
    if found > SCHEMA_VERSION {
        return Err(QueueError::Schema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 1 {
        tx.execute_batch(SCHEMA_V1).map_err(open_err)?;
        add_missing_columns(&tx).map_err(open_err)?;
        tracing::info!(db = %path.display(), from = found, to = SCHEMA_VERSION, "queue schema migrated");
    }
    if found != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_err)?;
    }
    tx.commit().map_err(open_err)
}

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for &(table, column, decl) in ADDED_COLUMNS {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(1))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if !names.iter().any(|n| n == column) {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// Checks that a database opened read-only carries a schema this build reads.
pub(crate) fn check_version(conn: &Connection, path: &Path) -> Result<()> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| QueueError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if found == SCHEMA_VERSION {
        Ok(())
    } else {
        Err(QueueError::Schema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        })
    }
}
