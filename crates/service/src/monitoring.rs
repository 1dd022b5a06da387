//! The monitoring HTTP server (`--monitoring`, port `--health-port`, default 9100),
//! component liveness, and systemd notifications.
//!
//! Endpoints:
//! - `GET /health` → JSON `{"status": "healthy|degraded|unhealthy", "checks": {"queue": {…per
//!   state counts…}, "disk": {"output_free_gb": …, "scratch_free_gb": …}, "watcher": …,
//!   "worker": …}, …}`; HTTP 503 when unhealthy (queue database unreadable, output free
//!   space unmeasurable or below 5 GB), 200 otherwise. `degraded` when output or scratch
//!   free space is below 10 GB, processing is paused, or the watcher/worker is not running or
//!   its heartbeat is stale.
//! - `GET /ready` → 200 `ready` once the queue is open and the watcher runs and
//!   processing is not paused; else 503 `not ready`, or 503 [`PAUSED_BODY`] while the
//!   disk guard pauses processing.
//! - `GET /metrics` → Prometheus text format of the one registry ([`crate::metrics`]);
//!   queue, disk and liveness gauges are refreshed right before each render.
//!
//! This module knows nothing of the queue crate: the daemon implements [`StatusSource`]
//! over its queue handle and converts the queue's per-state counts into [`QueueCounts`].
//! Database reads and `statvfs` calls run on blocking threads with a timeout
//! ([`MonitoringConfig::status_timeout`]), so a locked database cannot hang a scrape.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};

use crate::disk::{bytes_to_gb, DiskGuard, DiskPolicy, DiskState, FreeSpaceSource, Statvfs};
pub use crate::error::MonitoringError;
use crate::metrics::{self as m, Component, DiskLabel, QueueState};

/// Content type of `GET /metrics` (Prometheus text exposition format 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Default port of the monitoring server (`--health-port`).
pub const DEFAULT_HEALTH_PORT: u16 = 9100;

// ---------------------------------------------------------------------------------------
// Data the daemon feeds in
// ---------------------------------------------------------------------------------------

/// Number of groups in each queue state. Serialises as
/// `{"collecting": n, "pending": n, "in_progress": n, "completed": n, "failed": n}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    /// Waiting for subbands.
    pub collecting: u64,
    /// Complete, waiting for a worker.
    pub pending: u64,
    /// Being processed.
    pub in_progress: u64,
    /// Done.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
}

impl QueueCounts {
    /// The count for `state`.
    pub fn get(&self, state: QueueState) -> u64 {
        match state {
            QueueState::Collecting => self.collecting,
            QueueState::Pending => self.pending,
            QueueState::InProgress => self.in_progress,
            QueueState::Completed => self.completed,
            QueueState::Failed => self.failed,
        }
    }

    /// Sets the count for `state`.
    pub fn set(&mut self, state: QueueState, groups: u64) {
        *self.slot(state) = groups;
    }

    /// Adds to the count for `state`.
    pub fn add(&mut self, state: QueueState, groups: u64) {
        let slot = self.slot(state);
        *slot = slot.saturating_add(groups);
    }

    fn slot(&mut self, state: QueueState) -> &mut u64 {
        match state {
            QueueState::Collecting => &mut self.collecting,
            QueueState::Pending => &mut self.pending,
            QueueState::InProgress => &mut self.in_progress,
            QueueState::Completed => &mut self.completed,
            QueueState::Failed => &mut self.failed,
        }
    }

    /// All groups.
    pub fn total(&self) -> u64 {
        QueueState::ALL
            .iter()
            .map(|&s| self.get(s))
            .fold(0, u64::saturating_add)
    }
}

impl FromIterator<(QueueState, u64)> for QueueCounts {
    fn from_iter<I: IntoIterator<Item = (QueueState, u64)>>(iter: I) -> Self {
        let mut counts = QueueCounts::default();
        for (state, n) in iter {
            counts.add(state, n);
        }
        counts
    }
}

/// What the monitoring server asks the daemon on each `/health` and `/metrics` request.
///
/// Methods are blocking (database reads); they run on a blocking thread with a timeout.
pub trait StatusSource: Send + Sync + 'static {
    /// Groups per queue state.
    ///
    /// # Errors
    /// Any failure to read the queue; wrap it with [`MonitoringError::status`]. An error
    /// makes `/health` report `unhealthy` (HTTP 503).
    fn queue_counts(&self) -> Result<QueueCounts, MonitoringError>;

    /// Age in seconds of the oldest `pending` group, `None` when nothing is pending.
    /// The default implementation reports `None`.
    ///
    /// # Errors
    /// As [`queue_counts`](Self::queue_counts).
    fn oldest_pending_age_s(&self) -> Result<Option<f64>, MonitoringError> {
        Ok(None)
    }

    /// Conditions that degrade the service without stopping it, one sentence each for
    /// `/health`'s `reasons` (e.g. no Earth-orientation table covers today). The default
    /// implementation reports none.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Shared liveness flags and heartbeats, cheap to clone (one `Arc`).
///
/// The daemon calls [`set_queue_open`](Self::set_queue_open) after opening the queue,
/// [`set_watcher_running`](Self::set_watcher_running) when the watcher starts/stops,
/// [`watcher_heartbeat`](Self::watcher_heartbeat) on each watcher event or poll tick,
/// [`set_worker_running`](Self::set_worker_running) and
/// [`worker_heartbeat`](Self::worker_heartbeat) on every worker loop iteration and between
/// stages, and [`record_success`](Self::record_success) when a group completes. A component
/// is healthy when it is running and its last heartbeat is younger than
/// [`MonitoringConfig::stale_after`].
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    inner: Arc<LivenessInner>,
}

#[derive(Debug, Default)]
struct LivenessInner {
    queue_open: AtomicBool,
    watcher_running: AtomicBool,
    worker_running: AtomicBool,
    /// Unix ms of the last heartbeat, 0 = never.
    watcher_beat_ms: AtomicU64,
    worker_beat_ms: AtomicU64,
    /// Unix ms of the last success, 0 = never.
    last_success_ms: AtomicU64,
}

/// The state of one component, as reported in `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ComponentHealth {
    /// The component says it is running.
    pub running: bool,
    /// Seconds since its last heartbeat (`None`: never).
    pub last_heartbeat_age_s: Option<f64>,
    /// Running and heartbeat fresh.
    pub ok: bool,
}

impl Liveness {
    /// All flags down, no heartbeats.
    pub fn new() -> Self {
        Self::default()
    }

    /// The queue database is open (or closed again).
    pub fn set_queue_open(&self, open: bool) {
        self.inner.queue_open.store(open, Ordering::Release);
    }

    /// The watcher started (`true`, also a heartbeat) or stopped.
    pub fn set_watcher_running(&self, running: bool) {
        self.inner.watcher_running.store(running, Ordering::Release);
        if running {
            self.watcher_heartbeat();
        }
    }

    /// The watcher is alive (call on each event and poll tick).
    pub fn watcher_heartbeat(&self) {
        self.inner
            .watcher_beat_ms
            .store(unix_ms(SystemTime::now()), Ordering::Release);
    }

    /// The worker started (`true`, also a heartbeat) or stopped.
    pub fn set_worker_running(&self, running: bool) {
        self.inner.worker_running.store(running, Ordering::Release);
        if running {
            self.worker_heartbeat();
        }
    }

    /// The worker is alive (call on every loop iteration and between stages).
    pub fn worker_heartbeat(&self) {
        self.inner
            .worker_beat_ms
            .store(unix_ms(SystemTime::now()), Ordering::Release);
    }

    /// A group completed at `unix_s`; also sets
    /// `dsa110_streaming_last_success_timestamp_seconds`.
    pub fn record_success(&self, unix_s: f64) {
        let ms = if unix_s.is_finite() && unix_s > 0.0 {
            (unix_s * 1000.0) as u64
        } else {
            0
        };
        self.inner.last_success_ms.store(ms, Ordering::Release);
        m::set_last_success(unix_s);
    }

    /// Unix time (s) of the last success recorded, if any.
    pub fn last_success_unix(&self) -> Option<f64> {
        match self.inner.last_success_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(ms as f64 / 1000.0),
        }
    }

    /// `/ready`: the queue is open and the watcher runs.
    pub fn is_ready(&self) -> bool {
        self.inner.queue_open.load(Ordering::Acquire)
            && self.inner.watcher_running.load(Ordering::Acquire)
    }

    /// The health of the watcher or the worker at `now`. ([`Component::Database`] is judged
    /// from the status read, not from heartbeats: here it reports whether the queue is open.)
    pub fn component(
        &self,
        component: Component,
        now: SystemTime,
        stale_after: Duration,
    ) -> ComponentHealth {
        let (running, beat) = match component {
            Component::Watcher => (&self.inner.watcher_running, &self.inner.watcher_beat_ms),
            Component::Worker => (&self.inner.worker_running, &self.inner.worker_beat_ms),
            Component::Database => {
                let open = self.inner.queue_open.load(Ordering::Acquire);
                return ComponentHealth {
                    running: open,
                    last_heartbeat_age_s: None,
                    ok: open,
                };
            }
        };
        let running = running.load(Ordering::Acquire);
        let age_s = match beat.load(Ordering::Acquire) {
            0 => None,
            ms => Some(unix_ms(now).saturating_sub(ms) as f64 / 1000.0),
        };
        let fresh = age_s.is_some_and(|a| a <= stale_after.as_secs_f64());
        ComponentHealth {
            running,
            last_heartbeat_age_s: age_s,
            ok: running && fresh,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration and state
// ---------------------------------------------------------------------------------------

/// Settings of the monitoring server.
#[derive(Debug, Clone)]
pub struct MonitoringConfig {
    /// Measurement Set output directory (`--output-dir`): its free space decides health.
    pub output_dir: PathBuf,
    /// Scratch directory for temporary products; pass the output directory when there is
    /// no separate one. Low scratch space only degrades health.
    pub scratch_dir: PathBuf,
    /// Disk thresholds (10 GB degraded, 5 GB unhealthy).
    pub disk_policy: DiskPolicy,
    /// A running component whose last heartbeat is older than this is stale (default 600 s,
    /// about two group cadences).
    pub stale_after: Duration,
    /// Longest a status read (database, `statvfs`) may take before it counts as failed
    /// (default 5 s).
    pub status_timeout: Duration,
}

impl MonitoringConfig {
    /// Defaults for the given directories.
    pub fn new(output_dir: impl Into<PathBuf>, scratch_dir: impl Into<PathBuf>) -> Self {
        Self {
            output_dir: output_dir.into(),
            scratch_dir: scratch_dir.into(),
            disk_policy: DiskPolicy::default(),
            stale_after: Duration::from_secs(600),
            status_timeout: Duration::from_secs(5),
        }
    }
}

/// Everything the handlers need; cheap to clone.
#[derive(Clone)]
pub struct MonitoringState {
    status: Arc<dyn StatusSource>,
    free_space: Arc<dyn FreeSpaceSource>,
    liveness: Liveness,
    config: Arc<MonitoringConfig>,
    guard: Option<Arc<DiskGuard>>,
    metrics: PrometheusHandle,
}

impl std::fmt::Debug for MonitoringState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoringState")
            .field("liveness", &self.liveness)
            .field("config", &self.config)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl MonitoringState {
    /// State reading disk space with `statvfs`. `metrics` comes from
    /// [`crate::metrics::install_recorder`].
    pub fn new(
        status: Arc<dyn StatusSource>,
        liveness: Liveness,
        config: MonitoringConfig,
        metrics: PrometheusHandle,
    ) -> Self {
        Self {
            status,
            free_space: Arc::new(Statvfs),
            liveness,
            config: Arc::new(config),
            guard: None,
            metrics,
        }
    }

    /// Replaces the free-space source (tests).
    #[must_use]
    pub fn with_free_space_source(mut self, source: Arc<dyn FreeSpaceSource>) -> Self {
        self.free_space = source;
        self
    }

    /// Reports the worker's [`DiskGuard`] pause state in `/health`.
    #[must_use]
    pub fn with_disk_guard(mut self, guard: Arc<DiskGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Whether the disk guard pauses processing.
    pub fn is_paused(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.is_paused())
    }

    /// The shared liveness flags.
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Reads the queue and the disks, refreshes the gauges, and evaluates health.
    pub async fn health(&self) -> HealthReport {
        let snapshot = self.collect().await;
        let report = self.evaluate(&snapshot, SystemTime::now());
        self.refresh_gauges(&snapshot, &report);
        report
    }

    /// Refreshes the gauges and renders the registry in Prometheus text format.
    pub async fn render_metrics(&self) -> String {
        let _ = self.health().await;
        self.metrics.render()
    }

    async fn collect(&self) -> Snapshot {
        let timeout = self.config.status_timeout;
        let status = Arc::clone(&self.status);
        let queue = blocking_with_timeout("queue status", timeout, move || {
            let counts = status.queue_counts()?;
            let oldest = status.oldest_pending_age_s()?;
            Ok((counts, oldest))
        });
        let status = Arc::clone(&self.status);
        let warnings =
            blocking_with_timeout("status warnings", timeout, move || Ok(status.warnings()));
        let fs = Arc::clone(&self.free_space);
        let (out, scratch) = (
            self.config.output_dir.clone(),
            self.config.scratch_dir.clone(),
        );
        let disk = blocking_with_timeout("disk free space", timeout, move || {
            Ok((
                fs.free_bytes(&out).map(bytes_to_gb),
                fs.free_bytes(&scratch).map(bytes_to_gb),
            ))
        });
        let (queue, disk, warnings) = tokio::join!(queue, disk, warnings);
        let (output_gb, scratch_gb) = match disk {
            Ok((o, s)) => (o.map_err(|e| e.to_string()), s.map_err(|e| e.to_string())),
            Err(e) => (Err(e.to_string()), Err(e.to_string())),
        };
        if let Err(e) = &queue {
            tracing::warn!("health check: {e}");
        }
        Snapshot {
            warnings: warnings.unwrap_or_else(|e| vec![e.to_string()]),
            queue: queue.map_err(|e| e.to_string()),
            output_gb,
            scratch_gb,
        }
    }

    fn evaluate(&self, snap: &Snapshot, now: SystemTime) -> HealthReport {
        let policy = self.config.disk_policy;
        let mut status = HealthStatus::Healthy;
        let mut reasons = Vec::new();
        let mut flag = |level: HealthStatus, reason: String| {
            status = status.max(level);
            reasons.push(reason);
        };

        let (queue, oldest_pending_age_s) = match &snap.queue {
            Ok((counts, oldest)) => (QueueCheck::Counts(*counts), *oldest),
            Err(e) => {
                flag(
                    HealthStatus::Unhealthy,
                    format!("queue database unreadable: {e}"),
                );
                (QueueCheck::Error { error: e.clone() }, None)
            }
        };

        let output_state = match &snap.output_gb {
            Ok(gb) => {
                let state = policy.classify(*gb);
                match state {
                    DiskState::Critical => flag(
                        HealthStatus::Unhealthy,
                        format!(
                            "output free space {gb:.1} GB is below {} GB",
                            policy.unhealthy_below_gb
                        ),
                    ),
                    DiskState::Low => flag(
                        HealthStatus::Degraded,
                        format!(
                            "output free space {gb:.1} GB is below {} GB",
                            policy.pause_below_gb
                        ),
                    ),
                    DiskState::Ok => {}
                }
                state
            }
            Err(e) => {
                flag(HealthStatus::Unhealthy, e.clone());
                DiskState::Critical
            }
        };
        let scratch_state = match &snap.scratch_gb {
            Ok(gb) => {
                let state = policy.classify(*gb);
                if state != DiskState::Ok {
                    flag(
                        HealthStatus::Degraded,
                        format!(
                            "scratch free space {gb:.1} GB is below {} GB",
                            policy.pause_below_gb
                        ),
                    );
                }
                state
            }
            Err(e) => {
                flag(HealthStatus::Degraded, e.clone());
                DiskState::Critical
            }
        };

        for w in &snap.warnings {
            flag(HealthStatus::Degraded, w.clone());
        }

        let paused = self.guard.as_ref().is_some_and(|g| g.is_paused());
        if paused {
            flag(
                HealthStatus::Degraded,
                "processing paused: output disk space low".to_owned(),
            );
        }

        let stale_after = self.config.stale_after;
        let watcher = self
            .liveness
            .component(Component::Watcher, now, stale_after);
        let worker = self.liveness.component(Component::Worker, now, stale_after);
        for (name, c) in [("watcher", &watcher), ("worker", &worker)] {
            if !c.running {
                flag(HealthStatus::Degraded, format!("{name} is not running"));
            } else if !c.ok {
                flag(
                    HealthStatus::Degraded,
                    format!("{name} heartbeat older than {} s", stale_after.as_secs()),
                );
            }
        }

        HealthReport {
            status,
            checks: HealthChecks {
                queue,
                disk: DiskCheck {
                    output_free_gb: snap.output_gb.as_ref().ok().copied(),
                    scratch_free_gb: snap.scratch_gb.as_ref().ok().copied(),
                    output_state,
                    scratch_state,
                    pause_below_gb: policy.pause_below_gb,
                    unhealthy_below_gb: policy.unhealthy_below_gb,
                    output_error: snap.output_gb.as_ref().err().cloned(),
                    scratch_error: snap.scratch_gb.as_ref().err().cloned(),
                },
                watcher,
                worker,
                oldest_pending_age_s,
            },
            reasons,
            paused,
            ready: self.liveness.is_ready() && !paused,
            last_success_unix: self.liveness.last_success_unix(),
            version: m::VERSION.to_owned(),
        }
    }

    fn refresh_gauges(&self, snap: &Snapshot, report: &HealthReport) {
        match &snap.queue {
            Ok((counts, oldest)) => {
                for &state in QueueState::ALL {
                    m::set_queue_depth(state, counts.get(state));
                }
                m::set_oldest_pending_age(oldest.unwrap_or(0.0));
                m::set_liveness(Component::Database, true);
            }
            Err(_) => m::set_liveness(Component::Database, false),
        }
        if let Ok(gb) = snap.output_gb {
            m::set_disk_free_gb(DiskLabel::Output, gb);
        }
        if let Ok(gb) = snap.scratch_gb {
            m::set_disk_free_gb(DiskLabel::Scratch, gb);
        }
        m::set_liveness(Component::Watcher, report.checks.watcher.ok);
        m::set_liveness(Component::Worker, report.checks.worker.ok);
    }
}

/// One round of status reads (errors already rendered for the report).
struct Snapshot {
    warnings: Vec<String>,
    queue: Result<(QueueCounts, Option<f64>), String>,
    output_gb: Result<f64, String>,
    scratch_gb: Result<f64, String>,
}

async fn blocking_with_timeout<T, F>(
    what: &'static str,
    after: Duration,
    f: F,
) -> Result<T, MonitoringError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, MonitoringError> + Send + 'static,
{
    match tokio::time::timeout(after, tokio::task::spawn_blocking(f)).await {
        Err(_) => Err(MonitoringError::Timeout { what, after }),
        Ok(Err(source)) => Err(MonitoringError::Task { what, source }),
        Ok(Ok(result)) => result,
    }
}

// ---------------------------------------------------------------------------------------
// The health report
// ---------------------------------------------------------------------------------------

/// Overall status; ordered so that `max` gives the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// All checks pass.
    Healthy,
    /// Working, but something needs attention (HTTP 200).
    Degraded,
    /// Cannot do its job (HTTP 503).
    Unhealthy,
}

impl HealthStatus {
    /// HTTP status of `/health`.
    pub fn http_status(self) -> StatusCode {
        match self {
            HealthStatus::Healthy | HealthStatus::Degraded => StatusCode::OK,
            HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The `/health` body.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// Overall status.
    pub status: HealthStatus,
    /// Individual checks.
    pub checks: HealthChecks,
    /// Why the status is not `healthy` (empty when healthy).
    pub reasons: Vec<String>,
    /// Processing paused by the disk guard.
    pub paused: bool,
    /// Same as `/ready`.
    pub ready: bool,
    /// Unix time of the last completed group, if any since start.
    pub last_success_unix: Option<f64>,
    /// Build version.
    pub version: String,
}

/// `checks` in the `/health` body.
#[derive(Debug, Clone, Serialize)]
pub struct HealthChecks {
    /// Per-state counts, or `{"error": …}` when the database cannot be read.
    pub queue: QueueCheck,
    /// Free space.
    pub disk: DiskCheck,
    /// The directory watcher.
    pub watcher: ComponentHealth,
    /// The group worker.
    pub worker: ComponentHealth,
    /// Age (s) of the oldest pending group.
    pub oldest_pending_age_s: Option<f64>,
}

/// `checks.queue`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum QueueCheck {
    /// The counts.
    Counts(QueueCounts),
    /// The read failed.
    Error {
        /// Why.
        error: String,
    },
}

/// `checks.disk`. GB are 10⁹ bytes; a value is `null` when it could not be measured, with
/// the reason in `output_error`/`scratch_error`.
#[derive(Debug, Clone, Serialize)]
pub struct DiskCheck {
    /// Free space of the output directory.
    pub output_free_gb: Option<f64>,
    /// Free space of the scratch directory.
    pub scratch_free_gb: Option<f64>,
    /// Classification of the output free space.
    pub output_state: DiskState,
    /// Classification of the scratch free space.
    pub scratch_state: DiskState,
    /// Pause / degraded threshold.
    pub pause_below_gb: f64,
    /// Unhealthy threshold.
    pub unhealthy_below_gb: f64,
    /// Why the output could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_error: Option<String>,
    /// Why the scratch directory could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scratch_error: Option<String>,
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

/// The monitoring routes: `/health`, `/ready`, `/metrics`.
pub fn router(state: MonitoringState) -> Router {
    Router::new()
        .route("/health", get(health_handler))
        .route("/ready", get(ready_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(state)
}

async fn health_handler(State(state): State<MonitoringState>) -> Response {
    let report = state.health().await;
    (report.status.http_status(), Json(report)).into_response()
}

async fn ready_handler(State(state): State<MonitoringState>) -> Response {
    if !state.liveness.is_ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    } else if state.is_paused() {
        (StatusCode::SERVICE_UNAVAILABLE, PAUSED_BODY).into_response()
    } else {
        (StatusCode::OK, "ready").into_response()
    }
}

/// `/ready`'s body while the disk guard pauses processing (HTTP 503).
pub const PAUSED_BODY: &str = "paused: processing is paused (output disk space low)";

async fn metrics_handler(State(state): State<MonitoringState>) -> Response {
    let body = state.render_metrics().await;
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response()
}

/// A bound, not yet serving, monitoring server (lets callers learn the port of `:0`).
#[derive(Debug)]
pub struct MonitoringServer {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl MonitoringServer {
    /// Binds `addr`.
    ///
    /// # Errors
    /// [`MonitoringError::Bind`] naming the address.
    pub async fn bind(addr: SocketAddr) -> Result<Self, MonitoringError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MonitoringError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MonitoringError::Bind { addr, source })?;
        Ok(Self { listener, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, running the recorder's upkeep every 10 s.
    ///
    /// # Errors
    /// [`MonitoringError::Serve`] if the server fails.
    pub async fn run(
        self,
        state: MonitoringState,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), MonitoringError> {
        let addr = self.addr;
        tracing::info!(%addr, "monitoring endpoints /health /ready /metrics listening");
        let handle = state.metrics.clone();
        let upkeep = AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        }));
        let result = axum::serve(self.listener, router(state))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| MonitoringError::Serve { addr, source });
        drop(upkeep);
        tracing::info!(%addr, "monitoring server stopped");
        result
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Binds `addr` and serves the monitoring routes until `shutdown` completes.
///
/// # Errors
/// [`MonitoringError::Bind`] (naming the address) or [`MonitoringError::Serve`].
pub async fn serve(
    addr: SocketAddr,
    state: MonitoringState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MonitoringError> {
    MonitoringServer::bind(addr)
        .await?
        .run(state, shutdown)
        .await
}

// ---------------------------------------------------------------------------------------
// systemd (Type=notify, WatchdogSec=)
// ---------------------------------------------------------------------------------------

fn notify(state: &'static str, msg: &[sd_notify::NotifyState<'_>]) -> Result<(), MonitoringError> {
    sd_notify::notify(false, msg).map_err(|source| MonitoringError::Notify { state, source })
}

/// Tells systemd the daemon is ready (`READY=1`; the unit is `Type=notify`). Call it once
/// the queue is open, the watcher runs and the monitoring server is bound. A no-op when not
/// started by systemd.
///
/// # Errors
/// [`MonitoringError::Notify`] if the notification socket rejects the message.
pub fn notify_ready() -> Result<(), MonitoringError> {
    notify("READY=1", &[sd_notify::NotifyState::Ready])
}

/// Tells systemd the daemon is stopping (`STOPPING=1`), e.g. while it finishes the current
/// group after SIGTERM.
///
/// # Errors
/// As [`notify_ready`].
pub fn notify_stopping() -> Result<(), MonitoringError> {
    notify("STOPPING=1", &[sd_notify::NotifyState::Stopping])
}

/// Sets the one-line status shown by `systemctl status` (`STATUS=…`).
///
/// # Errors
/// As [`notify_ready`].
pub fn notify_status(status: &str) -> Result<(), MonitoringError> {
    notify("STATUS", &[sd_notify::NotifyState::Status(status)])
}

/// Pings the systemd watchdog (`WATCHDOG=1`). A no-op when not started by systemd.
///
/// # Errors
/// As [`notify_ready`].
pub fn notify_watchdog() -> Result<(), MonitoringError> {
    notify("WATCHDOG=1", &[sd_notify::NotifyState::Watchdog])
}

/// The watchdog timeout systemd set for this process (`WatchdogSec=`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// If systemd enabled the watchdog, spawns a task pinging it every half timeout for as
/// long as the tokio runtime runs (so a hung or deadlocked runtime gets the service
/// restarted); returns `None` otherwise. Abort the task to stop pinging.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let timeout = watchdog_interval()?;
    let period = (timeout / 2).max(Duration::from_millis(100));
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if let Err(e) = notify_watchdog() {
                tracing::warn!("{e}");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_counts_serialise_with_state_names() {
        let counts: QueueCounts = [
            (QueueState::Pending, 3),
            (QueueState::InProgress, 1),
            (QueueState::Pending, 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts.get(QueueState::Pending), 4);
        assert_eq!(counts.total(), 5);
        let json = serde_json::to_value(counts).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"collecting": 0, "pending": 4, "in_progress": 1, "completed": 0, "failed": 0})
        );
    }

    #[test]
    fn liveness_staleness() {
        let l = Liveness::new();
        let now = SystemTime::now();
        let stale = Duration::from_secs(60);
        let w = l.component(Component::Worker, now, stale);
        assert_eq!(
            w,
            ComponentHealth {
                running: false,
                last_heartbeat_age_s: None,
                ok: false
            }
        );
        l.set_worker_running(true);
        assert!(l.component(Component::Worker, SystemTime::now(), stale).ok);
        let later = SystemTime::now() + Duration::from_secs(61);
        let w = l.component(Component::Worker, later, stale);
        assert!(w.running && !w.ok, "{w:?}");
        assert!(w.last_heartbeat_age_s.unwrap() >= 61.0);
        l.set_worker_running(false);
        assert!(!l.component(Component::Worker, SystemTime::now(), stale).ok);
    }

    #[test]
    fn readiness_needs_queue_and_watcher() {
        let l = Liveness::new();
        assert!(!l.is_ready());
        l.set_queue_open(true);
        assert!(!l.is_ready());
        l.set_watcher_running(true);
        assert!(l.is_ready());
        l.set_watcher_running(false);
        assert!(!l.is_ready());
    }

    #[test]
    fn health_status_order_and_http() {
        assert_eq!(
            HealthStatus::Healthy.max(HealthStatus::Degraded),
            HealthStatus::Degraded
        );
        assert_eq!(
            HealthStatus::Unhealthy.max(HealthStatus::Degraded),
            HealthStatus::Unhealthy
        );
        assert_eq!(HealthStatus::Degraded.http_status(), StatusCode::OK);
        assert_eq!(
            HealthStatus::Unhealthy.http_status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn retryability() {
        let e = MonitoringError::Bind {
            addr: "127.0.0.1:9100".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert!(e.is_retryable());
        assert!(e.to_string().contains("127.0.0.1:9100"), "{e}");
        let e = MonitoringError::Bind {
            addr: "127.0.0.1:80".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(!e.is_retryable());
        assert!(MonitoringError::status("database is locked").is_retryable());
    }

    #[test]
    fn notifications_reach_the_socket() {
        use std::os::unix::net::UnixDatagram;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The only test in this crate that touches NOTIFY_SOCKET.
        std::env::set_var("NOTIFY_SOCKET", &path);
        notify_watchdog().unwrap();
        notify_ready().unwrap();
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1\n");
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
        // Without systemd these are no-ops.
        notify_ready().unwrap();
        assert_eq!(watchdog_interval(), None);
    }
}
