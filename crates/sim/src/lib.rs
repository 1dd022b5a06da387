//! Synthetic DSA-110 correlator output, in the correlator's exact UVH5 format.
//!
//! [`simulate_group`] writes one observation group: up to 16 subband files
//! `YYYY-MM-DDTHH:MM:SS_sbNN.hdf5` (timestamps jittered per subband within
//! ±`jitter_s` of the group's nominal start, as the correlator's wall-clock names
//! are), laid out as SPEC §2 describes — meridian-fringe-stopped visibilities,
//! constant float32 meridian UVWs, `phase_type = "drift"`, time-major blts in a
//! non-sorted correlator input order, autocorrelations included. Beside them go
//! `<group>_truth.json` ([`Truth`]) and `<group>_gains.npy` (see [`gains`]).
//! [`simulate_group_like_correlator`] writes the same bytes the way the correlator
//! does: `<name>_incomplete.hdf5` growing integration by integration, renamed when
//! complete, subbands in shuffled order, optionally slowly.
//!
//! The science (geometry, sky, beam, gains, noise, RFI) is documented in
//! [`model`], [`sky`] and [`gains`]; all astrometry comes from `dsa110-astro`.
//!
//! What it does not do: polarisation leakage or polarised sources (XX = YY = I),
//! bandwidth/time smearing, cross-hand pols (XY/YX), the w-term beyond the exact
//! phase (it is exact), ionosphere, or reading files back (that is
//! `dsa110-hdf5-ingest`). pyuvdata's multi-file `read()` rejects the correlator's
//! float32 `uvw_array`: read these files one at a time (`UVData.from_file(f)`).

pub mod array;
pub mod config;
pub mod gains;
pub mod group;
pub mod model;
pub mod sky;
pub mod truth;
pub mod uvh5;

use std::path::PathBuf;

pub use config::{
    default_stations_csv, CorrelatorMode, GaussianShape, Scale, SimConfig, SourceSpec,
};
pub use group::{simulate_group, simulate_group_like_correlator, GroupSummary};
pub use model::{subband_freqs_hz, FileEntry, RfiBurst, RfiChannel, RfiPlan};
pub use truth::{gains_path, truth_path, Truth};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is inconsistent.
    #[error("invalid simulation config: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The station table could not be read or is incomplete.
    #[error("station table {path}: {source}")]
    Stations {
        /// The table.
        path: PathBuf,
        /// Why.
        #[source]
        source: dsa110_astro::AstroError,
    },
    /// A time or geodetic computation failed.
    #[error("astrometry: {0}")]
    Astro(#[from] dsa110_astro::AstroError),
    /// An HDF5 call failed.
    #[error("HDF5 error writing {path}: {source}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: hdf5::Error,
    },
    /// A filesystem call failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The truth file could not be (de)serialised.
    #[error("truth file {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl SimError {
    /// Whether retrying the same call could succeed (I/O and HDF5 failures may be
    /// transient, e.g. a full disk; configuration errors are not).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SimError::Io { .. } | SimError::Hdf5 { .. })
    }
}

/// Derive a sub-seed from the user seed and a tag path (SplitMix64 mixing), so
/// every random stream (antennas, sky, gains, noise per chunk, …) is independent
/// and stable.
pub(crate) fn seed_for(seed: u64, tags: &[u64]) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    tags.iter().fold(mix(seed), |acc, &t| mix(acc ^ mix(t)))
}
