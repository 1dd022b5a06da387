use std::path::PathBuf;

/// Errors of dsa110-photometry; each names the file, row, field or image it concerns.
#[derive(Debug, thiserror::Error)]
pub enum PhotError {
    #[error("cannot read catalogue {path}")]
    CatalogIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalogue {path}: header lacks required column {column:?} (need name,ra_deg,dec_deg,flux_mjy)")]
    CatalogHeader { path: PathBuf, column: String },
    #[error("catalogue {path}, line {line}, field {field}: {value:?} {reason}")]
    CatalogRow {
        path: PathBuf,
        line: usize,
        field: String,
        value: String,
        reason: String,
    },
    #[error("catalogue {path} has no sources")]
    CatalogEmpty { path: PathBuf },
    #[error("image {image} has no restoring beam (BMAJ/BMIN): forced photometry needs one")]
    NoBeam { image: String },
    #[error("image {image}: invalid restoring beam {bmaj_deg}×{bmin_deg} deg")]
    BadBeam {
        image: String,
        bmaj_deg: f64,
        bmin_deg: f64,
    },
    #[error("image {image}: {nx}×{ny} but {len} pixels (or a map of another size)")]
    Shape {
        image: String,
        nx: usize,
        ny: usize,
        len: usize,
    },
    #[error("invalid option {option}: {reason}")]
    BadOption { option: String, reason: String },
    #[error(transparent)]
    Fits(#[from] dsa110_fits::FitsError),
    #[error("mosaic: no input images")]
    NoInputs,
    #[error("mosaic: primary-beam image {pb} does not match image {image}: {reason}")]
    PbMismatch {
        image: PathBuf,
        pb: PathBuf,
        reason: String,
    },
    #[error("mosaic: noise of image {image} cannot be estimated (no finite pixels)")]
    NoNoise { image: String },
    #[error("mosaic output grid would be {nx}×{ny} pixels, more than the limit of {max_pixels}")]
    GridTooLarge {
        nx: usize,
        ny: usize,
        max_pixels: usize,
    },
    #[error("light curves: {what}")]
    LightCurve { what: String },
}

impl PhotError {
    /// Whether the same call can succeed later: only transient file-system conditions.
    pub fn is_retryable(&self) -> bool {
        match self {
            PhotError::Fits(e) => e.is_retryable(),
            PhotError::CatalogIo { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }
}
