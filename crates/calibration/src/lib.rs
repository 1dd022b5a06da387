//! Calibration for the DSA-110 pipeline: RFI flagging, the calibrator
//! catalogue and transit detection, sky models, bandpass and gain solvers,
//! and applying solutions — on in-memory visibilities ([`VisBlock`]s in
//! pyuvdata's convention, as `dsa110_ms_writer::read_ms` returns them).
//!
//! * [`flag`] — AOFlagger-style SumThreshold + SIR on time–frequency planes,
//!   per baseline and polarisation, with a report per group, antenna and window.
//! * [`catalog`] — built-in VLA L-band calibrators and the CSV that replaces them.
//! * [`transit`] — which calibrators cross the primary beam during a group.
//! * [`model`] — point-source model visibilities with the Airy beam evaluated
//!   per integration and frequency.
//! * [`solve`] — StEFCal bandpass (B) and gain (G) solutions with CASA's
//!   conventions (`V_ij = g_i conj(g_j) M_ij`, `minblperant`, `minsnr`,
//!   reference antenna), errors, SNR and a QA verdict.
//! * [`apply`] — corrected data and weights from B and G.
//! * [`overview`] — a compact view of a solution set for plots (CASA's convention).
//! * `msio` (feature `ms`, on by default) — the same on Measurement Sets and
//!   CASA `B Jones`/`G Jones` tables, through `dsa110-ms-writer` (which owns
//!   all casacore access); `--no-default-features` builds the pure-Rust part
//!   without casacore.
//!
//! What it does not do: talk to the queue, decide when to solve or which set
//! to apply, or touch casacore itself. It never panics on input; errors are
//! [`CalError`].
//!
//! [`VisBlock`]: dsa110_astro::VisBlock

pub mod apply;
pub mod catalog;
mod error;
pub mod flag;
pub mod model;
#[cfg(feature = "ms")]
pub mod msio;
pub mod overview;
pub mod solve;
pub mod transit;

pub use apply::{apply_to_block, ApplyReport};
pub use catalog::{Calibrator, Catalog};
pub use error::CalError;
pub use flag::{
    amplitude, flag_amplitude_group, flag_block, flag_group, flag_plane, AmpWindow, BaselineLayout,
    FlagParams, FlagReport,
};
pub use model::{predict, predict_block};
#[cfg(feature = "ms")]
pub use msio::{
    antenna_by_name, apply_tables, flag_ms, flag_solve_apply_ms, group_transits, solve_ms,
    write_model_ms, write_tables, MsSolve, OnePass, OnePassTimings, SolveSummary,
};
pub use overview::{solution_overview, AntennaSolutions, GainWindow, SolutionOverview};
pub use solve::{
    model_residual_fraction, qa_summary, solve_spws, solve_table, CalSolutions, GroupSolver,
    JonesKind, QaReport, QaThresholds, SolutionTable, SolveParams,
};
pub use transit::{find_transits, BeamGeometry, Transit};
