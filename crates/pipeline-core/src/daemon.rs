//! The streaming daemon (`dsa110-stream`): queue + watcher + workers + monitoring, on a
//! tokio runtime, under systemd.
//!
//! Start-up: install the metrics recorder, open the queue (waiting out a locked
//! database), remove temporary MSs of dead processes, recover groups left `in_progress`
//! by dead workers, bind the monitoring server (`--monitoring`), start the watcher and
//! the workers, then tell systemd `READY=1` and start the watchdog pings.
//!
//! Shutdown (SIGTERM/SIGINT): `STOPPING=1`, no new groups, the current groups get the
//! stop timeout to finish, else they are released to `pending` (see [`crate::worker`]);
//! then the watcher and the server stop and [`run`] returns. A kill -9 at any moment
//! leaves at worst an `in_progress` group with a dead owner and a `*.ms.tmp-<pid>`
//! directory: the next start recovers both.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dsa110_queue::{GroupState, Queue, QueueOptions, RetryPolicy};
use tokio::sync::{watch, Notify};

use crate::config::DaemonParams;
use crate::convert::ConvertParams;
use crate::disk::{DiskGuard, FreeSpaceSource, Statvfs, BYTES_PER_GB};
use crate::error::{display_chain, PipelineError};
use crate::intake::{Intake, IntakeParams};
use crate::metrics::{self as m, QueueState};
use crate::monitoring::{
    self, Liveness, MonitoringConfig, MonitoringError, MonitoringServer, MonitoringState,
    QueueCounts, StatusSource,
};
use crate::process::{host_name, now_unix_s, owner_alive, parse_owner, pid_alive, unix_s_to_jd};
use crate::runner::Runner;
use crate::stage::{default_stages, StageContext};
use crate::validate_child::{ChildValidator, VALIDATOR_TIMEOUT};
use crate::watcher::{run_watcher, ScanProgress, WatcherParams};
use crate::worker::{db, run_worker, temporary_ms_path, WorkerExit, WorkerShared, STALE_AFTER_S};

/// How the daemon ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonSummary {
    /// Groups released to `pending` because the stop timeout passed.
    pub abandoned: Vec<String>,
}

/// Runs the daemon until SIGTERM/SIGINT (builds its own tokio runtime).
///
/// # Errors
/// Start-up failures (queue database unusable, monitoring port taken, directories not
/// creatable) and a worker that stopped unexpectedly.
pub fn run(params: DaemonParams) -> Result<DaemonSummary, PipelineError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dsa110-stream")
        .build()
        .map_err(PipelineError::Runtime)?;
    let result = rt.block_on(run_async(params));
    // A stage abandoned at the stop timeout still runs on a blocking thread: do not wait
    // for it. The caller ends the process with `process::exit_leaving_threads` when
    // `abandoned` is not empty (a normal exit would tear HDF5 and casacore down under it).
    rt.shutdown_background();
    result
}

/// The hidden option of the daemon's binary that removes a temporary MS once a process
/// has exited: `--remove-after-exit PATH --pid PID`.
pub const REMOVE_AFTER_EXIT_FLAG: &str = "--remove-after-exit";

/// Starts a detached helper (this binary with [`REMOVE_AFTER_EXIT_FLAG`]) that removes
/// `tmp_ms` once this process has exited, so an abandoned conversion leaves nothing
/// behind. Best effort: if the helper is killed too (systemd's `KillMode=mixed`), the
/// next start removes the directory.
pub fn spawn_cleanup_after_exit(exe: &Path, tmp_ms: &Path) {
    let spawned = std::process::Command::new(exe)
        .arg(REMOVE_AFTER_EXIT_FLAG)
        .arg(tmp_ms)
        .arg("--pid")
        .arg(std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(_) => tracing::info!(path = %tmp_ms.display(),
            "the temporary MS of the abandoned group is removed once this process exits"),
        Err(e) => tracing::warn!(path = %tmp_ms.display(),
            "cannot start the cleanup helper ({e}); the next start removes the temporary MS"),
    }
}

/// The helper's side: waits (up to `limit`) for process `pid` to exit, then removes
/// `tmp_ms` if it is a temporary MS (`*.ms.tmp-<pid>`).
///
/// # Errors
/// The name is not that of a temporary MS of `pid`, the process did not exit in time, or
/// the removal failed.
pub fn remove_after_exit(tmp_ms: &Path, pid: u32, limit: Duration) -> Result<(), PipelineError> {
    let name = tmp_ms
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ours = crate::temporaries::Temporary::parse(&name).is_some_and(|t| {
        t.pid == pid && t.host.is_none_or(|h| h == host_name()) && t.final_name.ends_with(".ms")
    });
    if !ours {
        return Err(PipelineError::Config {
            option: REMOVE_AFTER_EXIT_FLAG,
            reason: format!(
                "{} is not a temporary MS of process {pid}",
                tmp_ms.display()
            ),
        });
    }
    let deadline = std::time::Instant::now() + limit;
    while pid_alive(pid) {
        if std::time::Instant::now() >= deadline {
            return Err(PipelineError::Io {
                op: "wait for the exit of the process writing",
                path: tmp_ms.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match std::fs::remove_dir_all(tmp_ms) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PipelineError::Io {
            op: "remove",
            path: tmp_ms.to_path_buf(),
            source,
        }),
    }
}

/// The queue (and the Earth-orientation source) as the monitoring server sees them.
#[derive(Debug)]
struct QueueStatus(
    Queue,
    Arc<dsa110_astro::EopProvider>,
    Arc<crate::science::ScienceStatus>,
);

impl StatusSource for QueueStatus {
    fn queue_counts(&self) -> Result<QueueCounts, MonitoringError> {
        let counts = self.0.counts_by_state().map_err(MonitoringError::status)?;
        Ok(counts
            .into_iter()
            .filter_map(|(s, n)| s.as_str().parse::<QueueState>().ok().map(|q| (q, n)))
            .collect())
    }

    fn oldest_pending_age_s(&self) -> Result<Option<f64>, MonitoringError> {
        self.0
            .oldest_pending_age_s(now_unix_s())
            .map_err(MonitoringError::status)
    }

    fn warnings(&self) -> Vec<String> {
        let jd = unix_s_to_jd(now_unix_s());
        let mut out = self.2.warnings();
        if let Some(s) = crate::runner::db_busy_for_s() {
            out.push(format!(
                "the queue database has been locked by another process for {s:.0} s: \
                 writes wait past the busy timeout of {:.0} s and are retried",
                self.0.options().busy_timeout.as_secs_f64()
            ));
        }
        out.extend(match self.1.eop_for(jd).1 {
            dsa110_astro::EopStatus::NoTable => vec![
                "no IERS Earth-orientation table: UT1-UTC and polar motion are zero, \
                 positions off by up to ~1 arcsec (give --eop-table)"
                    .to_owned(),
            ],
            dsa110_astro::EopStatus::OutsideTable { span } => vec![format!(
                "today is outside the IERS table ({span}): UT1-UTC and polar motion are \
                 zero, positions off by up to ~1 arcsec (update the table)"
            )],
            _ => Vec::new(),
        });
        out
    }
}

/// Testing aid (`--debug-free-space-file`): the output free space, in GB, is the number
/// written in a file, read at every check.
#[derive(Debug, Clone)]
pub struct FileFreeSpace {
    file: PathBuf,
}

impl FileFreeSpace {
    /// Reads the free space from `file`.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        Self { file: file.into() }
    }
}

impl FreeSpaceSource for FileFreeSpace {
    fn free_bytes(&self, _path: &Path) -> Result<u64, MonitoringError> {
        let err = |source: std::io::Error| MonitoringError::DiskSpace {
            path: self.file.clone(),
            source,
        };
        let text = std::fs::read_to_string(&self.file).map_err(err)?;
        let gb: f64 = text.trim().parse().map_err(|e| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{text:?} is not a number of GB: {e}"),
            ))
        })?;
        Ok((gb.max(0.0) * BYTES_PER_GB).round() as u64)
    }
}

fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> PipelineError + 'a {
    move |source| PipelineError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Opens the queue, waiting out a database locked by another process.
async fn open_queue(
    path: &Path,
    busy_timeout: Duration,
    stop: &watch::Receiver<bool>,
) -> Result<Queue, PipelineError> {
    let mut backoff = Duration::from_millis(500);
    loop {
        let p = path.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || {
            Queue::open_with(
                &p,
                QueueOptions {
                    busy_timeout,
                    ..QueueOptions::default()
                },
            )
        })
        .await
        .map_err(|e| PipelineError::Task {
            what: "open queue",
            reason: e.to_string(),
        })?;
        match opened {
            Ok(q) => return Ok(q),
            Err(e) if e.is_retryable() && !*stop.borrow() => {
                tracing::warn!(
                    "queue database busy, retrying in {:.1} s: {e}",
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn signals(stop: Arc<watch::Sender<bool>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install SIGTERM/SIGINT handlers");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received: taking no new groups, finishing the current one");
    if let Err(e) = monitoring::notify_stopping() {
        tracing::warn!("{e}");
    }
    let _ = stop.send(true);
}

/// `--exit-when-idle`: stops the daemon once the watcher has scanned the input directory,
/// no file is still settling and no group is collecting, pending or in progress, twice in
/// a row one poll interval apart.
async fn stop_when_idle(
    queue: Queue,
    progress: Arc<ScanProgress>,
    poll: Duration,
    stop: Arc<watch::Sender<bool>>,
) {
    let mut idle_checks = 0;
    loop {
        tokio::time::sleep(poll.max(Duration::from_millis(200))).await;
        if *stop.borrow() {
            return;
        }
        let busy = if progress.scans() == 0 || progress.unsettled() > 0 {
            true
        } else {
            match db(&queue, "counts_by_state", |q| q.counts_by_state()).await {
                Ok(counts) => counts.iter().any(|(s, n)| {
                    *n > 0
                        && matches!(
                            s,
                            GroupState::Collecting | GroupState::Pending | GroupState::InProgress
                        )
                }),
                Err(e) => {
                    tracing::warn!(
                        "--exit-when-idle: cannot read the queue: {}",
                        display_chain(&e)
                    );
                    true
                }
            }
        };
        idle_checks = if busy { 0 } else { idle_checks + 1 };
        if idle_checks >= 2 {
            tracing::info!("queue idle: stopping (--exit-when-idle)");
            let _ = stop.send(true);
            return;
        }
    }
}

async fn run_async(params: DaemonParams) -> Result<DaemonSummary, PipelineError> {
    let metrics = m::install_recorder()?;
    tracing::info!(
        version = m::VERSION,
        input = %params.input_dir.display(),
        output = %params.output_dir.display(),
        queue_db = %params.queue_db.display(),
        workers = params.workers,
        "dsa110-stream starting"
    );
    for dir in [&params.output_dir, &params.scratch_dir] {
        std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    tokio::spawn(signals(Arc::clone(&stop_tx)));

    let liveness = Liveness::new();
    let queue = open_queue(&params.queue_db, params.db_busy_timeout, &stop_rx).await?;
    liveness.set_queue_open(true);

    // Leftovers of a kill: temporary MSs and groups held by dead workers.
    let out = params.output_dir.clone();
    let _ = tokio::task::spawn_blocking(move || crate::temporaries::remove_dead(&out, None, true))
        .await;
    let limit = params.retry_limit;
    let recovered = db(&queue, "recover_stale", move |q| {
        let (host, me) = (host_name(), std::process::id());
        // an owner with this pid is a previous process that had our pid: dead
        let alive = |o: &str| match parse_owner(o) {
            Some((h, pid)) if h == host && pid == me => false,
            _ => owner_alive(o),
        };
        q.recover_stale(alive, STALE_AFTER_S, limit, now_unix_s())
    })
    .await?;
    crate::worker::count_recovered(&recovered);
    if !recovered.is_empty() {
        tracing::warn!(
            n = recovered.len(),
            "recovered groups left in_progress by stopped workers"
        );
    }

    let free_space: Arc<dyn FreeSpaceSource> = match &params.debug_free_space_file {
        Some(f) => {
            tracing::warn!(file = %f.display(),
                "testing aid: output free space read from a file, not statvfs");
            Arc::new(FileFreeSpace::new(f))
        }
        None => Arc::new(Statvfs),
    };
    let guard = Arc::new(DiskGuard::with_source(
        &params.output_dir,
        params.disk_policy,
        Arc::clone(&free_space),
    ));

    let science_status = Arc::new(crate::science::ScienceStatus::default());

    // Monitoring.
    let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = if params.monitoring {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), params.health_port);
        let server = MonitoringServer::bind(addr).await?;
        let mut config = MonitoringConfig::new(&params.output_dir, &params.scratch_dir);
        config.disk_policy = params.disk_policy;
        let state = MonitoringState::new(
            Arc::new(QueueStatus(
                queue.clone(),
                Arc::clone(&params.eop),
                Arc::clone(&science_status),
            )),
            liveness.clone(),
            config,
            metrics,
        )
        .with_free_space_source(Arc::clone(&free_space))
        .with_disk_guard(Arc::clone(&guard));
        tracing::info!(addr = %server.local_addr(), port = server.local_addr().port(),
            "monitoring server bound");
        Some(tokio::spawn(server.run(state, async move {
            let _ = server_stop_rx.await;
        })))
    } else {
        None
    };

    // Watcher.
    let work_available = Arc::new(Notify::new());
    let progress = Arc::new(ScanProgress::default());
    let intake = Intake::with_validator(Box::new(ChildValidator::new(
        &params.validator_exe,
        VALIDATOR_TIMEOUT,
    )));
    let watcher = tokio::spawn(run_watcher(
        queue.clone(),
        intake,
        WatcherParams {
            input_dir: params.input_dir.clone(),
            intake: IntakeParams {
                expected_subbands: params.expected_subbands,
                settle_s: params.settle_s,
                eop: Arc::clone(&params.eop),
            },
            poll_interval: params.poll_interval,
            progress: Arc::clone(&progress),
        },
        liveness.clone(),
        Arc::clone(&work_available),
        stop_rx.clone(),
    ));

    // Workers.
    let retry = RetryPolicy {
        retry_limit: params.retry_limit,
        backoff_s: params.retry_backoff_s,
        ..RetryPolicy::default()
    };
    let mut stages = default_stages();
    stages.extend(params.science.stages(&science_status));
    let runner = Runner::new(
        stages,
        StageContext {
            queue: queue.clone(),
            convert: Arc::new(ConvertParams {
                output_dir: params.output_dir.clone(),
                expected_subbands: params.expected_subbands,
                eop: Arc::clone(&params.eop),
                overwrite: false,
                application: format!("dsa110-stream {}", m::VERSION),
                command_line: params.command_line.clone(),
            }),
        },
        retry,
    )?
    .with_partial_minimum(usize::from(params.min_subbands));
    tracing::info!(stages = ?runner.stage_names(), "stages");
    let shared = Arc::new(WorkerShared {
        queue: queue.clone(),
        runner,
        retry,
        guard: Arc::clone(&guard),
        liveness: liveness.clone(),
        work_available,
        poll_interval: params.poll_interval,
        partial_timeout_s: params.partial_timeout_s,
        min_subbands: params.min_subbands,
        chunk_minutes: params.chunk_minutes,
        stop_timeout: params.stop_timeout,
        output_dir: params.output_dir.clone(),
    });
    // on-demand jobs from dsa110-api
    let jobs_task = tokio::spawn(crate::jobs::run_jobs(
        queue.clone(),
        crate::jobs::MosaicJobs {
            dir: params.output_dir.join("mosaics"),
            options: params
                .science
                .mosaics
                .as_ref()
                .map(|m| m.options)
                .unwrap_or_default(),
        },
        params.poll_interval,
        stop_rx.clone(),
    ));
    let mut workers = tokio::task::JoinSet::new();
    for n in 1..=params.workers {
        workers.spawn(run_worker(Arc::clone(&shared), n, stop_rx.clone()));
    }
    liveness.set_worker_running(true);

    // The watcher marks itself running as it starts; wait for that before READY=1.
    for _ in 0..100 {
        if liveness.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Err(e) = monitoring::notify_ready() {
        tracing::warn!("{e}");
    }
    let _watchdog = monitoring::spawn_watchdog();
    tracing::info!("dsa110-stream ready");

    if params.exit_when_idle {
        tokio::spawn(stop_when_idle(
            queue.clone(),
            Arc::clone(&progress),
            params.poll_interval,
            Arc::clone(&stop_tx),
        ));
    }

    let mut summary = DaemonSummary::default();
    let mut failure = None;
    let mut stop_wait = stop_rx.clone();
    tokio::select! {
        _ = stop_wait.wait_for(|s| *s) => {}
        Some(res) = workers.join_next() => {
            // Workers end only after the stop signal, unless they fail.
            if *stop_rx.borrow() {
                if let Ok(WorkerExit::Abandoned { group_id }) = res {
                    summary.abandoned.push(group_id.to_string());
                }
            } else {
                let reason = match res {
                    Ok(exit) => format!("worker ended unexpectedly ({exit:?})"),
                    Err(e) => format!("worker task failed: {e}"),
                };
                tracing::error!("{reason}; stopping");
                failure = Some(PipelineError::Task { what: "worker", reason });
                let _ = stop_tx.send(true);
            }
        }
    }
    while let Some(res) = workers.join_next().await {
        match res {
            Ok(WorkerExit::Abandoned { group_id }) => summary.abandoned.push(group_id.to_string()),
            Ok(WorkerExit::Stopped) => {}
            Err(e) => tracing::error!("worker task failed: {e}"),
        }
    }
    for gid in &summary.abandoned {
        spawn_cleanup_after_exit(
            &params.validator_exe,
            &temporary_ms_path(&params.output_dir, gid),
        );
    }
    liveness.set_worker_running(false);
    if let Err(e) = jobs_task.await {
        tracing::error!("job task failed: {e}");
    }
    if let Err(e) = watcher.await {
        tracing::error!("watcher task failed: {e}");
    }
    let _ = server_stop_tx.send(());
    if let Some(task) = server_task {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Err(e))) => tracing::warn!("{e}"),
            Ok(Err(e)) => tracing::warn!("monitoring task failed: {e}"),
            Err(_) => tracing::warn!("monitoring server did not stop within 5 s"),
            Ok(Ok(Ok(()))) => {}
        }
    }
    liveness.set_queue_open(false);
    tracing::info!(abandoned = ?summary.abandoned, "dsa110-stream stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}
