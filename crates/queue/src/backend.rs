//! The backend seam: [`QueueBackend`], the operations a queue database must
//! provide. [`crate::Queue`] delegates every call to one; [`crate::SqliteBackend`]
//! is the implementation today, and a PostgreSQL backend (several hosts sharing
//! one queue) would be a second implementation, checked by the same model test.

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

/// Every operation of the queue, object-safe (paths as `&Path`, callbacks as
/// `&dyn Fn`). Implementations must keep the semantics documented on
/// [`crate::Queue`]: in particular acquisition, stage completion and job
/// claiming are atomic across processes, and times are passed in, never read.
pub trait QueueBackend: Send + Sync + std::fmt::Debug {
    /// See [`Queue::path`](crate::Queue::path).
    fn path(&self) -> &Path;

    /// See [`Queue::options`](crate::Queue::options).
    fn options(&self) -> &QueueOptions;

    /// See [`Queue::is_read_only`](crate::Queue::is_read_only).
    fn is_read_only(&self) -> bool;

    /// See [`Queue::register_file`](crate::Queue::register_file).
    fn register_file(
        &self,
        path: &Path,
        subband: SubbandIdx,
        obs_unix_s: f64,
        expected_subbands: u8,
        now_unix_s: f64,
    ) -> Result<RegisterOutcome>;

    /// See [`Queue::invalid_file_unchanged`](crate::Queue::invalid_file_unchanged).
    fn invalid_file_unchanged(
        &self,
        path: &Path,
        file_size_bytes: u64,
        modified_time: f64,
    ) -> Result<bool>;

    /// See [`Queue::record_invalid_file`](crate::Queue::record_invalid_file).
    fn record_invalid_file(
        &self,
        path: &Path,
        file_size_bytes: u64,
        modified_time: f64,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<()>;

    /// See [`Queue::invalid_reason`](crate::Queue::invalid_reason).
    fn invalid_reason(&self, path: &Path) -> Result<Option<String>>;

    /// See [`Queue::clear_invalid_file`](crate::Queue::clear_invalid_file).
    fn clear_invalid_file(&self, path: &Path) -> Result<bool>;

    /// See [`Queue::acquire_next`](crate::Queue::acquire_next).
    fn acquire_next(&self, owner: &str, now_unix_s: f64) -> Result<Option<AcquiredGroup>>;

    /// See [`Queue::heartbeat`](crate::Queue::heartbeat).
    fn heartbeat(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::set_stage`](crate::Queue::set_stage).
    fn set_stage(&self, group: &GroupId, stage: &str, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::complete`](crate::Queue::complete).
    fn complete(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::fail`](crate::Queue::fail).
    fn fail(
        &self,
        group: &GroupId,
        owner: &str,
        failure: &Failure<'_>,
        policy: &RetryPolicy,
        now_unix_s: f64,
    ) -> Result<FailOutcome>;

    /// See [`Queue::release`](crate::Queue::release).
    fn release(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::recover_stale`](crate::Queue::recover_stale).
    fn recover_stale(
        &self,
        is_owner_alive: &dyn Fn(&str) -> bool,
        stale_after_s: f64,
        retry_limit: u32,
        now_unix_s: f64,
    ) -> Result<Vec<Recovered>>;

    /// See [`Queue::promote_partial`](crate::Queue::promote_partial).
    fn promote_partial(
        &self,
        timeout_s: f64,
        min_subbands: u8,
        now_unix_s: f64,
    ) -> Result<Vec<PartialOutcome>>;

    /// See [`Queue::enqueue_group_for_conversion`](crate::Queue::enqueue_group_for_conversion).
    fn enqueue_group_for_conversion(
        &self,
        group: &GroupId,
        now_unix_s: f64,
    ) -> Result<EnqueueOutcome>;

    /// See [`Queue::set_checkpoint_path`](crate::Queue::set_checkpoint_path).
    fn set_checkpoint_path(&self, group: &GroupId, checkpoint: Option<&Path>) -> Result<()>;

    /// See [`Queue::set_calibrators`](crate::Queue::set_calibrators).
    fn set_calibrators(
        &self,
        group: &GroupId,
        has_calibrator: bool,
        calibrators: Option<&str>,
    ) -> Result<()>;

    /// See [`Queue::set_chunk_minutes`](crate::Queue::set_chunk_minutes).
    fn set_chunk_minutes(&self, group: &GroupId, chunk_minutes: f64) -> Result<()>;

    /// See [`Queue::set_excluded_files`](crate::Queue::set_excluded_files).
    fn set_excluded_files(&self, group: &GroupId, excluded: Option<&str>) -> Result<()>;

    /// See [`Queue::counts_by_state`](crate::Queue::counts_by_state).
    fn counts_by_state(&self) -> Result<BTreeMap<GroupState, u64>>;

    /// See [`Queue::group`](crate::Queue::group).
    fn group(&self, group: &GroupId) -> Result<Option<GroupRecord>>;

    /// See [`Queue::group_files`](crate::Queue::group_files).
    fn group_files(&self, group: &GroupId) -> Result<Vec<SubbandFile>>;

    /// See [`Queue::list_groups`](crate::Queue::list_groups).
    fn list_groups(
        &self,
        state: Option<GroupState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)>;

    /// See [`Queue::group_summaries`](crate::Queue::group_summaries).
    fn group_summaries(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupSummary>, u64)>;

    /// See [`Queue::waiting_groups`](crate::Queue::waiting_groups).
    fn waiting_groups(
        &self,
        complete_only: bool,
        received_since_unix_s: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<WaitingGroups>;

    /// See [`Queue::files_of_groups`](crate::Queue::files_of_groups).
    fn files_of_groups(&self, groups: &[GroupId]) -> Result<BTreeMap<GroupId, Vec<SubbandFile>>>;

    /// See [`Queue::stages_of_groups`](crate::Queue::stages_of_groups).
    fn stages_of_groups(&self, groups: &[GroupId]) -> Result<BTreeMap<GroupId, Vec<StageRecord>>>;

    /// See [`Queue::late_files`](crate::Queue::late_files).
    fn late_files(&self) -> Result<Vec<LateFile>>;

    /// See [`Queue::oldest_pending_age_s`](crate::Queue::oldest_pending_age_s).
    fn oldest_pending_age_s(&self, now_unix_s: f64) -> Result<Option<f64>>;

    /// See [`Queue::record_performance`](crate::Queue::record_performance).
    fn record_performance(&self, rec: &PerformanceRecord) -> Result<()>;

    /// See [`Queue::performance`](crate::Queue::performance).
    fn performance(&self, group: &GroupId) -> Result<Option<PerformanceRecord>>;

    /// See [`Queue::record_hdf5_file`](crate::Queue::record_hdf5_file).
    fn record_hdf5_file(&self, rec: &Hdf5FileRecord) -> Result<()>;

    /// See [`Queue::record_ms`](crate::Queue::record_ms).
    fn record_ms(&self, rec: &MsRecord) -> Result<()>;

    /// See [`Queue::hdf5_files_between`](crate::Queue::hdf5_files_between).
    fn hdf5_files_between(
        &self,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Hdf5FileRecord>, u64)>;

    /// See [`Queue::conversion_stats`](crate::Queue::conversion_stats).
    fn conversion_stats(&self, since_unix_s: f64) -> Result<ConversionStats>;

    /// See [`Queue::list_groups_ordered`](crate::Queue::list_groups_ordered).
    fn list_groups_ordered(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)>;

    /// See [`Queue::ms_for_group`](crate::Queue::ms_for_group).
    fn ms_for_group(&self, group: &GroupId) -> Result<Vec<MsRecord>>;

    /// See [`Queue::stages`](crate::Queue::stages).
    fn stages(&self, group: &GroupId) -> Result<Vec<StageRecord>>;

    /// See [`Queue::begin_stage`](crate::Queue::begin_stage).
    fn begin_stage(&self, group: &GroupId, stage: &str, owner: &str, now_unix_s: f64)
        -> Result<()>;

    /// See [`Queue::finish_stage`](crate::Queue::finish_stage).
    fn finish_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        done: &StageDone<'_>,
        now_unix_s: f64,
    ) -> Result<()>;

    /// See [`Queue::skip_stage`](crate::Queue::skip_stage).
    fn skip_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<()>;

    /// See [`Queue::fail_stage`](crate::Queue::fail_stage).
    fn fail_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        failure: &Failure<'_>,
        retry: &RetryPolicy,
        now_unix_s: f64,
    ) -> Result<FailOutcome>;

    /// See [`Queue::reset_stages`](crate::Queue::reset_stages).
    fn reset_stages(&self, group: &GroupId, stages: &[&str], now_unix_s: f64) -> Result<()>;

    /// See [`Queue::record_image`](crate::Queue::record_image).
    fn record_image(&self, rec: &ImageRecord) -> Result<i64>;

    /// See [`Queue::image`](crate::Queue::image).
    fn image(&self, id: i64) -> Result<Option<ImageRecord>>;

    /// See [`Queue::image_by_path`](crate::Queue::image_by_path).
    fn image_by_path(&self, path: &Path) -> Result<Option<ImageRecord>>;

    /// See [`Queue::images_for_group`](crate::Queue::images_for_group).
    fn images_for_group(&self, group: &GroupId) -> Result<Vec<ImageRecord>>;

    /// See [`Queue::list_images`](crate::Queue::list_images).
    fn list_images(
        &self,
        image_type: Option<ImageType>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<ImageRecord>, u64)>;

    /// See [`Queue::begin_solve`](crate::Queue::begin_solve).
    fn begin_solve(&self, start: &SolveStart<'_>, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::finish_solve`](crate::Queue::finish_solve).
    fn finish_solve(&self, set_name: &str, result: &SolveResult, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::fail_solve`](crate::Queue::fail_solve).
    fn fail_solve(&self, set_name: &str, reason: &str, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::retire_cal_set`](crate::Queue::retire_cal_set).
    fn retire_cal_set(&self, set_name: &str, now_unix_s: f64) -> Result<()>;

    /// See [`Queue::solving_sets_near`](crate::Queue::solving_sets_near).
    fn solving_sets_near(&self, mjd: f64, window_h: f64) -> Result<Vec<CalSet>>;

    /// See [`Queue::nearest_valid_set`](crate::Queue::nearest_valid_set).
    fn nearest_valid_set(&self, mjd: f64, window_h: f64) -> Result<Option<CalSet>>;

    /// See [`Queue::cal_set`](crate::Queue::cal_set).
    fn cal_set(&self, set_name: &str) -> Result<Option<CalSet>>;

    /// See [`Queue::list_cal_sets`](crate::Queue::list_cal_sets).
    fn list_cal_sets(
        &self,
        status: Option<CalStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<CalSet>, u64)>;

    /// See [`Queue::record_cal_applied`](crate::Queue::record_cal_applied).
    fn record_cal_applied(&self, rec: &CalAppliedRecord) -> Result<i64>;

    /// See [`Queue::cal_applied_for_ms`](crate::Queue::cal_applied_for_ms).
    fn cal_applied_for_ms(&self, ms_path: &Path) -> Result<Vec<CalAppliedRecord>>;

    /// See [`Queue::cal_applied_for_group`](crate::Queue::cal_applied_for_group).
    fn cal_applied_for_group(&self, group: &GroupId) -> Result<Vec<CalAppliedRecord>>;

    /// See [`Queue::set_ms_cal_applied`](crate::Queue::set_ms_cal_applied).
    fn set_ms_cal_applied(&self, ms_path: &Path, cal_applied: Option<bool>) -> Result<()>;

    /// See [`Queue::set_ms_stage`](crate::Queue::set_ms_stage).
    fn set_ms_stage(
        &self,
        ms_path: &Path,
        stage: Option<&str>,
        stage_status: Option<&str>,
    ) -> Result<()>;

    /// See [`Queue::ms_status`](crate::Queue::ms_status).
    fn ms_status(&self, ms_path: &Path) -> Result<Option<MsStatus>>;

    /// See [`Queue::record_photometry`](crate::Queue::record_photometry).
    fn record_photometry(&self, rows: &[PhotometryRecord]) -> Result<()>;

    /// See [`Queue::photometry_for_source`](crate::Queue::photometry_for_source).
    fn photometry_for_source(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<Vec<PhotometryRecord>>;

    /// See [`Queue::photometry_for_image`](crate::Queue::photometry_for_image).
    fn photometry_for_image(&self, image_path: &Path) -> Result<Vec<PhotometryRecord>>;

    /// See [`Queue::list_sources`](crate::Queue::list_sources).
    fn list_sources(
        &self,
        search: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<SourceSummary>, u64)>;

    /// See [`Queue::source_summary`](crate::Queue::source_summary).
    fn source_summary(&self, source_id: &str) -> Result<Option<SourceSummary>>;

    /// See [`Queue::photometry_generation`](crate::Queue::photometry_generation).
    fn photometry_generation(&self, source_id: &str) -> Result<u64>;

    /// See [`Queue::photometry_snapshot`](crate::Queue::photometry_snapshot).
    fn photometry_snapshot(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<(u64, Vec<PhotometryRecord>)>;

    /// See [`Queue::upsert_variability`](crate::Queue::upsert_variability).
    fn upsert_variability(&self, rows: &[VariabilityRecord]) -> Result<()>;

    /// See [`Queue::variability`](crate::Queue::variability).
    fn variability(&self, source_id: &str) -> Result<Option<VariabilityRecord>>;

    /// See [`Queue::list_variability`](crate::Queue::list_variability).
    fn list_variability(
        &self,
        candidates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<VariabilityRecord>, u64)>;

    /// See [`Queue::upsert_mosaic`](crate::Queue::upsert_mosaic).
    fn upsert_mosaic(&self, rec: &MosaicRecord) -> Result<i64>;

    /// See [`Queue::set_mosaic_images`](crate::Queue::set_mosaic_images).
    fn set_mosaic_images(&self, name: &str, image_paths: &[PathBuf]) -> Result<()>;

    /// See [`Queue::mosaic`](crate::Queue::mosaic).
    fn mosaic(&self, name: &str) -> Result<Option<MosaicRecord>>;

    /// See [`Queue::mosaic_by_id`](crate::Queue::mosaic_by_id).
    fn mosaic_by_id(&self, id: i64) -> Result<Option<MosaicRecord>>;

    /// See [`Queue::mosaic_images`](crate::Queue::mosaic_images).
    fn mosaic_images(&self, name: &str) -> Result<Vec<PathBuf>>;

    /// See [`Queue::list_mosaics`](crate::Queue::list_mosaics).
    fn list_mosaics(
        &self,
        status: Option<MosaicStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<MosaicRecord>, u64)>;

    /// See [`Queue::create_job`](crate::Queue::create_job).
    fn create_job(&self, job: &NewJob<'_>, now_unix_s: f64) -> Result<i64>;

    /// See [`Queue::job`](crate::Queue::job).
    fn job(&self, id: i64) -> Result<Option<JobRecord>>;

    /// See [`Queue::list_jobs`](crate::Queue::list_jobs).
    fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<JobRecord>, u64)>;

    /// See [`Queue::cancel_job`](crate::Queue::cancel_job).
    fn cancel_job(&self, id: i64, now_unix_s: f64) -> Result<JobRecord>;

    /// See [`Queue::claim_next_job`](crate::Queue::claim_next_job).
    fn claim_next_job(
        &self,
        kinds: &[&str],
        owner: &str,
        now_unix_s: f64,
    ) -> Result<Option<JobRecord>>;

    /// See [`Queue::job_heartbeat`](crate::Queue::job_heartbeat).
    fn job_heartbeat(&self, id: i64, owner: &str, now_unix_s: f64) -> Result<bool>;

    /// See [`Queue::release_job`](crate::Queue::release_job).
    fn release_job(&self, id: i64, owner: &str) -> Result<bool>;

    /// See [`Queue::recover_jobs`](crate::Queue::recover_jobs).
    fn recover_jobs(
        &self,
        is_owner_alive: &dyn Fn(&str) -> bool,
        stale_after_s: f64,
        now_unix_s: f64,
    ) -> Result<Vec<RecoveredJob>>;

    /// See [`Queue::finish_job`](crate::Queue::finish_job).
    fn finish_job(&self, id: i64, outcome: &JobOutcome<'_>, now_unix_s: f64) -> Result<()>;
}

use crate::sqlite::SqliteBackend;

impl QueueBackend for SqliteBackend {
    fn path(&self) -> &Path {
        SqliteBackend::path(self)
    }

    fn options(&self) -> &QueueOptions {
        SqliteBackend::options(self)
    }

    fn is_read_only(&self) -> bool {
        SqliteBackend::is_read_only(self)
    }

    fn register_file(
        &self,
        path: &Path,
        subband: SubbandIdx,
        obs_unix_s: f64,
        expected_subbands: u8,
        now_unix_s: f64,
    ) -> Result<RegisterOutcome> {
        SqliteBackend::register_file(
            self,
            path,
            subband,
            obs_unix_s,
            expected_subbands,
            now_unix_s,
        )
    }

    fn invalid_file_unchanged(
        &self,
        path: &Path,
        file_size_bytes: u64,
        modified_time: f64,
    ) -> Result<bool> {
        SqliteBackend::invalid_file_unchanged(self, path, file_size_bytes, modified_time)
    }

    fn record_invalid_file(
        &self,
        path: &Path,
        file_size_bytes: u64,
        modified_time: f64,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        SqliteBackend::record_invalid_file(
            self,
            path,
            file_size_bytes,
            modified_time,
            reason,
            now_unix_s,
        )
    }

    fn invalid_reason(&self, path: &Path) -> Result<Option<String>> {
        SqliteBackend::invalid_reason(self, path)
    }

    fn clear_invalid_file(&self, path: &Path) -> Result<bool> {
        SqliteBackend::clear_invalid_file(self, path)
    }

    fn acquire_next(&self, owner: &str, now_unix_s: f64) -> Result<Option<AcquiredGroup>> {
        SqliteBackend::acquire_next(self, owner, now_unix_s)
    }

    fn heartbeat(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        SqliteBackend::heartbeat(self, group, owner, now_unix_s)
    }

    fn set_stage(&self, group: &GroupId, stage: &str, now_unix_s: f64) -> Result<()> {
        SqliteBackend::set_stage(self, group, stage, now_unix_s)
    }

    fn complete(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        SqliteBackend::complete(self, group, owner, now_unix_s)
    }

    fn fail(
        &self,
        group: &GroupId,
        owner: &str,
        failure: &Failure<'_>,
        policy: &RetryPolicy,
        now_unix_s: f64,
    ) -> Result<FailOutcome> {
        SqliteBackend::fail(self, group, owner, failure, policy, now_unix_s)
    }

    fn release(&self, group: &GroupId, owner: &str, now_unix_s: f64) -> Result<()> {
        SqliteBackend::release(self, group, owner, now_unix_s)
    }

    fn recover_stale(
        &self,
        is_owner_alive: &dyn Fn(&str) -> bool,
        stale_after_s: f64,
        retry_limit: u32,
        now_unix_s: f64,
    ) -> Result<Vec<Recovered>> {
        SqliteBackend::recover_stale(self, is_owner_alive, stale_after_s, retry_limit, now_unix_s)
    }

    fn promote_partial(
        &self,
        timeout_s: f64,
        min_subbands: u8,
        now_unix_s: f64,
    ) -> Result<Vec<PartialOutcome>> {
        SqliteBackend::promote_partial(self, timeout_s, min_subbands, now_unix_s)
    }

    fn enqueue_group_for_conversion(
        &self,
        group: &GroupId,
        now_unix_s: f64,
    ) -> Result<EnqueueOutcome> {
        SqliteBackend::enqueue_group_for_conversion(self, group, now_unix_s)
    }

    fn set_checkpoint_path(&self, group: &GroupId, checkpoint: Option<&Path>) -> Result<()> {
        SqliteBackend::set_checkpoint_path(self, group, checkpoint)
    }

    fn set_calibrators(
        &self,
        group: &GroupId,
        has_calibrator: bool,
        calibrators: Option<&str>,
    ) -> Result<()> {
        SqliteBackend::set_calibrators(self, group, has_calibrator, calibrators)
    }

    fn set_chunk_minutes(&self, group: &GroupId, chunk_minutes: f64) -> Result<()> {
        SqliteBackend::set_chunk_minutes(self, group, chunk_minutes)
    }

    fn set_excluded_files(&self, group: &GroupId, excluded: Option<&str>) -> Result<()> {
        SqliteBackend::set_excluded_files(self, group, excluded)
    }

    fn counts_by_state(&self) -> Result<BTreeMap<GroupState, u64>> {
        SqliteBackend::counts_by_state(self)
    }

    fn group(&self, group: &GroupId) -> Result<Option<GroupRecord>> {
        SqliteBackend::group(self, group)
    }

    fn group_files(&self, group: &GroupId) -> Result<Vec<SubbandFile>> {
        SqliteBackend::group_files(self, group)
    }

    fn list_groups(
        &self,
        state: Option<GroupState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)> {
        SqliteBackend::list_groups(self, state, limit, offset)
    }

    fn group_summaries(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupSummary>, u64)> {
        SqliteBackend::group_summaries(self, state, newest_first, limit, offset)
    }

    fn waiting_groups(
        &self,
        complete_only: bool,
        received_since_unix_s: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<WaitingGroups> {
        SqliteBackend::waiting_groups(self, complete_only, received_since_unix_s, limit, offset)
    }

    fn files_of_groups(&self, groups: &[GroupId]) -> Result<BTreeMap<GroupId, Vec<SubbandFile>>> {
        SqliteBackend::files_of_groups(self, groups)
    }

    fn stages_of_groups(&self, groups: &[GroupId]) -> Result<BTreeMap<GroupId, Vec<StageRecord>>> {
        SqliteBackend::stages_of_groups(self, groups)
    }

    fn late_files(&self) -> Result<Vec<LateFile>> {
        SqliteBackend::late_files(self)
    }

    fn oldest_pending_age_s(&self, now_unix_s: f64) -> Result<Option<f64>> {
        SqliteBackend::oldest_pending_age_s(self, now_unix_s)
    }

    fn record_performance(&self, rec: &PerformanceRecord) -> Result<()> {
        SqliteBackend::record_performance(self, rec)
    }

    fn performance(&self, group: &GroupId) -> Result<Option<PerformanceRecord>> {
        SqliteBackend::performance(self, group)
    }

    fn record_hdf5_file(&self, rec: &Hdf5FileRecord) -> Result<()> {
        SqliteBackend::record_hdf5_file(self, rec)
    }

    fn hdf5_files_between(
        &self,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Hdf5FileRecord>, u64)> {
        SqliteBackend::hdf5_files_between(self, start_mjd, end_mjd, limit, offset)
    }

    fn conversion_stats(&self, since_unix_s: f64) -> Result<ConversionStats> {
        SqliteBackend::conversion_stats(self, since_unix_s)
    }

    fn list_groups_ordered(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)> {
        SqliteBackend::list_groups_ordered(self, state, newest_first, limit, offset)
    }

    fn record_ms(&self, rec: &MsRecord) -> Result<()> {
        SqliteBackend::record_ms(self, rec)
    }

    fn ms_for_group(&self, group: &GroupId) -> Result<Vec<MsRecord>> {
        SqliteBackend::ms_for_group(self, group)
    }

    fn stages(&self, group: &GroupId) -> Result<Vec<StageRecord>> {
        SqliteBackend::stages(self, group)
    }

    fn begin_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        SqliteBackend::begin_stage(self, group, stage, owner, now_unix_s)
    }

    fn finish_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        done: &StageDone<'_>,
        now_unix_s: f64,
    ) -> Result<()> {
        SqliteBackend::finish_stage(self, group, stage, owner, done, now_unix_s)
    }

    fn skip_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        SqliteBackend::skip_stage(self, group, stage, owner, reason, now_unix_s)
    }

    fn fail_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        failure: &Failure<'_>,
        retry: &RetryPolicy,
        now_unix_s: f64,
    ) -> Result<FailOutcome> {
        SqliteBackend::fail_stage(self, group, stage, owner, failure, retry, now_unix_s)
    }

    fn reset_stages(&self, group: &GroupId, stages: &[&str], now_unix_s: f64) -> Result<()> {
        SqliteBackend::reset_stages(self, group, stages, now_unix_s)
    }

    fn record_image(&self, rec: &ImageRecord) -> Result<i64> {
        SqliteBackend::record_image(self, rec)
    }

    fn image(&self, id: i64) -> Result<Option<ImageRecord>> {
        SqliteBackend::image(self, id)
    }

    fn image_by_path(&self, path: &Path) -> Result<Option<ImageRecord>> {
        SqliteBackend::image_by_path(self, path)
    }

    fn images_for_group(&self, group: &GroupId) -> Result<Vec<ImageRecord>> {
        SqliteBackend::images_for_group(self, group)
    }

    fn list_images(
        &self,
        image_type: Option<ImageType>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<ImageRecord>, u64)> {
        SqliteBackend::list_images(self, image_type, limit, offset)
    }

    fn begin_solve(&self, start: &SolveStart<'_>, now_unix_s: f64) -> Result<()> {
        SqliteBackend::begin_solve(self, start, now_unix_s)
    }

    fn finish_solve(&self, set_name: &str, result: &SolveResult, now_unix_s: f64) -> Result<()> {
        SqliteBackend::finish_solve(self, set_name, result, now_unix_s)
    }

    fn fail_solve(&self, set_name: &str, reason: &str, now_unix_s: f64) -> Result<()> {
        SqliteBackend::fail_solve(self, set_name, reason, now_unix_s)
    }

    fn retire_cal_set(&self, set_name: &str, now_unix_s: f64) -> Result<()> {
        SqliteBackend::retire_cal_set(self, set_name, now_unix_s)
    }

    fn solving_sets_near(&self, mjd: f64, window_h: f64) -> Result<Vec<CalSet>> {
        SqliteBackend::solving_sets_near(self, mjd, window_h)
    }

    fn nearest_valid_set(&self, mjd: f64, window_h: f64) -> Result<Option<CalSet>> {
        SqliteBackend::nearest_valid_set(self, mjd, window_h)
    }

    fn cal_set(&self, set_name: &str) -> Result<Option<CalSet>> {
        SqliteBackend::cal_set(self, set_name)
    }

    fn list_cal_sets(
        &self,
        status: Option<CalStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<CalSet>, u64)> {
        SqliteBackend::list_cal_sets(self, status, limit, offset)
    }

    fn record_cal_applied(&self, rec: &CalAppliedRecord) -> Result<i64> {
        SqliteBackend::record_cal_applied(self, rec)
    }

    fn cal_applied_for_ms(&self, ms_path: &Path) -> Result<Vec<CalAppliedRecord>> {
        SqliteBackend::cal_applied_for_ms(self, ms_path)
    }

    fn cal_applied_for_group(&self, group: &GroupId) -> Result<Vec<CalAppliedRecord>> {
        SqliteBackend::cal_applied_for_group(self, group)
    }

    fn set_ms_cal_applied(&self, ms_path: &Path, cal_applied: Option<bool>) -> Result<()> {
        SqliteBackend::set_ms_cal_applied(self, ms_path, cal_applied)
    }

    fn set_ms_stage(
        &self,
        ms_path: &Path,
        stage: Option<&str>,
        stage_status: Option<&str>,
    ) -> Result<()> {
        SqliteBackend::set_ms_stage(self, ms_path, stage, stage_status)
    }

    fn ms_status(&self, ms_path: &Path) -> Result<Option<MsStatus>> {
        SqliteBackend::ms_status(self, ms_path)
    }

    fn record_photometry(&self, rows: &[PhotometryRecord]) -> Result<()> {
        SqliteBackend::record_photometry(self, rows)
    }

    fn photometry_for_source(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<Vec<PhotometryRecord>> {
        SqliteBackend::photometry_for_source(self, source_id, start_mjd, end_mjd)
    }

    fn photometry_for_image(&self, image_path: &Path) -> Result<Vec<PhotometryRecord>> {
        SqliteBackend::photometry_for_image(self, image_path)
    }

    fn list_sources(
        &self,
        search: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<SourceSummary>, u64)> {
        SqliteBackend::list_sources(self, search, limit, offset)
    }

    fn source_summary(&self, source_id: &str) -> Result<Option<SourceSummary>> {
        SqliteBackend::source_summary(self, source_id)
    }

    fn photometry_generation(&self, source_id: &str) -> Result<u64> {
        SqliteBackend::photometry_generation(self, source_id)
    }

    fn photometry_snapshot(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<(u64, Vec<PhotometryRecord>)> {
        SqliteBackend::photometry_snapshot(self, source_id, start_mjd, end_mjd)
    }

    fn upsert_variability(&self, rows: &[VariabilityRecord]) -> Result<()> {
        SqliteBackend::upsert_variability(self, rows)
    }

    fn variability(&self, source_id: &str) -> Result<Option<VariabilityRecord>> {
        SqliteBackend::variability(self, source_id)
    }

    fn list_variability(
        &self,
        candidates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<VariabilityRecord>, u64)> {
        SqliteBackend::list_variability(self, candidates_only, limit, offset)
    }

    fn upsert_mosaic(&self, rec: &MosaicRecord) -> Result<i64> {
        SqliteBackend::upsert_mosaic(self, rec)
    }

    fn set_mosaic_images(&self, name: &str, image_paths: &[PathBuf]) -> Result<()> {
        SqliteBackend::set_mosaic_images(self, name, image_paths)
    }

    fn mosaic(&self, name: &str) -> Result<Option<MosaicRecord>> {
        SqliteBackend::mosaic(self, name)
    }

    fn mosaic_by_id(&self, id: i64) -> Result<Option<MosaicRecord>> {
        SqliteBackend::mosaic_by_id(self, id)
    }

    fn mosaic_images(&self, name: &str) -> Result<Vec<PathBuf>> {
        SqliteBackend::mosaic_images(self, name)
    }

    fn list_mosaics(
        &self,
        status: Option<MosaicStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<MosaicRecord>, u64)> {
        SqliteBackend::list_mosaics(self, status, limit, offset)
    }

    fn create_job(&self, job: &NewJob<'_>, now_unix_s: f64) -> Result<i64> {
        SqliteBackend::create_job(self, job, now_unix_s)
    }

    fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        SqliteBackend::job(self, id)
    }

    fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<JobRecord>, u64)> {
        SqliteBackend::list_jobs(self, state, limit, offset)
    }

    fn cancel_job(&self, id: i64, now_unix_s: f64) -> Result<JobRecord> {
        SqliteBackend::cancel_job(self, id, now_unix_s)
    }

    fn claim_next_job(
        &self,
        kinds: &[&str],
        owner: &str,
        now_unix_s: f64,
    ) -> Result<Option<JobRecord>> {
        SqliteBackend::claim_next_job(self, kinds, owner, now_unix_s)
    }

    fn job_heartbeat(&self, id: i64, owner: &str, now_unix_s: f64) -> Result<bool> {
        SqliteBackend::job_heartbeat(self, id, owner, now_unix_s)
    }

    fn release_job(&self, id: i64, owner: &str) -> Result<bool> {
        SqliteBackend::release_job(self, id, owner)
    }

    fn recover_jobs(
        &self,
        is_owner_alive: &dyn Fn(&str) -> bool,
        stale_after_s: f64,
        now_unix_s: f64,
    ) -> Result<Vec<RecoveredJob>> {
        SqliteBackend::recover_jobs(self, is_owner_alive, stale_after_s, now_unix_s)
    }

    fn finish_job(&self, id: i64, outcome: &JobOutcome<'_>, now_unix_s: f64) -> Result<()> {
        SqliteBackend::finish_job(self, id, outcome, now_unix_s)
    }
}
