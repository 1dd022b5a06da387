//! Processing one acquired group: run the conversion, record its timings and
//! product, and complete or fail the group with a human-readable reason.

use std::time::{SystemTime, UNIX_EPOCH};

use dsa110_queue::{
    AcquiredGroup, FailOutcome, Failure, GroupId, MsRecord, PerformanceRecord, Queue, QueueError,
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

/// This host's name (`/proc/sys/kernel/hostname`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// This process's queue owner id, `host:pid`.
pub fn owner_id() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// The owner id of worker `n` of this process, `host:pid:wN` (several workers of one
/// process must not share an owner id).
pub fn worker_owner_id(n: usize) -> String {
    format!("{}:w{n}", owner_id())
}

/// `(host, pid)` of an owner id `host:pid` or `host:pid:suffix`.
pub fn parse_owner(owner: &str) -> Option<(&str, u32)> {
    let mut parts = owner.splitn(3, ':');
    let host = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    Some((host, pid))
}

/// Whether the owner `host:pid[:suffix]` is alive, as far as this host can tell: an
/// owner on this host is alive iff its pid exists; owners on other hosts are
/// assumed alive (their heartbeat age decides). Unparsable owners are dead.
pub fn owner_alive(owner: &str) -> bool {
    let Some((host, pid)) = parse_owner(owner) else {
        return false;
    };
    if host != host_name() {
        return true;
    }
    pid_alive(pid)
}

/// Whether process `pid` of this host is running: it exists and is not a zombie (a
/// killed process whose parent has not reaped it yet holds nothing any more).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S …": the state follows the last ')' (comm may contain spaces/parens).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X" | "x"))
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
            record_completion(queue, owner, &gid, &report)?;
            Ok(GroupOutcome::Completed(report))
        }
        Err(error) => {
            let message = format!("{error}");
            let outcome = record_failure(
                queue,
                owner,
                &gid,
                &Failure {
                    error: error.kind(),
                    message: &message,
                    retryable: error.is_retryable(),
                },
                retry,
            )?;
            Ok(GroupOutcome::Failed { error, outcome })
        }
    }
}

/// Records a converted group: its timings in `performance_metrics`, its MS in
/// `ms_index`, and the group `completed`.
pub fn record_completion(
    queue: &Queue,
    owner: &str,
    gid: &GroupId,
    report: &ConversionReport,
) -> Result<(), QueueError> {
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
    queue.complete(gid, owner, now)?;
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
    Ok(())
}

/// Records a failed attempt: back to `pending` with backoff if retryable and under the
/// retry limit, else `failed`; `error` holds "kind: message".
pub fn record_failure(
    queue: &Queue,
    owner: &str,
    gid: &GroupId,
    failure: &Failure<'_>,
    retry: &RetryPolicy,
) -> Result<FailOutcome, QueueError> {
    let outcome = queue.fail(gid, owner, failure, retry, now_unix_s())?;
    match outcome {
        FailOutcome::Retrying { retry_count, .. } => {
            tracing::warn!(group_id = %gid, retry_count, error = %failure.message, "processing failed; will retry");
        }
        FailOutcome::Failed { .. } => {
            tracing::error!(group_id = %gid, error = %failure.message, "processing failed");
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_ids_with_and_without_worker_suffix() {
        let me = owner_id();
        assert!(owner_alive(&me), "{me}");
        assert!(owner_alive(&worker_owner_id(2)));
        assert_eq!(parse_owner("host-a:123:w1"), Some(("host-a", 123)));
        assert_eq!(parse_owner("host-a:123"), Some(("host-a", 123)));
        assert_eq!(parse_owner("host-a"), None);
        assert!(!owner_alive("garbage"));
        // another host: assumed alive
        assert!(owner_alive("some-other-host-xyz:1:w1"));
        // a pid that cannot exist on this host
        let dead = format!("{}:4294967295:w1", host_name());
        assert!(!owner_alive(&dead));
    }
}
