//! Schema and migrations, tracked by `PRAGMA user_version`.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{from_sqlite, is_busy, QueueError, Result};
use crate::sqlite::QueueOptions;

/// Schema version this build writes.
pub const SCHEMA_VERSION: i64 = 5;

/// Version 1: every table. `IF NOT EXISTS` so that a database created by the
/// Python pipeline (same contract tables, `user_version` 0) is adopted; the
/// columns this build adds are added by [`add_missing_columns`].
pub(crate) const SCHEMA_V1: &str = r#"
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

/// Version 2: per-stage state (`group_stages`) and the product registry
/// (`images`, `caltables`, `calibration_applied`, `photometry`,
/// `variability_stats`, `mosaics`, `mosaic_images`, `jobs`); `ms_index`
/// gains `cal_applied`, `stage` and `stage_status` ([`V2_COLUMNS`]).
pub(crate) const SCHEMA_V2: &str = r#"
CREATE TABLE IF NOT EXISTS group_stages (
    group_id TEXT NOT NULL REFERENCES processing_queue(group_id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    duration_s REAL,
    error TEXT,
    owner TEXT,
    PRIMARY KEY (group_id, stage)
);
CREATE INDEX IF NOT EXISTS idx_group_stages_status ON group_stages(status);

CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    ms_path TEXT,
    group_id TEXT,
    created_at REAL NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('image', 'residual', 'model', 'psf', 'dirty', 'pb', 'image-pb', 'png')),
    beam_major_arcsec REAL,
    beam_minor_arcsec REAL,
    beam_pa_deg REAL,
    noise_jy REAL,
    dynamic_range REAL,
    pbcor INTEGER,
    center_ra_deg REAL,
    center_dec_deg REAL,
    imsize_x INTEGER,
    imsize_y INTEGER,
    cellsize_arcsec REAL,
    freq_ghz REAL,
    bandwidth_mhz REAL,
    integration_sec REAL,
    mid_mjd REAL
);
CREATE INDEX IF NOT EXISTS idx_images_group_id ON images(group_id);
CREATE INDEX IF NOT EXISTS idx_images_created_at ON images(created_at);
CREATE INDEX IF NOT EXISTS idx_images_mid_mjd ON images(mid_mjd);

CREATE TABLE IF NOT EXISTS caltables (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    set_name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    table_type TEXT NOT NULL CHECK (table_type IN ('B', 'G')),
    order_index INTEGER NOT NULL,
    calibrator TEXT,
    refant TEXT,
    group_id TEXT,
    created_at REAL NOT NULL,
    mid_mjd REAL,
    valid_start_mjd REAL,
    valid_end_mjd REAL,
    status TEXT NOT NULL CHECK (status IN ('solving', 'active', 'failed', 'retired')),
    params_json TEXT,
    qa_json TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS idx_caltables_set_name ON caltables(set_name);
CREATE INDEX IF NOT EXISTS idx_caltables_status_mid ON caltables(status, mid_mjd);

CREATE TABLE IF NOT EXISTS calibration_applied (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ms_path TEXT NOT NULL,
    group_id TEXT,
    set_name TEXT,
    caltable_paths TEXT,
    applied_at REAL NOT NULL,
    success INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS idx_calibration_applied_ms_path ON calibration_applied(ms_path);
CREATE INDEX IF NOT EXISTS idx_calibration_applied_group_id ON calibration_applied(group_id);

CREATE TABLE IF NOT EXISTS photometry (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id TEXT NOT NULL,
    image_path TEXT NOT NULL,
    group_id TEXT,
    ra_deg REAL,
    dec_deg REAL,
    catalog_flux_jy REAL,
    peak_flux_jy REAL,
    peak_flux_err_jy REAL,
    int_flux_jy REAL,
    int_flux_err_jy REAL,
    norm_flux_jy REAL,
    norm_flux_err_jy REAL,
    local_rms_jy REAL,
    snr REAL,
    pb REAL,
    mjd REAL NOT NULL,
    flags INTEGER,
    created_at REAL,
    UNIQUE (source_id, image_path)
);
CREATE INDEX IF NOT EXISTS idx_photometry_source_id ON photometry(source_id);
CREATE INDEX IF NOT EXISTS idx_photometry_mjd ON photometry(mjd);
CREATE INDEX IF NOT EXISTS idx_photometry_image_path ON photometry(image_path);

CREATE TABLE IF NOT EXISTS variability_stats (
    source_id TEXT PRIMARY KEY,
    n_epochs INTEGER,
    mean_flux_jy REAL,
    median_flux_jy REAL,
    eta REAL,
    v REAL,
    chi2_nu REAL,
    max_sigma_dev REAL,
    m REAL,
    vs_max REAL,
    m_vs REAL,
    is_candidate INTEGER,
    candidate_reason TEXT,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS idx_variability_stats_candidate ON variability_stats(is_candidate);

CREATE TABLE IF NOT EXISTS mosaics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    path TEXT,
    dec_strip_deg REAL,
    start_mjd REAL,
    end_mjd REAL,
    n_images INTEGER,
    noise_jy REAL,
    status TEXT NOT NULL CHECK (status IN ('planned', 'building', 'completed', 'failed')),
    error TEXT,
    created_at REAL
);

CREATE TABLE IF NOT EXISTS mosaic_images (
    mosaic_id INTEGER NOT NULL REFERENCES mosaics(id) ON DELETE CASCADE,
    image_path TEXT NOT NULL,
    PRIMARY KEY (mosaic_id, image_path)
);

CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    group_ids TEXT NOT NULL,
    params_json TEXT,
    result_json TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    requested_by TEXT
);
CREATE INDEX IF NOT EXISTS idx_jobs_state ON jobs(state);
"#;

/// Version 4: what the API's read routes need to stay fast on a large
/// database (100 000 groups, 1 000 000 photometry rows), without changing
/// what they return:
///
/// * indexes for the queries that scanned whole tables: waiting groups by
///   state in `group_id` order, the oldest pending group by arrival, the
///   groups and timings finished since a time, and a source's light curve
///   in time order (`photometry(source_id, mjd)`, which also serves every
///   lookup the old `photometry(source_id)` index did, so that one goes);
/// * `queue_state_counts`, the number of groups in each state, and
///   `photometry_sources`, one row per photometry source (measurement count,
///   largest RA/Dec, first and last MJD — what `/api/v1/sources` lists);
///   `photometry_generation` (replaced by a number per source in version 5)
///   was one number that grew with every insert, update or delete of a
///   photometry row (the API's light-curve cache). All three are filled at migration and then kept exact by
///   triggers, inside the writer's own transaction, whoever the writer is
///   (this crate, `sqlite3` by hand, another program). The one write they do
///   not follow is `INSERT OR REPLACE` into `processing_queue` or `photometry`
///   (SQLite fires no delete trigger for the replaced row unless
///   `recursive_triggers` is on); nothing in this workspace writes that way.
pub(crate) const SCHEMA_V4: &str = r#"
CREATE INDEX IF NOT EXISTS idx_processing_queue_state_group ON processing_queue(state, group_id);
CREATE INDEX IF NOT EXISTS idx_processing_queue_state_received ON processing_queue(state, received_at);
CREATE INDEX IF NOT EXISTS idx_processing_queue_finished_at ON processing_queue(finished_at);
CREATE INDEX IF NOT EXISTS idx_performance_metrics_recorded_at ON performance_metrics(recorded_at);
CREATE INDEX IF NOT EXISTS idx_photometry_source_mjd ON photometry(source_id, mjd);
DROP INDEX IF EXISTS idx_photometry_source_id;

CREATE TABLE IF NOT EXISTS queue_state_counts (
    state TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
DELETE FROM queue_state_counts;
INSERT INTO queue_state_counts (state, n)
    SELECT state, COUNT(*) FROM processing_queue GROUP BY state;
CREATE TRIGGER IF NOT EXISTS trg_processing_queue_count_insert
AFTER INSERT ON processing_queue BEGIN
    INSERT INTO queue_state_counts (state, n) VALUES (new.state, 1)
        ON CONFLICT(state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_processing_queue_count_update
AFTER UPDATE OF state ON processing_queue WHEN old.state IS NOT new.state BEGIN
    UPDATE queue_state_counts SET n = n - 1 WHERE state = old.state;
    INSERT INTO queue_state_counts (state, n) VALUES (new.state, 1)
        ON CONFLICT(state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_processing_queue_count_delete
AFTER DELETE ON processing_queue BEGIN
    UPDATE queue_state_counts SET n = n - 1 WHERE state = old.state;
END;

CREATE TABLE IF NOT EXISTS photometry_sources (
    source_id TEXT PRIMARY KEY,
    n_measurements INTEGER NOT NULL,
    ra_deg REAL,
    dec_deg REAL,
    first_mjd REAL NOT NULL,
    last_mjd REAL NOT NULL
);
DELETE FROM photometry_sources;
INSERT INTO photometry_sources (source_id, n_measurements, ra_deg, dec_deg, first_mjd, last_mjd)
    SELECT source_id, COUNT(*), MAX(ra_deg), MAX(dec_deg), MIN(mjd), MAX(mjd)
    FROM photometry GROUP BY source_id;
CREATE TABLE IF NOT EXISTS photometry_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n INTEGER NOT NULL
);
INSERT OR IGNORE INTO photometry_generation (id, n) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS trg_photometry_generation_update
AFTER UPDATE ON photometry BEGIN
    UPDATE photometry_generation SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_photometry_sources_insert
AFTER INSERT ON photometry BEGIN
    UPDATE photometry_generation SET n = n + 1 WHERE id = 1;
    INSERT INTO photometry_sources (source_id, n_measurements, ra_deg, dec_deg, first_mjd, last_mjd)
        VALUES (new.source_id, 1, new.ra_deg, new.dec_deg, new.mjd, new.mjd)
        ON CONFLICT(source_id) DO UPDATE SET
            n_measurements = n_measurements + 1,
            ra_deg = max(coalesce(ra_deg, excluded.ra_deg), coalesce(excluded.ra_deg, ra_deg)),
            dec_deg = max(coalesce(dec_deg, excluded.dec_deg), coalesce(excluded.dec_deg, dec_deg)),
            first_mjd = min(first_mjd, excluded.first_mjd),
            last_mjd = max(last_mjd, excluded.last_mjd);
END;
CREATE TRIGGER IF NOT EXISTS trg_photometry_sources_update
AFTER UPDATE OF source_id, ra_deg, dec_deg, mjd ON photometry
WHEN old.source_id IS NOT new.source_id OR old.ra_deg IS NOT new.ra_deg
    OR old.dec_deg IS NOT new.dec_deg OR old.mjd IS NOT new.mjd BEGIN
    DELETE FROM photometry_sources WHERE source_id IN (old.source_id, new.source_id);
    INSERT INTO photometry_sources (source_id, n_measurements, ra_deg, dec_deg, first_mjd, last_mjd)
        SELECT source_id, COUNT(*), MAX(ra_deg), MAX(dec_deg), MIN(mjd), MAX(mjd)
        FROM photometry WHERE source_id IN (old.source_id, new.source_id) GROUP BY source_id;
END;
CREATE TRIGGER IF NOT EXISTS trg_photometry_sources_delete
AFTER DELETE ON photometry BEGIN
    UPDATE photometry_generation SET n = n + 1 WHERE id = 1;
    DELETE FROM photometry_sources WHERE source_id = old.source_id;
    INSERT INTO photometry_sources (source_id, n_measurements, ra_deg, dec_deg, first_mjd, last_mjd)
        SELECT source_id, COUNT(*), MAX(ra_deg), MAX(dec_deg), MIN(mjd), MAX(mjd)
        FROM photometry WHERE source_id = old.source_id GROUP BY source_id;
END;
"#;

/// Version 3: `processing_queue.excluded_files`, the subband files a group was processed
/// without (invalid files counted as missing subbands), with the reasons.
const V3_COLUMNS: &[(&str, &str, &str)] = &[("processing_queue", "excluded_files", "TEXT")];

/// Version 5: who runs a `running` job and when it last said so, so that a job
/// left `running` by a daemon that stopped is taken back
/// ([`crate::Queue::recover_jobs`]).
const V5_COLUMNS: &[(&str, &str, &str)] =
    &[("jobs", "owner", "TEXT"), ("jobs", "heartbeat_at", "REAL")];

/// Version 5: the photometry generation per source instead of one for the whole
/// table. `photometry_source_generation.n` grows with every insert, update or
/// delete of a row of that source (an update that moves a row to another source
/// counts for both) and is never reset, so equal values mean that source's rows
/// did not change — while the daemon adds photometry of other sources, a light
/// curve read earlier stays exactly right (version 4's single number changed with
/// every image's photometry). The version-4 triggers are recreated without the
/// global number, which goes.
pub(crate) const SCHEMA_V5: &str = r#"
CREATE TABLE IF NOT EXISTS photometry_source_generation (
    source_id TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT OR IGNORE INTO photometry_source_generation (source_id, n)
    SELECT source_id, 0 FROM photometry_sources;
DROP TRIGGER IF EXISTS trg_photometry_generation_update;
DROP TRIGGER IF EXISTS trg_photometry_sources_insert;
DROP TRIGGER IF EXISTS trg_photometry_sources_delete;
DROP TABLE IF EXISTS photometry_generation;
CREATE TRIGGER trg_photometry_source_generation_update
AFTER UPDATE ON photometry BEGIN
    INSERT INTO photometry_source_generation (source_id, n) VALUES (old.source_id, 1)
        ON CONFLICT(source_id) DO UPDATE SET n = n + 1;
    INSERT INTO photometry_source_generation (source_id, n)
        SELECT new.source_id, 1 WHERE new.source_id IS NOT old.source_id
        ON CONFLICT(source_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER trg_photometry_sources_insert
AFTER INSERT ON photometry BEGIN
    INSERT INTO photometry_source_generation (source_id, n) VALUES (new.source_id, 1)
        ON CONFLICT(source_id) DO UPDATE SET n = n + 1;
    INSERT INTO photometry_sources (source_id, n_measurements, ra_deg, dec_deg, first_mjd, last_mjd)
        VALUES (new.source_id, 1, new.ra_deg, new.dec_deg, new.mjd, new.mjd)
        ON CONFLICT(source_id) DO UPDATE SET
            n_measurements = n_measurements + 1,
            ra_deg = max(coalesce(ra_deg, excluded.ra_deg), coalesce(excluded.ra_deg, ra_deg)),
            dec_deg = max(coalesce(dec_deg, excluded.dec_deg), coalesce(excluded.dec_deg, dec_deg)),
            first_mjd = min(first_mjd, excluded.first_mjd),
            last_mjd = max(last_mjd, excluded.last_mjd);
END;
CREATE TRIGGER trg_photometry_sources_delete
AFTER DELETE ON photometry BEGIN
    INSERT INTO photometry_source_generation (source_id, n) VALUES (old.source_id, 1)
        ON CONFLICT(source_id) DO UPDATE SET n = n + 1;
    DELETE FROM photometry_sources WHERE source_id = old.source_id;
    INSERT INTO photometry_sources (source_id, n_measurements, ra_deg, dec_deg, first_mjd, last_mjd)
        SELECT source_id, COUNT(*), MAX(ra_deg), MAX(dec_deg), MIN(mjd), MAX(mjd)
        FROM photometry WHERE source_id = old.source_id GROUP BY source_id;
END;
"#;

/// Columns version 2 adds to `ms_index`.
const V2_COLUMNS: &[(&str, &str, &str)] = &[
    ("ms_index", "cal_applied", "INTEGER"),
    ("ms_index", "stage", "TEXT"),
    ("ms_index", "stage_status", "TEXT"),
];

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
/// for other openers), then WAL, foreign keys, `synchronous=NORMAL` and the
/// memory map ([`QueueOptions::mmap_size_bytes`]).
pub(crate) fn init_connection(
    conn: &Connection,
    options: &QueueOptions,
    read_only: bool,
) -> rusqlite::Result<()> {
    let busy_timeout = options.busy_timeout;
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
    conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")?;
    if options.mmap_size_bytes > 0 {
        // SQLite answers with the size it accepted (capped at compile time); the
        // answer is a row, so it is read rather than executed.
        let _: Option<i64> = conn
            .query_row(
                &format!("PRAGMA mmap_size={}", options.mmap_size_bytes),
                [],
                |r| r.get(0),
            )
            .optional()?;
    }
    Ok(())
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
        source: from_sqlite(source),
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
        add_missing_columns(&tx, ADDED_COLUMNS).map_err(open_err)?;
    }
    if found < 2 {
        tx.execute_batch(SCHEMA_V2).map_err(open_err)?;
        add_missing_columns(&tx, V2_COLUMNS).map_err(open_err)?;
    }
    if found < 3 {
        add_missing_columns(&tx, V3_COLUMNS).map_err(open_err)?;
    }
    if found < 4 {
        tx.execute_batch(SCHEMA_V4).map_err(open_err)?;
    }
    if found < 5 {
        add_missing_columns(&tx, V5_COLUMNS).map_err(open_err)?;
        tx.execute_batch(SCHEMA_V5).map_err(open_err)?;
    }
    if found < SCHEMA_VERSION {
        tracing::info!(db = %path.display(), from = found, to = SCHEMA_VERSION, "queue schema migrated");
    }
    if found != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_err)?;
    }
    tx.commit().map_err(open_err)
}

fn add_missing_columns(conn: &Connection, columns: &[(&str, &str, &str)]) -> rusqlite::Result<()> {
    for &(table, column, decl) in columns {
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
            source: from_sqlite(source),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{GroupId, GroupState, Queue, SubbandIdx};

    fn columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(1))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }

    /// (state, count) rows and (source, measurements, first MJD, last MJD) rows.
    type Derived = (Vec<(String, i64)>, Vec<(String, i64, f64, f64)>);

    /// The (state, count) rows and (source, measurements, first MJD, last MJD) rows
    /// that the two queries give.
    fn derived(c: &Connection, counts_sql: &str, sources_sql: &str) -> Derived {
        let counts = c
            .prepare(counts_sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        let sources = c
            .prepare(sources_sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        (counts, sources)
    }

    /// `queue_state_counts` and `photometry_sources` as the GROUP BY queries
    /// they stand for would answer.
    fn derived_tables(c: &Connection) -> Derived {
        derived(
            c,
            "SELECT state, n FROM queue_state_counts WHERE n <> 0 ORDER BY state",
            "SELECT source_id, n_measurements, first_mjd, last_mjd FROM photometry_sources \
             ORDER BY source_id",
        )
    }

    /// The GROUP BY queries themselves.
    fn truth(c: &Connection) -> Derived {
        derived(
            c,
            "SELECT state, COUNT(*) FROM processing_queue GROUP BY state ORDER BY state",
            "SELECT source_id, COUNT(*), MIN(mjd), MAX(mjd) FROM photometry \
             GROUP BY source_id ORDER BY source_id",
        )
    }

    /// A version-3 database with groups and photometry gains the state counts
    /// and the source summaries, filled from its rows; afterwards every kind of
    /// write, by this crate or by hand in SQL, keeps them equal to counting.
    #[test]
    fn version_3_database_gains_exact_counts_and_source_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA_V1).unwrap();
            add_missing_columns(&c, ADDED_COLUMNS).unwrap();
            c.execute_batch(SCHEMA_V2).unwrap();
            add_missing_columns(&c, V2_COLUMNS).unwrap();
            add_missing_columns(&c, V3_COLUMNS).unwrap();
            c.execute_batch(
                "INSERT INTO processing_queue (group_id, state, received_at, last_update) VALUES
                   ('2025-10-02T00:00:00', 'completed', 1, 1),
                   ('2025-10-02T00:05:00', 'completed', 2, 2),
                   ('2025-10-02T00:10:00', 'pending', 3, 3);
                 INSERT INTO photometry (source_id, image_path, ra_deg, dec_deg, mjd) VALUES
                   ('J1', '/i/1.fits', 10.0, 50.0, 60001.0),
                   ('J1', '/i/2.fits', 10.0, 50.0, 60002.0),
                   ('J2', '/i/1.fits', 20.0, 51.0, 60001.0);
                 PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let q = Queue::open(&path).unwrap();
        let c = Connection::open(&path).unwrap();
        assert_eq!(derived_tables(&c), truth(&c));
        assert_eq!(
            q.counts_by_state().unwrap()[&GroupState::Completed],
            2,
            "backfilled at migration"
        );
        let (sources, total) = q.list_sources(None, 10, 0).unwrap();
        assert_eq!(total, 2);
        assert_eq!(
            (
                sources[0].n_measurements,
                sources[0].first_mjd,
                sources[0].last_mjd
            ),
            (2, 60001.0, 60002.0)
        );
        assert_eq!(sources[0].ra_deg, Some(10.0));

        // writes by hand, each checked
        for sql in [
            "UPDATE processing_queue SET state = 'in_progress' WHERE group_id = '2025-10-02T00:10:00'",
            "UPDATE processing_queue SET last_update = 9 WHERE group_id = '2025-10-02T00:10:00'",
            "UPDATE processing_queue SET state = 'failed' WHERE state = 'completed'",
            "DELETE FROM processing_queue WHERE group_id = '2025-10-02T00:00:00'",
            "INSERT INTO processing_queue (group_id, state, received_at, last_update) \
             VALUES ('2025-10-02T00:15:00', 'collecting', 4, 4) \
             ON CONFLICT(group_id) DO UPDATE SET state = excluded.state",
            "INSERT INTO processing_queue (group_id, state, received_at, last_update) \
             VALUES ('2025-10-02T00:15:00', 'pending', 4, 4) \
             ON CONFLICT(group_id) DO UPDATE SET state = excluded.state",
            "INSERT INTO photometry (source_id, image_path, mjd) VALUES ('J3', '/i/3.fits', 60003.0)",
            "INSERT INTO photometry (source_id, image_path, mjd) VALUES ('J1', '/i/0.fits', 60000.5)",
            "UPDATE photometry SET mjd = 60009.0 WHERE source_id = 'J1' AND image_path = '/i/2.fits'",
            "UPDATE photometry SET source_id = 'J2' WHERE source_id = 'J3'",
            "UPDATE photometry SET peak_flux_jy = 1.0 WHERE source_id = 'J2'",
            "DELETE FROM photometry WHERE source_id = 'J1' AND image_path = '/i/0.fits'",
            "DELETE FROM photometry WHERE source_id = 'J2'",
        ] {
            c.execute_batch(sql).unwrap();
            assert_eq!(derived_tables(&c), truth(&c), "after {sql}");
        }
        let one = q.source_summary("J1").unwrap().unwrap();
        assert_eq!((one.n_measurements, one.last_mjd), (2, 60009.0));
        assert_eq!(
            q.source_summary("J2").unwrap(),
            None,
            "all its rows deleted"
        );
        // and by the crate's own writes
        let g = GroupId::parse("2025-10-02T00:20:00").unwrap();
        q.register_file(
            "/in/x_sb00.hdf5",
            SubbandIdx::new(0).unwrap(),
            g.unix_s(),
            16,
            5.0,
        )
        .unwrap();
        assert_eq!(derived_tables(&c), truth(&c));
        assert_eq!(q.counts_by_state().unwrap()[&GroupState::Collecting], 1);
    }

    /// A database written by the previous build (schema version 1, with a
    /// group, a file and an MS) is upgraded in place: rows kept, the new
    /// tables and `ms_index` columns present, and usable.
    #[test]
    fn version_1_database_upgrades_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA_V1).unwrap();
            add_missing_columns(&c, ADDED_COLUMNS).unwrap();
            c.execute_batch(
                "INSERT INTO processing_queue (group_id, state, received_at, last_update, \
                 expected_subbands, retry_count, processing_stage) \
                 VALUES ('2025-10-02T00:12:00', 'completed', 1.0, 2.0, 16, 1, 'done');
                 INSERT INTO subband_files (group_id, subband_idx, path) \
                 VALUES ('2025-10-02T00:12:00', 3, '/in/a_sb03.hdf5');
                 INSERT INTO ms_index (path, group_id, created_at, status) \
                 VALUES ('/out/a.ms', '2025-10-02T00:12:00', 3.0, 'converted');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
            assert!(!columns(&c, "ms_index").contains(&"cal_applied".to_string()));
        }
        let q = Queue::open(&path).unwrap();
        let c = Connection::open(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let ms_cols = columns(&c, "ms_index");
        for col in ["cal_applied", "stage", "stage_status"] {
            assert!(ms_cols.contains(&col.to_string()), "{col} in {ms_cols:?}");
        }
        for table in [
            "group_stages",
            "images",
            "caltables",
            "calibration_applied",
            "photometry",
            "variability_stats",
            "mosaics",
            "mosaic_images",
            "jobs",
        ] {
            assert!(!columns(&c, table).is_empty(), "{table} missing");
        }
        let g = GroupId::parse("2025-10-02T00:12:00").unwrap();
        let rec = q.group(&g).unwrap().unwrap();
        assert_eq!((rec.state, rec.retry_count), (GroupState::Completed, 1));
        assert_eq!(
            q.group_files(&g).unwrap()[0].subband,
            SubbandIdx::new(3).unwrap()
        );
        assert_eq!(q.ms_for_group(&g).unwrap()[0].status, "converted");
        let st = q.ms_status("/out/a.ms").unwrap().unwrap();
        assert_eq!(st.cal_applied, None);
        q.set_ms_cal_applied("/out/a.ms", Some(false)).unwrap();
        q.reset_stages(&g, &["image"], 10.0).unwrap();
        assert_eq!(q.group(&g).unwrap().unwrap().state, GroupState::Pending);
        // Opening again is a no-op.
        drop(q);
        let q = Queue::open(&path).unwrap();
        assert_eq!(q.stages(&g).unwrap().len(), 1);
    }
}
