//! The crate's error type.

use std::path::PathBuf;

use crate::convert::ConvertError;
use dsa110_service::MonitoringError;

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
    /// The stage runner could not be set up or could not record a group's progress.
    #[error(transparent)]
    Runner(#[from] crate::runner::RunnerError),
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
            PipelineError::Runner(crate::runner::RunnerError::Queue { source, .. }) => {
                source.is_retryable()
            }
            PipelineError::Runner(crate::runner::RunnerError::Plan { .. }) => false,
            PipelineError::Runtime(_) | PipelineError::Task { .. } => false,
            PipelineError::Io { .. } => true,
        }
    }
}

/// An error and its causes as one line, `outer: cause: root cause`, each cause once: a
/// cause whose text the line already contains (an error that repeats its source in its own
/// message) is not repeated. This is what the queue's `error` column, the logs and the
/// tools show an operator.
pub fn display_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("write failed: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn chains_keep_every_cause_once() {
        let e = Outer("x.ms", std::io::Error::other("No space left on device"));
        assert_eq!(
            display_chain(&e),
            "cannot write x.ms: No space left on device"
        );
        let e = Repeats(std::io::Error::other("No space left on device"));
        assert_eq!(display_chain(&e), "write failed: No space left on device");
    }
}
