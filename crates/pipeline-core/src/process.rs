//! Processing one acquired group: run the conversion, record its timings and
//! product, and complete or fail the group with a human-readable reason.

use std::time::{SystemTime, UNIX_EPOCH};

use dsa110_queue::{
    AcquiredGroup, FailOutcome, Failure, MsRecord, PerformanceRecord, Queue, QueueError,
    RetryPolicy,
};

use crate::convert::{convert_group, ConversionReport, ConvertError, ConvertParams, GroupInput};

/// The writer type recorded in `performance_metrics`.
pub const WRITER_TYPE: &str = "rust-casacore-streaming";

/// Current Unix time (s).
pub fn now_unix_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This process's queue owner id, `host:pid`.
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}

/// Whether the owner `host:pid` is alive, as far as this host can tell: an
/// owner on this host is alive iff its pid exists; owners on other hosts are
/// assumed alive (their heartbeat age decides).
pub fn owner_alive(owner: &str) -> bool {
    let this = owner_id();
    let (host, pid) = match owner.rsplit_once(':') {
        Some(x) => x,
        None => return false,
    };
    let this_host = this.rsplit_once(':').map_or("", |x| x.0);
    if host != this_host {
        return true;
    }
    pid.parse::<u32>()
        .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
}

/// How a group ended.
#[derive(Debug)]
pub enum GroupOutcome {
    /// Converted and marked completed.
    Completed(ConversionReport),
    /// Failed; retried later or failed for good (see the outcome).
    Failed {
        /// The conversion error.
        error: ConvertError,
        /// What the queue did.
        outcome: FailOutcome,
    },
}

/// Convert an acquired group and record the result in the queue.
pub fn process_group(
    queue: &Queue,
    owner: &str,
    group: &AcquiredGroup,
    params: &ConvertParams,
    retry: &RetryPolicy,
) -> Result<GroupOutcome, QueueError> {
    let gid = group.group_id.clone();
    queue.set_stage(&gid, "conversion", now_unix_s())?;
    let input = GroupInput {
        group_id: gid.as_str().to_string(),
        files: group
            .files
            .iter()
            .map(|f| (f.subband.get(), f.path.clone()))
            .collect(),
    };
    let mut params = params.clone();
    params.expected_subbands = group.expected_subbands;
    match convert_group(&input, &params) {
        Ok(report) => {
            let now = now_unix_s();
            queue.record_performance(&PerformanceRecord {
                group_id: gid.clone(),
                load_time_s: Some(report.timings.load_s),
                phase_time_s: Some(report.timings.phase_s),
                write_time_s: Some(report.timings.write_s),
                total_time_s: Some(report.timings.total_s),
                writer_type: Some(WRITER_TYPE.to_string()),
                recorded_at: now,
            })?;
            let (m0, m1) = report.time_range_mjd;
            queue.record_ms(&MsRecord {
                path: report.ms_path.clone(),
                group_id: gid.clone(),
                created_at: now,
                start_mjd: Some(m0),
                end_mjd: Some(m1),
                mid_mjd: Some(0.5 * (m0 + m1)),
                ra_deg: Some(report.phase_centre_rad.0.to_degrees()),
                dec_deg: Some(report.phase_centre_rad.1.to_degrees()),
                n_spw: Some(report.n_spw as u32),
                n_rows: Some(report.n_rows as u64),
                n_missing_subbands: Some(report.missing_subbands.len() as u32),
                size_bytes: Some(report.output_bytes),
                status: "converted".to_string(),
            })?;
            queue.complete(&gid, owner, now)?;
            tracing::info!(
                group_id = %gid,
                ms = %report.ms_path.display(),
                total_s = report.timings.total_s,
                load_s = report.timings.load_s,
                phase_s = report.timings.phase_s,
                write_s = report.timings.write_s,
                missing = ?report.missing_subbands,
                "group converted"
            );
            Ok(GroupOutcome::Completed(report))
        }
        Err(error) => {
            let message = format!("{error}");
            let outcome = queue.fail(
                &gid,
                owner,
                &Failure {
                    error: error.kind(),
                    message: &message,
                    retryable: error.is_retryable(),
                },
                retry,
                now_unix_s(),
            )?;
            match outcome {
                FailOutcome::Retrying { retry_count, .. } => {
                    tracing::warn!(group_id = %gid, retry_count, error = %message, "conversion failed; will retry");
                }
                FailOutcome::Failed { .. } => {
                    tracing::error!(group_id = %gid, error = %message, "conversion failed");
                }
            }
            Ok(GroupOutcome::Failed { error, outcome })
        }
    }
}
