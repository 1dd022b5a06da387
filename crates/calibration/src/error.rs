//! The crate's one error type.

use std::path::PathBuf;

/// Errors of the calibration crate.
#[derive(Debug, thiserror::Error)]
pub enum CalError {
    /// A calibrator catalogue file could not be read.
    #[error("cannot read calibrator catalogue {path}")]
    CatalogIo {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A calibrator catalogue file is malformed (header, row or field).
    #[error("calibrator catalogue {path} row {row}, field `{field}`: {reason}")]
    CatalogParse {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file (the header is row 1).
        row: usize,
        /// The field (column) concerned.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Arrays handed to a function disagree in shape.
    #[error("shape mismatch in {what}: {detail}")]
    Shape {
        /// The argument concerned.
        what: &'static str,
        /// Expected versus found.
        detail: String,
    },
    /// A parameter is out of range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The polarisation setup is not usable (no parallel hands).
    #[error("unsupported polarisation codes {codes:?}")]
    Polarisation {
        /// The codes found.
        codes: Vec<i32>,
    },
    /// Nothing to solve: every sample is flagged or no antenna has enough baselines.
    #[error("spectral window {spw}: no usable data to solve ({reason})")]
    NoData {
        /// Spectral window index.
        spw: usize,
        /// Why.
        reason: String,
    },
    /// The reference antenna asked for is not among the solved antennas.
    #[error("reference antenna {antenna} has no valid solutions")]
    RefantUnavailable {
        /// Antenna number.
        antenna: u32,
    },
    /// Solutions do not fit the data they are applied to.
    #[error("solutions do not match the data: {detail}")]
    Mismatch {
        /// What differs.
        detail: String,
    },
    /// A Measurement Set or calibration table could not be read or written. The
    /// message leaves the path to the cause, which names it (each cause once).
    #[cfg(feature = "ms")]
    #[error("measurement set or calibration table")]
    Ms {
        /// The MS or table.
        path: PathBuf,
        /// The cause.
        #[source]
        source: dsa110_ms_writer::MsError,
    },
    /// A Measurement Set's rows are not laid out as this crate needs.
    #[error("measurement set {path}: {detail}")]
    MsLayout {
        /// The MS.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// No catalogue calibrator passes through the beam during the group.
    #[error("measurement set {path}: no catalogue calibrator passes within the half-power beam during the group")]
    NoCalibrator {
        /// The MS.
        path: PathBuf,
    },
    /// An astronomy computation failed.
    #[error("astronomy computation failed for {what}")]
    Astro {
        /// What was computed.
        what: &'static str,
        /// The cause.
        #[source]
        source: dsa110_astro::AstroError,
    },
}

impl CalError {
    /// Whether retrying the same operation could succeed: only file I/O can.
    pub fn is_retryable(&self) -> bool {
        match self {
            CalError::CatalogIo { .. } => true,
            #[cfg(feature = "ms")]
            CalError::Ms { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
}
