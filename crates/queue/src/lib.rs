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
//! * records per-group timings, the raw-file index and the Measurement Set index;
//! * records each group's per-stage state (`group_stages`: pending, running,
//!   done, failed, skipped, attempts, timings), so that a retry resumes at
//!   the failed stage, and completes a stage — products, stage state, group
//!   state — in one transaction ([`Queue::finish_stage`]);
//! * holds the product registry: `images`, `caltables` with the calibration
//!   fence (a set being solved is visible to targets, which wait for it; a
//!   failed set is never returned as valid), `calibration_applied`,
//!   `photometry`, `variability_stats`, `mosaics`/`mosaic_images`, and the
//!   on-demand `jobs` of the API (claimed atomically by daemons).
//!
//! # Backend seam
//!
//! [`Queue`] is a cheap handle on an `Arc<dyn` [`QueueBackend`]`>`; every
//! operation is a method of that trait. [`SqliteBackend`] (rusqlite + r2d2,
//! WAL, `BEGIN IMMEDIATE` for every write) is the only implementation today;
//! a PostgreSQL backend for several hosts would be another, plugged in with
//! [`Queue::from_backend`], and the model property test (`tests/it/model.rs`)
//! runs against `&dyn QueueBackend` so that it checks any backend. No
//! rusqlite or r2d2 type appears in the public API: database failures carry
//! an opaque [`DbError`] (message and SQLite result code).
//!
//! What it does not do: read or validate HDF5 files, decide whether an owner
//! process is alive (the caller passes a callback), read the clock (every
//! operation takes `now_unix_s`), retry on a busy database (a lock held past
//! the busy timeout surfaces as a [`QueueError`] whose
//! [`is_retryable`](QueueError::is_retryable) is true), or anything async.
//!
//! Times are Unix seconds (`f64`) unless a name says `_mjd`.

mod backend;
mod error;
mod products;
mod queue;
mod records;
mod schema;
mod sqlite;
mod stages;
mod types;

pub use backend::QueueBackend;
pub use error::{DbError, QueueError, Result};
pub use products::{
    solution_overview_path, CalAppliedRecord, CalSet, CalStatus, CaltableRecord, CaltableType,
    ImageRecord, ImageType, JobOutcome, JobRecord, JobState, MosaicRecord, MosaicStatus, MsStatus,
    NewJob, PhotometryRecord, PlannedCaltable, RecoveredJob, SolveResult, SolveStart,
    SourceSummary, VariabilityRecord,
};
pub use queue::Queue;
pub use records::{
    AcquiredGroup, ConversionStats, EnqueueOutcome, FailOutcome, Failure, GroupRecord,
    GroupSummary, Hdf5FileRecord, LateFile, MsRecord, PartialOutcome, PerformanceRecord, Recovered,
    RegisterOutcome, RetryPolicy, StaleReason, SubbandFile, WaitingGroups,
};
pub use schema::SCHEMA_VERSION;
pub use sqlite::{
    partial_group_message, QueueOptions, SqliteBackend, ERROR_INCOMPLETE_GROUP, ERROR_WORKER_LOST,
    STAGE_ACQUIRED, STAGE_DONE, STAGE_QUEUED,
};
pub use stages::{Product, StageDone, StageRecord, StageStatus};
pub use types::{GroupId, GroupState, SubbandIdx, N_SUBBANDS};
