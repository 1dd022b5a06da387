//! The DSA-110 pipeline's queue: one SQLite file shared by the streaming
//! daemon, the fallback converter and the REST API.
//!
//! What it does:
//! * creates and migrates the schema (`PRAGMA user_version`) — the contract
//!   tables `processing_queue`, `subband_files`, `performance_metrics`,
//!   `hdf5_files`, plus `invalid_files`, `late_files` and `ms_index` — so that
//!   the operations guide's `sqlite3` queries work verbatim;
//! * clusters subband files into observation groups (nearest group id within
//!   ±60 s) and runs the group state machine
//!   `collecting → pending → in_progress → completed | failed`, with retries,
//!   backoff, release, recovery of groups abandoned by dead workers and
//!   promotion of groups that stop collecting;
//! * hands groups to workers oldest observation first, atomically across
//!   threads *and processes* (`BEGIN IMMEDIATE` + conditional `UPDATE …
//!   RETURNING`);
//! * records per-group timings, the raw-file index and the Measurement Set index.
//!
//! What it does not do: read or validate HDF5 files, decide whether an owner
//! process is alive (the caller passes a callback), read the clock (every
//! operation takes `now_unix_s`), retry on a busy database (a lock held past
//! the busy timeout surfaces as a [`QueueError`] whose
//! [`is_retryable`](QueueError::is_retryable) is true), or anything async.
//!
//! Times are Unix seconds (`f64`) unless a name says `_mjd`.

mod error;
mod queue;
mod records;
mod schema;
mod types;

pub use error::{QueueError, Result};
pub use queue::{
    partial_group_message, Queue, QueueOptions, ERROR_INCOMPLETE_GROUP, ERROR_WORKER_LOST,
    STAGE_ACQUIRED, STAGE_DONE, STAGE_QUEUED,
};
pub use records::{
    AcquiredGroup, EnqueueOutcome, FailOutcome, Failure, GroupRecord, Hdf5FileRecord, LateFile,
    MsRecord, PartialOutcome, PerformanceRecord, Recovered, RegisterOutcome, RetryPolicy,
    StaleReason, SubbandFile,
};
pub use schema::SCHEMA_VERSION;
pub use types::{GroupId, GroupState, SubbandIdx, N_SUBBANDS};
