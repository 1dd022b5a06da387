//! The crate's single error type.

use std::fmt;
use std::path::PathBuf;

/// An error from the database layer, opaque so that no backend type
/// (rusqlite, r2d2, …) appears in the public API. It keeps the backend's
/// message and, for SQLite, the primary result code, which is what
/// [`QueueError::is_retryable`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    message: String,
    code: Option<i32>,
    busy: bool,
}

/// SQLite primary result codes this crate interprets.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_CONSTRAINT: i32 = 19;

impl DbError {
    /// An error with a message and an optional SQLite primary result code.
    /// `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6) count as busy.
    pub fn new(message: impl Into<String>, code: Option<i32>) -> Self {
        let busy = matches!(code, Some(SQLITE_BUSY | SQLITE_LOCKED));
        DbError {
            message: message.into(),
            code,
            busy,
        }
    }

    /// A "no connection available in time" error (always busy).
    pub fn pool_timeout(message: impl Into<String>) -> Self {
        DbError {
            message: message.into(),
            code: None,
            busy: true,
        }
    }

    /// The SQLite primary result code (`SQLITE_BUSY` = 5, …), if the error
    /// came from SQLite.
    pub fn code(&self) -> Option<i32> {
        self.code
    }

    /// Whether the database (or the connection pool) was busy: retrying later can succeed.
    pub fn is_busy(&self) -> bool {
        self.busy
    }

    /// Whether a constraint (UNIQUE, NOT NULL, CHECK, foreign key) was violated.
    pub fn is_constraint(&self) -> bool {
        self.code == Some(SQLITE_CONSTRAINT)
    }

    /// The backend's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}

/// Conversion from rusqlite's error (crate-private so it stays out of the API).
pub(crate) fn from_sqlite(e: rusqlite::Error) -> DbError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code & 0xff),
        _ => None,
    };
    DbError::new(e.to_string(), code)
}

/// Conversion from r2d2's error: the pool timed out waiting for a connection.
pub(crate) fn from_pool(e: r2d2::Error) -> DbError {
    DbError::pool_timeout(e.to_string())
}

/// Everything that can go wrong in the queue.
///
/// Variants carry the database path or the group id they concern, so a message
/// printed at the top of a binary is enough for an operator to act on.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database file could not be opened or initialised (pragmas, schema).
    #[error("cannot open queue database {path}: {source}", path = path.display())]
    Open {
        /// Database file.
        path: PathBuf,
        /// Underlying database error.
        #[source]
        source: DbError,
    },
    /// A filesystem operation around the database failed (creating the parent
    /// directory, or the file is absent for a read-only open).
    #[error("queue database {path}: {what}: {source}", path = path.display())]
    Io {
        /// Path concerned.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database's schema version is not one this build understands.
    #[error(
        "queue database {path} has schema version {found}, this build supports {supported}{hint}",
        path = path.display(),
        hint = if *found == 0 { " (database not initialised: start the streaming daemon first)" } else { "" }
    )]
    Schema {
        /// Database file.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// Version this build writes.
        supported: i64,
    },
    /// An SQL statement failed.
    #[error("queue database {path}: {op} failed: {source}", path = path.display())]
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// The queue operation that was running (e.g. `acquire_next`).
        op: &'static str,
        /// Underlying database error.
        #[source]
        source: DbError,
    },
    /// No pooled connection became available in time.
    #[error("queue database {path}: no connection available: {source}", path = path.display())]
    Pool {
        /// Database file.
        path: PathBuf,
        /// Underlying pool error.
        #[source]
        source: DbError,
    },
    /// The group id is not in the queue.
    #[error("unknown group {0}")]
    UnknownGroup(String),
    /// The caller does not hold the group (it is not `in_progress` under this owner).
    #[error(
        "group {group} is not held by {owner} (state {state}, held by {})",
        held_by.as_deref().unwrap_or("nobody")
    )]
    NotOwner {
        /// Group id.
        group: String,
        /// Owner that asked.
        owner: String,
        /// The group's current state.
        state: String,
        /// The group's current owner, if any.
        held_by: Option<String>,
    },
    /// The group is in a state that does not allow the operation.
    #[error("group {group} is {state}: cannot {op}")]
    WrongState {
        /// Group id.
        group: String,
        /// The group's current state.
        state: String,
        /// What was attempted.
        op: &'static str,
    },
    /// A string is not a canonical `YYYY-MM-DDTHH:MM:SS` group id.
    #[error("invalid group id {0:?}: expected YYYY-MM-DDTHH:MM:SS")]
    InvalidGroupId(String),
    /// A string is not one of the five group states.
    #[error(
        "invalid group state {0:?}: expected collecting, pending, in_progress, completed or failed"
    )]
    InvalidState(String),
    /// An argument is out of range (subband index, non-finite time, …).
    #[error("invalid {what}: {value}")]
    InvalidInput {
        /// Which argument.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// A file path is not valid UTF-8 and cannot be stored as TEXT.
    #[error("path {} is not valid UTF-8", .0.display())]
    NonUtf8Path(PathBuf),
    /// A registry entry (job, calibration set, mosaic, Measurement Set, …) does not exist.
    #[error("unknown {what} {key}")]
    NotFound {
        /// Kind of entry (`job`, `calibration set`, …).
        what: &'static str,
        /// Its key (id, name or path).
        key: String,
    },
    /// A registry entry is in a status that does not allow the operation.
    #[error("{what} {key} is {status}: cannot {op}")]
    WrongStatus {
        /// Kind of entry.
        what: &'static str,
        /// Its key.
        key: String,
        /// Its current status.
        status: String,
        /// What was attempted.
        op: &'static str,
    },
    /// A stored value cannot be parsed (written by another tool or corrupted).
    #[error("table {table}, row {key}: {detail}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Row key.
        key: String,
        /// What is wrong.
        detail: String,
    },
}

impl QueueError {
    /// Whether retrying the same operation later can succeed: true when the
    /// database was busy or locked by another process (longer than the busy
    /// timeout) or no pooled connection was free in time.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Open { source, .. }
            | QueueError::Sqlite { source, .. }
            | QueueError::Pool { source, .. } => source.is_busy(),
            _ => false,
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Shorthand for this crate's results.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

impl From<dsa110_astro::IdError> for QueueError {
    fn from(e: dsa110_astro::IdError) -> Self {
        match e {
            dsa110_astro::IdError::InvalidGroupId(s) => QueueError::InvalidGroupId(s),
            dsa110_astro::IdError::InvalidInput { what, value } => {
                QueueError::InvalidInput { what, value }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_are_retryable_others_not() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_LOCKED),
            None,
        );
        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        );
        let mk = |source| QueueError::Sqlite {
            path: PathBuf::from("/x/db.sqlite3"),
            op: "test",
            source: from_sqlite(source),
        };
        assert!(mk(busy).is_retryable());
        assert!(mk(locked).is_retryable());
        let e = mk(constraint);
        assert!(!e.is_retryable());
        assert!(
            matches!(&e, QueueError::Sqlite { source, .. } if source.is_constraint() && source.code() == Some(19))
        );
        assert!(e.to_string().contains("/x/db.sqlite3"), "{e}");
        assert!(!QueueError::UnknownGroup("g".into()).is_retryable());
    }
}
