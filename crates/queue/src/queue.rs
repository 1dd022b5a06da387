//! [`Queue`]: the handle every caller uses; it delegates to a [`QueueBackend`].

use std::sync::Arc;

use crate::backend::QueueBackend;
use crate::sqlite::SqliteBackend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::products::{
    CalAppliedRecord, CalSet, CalStatus, ImageRecord, ImageType, JobOutcome, JobRecord, JobState,
    MosaicRecord, MosaicStatus, MsStatus, NewJob, PhotometryRecord, RecoveredJob, SolveResult,
    SolveStart, SourceSummary, VariabilityRecord,
};
use crate::records::{
    AcquiredGroup, ConversionStats, EnqueueOutcome, FailOutcome, Failure, GroupRecord,
    GroupSummary, Hdf5FileRecord, LateFile, MsRecord, PartialOutcome, PerformanceRecord, Recovered,
    RegisterOutcome, RetryPolicy, SubbandFile, WaitingGroups,
};
use crate::sqlite::QueueOptions;
use crate::stages::{StageDone, StageRecord};
use crate::types::{GroupId, GroupState, SubbandIdx};

/// The queue database, shared with other processes. Cheap to clone (clones
/// share the backend and its connection pool).
#[derive(Debug, Clone)]
pub struct Queue {
    backend: Arc<dyn QueueBackend>,
}

impl Queue {
    /// Opens (creating if needed, with parent directories) the SQLite queue
    /// database with default [`QueueOptions`], and migrates its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, QueueOptions::default())
    }

    /// Opens the SQLite database read-only (for the API). Fails with
    /// [`crate::QueueError::Io`] if the file does not exist and with
    /// [`crate::QueueError::Schema`] if it was never initialised.
    pub fn open_readonly(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_readonly_with(path, QueueOptions::default())
    }

    /// [`Queue::open`] with explicit options.
    ///
    /// Every connection gets `journal_mode=WAL`, the busy timeout,
    /// `foreign_keys=ON` and `synchronous=NORMAL`. Migrations run inside
    /// `BEGIN IMMEDIATE`, so concurrent first opens by several processes are safe.
    pub fn open_with(path: impl AsRef<Path>, options: QueueOptions) -> Result<Self> {
        Ok(Self::from_backend(Arc::new(SqliteBackend::open_with(
            path, options,
        )?)))
    }

    /// [`Queue::open_readonly`] with explicit options.
    pub fn open_readonly_with(path: impl AsRef<Path>, options: QueueOptions) -> Result<Self> {
        Ok(Self::from_backend(Arc::new(
            SqliteBackend::open_readonly_with(path, options)?,
        )))
    }

    /// A queue on any backend.
    pub fn from_backend(backend: Arc<dyn QueueBackend>) -> Self {
        Queue { backend }
    }

    /// The backend behind this handle.
    pub fn backend(&self) -> &dyn QueueBackend {
        self.backend.as_ref()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.backend.path()
    }

    /// The options this queue was opened with.
    pub fn options(&self) -> &QueueOptions {
        self.backend.options()
    }

    /// Whether this handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.backend.is_read_only()
    }

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
        self.backend.register_file(
            path.as_ref(),
            subband,
            obs_unix_s,
            expected_subbands,
            now_unix_s,
        )
    }

    /// Whether `path` is recorded as invalid with exactly this size and
    /// modification time (so it need not be validated again).
    pub fn invalid_file_unchanged(
        &self,
        path: impl AsRef<Path>,
        file_size_bytes: u64,
        modified_time: f64,
    ) -> Result<bool> {
        self.backend
            .invalid_file_unchanged(path.as_ref(), file_size_bytes, modified_time)
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
        self.backend.record_invalid_file(
            path.as_ref(),
            file_size_bytes,
            modified_time,
            reason,
            now_unix_s,
        )
    }

    /// The reason `path` is recorded as invalid, if it is (whatever its size
    /// and modification time now). Workers check this before opening a
    /// group's files, so a file that crashed the validator is never opened
    /// in-process.
    pub fn invalid_reason(&self, path: impl AsRef<Path>) -> Result<Option<String>> {
        self.backend.invalid_reason(path.as_ref())
    }

    /// Forgets an invalid file (e.g. it validated after changing). Returns
    /// whether it was recorded.
    pub fn clear_invalid_file(&self, path: impl AsRef<Path>) -> Result<bool> {
        self.backend.clear_invalid_file(path.as_ref())
    }

    /// Atomically takes the oldest (by `group_id`) `pending` group whose
    /// backoff has elapsed, marking it `in_progress` under `owner`
    /// (conventionally `host:pid`). Safe across threads and processes: the
    /// conditional `UPDATE … WHERE state='pending' … RETURNING` runs under
    /// `BEGIN IMMEDIATE`, so exactly one caller gets each group.
    pub fn acquire_next(&self, owner: &str, now_unix_s: f64) -> Result<Option<AcquiredGroup>> {
        self.backend.acquire_next(owner, now_unix_s)
    }

    /// Records that `owner` is still working on `group` (`last_update = now`).
    pub fn heartbeat(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        self.backend.heartbeat(group, owner, now_unix_s)
    }

    /// Sets `processing_stage` of an `in_progress` group (also a heartbeat).
    pub fn set_stage(&self, group: &GroupId, stage: &str, now_unix_s: f64) -> Result<()> {
        self.backend.set_stage(group, stage, now_unix_s)
    }

    /// Marks a held group `completed` and clears its error.
    pub fn complete(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        self.backend.complete(group, owner, now_unix_s)
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
        self.backend.fail(group, owner, failure, policy, now_unix_s)
    }

    /// Gives a held group back (`pending`) without counting a retry, e.g. on
    /// graceful shutdown.
    pub fn release(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        self.backend.release(group, owner, now_unix_s)
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
        self.backend
            .recover_stale(&is_owner_alive, stale_after_s, retry_limit, now_unix_s)
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
        self.backend
            .promote_partial(timeout_s, min_subbands, now_unix_s)
    }

    /// Asks for a `failed` or `completed` group to be converted again: it
    /// becomes `pending` with retry count, error and backoff reset. A
    /// `pending` group is left as is; `collecting` and `in_progress` groups
    /// give [`QueueError::WrongState`](crate::QueueError::WrongState), unknown ids [`QueueError::UnknownGroup`](crate::QueueError::UnknownGroup).
    pub fn enqueue_group_for_conversion(
        &self,
        group: &GroupId,
        now_unix_s: f64,
    ) -> Result<EnqueueOutcome> {
        self.backend.enqueue_group_for_conversion(group, now_unix_s)
    }

    /// Stores the worker's checkpoint path for a group (`None` clears it).
    pub fn set_checkpoint_path(&self, group: &GroupId, checkpoint: Option<&Path>) -> Result<()> {
        self.backend.set_checkpoint_path(group, checkpoint)
    }

    /// Stores calibrator information for a group.
    pub fn set_calibrators(
        &self,
        group: &GroupId,
        has_calibrator: bool,
        calibrators: Option<&str>,
    ) -> Result<()> {
        self.backend
            .set_calibrators(group, has_calibrator, calibrators)
    }

    /// Records the subband files a group is processed without (invalid files counted
    /// as missing subbands), with their reasons; `None` clears it.
    pub fn set_excluded_files(&self, group: &GroupId, excluded: Option<&str>) -> Result<()> {
        self.backend.set_excluded_files(group, excluded)
    }

    /// Stores the chunk length of a group, minutes.
    pub fn set_chunk_minutes(&self, group: &GroupId, chunk_minutes: f64) -> Result<()> {
        self.backend.set_chunk_minutes(group, chunk_minutes)
    }

    /// Number of groups in each state; all five states are present.
    pub fn counts_by_state(&self) -> Result<BTreeMap<GroupState, u64>> {
        self.backend.counts_by_state()
    }

    /// One group, every column.
    pub fn group(&self, group: &GroupId) -> Result<Option<GroupRecord>> {
        self.backend.group(group)
    }

    /// A group's files ordered by subband; [`QueueError::UnknownGroup`](crate::QueueError::UnknownGroup) if the
    /// group does not exist.
    pub fn group_files(&self, group: &GroupId) -> Result<Vec<SubbandFile>> {
        self.backend.group_files(group)
    }

    /// A page of groups (optionally in one state), oldest `group_id` first,
    /// and the total number matching.
    pub fn list_groups(
        &self,
        state: Option<GroupState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)> {
        self.backend.list_groups(state, limit, offset)
    }

    /// A page of groups (optionally in one state) by `group_id`, oldest or
    /// newest first, each with its file and distinct-subband counts, and the
    /// total matching. One query for the page, whatever its size.
    pub fn group_summaries(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupSummary>, u64)> {
        self.backend
            .group_summaries(state, newest_first, limit, offset)
    }

    /// The groups waiting for conversion (`pending` and `collecting`), oldest
    /// `group_id` first, optionally only those whose first file arrived at or
    /// after `received_since_unix_s` and only complete ones
    /// ([`GroupSummary::is_complete`]): a page, the total matching, every
    /// waiting group, and the complete ones within the arrival filter.
    pub fn waiting_groups(
        &self,
        complete_only: bool,
        received_since_unix_s: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<WaitingGroups> {
        self.backend
            .waiting_groups(complete_only, received_since_unix_s, limit, offset)
    }

    /// The files of each of `groups` (ordered by subband); groups without
    /// files, or unknown, are absent from the map.
    pub fn files_of_groups(
        &self,
        groups: &[GroupId],
    ) -> Result<BTreeMap<GroupId, Vec<SubbandFile>>> {
        self.backend.files_of_groups(groups)
    }

    /// The stages of each of `groups` (in the order they were first recorded);
    /// groups without stages, or unknown, are absent from the map.
    pub fn stages_of_groups(
        &self,
        groups: &[GroupId],
    ) -> Result<BTreeMap<GroupId, Vec<StageRecord>>> {
        self.backend.stages_of_groups(groups)
    }

    /// Every late file, oldest arrival first.
    pub fn late_files(&self) -> Result<Vec<LateFile>> {
        self.backend.late_files()
    }

    /// Seconds since the first file of the longest-waiting `pending` group
    /// arrived (`now − min(received_at)`), or `None` if nothing is pending.
    pub fn oldest_pending_age_s(&self, now_unix_s: f64) -> Result<Option<f64>> {
        self.backend.oldest_pending_age_s(now_unix_s)
    }

    /// Inserts or replaces a group's conversion timings.
    pub fn record_performance(&self, rec: &PerformanceRecord) -> Result<()> {
        self.backend.record_performance(rec)
    }

    /// A group's conversion timings, if recorded.
    pub fn performance(&self, group: &GroupId) -> Result<Option<PerformanceRecord>> {
        self.backend.performance(group)
    }

    /// Inserts or replaces one raw file in the `hdf5_files` index.
    pub fn record_hdf5_file(&self, rec: &Hdf5FileRecord) -> Result<()> {
        self.backend.record_hdf5_file(rec)
    }

    /// A page of the raw-file index with `timestamp_mjd` in `[start_mjd, end_mjd]`
    /// (either bound optional), by timestamp, and the total matching.
    pub fn hdf5_files_between(
        &self,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Hdf5FileRecord>, u64)> {
        self.backend
            .hdf5_files_between(start_mjd, end_mjd, limit, offset)
    }

    /// Groups finished (`completed`, `failed`) at or after `since_unix_s` and the
    /// mean conversion time recorded since then (the API's "today" figures).
    pub fn conversion_stats(&self, since_unix_s: f64) -> Result<ConversionStats> {
        self.backend.conversion_stats(since_unix_s)
    }

    /// A page of groups (optionally in one state) by `group_id`, oldest or newest
    /// first, and the total matching; the state filter uses the state index.
    pub fn list_groups_ordered(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)> {
        self.backend
            .list_groups_ordered(state, newest_first, limit, offset)
    }

    /// Inserts or replaces one Measurement Set in `ms_index`.
    pub fn record_ms(&self, rec: &MsRecord) -> Result<()> {
        self.backend.record_ms(rec)
    }

    /// Measurement Sets recorded for a group.
    pub fn ms_for_group(&self, group: &GroupId) -> Result<Vec<MsRecord>> {
        self.backend.ms_for_group(group)
    }

    /// The stage rows of a group in the order they were first begun (empty if
    /// none); [`QueueError::UnknownGroup`](crate::QueueError::UnknownGroup) if the group does not exist.
    pub fn stages(&self, group: &GroupId) -> Result<Vec<StageRecord>> {
        self.backend.stages(group)
    }

    /// Starts a stage of a group held by `owner` (`in_progress`, same owner,
    /// else [`QueueError::NotOwner`](crate::QueueError::NotOwner)): the stage becomes `running` with
    /// `attempts + 1`, `started_at = now` and its error cleared;
    /// `processing_queue.processing_stage = stage`, `last_update = now`; the
    /// group's `ms_index` rows get `stage = stage`, `stage_status = 'running'`.
    pub fn begin_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        self.backend.begin_stage(group, stage, owner, now_unix_s)
    }

    /// Completes a stage in ONE transaction: every product is recorded, the
    /// stage becomes `done` (`duration_s`, `finished_at = now`; a row with one
    /// attempt is created if [`begin_stage`](Self::begin_stage) was not called),
    /// the performance row is stored if given, the group's `ms_index` rows get
    /// `stage_status = 'done'`, and if `done.complete_group` the group becomes
    /// `completed` exactly as [`complete`](Self::complete) does. If anything
    /// fails (the group is not held by `owner`, a product violates a
    /// constraint, …) nothing of it is visible.
    pub fn finish_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        done: &StageDone<'_>,
        now_unix_s: f64,
    ) -> Result<()> {
        self.backend
            .finish_stage(group, stage, owner, done, now_unix_s)
    }

    /// Records that a stage of a held group was deliberately not run:
    /// `skipped`, `error = reason`, `finished_at = now`. The group stays held.
    pub fn skip_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        self.backend
            .skip_stage(group, stage, owner, reason, now_unix_s)
    }

    /// Fails a stage in ONE transaction: the stage becomes `failed` with
    /// `error = "kind: message"` (and `ms_index.stage_status = 'failed'`), then
    /// the group retries or fails exactly as [`fail`](Self::fail) does (same
    /// [`FailOutcome`]). Earlier stages stay `done`, so the worker that takes the
    /// group again resumes at this stage.
    pub fn fail_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        failure: &Failure<'_>,
        retry: &RetryPolicy,
        now_unix_s: f64,
    ) -> Result<FailOutcome> {
        self.backend
            .fail_stage(group, stage, owner, failure, retry, now_unix_s)
    }

    /// Asks for stages to be run again: each listed stage becomes `pending`
    /// (created if absent; attempts kept, error and times cleared). A
    /// `completed` or `failed` group becomes `pending` (retry count kept, error,
    /// backoff and `finished_at` cleared, `processing_stage = 'queued'`); a
    /// `collecting` or `pending` group is left as it is; an `in_progress` group
    /// gives [`QueueError::WrongState`](crate::QueueError::WrongState). One transaction.
    pub fn reset_stages(&self, group: &GroupId, stages: &[&str], now_unix_s: f64) -> Result<()> {
        self.backend.reset_stages(group, stages, now_unix_s)
    }

    /// Inserts or updates (by path) an image product; returns its id.
    pub fn record_image(&self, rec: &ImageRecord) -> Result<i64> {
        self.backend.record_image(rec)
    }

    /// One image by id.
    pub fn image(&self, id: i64) -> Result<Option<ImageRecord>> {
        self.backend.image(id)
    }

    /// One image by path.
    pub fn image_by_path(&self, path: impl AsRef<Path>) -> Result<Option<ImageRecord>> {
        self.backend.image_by_path(path.as_ref())
    }

    /// A group's image products, by path.
    pub fn images_for_group(&self, group: &GroupId) -> Result<Vec<ImageRecord>> {
        self.backend.images_for_group(group)
    }

    /// A page of images (optionally of one type), newest first, and the total matching.
    pub fn list_images(
        &self,
        image_type: Option<ImageType>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<ImageRecord>, u64)> {
        self.backend.list_images(image_type, limit, offset)
    }

    /// Registers a calibration set about to be solved: one `solving` row per
    /// planned table (at least one). Targets near its `mid_mjd` see it through
    /// [`solving_sets_near`](Self::solving_sets_near) and wait (the fence). A
    /// set of that name left `solving` or `failed` by an earlier attempt is
    /// replaced; an `active` or `retired` one gives [`QueueError::WrongStatus`](crate::QueueError::WrongStatus).
    pub fn begin_solve(&self, start: &SolveStart<'_>, now_unix_s: f64) -> Result<()> {
        self.backend.begin_solve(start, now_unix_s)
    }

    /// Marks a `solving` set `active` with its validity window and QA, all
    /// its tables in one transaction ([`QueueError::NotFound`](crate::QueueError::NotFound) /
    /// [`QueueError::WrongStatus`](crate::QueueError::WrongStatus) otherwise).
    pub fn finish_solve(
        &self,
        set_name: &str,
        result: &SolveResult,
        now_unix_s: f64,
    ) -> Result<()> {
        self.backend.finish_solve(set_name, result, now_unix_s)
    }

    /// Marks a `solving` (or `active`) set `failed` with the reason: it is
    /// never returned as valid again.
    pub fn fail_solve(&self, set_name: &str, reason: &str, now_unix_s: f64) -> Result<()> {
        self.backend.fail_solve(set_name, reason, now_unix_s)
    }

    /// Marks an `active` set `retired`: it is no longer applied.
    pub fn retire_cal_set(&self, set_name: &str, now_unix_s: f64) -> Result<()> {
        self.backend.retire_cal_set(set_name, now_unix_s)
    }

    /// Sets still `solving` whose reference time is within `±window_h` hours
    /// of `mjd`, nearest first.
    pub fn solving_sets_near(&self, mjd: f64, window_h: f64) -> Result<Vec<CalSet>> {
        self.backend.solving_sets_near(mjd, window_h)
    }

    /// The `active` set whose reference time (`mid_mjd`, else the middle of
    /// its validity window) is nearest `mjd` within `±window_h` hours, before
    /// or after, with all its tables in application order.
    pub fn nearest_valid_set(&self, mjd: f64, window_h: f64) -> Result<Option<CalSet>> {
        self.backend.nearest_valid_set(mjd, window_h)
    }

    /// One calibration set with its tables.
    pub fn cal_set(&self, set_name: &str) -> Result<Option<CalSet>> {
        self.backend.cal_set(set_name)
    }

    /// A page of calibration sets (optionally in one status), latest reference
    /// time first, and the total matching.
    pub fn list_cal_sets(
        &self,
        status: Option<CalStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<CalSet>, u64)> {
        self.backend.list_cal_sets(status, limit, offset)
    }

    /// Records an application of calibration (a new `calibration_applied`
    /// row; returns its id) and sets `ms_index.cal_applied` of that MS to
    /// `rec.success` if the MS is indexed.
    pub fn record_cal_applied(&self, rec: &CalAppliedRecord) -> Result<i64> {
        self.backend.record_cal_applied(rec)
    }

    /// Applications to one MS, oldest first.
    pub fn cal_applied_for_ms(&self, ms_path: impl AsRef<Path>) -> Result<Vec<CalAppliedRecord>> {
        self.backend.cal_applied_for_ms(ms_path.as_ref())
    }

    /// Applications to a group's MSs, oldest first.
    pub fn cal_applied_for_group(&self, group: &GroupId) -> Result<Vec<CalAppliedRecord>> {
        self.backend.cal_applied_for_group(group)
    }

    /// Sets `ms_index.cal_applied` ([`QueueError::NotFound`](crate::QueueError::NotFound) if the MS is not indexed).
    pub fn set_ms_cal_applied(
        &self,
        ms_path: impl AsRef<Path>,
        cal_applied: Option<bool>,
    ) -> Result<()> {
        self.backend
            .set_ms_cal_applied(ms_path.as_ref(), cal_applied)
    }

    /// Sets `ms_index.stage` and `stage_status` ([`QueueError::NotFound`](crate::QueueError::NotFound) if the MS is not indexed).
    pub fn set_ms_stage(
        &self,
        ms_path: impl AsRef<Path>,
        stage: Option<&str>,
        stage_status: Option<&str>,
    ) -> Result<()> {
        self.backend
            .set_ms_stage(ms_path.as_ref(), stage, stage_status)
    }

    /// The calibration and stage columns of an indexed MS.
    pub fn ms_status(&self, ms_path: impl AsRef<Path>) -> Result<Option<MsStatus>> {
        self.backend.ms_status(ms_path.as_ref())
    }

    /// Inserts or updates (by source and image) photometry rows, in one transaction.
    pub fn record_photometry(&self, rows: &[PhotometryRecord]) -> Result<()> {
        self.backend.record_photometry(rows)
    }

    /// A source's light curve, oldest epoch first, optionally within `[start_mjd, end_mjd]`.
    pub fn photometry_for_source(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<Vec<PhotometryRecord>> {
        self.backend
            .photometry_for_source(source_id, start_mjd, end_mjd)
    }

    /// Rows measured on one image, by source.
    pub fn photometry_for_image(
        &self,
        image_path: impl AsRef<Path>,
    ) -> Result<Vec<PhotometryRecord>> {
        self.backend.photometry_for_image(image_path.as_ref())
    }

    /// A page of measured sources (optionally those whose id contains
    /// `search`, case-insensitively), by id, and the total matching.
    pub fn list_sources(
        &self,
        search: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<SourceSummary>, u64)> {
        self.backend.list_sources(search, limit, offset)
    }

    /// A number that grows with every insert, update or delete of a photometry
    /// row of `source_id` (kept by triggers, whoever writes; 0 for a source never
    /// measured): equal values mean that source's photometry did not change in
    /// between.
    pub fn photometry_generation(&self, source_id: &str) -> Result<u64> {
        self.backend.photometry_generation(source_id)
    }

    /// [`Queue::photometry_for_source`] and the source's
    /// [`Queue::photometry_generation`] it was read at, from one snapshot: while
    /// the generation stays the same, the rows do too.
    pub fn photometry_snapshot(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<(u64, Vec<PhotometryRecord>)> {
        self.backend
            .photometry_snapshot(source_id, start_mjd, end_mjd)
    }

    /// One source's summary (measurement count, position, first and last
    /// epoch), or `None` if it has no photometry.
    pub fn source_summary(&self, source_id: &str) -> Result<Option<SourceSummary>> {
        self.backend.source_summary(source_id)
    }

    /// Inserts or replaces variability statistics (by source), in one transaction.
    pub fn upsert_variability(&self, rows: &[VariabilityRecord]) -> Result<()> {
        self.backend.upsert_variability(rows)
    }

    /// One source's variability statistics.
    pub fn variability(&self, source_id: &str) -> Result<Option<VariabilityRecord>> {
        self.backend.variability(source_id)
    }

    /// A page of variability statistics (optionally candidates only), by source id, and the total.
    pub fn list_variability(
        &self,
        candidates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<VariabilityRecord>, u64)> {
        self.backend
            .list_variability(candidates_only, limit, offset)
    }

    /// Inserts or updates (by name) a mosaic; returns its id.
    pub fn upsert_mosaic(&self, rec: &MosaicRecord) -> Result<i64> {
        self.backend.upsert_mosaic(rec)
    }

    /// Replaces a mosaic's member images ([`QueueError::NotFound`](crate::QueueError::NotFound) if unknown).
    pub fn set_mosaic_images(&self, name: &str, image_paths: &[PathBuf]) -> Result<()> {
        self.backend.set_mosaic_images(name, image_paths)
    }

    /// One mosaic by name.
    pub fn mosaic(&self, name: &str) -> Result<Option<MosaicRecord>> {
        self.backend.mosaic(name)
    }

    /// One mosaic by id.
    pub fn mosaic_by_id(&self, id: i64) -> Result<Option<MosaicRecord>> {
        self.backend.mosaic_by_id(id)
    }

    /// A mosaic's images, by path ([`QueueError::NotFound`](crate::QueueError::NotFound) if unknown).
    pub fn mosaic_images(&self, name: &str) -> Result<Vec<PathBuf>> {
        self.backend.mosaic_images(name)
    }

    /// A page of mosaics (optionally in one status), newest first, and the total.
    pub fn list_mosaics(
        &self,
        status: Option<MosaicStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<MosaicRecord>, u64)> {
        self.backend.list_mosaics(status, limit, offset)
    }

    /// Records a `queued` job; returns its id.
    pub fn create_job(&self, job: &NewJob<'_>, now_unix_s: f64) -> Result<i64> {
        self.backend.create_job(job, now_unix_s)
    }

    /// One job.
    pub fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        self.backend.job(id)
    }

    /// A page of jobs (optionally in one state), newest first, and the total.
    pub fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<JobRecord>, u64)> {
        self.backend.list_jobs(state, limit, offset)
    }

    /// Cancels a `queued` job and returns it; a job in any other state gives
    /// [`QueueError::WrongStatus`](crate::QueueError::WrongStatus), an unknown one [`QueueError::NotFound`](crate::QueueError::NotFound).
    pub fn cancel_job(&self, id: i64, now_unix_s: f64) -> Result<JobRecord> {
        self.backend.cancel_job(id, now_unix_s)
    }

    /// Atomically takes the oldest `queued` job of one of `kinds` (any kind if
    /// empty): it becomes `running`, owned by `owner` (`host:pid:jobs`), with
    /// `started_at` and `heartbeat_at` = now. Safe across processes.
    pub fn claim_next_job(
        &self,
        kinds: &[&str],
        owner: &str,
        now_unix_s: f64,
    ) -> Result<Option<JobRecord>> {
        self.backend.claim_next_job(kinds, owner, now_unix_s)
    }

    /// Records that `owner` still runs job `id`; `false` when the job is no
    /// longer `running` under that owner (recovered, finished).
    pub fn job_heartbeat(&self, id: i64, owner: &str, now_unix_s: f64) -> Result<bool> {
        self.backend.job_heartbeat(id, owner, now_unix_s)
    }

    /// Gives a `running` job of `owner` back (`queued`, to be taken again), e.g.
    /// on a graceful stop; `false` when it was not `running` under that owner.
    pub fn release_job(&self, id: i64, owner: &str) -> Result<bool> {
        self.backend.release_job(id, owner)
    }

    /// Takes back `running` jobs whose owner is dead (per `is_owner_alive`),
    /// silent for more than `stale_after_s`, or unrecorded (a job taken by a
    /// build before owners were recorded): each goes back to `queued`, with
    /// `error` saying why until it runs again. The jobs are idempotent (a
    /// conversion waits for its groups; a mosaic is built again), so running
    /// one again loses nothing.
    pub fn recover_jobs(
        &self,
        is_owner_alive: impl Fn(&str) -> bool,
        stale_after_s: f64,
        now_unix_s: f64,
    ) -> Result<Vec<RecoveredJob>> {
        self.backend
            .recover_jobs(&is_owner_alive, stale_after_s, now_unix_s)
    }

    /// Ends a `running` job: `completed` or `failed` with its result or error.
    pub fn finish_job(&self, id: i64, outcome: &JobOutcome<'_>, now_unix_s: f64) -> Result<()> {
        self.backend.finish_job(id, outcome, now_unix_s)
    }
}
