//! Pipeline stages: one small adapter per stage behind the [`Stage`] trait.
//!
//! A stage declares what it needs and what it produces ([`ProductKind`]), does its work on
//! one group and returns its products; it says whether a failure is worth retrying. The
//! runner ([`crate::runner`]) adds everything else: the tracing span, timing, metrics,
//! per-stage state in the queue (`group_stages`), recording the products in the registry
//! in the same transaction that marks the stage done, resuming at the failed stage on a
//! retry, and skipping stages that are turned off.
//!
//! Conversion is here; the science stages (flagging, calibration, imaging, photometry,
//! mosaics) are in [`crate::science`] (feature `science`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use dsa110_queue::{
    AcquiredGroup, ImageType, MsRecord, PerformanceRecord, Product, Queue, QueueError,
};

use crate::convert::{convert_group, ConversionReport, ConvertError, ConvertParams, GroupInput};
use crate::metrics::Stage as StageLabel;
use crate::process::now_unix_s;

/// The writer type recorded in `performance_metrics`.
pub const WRITER_TYPE: &str = "rust-casacore-streaming";

/// A kind of product a stage consumes or makes; the runner checks that every stage's needs
/// are produced by an earlier stage (or are the group's input files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProductKind {
    /// The group's subband files (the queue's input, always available).
    SubbandFiles,
    /// The group's Measurement Set (`ms_index`).
    MeasurementSet,
    /// The group's restored image (`images`, type `image`).
    Image,
}

/// What a stage needs besides the group (cheap to clone, `'static`: stages run on
/// blocking threads).
#[derive(Clone, Debug)]
pub struct StageContext {
    /// The queue (e.g. to tell a recorded product from an orphan).
    pub queue: Queue,
    /// Conversion settings (output directory, EOP, HISTORY).
    pub convert: Arc<ConvertParams>,
}

/// The group as a stage sees it: the acquired group and the products earlier stages made
/// (this attempt or an earlier one, read back from the registry).
#[derive(Clone, Debug)]
pub struct GroupWork {
    /// The group as acquired from the queue.
    pub group: AcquiredGroup,
    /// The group's Measurement Set, once the conversion has produced it.
    pub ms_path: Option<PathBuf>,
    /// The group's restored image (`<name>-image.fits`), once imaging has produced it.
    pub image_path: Option<PathBuf>,
}

impl GroupWork {
    /// Takes note of what a stage produced (its MS, its restored image).
    pub fn note_products(&mut self, products: &[Product]) {
        for p in products {
            match p {
                Product::Ms(rec) => self.ms_path = Some(rec.path.clone()),
                Product::Image(rec) if rec.image_type == ImageType::Image => {
                    self.image_path = Some(rec.path.clone());
                }
                _ => {}
            }
        }
    }

    /// The MS path, or [`StageError::MissingInput`] for `stage`.
    ///
    /// # Errors
    /// When no earlier stage produced the MS.
    pub fn ms(&self, stage: &'static str) -> Result<&std::path::Path, StageError> {
        self.ms_path.as_deref().ok_or(StageError::MissingInput {
            stage,
            needs: ProductKind::MeasurementSet,
        })
    }
}

/// What a stage produced.
#[derive(Clone, Debug, Default)]
pub struct StageOutput {
    /// Timings of parts of the stage worth their own `stage` label (e.g. load, phase,
    /// write within conversion), seconds.
    pub parts: Vec<(StageLabel, f64)>,
    /// Products to record in the registry, in the transaction that marks the stage done.
    pub products: Vec<Product>,
    /// Timings for `performance_metrics`, recorded in the same transaction.
    pub performance: Option<PerformanceRecord>,
    /// The conversion's report, when the stage converted (for callers that print it).
    pub conversion: Option<ConversionReport>,
}

/// Why a stage (or the check before the stages) failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A file of the group is recorded invalid by the watcher; it is never opened here.
    #[error("subband file {path} is invalid: {reason}", path = path.display())]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// The validator's reason.
        reason: String,
    },
    /// A stage needs a product that no earlier stage recorded.
    #[error("stage {stage} needs {needs:?}, which no earlier stage of this group produced")]
    MissingInput {
        /// The stage.
        stage: &'static str,
        /// What it needs.
        needs: ProductKind,
    },
    /// The conversion failed.
    #[error("conversion failed")]
    Convert(#[source] ConvertError),
    /// The queue database failed during the stage.
    #[error("queue database failed during the stage")]
    Queue(#[source] QueueError),
    /// The stage's thread panicked or was cancelled.
    #[error("stage {stage} stopped unexpectedly: {reason}")]
    Crashed {
        /// The stage.
        stage: &'static str,
        /// What happened.
        reason: String,
    },
    /// Flagging or calibration failed.
    #[cfg(feature = "science")]
    #[error("{what}")]
    Calibration {
        /// What was being done (names the file).
        what: String,
        /// The cause.
        #[source]
        source: Box<dsa110_calibration::CalError>,
    },
    /// Imaging failed.
    #[cfg(feature = "science")]
    #[error("imaging {ms} failed", ms = ms.display())]
    Imaging {
        /// The Measurement Set imaged.
        ms: PathBuf,
        /// The cause.
        #[source]
        source: Box<dsa110_imaging::ImagingError>,
    },
    /// Photometry or a mosaic failed.
    #[cfg(feature = "science")]
    #[error("{what}")]
    Photometry {
        /// What was being done (names the file).
        what: String,
        /// The cause.
        #[source]
        source: Box<dsa110_photometry::PhotError>,
    },
    /// A file operation of a stage failed.
    #[error("{op} {path}", path = path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },
    /// A fault injected for a test (`DSA110_FAULT_FAIL_ONCE`).
    #[error("injected fault in stage {stage} (testing aid)")]
    Injected {
        /// The stage.
        stage: &'static str,
    },
}

impl From<ConvertError> for StageError {
    fn from(e: ConvertError) -> Self {
        StageError::Convert(e)
    }
}

impl From<QueueError> for StageError {
    fn from(e: QueueError) -> Self {
        StageError::Queue(e)
    }
}

impl StageError {
    /// Whether running the stage again could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StageError::InvalidFile { .. } | StageError::MissingInput { .. } => false,
            StageError::Convert(e) => e.is_retryable(),
            StageError::Queue(e) => e.is_retryable(),
            StageError::Crashed { .. } | StageError::Injected { .. } => true,
            #[cfg(feature = "science")]
            StageError::Calibration { source, .. } => source.is_retryable(),
            #[cfg(feature = "science")]
            StageError::Imaging { source, .. } => source.is_retryable(),
            #[cfg(feature = "science")]
            StageError::Photometry { source, .. } => source.is_retryable(),
            StageError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidData
            ),
        }
    }

    /// Short machine-readable kind for the queue's `error` column.
    pub fn kind(&self) -> &'static str {
        match self {
            StageError::InvalidFile { .. } => "invalid_file",
            StageError::MissingInput { .. } => "missing_input",
            StageError::Convert(e) => e.kind(),
            StageError::Queue(_) => "queue_error",
            StageError::Crashed { .. } => "stage_crashed",
            StageError::Injected { .. } => "injected_fault",
            #[cfg(feature = "science")]
            StageError::Calibration { .. } => "calibration_failed",
            #[cfg(feature = "science")]
            StageError::Imaging { .. } => "imaging_failed",
            #[cfg(feature = "science")]
            StageError::Photometry { .. } => "photometry_failed",
            StageError::Io { .. } => "io_error",
        }
    }
}

/// One step of processing a group.
pub trait Stage: Send + Sync + fmt::Debug {
    /// The stage's name (`group_stages.stage`, `processing_stage`).
    fn name(&self) -> &'static str;

    /// The metrics' `stage` label of its duration, when the metric catalogue has one.
    fn metric_label(&self) -> Option<StageLabel> {
        None
    }

    /// Products the stage reads.
    fn needs(&self) -> &'static [ProductKind];

    /// Products the stage makes.
    fn produces(&self) -> &'static [ProductKind];

    /// Does the work. Blocking; runs on a blocking thread.
    ///
    /// # Errors
    /// [`StageError`], saying whether a retry can help.
    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError>;
}

/// Conversion: the group's subband files → `<group_id>.ms` (adapter over
/// [`convert_group`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConversionStage;

impl Stage for ConversionStage {
    fn name(&self) -> &'static str {
        StageLabel::Conversion.as_str()
    }

    fn metric_label(&self) -> Option<StageLabel> {
        Some(StageLabel::Conversion)
    }

    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::SubbandFiles]
    }

    fn produces(&self) -> &'static [ProductKind] {
        &[ProductKind::MeasurementSet]
    }

    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let group = &work.group;
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
        // a group whose MS is recorded runs the conversion again only when it was
        // re-queued on purpose (dsa110-api's convert with "force"): the new MS replaces
        // the old one
        if !ctx.queue.ms_for_group(&group.group_id)?.is_empty() {
            tracing::info!("converting again: the new MS replaces the recorded one");
            params.overwrite = true;
        }
        let report = convert_group(&input, &params)?;
        let t = report.timings;
        let now = now_unix_s();
        let (m0, m1) = report.time_range_mjd;
        let ms = MsRecord {
            path: report.ms_path.clone(),
            group_id: group.group_id.clone(),
            created_at: now,
            start_mjd: Some(m0),
            end_mjd: Some(m1),
            mid_mjd: Some(0.5 * (m0 + m1)),
            ra_deg: Some(report.phase_centre_rad.0.to_degrees()),
            dec_deg: Some(report.phase_centre_rad.1.to_degrees()),
            n_spw: Some(report.n_spw as u32),
            n_rows: Some(report.n_rows as u64),
            n_missing_subbands: Some(report.missing_subbands.len() as u32),
            size_bytes: Some(report.output_bytes),
            status: "converted".to_string(),
        };
        let performance = PerformanceRecord {
            group_id: group.group_id.clone(),
            load_time_s: Some(t.load_s),
            phase_time_s: Some(t.phase_s),
            write_time_s: Some(t.write_s),
            total_time_s: Some(t.total_s),
            writer_type: Some(WRITER_TYPE.to_string()),
            recorded_at: now,
        };
        tracing::info!(
            ms = %report.ms_path.display(),
            total_s = t.total_s,
            load_s = t.load_s,
            phase_s = t.phase_s,
            write_s = t.write_s,
            missing = ?report.missing_subbands,
            "group converted"
        );
        Ok(StageOutput {
            parts: vec![
                (StageLabel::Load, t.load_s),
                (StageLabel::Phase, t.phase_s),
                (StageLabel::Write, t.write_s),
            ],
            products: vec![Product::Ms(ms)],
            performance: Some(performance),
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
