//! The watcher: notices subband files in the input directory and registers them.
//!
//! inotify (through `notify`) triggers a scan as soon as a final subband name appears;
//! a full scan also runs at start (bootstrap: files already present) and every poll
//! interval anyway, so a missed event, an overflowed inotify queue or a filesystem
//! without inotify (NFS) only delays a file, never loses it. Files still settling are
//! looked at again soon after. Each scan hands every `*.hdf5` path to the [`Intake`]
//! (settling, validation in a child process, `hdf5_files`, registration) on a blocking
//! thread, and counts outcomes in `dsa110_streaming_files_total{outcome}`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dsa110_hdf5_ingest::{is_incomplete_name, parse_subband_filename};
use dsa110_queue::{Queue, RegisterOutcome};
use tokio::sync::{mpsc, watch, Notify};

use crate::intake::{list_dir, FileOutcome, Intake, IntakeParams};
use crate::metrics as m;
use crate::monitoring::Liveness;
use crate::process::now_unix_s;

/// A database call slower than this is logged (another process holds the lock).
pub const SLOW_DB_WARN: Duration = Duration::from_secs(2);

/// Settings of the watcher.
#[derive(Debug)]
pub struct WatcherParams {
    /// The directory the correlator writes to.
    pub input_dir: PathBuf,
    /// Settling, expected subbands, EOP.
    pub intake: IntakeParams,
    /// Period of the full scan.
    pub poll_interval: Duration,
    /// What the scans have seen so far (read by `--exit-when-idle`).
    pub progress: Arc<ScanProgress>,
}

/// Progress of the watcher's scans, shared with whoever needs to know whether the input
/// directory still holds work (the daemon's `--exit-when-idle`).
#[derive(Debug, Default)]
pub struct ScanProgress {
    scans: std::sync::atomic::AtomicU64,
    unsettled: std::sync::atomic::AtomicU64,
}

impl ScanProgress {
    /// Completed scans.
    pub fn scans(&self) -> u64 {
        self.scans.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Files the last scan found still settling (not yet registered).
    pub fn unsettled(&self) -> u64 {
        self.unsettled.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn record(&self, summary: &ScanSummary) {
        use std::sync::atomic::Ordering;
        self.unsettled
            .store(summary.unsettled as u64, Ordering::SeqCst);
        self.scans.fetch_add(1, Ordering::SeqCst);
    }
}

/// What one scan did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanSummary {
    /// Candidate files examined.
    pub n_files: usize,
    /// Files registered in a group.
    pub registered: usize,
    /// Files found invalid.
    pub rejected: usize,
    /// Files still settling.
    pub unsettled: usize,
}

/// Whether an inotify event concerns a final subband file name.
fn is_interesting(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| !is_incomplete_name(n) && parse_subband_filename(n).is_ok())
}

/// One full scan of the input directory (blocking).
///
/// # Errors
/// Listing the directory failed (the scan is retried at the next tick).
pub fn scan_once(
    queue: &Queue,
    intake: &mut Intake,
    params: &WatcherParams,
) -> std::io::Result<ScanSummary> {
    let files = list_dir(&params.input_dir)?;
    let mut summary = ScanSummary {
        n_files: files.len(),
        ..ScanSummary::default()
    };
    for path in &files {
        let t = Instant::now();
        let outcome = intake.consider(queue, path, &params.intake, now_unix_s());
        let took = t.elapsed();
        if took > SLOW_DB_WARN {
            tracing::warn!(path = %path.display(), seconds = took.as_secs_f64(),
                "registering a file took {:.1} s (queue database locked by another process?)",
                took.as_secs_f64());
        }
        match outcome {
            Ok(outcome) => {
                if let Some(label) = outcome
                    .metric_outcome()
                    .and_then(|s| s.parse::<m::FileOutcome>().ok())
                {
                    m::file_seen(label);
                }
                match &outcome {
                    FileOutcome::NotSettled => summary.unsettled += 1,
                    FileOutcome::Registered(RegisterOutcome::Added {
                        group_id,
                        n_subbands,
                        state,
                        ..
                    }) => {
                        summary.registered += 1;
                        tracing::info!(group_id = %group_id, path = %path.display(),
                            n_subbands, state = %state.as_str(), "file registered");
                    }
                    FileOutcome::Registered(RegisterOutcome::Late { group_id, state }) => {
                        tracing::warn!(group_id = %group_id, path = %path.display(), state = %state.as_str(),
                            "late file for a group already taken; recorded in late_files, not reprocessed");
                    }
                    FileOutcome::Registered(RegisterOutcome::DuplicateSubband {
                        group_id,
                        existing_path,
                        ..
                    }) => {
                        tracing::warn!(group_id = %group_id, path = %path.display(),
                            existing = %existing_path.display(), "duplicate subband; ignored");
                    }
                    FileOutcome::Invalid { .. } => {
                        summary.rejected += 1;
                        summary.registered += 1;
                    }
                    FileOutcome::Unusable { .. } => summary.rejected += 1,
                    _ => {}
                }
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(path = %path.display(),
                    "queue database busy, will register the file at the next scan: {e}");
                summary.unsettled += 1;
                // the database is locked: the other files would wait just as long
                break;
            }
            Err(e) => {
                tracing::error!(path = %path.display(), "cannot register file: {e}");
            }
        }
    }
    intake.prune();
    Ok(summary)
}

/// Runs the watcher until `shutdown` turns true. Wakes `work_available` after a scan
/// that registered files.
pub async fn run_watcher(
    queue: Queue,
    intake: Intake,
    params: WatcherParams,
    liveness: Liveness,
    work_available: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let handler = move |res: notify::Result<notify::Event>| match res {
        Ok(ev) if ev.paths.iter().any(|p| is_interesting(p)) => {
            let _ = tx.send(());
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!("inotify: {e}; relying on the periodic scan");
            let _ = tx.send(());
        }
    };
    // Keep the notify watcher alive for as long as this task runs.
    let _inotify = match notify::recommended_watcher(handler) {
        Ok(mut w) => {
            use notify::Watcher as _;
            match w.watch(&params.input_dir, notify::RecursiveMode::NonRecursive) {
                Ok(()) => Some(w),
                Err(e) => {
                    tracing::warn!(dir = %params.input_dir.display(),
                        "cannot watch the input directory ({e}); polling every {:.1} s",
                        params.poll_interval.as_secs_f64());
                    None
                }
            }
        }
        Err(e) => {
            tracing::warn!(
                "inotify unavailable ({e}); polling every {:.1} s",
                params.poll_interval.as_secs_f64()
            );
            None
        }
    };
    liveness.set_watcher_running(true);
    tracing::info!(dir = %params.input_dir.display(), poll_s = params.poll_interval.as_secs_f64(),
        "watching the input directory");
    let params = Arc::new(params);
    let intake = Arc::new(Mutex::new(intake));
    // Files still settling are looked at again after this long.
    let settle_recheck = Duration::from_secs_f64((params.intake.settle_s / 2.0).clamp(0.1, 5.0))
        .min(params.poll_interval);
    let mut next_scan = tokio::time::Instant::now(); // bootstrap scan right away
    let mut events_open = true;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
            ev = rx.recv(), if events_open => {
                if ev.is_none() {
                    // the inotify thread is gone: polling only
                    events_open = false;
                    continue;
                }
                // let a burst of events (rename + close) arrive before scanning
                tokio::time::sleep(Duration::from_millis(50)).await;
                while rx.try_recv().is_ok() {}
            }
            () = tokio::time::sleep_until(next_scan) => {}
        }
        let (q, p, i) = (queue.clone(), Arc::clone(&params), Arc::clone(&intake));
        let result = tokio::task::spawn_blocking(move || {
            let mut intake = i.lock().unwrap_or_else(PoisonError::into_inner);
            scan_once(&q, &mut intake, &p)
        })
        .await;
        let mut wait = params.poll_interval;
        match result {
            Ok(Ok(summary)) => {
                liveness.watcher_heartbeat();
                params.progress.record(&summary);
                if summary.registered > 0 {
                    work_available.notify_waiters();
                }
                if summary.unsettled > 0 {
                    wait = settle_recheck;
                }
                tracing::debug!(?summary, "scan");
            }
            Ok(Err(e)) => {
                tracing::error!(dir = %params.input_dir.display(), "cannot list the input directory: {e}");
            }
            Err(e) => tracing::error!("scan task failed: {e}"),
        }
        next_scan = tokio::time::Instant::now() + wait;
    }
    liveness.set_watcher_running(false);
    tracing::info!("watcher stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_subband_names_trigger_scans() {
        assert!(is_interesting(Path::new(
            "/in/2025-10-02T00:12:00_sb03.hdf5"
        )));
        assert!(!is_interesting(Path::new(
            "/in/2025-10-02T00:12:00_sb03_incomplete.hdf5"
        )));
        assert!(!is_interesting(Path::new("/in/notes.txt")));
        assert!(!is_interesting(Path::new("/in/gains.npy")));
    }
}
