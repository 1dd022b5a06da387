//! The crate's one error type.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Errors of the monitoring, metrics and disk modules.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    /// The HTTP server could not listen on its address.
    #[error("cannot listen for monitoring HTTP on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Underlying error (address in use, permission denied, …).
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an error.
    #[error("monitoring HTTP server on {addr} failed: {source}")]
    Serve {
        /// Bound address.
        addr: SocketAddr,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The Prometheus recorder could not be built or installed.
    #[cfg(feature = "server")]
    #[error("cannot set up the Prometheus metrics recorder: {source}")]
    Recorder {
        /// Exporter error.
        #[source]
        source: metrics_exporter_prometheus::BuildError,
    },
    /// Free space of a directory could not be measured.
    #[error("cannot measure free space of {path}: {source}", path = path.display())]
    DiskSpace {
        /// Directory.
        path: PathBuf,
        /// Underlying error (`statvfs`).
        #[source]
        source: std::io::Error,
    },
    /// The daemon's `StatusSource` failed (typically the queue database).
    #[error("queue status unavailable: {source}")]
    Status {
        /// The source's own error (e.g. the queue crate's error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A status read did not finish in time.
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        /// What was being read.
        what: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// A blocking status read panicked or was cancelled.
    #[cfg(feature = "server")]
    #[error("{what} task failed: {source}")]
    Task {
        /// What was being read.
        what: &'static str,
        /// Join error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A systemd notification could not be sent.
    #[error("cannot notify systemd ({state}): {source}")]
    Notify {
        /// The notification (e.g. `READY=1`).
        state: &'static str,
        /// Underlying socket error.
        #[source]
        source: std::io::Error,
    },
}

impl MonitoringError {
    /// Wraps a `StatusSource` implementation's error (keeps it as the `source`).
    pub fn status(source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        MonitoringError::Status {
            source: source.into(),
        }
    }

    /// Whether trying again later can help.
    pub fn is_retryable(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            // Another process may release the port (e.g. during a restart).
            MonitoringError::Bind { source, .. } => source.kind() == ErrorKind::AddrInUse,
            MonitoringError::Serve { .. }
            | MonitoringError::Status { .. }
            | MonitoringError::Timeout { .. }
            | MonitoringError::Notify { .. } => true,
            MonitoringError::DiskSpace { source, .. } => source.kind() != ErrorKind::NotFound,
            #[cfg(feature = "server")]
            MonitoringError::Recorder { .. } | MonitoringError::Task { .. } => false,
        }
    }
}
