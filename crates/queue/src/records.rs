//! Plain data returned by and passed to the queue.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::types::{GroupId, GroupState, SubbandIdx};

/// One row of `processing_queue`, every column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Observation timestamp.
    pub group_id: GroupId,
    /// Current state.
    pub state: GroupState,
    /// When the group's first file was registered (Unix s).
    pub received_at: f64,
    /// Last change or heartbeat (Unix s).
    pub last_update: f64,
    /// Subbands the group should have (normally 16).
    pub expected_subbands: Option<u32>,
    /// Retries so far.
    pub retry_count: u32,
    /// Short machine-readable failure kind (e.g. `incomplete_group`).
    pub error: Option<String>,
    /// Human-readable reason, naming the file concerned.
    pub error_message: Option<String>,
    /// Checkpoint written by the worker, if any.
    pub checkpoint_path: Option<String>,
    /// Stage the group is in (or last was in).
    pub processing_stage: Option<String>,
    /// Chunk length, minutes.
    pub chunk_minutes: Option<f64>,
    /// Whether a calibrator transits in this group.
    pub has_calibrator: Option<bool>,
    /// Calibrator names (free text / JSON, written by the pipeline).
    pub calibrators: Option<String>,
    /// `host:pid` of the worker holding the group while `in_progress`.
    pub owner: Option<String>,
    /// When the current/last attempt started (Unix s).
    pub started_at: Option<f64>,
    /// When the group reached `completed` or `failed` (Unix s).
    pub finished_at: Option<f64>,
    /// Earliest time a retried group may be taken again (Unix s).
    pub next_attempt_at: Option<f64>,
    /// Subband files the group was processed without (invalid files counted as missing
    /// subbands), each with its reason.
    pub excluded_files: Option<String>,
}

/// One subband file of a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubbandFile {
    /// Subband index.
    pub subband: SubbandIdx,
    /// File path as registered.
    pub path: PathBuf,
}

/// A group taken by [`crate::Queue::acquire_next`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcquiredGroup {
    /// Observation timestamp.
    pub group_id: GroupId,
    /// Retries before this attempt.
    pub retry_count: u32,
    /// Subbands the group should have (16 if the row does not say).
    pub expected_subbands: u8,
    /// Files, ordered by subband.
    pub files: Vec<SubbandFile>,
    /// Expected subbands with no file (to be flagged).
    pub missing: Vec<SubbandIdx>,
}

/// What [`crate::Queue::register_file`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RegisterOutcome {
    /// The file joined a group.
    Added {
        /// The group it joined.
        group_id: GroupId,
        /// Whether this file opened the group.
        created: bool,
        /// Distinct subbands now present.
        n_subbands: u32,
        /// The group's state afterwards (`pending` once complete).
        state: GroupState,
    },
    /// The path was already registered; nothing changed.
    AlreadyRegistered {
        /// The group holding it.
        group_id: GroupId,
        /// Its subband.
        subband: SubbandIdx,
    },
    /// The nearest open group already has this subband from another file;
    /// nothing changed.
    DuplicateSubband {
        /// The group.
        group_id: GroupId,
        /// The subband.
        subband: SubbandIdx,
        /// The file already registered for it.
        existing_path: PathBuf,
    },
    /// The file belongs to a group already `in_progress`, `completed` or
    /// `failed`: it was recorded in `late_files` and the group left alone.
    Late {
        /// The group.
        group_id: GroupId,
        /// The group's state when the file arrived.
        state: GroupState,
    },
}

/// A failure reported by a worker, for [`crate::Queue::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    /// Short machine-readable kind, stored in `error` (e.g. `corrupt_file`).
    pub error: &'a str,
    /// Human-readable reason naming the file, stored in `error_message`.
    pub message: &'a str,
    /// Whether retrying can help (from the error's `is_retryable()`).
    pub retryable: bool,
}

/// Retry limits and backoff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries allowed; at `retry_count == retry_limit` the next failure is final.
    pub retry_limit: u32,
    /// First backoff; retry n waits `backoff_s · 2^(n-1)` (n = 1, 2, …).
    pub backoff_s: f64,
    /// Backoff cap.
    pub max_backoff_s: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retry_limit: 3,
            backoff_s: 60.0,
            max_backoff_s: 3600.0,
        }
    }
}

impl RetryPolicy {
    /// Delay before the retry that follows a failure at `retry_count`.
    pub fn backoff_for(&self, retry_count: u32) -> f64 {
        let factor = 2f64.powi(retry_count.min(62) as i32);
        let delay = (self.backoff_s.max(0.0) * factor).min(self.max_backoff_s.max(0.0));
        if delay.is_finite() {
            delay
        } else {
            0.0
        }
    }
}

/// What [`crate::Queue::fail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FailOutcome {
    /// Back to `pending`, not before `next_attempt_at`.
    Retrying {
        /// Retry count after this failure.
        retry_count: u32,
        /// Earliest next attempt (Unix s).
        next_attempt_at: f64,
    },
    /// Now `failed`.
    Failed {
        /// Retry count (unchanged).
        retry_count: u32,
    },
}

/// Why [`crate::Queue::recover_stale`] took a group back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleReason {
    /// The owner process is gone.
    OwnerDead,
    /// No heartbeat for longer than the stale limit.
    NoHeartbeat,
}

/// One group taken back by [`crate::Queue::recover_stale`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    /// The group.
    pub group_id: GroupId,
    /// Its former owner.
    pub owner: Option<String>,
    /// The stage it was in.
    pub stage: Option<String>,
    /// Why it was considered abandoned.
    pub reason: StaleReason,
    /// New state: `pending` (retry) or `failed` (limit reached).
    pub new_state: GroupState,
    /// Retry count afterwards.
    pub retry_count: u32,
}

/// One group handled by [`crate::Queue::promote_partial`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialOutcome {
    /// The group.
    pub group_id: GroupId,
    /// Subbands present.
    pub present: Vec<SubbandIdx>,
    /// Expected subbands absent.
    pub missing: Vec<SubbandIdx>,
    /// `pending` (enough subbands) or `failed`.
    pub new_state: GroupState,
}

/// What [`crate::Queue::enqueue_group_for_conversion`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EnqueueOutcome {
    /// A `failed` or `completed` group is `pending` again, retry count reset.
    Requeued {
        /// Its state before.
        previous: GroupState,
    },
    /// It was already `pending`; nothing changed.
    AlreadyPending,
}

/// A file that arrived for a group already taken or finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LateFile {
    /// File path.
    pub path: PathBuf,
    /// The group it belongs to.
    pub group_id: GroupId,
    /// Its subband.
    pub subband: SubbandIdx,
    /// The group's state when the file arrived.
    pub group_state: GroupState,
    /// When it arrived (Unix s).
    pub received_at: f64,
}

/// Timing of one conversion (`performance_metrics`), seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceRecord {
    /// The group.
    pub group_id: GroupId,
    /// Reading the subband files.
    pub load_time_s: Option<f64>,
    /// Phasing.
    pub phase_time_s: Option<f64>,
    /// Writing the Measurement Set.
    pub write_time_s: Option<f64>,
    /// Whole conversion.
    pub total_time_s: Option<f64>,
    /// Writer used.
    pub writer_type: Option<String>,
    /// When recorded (Unix s).
    pub recorded_at: f64,
}

/// One raw file in the index (`hdf5_files`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hdf5FileRecord {
    /// Full path (key).
    pub path: PathBuf,
    /// File name.
    pub filename: String,
    /// Group, if known.
    pub group_id: Option<GroupId>,
    /// Subband (stored as `subband_code` `sb05` and `subband_num` 5).
    pub subband: Option<SubbandIdx>,
    /// Timestamp from the file name.
    pub timestamp_iso: Option<String>,
    /// Same, as MJD.
    pub timestamp_mjd: Option<f64>,
    /// Size.
    pub file_size_bytes: Option<u64>,
    /// File mtime (Unix s).
    pub modified_time: Option<f64>,
    /// When indexed (Unix s).
    pub indexed_at: f64,
    /// Whether the file is still on disk.
    pub stored: bool,
    /// Pointing RA, degrees.
    pub ra_deg: Option<f64>,
    /// Pointing Dec, degrees.
    pub dec_deg: Option<f64>,
    /// `YYYY-MM-DD`.
    pub obs_date: Option<String>,
    /// `HH:MM:SS`.
    pub obs_time: Option<String>,
}

/// One Measurement Set (`ms_index`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MsRecord {
    /// MS path (key).
    pub path: PathBuf,
    /// Group converted.
    pub group_id: GroupId,
    /// When written (Unix s).
    pub created_at: f64,
    /// First integration, MJD.
    pub start_mjd: Option<f64>,
    /// Last integration, MJD.
    pub end_mjd: Option<f64>,
    /// Middle, MJD.
    pub mid_mjd: Option<f64>,
    /// Phase centre RA, degrees.
    pub ra_deg: Option<f64>,
    /// Phase centre Dec, degrees.
    pub dec_deg: Option<f64>,
    /// Spectral windows.
    pub n_spw: Option<u32>,
    /// Main-table rows.
    pub n_rows: Option<u64>,
    /// Subbands flagged because their file was missing.
    pub n_missing_subbands: Option<u32>,
    /// Size on disk.
    pub size_bytes: Option<u64>,
    /// Status text (e.g. `converted`, `calibrated`).
    pub status: String,
}

/// Conversion figures since a time, for [`crate::Queue::conversion_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConversionStats {
    /// Groups that reached `completed` since then.
    pub completed_since: u64,
    /// Groups that reached `failed` since then.
    pub failed_since: u64,
    /// Mean `performance_metrics.total_time` of conversions recorded since then, s.
    pub mean_total_time_s: Option<f64>,
    /// How many conversions that mean is over.
    pub timed_conversions: u64,
}

/// A group with how many subband files it has, for listings
/// ([`crate::Queue::group_summaries`], [`crate::Queue::waiting_groups`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// The `processing_queue` row.
    pub group: GroupRecord,
    /// Files registered for it (`subband_files` rows).
    pub file_count: u32,
    /// Distinct subbands among them.
    pub subband_count: u32,
}

impl GroupSummary {
    /// Subbands the group expects (16 when unrecorded).
    pub fn expected_subbands(&self) -> u32 {
        self.group
            .expected_subbands
            .unwrap_or(u32::from(crate::types::N_SUBBANDS))
    }

    /// Whether every expected subband is present.
    pub fn is_complete(&self) -> bool {
        self.subband_count >= self.expected_subbands()
    }
}

/// A page of the groups waiting for conversion (`pending` and `collecting`),
/// from [`crate::Queue::waiting_groups`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingGroups {
    /// The page, oldest `group_id` first.
    pub groups: Vec<GroupSummary>,
    /// Groups matching the filters (arrival time, completeness), all pages.
    pub total: u64,
    /// Every waiting group, whatever the filters.
    pub total_waiting: u64,
    /// Complete groups among those within the arrival-time filter.
    pub total_complete: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            retry_limit: 5,
            backoff_s: 10.0,
            max_backoff_s: 35.0,
        };
        assert_eq!(p.backoff_for(0), 10.0);
        assert_eq!(p.backoff_for(1), 20.0);
        assert_eq!(p.backoff_for(2), 35.0);
        assert_eq!(p.backoff_for(u32::MAX), 35.0);
        let zero = RetryPolicy {
            backoff_s: 0.0,
            ..p
        };
        assert_eq!(zero.backoff_for(1000), 0.0);
    }
}
