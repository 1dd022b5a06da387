//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while imaging.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// The visibility container is inconsistent (lengths, non-finite frequencies…).
    #[error("invalid visibilities: {reason}")]
    InvalidVis {
        /// What is wrong.
        reason: String,
    },
    /// Every visibility has zero weight (all flagged).
    #[error(
        "no unflagged visibilities to image ({nvis} visibilities, all flagged or zero weight)"
    )]
    AllFlagged {
        /// Number of visibilities examined.
        nvis: usize,
    },
    /// A parameter is out of its valid range.
    #[error("invalid imaging parameter {name} = {value}: {reason}")]
    InvalidParam {
        /// Parameter name, as in [`crate::ImagingParams`].
        name: &'static str,
        /// Its value, formatted.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The image would not fit in the memory allowed.
    #[error("image of {npix}×{npix} pixels needs ≈ {needed_mb} MB, more than the limit of {limit_mb} MB (parameter size / max_memory_mb)")]
    TooLarge {
        /// Image side in pixels.
        npix: usize,
        /// Estimated memory (MB).
        needed_mb: u64,
        /// Limit (MB).
        limit_mb: u64,
    },
    /// Writing an output product failed.
    #[error("cannot write {path}")]
    Write {
        /// The product's final path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The FITS writer refused a product.
    #[error("cannot write FITS product {path}")]
    Fits {
        /// The product's final path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading a Measurement Set failed.
    #[error("cannot read Measurement Set {path}: {what}")]
    Ms {
        /// The MS.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// The cause, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The requested data column does not exist in the MS.
    #[error("Measurement Set {path} has no column {column}")]
    MissingColumn {
        /// The MS.
        path: PathBuf,
        /// The column asked for (DATA or CORRECTED_DATA).
        column: String,
    },
}

impl ImagingError {
    /// Whether trying the same thing again could succeed (I/O problems only).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ImagingError::Write { .. } | ImagingError::Fits { .. })
    }
}
