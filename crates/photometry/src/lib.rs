//! dsa110-photometry: forced photometry, cross-epoch normalisation, variability metrics and
//! primary-beam-weighted mosaics of the pipeline's FITS images.
//!
//! What it does (all synchronous; CPU work on rayon):
//! - [`catalog`]: the NVSS-like source catalogue CSV (`name,ra_deg,dec_deg,flux_mjy,…`).
//! - [`background`]: robust sliding-box background and noise maps (median, 1.4826·MAD).
//! - [`forced`]: restoring-beam matched-filter photometry at fixed positions, sources closer
//!   than ~1.5 beams fitted jointly, errors from the local noise with the exact correction
//!   for beam-correlated noise, flags.
//! - [`normalise`]: per-epoch flux scale from up to 20 bright, stable reference sources.
//! - [`variability`]: η, V, χ²ν, σ-deviation, modulation index, two-epoch Vs/m, and the
//!   ESE/flare candidate rules.
//! - [`mosaic`]: linear mosaics `Σ(pb·I/σ²)/Σ(pb²/σ²)` on a common SIN grid, with weight and
//!   noise maps.
//!
//! What it does not: it knows nothing of the queue, databases, tokio or argv; it does not
//! find sources (no blind source finding), fit source shapes or positions, or deconvolve.
//! Tables, the daemon stage and the command-line tools live above it.

pub mod background;
pub mod catalog;
mod error;
pub mod forced;
pub mod mosaic;
pub mod normalise;
pub mod variability;

pub use background::{background_maps, robust_stats, BkgMaps, BkgOptions};
pub use catalog::{parse_catalog, read_catalog, write_catalog, BadRowPolicy, Catalog, Source};
pub use error::PhotError;
pub use forced::{
    forced_photometry, forced_photometry_files, forced_photometry_with_maps, measurements_csv,
    Flags, ForcedOptions, Measurement, NoiseCorrelation, MEASUREMENT_CSV_HEADER,
};
pub use mosaic::{
    image_noise, mosaic_files, pb_path_for, Interpolation, MosaicAccumulator, MosaicGrid,
    MosaicOptions, MosaicProducts,
};
pub use normalise::{
    normalise_epochs, scale_from_references, select_references, EpochScale, Normalisation,
    NormaliseOptions, RefCandidate,
};
pub use variability::{
    classify, light_curve_stats, CandidateKind, Classification, LightCurveStats, VariabilityRules,
};
