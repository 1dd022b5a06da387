//! The crate's single error type.

use std::path::PathBuf;

use rusqlite::ErrorCode;

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
        /// Underlying SQLite error.
        #[source]
        source: rusqlite::Error,
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
        /// Underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// No pooled connection became available in time.
    #[error("queue database {path}: no connection available: {source}", path = path.display())]
    Pool {
        /// Database file.
        path: PathBuf,
        /// Underlying pool error.
        #[source]
        source: r2d2::Error,
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
}

impl QueueError {
    /// Whether retrying the same operation later can succeed: true when the
    /// database was busy or locked by another process (longer than the busy
    /// timeout) or no pooled connection was free in time.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Open { source, .. } | QueueError::Sqlite { source, .. } => is_busy(source),
            QueueError::Pool { .. } => true,
            _ => false,
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Shorthand for this crate's results.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

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
            source,
        };
        assert!(mk(busy).is_retryable());
        assert!(mk(locked).is_retryable());
        let e = mk(constraint);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("/x/db.sqlite3"), "{e}");
        assert!(!QueueError::UnknownGroup("g".into()).is_retryable());
    }
}
