//! The crate's one error type.

use std::path::{Path, PathBuf};

use rubbl_casatables::TableError;

/// Everything that can go wrong writing or reading a Measurement Set. Every
/// variant names the MS it concerns.
#[derive(Debug, thiserror::Error)]
pub enum MsError {
    /// The output path already exists (the caller removes stale outputs).
    #[error("{path}: refusing to overwrite an existing path")]
    Exists {
        /// The MS path.
        path: PathBuf,
    },
    /// The [`MsSpec`](crate::MsSpec) is inconsistent.
    #[error("{path}: invalid MS specification: {reason}")]
    InvalidSpec {
        /// The MS path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A spectral-window index is out of range.
    #[error("{path}: spectral window {spw} out of range (the MS has {nspw})")]
    SpwOutOfRange {
        /// The MS path.
        path: PathBuf,
        /// The requested window.
        spw: usize,
        /// The number of windows.
        nspw: usize,
    },
    /// A row range does not fit in the spectral window's rows.
    #[error("{path}: rows {row0}..{row_end} of spw {spw} exceed its {n_rows_per_spw} rows")]
    RowRange {
        /// The MS path.
        path: PathBuf,
        /// The spectral window.
        spw: usize,
        /// First row (within the window).
        row0: usize,
        /// One past the last row (within the window).
        row_end: usize,
        /// Rows per window.
        n_rows_per_spw: usize,
    },
    /// A visibility block is internally inconsistent.
    #[error("{path}: visibility block for spw {spw} is malformed")]
    Block {
        /// The MS path.
        path: PathBuf,
        /// The spectral window.
        spw: usize,
        /// What the block's own validation found.
        #[source]
        source: dsa110_astro::AstroError,
    },
    /// A visibility block does not match the MS layout (channels, frequencies,
    /// polarisations, antennas).
    #[error("{path}: visibility block for spw {spw} does not match the MS: {reason}")]
    BlockMismatch {
        /// The MS path.
        path: PathBuf,
        /// The spectral window.
        spw: usize,
        /// What differs.
        reason: String,
    },
    /// Not every row of the main table was written before `finish`.
    #[error("{path}: {missing} of {total} rows of spw {spw} were never written")]
    Incomplete {
        /// The MS path.
        path: PathBuf,
        /// The first incomplete spectral window.
        spw: usize,
        /// Unwritten rows in it.
        missing: usize,
        /// Rows per window.
        total: usize,
    },
    /// casacore raised an error.
    #[error("{path}: casacore failed to {what}")]
    Casacore {
        /// The table (MS or subtable) path.
        path: PathBuf,
        /// What we were doing.
        what: String,
        /// casacore's error.
        #[source]
        source: TableError,
    },
    /// A filesystem operation failed.
    #[error("{path}: I/O error")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A column the operation needs is not in the table.
    #[error("{path}: no column {column}")]
    MissingColumn {
        /// The table path.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// Arrays handed to a write, or an existing column, do not have the shape
    /// or type the table needs.
    #[error("{path}: column {column}: {reason}")]
    ColumnShape {
        /// The table path.
        path: PathBuf,
        /// The column.
        column: String,
        /// What differs.
        reason: String,
    },
    /// A write to a table opened read-only.
    #[error("{path}: opened read-only, cannot write {column}")]
    ReadOnly {
        /// The table path.
        path: PathBuf,
        /// The column or keyword to be written.
        column: String,
    },
    /// An MS being read has content this crate cannot represent.
    #[error("{path}: unsupported Measurement Set content: {reason}")]
    Format {
        /// The MS path.
        path: PathBuf,
        /// What is unsupported.
        reason: String,
    },
}

impl MsError {
    /// Whether retrying the same operation could succeed: I/O and casacore
    /// failures (full disk, NFS hiccup) may be transient; specification and
    /// shape errors are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MsError::Io { .. } | MsError::Casacore { .. })
    }

    /// The path the error concerns.
    pub fn path(&self) -> &Path {
        match self {
            MsError::Exists { path }
            | MsError::InvalidSpec { path, .. }
            | MsError::SpwOutOfRange { path, .. }
            | MsError::RowRange { path, .. }
            | MsError::Block { path, .. }
            | MsError::BlockMismatch { path, .. }
            | MsError::Incomplete { path, .. }
            | MsError::Casacore { path, .. }
            | MsError::Io { path, .. }
            | MsError::MissingColumn { path, .. }
            | MsError::ColumnShape { path, .. }
            | MsError::ReadOnly { path, .. }
            | MsError::Format { path, .. } => path,
        }
    }
}

/// Attach a path and an action to casacore results.
pub(crate) trait CasaContext<T> {
    fn casa(self, path: &Path, what: impl FnOnce() -> String) -> Result<T, MsError>;
}

impl<T, E: Into<TableError>> CasaContext<T> for Result<T, E> {
    fn casa(self, path: &Path, what: impl FnOnce() -> String) -> Result<T, MsError> {
        self.map_err(|e| MsError::Casacore {
            path: path.to_path_buf(),
            what: what(),
            source: e.into(),
        })
    }
}
