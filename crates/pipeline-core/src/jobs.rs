//! On-demand jobs (the `jobs` table `dsa110-api` writes): the daemon executes them beside
//! its normal queue.
//!
//! A `convert` job names groups that the API has already put back to `pending` (a failed
//! group re-queued, a completed one with `force`); the daemon's workers convert them in
//! their normal order, so a group is never processed twice. This task claims one queued
//! job at a time (atomically, so two daemons sharing the database never both take it),
//! marks it `running`, waits until each of its groups has left processing, and records
//! the outcome: `completed` when every group completed, else `failed` naming the groups
//! and their errors.
//!
//! A running job is owned (`host:pid:jobs`) and its heartbeat refreshed every
//! [`JOB_HEARTBEAT`]. On a graceful stop the daemon gives its job back (`queued`); a job
//! left `running` by a daemon that died (its pid gone on this host) or fell silent for
//! [`JOB_STALE_AFTER_S`] is queued again by the next recovery (at start, then every
//! [`JOB_HEARTBEAT`]) and run again, which is safe: a conversion job only waits for its
//! groups, and a mosaic is built again.
//!
//! A `mosaic` job (`POST /api/mosaic/create`: a time range, optionally a declination
//! strip and a name) combines the restored images whose mid-time lies in the range, of
//! one declination strip, into a primary-beam-weighted mosaic under `<output>/mosaics/`,
//! recorded in `mosaics` and `mosaic_images` like the mosaic stage's. It fails, saying
//! why, when the range holds no image or images of several strips and none was named.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::path::PathBuf;

use dsa110_photometry::MosaicOptions;
use dsa110_queue::{
    GroupState, ImageRecord, ImageType, JobOutcome, JobRecord, JobState, MosaicRecord,
    MosaicStatus, Queue,
};
use tokio::sync::watch;
use tracing::Instrument;

use crate::process::{now_unix_s, owner_alive, owner_id};
use crate::science::photometry::{fits_path, sort_by_time, strip_of};
use crate::worker::db;

/// The job kinds this daemon executes.
pub const EXECUTED_KINDS: &[&str] = &["convert", "mosaic"];

/// Where `mosaic` jobs write and how they grid.
#[derive(Clone, Debug)]
pub struct MosaicJobs {
    /// `<output>/mosaics`.
    pub dir: PathBuf,
    /// Gridding options (the mosaic stage's).
    pub options: MosaicOptions,
}

/// Images looked at by a `mosaic` job (the newest).
const MOSAIC_JOB_LOOKBACK: u32 = 100_000;

/// Longest a job waits for its groups before it is recorded failed.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// How often a running job's heartbeat is refreshed, and jobs of stopped owners are
/// looked for.
pub const JOB_HEARTBEAT: Duration = Duration::from_secs(60);

/// Seconds without a heartbeat after which a running job is taken back even though its
/// owner (on another host) cannot be seen to be dead.
pub const JOB_STALE_AFTER_S: f64 = 900.0;

/// Queues again the jobs left `running` by stopped owners. At start (`starting`), an
/// owner with this process's own id is a previous process that had our pid: dead.
async fn recover_jobs(queue: &Queue, me: &str, starting: bool) {
    let me = me.to_owned();
    let r = db(queue, "recover_jobs", move |q| {
        let alive = |o: &str| !(starting && o == me) && owner_alive(o);
        q.recover_jobs(alive, JOB_STALE_AFTER_S, now_unix_s())
    })
    .await;
    match r {
        Ok(back) if !back.is_empty() => {
            tracing::warn!(
                n = back.len(),
                "jobs left running by stopped owners queued again"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::error!("cannot look for jobs of stopped owners: {e}"),
    }
}

/// Refreshes a running job's heartbeat until dropped.
struct JobHeartbeat(tokio::task::JoinHandle<()>);

impl JobHeartbeat {
    fn spawn(queue: Queue, id: i64, owner: String) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(JOB_HEARTBEAT);
            tick.tick().await; // the first tick is immediate
            loop {
                tick.tick().await;
                let o = owner.clone();
                match db(&queue, "job_heartbeat", move |q| {
                    q.job_heartbeat(id, &o, now_unix_s())
                })
                .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job_id = id, "the job is no longer ours"),
                    Err(e) => tracing::warn!(job_id = id, "job heartbeat failed: {e}"),
                }
            }
        }))
    }
}

impl Drop for JobHeartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs queued jobs until the stop signal.
pub async fn run_jobs(
    queue: Queue,
    mosaics: MosaicJobs,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let owner = format!("{}:jobs", owner_id());
    recover_jobs(&queue, &owner, true).await;
    let mut last_recovery = Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        if last_recovery.elapsed() >= JOB_HEARTBEAT {
            recover_jobs(&queue, &owner, false).await;
            last_recovery = Instant::now();
        }
        let o = owner.clone();
        match db(&queue, "claim_next_job", move |q| {
            q.claim_next_job(EXECUTED_KINDS, &o, now_unix_s())
        })
        .await
        {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", id = job.id, kind = %job.kind);
                let _beat = JobHeartbeat::spawn(queue.clone(), job.id, owner.clone());
                if job.kind == "mosaic" {
                    execute_mosaic(&queue, job, &mosaics).instrument(span).await;
                } else {
                    execute(&queue, job, &owner, poll, &mut stop)
                        .instrument(span)
                        .await;
                }
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

async fn execute(
    queue: &Queue,
    job: JobRecord,
    owner: &str,
    poll: Duration,
    stop: &mut watch::Receiver<bool>,
) {
    tracing::info!(groups = ?job.group_ids, "job started");
    let started = Instant::now();
    loop {
        if *stop.borrow() {
            // given back, so that the next start (of this or another daemon) runs it
            let (id, o) = (job.id, owner.to_owned());
            match db(queue, "release_job", move |q| q.release_job(id, &o)).await {
                Ok(_) => tracing::warn!("stopping with the job unfinished: queued again"),
                Err(e) => tracing::error!(
                    "stopping with the job unfinished, and cannot queue it again \
                     (the next start's recovery will): {e}"
                ),
            }
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

/// A `mosaic` job's parameters, as `dsa110-api` records them.
#[derive(Debug, serde::Deserialize)]
struct MosaicJobParams {
    start_mjd: f64,
    end_mjd: f64,
    #[serde(default)]
    dec_strip_deg: Option<f64>,
    #[serde(default)]
    name: Option<String>,
}

async fn execute_mosaic(queue: &Queue, job: JobRecord, cfg: &MosaicJobs) {
    let id = job.id;
    let outcome = build_job_mosaic(queue, &job, cfg).await;
    let (result_json, error) = match &outcome {
        Ok(v) => (Some(v.to_string()), None),
        Err(e) => (None, Some(e.clone())),
    };
    match &error {
        None => tracing::info!(result = ?result_json, "mosaic job finished"),
        Some(e) => tracing::warn!("mosaic job failed: {e}"),
    }
    let r = db(queue, "finish_job", move |q| {
        q.finish_job(
            id,
            &JobOutcome {
                success: error.is_none(),
                result_json: result_json.as_deref(),
                error: error.as_deref(),
            },
            now_unix_s(),
        )
    })
    .await;
    if let Err(e) = r {
        tracing::error!("cannot record the job's outcome: {e}");
    }
}

/// Builds and records the mosaic of a job; the result JSON, or why not.
async fn build_job_mosaic(
    queue: &Queue,
    job: &JobRecord,
    cfg: &MosaicJobs,
) -> Result<serde_json::Value, String> {
    let p: MosaicJobParams = serde_json::from_str(job.params_json.as_deref().unwrap_or(""))
        .map_err(|e| format!("job {}: bad parameters: {e}", job.id))?;
    let (images, _) = db(queue, "list_images", |q| {
        q.list_images(Some(ImageType::Image), MOSAIC_JOB_LOOKBACK, 0)
    })
    .await
    .map_err(|e| crate::error::display_chain(&e))?;
    let mut members: Vec<ImageRecord> = images
        .into_iter()
        .filter(|r| {
            r.mid_mjd
                .is_some_and(|m| m >= p.start_mjd && m <= p.end_mjd)
        })
        .filter(|r| match p.dec_strip_deg {
            Some(d) => r.center_dec_deg.is_some_and(|c| (c - d).abs() <= 0.05),
            None => true,
        })
        .collect();
    let mut strips: Vec<String> = members.iter().filter_map(strip_of).collect();
    strips.sort();
    strips.dedup();
    let strip = match strips.as_slice() {
        [] => {
            return Err(format!(
                "no image between MJD {} and {}{}",
                p.start_mjd,
                p.end_mjd,
                p.dec_strip_deg
                    .map(|d| format!(" at declination {d}°"))
                    .unwrap_or_default()
            ))
        }
        [one] => one.clone(),
        many => {
            return Err(format!(
                "the images between MJD {} and {} lie in {} declination strips ({}): \
                 name one with dec_strip_deg",
                p.start_mjd,
                p.end_mjd,
                many.len(),
                many.join(", ")
            ))
        }
    };
    sort_by_time(&mut members);
    let name = p
        .name
        .clone()
        .unwrap_or_else(|| format!("job{}_{strip}", job.id));
    let base = cfg.dir.join(&name);
    let paths: Vec<PathBuf> = members.iter().map(|r| r.path.clone()).collect();
    let (dir, options, inputs, out) = (cfg.dir.clone(), cfg.options, paths.clone(), base);
    let built = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        match dsa110_photometry::mosaic_files(&inputs, &out, &options) {
            Ok(p) => Ok((dsa110_photometry::image_noise(&p.image), out)),
            Err(e) => Err(format!(
                "mosaic {}: {}",
                out.display(),
                crate::error::display_chain(&e)
            )),
        }
    })
    .await
    .map_err(|e| format!("mosaic task failed: {e}"))?;
    let (noise, out) = built?;
    let fits = fits_path(&out);
    let record = MosaicRecord {
        id: None,
        name: name.clone(),
        path: Some(fits.clone()),
        dec_strip_deg: members[0].center_dec_deg,
        start_mjd: members.iter().filter_map(|r| r.mid_mjd).reduce(f64::min),
        end_mjd: members.iter().filter_map(|r| r.mid_mjd).reduce(f64::max),
        n_images: Some(paths.len() as u32),
        noise_jy: noise,
        status: MosaicStatus::Completed,
        error: None,
        created_at: Some(now_unix_s()),
    };
    let n = paths.len();
    db(queue, "record mosaic", move |q| {
        q.upsert_mosaic(&record)?;
        q.set_mosaic_images(&record.name, &paths)
    })
    .await
    .map_err(|e| crate::error::display_chain(&e))?;
    crate::metrics::mosaic_built(crate::metrics::MosaicOutcome::Completed);
    Ok(serde_json::json!({"mosaic": name, "path": fits, "n_images": n, "noise_jy": noise}))
}
