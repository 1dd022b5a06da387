//! dsa110-fits: the one crate that links cfitsio.
//!
//! It writes and reads single-plane radio images with a SIN-projected celestial WCS, the way
//! WSClean lays them out (`RA---SIN`, `DEC--SIN`, `FREQ`, `STOKES`, with `NAXIS3 = NAXIS4 =
//! 1`), restoring-beam keywords and HISTORY; it reads 2- and 4-axis images written by
//! WSClean 3.x or astropy; and it writes colour-mapped PNG previews.
//!
//! What it does: [`SinWcs`] (exact orthographic projection, 0-based pixels), [`write_image`]
//! (atomic: temporary file in the same directory, then rename), [`read_image`],
//! [`write_png_preview`].
//!
//! What it does not: tables, cubes with more than one frequency or Stokes plane, rotated
//! WCS (`PC`/`CD` off-diagonal terms, `CROTA`), other projections, compressed images, or
//! cfitsio's extended file-name syntax (paths containing `[`, `(`, `!` or `+` are passed
//! to cfitsio as is and may be misread). `FitsFile` is not `Send`: every call opens and
//! closes its own file.
//!
//! Conventions written: `RADESYS = 'ICRS'` (plus `EQUINOX = 2000.0`, which ICRS ignores but
//! older readers expect), `CRVAL1` normalised to [0, 360), `BMAJ`/`BMIN`/`BPA` in degrees,
//! `SPECSYS = 'TOPOCENT'`, `BTYPE = 'Intensity'`, `BITPIX = -32` with NaN for blanked pixels.

mod ffi;
mod io;
mod preview;
mod wcs;

use std::path::PathBuf;

pub use io::{read_image, read_image_header, write_image};
pub use preview::{write_png_preview, Stretch, StretchKind, NAN_RGB};
pub use wcs::SinWcs;

/// A restoring beam (Gaussian), FWHM axes and position angle (east of north), degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beam {
    /// Major-axis FWHM, degrees.
    pub bmaj_deg: f64,
    /// Minor-axis FWHM, degrees.
    pub bmin_deg: f64,
    /// Position angle of the major axis, degrees east of north.
    pub bpa_deg: f64,
}

impl Beam {
    /// Solid angle of the Gaussian beam, steradians: π·bmaj·bmin / (4 ln 2).
    pub fn solid_angle_sr(&self) -> f64 {
        std::f64::consts::PI * self.bmaj_deg.to_radians() * self.bmin_deg.to_radians()
            / (4.0 * std::f64::consts::LN_2)
    }
}

/// The value of an extra header keyword.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// Everything in the header that is not the pixel grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageMeta {
    pub wcs: SinWcs,
    /// Centre frequency (CRVAL of the FREQ axis), Hz; 0.0 if the file has none.
    pub freq_hz: f64,
    /// Bandwidth (CDELT of the FREQ axis), Hz; 0.0 if the file has none.
    pub bandwidth_hz: f64,
    /// Restoring beam; `None` if the header has no BMAJ (e.g. a dirty image or a PB map).
    pub beam: Option<Beam>,
    /// BUNIT, e.g. `JY/BEAM`.
    pub bunit: String,
    /// DATE-OBS, ISO 8601 (`YYYY-MM-DDThh:mm:ss[.sss]`); empty if absent.
    pub date_obs: String,
    /// TELESCOP.
    pub telescope: String,
    /// OBJECT.
    pub object: String,
    /// HISTORY records, in order.
    pub history: Vec<String>,
    /// Any other keywords (on read: everything not interpreted above, minus structural and
    /// WCS keywords and COMMENT cards). On write, keywords this crate writes itself are
    /// rejected with [`FitsError::ReservedKeyword`].
    pub extra: Vec<(String, KeyValue)>,
}

impl ImageMeta {
    /// Metadata with the pipeline's defaults: `BUNIT = 'JY/BEAM'`, `TELESCOP = 'DSA-110'`,
    /// no beam, no frequency, empty strings.
    pub fn new(wcs: SinWcs) -> Self {
        Self {
            wcs,
            freq_hz: 0.0,
            bandwidth_hz: 0.0,
            beam: None,
            bunit: "JY/BEAM".to_string(),
            date_obs: String::new(),
            telescope: "DSA-110".to_string(),
            object: String::new(),
            history: Vec::new(),
            extra: Vec::new(),
        }
    }
}

/// A single-plane image: `data[y * nx + x]` (row-major, y slow; y = 0 is the bottom row
/// as FITS stores it), NaN for blanked pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FitsImage {
    pub nx: usize,
    pub ny: usize,
    pub data: Vec<f32>,
    pub meta: ImageMeta,
}

impl FitsImage {
    /// Pixel value at 0-based `(x, y)`, `None` outside the image.
    pub fn get(&self, x: usize, y: usize) -> Option<f32> {
        if x < self.nx && y < self.ny {
            self.data.get(y * self.nx + x).copied()
        } else {
            None
        }
    }
}

/// Errors of this crate. Each names the file and, where it applies, the keyword.
#[derive(Debug, thiserror::Error)]
pub enum FitsError {
    #[error("cannot open FITS file {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: fitsio::errors::Error,
    },
    #[error("cannot create FITS file {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: fitsio::errors::Error,
    },
    #[error("cannot write keyword {keyword} of {path}")]
    WriteKey {
        path: PathBuf,
        keyword: String,
        #[source]
        source: fitsio::errors::Error,
    },
    #[error("cannot write {keyword} record of {path}")]
    WriteRecord {
        path: PathBuf,
        keyword: String,
        #[source]
        source: ffi::CfitsioStatus,
    },
    #[error("cannot read the header of {path} (HDU {hdu})")]
    ReadHeader {
        path: PathBuf,
        hdu: usize,
        #[source]
        source: ffi::CfitsioStatus,
    },
    #[error("cannot read the primary HDU of {path}")]
    Hdu {
        path: PathBuf,
        #[source]
        source: fitsio::errors::Error,
    },
    #[error("keyword {keyword} missing from {path}")]
    MissingKeyword { path: PathBuf, keyword: String },
    #[error("keyword {keyword} of {path} has an invalid value {value:?}: {reason}")]
    BadKeyword {
        path: PathBuf,
        keyword: String,
        value: String,
        reason: String,
    },
    #[error("{path}: unsupported image layout: {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error(
        "{path}: keyword {keyword} is written by dsa110-fits itself and cannot be an extra keyword"
    )]
    ReservedKeyword { path: PathBuf, keyword: String },
    #[error("{path}: image is {nx}×{ny} but has {len} pixels")]
    Shape {
        path: PathBuf,
        nx: usize,
        ny: usize,
        len: usize,
    },
    #[error("cannot read the pixels of {path}")]
    ReadData {
        path: PathBuf,
        #[source]
        source: fitsio::errors::Error,
    },
    #[error("cannot write the pixels of {path}")]
    WriteData {
        path: PathBuf,
        #[source]
        source: fitsio::errors::Error,
    },
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode PNG {path}")]
    Png {
        path: PathBuf,
        #[source]
        source: png::EncodingError,
    },
}

impl FitsError {
    /// Whether retrying the same call can help: only transient I/O conditions (a full disk
    /// being cleaned, an interrupted call, a busy network filesystem). Bad headers, bad
    /// shapes and unsupported layouts never get better by retrying.
    pub fn is_retryable(&self) -> bool {
        use std::io::ErrorKind as K;
        let io_kind = |e: &std::io::Error| {
            matches!(
                e.kind(),
                K::Interrupted | K::WouldBlock | K::TimedOut | K::StorageFull | K::ResourceBusy
            )
        };
        match self {
            FitsError::Io { source, .. } => io_kind(source),
            FitsError::Open {
                source: fitsio::errors::Error::Io(e),
                ..
            }
            | FitsError::Create {
                source: fitsio::errors::Error::Io(e),
                ..
            } => io_kind(e),
            _ => false,
        }
    }
}
