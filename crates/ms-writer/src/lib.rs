//! CASA Measurement Set (v2) writing and reading for the DSA-110 pipeline —
//! the only crate of the workspace that links casacore (through
//! `rubbl_casatables`).
//!
//! * [`MsWriter`] creates an MS from an [`MsSpec`] (all main-table rows and
//!   every subtable: ANTENNA, SPECTRAL_WINDOW, POLARIZATION,
//!   DATA_DESCRIPTION, FIELD, SOURCE, OBSERVATION with pyuvdata's
//!   `TELESCOPE_LOCATION`, FEED, HISTORY, POINTING, PROCESSOR, STATE,
//!   FLAG_CMD), then fills it one [`MsBlock`] at a time with bulk
//!   column-range writes into tiled storage managers. An [`MsBlock`] is a
//!   [`VisBlock`](dsa110_astro::VisBlock) converted in place, in one parallel
//!   pass, to what the MS stores (with an optional per-row hook so a caller
//!   that rephases touches the data once); its arrays go to casacore as they
//!   are.
//! * [`read_ms`] reads an MS back into one `VisBlock` per spectral window.
//!
//! **Conventions.** Callers speak pyuvdata's UVH5 convention
//! (`uvw = pos(ant2) − pos(ant1)`, `V ∝ exp(+2πi b·(s − p)/λ)`). The MS
//! stores what pyuvdata's `write_ms` stores: `UVW = −uvw`, `DATA = conj(V)`,
//! `ANTENNA1/2 = ant1/ant2`, and the main-table keyword
//! `pyuvdata_flip_conj = True`. WSClean then images sources at their true
//! positions and pyuvdata reads back exactly `uvw` and `V`. [`read_ms`] undoes
//! the conjugation and negation. Spectral windows and channels are stored in
//! ascending frequency; rows are spw-major (window `s` occupies rows
//! `s·n_rows_per_spw ..`), time-major within a window. `TIME` is the
//! integration centre in MJD seconds (UTC); the FIELD is J2000.
//!
//! **Storage.** `DATA`, `FLAG`, `WEIGHT_SPECTRUM`, `WEIGHT`, `SIGMA` and `UVW`
//! are fixed-shape columns, each in its own `TiledColumnStMan` with tiles of
//! about 1 MiB of DATA (`[rows, nchan, npol]`); scalar columns use
//! `StandardStMan`. Writes go through `put_column_range_*` a few whole
//! integrations at a time, never cell by cell. casacore has no bulk path for
//! a row range of a StandardStMan column (it stores value by value), which
//! makes the scalar columns about a third of the write time; columns that are
//! 0 everywhere are therefore left to StandardStMan's zero-filled buckets.
//!
//! What it does not do: compute UVWs or phase data (`dsa110-astro` does), remove a
//! stale output or rename a temporary one (the caller does), write
//! MODEL_DATA/CORRECTED_DATA, or read MSs with several polarisation setups.
//! A `Table` is not `Send`, so neither is [`MsWriter`]: use one thread per MS.

mod block;
mod desc;
mod error;
mod reader;
mod spec;
mod subtables;
mod writer;

pub use block::{MsBlock, SIGMA_FOR_ZERO_WEIGHT};
pub use error::MsError;
pub use reader::{read_ms, MsContents, MsSpw};
pub use spec::{AntennaSpec, FieldSpec, HistoryEntry, MsSpec, SpwSpec};
pub use subtables::SUBTABLES;
pub use writer::{jd_to_mjd_s, mjd_s_to_jd, MsSummary, MsWriter};
