//! The crate's error type.

use std::path::PathBuf;

use crate::convert::ConvertError;
use crate::monitoring::MonitoringError;

/// Errors of the pipeline runners (the conversion stage has its own
/// [`ConvertError`], which the queue records per group rather than raising).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An option has an unusable value.
    #[error("invalid {option}: {reason}")]
    Config {
        /// The option, as spelled on the command line.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// The queue database failed.
    #[error(transparent)]
    Queue(#[from] dsa110_queue::QueueError),
    /// A conversion failed outside a group's processing.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// Monitoring, metrics, disk measurement or systemd notification failed.
    #[error(transparent)]
    Monitoring(#[from] MonitoringError),
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A background task panicked or was cancelled.
    #[error("{what} task failed: {reason}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// The join error.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl PipelineError {
    /// Whether retrying the same operation could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Config { .. } => false,
            PipelineError::Queue(e) => e.is_retryable(),
            PipelineError::Convert(e) => e.is_retryable(),
            PipelineError::Monitoring(e) => e.is_retryable(),
            PipelineError::Runtime(_) | PipelineError::Task { .. } => false,
            PipelineError::Io { .. } => true,
        }
    }
}
