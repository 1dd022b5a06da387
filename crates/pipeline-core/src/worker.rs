//! The worker: takes groups oldest observation first and runs the stages on them.
//!
//! Each loop iteration: heartbeat, disk check (pause below the threshold, recheck every
//! poll interval), promote groups that stopped collecting, take the next group. For a
//! group the runner (not the stages) opens a tracing span with `group_id`, refuses files
//! the watcher recorded invalid (they are never opened in this process), runs each
//! [`Stage`] on a blocking thread while a heartbeat task keeps the group's `last_update`
//! fresh, times the stages into `performance_metrics` and the histograms, and completes or
//! fails the group with a readable `error` (retryable failures go back to `pending` with
//! backoff, see [`RetryPolicy`]).
//!
//! Shutdown: when the stop signal comes, no new group is taken; the current group gets
//! `stop_timeout` to finish. After that it is abandoned: its temporary MS is removed and
//! the group released to `pending` (retry count unchanged); the blocking conversion thread
//! cannot be cancelled and dies with the process, which exits right after.
//!
//! Every database call goes through [`db`]: it runs on a blocking thread, waits out locks
//! held by other processes (SQLite's busy timeout, then retries with backoff, logging at
//! warn), and never gives up on a retryable error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsa110_queue::{
    AcquiredGroup, FailOutcome, Failure, GroupId, GroupState, Queue, QueueError, Recovered,
    RetryPolicy,
};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::disk::DiskGuard;
use crate::error::{display_chain, PipelineError};
use crate::metrics::{self as m, GroupOutcome as MetricOutcome};
use crate::monitoring::Liveness;
use crate::process::{now_unix_s, owner_alive, worker_owner_id};
use crate::runner::{GroupOutcome, RunObserver, Runner};
use crate::watcher::SLOW_DB_WARN;

/// Seconds without a heartbeat after which an `in_progress` group of a live owner is
/// taken back (heartbeats come every [`HEARTBEAT_EVERY`]).
pub const STALE_AFTER_S: f64 = 900.0;
/// How often a worker refreshes the `last_update` of the group it holds.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// How often worker 1 looks for groups abandoned by dead workers (besides at start).
pub const RECOVER_EVERY: Duration = Duration::from_secs(300);

/// Runs `f` on a blocking thread against the queue, retrying retryable errors (database
/// locked past the busy timeout, no free connection) with backoff, forever, logging each
/// at warn. A call that was slow because of a lock is logged too.
///
/// # Errors
/// The first non-retryable error, or [`PipelineError::Task`] if the thread panicked.
pub async fn db<T, F>(queue: &Queue, what: &'static str, f: F) -> Result<T, PipelineError>
where
    T: Send + 'static,
    F: Fn(&Queue) -> Result<T, QueueError> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let mut backoff = Duration::from_millis(500);
    loop {
        let (q, g) = (queue.clone(), Arc::clone(&f));
        let t = Instant::now();
        let result = tokio::task::spawn_blocking(move || g(&q)).await;
        let took = t.elapsed();
        if took > SLOW_DB_WARN {
            tracing::warn!(
                op = what,
                seconds = took.as_secs_f64(),
                "queue database call {what} took {:.1} s (locked by another process?)",
                took.as_secs_f64()
            );
        }
        match result {
            Err(e) => {
                return Err(PipelineError::Task {
                    what,
                    reason: e.to_string(),
                })
            }
            Ok(Err(e)) if e.is_retryable() => {
                crate::runner::note_db_busy(true);
                tracing::warn!(
                    op = what,
                    "queue database busy, retrying in {:.1} s: {e}",
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Ok(r) => {
                crate::runner::note_db_busy(false);
                return r.map_err(PipelineError::from);
            }
        }
    }
}

/// What every worker shares.
#[derive(Debug)]
pub struct WorkerShared {
    /// The queue.
    pub queue: Queue,
    /// The stage runner (stages, their context, the retry policy).
    pub runner: Runner,
    /// Retry limit and backoff of failed groups.
    pub retry: RetryPolicy,
    /// The output disk guard.
    pub guard: Arc<DiskGuard>,
    /// Liveness flags for `/health`.
    pub liveness: Liveness,
    /// Woken by the watcher when files were registered.
    pub work_available: Arc<Notify>,
    /// Idle / paused recheck period.
    pub poll_interval: Duration,
    /// Partial-group timeout (s).
    pub partial_timeout_s: f64,
    /// Minimum subbands of a partial group.
    pub min_subbands: u8,
    /// Minutes per chunk recorded on each group.
    pub chunk_minutes: f64,
    /// Grace period of the current group after the stop signal.
    pub stop_timeout: Duration,
    /// The output directory (temporary products live there).
    pub output_dir: PathBuf,
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerExit {
    /// Stopped between groups.
    Stopped,
    /// Stopped after abandoning the group it held (released to `pending`).
    Abandoned {
        /// The group.
        group_id: GroupId,
    },
}

enum Processed {
    Finished,
    Abandoned(GroupId),
}

/// Sleeps for `d`, or until work is announced or the stop signal comes.
async fn idle(d: Duration, work: &Notify, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        () = work.notified() => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// Completes once the stop signal has come and `grace` has passed since.
async fn stop_deadline(mut stop: watch::Receiver<bool>, grace: Duration, group_id: GroupId) {
    if stop.wait_for(|s| *s).await.is_err() {
        // sender gone without a stop: never fire
        std::future::pending::<()>().await;
    }
    tracing::info!(group_id = %group_id,
        "stop requested: finishing the current group (up to {:.0} s)", grace.as_secs_f64());
    tokio::time::sleep(grace).await;
}

/// Runs worker `n` (1-based, owner `host:pid:wN`) until the stop signal.
pub async fn run_worker(
    shared: Arc<WorkerShared>,
    n: usize,
    mut stop: watch::Receiver<bool>,
) -> WorkerExit {
    let owner = worker_owner_id(n);
    tracing::info!(worker = n, owner = %owner, "worker started");
    let mut last_recover = Instant::now();
    loop {
        if *stop.borrow() {
            tracing::info!(worker = n, "worker stopped");
            return WorkerExit::Stopped;
        }
        shared.liveness.worker_heartbeat();
        // 1. disk space, every iteration even when idle
        let guard = Arc::clone(&shared.guard);
        let may_proceed = tokio::task::spawn_blocking(move || guard.check().may_proceed())
            .await
            .unwrap_or(false);
        if !may_proceed {
            idle(shared.poll_interval, &Notify::new(), &mut stop).await;
            continue;
        }
        // 2. groups that stopped collecting
        let (timeout, min) = (shared.partial_timeout_s, shared.min_subbands);
        match db(&shared.queue, "promote_partial", move |q| {
            q.promote_partial(timeout, min, now_unix_s())
        })
        .await
        {
            Ok(outcomes) => {
                for o in outcomes
                    .iter()
                    .filter(|o| o.new_state == GroupState::Failed)
                {
                    tracing::debug!(group_id = %o.group_id, "counted failed (too few subbands)");
                    m::group_finished(MetricOutcome::Failed, 0.0);
                }
            }
            Err(e) => tracing::error!("cannot promote partial groups: {e}"),
        }
        // 3. groups of dead workers (other hosts: by heartbeat age)
        if n == 1 && last_recover.elapsed() >= RECOVER_EVERY {
            last_recover = Instant::now();
            let limit = shared.retry.retry_limit;
            match db(&shared.queue, "recover_stale", move |q| {
                q.recover_stale(owner_alive, STALE_AFTER_S, limit, now_unix_s())
            })
            .await
            {
                Ok(recovered) => count_recovered(&recovered),
                Err(e) => tracing::error!("cannot recover stale groups: {e}"),
            }
        }
        // 4. the oldest pending group
        let o = owner.clone();
        let acquired = db(&shared.queue, "acquire_next", move |q| {
            q.acquire_next(&o, now_unix_s())
        })
        .await;
        let group = match acquired {
            Ok(Some(g)) => g,
            Ok(None) => {
                idle(shared.poll_interval, &shared.work_available, &mut stop).await;
                continue;
            }
            Err(e) => {
                tracing::error!("cannot take a group: {e}");
                idle(shared.poll_interval, &shared.work_available, &mut stop).await;
                continue;
            }
        };
        let gid = group.group_id.clone();
        let span = tracing::info_span!("group", group_id = %gid, worker = n);
        let result = process(&shared, &owner, group, stop.clone())
            .instrument(span)
            .await;
        match result {
            Ok(Processed::Finished) => {}
            Ok(Processed::Abandoned(group_id)) => {
                tracing::info!(worker = n, "worker stopped");
                return WorkerExit::Abandoned { group_id };
            }
            Err(e) => tracing::error!(group_id = %gid, "processing the group failed: {e}"),
        }
    }
}

/// Counts groups taken back from dead workers: back to `pending` is a retry, at the
/// retry limit a failure.
pub(crate) fn count_recovered(recovered: &[Recovered]) {
    for r in recovered {
        m::group_finished(
            if r.new_state == GroupState::Failed {
                MetricOutcome::Failed
            } else {
                MetricOutcome::Retried
            },
            0.0,
        );
    }
}

/// Refreshes the group's heartbeat until dropped.
struct HeartbeatTask(tokio::task::JoinHandle<()>);

impl HeartbeatTask {
    fn spawn(queue: Queue, gid: GroupId, owner: String, every: Duration) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await; // the first tick is immediate
            loop {
                tick.tick().await;
                let (q, g, o) = (queue.clone(), gid.clone(), owner.clone());
                match tokio::task::spawn_blocking(move || q.heartbeat(&g, &o, now_unix_s())).await {
                    Ok(Ok(())) => tracing::debug!(group_id = %gid, "heartbeat"),
                    Ok(Err(e)) => tracing::warn!(group_id = %gid, "heartbeat failed: {e}"),
                    Err(e) => tracing::warn!(group_id = %gid, "heartbeat task failed: {e}"),
                }
            }
        }))
    }
}

impl Drop for HeartbeatTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Refreshes the worker's liveness as stages start and end.
struct LivenessObserver(Liveness);

impl RunObserver for LivenessObserver {
    fn stage_started(&self, _stage: &'static str) {
        self.0.worker_heartbeat();
    }
    fn stage_ended(&self, _stage: &'static str, _seconds: f64, _ok: bool) {
        self.0.worker_heartbeat();
    }
}

async fn process(
    shared: &WorkerShared,
    owner: &str,
    group: AcquiredGroup,
    stop: watch::Receiver<bool>,
) -> Result<Processed, PipelineError> {
    let started = Instant::now();
    let gid = group.group_id.clone();
    tracing::info!(
        n_files = group.files.len(),
        missing = group.missing.len(),
        retry_count = group.retry_count,
        "processing group"
    );
    let _heartbeat = HeartbeatTask::spawn(
        shared.queue.clone(),
        gid.clone(),
        owner.to_owned(),
        HEARTBEAT_EVERY,
    );
    {
        let (g, chunk) = (gid.clone(), shared.chunk_minutes);
        db(&shared.queue, "set_chunk_minutes", move |q| {
            q.set_chunk_minutes(&g, chunk)
        })
        .await?;
    }
    let runner = shared.runner.clone();
    let observer = LivenessObserver(shared.liveness.clone());
    let o = owner.to_owned();
    let span = tracing::Span::current();
    let mut job = tokio::task::spawn_blocking(move || {
        span.in_scope(|| runner.run_group(&o, group, &observer))
    });
    let joined = tokio::select! {
        r = &mut job => r,
        () = stop_deadline(stop.clone(), shared.stop_timeout, gid.clone()) => {
            abandon(shared, owner, &gid).await;
            return Ok(Processed::Abandoned(gid));
        }
    };
    shared.liveness.worker_heartbeat();
    match joined {
        Ok(Ok(GroupOutcome::Completed { .. })) => {
            let seconds = started.elapsed().as_secs_f64();
            m::group_finished(MetricOutcome::Completed, seconds);
            shared.liveness.record_success(now_unix_s());
            tracing::info!(seconds, "group completed");
        }
        Ok(Ok(GroupOutcome::Failed { outcome, .. })) => {
            m::group_finished(
                match outcome {
                    FailOutcome::Retrying { .. } => MetricOutcome::Retried,
                    FailOutcome::Failed { .. } => MetricOutcome::Failed,
                },
                0.0,
            );
        }
        Ok(Err(e)) => {
            // The database stayed unusable: the group stays in_progress and recovery takes
            // it back.
            tracing::error!("cannot record the group's progress: {}", display_chain(&e));
        }
        Err(join) => {
            let message = format!("the stage runner stopped unexpectedly: {join}");
            let (g, o, retry) = (gid.clone(), owner.to_owned(), shared.retry);
            let outcome = db(&shared.queue, "fail", move |q| {
                q.fail(
                    &g,
                    &o,
                    &Failure {
                        error: "stage_crashed",
                        message: &message,
                        retryable: true,
                    },
                    &retry,
                    now_unix_s(),
                )
            })
            .await?;
            m::group_finished(
                match outcome {
                    FailOutcome::Retrying { .. } => MetricOutcome::Retried,
                    FailOutcome::Failed { .. } => MetricOutcome::Failed,
                },
                0.0,
            );
        }
    }
    Ok(Processed::Finished)
}

/// The stop timeout passed with the group still running: give the group back. Its
/// temporary MS cannot be removed while the conversion thread still writes into it
/// (casacore aborts the process when its directory vanishes), so the daemon removes it
/// once the process has exited ([`crate::daemon::spawn_cleanup_after_exit`]), and
/// failing that the next start does.
async fn abandon(shared: &WorkerShared, owner: &str, gid: &GroupId) {
    tracing::warn!(
        "stop timeout ({:.0} s) reached: abandoning the group; it goes back to pending",
        shared.stop_timeout.as_secs_f64()
    );
    let (g, o) = (gid.clone(), owner.to_owned());
    if let Err(e) = db(&shared.queue, "release", move |q| {
        q.release(&g, &o, now_unix_s())
    })
    .await
    {
        tracing::error!(group_id = %gid,
            "cannot release the group ({e}); it will be recovered at the next start");
    }
}

/// The temporary MS this process writes for `group_id` in `output_dir`.
pub fn temporary_ms_path(output_dir: &std::path::Path, group_id: &str) -> PathBuf {
    crate::temporaries::temporary_path(output_dir, &format!("{group_id}.ms"))
}
