//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// What libhdf5 said when a call failed: its error stack, innermost frame last,
/// copied out of the library so the error is `Send + Sync` and outlives the handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hdf5Failure {
    /// One line per error-stack frame (`function(): description`), or the
    /// wrapper's own message for errors raised in Rust.
    pub frames: Vec<String>,
}

impl Hdf5Failure {
    pub(crate) fn from_hdf5(e: &hdf5::Error) -> Self {
        let frames = match e {
            hdf5::Error::Internal(msg) => vec![msg.clone()],
            hdf5::Error::HDF5(stack) => match stack.clone().expand() {
                Ok(expanded) => expanded
                    .iter()
                    .map(|f| format!("{}(): {}", f.func(), f.desc()))
                    .collect(),
                Err(_) => vec![e.to_string()],
            },
        };
        Self { frames }
    }

    /// Whether libhdf5 reported the file shorter than its superblock says.
    pub fn is_truncation(&self) -> bool {
        self.frames
            .iter()
            .any(|f| f.contains("truncated file") || f.contains("addr overflow"))
    }
}

impl fmt::Display for Hdf5Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The innermost frames carry the cause; keep the line short.
        let n = self.frames.len();
        let tail = &self.frames[n.saturating_sub(3)..];
        write!(f, "{}", tail.join("; "))
    }
}

impl std::error::Error for Hdf5Failure {}

/// Everything that can go wrong reading or validating a subband file. Every variant
/// names the file; those about one dataset name it (`Header/time_array`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file name is not `YYYY-MM-DDTHH:MM:SS_sbNN.hdf5`.
    #[error("{path}: bad subband file name: {reason}")]
    BadFileName { path: PathBuf, reason: String },
    /// The correlator is still writing the file (`*_incomplete.hdf5`).
    #[error("{path}: file is still being written (_incomplete)")]
    Incomplete { path: PathBuf },
    /// The file does not exist.
    #[error("{path}: file not found")]
    NotFound { path: PathBuf },
    /// An operating-system I/O error (stat, open, read).
    #[error("{path}: I/O error: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file has zero bytes.
    #[error("{path}: file is empty (0 bytes)")]
    EmptyFile { path: PathBuf },
    /// No HDF5 signature where the format puts one.
    #[error("{path}: not an HDF5 file (no HDF5 signature)")]
    NotHdf5 { path: PathBuf },
    /// The file is shorter than its HDF5 structure says.
    #[error("{path}: truncated file{}: {detail}", ds_suffix(.dataset))]
    Truncated {
        path: PathBuf,
        dataset: String,
        detail: String,
    },
    /// The file size changed while it was being read.
    #[error("{path}: file size changed while reading ({before} -> {after} bytes)")]
    SizeChanged {
        path: PathBuf,
        before: u64,
        after: u64,
    },
    /// libhdf5 failed to open the file or read a dataset (corrupt or unreadable).
    #[error("{path}: HDF5 error{}: {source}", ds_suffix(.dataset))]
    Hdf5 {
        path: PathBuf,
        dataset: String,
        #[source]
        source: Hdf5Failure,
    },
    /// A required group (`Header`, `Data`) is missing.
    #[error("{path}: missing group {group}")]
    MissingGroup { path: PathBuf, group: String },
    /// A required dataset is missing.
    #[error("{path}: missing dataset {dataset}")]
    MissingDataset { path: PathBuf, dataset: String },
    /// A dataset that must have elements has none.
    #[error("{path}: dataset {dataset} is empty")]
    EmptyDataset { path: PathBuf, dataset: String },
    /// Sizes in the header disagree with each other or with array lengths.
    #[error("{path}: inconsistent sizes in {dataset}: {reason}")]
    Inconsistent {
        path: PathBuf,
        dataset: String,
        reason: String,
    },
    /// A dataset has the wrong shape.
    #[error("{path}: dataset {dataset} has shape {found:?}, expected {expected}")]
    Shape {
        path: PathBuf,
        dataset: String,
        expected: String,
        found: Vec<usize>,
    },
    /// A dataset has the wrong element type.
    #[error("{path}: dataset {dataset} has type {found}, expected {expected}")]
    DataType {
        path: PathBuf,
        dataset: String,
        expected: String,
        found: String,
    },
    /// The frequencies do not belong to the subband (or are in the wrong order).
    #[error("{path}: dataset {dataset}: frequencies do not match subband {subband}: {reason}")]
    FrequencyMismatch {
        path: PathBuf,
        dataset: String,
        subband: u8,
        reason: String,
    },
    /// The subband index in the file name is not the expected one.
    #[error("{path}: file name says subband {in_name}, expected subband {expected}")]
    SubbandMismatch {
        path: PathBuf,
        expected: u8,
        in_name: u8,
    },
    /// An unknown polarisation code.
    #[error("{path}: dataset {dataset}: unknown polarisation code {code}")]
    BadPolarization {
        path: PathBuf,
        dataset: String,
        code: i64,
    },
    /// A baseline refers to an antenna that is not in the antenna table.
    #[error("{path}: dataset {dataset} row {row}: antenna {antenna} not in the antenna table")]
    AntennaOutOfRange {
        path: PathBuf,
        dataset: String,
        row: usize,
        antenna: i64,
    },
    /// A NaN or infinity where a finite number is required.
    #[error("{path}: dataset {dataset} element {index} is not finite")]
    NonFinite {
        path: PathBuf,
        dataset: String,
        index: usize,
    },
    /// A value that must be positive is not.
    #[error("{path}: dataset {dataset} element {index} is {value}, must be > 0")]
    NonPositive {
        path: PathBuf,
        dataset: String,
        index: usize,
        value: f64,
    },
    /// The baseline-time order is not rectangular and time-major.
    #[error("{path}: dataset {dataset}: blts are not rectangular time-major: {reason}")]
    NotRectangular {
        path: PathBuf,
        dataset: String,
        reason: String,
    },
    /// A valid UVH5 feature this reader does not support (several spws or phase centres).
    #[error("{path}: dataset {dataset}: unsupported: {reason}")]
    Unsupported {
        path: PathBuf,
        dataset: String,
        reason: String,
    },
    /// A dataset claims more elements than the file could hold (corrupt dataspace).
    #[error(
        "{path}: dataset {dataset} claims {bytes} bytes, implausible for a {file_bytes}-byte file"
    )]
    Implausible {
        path: PathBuf,
        dataset: String,
        bytes: u128,
        file_bytes: u64,
    },
    /// The caller asked for integrations the file does not have.
    #[error("{path}: integrations {t0}..{t0}+{nt} requested, file has {ntimes}")]
    TimeRange {
        path: PathBuf,
        t0: usize,
        nt: usize,
        ntimes: usize,
    },
}

fn ds_suffix(dataset: &str) -> String {
    if dataset.is_empty() {
        String::new()
    } else {
        format!(" in dataset {dataset}")
    }
}

impl IngestError {
    /// Whether retrying later could succeed: the file is still being written, its
    /// size changed under us, or the OS reported an I/O error. Format errors are final.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IngestError::Incomplete { .. }
                | IngestError::SizeChanged { .. }
                | IngestError::Io { .. }
        )
    }

    /// A short stable name of the error kind (a bounded metrics label).
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::BadFileName { .. } => "bad_file_name",
            IngestError::Incomplete { .. } => "incomplete",
            IngestError::NotFound { .. } => "not_found",
            IngestError::Io { .. } => "io",
            IngestError::EmptyFile { .. } => "empty_file",
            IngestError::NotHdf5 { .. } => "not_hdf5",
            IngestError::Truncated { .. } => "truncated",
            IngestError::SizeChanged { .. } => "size_changed",
            IngestError::Hdf5 { .. } => "hdf5",
            IngestError::MissingGroup { .. } => "missing_group",
            IngestError::MissingDataset { .. } => "missing_dataset",
            IngestError::EmptyDataset { .. } => "empty_dataset",
            IngestError::Inconsistent { .. } => "inconsistent",
            IngestError::Shape { .. } => "shape",
            IngestError::DataType { .. } => "dtype",
            IngestError::FrequencyMismatch { .. } => "frequency_mismatch",
            IngestError::SubbandMismatch { .. } => "subband_mismatch",
            IngestError::BadPolarization { .. } => "bad_polarization",
            IngestError::AntennaOutOfRange { .. } => "antenna_out_of_range",
            IngestError::NonFinite { .. } => "non_finite",
            IngestError::NonPositive { .. } => "non_positive",
            IngestError::NotRectangular { .. } => "not_rectangular",
            IngestError::Unsupported { .. } => "unsupported",
            IngestError::Implausible { .. } => "implausible",
            IngestError::TimeRange { .. } => "time_range",
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            IngestError::BadFileName { path, .. }
            | IngestError::Incomplete { path }
            | IngestError::NotFound { path }
            | IngestError::Io { path, .. }
            | IngestError::EmptyFile { path }
            | IngestError::NotHdf5 { path }
            | IngestError::Truncated { path, .. }
            | IngestError::SizeChanged { path, .. }
            | IngestError::Hdf5 { path, .. }
            | IngestError::MissingGroup { path, .. }
            | IngestError::MissingDataset { path, .. }
            | IngestError::EmptyDataset { path, .. }
            | IngestError::Inconsistent { path, .. }
            | IngestError::Shape { path, .. }
            | IngestError::DataType { path, .. }
            | IngestError::FrequencyMismatch { path, .. }
            | IngestError::SubbandMismatch { path, .. }
            | IngestError::BadPolarization { path, .. }
            | IngestError::AntennaOutOfRange { path, .. }
            | IngestError::NonFinite { path, .. }
            | IngestError::NonPositive { path, .. }
            | IngestError::NotRectangular { path, .. }
            | IngestError::Unsupported { path, .. }
            | IngestError::Implausible { path, .. }
            | IngestError::TimeRange { path, .. } => path,
        }
    }

    /// The dataset (or group) the error is about, if it concerns one.
    pub fn dataset(&self) -> Option<&str> {
        match self {
            IngestError::Truncated { dataset, .. } | IngestError::Hdf5 { dataset, .. }
                if dataset.is_empty() =>
            {
                None
            }
            IngestError::Truncated { dataset, .. }
            | IngestError::Hdf5 { dataset, .. }
            | IngestError::MissingDataset { dataset, .. }
            | IngestError::EmptyDataset { dataset, .. }
            | IngestError::Inconsistent { dataset, .. }
            | IngestError::Shape { dataset, .. }
            | IngestError::DataType { dataset, .. }
            | IngestError::FrequencyMismatch { dataset, .. }
            | IngestError::BadPolarization { dataset, .. }
            | IngestError::AntennaOutOfRange { dataset, .. }
            | IngestError::NonFinite { dataset, .. }
            | IngestError::NonPositive { dataset, .. }
            | IngestError::NotRectangular { dataset, .. }
            | IngestError::Unsupported { dataset, .. }
            | IngestError::Implausible { dataset, .. } => Some(dataset),
            IngestError::MissingGroup { group, .. } => Some(group),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changing_conditions_are_retryable() {
        let path = PathBuf::from("/d/x_sb00.hdf5");
        let retry = [
            IngestError::Incomplete { path: path.clone() },
            IngestError::SizeChanged {
                path: path.clone(),
                before: 1,
                after: 2,
            },
            IngestError::Io {
                path: path.clone(),
                source: std::io::Error::other("EIO"),
            },
        ];
        for e in &retry {
            assert!(e.is_retryable(), "{e}");
            assert_eq!(e.path(), path.as_path());
        }
        let fatal = [
            IngestError::NotHdf5 { path: path.clone() },
            IngestError::EmptyFile { path: path.clone() },
            IngestError::MissingDataset {
                path: path.clone(),
                dataset: "Header/time_array".into(),
            },
            IngestError::Truncated {
                path: path.clone(),
                dataset: String::new(),
                detail: "eof".into(),
            },
        ];
        for e in &fatal {
            assert!(!e.is_retryable(), "{e}");
            assert!(e.to_string().starts_with("/d/x_sb00.hdf5: "), "{e}");
        }
        assert_eq!(fatal[2].dataset(), Some("Header/time_array"));
        assert_eq!(fatal[3].dataset(), None);
    }
}
