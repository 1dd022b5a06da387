//! dsa110-imaging: Stokes I imaging of one observation group — weighting
//! (natural/uniform/Briggs), w-corrected gridding and degridding with an
//! exponential-of-semicircle kernel, 2-D FFTs, Högbom/Clark CLEAN inside
//! Cotton–Schwab major cycles, a restoring beam fitted to the PSF, the Airy
//! primary beam, and the products named as WSClean names them.
//!
//! It does not read UVH5, know about the queue, tokio or argv; the MS adapter
//! (module `ms`) is the only place that touches a Measurement Set.

pub mod bda;
pub mod beam;
mod buf;
pub mod clean;
pub mod drift;
mod error;
pub mod fft;
pub mod gridder;
mod image;
pub mod kernel;
#[cfg(feature = "ms")]
pub mod ms;
pub mod pb;
mod vis;
pub mod weighting;

pub use beam::BeamShape;
pub use clean::{robust_rms, CleanParams, CleanStop};
pub use drift::MAX_DRIFT_CHUNKS;
pub use error::ImagingError;
pub use gridder::{GridConfig, Gridder, SIGMA_RANGE};
pub use image::{
    compute, image, product_path, ImagingParams, ImagingProducts, ImagingReport, ObsInfo, Timings,
};
pub use vis::ImagingVis;
pub use weighting::{imaging_weights, Weighting};
