//! The stage runner: one acquired group through the configured stages, with per-stage
//! state in the queue. The daemon's workers and the fallback converter drive this same
//! runner (the fallback with the conversion stage alone).
//!
//! For a group the runner:
//! 1. refuses files the watcher recorded invalid (they are never opened in this process:
//!    libhdf5 may crash on them), failing the group naming the file;
//! 2. reads the group's `group_stages` rows: a stage already `done` (or `skipped`) in an
//!    earlier attempt is not run again — a retry resumes at the stage that failed — and
//!    the products it recorded are read back from the registry for the later stages;
//! 3. runs each remaining stage: `begin_stage` (state `running`, `processing_stage`), the
//!    stage's work, then ONE transaction that records its products, marks it `done` and,
//!    after the last stage, completes the group ([`Queue::finish_stage`]); a failure is
//!    recorded by [`Queue::fail_stage`] (stage `failed`, group retried with backoff or
//!    failed for good) in one transaction too;
//! 4. times every stage into the `stage` histogram (a no-op where no recorder is
//!    installed, as in the fallback converter).
//!
//! Database calls wait out a database locked by another process ([`with_retry`]).
//!
//! Testing aids (environment, read once): `DSA110_FAULT_POINT=<point>:<stage>` makes the
//! process kill itself with SIGKILL at that point — `after_publish` (the stage's product
//! is on disk, nothing recorded yet) or `after_done` (the stage is recorded done, the
//! next stage not begun) — so tests can land a kill at an exact point;
//! `DSA110_FAULT_SLEEP=<stage>:<seconds>` sleeps before the stage runs (or at a named
//! point inside it, `<stage>.<point>:<seconds>`, see [`fault_sleep`]);
//! `DSA110_FAULT_FAIL_ONCE=<stage>` fails the stage's first attempt of every group with a
//! retryable error.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use dsa110_queue::{
    AcquiredGroup, FailOutcome, Failure, GroupId, ImageType, QueueError, RetryPolicy, StageDone,
};

use crate::error::display_chain;
use crate::metrics as m;
use crate::process::now_unix_s;
use crate::stage::{GroupWork, ProductKind, Stage, StageContext, StageError, StageOutput};

/// Longest single wait between retries of a database call blocked by another process.
const MAX_DB_BACKOFF: Duration = Duration::from_secs(30);

/// Runs `f` against the queue, retrying retryable errors (database locked past the busy
/// timeout, no free connection) with backoff, logging each at warn. Gives up after
/// `give_up_after` (the caller then sees the last error).
///
/// # Errors
/// The first non-retryable error, or the last retryable one after `give_up_after`.
pub fn with_retry<T>(
    what: &'static str,
    give_up_after: Duration,
    mut f: impl FnMut() -> Result<T, QueueError>,
) -> Result<T, QueueError> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(500);
    loop {
        match f() {
            Err(e) if e.is_retryable() && started.elapsed() < give_up_after => {
                note_db_busy(true);
                tracing::warn!(
                    op = what,
                    "queue database busy, retrying in {:.1} s: {}",
                    backoff.as_secs_f64(),
                    display_chain(&e)
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_DB_BACKOFF);
            }
            r => {
                if r.is_ok() {
                    note_db_busy(false);
                }
                return r;
            }
        }
    }
}

/// Unix milliseconds since which the queue database has refused this process's calls as
/// busy (locked by another process past the busy timeout); 0 while it answers.
static DB_BUSY_SINCE_MS: AtomicU64 = AtomicU64::new(0);

/// Records whether a database call just found the database busy (`true`: past the busy
/// timeout) or succeeded (`false`).
pub fn note_db_busy(busy: bool) {
    if busy {
        let now = (now_unix_s() * 1e3) as u64;
        let _ =
            DB_BUSY_SINCE_MS.compare_exchange(0, now.max(1), Ordering::Relaxed, Ordering::Relaxed);
    } else {
        DB_BUSY_SINCE_MS.store(0, Ordering::Relaxed);
    }
}

/// How long (s) the database has been refusing this process's calls as busy, if it is.
pub fn db_busy_for_s() -> Option<f64> {
    match DB_BUSY_SINCE_MS.load(Ordering::Relaxed) {
        0 => None,
        since => Some((now_unix_s() - since as f64 / 1e3).max(0.0)),
    }
}

/// How long the runner keeps retrying a database call that another process blocks.
pub const DB_GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

/// What the runner tells its caller as it goes (the daemon refreshes liveness).
pub trait RunObserver: Send + Sync {
    /// A stage is about to run.
    fn stage_started(&self, _stage: &'static str) {}
    /// A stage ended (successfully or not) after `seconds`.
    fn stage_ended(&self, _stage: &'static str, _seconds: f64, _ok: bool) {}
}

/// An observer that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;
impl RunObserver for NoObserver {}

/// How a group ended.
#[derive(Debug)]
pub enum GroupOutcome {
    /// Every stage done and the group completed.
    Completed {
        /// What the stages that ran in this attempt produced, in order.
        outputs: Vec<(&'static str, StageOutput)>,
    },
    /// Failed; retried later or failed for good (see the outcome).
    Failed {
        /// The stage that failed (`None`: the check before the stages).
        stage: Option<&'static str>,
        /// The error.
        error: StageError,
        /// What the queue did.
        outcome: FailOutcome,
    },
}

/// Why the runner itself could not go on (the group stays `in_progress`; recovery takes
/// it back).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The queue database failed while recording the group's progress.
    #[error("queue database failed while recording group {group_id}")]
    Queue {
        /// The group.
        group_id: GroupId,
        /// The cause (boxed: the error travels through every `Result` of the loop).
        #[source]
        source: Box<QueueError>,
    },
    /// The stage list is inconsistent (a stage needs what no earlier stage makes).
    #[error("stage {stage} needs {needs:?}, which no earlier stage produces")]
    Plan {
        /// The stage.
        stage: &'static str,
        /// What it needs.
        needs: ProductKind,
    },
}

/// The stages and what they share.
#[derive(Debug, Clone)]
pub struct Runner {
    stages: Vec<Arc<dyn Stage>>,
    ctx: StageContext,
    retry: RetryPolicy,
    disabled: BTreeSet<&'static str>,
    min_subbands: Option<usize>,
}

impl Runner {
    /// A runner over `stages` (in order), checking that each stage's needs are produced
    /// by an earlier stage.
    ///
    /// # Errors
    /// [`RunnerError::Plan`] naming the stage and the missing product.
    pub fn new(
        stages: Vec<Arc<dyn Stage>>,
        ctx: StageContext,
        retry: RetryPolicy,
    ) -> Result<Self, RunnerError> {
        let mut available = BTreeSet::from([ProductKind::SubbandFiles]);
        for s in &stages {
            if let Some(&needs) = s.needs().iter().find(|n| !available.contains(n)) {
                return Err(RunnerError::Plan {
                    stage: s.name(),
                    needs,
                });
            }
            available.extend(s.produces().iter().copied());
        }
        Ok(Self {
            stages,
            ctx,
            retry,
            disabled: BTreeSet::new(),
            min_subbands: None,
        })
    }

    /// Processes a group with invalid files without them, as a partial group (their
    /// subbands written flagged), when at least `min` valid files remain; the files are
    /// named in `processing_queue.excluded_files`. Without this an invalid file fails the
    /// group.
    #[must_use]
    pub fn with_partial_minimum(mut self, min: usize) -> Self {
        self.min_subbands = Some(min.max(1));
        self
    }

    /// Turns a stage off: it is recorded `skipped` for every group instead of run.
    #[must_use]
    pub fn with_disabled(mut self, stage: &'static str) -> Self {
        self.disabled.insert(stage);
        self
    }

    /// The stage names, in order.
    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// The context the stages get.
    pub fn context(&self) -> &StageContext {
        &self.ctx
    }

    /// Runs the group's remaining stages and records the outcome (see the module doc).
    ///
    /// # Errors
    /// [`RunnerError::Queue`] when the database stays unusable; the group is then left
    /// `in_progress` for recovery.
    pub fn run_group(
        &self,
        owner: &str,
        group: AcquiredGroup,
        observer: &dyn RunObserver,
    ) -> Result<GroupOutcome, RunnerError> {
        let queue = &self.ctx.queue;
        let gid = group.group_id.clone();
        let qerr = |source: QueueError| RunnerError::Queue {
            group_id: gid.clone(),
            source: Box::new(source),
        };
        // 1. files recorded invalid are never opened here: without them the group is a
        //    partial group if enough remain, else it fails naming them
        let invalid = with_retry("invalid_reason", DB_GIVE_UP_AFTER, || {
            let mut out = Vec::new();
            for f in &group.files {
                if let Some(reason) = queue.invalid_reason(&f.path)? {
                    // the reason names the file already; it is named once, here
                    let prefix = format!("{}: ", f.path.display());
                    let reason = reason
                        .strip_prefix(&prefix)
                        .map_or(reason.clone(), str::to_owned);
                    out.push((f.subband, f.path.clone(), reason));
                }
            }
            Ok(out)
        })
        .map_err(qerr)?;
        let mut group = group;
        if !invalid.is_empty() {
            let valid = group.files.len() - invalid.len();
            match self.min_subbands {
                Some(min) if valid >= min => {
                    let note = invalid
                        .iter()
                        .map(|(sb, p, r)| format!("{sb}: {}: {r}", p.display()))
                        .collect::<Vec<_>>()
                        .join("; ");
                    tracing::warn!(
                        valid,
                        min,
                        excluded = %note,
                        "processing as a partial group without its invalid subband files \
                         (their subbands are written flagged)"
                    );
                    with_retry("set_excluded_files", DB_GIVE_UP_AFTER, || {
                        queue.set_excluded_files(&gid, Some(&note))
                    })
                    .map_err(qerr)?;
                    group
                        .files
                        .retain(|f| !invalid.iter().any(|(_, p, _)| *p == f.path));
                }
                _ => {
                    let names = invalid
                        .iter()
                        .map(|(_, p, _)| p.display().to_string())
                        .collect::<Vec<_>>();
                    let (path, reason) = invalid
                        .into_iter()
                        .map(|(_, p, r)| (p, r))
                        .next()
                        .unwrap_or_default();
                    let others: Vec<&str> = names.iter().skip(1).map(String::as_str).collect();
                    let reason = if others.is_empty() {
                        reason
                    } else {
                        format!("{reason}; invalid too: {}", others.join(", "))
                    };
                    let error = StageError::InvalidFile {
                        path,
                        reason: match self.min_subbands {
                            Some(min) => format!(
                                "{reason} (and only {valid} valid subband files remain, fewer than the minimum of {min})"
                            ),
                            None => reason,
                        },
                    };
                    let outcome = self.record_failure(owner, &gid, None, &error)?;
                    return Ok(GroupOutcome::Failed {
                        stage: None,
                        error,
                        outcome,
                    });
                }
            }
        }
        // 2. what earlier attempts finished
        let records =
            with_retry("stages", DB_GIVE_UP_AFTER, || queue.stages(&gid)).map_err(qerr)?;
        let finished: BTreeSet<String> = records
            .iter()
            .filter(|r| r.status.is_finished())
            .map(|r| r.stage.clone())
            .collect();
        let (ms_path, image_path) = if finished.is_empty() {
            (None, None)
        } else {
            with_retry("products", DB_GIVE_UP_AFTER, || {
                let ms = queue.ms_for_group(&gid)?.into_iter().next().map(|r| r.path);
                let image = queue
                    .images_for_group(&gid)?
                    .into_iter()
                    .find(|r| r.image_type == ImageType::Image)
                    .map(|r| r.path);
                Ok((ms, image))
            })
            .map_err(qerr)?
        };
        let mut work = GroupWork {
            group,
            ms_path,
            image_path,
        };
        let mut outputs = Vec::new();
        let n = self.stages.len();
        let todo: Vec<usize> = (0..n)
            .filter(|&i| !finished.contains(self.stages[i].name()))
            .collect();
        if todo.is_empty() {
            // every stage recorded done by an earlier attempt (the final transaction
            // completes the group, so this is a group re-queued for completion only)
            with_retry("complete", DB_GIVE_UP_AFTER, || {
                queue.complete(&gid, owner, now_unix_s())
            })
            .map_err(qerr)?;
            return Ok(GroupOutcome::Completed { outputs });
        }
        if todo.len() < n {
            tracing::info!(
                resume_at = self.stages[todo[0]].name(),
                "resuming: earlier stages are done"
            );
        }
        let last = todo.last().copied().unwrap_or(0);
        let mut completed = false;
        for &i in &todo {
            let stage = &self.stages[i];
            let name = stage.name();
            let is_last = i == last;
            if self.disabled.contains(name) {
                with_retry("skip_stage", DB_GIVE_UP_AFTER, || {
                    queue.skip_stage(&gid, name, owner, "turned off", now_unix_s())
                })
                .map_err(qerr)?;
                continue;
            }
            if let Some(&needs) = stage.needs().iter().find(|n| !available(&work, **n)) {
                let error = StageError::MissingInput { stage: name, needs };
                let outcome = self.record_failure(owner, &gid, Some(name), &error)?;
                return Ok(GroupOutcome::Failed {
                    stage: Some(name),
                    error,
                    outcome,
                });
            }
            with_retry("begin_stage", DB_GIVE_UP_AFTER, || {
                queue.begin_stage(&gid, name, owner, now_unix_s())
            })
            .map_err(qerr)?;
            observer.stage_started(name);
            let span = tracing::info_span!("stage", stage = name);
            let t = Instant::now();
            let result = span.in_scope(|| {
                faults().sleep_before(name);
                if faults().fail_now(name, &gid) {
                    return Err(StageError::Injected { stage: name });
                }
                stage.run(&self.ctx, &work)
            });
            let seconds = t.elapsed().as_secs_f64();
            observer.stage_ended(name, seconds, result.is_ok());
            match result {
                Ok(out) => {
                    faults().point("after_publish", name);
                    self.finish(owner, &gid, name, &out, seconds, is_last)?;
                    completed |= is_last;
                    if let Some(label) = stage.metric_label() {
                        m::stage_duration(label, seconds);
                    }
                    for (part, s) in &out.parts {
                        m::stage_duration(*part, *s);
                    }
                    tracing::info!(stage = name, seconds, "stage finished");
                    faults().point("after_done", name);
                    work.note_products(&out.products);
                    outputs.push((name, out));
                }
                Err(error) => {
                    tracing::warn!(
                        stage = name,
                        seconds,
                        "stage failed: {}",
                        display_chain(&error)
                    );
                    let outcome = self.record_failure(owner, &gid, Some(name), &error)?;
                    return Ok(GroupOutcome::Failed {
                        stage: Some(name),
                        error,
                        outcome,
                    });
                }
            }
        }
        if !completed {
            // the last stage was turned off
            with_retry("complete", DB_GIVE_UP_AFTER, || {
                queue.complete(&gid, owner, now_unix_s())
            })
            .map_err(qerr)?;
        }
        Ok(GroupOutcome::Completed { outputs })
    }

    fn finish(
        &self,
        owner: &str,
        gid: &GroupId,
        name: &'static str,
        out: &StageOutput,
        seconds: f64,
        complete_group: bool,
    ) -> Result<(), RunnerError> {
        let done = StageDone {
            duration_s: seconds,
            products: &out.products,
            performance: out.performance.as_ref(),
            complete_group,
        };
        with_retry("finish_stage", DB_GIVE_UP_AFTER, || {
            self.ctx
                .queue
                .finish_stage(gid, name, owner, &done, now_unix_s())
        })
        .map_err(|source| RunnerError::Queue {
            group_id: gid.clone(),
            source: Box::new(source),
        })
    }

    /// Records a failed attempt: the stage `failed` and the group back to `pending` with
    /// backoff if retryable and under the retry limit, else `failed`; `error` holds
    /// "kind: the whole cause chain".
    fn record_failure(
        &self,
        owner: &str,
        gid: &GroupId,
        stage: Option<&'static str>,
        error: &StageError,
    ) -> Result<FailOutcome, RunnerError> {
        let message = display_chain(error);
        let failure = Failure {
            error: error.kind(),
            message: &message,
            retryable: error.is_retryable(),
        };
        let queue = &self.ctx.queue;
        let outcome = with_retry("fail", DB_GIVE_UP_AFTER, || match stage {
            Some(s) => queue.fail_stage(gid, s, owner, &failure, &self.retry, now_unix_s()),
            None => queue.fail(gid, owner, &failure, &self.retry, now_unix_s()),
        })
        .map_err(|source| RunnerError::Queue {
            group_id: gid.clone(),
            source: Box::new(source),
        })?;
        match outcome {
            FailOutcome::Retrying { retry_count, .. } => {
                tracing::warn!(group_id = %gid, retry_count, error = %message, "processing failed; will retry");
            }
            FailOutcome::Failed { .. } => {
                tracing::error!(group_id = %gid, error = %message, "processing failed");
            }
        }
        Ok(outcome)
    }
}

fn available(work: &GroupWork, kind: ProductKind) -> bool {
    match kind {
        ProductKind::SubbandFiles => true,
        ProductKind::MeasurementSet => work.ms_path.is_some(),
        ProductKind::Image => work.image_path.is_some(),
    }
}

/// Testing aid: sleeps at a named point inside a stage when `DSA110_FAULT_SLEEP` names
/// it (`<stage>.<point>:<seconds>`, e.g. `calibration_solve.solving:4`, after a solve is
/// registered and before it runs).
#[cfg(feature = "science")]
pub(crate) fn fault_sleep(point: &str) {
    faults().sleep_before(point);
}

/// The testing aids of the module doc.
#[derive(Debug, Default)]
struct Faults {
    point: Option<(String, String)>,
    sleep: Option<(String, Duration)>,
    fail_once: Option<String>,
    failed: Mutex<BTreeSet<String>>,
}

fn faults() -> &'static Faults {
    static FAULTS: OnceLock<Faults> = OnceLock::new();
    FAULTS.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let split = |v: String| -> Option<(String, String)> {
            v.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        };
        Faults {
            point: var("DSA110_FAULT_POINT").and_then(split),
            sleep: var("DSA110_FAULT_SLEEP")
                .and_then(split)
                .and_then(|(s, secs)| Some((s, Duration::from_secs_f64(secs.parse().ok()?)))),
            fail_once: var("DSA110_FAULT_FAIL_ONCE"),
            failed: Mutex::new(BTreeSet::new()),
        }
    })
}

impl Faults {
    fn point(&self, point: &str, stage: &str) {
        if self
            .point
            .as_ref()
            .is_some_and(|(p, s)| p == point && s == stage)
        {
            tracing::error!(
                point,
                stage,
                "DSA110_FAULT_POINT: killing this process (testing aid)"
            );
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            // SIGKILL to ourselves cannot fail short of a broken kernel
            std::process::abort();
        }
    }

    fn sleep_before(&self, stage: &str) {
        if let Some((s, d)) = &self.sleep {
            if s == stage {
                tracing::warn!(
                    stage,
                    seconds = d.as_secs_f64(),
                    "DSA110_FAULT_SLEEP (testing aid)"
                );
                std::thread::sleep(*d);
            }
        }
    }

    fn fail_now(&self, stage: &str, gid: &GroupId) -> bool {
        if self.fail_once.as_deref() != Some(stage) {
            return false;
        }
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.insert(format!("{gid}/{stage}"))
    }
}
