//! Pipeline stages: one small adapter per stage behind the [`Stage`] trait.
//!
//! A stage only does its work and says whether a failure is worth retrying; the runner
//! ([`crate::worker`]) adds the tracing span, timing, metrics, queue bookkeeping and retry
//! handling. Conversion is the first and, for now, only stage.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use dsa110_queue::{AcquiredGroup, Queue, QueueError};

use crate::convert::{convert_group, ConversionReport, ConvertError, ConvertParams, GroupInput};
use crate::metrics::Stage as StageLabel;

/// What a stage needs besides the group (cheap to clone, `'static`: stages run on
/// blocking threads).
#[derive(Clone, Debug)]
pub struct StageContext {
    /// The queue (e.g. to tell a recorded product from an orphan).
    pub queue: Queue,
    /// Conversion settings (output directory, EOP, HISTORY).
    pub convert: Arc<ConvertParams>,
}

/// What a stage produced.
#[derive(Clone, Debug, Default)]
pub struct StageOutput {
    /// Timings of parts of the stage worth their own `stage` label (e.g. load, phase,
    /// write within conversion), seconds.
    pub parts: Vec<(StageLabel, f64)>,
    /// The Measurement Set written, when the stage converts.
    pub conversion: Option<ConversionReport>,
}

/// Why a stage (or the check before the stages) failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A file of the group is recorded invalid by the watcher; it is never opened here.
    #[error("subband file {path} is invalid: {reason}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// The validator's reason.
        reason: String,
    },
    /// The conversion failed.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// The queue database failed during the stage.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The stage's thread panicked or was cancelled.
    #[error("stage {stage} stopped unexpectedly: {reason}")]
    Crashed {
        /// The stage.
        stage: StageLabel,
        /// What happened.
        reason: String,
    },
}

impl StageError {
    /// Whether running the stage again could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StageError::InvalidFile { .. } => false,
            StageError::Convert(e) => e.is_retryable(),
            StageError::Queue(e) => e.is_retryable(),
            StageError::Crashed { .. } => true,
        }
    }

    /// Short machine-readable kind for the queue's `error` column.
    pub fn kind(&self) -> &'static str {
        match self {
            StageError::InvalidFile { .. } => "invalid_file",
            StageError::Convert(e) => e.kind(),
            StageError::Queue(_) => "queue_error",
            StageError::Crashed { .. } => "stage_crashed",
        }
    }
}

/// One step of processing a group.
pub trait Stage: Send + Sync + fmt::Debug {
    /// The stage's label (`processing_stage` and the metrics' `stage` label).
    fn name(&self) -> StageLabel;

    /// Does the work. Blocking; runs on a blocking thread.
    ///
    /// # Errors
    /// [`StageError`], saying whether a retry can help.
    fn run(&self, ctx: &StageContext, group: &AcquiredGroup) -> Result<StageOutput, StageError>;
}

/// Conversion: the group's subband files → `<group_id>.ms` (adapter over
/// [`convert_group`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConversionStage;

impl Stage for ConversionStage {
    fn name(&self) -> StageLabel {
        StageLabel::Conversion
    }

    fn run(&self, ctx: &StageContext, group: &AcquiredGroup) -> Result<StageOutput, StageError> {
        let input = GroupInput {
            group_id: group.group_id.as_str().to_string(),
            files: group
                .files
                .iter()
                .map(|f| (f.subband.get(), f.path.clone()))
                .collect(),
        };
        let mut params = (*ctx.convert).clone();
        params.expected_subbands = group.expected_subbands;
        remove_orphan_product(ctx, group)?;
        let report = convert_group(&input, &params)?;
        let t = report.timings;
        Ok(StageOutput {
            parts: vec![
                (StageLabel::Load, t.load_s),
                (StageLabel::Phase, t.phase_s),
                (StageLabel::Write, t.write_s),
            ],
            conversion: Some(report),
        })
    }
}

/// A `<group_id>.ms` with no `ms_index` row was published by a run that was killed (or
/// abandoned at the stop timeout) between the rename and the bookkeeping: it is complete
/// (the rename is the last step) but unrecorded, so it is removed and converted again
/// rather than failing the group with "exists already".
fn remove_orphan_product(ctx: &StageContext, group: &AcquiredGroup) -> Result<(), StageError> {
    let path = ctx
        .convert
        .output_dir
        .join(format!("{}.ms", group.group_id.as_str()));
    if !path.exists() || !ctx.queue.ms_for_group(&group.group_id)?.is_empty() {
        return Ok(());
    }
    tracing::warn!(path = %path.display(),
        "removing an unrecorded product left by an interrupted run; converting again");
    std::fs::remove_dir_all(&path).map_err(|source| {
        StageError::Convert(ConvertError::Io {
            op: "remove unrecorded product",
            path,
            source,
        })
    })
}

/// The stages the daemon runs, in order.
pub fn default_stages() -> Vec<Arc<dyn Stage>> {
    vec![Arc::new(ConversionStage)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_files_are_not_retried_and_named() {
        let e = StageError::InvalidFile {
            path: PathBuf::from("/in/2025-10-02T00:12:00_sb03.hdf5"),
            reason: "truncated".into(),
        };
        assert!(!e.is_retryable());
        assert_eq!(e.kind(), "invalid_file");
        assert!(e.to_string().contains("_sb03.hdf5"), "{e}");
    }
}
