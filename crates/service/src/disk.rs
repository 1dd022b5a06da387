//! Free disk space: measuring it, classifying it, and pausing processing when it is low.
//!
//! Units: **1 GB = 10⁹ bytes** (as `df -H` and the operations guide's "10GB"), and "free"
//! means the space available to the daemon's (unprivileged) user, `f_bavail × f_frsize`
//! from `statvfs(3)` — what `df`'s "Avail" column shows, not counting root's reserve.
//!
//! [`DiskGuard`] is what the worker polls before taking a group: processing pauses while the
//! output directory has less than [`DiskPolicy::pause_below_gb`] (10 GB) free and resumes by
//! itself once free space is back above `pause_below_gb + resume_margin_gb` (default
//! 10 + 1 GB). The margin is hysteresis: without it, a disk hovering around 10 GB would flip
//! between paused and running on every poll (each group writes ≈ 2.3 GB).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::MonitoringError;
use crate::metrics::{self as m, DiskLabel, PauseReason};

/// Bytes in one GB as used throughout the pipeline (decimal).
pub const BYTES_PER_GB: f64 = 1e9;

/// Converts bytes to GB (10⁹ bytes).
pub fn bytes_to_gb(bytes: u64) -> f64 {
    bytes as f64 / BYTES_PER_GB
}

/// Where free-space numbers come from: [`Statvfs`] in production, a fake in tests.
pub trait FreeSpaceSource: Send + Sync + 'static {
    /// Bytes available to unprivileged users on the filesystem holding `path`.
    ///
    /// # Errors
    /// [`MonitoringError::DiskSpace`] when the filesystem cannot be queried (e.g. the path
    /// does not exist).
    fn free_bytes(&self, path: &Path) -> Result<u64, MonitoringError>;
}

impl<F> FreeSpaceSource for F
where
    F: Fn(&Path) -> Result<u64, MonitoringError> + Send + Sync + 'static,
{
    fn free_bytes(&self, path: &Path) -> Result<u64, MonitoringError> {
        self(path)
    }
}

/// The real source: `statvfs(2)` through rustix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Statvfs;

impl FreeSpaceSource for Statvfs {
    fn free_bytes(&self, path: &Path) -> Result<u64, MonitoringError> {
        free_bytes(path)
    }
}

/// Bytes available to unprivileged users on the filesystem holding `path`
/// (`f_bavail × f_frsize`).
///
/// # Errors
/// [`MonitoringError::DiskSpace`] naming the path when `statvfs` fails.
pub fn free_bytes(path: &Path) -> Result<u64, MonitoringError> {
    let st = rustix::fs::statvfs(path).map_err(|errno| MonitoringError::DiskSpace {
        path: path.to_path_buf(),
        source: errno.into(),
    })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Free space of `path` in GB (10⁹ bytes).
///
/// # Errors
/// As [`free_bytes`].
pub fn free_gb(path: &Path) -> Result<f64, MonitoringError> {
    free_bytes(path).map(bytes_to_gb)
}

/// An in-memory [`FreeSpaceSource`] for tests and dry runs: a default value plus
/// per-path overrides, any of which can be an error ("cannot stat").
#[derive(Debug, Default)]
pub struct FakeFreeSpace {
    inner: Mutex<FakeInner>,
}

#[derive(Debug, Default)]
struct FakeInner {
    default: Option<u64>,
    per_path: HashMap<PathBuf, Option<u64>>,
}

impl FakeFreeSpace {
    /// Every path reports `bytes` free.
    pub fn new(bytes: u64) -> Self {
        let fake = Self::default();
        fake.set_default(Some(bytes));
        fake
    }

    /// Every path reports `gb` GB free.
    pub fn with_gb(gb: f64) -> Self {
        Self::new(gb_to_bytes(gb))
    }

    /// Sets the value for paths without an override (`None`: an error).
    pub fn set_default(&self, bytes: Option<u64>) {
        self.lock().default = bytes;
    }

    /// Sets the value for one path (`None`: an error).
    pub fn set(&self, path: impl Into<PathBuf>, bytes: Option<u64>) {
        self.lock().per_path.insert(path.into(), bytes);
    }

    /// Sets the value for one path in GB.
    pub fn set_gb(&self, path: impl Into<PathBuf>, gb: f64) {
        self.set(path, Some(gb_to_bytes(gb)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn gb_to_bytes(gb: f64) -> u64 {
    // Saturating float → int conversion; negative values become 0.
    (gb * BYTES_PER_GB).round() as u64
}

impl FreeSpaceSource for FakeFreeSpace {
    fn free_bytes(&self, path: &Path) -> Result<u64, MonitoringError> {
        let inner = self.lock();
        let value = match inner.per_path.get(path) {
            Some(v) => *v,
            None => inner.default,
        };
        value.ok_or_else(|| MonitoringError::DiskSpace {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "fake: no free-space value"),
        })
    }
}

impl<T: FreeSpaceSource + ?Sized> FreeSpaceSource for Arc<T> {
    fn free_bytes(&self, path: &Path) -> Result<u64, MonitoringError> {
        (**self).free_bytes(path)
    }
}

/// Free-space thresholds (GB = 10⁹ bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskPolicy {
    /// Below this, processing pauses and health is `degraded` (guide: 10 GB).
    pub pause_below_gb: f64,
    /// Below this, health is `unhealthy` (HTTP 503) (spec: 5 GB).
    pub unhealthy_below_gb: f64,
    /// Once paused, processing resumes only at `pause_below_gb + resume_margin_gb` or more.
    pub resume_margin_gb: f64,
}

impl Default for DiskPolicy {
    fn default() -> Self {
        Self {
            pause_below_gb: 10.0,
            unhealthy_below_gb: 5.0,
            resume_margin_gb: 1.0,
        }
    }
}

/// How healthy an amount of free space is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskState {
    /// At or above the pause threshold.
    Ok,
    /// Below the pause threshold: processing pauses, health `degraded`.
    Low,
    /// Below the unhealthy threshold (or unreadable): health `unhealthy`.
    Critical,
}

impl fmt::Display for DiskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiskState::Ok => "ok",
            DiskState::Low => "low",
            DiskState::Critical => "critical",
        })
    }
}

impl DiskPolicy {
    /// Classifies `free_gb` (NaN counts as critical).
    pub fn classify(&self, free_gb: f64) -> DiskState {
        if free_gb.is_nan() || free_gb < self.unhealthy_below_gb {
            DiskState::Critical
        } else if free_gb < self.pause_below_gb {
            DiskState::Low
        } else {
            DiskState::Ok
        }
    }

    /// The free space at which a paused guard resumes.
    pub fn resume_at_gb(&self) -> f64 {
        self.pause_below_gb + self.resume_margin_gb.max(0.0)
    }
}

/// What the worker should do, from [`DiskGuard::check`].
#[derive(Debug, Clone, PartialEq)]
pub enum GuardDecision {
    /// Enough space: take a group.
    Proceed {
        /// Free space measured, GB.
        free_gb: f64,
    },
    /// Not enough space (or it could not be measured): do not take a group.
    Paused {
        /// Free space measured, GB (`None` if the measurement failed).
        free_gb: Option<f64>,
    },
}

impl GuardDecision {
    /// True for [`GuardDecision::Proceed`].
    pub fn may_proceed(&self) -> bool {
        matches!(self, GuardDecision::Proceed { .. })
    }
}

/// Pauses processing while the output directory is short of space, and resumes by itself.
///
/// Each [`check`](Self::check) measures the output directory, updates
/// `dsa110_streaming_disk_free_gb{path="output"}` and `dsa110_streaming_paused{reason="disk"}`,
/// and logs each pause/resume transition once. A failed measurement pauses (fail safe: a
/// directory that cannot be stat'ed cannot be written either); it clears itself when the
/// measurement works again. `check` is one `statvfs` call; on a network filesystem call it
/// from a blocking thread.
pub struct DiskGuard {
    path: PathBuf,
    policy: DiskPolicy,
    source: Arc<dyn FreeSpaceSource>,
    paused: AtomicBool,
}

impl fmt::Debug for DiskGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskGuard")
            .field("path", &self.path)
            .field("policy", &self.policy)
            .field("paused", &self.is_paused())
            .finish_non_exhaustive()
    }
}

impl DiskGuard {
    /// A guard on `output_dir` measured with `statvfs`.
    pub fn new(output_dir: impl Into<PathBuf>, policy: DiskPolicy) -> Self {
        Self::with_source(output_dir, policy, Arc::new(Statvfs))
    }

    /// A guard with an injected free-space source (tests).
    pub fn with_source(
        output_dir: impl Into<PathBuf>,
        policy: DiskPolicy,
        source: Arc<dyn FreeSpaceSource>,
    ) -> Self {
        Self {
            path: output_dir.into(),
            policy,
            source,
            paused: AtomicBool::new(false),
        }
    }

    /// The guarded directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The thresholds.
    pub fn policy(&self) -> DiskPolicy {
        self.policy
    }

    /// Whether the last check paused processing.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Measures free space and decides whether the worker may take a group.
    pub fn check(&self) -> GuardDecision {
        let was_paused = self.is_paused();
        let measured = self.source.free_bytes(&self.path).map(bytes_to_gb);
        let (pause, free_gb) = match &measured {
            Ok(gb) => {
                m::set_disk_free_gb(DiskLabel::Output, *gb);
                let threshold = if was_paused {
                    self.policy.resume_at_gb()
                } else {
                    self.policy.pause_below_gb
                };
                (gb.is_nan() || *gb < threshold, Some(*gb))
            }
            Err(_) => (true, None),
        };
        self.paused.store(pause, Ordering::Release);
        m::set_paused(PauseReason::Disk, pause);
        match (&measured, was_paused, pause) {
            (Ok(gb), false, true) => tracing::warn!(
                path = %self.path.display(),
                free_gb = *gb,
                pause_below_gb = self.policy.pause_below_gb,
                "output free space {gb:.1} GB below {:.0} GB: pausing processing",
                self.policy.pause_below_gb
            ),
            (Err(e), false, true) => tracing::warn!(
                path = %self.path.display(),
                "cannot measure output free space, pausing processing: {e}"
            ),
            (Ok(gb), true, false) => tracing::info!(
                path = %self.path.display(),
                free_gb = *gb,
                "output free space back to {gb:.1} GB: resuming processing"
            ),
            _ => {}
        }
        match free_gb {
            Some(free_gb) if !pause => GuardDecision::Proceed { free_gb },
            free_gb => GuardDecision::Paused { free_gb },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_classify(free_gb: f64, expected: DiskState) {
        assert_eq!(
            DiskPolicy::default().classify(free_gb),
            expected,
            "free_gb = {free_gb}"
        );
    }

    #[test]
    fn policy_thresholds() {
        check_classify(500.0, DiskState::Ok);
        check_classify(10.0, DiskState::Ok);
        check_classify(9.999, DiskState::Low);
        check_classify(5.0, DiskState::Low);
        check_classify(4.999, DiskState::Critical);
        check_classify(0.0, DiskState::Critical);
        check_classify(f64::NAN, DiskState::Critical);
        assert_eq!(DiskPolicy::default().resume_at_gb(), 11.0);
    }

    #[test]
    fn bytes_are_decimal_gb() {
        assert_eq!(bytes_to_gb(10_000_000_000), 10.0);
        assert_eq!(gb_to_bytes(2.5), 2_500_000_000);
        assert_eq!(gb_to_bytes(-1.0), 0);
    }

    #[test]
    fn statvfs_reads_a_real_directory_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        let missing = dir.path().join("does-not-exist");
        let err = free_bytes(&missing).unwrap_err();
        assert!(matches!(err, MonitoringError::DiskSpace { ref path, .. } if *path == missing));
        assert!(err.to_string().contains("does-not-exist"), "{err}");
    }

    #[test]
    fn guard_pauses_below_threshold_and_resumes_with_hysteresis() {
        let fake = Arc::new(FakeFreeSpace::with_gb(50.0));
        let guard = DiskGuard::with_source("/out", DiskPolicy::default(), fake.clone());
        assert_eq!(guard.check(), GuardDecision::Proceed { free_gb: 50.0 });
        assert!(!guard.is_paused());

        fake.set_gb("/out", 9.5);
        assert_eq!(guard.check(), GuardDecision::Paused { free_gb: Some(9.5) });
        assert!(guard.is_paused());

        // Back above 10 GB but inside the 1 GB margin: still paused.
        fake.set_gb("/out", 10.5);
        assert_eq!(
            guard.check(),
            GuardDecision::Paused {
                free_gb: Some(10.5)
            }
        );

        fake.set_gb("/out", 11.0);
        assert_eq!(guard.check(), GuardDecision::Proceed { free_gb: 11.0 });
        assert!(!guard.is_paused());

        // Not paused: 10.5 GB is fine.
        fake.set_gb("/out", 10.5);
        assert!(guard.check().may_proceed());
    }

    #[test]
    fn guard_without_margin_resumes_at_threshold() {
        let fake = Arc::new(FakeFreeSpace::with_gb(3.0));
        let policy = DiskPolicy {
            resume_margin_gb: 0.0,
            ..DiskPolicy::default()
        };
        let guard = DiskGuard::with_source("/out", policy, fake.clone());
        assert!(!guard.check().may_proceed());
        fake.set_gb("/out", 10.0);
        assert!(guard.check().may_proceed());
    }

    #[test]
    fn guard_pauses_when_space_cannot_be_measured_and_recovers() {
        let fake = Arc::new(FakeFreeSpace::with_gb(100.0));
        let guard = DiskGuard::with_source("/out", DiskPolicy::default(), fake.clone());
        fake.set("/out", None);
        assert_eq!(guard.check(), GuardDecision::Paused { free_gb: None });
        fake.set_gb("/out", 100.0);
        assert!(guard.check().may_proceed());
    }

    #[test]
    fn closures_are_sources() {
        let source = |p: &Path| -> Result<u64, MonitoringError> {
            Ok(if p == Path::new("/a") { 1 } else { 2 })
        };
        assert_eq!(source.free_bytes(Path::new("/a")).unwrap(), 1);
        assert_eq!(source.free_bytes(Path::new("/b")).unwrap(), 2);
    }
}
