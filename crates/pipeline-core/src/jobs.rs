//! On-demand jobs (the `jobs` table `dsa110-api` writes): the daemon executes them beside
//! its normal queue.
//!
//! A `convert` job names groups that the API has already put back to `pending` (a failed
//! group re-queued, a completed one with `force`); the daemon's workers convert them in
//! their normal order, so a group is never processed twice. This task claims one queued
//! job at a time (atomically, so two daemons sharing the database never both take it),
//! marks it `running`, waits until each of its groups has left processing, and records
//! the outcome: `completed` when every group completed, else `failed` naming the groups
//! and their errors. Other job kinds (e.g. `mosaic`) are not executed by this build and
//! stay `queued`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dsa110_queue::{GroupState, JobOutcome, JobRecord, JobState, Queue};
use tokio::sync::watch;
use tracing::Instrument;

use crate::process::now_unix_s;
use crate::worker::db;

/// The job kinds this daemon executes.
pub const EXECUTED_KINDS: &[&str] = &["convert"];

/// Longest a job waits for its groups before it is recorded failed.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Runs queued jobs until the stop signal.
pub async fn run_jobs(queue: Queue, poll: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match db(&queue, "claim_next_job", |q| {
            q.claim_next_job(EXECUTED_KINDS, now_unix_s())
        })
        .await
        {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", id = job.id, kind = %job.kind);
                execute(&queue, job, poll, &mut stop).instrument(span).await;
            }
            Ok(None) => {
                let _ = tokio::time::timeout(poll, stop.changed()).await;
            }
            Err(e) => {
                tracing::error!("cannot take a job: {e}");
                let _ = tokio::time::timeout(poll, stop.changed()).await;
            }
        }
    }
}

async fn execute(queue: &Queue, job: JobRecord, poll: Duration, stop: &mut watch::Receiver<bool>) {
    tracing::info!(groups = ?job.group_ids, "job started");
    let started = Instant::now();
    loop {
        if *stop.borrow() {
            // left `running`; the next start's recovery is the API's cancel, or a rerun
            tracing::warn!("stopping with the job unfinished");
            return;
        }
        let ids = job.group_ids.clone();
        let states = db(queue, "job groups", move |q| {
            let mut out = BTreeMap::new();
            for g in &ids {
                out.insert(g.to_string(), q.group(g)?);
            }
            Ok(out)
        })
        .await;
        let states = match states {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot read the job's groups: {e}");
                let _ = tokio::time::timeout(poll, stop.changed()).await;
                continue;
            }
        };
        let current = db(queue, "job", {
            let id = job.id;
            move |q| q.job(id)
        })
        .await;
        if let Ok(Some(j)) = &current {
            if j.state == JobState::Cancelled {
                tracing::info!("job cancelled");
                return;
            }
        }
        let finished = states.values().all(|g| {
            g.as_ref()
                .is_none_or(|g| matches!(g.state, GroupState::Completed | GroupState::Failed))
        });
        let timed_out = started.elapsed() >= JOB_TIMEOUT;
        if finished || timed_out {
            let mut failures = Vec::new();
            let mut result = serde_json::Map::new();
            for (gid, g) in &states {
                match g {
                    Some(g) => {
                        result.insert(gid.clone(), serde_json::json!(g.state.as_str()));
                        if g.state != GroupState::Completed {
                            failures.push(format!(
                                "{gid}: {}{}",
                                g.state.as_str(),
                                g.error_message
                                    .as_deref()
                                    .or(g.error.as_deref())
                                    .map(|e| format!(" ({e})"))
                                    .unwrap_or_default()
                            ));
                        }
                    }
                    None => failures.push(format!("{gid}: unknown group")),
                }
            }
            if timed_out && !finished {
                failures.push(format!(
                    "timed out after {:.0} s waiting for the groups",
                    JOB_TIMEOUT.as_secs_f64()
                ));
            }
            let result_json = serde_json::Value::Object(result).to_string();
            let error = (!failures.is_empty()).then(|| failures.join("; "));
            let id = job.id;
            let r = db(queue, "finish_job", move |q| {
                q.finish_job(
                    id,
                    &JobOutcome {
                        success: error.is_none(),
                        result_json: Some(&result_json),
                        error: error.as_deref(),
                    },
                    now_unix_s(),
                )
            })
            .await;
            match r {
                Ok(()) => tracing::info!(failures = failures.len(), "job finished"),
                Err(e) => tracing::error!("cannot record the job's outcome: {e}"),
            }
            return;
        }
        let _ = tokio::time::timeout(poll, stop.changed()).await;
    }
}
