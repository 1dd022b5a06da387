//! Shared helpers: a fake status source, a server on 127.0.0.1:0, a tiny HTTP/1.1 client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dsa110_service::disk::FakeFreeSpace;
use dsa110_service::metrics::{self as m, install_recorder};
use dsa110_service::monitoring::{
    Liveness, MonitoringConfig, MonitoringError, MonitoringServer, MonitoringState, QueueCounts,
    StatusSource,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, MutexGuard};

/// Metrics live in one process-wide registry; tests that make requests (which refresh
/// gauges) or assert metric values hold this lock so they do not see each other's values.
pub async fn metrics_lock() -> MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

pub use dsa110_test_support::workspace_root as repo_root;

pub fn ops_dir() -> PathBuf {
    repo_root().join("ops")
}

/// A [`StatusSource`] whose answers the test sets.
#[derive(Debug)]
pub struct FakeStatus {
    counts: Mutex<Result<QueueCounts, String>>,
    oldest: Mutex<Option<f64>>,
    delay: Mutex<Duration>,
}

impl FakeStatus {
    pub fn new(counts: QueueCounts) -> Arc<Self> {
        Arc::new(Self {
            counts: Mutex::new(Ok(counts)),
            oldest: Mutex::new(None),
            delay: Mutex::new(Duration::ZERO),
        })
    }
    pub fn set_counts(&self, counts: QueueCounts) {
        *self.counts.lock().unwrap() = Ok(counts);
    }
    pub fn set_error(&self, msg: &str) {
        *self.counts.lock().unwrap() = Err(msg.to_owned());
    }
    pub fn set_oldest(&self, age: Option<f64>) {
        *self.oldest.lock().unwrap() = age;
    }
    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
}

impl StatusSource for FakeStatus {
    fn queue_counts(&self) -> Result<QueueCounts, MonitoringError> {
        let delay = *self.delay.lock().unwrap();
        std::thread::sleep(delay);
        self.counts
            .lock()
            .unwrap()
            .clone()
            .map_err(MonitoringError::status)
    }
    fn oldest_pending_age_s(&self) -> Result<Option<f64>, MonitoringError> {
        Ok(*self.oldest.lock().unwrap())
    }
}

pub fn counts(
    collecting: u64,
    pending: u64,
    in_progress: u64,
    completed: u64,
    failed: u64,
) -> QueueCounts {
    QueueCounts {
        collecting,
        pending,
        in_progress,
        completed,
        failed,
    }
}

/// Everything a test needs to steer the server.
pub struct Fixture {
    pub status: Arc<FakeStatus>,
    pub disk: Arc<FakeFreeSpace>,
    pub liveness: Liveness,
    pub config: MonitoringConfig,
}

impl Fixture {
    /// Healthy: counts (1,2,1,10,0), 100 GB free everywhere, queue open, both components running.
    pub fn healthy() -> Self {
        let liveness = Liveness::new();
        liveness.set_queue_open(true);
        liveness.set_watcher_running(true);
        liveness.set_worker_running(true);
        Self {
            status: FakeStatus::new(counts(1, 2, 1, 10, 0)),
            disk: Arc::new(FakeFreeSpace::with_gb(100.0)),
            liveness,
            config: MonitoringConfig::new("/data/ms", "/data/scratch"),
        }
    }

    pub fn state(&self) -> MonitoringState {
        MonitoringState::new(
            self.status.clone(),
            self.liveness.clone(),
            self.config.clone(),
            install_recorder().unwrap(),
        )
        .with_free_space_source(self.disk.clone())
    }
}

/// A monitoring server on 127.0.0.1:0, stopped (gracefully) on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), MonitoringError>>>,
}

impl Server {
    pub async fn start(state: MonitoringState) -> Self {
        let server = MonitoringServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(state, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and returns how `run` ended.
    pub async fn stop(mut self) -> Result<(), MonitoringError> {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        http_get(self.addr, path).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Records one sample of every metric in the catalogue, so that all names are rendered.
pub fn record_every_metric() {
    // Recording before the recorder is installed would go nowhere.
    install_recorder().unwrap();
    m::group_finished(m::GroupOutcome::Completed, 130.0);
    m::group_finished(m::GroupOutcome::Failed, 0.0);
    for &stage in m::Stage::ALL {
        m::stage_duration(stage, 12.0);
    }
    m::file_seen(m::FileOutcome::Registered);
    m::file_seen(m::FileOutcome::Rejected);
    m::set_last_success(1_760_000_000.0);
    m::set_paused(m::PauseReason::Disk, false);
    m::set_ms_flagged_fraction(0.04);
    m::calibration_solved(m::SolveOutcome::Active, Some(85.0), Some(1_760_000_000.0));
    m::group_calibration(m::CalOutcome::Applied);
    m::image_qa(1.2e-3, 850.0);
    m::photometry_written(120, 2);
    m::mosaic_built(m::MosaicOutcome::Completed);
}

pub use dsa110_test_support::HttpResponse;

/// `GET path` over HTTP/1.1 with `Connection: close` (handles chunked bodies); 10 s limit.
pub async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(
            dsa110_test_support::parse_response(&raw).expect("an HTTP/1.1 response"),
        )
    })
    .await
    .unwrap_or_else(|_| panic!("GET {addr}{path} timed out"))
    .unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"))
}
