//! Astronomy for the DSA-110 pipeline: time scales, Earth rotation, apparent
//! place, UVW geometry, the primary beam, the array layout and the in-memory
//! visibility type that the format, calibration and imaging crates share.
//!
//! What it does not do: file I/O beyond reading the station table, anything
//! asynchronous, and polar motion (ignored, as pyuvdata and the correlator do;
//! it is below 0.5″). UT1 − UTC is an explicit input (`dut1_s`), never fetched.
//!
//! Conventions used throughout the workspace:
//! * angles in radians unless a name says `_deg`; times as UTC Julian Dates
//!   (`jd_utc`) unless a name says otherwise;
//! * the *local equatorial frame* of the site: X toward (HA = 0, Dec = 0),
//!   Y toward HA = −6 h (east), Z toward the celestial pole;
//! * baselines `b = pos(ant2) − pos(ant1)` and UVH5 visibilities
//!   `V = S · exp(+2πi b·(s − p)/λ)` (pyuvdata's convention); the MS writer
//!   stores `UVW = −b` and `conj(V)`, as pyuvdata and CASA do.

pub mod apparent;
pub mod beam;
pub mod constants;
pub mod eop_table;
pub mod geometry;
pub mod ids;
pub mod layout;
pub mod rephase;
pub mod skyframe;
pub mod time;
pub mod vis;

pub use apparent::{apparent_to_icrs, icrs_to_apparent, icrs_to_hadec, ApparentRaDec};
pub use beam::{airy_power, airy_power_x, bessel_j1};
pub use eop_table::{
    EopLookupError, EopOrigin, EopProvider, EopSearch, EopSource, EopSpan, EopStatus, EopTable,
    EopTableError,
};
pub use geometry::{
    direction_from_hadec, itrf_to_local, uvw_basis_icrs, uvw_basis_meridian, Site, UvwBasis,
};
pub use ids::{GroupId, IdError, SubbandIdx, N_SUBBANDS};
pub use layout::{read_station_csv, Station};
pub use rephase::{rephase_row, BlockRephaser, Channels, GeometryInput, GroupGeometry};
pub use skyframe::{Eop, SkyFrame};
pub use time::{gast_rad, last_rad, ObsTime};
pub use vis::{PhaseCentre, VisBlock};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum AstroError {
    /// A time could not be represented or converted.
    #[error("invalid time {what}: {value}")]
    InvalidTime { what: &'static str, value: String },
    /// The station table could not be read.
    #[error("cannot read station table {path}: {source}")]
    StationIo {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the station table is malformed.
    #[error("station table {path} line {line}: {reason}")]
    StationParse {
        path: std::path::PathBuf,
        line: usize,
        reason: String,
    },
    /// A visibility block's arrays disagree in shape.
    #[error("visibility block shape mismatch: {0}")]
    Shape(String),
    /// A baseline names an antenna the antenna table does not have.
    #[error("baseline {baseline} names antenna index {antenna}, but the antenna table has {n_antennas} antennas")]
    UnknownAntenna {
        /// The baseline (index within an integration).
        baseline: usize,
        /// The antenna index it names.
        antenna: u32,
        /// Antennas in the table.
        n_antennas: usize,
    },
    /// A visibility block does not lie within its group's geometry.
    #[error(
        "visibility block (integrations {first_integration}..{end_integration}, {n_baselines} baselines) \
         lies outside its group ({group_integrations} integrations of {group_baselines} baselines)"
    )]
    OutsideGroup {
        /// The block's first integration within the group.
        first_integration: usize,
        /// One past its last integration.
        end_integration: usize,
        /// Its baselines per integration.
        n_baselines: usize,
        /// The group's integrations.
        group_integrations: usize,
        /// The group's baselines per integration.
        group_baselines: usize,
    },
    /// A visibility block's baselines are not its group's, in the group's order.
    #[error("baseline {baseline} of the block is antennas {block:?}, the group's is {group:?}")]
    BaselineMismatch {
        /// The first baseline that differs.
        baseline: usize,
        /// The block's (ant1, ant2).
        block: (u32, u32),
        /// The group's (ant1, ant2).
        group: (u32, u32),
    },
}

impl AstroError {
    /// Whether retrying the same operation could succeed (never, for these).
    pub fn is_retryable(&self) -> bool {
        matches!(self, AstroError::StationIo { .. })
    }
}
