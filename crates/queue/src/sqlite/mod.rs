//! [`SqliteBackend`]: the SQLite implementation of [`crate::QueueBackend`] — the
//! connection pool and every operation on the tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};

use crate::error::{from_pool, from_sqlite, QueueError, Result};
use crate::records::{
    AcquiredGroup, EnqueueOutcome, FailOutcome, Failure, GroupRecord, Hdf5FileRecord, LateFile,
    MsRecord, PartialOutcome, PerformanceRecord, Recovered, RegisterOutcome, RetryPolicy,
    StaleReason, SubbandFile,
};
use crate::schema;
use crate::types::{GroupId, GroupState, SubbandIdx, N_SUBBANDS};

/// `processing_stage` written when a worker takes a group.
pub const STAGE_ACQUIRED: &str = "acquired";
/// `processing_stage` written when a group (re)enters `pending`.
pub const STAGE_QUEUED: &str = "queued";
/// `processing_stage` written on completion.
pub const STAGE_DONE: &str = "done";
/// Kind of a group failed by [`crate::Queue::promote_partial`]; `error` holds "kind: reason".
pub const ERROR_INCOMPLETE_GROUP: &str = "incomplete_group";
/// Kind of a group taken back by [`crate::Queue::recover_stale`]; `error` holds "kind: reason".
pub const ERROR_WORKER_LOST: &str = "worker_lost";

/// Connection and clustering settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueOptions {
    /// How long a statement waits for another process's lock before failing
    /// with a retryable error (`PRAGMA busy_timeout`). Default 30 s.
    pub busy_timeout: Duration,
    /// A file joins the group whose id is nearest its observation time within
    /// this many seconds. Default 60 s.
    pub cluster_tolerance_s: f64,
    /// Maximum pooled connections per [`crate::Queue`]. Default 4.
    pub pool_size: u32,
    /// How long to wait for a free pooled connection. Default 30 s.
    pub pool_timeout: Duration,
    /// Bytes of the database file each connection reads through a memory map
    /// (`PRAGMA mmap_size`) instead of `read()` calls into its page cache;
    /// 0 (the default) turns it off. A reader of large tables (the API) gains:
    /// rows spread over many pages are read without a system call and a copy
    /// each. The mapped pages are the kernel's page cache, shared and reclaimable.
    pub mmap_size_bytes: u64,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            busy_timeout: Duration::from_secs(30),
            cluster_tolerance_s: 60.0,
            pool_size: 4,
            pool_timeout: Duration::from_secs(30),
            mmap_size_bytes: 0,
        }
    }
}

/// The queue database: a pool of connections to one SQLite file, shared with
/// other processes. Cheap to clone (clones share the pool).
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    pool: Pool<SqliteConnectionManager>,
    path: PathBuf,
    options: QueueOptions,
    read_only: bool,
}

/// Maps SQLite errors into [`QueueError::Sqlite`] naming the database and operation.
trait At<T> {
    fn at(self, q: &SqliteBackend, op: &'static str) -> Result<T>;
}

impl<T> At<T> for rusqlite::Result<T> {
    fn at(self, q: &SqliteBackend, op: &'static str) -> Result<T> {
        self.map_err(|source| QueueError::Sqlite {
            path: q.path.clone(),
            op,
            source: from_sqlite(source),
        })
    }
}

fn finite(what: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(QueueError::InvalidInput {
            what,
            value: v.to_string(),
        })
    }
}

fn path_text(p: &Path) -> Result<String> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| QueueError::NonUtf8Path(p.to_path_buf()))
}

fn u64_to_i64(what: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| QueueError::InvalidInput {
        what,
        value: v.to_string(),
    })
}

fn i64_to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn expected_or_default(v: Option<i64>) -> u8 {
    match v {
        Some(n) if (1..=i64::from(N_SUBBANDS)).contains(&n) => n as u8,
        _ => N_SUBBANDS,
    }
}

fn subband_list(s: &[SubbandIdx]) -> String {
    s.iter().map(|sb| sb.code()).collect::<Vec<_>>().join(", ")
}

fn missing_of(present: &[SubbandIdx], expected: u8) -> Vec<SubbandIdx> {
    SubbandIdx::all_below(expected)
        .filter(|sb| !present.contains(sb))
        .collect()
}

/// The `error_message` of a group promoted with missing subbands.
pub fn partial_group_message(missing: &[SubbandIdx]) -> String {
    format!("partial group: missing {}", subband_list(missing))
}

const GROUP_COLUMNS: &str = "group_id, state, received_at, last_update, expected_subbands, \
     retry_count, error, error_message, checkpoint_path, processing_stage, chunk_minutes, \
     has_calibrator, calibrators, owner, started_at, finished_at, next_attempt_at, excluded_files";

/// A `processing_queue` row before its id and state are parsed.
struct RawGroup {
    group_id: String,
    state: String,
    received_at: f64,
    last_update: f64,
    expected_subbands: Option<i64>,
    retry_count: i64,
    error: Option<String>,
    error_message: Option<String>,
    checkpoint_path: Option<String>,
    processing_stage: Option<String>,
    chunk_minutes: Option<f64>,
    has_calibrator: Option<i64>,
    calibrators: Option<String>,
    owner: Option<String>,
    started_at: Option<f64>,
    finished_at: Option<f64>,
    next_attempt_at: Option<f64>,
    excluded_files: Option<String>,
}

impl RawGroup {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawGroup {
            group_id: r.get(0)?,
            state: r.get(1)?,
            received_at: r.get(2)?,
            last_update: r.get(3)?,
            expected_subbands: r.get(4)?,
            retry_count: r.get(5)?,
            error: r.get(6)?,
            error_message: r.get(7)?,
            checkpoint_path: r.get(8)?,
            processing_stage: r.get(9)?,
            chunk_minutes: r.get(10)?,
            has_calibrator: r.get(11)?,
            calibrators: r.get(12)?,
            owner: r.get(13)?,
            started_at: r.get(14)?,
            finished_at: r.get(15)?,
            next_attempt_at: r.get(16)?,
            excluded_files: r.get(17)?,
        })
    }

    fn parse(self) -> Result<GroupRecord> {
        Ok(GroupRecord {
            group_id: GroupId::parse(&self.group_id)?,
            state: self.state.parse()?,
            received_at: self.received_at,
            last_update: self.last_update,
            expected_subbands: self.expected_subbands.map(i64_to_u32),
            retry_count: i64_to_u32(self.retry_count),
            error: self.error,
            error_message: self.error_message,
            checkpoint_path: self.checkpoint_path,
            processing_stage: self.processing_stage,
            chunk_minutes: self.chunk_minutes,
            has_calibrator: self.has_calibrator.map(|v| v != 0),
            calibrators: self.calibrators,
            owner: self.owner,
            started_at: self.started_at,
            finished_at: self.finished_at,
            next_attempt_at: self.next_attempt_at,
            excluded_files: self.excluded_files,
        })
    }
}

/// A candidate group for a new file.
struct Candidate {
    group_id: GroupId,
    state: GroupState,
    expected: Option<i64>,
    error: Option<String>,
    error_message: Option<String>,
}

impl SqliteBackend {
    /// Opens (creating if needed, with parent directories) the queue database
    /// with default [`QueueOptions`], and migrates its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, QueueOptions::default())
    }

    /// Opens the database read-only (for the API). Fails with
    /// [`QueueError::Io`] if the file does not exist and with
    /// [`QueueError::Schema`] if it was never initialised.
    pub fn open_readonly(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_readonly_with(path, QueueOptions::default())
    }

    /// [`SqliteBackend::open`] with explicit options.
    ///
    /// Every connection gets `journal_mode=WAL`, the busy timeout,
    /// `foreign_keys=ON` and `synchronous=NORMAL`. Migrations run inside
    /// `BEGIN IMMEDIATE`, so concurrent first opens by several processes are safe.
    pub fn open_with(path: impl AsRef<Path>, options: QueueOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        validate_options(&options)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| QueueError::Io {
                path: parent.to_path_buf(),
                what: "creating the database directory",
                source,
            })?;
        }
        let open_err = |source| QueueError::Open {
            path: path.clone(),
            source: from_sqlite(source),
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        schema::init_connection(&conn, &options, false).map_err(open_err)?;
        // BEGIN IMMEDIATE can also get an immediate SQLITE_BUSY while another
        // process is still switching a fresh file to WAL.
        schema::retry_busy(options.busy_timeout, || schema::migrate(&mut conn, &path))?;
        drop(conn);
        let pool = build_pool(&path, &options, false)?;
        Ok(SqliteBackend {
            pool,
            path,
            options,
            read_only: false,
        })
    }

    /// [`SqliteBackend::open_readonly`] with explicit options.
    pub fn open_readonly_with(path: impl AsRef<Path>, options: QueueOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        validate_options(&options)?;
        std::fs::metadata(&path).map_err(|source| QueueError::Io {
            path: path.clone(),
            what: "opening the queue database read-only",
            source,
        })?;
        let open_err = |source| QueueError::Open {
            path: path.clone(),
            source: from_sqlite(source),
        };
        let conn = Connection::open_with_flags(&path, read_only_flags()).map_err(open_err)?;
        schema::init_connection(&conn, &options, true).map_err(open_err)?;
        schema::check_version(&conn, &path)?;
        drop(conn);
        let pool = build_pool(&path, &options, true)?;
        Ok(SqliteBackend {
            pool,
            path,
            options,
            read_only: true,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options this queue was opened with.
    pub fn options(&self) -> &QueueOptions {
        &self.options
    }

    /// Whether this handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>> {
        self.pool.get().map_err(|source| QueueError::Pool {
            path: self.path.clone(),
            source: from_pool(source),
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction: the write lock is taken
    /// up front (waiting up to the busy timeout), so read-then-write inside
    /// `f` is atomic across processes. Rolled back if `f` fails.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transaction(op, TransactionBehavior::Immediate, f)
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    fn read<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transaction(op, TransactionBehavior::Deferred, f)
    }

    fn transaction<T>(
        &self,
        op: &'static str,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(behavior).at(self, op)?;
        let out = f(&tx)?;
        tx.commit().at(self, op)?;
        Ok(out)
    }

    // ----------------------------------------------------------------- files

    /// Registers a complete subband file observed at `obs_unix_s`.
    ///
    /// The file joins the group whose id is nearest `obs_unix_s` within
    /// [`QueueOptions::cluster_tolerance_s`] (ties go to the earlier group);
    /// if none, it opens a new `collecting` group with id
    /// `GroupId::from_unix_s(obs_unix_s)` expecting `expected_subbands`.
    /// A `collecting` group becomes `pending` when it has its expected number
    /// of distinct subbands; a `pending` group (e.g. promoted partial) accepts
    /// a subband it lacks. If the nearest group is `in_progress`, `completed`
    /// or `failed`, the file is recorded in `late_files` and the group left
    /// alone. Re-registering a path changes nothing. One IMMEDIATE transaction.
    pub fn register_file(
        &self,
        path: impl AsRef<Path>,
        subband: SubbandIdx,
        obs_unix_s: f64,
        expected_subbands: u8,
        now_unix_s: f64,
    ) -> Result<RegisterOutcome> {
        const OP: &str = "register_file";
        let path_ref = path.as_ref();
        let path_str = path_text(path_ref)?;
        let now = finite("now_unix_s", now_unix_s)?;
        let own_id = GroupId::from_unix_s(obs_unix_s)?;
        if !(1..=N_SUBBANDS).contains(&expected_subbands) {
            return Err(QueueError::InvalidInput {
                what: "expected_subbands (1-16)",
                value: expected_subbands.to_string(),
            });
        }
        let tol = self.options.cluster_tolerance_s;
        self.write(OP, |tx| {
            let known = tx
                .query_row(
                    "SELECT group_id, subband_idx FROM subband_files WHERE path = ?1",
                    [&path_str],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()
                .at(self, OP)?;
            if let Some((gid, sb)) = known {
                return Ok(RegisterOutcome::AlreadyRegistered {
                    group_id: GroupId::parse(&gid)?,
                    subband: SubbandIdx::from_i64(sb)?,
                });
            }
            let late = tx
                .query_row(
                    "SELECT group_id, group_state FROM late_files WHERE path = ?1",
                    [&path_str],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
                .at(self, OP)?;
            if let Some((gid, st)) = late {
                return Ok(RegisterOutcome::Late {
                    group_id: GroupId::parse(&gid)?,
                    state: st.parse()?,
                });
            }

            let target = self.nearest_group(tx, OP, &own_id, obs_unix_s, tol)?;
            let Some(target) = target else {
                if subband.get() >= expected_subbands {
                    return Err(subband_out_of_range(subband, &own_id, expected_subbands));
                }
                tx.execute(
                    "INSERT INTO processing_queue \
                     (group_id, state, received_at, last_update, expected_subbands, retry_count, processing_stage) \
                     VALUES (?1, 'collecting', ?2, ?2, ?3, 0, 'collecting')",
                    params![own_id.as_str(), now, expected_subbands],
                )
                .at(self, OP)?;
                self.insert_file(tx, OP, &own_id, subband, &path_str, now)?;
                let state = if expected_subbands <= 1 {
                    self.mark_pending(tx, OP, &own_id, now)?;
                    GroupState::Pending
                } else {
                    GroupState::Collecting
                };
                tracing::debug!(group_id = %own_id, %subband, "new group opened");
                return Ok(RegisterOutcome::Added {
                    group_id: own_id,
                    created: true,
                    n_subbands: 1,
                    state,
                });
            };

            let gid = target.group_id;
            if !target.state.is_open() {
                tx.execute(
                    "INSERT OR IGNORE INTO late_files (path, group_id, subband_idx, group_state, received_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![path_str, gid.as_str(), subband.get(), target.state.as_str(), now],
                )
                .at(self, OP)?;
                tracing::warn!(group_id = %gid, %subband, path = %path_str, state = %target.state,
                    "late file for a group already taken; recorded in late_files, group untouched");
                return Ok(RegisterOutcome::Late {
                    group_id: gid,
                    state: target.state,
                });
            }
            let existing = tx
                .query_row(
                    "SELECT path FROM subband_files WHERE group_id = ?1 AND subband_idx = ?2",
                    params![gid.as_str(), subband.get()],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .at(self, OP)?;
            if let Some(existing_path) = existing {
                tracing::warn!(group_id = %gid, %subband, path = %path_str, existing = %existing_path,
                    "second file for a subband already present; ignored");
                return Ok(RegisterOutcome::DuplicateSubband {
                    group_id: gid,
                    subband,
                    existing_path: PathBuf::from(existing_path),
                });
            }
            let expected = expected_or_default(target.expected);
            if subband.get() >= expected {
                return Err(subband_out_of_range(subband, &gid, expected));
            }
            self.insert_file(tx, OP, &gid, subband, &path_str, now)?;
            tx.execute(
                "UPDATE processing_queue SET last_update = ?2 WHERE group_id = ?1",
                params![gid.as_str(), now],
            )
            .at(self, OP)?;
            let present = self.present_subbands(tx, OP, &gid)?;
            let n = present.len() as u32;
            let mut state = target.state;
            if state == GroupState::Collecting && n >= u32::from(expected) {
                self.mark_pending(tx, OP, &gid, now)?;
                state = GroupState::Pending;
            } else if state == GroupState::Pending
                && target.error.is_none()
                && target
                    .error_message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("partial group:"))
            {
                let missing = missing_of(&present, expected);
                let msg = (!missing.is_empty()).then(|| partial_group_message(&missing));
                tx.execute(
                    "UPDATE processing_queue SET error_message = ?2 WHERE group_id = ?1",
                    params![gid.as_str(), msg],
                )
                .at(self, OP)?;
            }
            Ok(RegisterOutcome::Added {
                group_id: gid,
                created: false,
                n_subbands: n,
                state,
            })
        })
    }

    fn nearest_group(
        &self,
        tx: &Connection,
        op: &'static str,
        own_id: &GroupId,
        obs_unix_s: f64,
        tol: f64,
    ) -> Result<Option<Candidate>> {
        let lo = GroupId::from_whole_seconds((obs_unix_s - tol).floor() as i64);
        let hi = GroupId::from_whole_seconds((obs_unix_s + tol).ceil() as i64);
        let mut stmt = tx
            .prepare_cached(
                "SELECT group_id, state, expected_subbands, error, error_message FROM processing_queue \
                 WHERE group_id BETWEEN ?1 AND ?2 ORDER BY group_id",
            )
            .at(self, op)?;
        let rows = stmt
            .query_map(params![lo.as_str(), hi.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .at(self, op)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .at(self, op)?;
        let mut best: Option<(f64, Candidate)> = None;
        for (gid, st, expected, error, error_message) in rows {
            let (Ok(group_id), Ok(state)) = (GroupId::parse(&gid), st.parse::<GroupState>()) else {
                tracing::warn!(group_id = %gid, state = %st, "skipping malformed processing_queue row");
                continue;
            };
            let dist = (group_id.unix_s() - obs_unix_s).abs();
            let within = dist <= tol || group_id == *own_id;
            if within && best.as_ref().is_none_or(|(d, _)| dist < *d) {
                best = Some((
                    dist,
                    Candidate {
                        group_id,
                        state,
                        expected,
                        error,
                        error_message,
                    },
                ));
            }
        }
        Ok(best.map(|(_, c)| c))
    }

    fn insert_file(
        &self,
        tx: &Connection,
        op: &'static str,
        gid: &GroupId,
        subband: SubbandIdx,
        path: &str,
        now: f64,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO subband_files (group_id, subband_idx, path, registered_at) VALUES (?1, ?2, ?3, ?4)",
            params![gid.as_str(), subband.get(), path, now],
        )
        .at(self, op)?;
        Ok(())
    }

    fn mark_pending(
        &self,
        tx: &Connection,
        op: &'static str,
        gid: &GroupId,
        now: f64,
    ) -> Result<()> {
        tx.execute(
            "UPDATE processing_queue SET state = 'pending', processing_stage = ?2, last_update = ?3 \
             WHERE group_id = ?1",
            params![gid.as_str(), STAGE_QUEUED, now],
        )
        .at(self, op)?;
        tracing::info!(group_id = %gid, "group complete, now pending");
        Ok(())
    }

    fn present_subbands(
        &self,
        tx: &Connection,
        op: &'static str,
        gid: &GroupId,
    ) -> Result<Vec<SubbandIdx>> {
        Ok(self
            .files_of(tx, op, gid)?
            .into_iter()
            .map(|f| f.subband)
            .collect())
    }

    fn files_of(
        &self,
        tx: &Connection,
        op: &'static str,
        gid: &GroupId,
    ) -> Result<Vec<SubbandFile>> {
        let mut stmt = tx
            .prepare_cached(
                "SELECT subband_idx, path FROM subband_files WHERE group_id = ?1 ORDER BY subband_idx",
            )
            .at(self, op)?;
        let rows = stmt
            .query_map([gid.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .at(self, op)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .at(self, op)?;
        rows.into_iter()
            .map(|(sb, path)| {
                Ok(SubbandFile {
                    subband: SubbandIdx::from_i64(sb)?,
                    path: PathBuf::from(path),
                })
            })
            .collect()
    }

    /// Whether `path` is recorded as invalid with exactly this size and
    /// modification time (so it need not be validated again).
    pub fn invalid_file_unchanged(
        &self,
        path: impl AsRef<Path>,
        file_size_bytes: u64,
        modified_time: f64,
    ) -> Result<bool> {
        const OP: &str = "invalid_file_unchanged";
        let p = path_text(path.as_ref())?;
        let size = u64_to_i64("file size", file_size_bytes)?;
        self.read(OP, |tx| {
            let row = tx
                .query_row(
                    "SELECT file_size_bytes, modified_time FROM invalid_files WHERE path = ?1",
                    [&p],
                    |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<f64>>(1)?)),
                )
                .optional()
                .at(self, OP)?;
            Ok(matches!(row, Some((Some(s), Some(m))) if s == size && m == modified_time))
        })
    }

    /// Records (or updates) a file that failed validation.
    pub fn record_invalid_file(
        &self,
        path: impl AsRef<Path>,
        file_size_bytes: u64,
        modified_time: f64,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        const OP: &str = "record_invalid_file";
        let p = path_text(path.as_ref())?;
        let size = u64_to_i64("file size", file_size_bytes)?;
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO invalid_files (path, file_size_bytes, modified_time, reason, checked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(path) DO UPDATE SET \
                 file_size_bytes = excluded.file_size_bytes, modified_time = excluded.modified_time, \
                 reason = excluded.reason, checked_at = excluded.checked_at",
                params![p, size, modified_time, reason, now_unix_s],
            )
            .at(self, OP)?;
            Ok(())
        })
    }

    /// The reason `path` is recorded as invalid, if it is (whatever its size
    /// and modification time now). Workers check this before opening a
    /// group's files, so a file that crashed the validator is never opened
    /// in-process.
    pub fn invalid_reason(&self, path: impl AsRef<Path>) -> Result<Option<String>> {
        const OP: &str = "invalid_reason";
        let p = path_text(path.as_ref())?;
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT reason FROM invalid_files WHERE path = ?1",
                [&p],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .at(self, OP)
            .map(|r| r.map(|reason| reason.unwrap_or_else(|| "invalid".to_owned())))
        })
    }

    /// Forgets an invalid file (e.g. it validated after changing). Returns
    /// whether it was recorded.
    pub fn clear_invalid_file(&self, path: impl AsRef<Path>) -> Result<bool> {
        const OP: &str = "clear_invalid_file";
        let p = path_text(path.as_ref())?;
        self.write(OP, |tx| {
            let n = tx
                .execute("DELETE FROM invalid_files WHERE path = ?1", [&p])
                .at(self, OP)?;
            Ok(n > 0)
        })
    }

    // --------------------------------------------------------------- workers

    /// Atomically takes the oldest (by `group_id`) `pending` group whose
    /// backoff has elapsed, marking it `in_progress` under `owner`
    /// (conventionally `host:pid`). Safe across threads and processes: the
    /// conditional `UPDATE … WHERE state='pending' … RETURNING` runs under
    /// `BEGIN IMMEDIATE`, so exactly one caller gets each group.
    pub fn acquire_next(&self, owner: &str, now_unix_s: f64) -> Result<Option<AcquiredGroup>> {
        const OP: &str = "acquire_next";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let row = tx
                .query_row(
                    "UPDATE processing_queue SET state = 'in_progress', owner = ?1, processing_stage = ?3, \
                     started_at = ?2, last_update = ?2, finished_at = NULL \
                     WHERE state = 'pending' AND group_id = ( \
                         SELECT group_id FROM processing_queue WHERE state = 'pending' \
                         AND (next_attempt_at IS NULL OR next_attempt_at <= ?2) \
                         ORDER BY group_id LIMIT 1) \
                     RETURNING group_id, retry_count, expected_subbands",
                    params![owner, now, STAGE_ACQUIRED],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                        ))
                    },
                )
                .optional()
                .at(self, OP)?;
            let Some((gid, retry_count, expected)) = row else {
                return Ok(None);
            };
            let group_id = GroupId::parse(&gid)?;
            let files = self.files_of(tx, OP, &group_id)?;
            let expected = expected_or_default(expected);
            let present: Vec<SubbandIdx> = files.iter().map(|f| f.subband).collect();
            let missing = missing_of(&present, expected);
            tracing::info!(group_id = %group_id, owner, retry_count, n_files = files.len(), "group acquired");
            Ok(Some(AcquiredGroup {
                group_id,
                retry_count: i64_to_u32(retry_count),
                expected_subbands: expected,
                files,
                missing,
            }))
        })
    }

    /// Checks that `owner` holds `group` (`in_progress`, same owner).
    fn check_held(
        &self,
        tx: &Connection,
        op: &'static str,
        group: &GroupId,
        owner: &str,
    ) -> Result<(u32, Option<String>)> {
        let row = tx
            .query_row(
                "SELECT state, owner, retry_count, processing_stage FROM processing_queue WHERE group_id = ?1",
                [group.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()
            .at(self, op)?;
        let Some((state, held_by, retry_count, stage)) = row else {
            return Err(QueueError::UnknownGroup(group.to_string()));
        };
        if state != GroupState::InProgress.as_str() || held_by.as_deref() != Some(owner) {
            return Err(QueueError::NotOwner {
                group: group.to_string(),
                owner: owner.to_owned(),
                state,
                held_by,
            });
        }
        Ok((i64_to_u32(retry_count), stage))
    }

    /// Records that `owner` is still working on `group` (`last_update = now`).
    pub fn heartbeat(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        const OP: &str = "heartbeat";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            self.check_held(tx, OP, group, owner)?;
            tx.execute(
                "UPDATE processing_queue SET last_update = ?2 WHERE group_id = ?1",
                params![group.as_str(), now],
            )
            .at(self, OP)?;
            Ok(())
        })
    }

    /// Sets `processing_stage` of an `in_progress` group (also a heartbeat).
    pub fn set_stage(&self, group: &GroupId, stage: &str, now_unix_s: f64) -> Result<()> {
        const OP: &str = "set_stage";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let state = tx
                .query_row(
                    "SELECT state FROM processing_queue WHERE group_id = ?1",
                    [group.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .at(self, OP)?
                .ok_or_else(|| QueueError::UnknownGroup(group.to_string()))?;
            if state != GroupState::InProgress.as_str() {
                return Err(QueueError::WrongState {
                    group: group.to_string(),
                    state,
                    op: "set the stage of a group not in_progress",
                });
            }
            tx.execute(
                "UPDATE processing_queue SET processing_stage = ?2, last_update = ?3 WHERE group_id = ?1",
                params![group.as_str(), stage, now],
            )
            .at(self, OP)?;
            Ok(())
        })
    }

    /// Marks a held group `completed` and clears its error.
    pub fn complete(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        const OP: &str = "complete";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            self.check_held(tx, OP, group, owner)?;
            self.complete_in(tx, OP, group, now)
        })
    }

    /// The update of [`SqliteBackend::complete`] inside a caller's transaction
    /// (ownership already checked).
    pub(crate) fn complete_in(
        &self,
        tx: &Connection,
        op: &'static str,
        group: &GroupId,
        now: f64,
    ) -> Result<()> {
        tx.execute(
            "UPDATE processing_queue SET state = 'completed', error = NULL, error_message = NULL, \
             owner = NULL, processing_stage = ?3, finished_at = ?2, last_update = ?2, \
             next_attempt_at = NULL WHERE group_id = ?1",
            params![group.as_str(), now, STAGE_DONE],
        )
        .at(self, op)?;
        tracing::info!(group_id = %group, "group completed");
        Ok(())
    }

    /// Reports a failure of a held group. If `failure.retryable` and
    /// `retry_count < policy.retry_limit`, the group goes back to `pending`
    /// with `retry_count + 1`, not to be taken before
    /// `now + policy.backoff_for(retry_count)`; otherwise it becomes `failed`.
    /// Either way `error` and `error_message` are kept for operators.
    pub fn fail(
        &self,
        group: &GroupId,
        owner: &str,
        failure: &Failure<'_>,
        policy: &RetryPolicy,
        now_unix_s: f64,
    ) -> Result<FailOutcome> {
        const OP: &str = "fail";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            self.fail_in(tx, OP, group, owner, failure, policy, now)
        })
    }

    /// The retry-or-fail of [`SqliteBackend::fail`] inside a caller's
    /// transaction (checks ownership).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fail_in(
        &self,
        tx: &Connection,
        op: &'static str,
        group: &GroupId,
        owner: &str,
        failure: &Failure<'_>,
        policy: &RetryPolicy,
        now: f64,
    ) -> Result<FailOutcome> {
        let (retry_count, _) = self.check_held(tx, op, group, owner)?;
        if failure.retryable && retry_count < policy.retry_limit {
            let next_attempt_at = now + policy.backoff_for(retry_count);
            let new_count = retry_count + 1;
            tx.execute(
                "UPDATE processing_queue SET state = 'pending', retry_count = ?2, next_attempt_at = ?3, \
                 error = ?4 || ': ' || ?5, error_message = ?5, owner = NULL, processing_stage = ?6, last_update = ?7 \
                 WHERE group_id = ?1",
                params![group.as_str(), new_count, next_attempt_at, failure.error, failure.message, STAGE_QUEUED, now],
            )
            .at(self, op)?;
            tracing::warn!(group_id = %group, retry_count = new_count, error = failure.error,
                message = failure.message, "group failed, will retry");
            Ok(FailOutcome::Retrying {
                retry_count: new_count,
                next_attempt_at,
            })
        } else {
            tx.execute(
                "UPDATE processing_queue SET state = 'failed', error = ?2 || ': ' || ?3, error_message = ?3, \
                 owner = NULL, finished_at = ?4, last_update = ?4, next_attempt_at = NULL \
                 WHERE group_id = ?1",
                params![group.as_str(), failure.error, failure.message, now],
            )
            .at(self, op)?;
            tracing::error!(group_id = %group, retry_count, error = failure.error,
                message = failure.message, "group failed");
            Ok(FailOutcome::Failed { retry_count })
        }
    }

    /// Gives a held group back (`pending`) without counting a retry, e.g. on
    /// graceful shutdown.
    pub fn release(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        const OP: &str = "release";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            self.check_held(tx, OP, group, owner)?;
            tx.execute(
                "UPDATE processing_queue SET state = 'pending', owner = NULL, processing_stage = ?3, \
                 last_update = ?2, next_attempt_at = NULL WHERE group_id = ?1",
                params![group.as_str(), now, STAGE_QUEUED],
            )
            .at(self, OP)?;
            tx.execute(
                "UPDATE group_stages SET status = 'pending', owner = NULL \
                 WHERE group_id = ?1 AND status = 'running'",
                [group.as_str()],
            )
            .at(self, OP)?;
            tracing::info!(group_id = %group, owner, "group released");
            Ok(())
        })
    }

    /// Takes back `in_progress` groups whose owner is dead (per
    /// `is_owner_alive`) or whose `last_update` is more than `stale_after_s`
    /// old. Each goes back to `pending` with `retry_count + 1` and an
    /// `error_message` saying which worker stopped in which stage, or to
    /// `failed` if `retry_count` already equals `retry_limit`.
    ///
    /// Groups with no recorded owner (written by another tool) are recovered
    /// only by the timeout.
    pub fn recover_stale(
        &self,
        is_owner_alive: impl Fn(&str) -> bool,
        stale_after_s: f64,
        retry_limit: u32,
        now_unix_s: f64,
    ) -> Result<Vec<Recovered>> {
        const OP: &str = "recover_stale";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT group_id, owner, last_update, retry_count, processing_stage \
                     FROM processing_queue WHERE state = 'in_progress' ORDER BY group_id",
                )
                .at(self, OP)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, f64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            let mut out = Vec::new();
            for (gid, owner, last_update, retry_count, stage) in rows {
                let reason = match owner.as_deref() {
                    Some(o) if !is_owner_alive(o) => StaleReason::OwnerDead,
                    _ if now - last_update > stale_after_s => StaleReason::NoHeartbeat,
                    _ => continue,
                };
                let group_id = GroupId::parse(&gid)?;
                let retry_count = i64_to_u32(retry_count);
                let who = owner.as_deref().unwrap_or("(unknown)");
                let where_ = stage.as_deref().unwrap_or("unknown");
                let why = match reason {
                    StaleReason::OwnerDead => String::new(),
                    StaleReason::NoHeartbeat => {
                        format!(": no heartbeat for {:.0} s", now - last_update)
                    }
                };
                let (new_state, new_count, message) = if retry_count < retry_limit {
                    (
                        GroupState::Pending,
                        retry_count + 1,
                        format!("recovered after worker {who} stopped while processing (stage {where_}){why}"),
                    )
                } else {
                    (
                        GroupState::Failed,
                        retry_count,
                        format!(
                            "worker {who} stopped while processing (stage {where_}){why}; \
                             retry limit {retry_limit} reached"
                        ),
                    )
                };
                tx.execute(
                    "UPDATE processing_queue SET state = ?2, retry_count = ?3, error = ?4 || ': ' || ?5, error_message = ?5, \
                     owner = NULL, last_update = ?6, next_attempt_at = NULL, \
                     finished_at = CASE WHEN ?2 = 'failed' THEN ?6 ELSE NULL END, \
                     processing_stage = CASE WHEN ?2 = 'pending' THEN ?7 ELSE processing_stage END \
                     WHERE group_id = ?1",
                    params![gid, new_state.as_str(), new_count, ERROR_WORKER_LOST, message, now, STAGE_QUEUED],
                )
                .at(self, OP)?;
                tx.execute(
                    "UPDATE group_stages SET status = 'failed', error = ?2 || ': ' || ?3, finished_at = ?4 \
                     WHERE group_id = ?1 AND status = 'running'",
                    params![gid, ERROR_WORKER_LOST, message, now],
                )
                .at(self, OP)?;
                tracing::warn!(group_id = %group_id, owner = who, stage = where_, new_state = %new_state,
                    "{message}");
                out.push(Recovered {
                    group_id,
                    owner,
                    stage,
                    reason,
                    new_state,
                    retry_count: new_count,
                });
            }
            Ok(out)
        })
    }

    /// Ends the wait of `collecting` groups whose first file arrived at least
    /// `timeout_s` ago: with at least `min_subbands` subbands a group becomes
    /// `pending` (error NULL, `error_message` "partial group: missing sb03,
    /// sb07"), otherwise `failed` with error `incomplete_group` and a message
    /// naming the count and the missing subbands.
    pub fn promote_partial(
        &self,
        timeout_s: f64,
        min_subbands: u8,
        now_unix_s: f64,
    ) -> Result<Vec<PartialOutcome>> {
        const OP: &str = "promote_partial";
        let now = finite("now_unix_s", now_unix_s)?;
        let timeout_s = finite("timeout_s", timeout_s)?;
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT group_id, expected_subbands FROM processing_queue \
                     WHERE state = 'collecting' AND received_at <= ?1 ORDER BY group_id",
                )
                .at(self, OP)?;
            let rows = stmt
                .query_map([now - timeout_s], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
                })
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            let mut out = Vec::new();
            for (gid, expected) in rows {
                let group_id = GroupId::parse(&gid)?;
                let expected = expected_or_default(expected);
                let present = self.present_subbands(tx, OP, &group_id)?;
                let missing = missing_of(&present, expected);
                let new_state = if present.len() >= usize::from(min_subbands) {
                    tx.execute(
                        "UPDATE processing_queue SET state = 'pending', error = NULL, error_message = ?2, \
                         processing_stage = ?3, last_update = ?4 WHERE group_id = ?1",
                        params![gid, partial_group_message(&missing), STAGE_QUEUED, now],
                    )
                    .at(self, OP)?;
                    tracing::warn!(group_id = %group_id, missing = %subband_list(&missing),
                        "collecting timed out; processing partial group");
                    GroupState::Pending
                } else {
                    let message = format!(
                        "incomplete group: only {} of {} subbands arrived within {:.0} s (minimum {}); missing {}",
                        present.len(),
                        expected,
                        timeout_s,
                        min_subbands,
                        subband_list(&missing)
                    );
                    tx.execute(
                        "UPDATE processing_queue SET state = 'failed', error = ?2 || ': ' || ?3, error_message = ?3, \
                         finished_at = ?4, last_update = ?4 WHERE group_id = ?1",
                        params![gid, ERROR_INCOMPLETE_GROUP, message, now],
                    )
                    .at(self, OP)?;
                    tracing::error!(group_id = %group_id, "{message}");
                    GroupState::Failed
                };
                out.push(PartialOutcome {
                    group_id,
                    present,
                    missing,
                    new_state,
                });
            }
            Ok(out)
        })
    }

    /// Asks for a `failed` or `completed` group to be converted again: it
    /// becomes `pending` with retry count, error and backoff reset. A
    /// `pending` group is left as is; `collecting` and `in_progress` groups
    /// give [`QueueError::WrongState`], unknown ids [`QueueError::UnknownGroup`].
    pub fn enqueue_group_for_conversion(
        &self,
        group: &GroupId,
        now_unix_s: f64,
    ) -> Result<EnqueueOutcome> {
        const OP: &str = "enqueue_group_for_conversion";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let state: GroupState = tx
                .query_row(
                    "SELECT state FROM processing_queue WHERE group_id = ?1",
                    [group.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .at(self, OP)?
                .ok_or_else(|| QueueError::UnknownGroup(group.to_string()))?
                .parse()?;
            match state {
                GroupState::Pending => Ok(EnqueueOutcome::AlreadyPending),
                GroupState::Collecting | GroupState::InProgress => Err(QueueError::WrongState {
                    group: group.to_string(),
                    state: state.as_str().to_owned(),
                    op: "enqueue for conversion",
                }),
                GroupState::Failed | GroupState::Completed => {
                    tx.execute(
                        "UPDATE processing_queue SET state = 'pending', retry_count = 0, error = NULL, \
                         error_message = NULL, owner = NULL, next_attempt_at = NULL, finished_at = NULL, \
                         processing_stage = ?3, last_update = ?2 WHERE group_id = ?1",
                        params![group.as_str(), now, STAGE_QUEUED],
                    )
                    .at(self, OP)?;
                    // "Convert again": every stage runs again.
                    tx.execute(
                        "UPDATE group_stages SET status = 'pending', error = NULL, started_at = NULL, \
                         finished_at = NULL, duration_s = NULL, owner = NULL WHERE group_id = ?1",
                        [group.as_str()],
                    )
                    .at(self, OP)?;
                    tracing::info!(group_id = %group, previous = %state, "group re-queued for conversion");
                    Ok(EnqueueOutcome::Requeued { previous: state })
                }
            }
        })
    }

    /// Stores the worker's checkpoint path for a group (`None` clears it).
    pub fn set_checkpoint_path(&self, group: &GroupId, checkpoint: Option<&Path>) -> Result<()> {
        const OP: &str = "set_checkpoint_path";
        let text = checkpoint.map(path_text).transpose()?;
        self.update_group(OP, group, "checkpoint_path = ?2", &[&text])
    }

    /// Stores calibrator information for a group.
    pub fn set_calibrators(
        &self,
        group: &GroupId,
        has_calibrator: bool,
        calibrators: Option<&str>,
    ) -> Result<()> {
        const OP: &str = "set_calibrators";
        self.update_group(
            OP,
            group,
            "has_calibrator = ?2, calibrators = ?3",
            &[&has_calibrator, &calibrators],
        )
    }

    /// Records the subband files a group is processed without (`None` clears it).
    pub fn set_excluded_files(&self, group: &GroupId, excluded: Option<&str>) -> Result<()> {
        const OP: &str = "set_excluded_files";
        self.update_group(OP, group, "excluded_files = ?2", &[&excluded])
    }

    /// Stores the chunk length of a group, minutes.
    pub fn set_chunk_minutes(&self, group: &GroupId, chunk_minutes: f64) -> Result<()> {
        const OP: &str = "set_chunk_minutes";
        let v = finite("chunk_minutes", chunk_minutes)?;
        self.update_group(OP, group, "chunk_minutes = ?2", &[&v])
    }

    fn update_group(
        &self,
        op: &'static str,
        group: &GroupId,
        set: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<()> {
        self.write(op, |tx| {
            let gid = group.as_str();
            let mut all: Vec<&dyn rusqlite::ToSql> = vec![&gid];
            all.extend_from_slice(values);
            let n = tx
                .execute(
                    &format!("UPDATE processing_queue SET {set} WHERE group_id = ?1"),
                    all.as_slice(),
                )
                .at(self, op)?;
            if n == 0 {
                return Err(QueueError::UnknownGroup(group.to_string()));
            }
            Ok(())
        })
    }

    // --------------------------------------------------------------- queries

    /// Number of groups in each state; all five states are present. Read from
    /// `queue_state_counts`, which triggers keep equal to
    /// `SELECT state, COUNT(*) FROM processing_queue GROUP BY state` (schema v4).
    pub fn counts_by_state(&self) -> Result<BTreeMap<GroupState, u64>> {
        const OP: &str = "counts_by_state";
        self.read(OP, |tx| {
            let mut out: BTreeMap<GroupState, u64> =
                GroupState::ALL.into_iter().map(|s| (s, 0)).collect();
            let mut stmt = tx
                .prepare_cached("SELECT state, n FROM queue_state_counts WHERE n <> 0")
                .at(self, OP)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            for (state, n) in rows {
                match state.parse::<GroupState>() {
                    Ok(s) => *out.entry(s).or_default() += u64::try_from(n).unwrap_or(0),
                    Err(_) => tracing::warn!(state = %state, count = n, "unknown state in processing_queue"),
                }
            }
            Ok(out)
        })
    }

    /// One group, every column.
    pub fn group(&self, group: &GroupId) -> Result<Option<GroupRecord>> {
        const OP: &str = "group";
        self.read(OP, |tx| {
            tx.query_row(
                &format!("SELECT {GROUP_COLUMNS} FROM processing_queue WHERE group_id = ?1"),
                [group.as_str()],
                RawGroup::from_row,
            )
            .optional()
            .at(self, OP)?
            .map(RawGroup::parse)
            .transpose()
        })
    }

    /// A group's files ordered by subband; [`QueueError::UnknownGroup`] if the
    /// group does not exist.
    pub fn group_files(&self, group: &GroupId) -> Result<Vec<SubbandFile>> {
        const OP: &str = "group_files";
        self.read(OP, |tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM processing_queue WHERE group_id = ?1",
                    [group.as_str()],
                    |_| Ok(()),
                )
                .optional()
                .at(self, OP)?;
            if exists.is_none() {
                return Err(QueueError::UnknownGroup(group.to_string()));
            }
            self.files_of(tx, OP, group)
        })
    }

    /// A page of groups (optionally in one state), oldest `group_id` first,
    /// and the total number matching.
    pub fn list_groups(
        &self,
        state: Option<GroupState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)> {
        const OP: &str = "list_groups";
        let filter = state.map(GroupState::as_str);
        self.read(OP, |tx| {
            let total = api::count_in_state(self, tx, OP, filter)?;
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {GROUP_COLUMNS} FROM processing_queue WHERE ?1 IS NULL OR state = ?1 \
                     ORDER BY group_id LIMIT ?2 OFFSET ?3"
                ))
                .at(self, OP)?;
            let rows = stmt
                .query_map(params![filter, limit, offset], RawGroup::from_row)
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            let groups = rows
                .into_iter()
                .map(RawGroup::parse)
                .collect::<Result<Vec<_>>>()?;
            Ok((groups, total))
        })
    }

    /// Every late file, oldest arrival first.
    pub fn late_files(&self) -> Result<Vec<LateFile>> {
        const OP: &str = "late_files";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT path, group_id, subband_idx, group_state, received_at FROM late_files \
                     ORDER BY received_at, path",
                )
                .at(self, OP)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, f64>(4)?,
                    ))
                })
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            rows.into_iter()
                .map(|(path, gid, sb, st, received_at)| {
                    Ok(LateFile {
                        path: PathBuf::from(path),
                        group_id: GroupId::parse(&gid)?,
                        subband: SubbandIdx::from_i64(sb)?,
                        group_state: st.parse()?,
                        received_at,
                    })
                })
                .collect()
        })
    }

    /// Seconds since the first file of the longest-waiting `pending` group
    /// arrived (`now − min(received_at)`), or `None` if nothing is pending.
    pub fn oldest_pending_age_s(&self, now_unix_s: f64) -> Result<Option<f64>> {
        const OP: &str = "oldest_pending_age_s";
        self.read(OP, |tx| {
            let oldest: Option<f64> = tx
                .query_row(
                    "SELECT MIN(received_at) FROM processing_queue WHERE state = 'pending'",
                    [],
                    |r| r.get(0),
                )
                .at(self, OP)?;
            Ok(oldest.map(|t| now_unix_s - t))
        })
    }

    // ------------------------------------------------------------- recording

    /// Inserts or replaces a group's conversion timings.
    pub fn record_performance(&self, rec: &PerformanceRecord) -> Result<()> {
        const OP: &str = "record_performance";
        self.write(OP, |tx| self.record_performance_in(tx, OP, rec))
    }

    pub(crate) fn record_performance_in(
        &self,
        tx: &Connection,
        op: &'static str,
        rec: &PerformanceRecord,
    ) -> Result<()> {
        tx.execute(
                "INSERT INTO performance_metrics \
                 (group_id, load_time, phase_time, write_time, total_time, writer_type, recorded_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(group_id) DO UPDATE SET \
                 load_time = excluded.load_time, phase_time = excluded.phase_time, \
                 write_time = excluded.write_time, total_time = excluded.total_time, \
                 writer_type = excluded.writer_type, recorded_at = excluded.recorded_at",
                params![
                    rec.group_id.as_str(),
                    rec.load_time_s,
                    rec.phase_time_s,
                    rec.write_time_s,
                    rec.total_time_s,
                    rec.writer_type,
                    rec.recorded_at
                ],
            )
            .at(self, op)?;
        Ok(())
    }

    /// A group's conversion timings, if recorded.
    pub fn performance(&self, group: &GroupId) -> Result<Option<PerformanceRecord>> {
        const OP: &str = "performance";
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT load_time, phase_time, write_time, total_time, writer_type, recorded_at \
                 FROM performance_metrics WHERE group_id = ?1",
                [group.as_str()],
                |r| {
                    Ok(PerformanceRecord {
                        group_id: group.clone(),
                        load_time_s: r.get(0)?,
                        phase_time_s: r.get(1)?,
                        write_time_s: r.get(2)?,
                        total_time_s: r.get(3)?,
                        writer_type: r.get(4)?,
                        recorded_at: r.get(5)?,
                    })
                },
            )
            .optional()
            .at(self, OP)
        })
    }

    /// Inserts or replaces one raw file in the `hdf5_files` index.
    pub fn record_hdf5_file(&self, rec: &Hdf5FileRecord) -> Result<()> {
        const OP: &str = "record_hdf5_file";
        let path = path_text(&rec.path)?;
        let size = rec
            .file_size_bytes
            .map(|v| u64_to_i64("file size", v))
            .transpose()?;
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO hdf5_files (path, filename, group_id, subband_code, subband_num, \
                 timestamp_iso, timestamp_mjd, file_size_bytes, modified_time, indexed_at, stored, \
                 ra_deg, dec_deg, obs_date, obs_time) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT(path) DO UPDATE SET filename = excluded.filename, \
                 group_id = excluded.group_id, subband_code = excluded.subband_code, \
                 subband_num = excluded.subband_num, timestamp_iso = excluded.timestamp_iso, \
                 timestamp_mjd = excluded.timestamp_mjd, file_size_bytes = excluded.file_size_bytes, \
                 modified_time = excluded.modified_time, indexed_at = excluded.indexed_at, \
                 stored = excluded.stored, ra_deg = excluded.ra_deg, dec_deg = excluded.dec_deg, \
                 obs_date = excluded.obs_date, obs_time = excluded.obs_time",
                params![
                    path,
                    rec.filename,
                    rec.group_id.as_ref().map(GroupId::as_str),
                    rec.subband.map(SubbandIdx::code),
                    rec.subband.map(SubbandIdx::get),
                    rec.timestamp_iso,
                    rec.timestamp_mjd,
                    size,
                    rec.modified_time,
                    rec.indexed_at,
                    rec.stored,
                    rec.ra_deg,
                    rec.dec_deg,
                    rec.obs_date,
                    rec.obs_time
                ],
            )
            .at(self, OP)?;
            Ok(())
        })
    }

    /// Inserts or replaces one Measurement Set in `ms_index` (its
    /// `cal_applied`, `stage` and `stage_status` are kept).
    pub fn record_ms(&self, rec: &MsRecord) -> Result<()> {
        const OP: &str = "record_ms";
        self.write(OP, |tx| self.record_ms_in(tx, OP, rec))
    }

    pub(crate) fn record_ms_in(
        &self,
        tx: &Connection,
        op: &'static str,
        rec: &MsRecord,
    ) -> Result<()> {
        let path = path_text(&rec.path)?;
        let n_rows = rec.n_rows.map(|v| u64_to_i64("n_rows", v)).transpose()?;
        let size = rec
            .size_bytes
            .map(|v| u64_to_i64("size_bytes", v))
            .transpose()?;

        tx.execute(
                "INSERT INTO ms_index (path, group_id, created_at, start_mjd, end_mjd, mid_mjd, \
                 ra_deg, dec_deg, n_spw, n_rows, n_missing_subbands, size_bytes, status) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT(path) DO UPDATE SET group_id = excluded.group_id, \
                 created_at = excluded.created_at, start_mjd = excluded.start_mjd, \
                 end_mjd = excluded.end_mjd, mid_mjd = excluded.mid_mjd, ra_deg = excluded.ra_deg, \
                 dec_deg = excluded.dec_deg, n_spw = excluded.n_spw, n_rows = excluded.n_rows, \
                 n_missing_subbands = excluded.n_missing_subbands, size_bytes = excluded.size_bytes, \
                 status = excluded.status",
                params![
                    path,
                    rec.group_id.as_str(),
                    rec.created_at,
                    rec.start_mjd,
                    rec.end_mjd,
                    rec.mid_mjd,
                    rec.ra_deg,
                    rec.dec_deg,
                    rec.n_spw,
                    n_rows,
                    rec.n_missing_subbands,
                    size,
                    rec.status
                ],
            )
            .at(self, op)?;
        Ok(())
    }

    /// Measurement Sets recorded for a group.
    pub fn ms_for_group(&self, group: &GroupId) -> Result<Vec<MsRecord>> {
        const OP: &str = "ms_for_group";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT path, created_at, start_mjd, end_mjd, mid_mjd, ra_deg, dec_deg, n_spw, \
                     n_rows, n_missing_subbands, size_bytes, status FROM ms_index \
                     WHERE group_id = ?1 ORDER BY path",
                )
                .at(self, OP)?;
            let rows = stmt
                .query_map([group.as_str()], |r| {
                    Ok(MsRecord {
                        path: PathBuf::from(r.get::<_, String>(0)?),
                        group_id: group.clone(),
                        created_at: r.get(1)?,
                        start_mjd: r.get(2)?,
                        end_mjd: r.get(3)?,
                        mid_mjd: r.get(4)?,
                        ra_deg: r.get(5)?,
                        dec_deg: r.get(6)?,
                        n_spw: r.get::<_, Option<i64>>(7)?.map(i64_to_u32),
                        n_rows: r.get::<_, Option<i64>>(8)?.map(|v| v.max(0) as u64),
                        n_missing_subbands: r.get::<_, Option<i64>>(9)?.map(i64_to_u32),
                        size_bytes: r.get::<_, Option<i64>>(10)?.map(|v| v.max(0) as u64),
                        status: r.get(11)?,
                    })
                })
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            Ok(rows)
        })
    }
}

fn subband_out_of_range(subband: SubbandIdx, group: &GroupId, expected: u8) -> QueueError {
    QueueError::InvalidInput {
        what: "subband index (beyond the group's expected_subbands)",
        value: format!("{subband} for group {group} expecting {expected} subbands"),
    }
}

fn validate_options(o: &QueueOptions) -> Result<()> {
    if !o.cluster_tolerance_s.is_finite() || o.cluster_tolerance_s < 0.0 {
        return Err(QueueError::InvalidInput {
            what: "cluster_tolerance_s",
            value: o.cluster_tolerance_s.to_string(),
        });
    }
    if o.pool_size == 0 {
        return Err(QueueError::InvalidInput {
            what: "pool_size",
            value: "0".into(),
        });
    }
    Ok(())
}

fn read_only_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

fn build_pool(
    path: &Path,
    options: &QueueOptions,
    read_only: bool,
) -> Result<Pool<SqliteConnectionManager>> {
    let init = options.clone();
    let mut manager = SqliteConnectionManager::file(path)
        .with_init(move |c| schema::init_connection(c, &init, read_only));
    if read_only {
        manager = manager.with_flags(read_only_flags());
    }
    Pool::builder()
        .max_size(options.pool_size)
        .min_idle(Some(0))
        .connection_timeout(options.pool_timeout)
        .build(manager)
        .map_err(|source| QueueError::Pool {
            path: path.to_path_buf(),
            source: from_pool(source),
        })
}

mod api;
mod registry;
mod stages;

#[cfg(test)]
mod tests;
