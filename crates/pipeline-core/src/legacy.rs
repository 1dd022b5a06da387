//! The fallback converter (`dsa110-legacy-convert`): scan the input directory,
//! register files in the shared queue, convert pending groups oldest first.
//! No watcher, no monitoring server: a polling loop, or one pass (`once`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dsa110_astro::{Eop, EopProvider};
use dsa110_queue::{GroupState, Queue, QueueOptions, RetryPolicy};

use crate::config::{check_shared, eop_provider, seconds, SharedOptions};
use crate::convert::{ConversionReport, ConvertParams};
use crate::error::display_chain;
use crate::error::PipelineError;
use crate::intake::{list_dir, FileOutcome, Intake, IntakeParams};
use crate::process::{now_unix_s, owner_alive, owner_id};
use crate::runner::{GroupOutcome, NoObserver, Runner};
use crate::stage::{ConversionStage, StageContext};
use crate::validate_child::{ChildValidator, VALIDATOR_TIMEOUT};

/// Options as given on the command line (not yet checked).
#[derive(Clone, Debug)]
pub struct LegacyConfig {
    /// Directory the correlator writes to.
    pub input_dir: PathBuf,
    /// Directory of the Measurement Sets.
    pub output_dir: PathBuf,
    /// The queue database.
    pub queue_db: PathBuf,
    /// Subbands per observation.
    pub expected_subbands: u32,
    /// Minutes per time chunk (recorded on the group).
    pub chunk_minutes: f64,
    /// One pass, then exit.
    pub once: bool,
    /// Seconds between scans when polling.
    pub poll_interval_s: f64,
    /// Minimum subbands to convert a partial group.
    pub min_subbands: u32,
    /// Seconds a group may collect before it is processed as partial (polling mode).
    pub partial_timeout_s: f64,
    /// Retries for retryable failures.
    pub retry_limit: u32,
    /// Seconds a file must be unmodified before it is read.
    pub settle_s: f64,
    /// Fixed Earth-orientation parameters (`--eop`), overriding any IERS table.
    pub eop: Option<Eop>,
    /// The IERS table (`--eop-table`); `None` searches the default places.
    pub eop_table: Option<PathBuf>,
    /// The command line, for the MS HISTORY.
    pub command_line: String,
    /// Validate new files in a child process (this executable re-run with
    /// `--validate-file`), as the daemon does: libhdf5 can crash on corrupt metadata.
    /// `None` validates in this process.
    pub validator_exe: Option<PathBuf>,
}

/// Checked parameters.
#[derive(Clone, Debug)]
pub struct LegacyParams {
    cfg: LegacyConfig,
    eop: Arc<EopProvider>,
    expected_subbands: u8,
    min_subbands: u8,
}

impl LegacyParams {
    /// Check a configuration; errors name the option.
    pub fn new(cfg: LegacyConfig) -> Result<Self, PipelineError> {
        let (expected_subbands, min_subbands) = check_shared(&SharedOptions {
            expected_subbands: cfg.expected_subbands,
            min_subbands: cfg.min_subbands,
            chunk_minutes: cfg.chunk_minutes,
            partial_timeout_s: cfg.partial_timeout_s,
            settle_s: cfg.settle_s,
            eop: cfg.eop,
            input_dir: &cfg.input_dir,
            output_dir: &cfg.output_dir,
        })?;
        seconds("--poll-interval", cfg.poll_interval_s, 0.0)?;
        let eop = eop_provider(cfg.eop, cfg.eop_table.as_deref())?;
        Ok(Self {
            eop,
            cfg,
            expected_subbands,
            min_subbands,
        })
    }
}

/// What the loop reports as it goes (the binary renders it).
#[derive(Debug)]
pub enum LegacyEvent<'a> {
    /// A scan found `n` candidate files.
    Scanned {
        /// Files examined.
        n_files: usize,
    },
    /// A file was rejected as invalid.
    InvalidFile {
        /// The file.
        path: &'a std::path::Path,
        /// Why.
        reason: &'a str,
    },
    /// A group is being converted.
    Converting {
        /// The group.
        group_id: &'a str,
        /// Groups pending behind it.
        pending: u64,
    },
    /// A group finished.
    Finished {
        /// The group.
        group_id: &'a str,
        /// Its report, when it succeeded.
        report: Option<&'a ConversionReport>,
        /// The error text, when it failed.
        error: Option<String>,
    },
}

/// Totals of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LegacySummary {
    /// Groups converted.
    pub completed: u64,
    /// Groups that failed (for good).
    pub failed: u64,
    /// Failures that will be retried.
    pub retried: u64,
    /// Invalid files seen.
    pub invalid_files: u64,
}

/// Run the converter until `stop` is set, or until nothing is left with `once`.
pub fn run(
    params: &LegacyParams,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(LegacyEvent<'_>),
) -> Result<LegacySummary, PipelineError> {
    let cfg = &params.cfg;
    let queue = Queue::open_with(&cfg.queue_db, QueueOptions::default())?;
    let owner = owner_id();
    let mut retry = RetryPolicy {
        retry_limit: cfg.retry_limit,
        ..RetryPolicy::default()
    };
    if cfg.once {
        // nothing waits for a backoff in a single pass
        retry.backoff_s = 0.0;
    }
    // leftovers of a kill, as the daemon does at start: temporaries of dead processes
    // of this host, then groups held by dead workers
    crate::temporaries::remove_dead(&cfg.output_dir, None, true);
    for r in queue.recover_stale(owner_alive, 3600.0, retry.retry_limit, now_unix_s())? {
        tracing::warn!(group_id = %r.group_id, owner = ?r.owner, new_state = %r.new_state.as_str(),
            "recovered a group left in_progress by a stopped worker");
    }
    let intake_params = IntakeParams {
        expected_subbands: params.expected_subbands,
        settle_s: cfg.settle_s,
        eop: Arc::clone(&params.eop),
    };
    let convert = ConvertParams {
        output_dir: cfg.output_dir.clone(),
        expected_subbands: params.expected_subbands,
        eop: Arc::clone(&params.eop),
        overwrite: false,
        application: format!("dsa110-legacy-convert {}", env!("CARGO_PKG_VERSION")),
        command_line: cfg.command_line.clone(),
    };
    let queue_for_stages = queue.clone();
    let runner = Runner::new(
        vec![Arc::new(ConversionStage)],
        StageContext {
            queue: queue_for_stages,
            convert: Arc::new(convert),
        },
        retry,
    )?
    .with_partial_minimum(usize::from(params.min_subbands));
    let mut intake = match &cfg.validator_exe {
        Some(exe) => Intake::with_validator(Box::new(ChildValidator::new(exe, VALIDATOR_TIMEOUT))),
        None => Intake::new(),
    };
    let mut summary = LegacySummary::default();
    while !stop.load(Ordering::SeqCst) {
        // 1. register what has arrived
        let files = list_dir(&cfg.input_dir).map_err(|source| PipelineError::Io {
            op: "list",
            path: cfg.input_dir.clone(),
            source,
        })?;
        on_event(LegacyEvent::Scanned {
            n_files: files.len(),
        });
        let mut unsettled = 0;
        for path in &files {
            match intake.consider(&queue, path, &intake_params, now_unix_s())? {
                FileOutcome::NotSettled => unsettled += 1,
                FileOutcome::Invalid { reason, .. } | FileOutcome::Unusable { reason } => {
                    summary.invalid_files += 1;
                    on_event(LegacyEvent::InvalidFile {
                        path,
                        reason: &reason,
                    });
                }
                _ => {}
            }
        }
        intake.prune();
        // 2. partial groups: in a single pass nothing more will arrive
        let timeout = if cfg.once && unsettled == 0 {
            0.0
        } else {
            cfg.partial_timeout_s
        };
        queue.promote_partial(timeout, params.min_subbands, now_unix_s())?;
        // 3. convert, oldest observation first
        while !stop.load(Ordering::SeqCst) {
            let Some(group) = queue.acquire_next(&owner, now_unix_s())? else {
                break;
            };
            queue.set_chunk_minutes(&group.group_id, cfg.chunk_minutes)?;
            let pending = queue
                .counts_by_state()?
                .get(&GroupState::Pending)
                .copied()
                .unwrap_or(0);
            on_event(LegacyEvent::Converting {
                group_id: group.group_id.as_str(),
                pending,
            });
            let gid = group.group_id.clone();
            match runner.run_group(&owner, group, &NoObserver)? {
                GroupOutcome::Completed { outputs } => {
                    summary.completed += 1;
                    let report = outputs.iter().find_map(|(_, o)| o.conversion.as_ref());
                    on_event(LegacyEvent::Finished {
                        group_id: gid.as_str(),
                        report,
                        error: None,
                    });
                }
                GroupOutcome::Failed { error, outcome, .. } => {
                    match outcome {
                        dsa110_queue::FailOutcome::Retrying { .. } => summary.retried += 1,
                        dsa110_queue::FailOutcome::Failed { .. } => summary.failed += 1,
                    }
                    on_event(LegacyEvent::Finished {
                        group_id: gid.as_str(),
                        report: None,
                        error: Some(display_chain(&error)),
                    });
                }
            }
        }
        if cfg.once {
            if unsettled == 0 {
                break;
            }
            // files still settling: wait for them rather than leave them behind
            std::thread::sleep(Duration::from_secs_f64(cfg.settle_s.clamp(0.2, 5.0)));
            continue;
        }
        sleep_unless_stopped(stop, Duration::from_secs_f64(cfg.poll_interval_s));
    }
    Ok(summary)
}

fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(200);
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::SeqCst) {
        let d = left.min(step);
        std::thread::sleep(d);
        left = left.saturating_sub(d);
    }
}
