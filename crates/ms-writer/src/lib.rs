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
//! * [`group_ms_spec`] lays out the MS of one observation group from plain
//!   inputs: antennas named by the DSA-110 rules ([`ms_antenna_name`]), one
//!   window per subband in ascending frequency ([`SpwLayout`]), field, history.
//! * [`MsTable`] opens an existing MS for the science stages: metadata
//!   without the visibilities ([`MsMeta`]: windows and their frequencies and
//!   rows, antennas, phase centre, polarisations, time range), CORRECTED_DATA
//!   and MODEL_DATA added in place
//!   ([`add_calibration_columns`](MsTable::add_calibration_columns)), and
//!   chunked access ([`MsTable::chunks`]: whole integrations of one window,
//!   at most `max_rows` rows) with bulk writes of FLAG, CORRECTED_DATA,
//!   MODEL_DATA and calibrated weights, in memory bounded by the chunk.
//! * [`caltable`] writes and reads CASA `B Jones` / `G Jones` calibration
//!   tables that CASA's `applycal` accepts, and reads the ones CASA writes.
//!
//! **Conventions.** Callers speak pyuvdata's UVH5 convention
//! (`uvw = pos(ant2) − pos(ant1)`, `V ∝ exp(+2πi b·(s − p)/λ)`). The MS
//! stores what pyuvdata's `write_ms` stores: `UVW = −uvw`, `DATA = conj(V)`,
//! `ANTENNA1/2 = ant1/ant2`, and the main-table keyword
//! `pyuvdata_flip_conj = True`. WSClean then images sources at their true
//! positions and pyuvdata reads back exactly `uvw` and `V`. [`read_ms`] undoes
//! the conjugation and negation. [`MsTable`] chunks hold what the MS stores
//! (no conversion), and CORRECTED_DATA and MODEL_DATA follow DATA's
//! convention, so calibration works on them as CASA does
//! (`V_ij = g_i conj(g_j) M_ij` on DATA). Spectral windows and channels are stored in
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
//! stale output or rename a temporary MS (the caller does), solve or apply
//! calibration (it stores what a calibration crate computes), chunk MSs whose
//! windows are not contiguous row blocks, or read MSs with several
//! polarisation setups.
//! A `Table` is not `Send`, so neither is [`MsWriter`]: use one thread per MS.

mod access;
mod block;
pub mod caltable;
mod desc;
mod error;
mod layout;
mod reader;
mod spec;
mod subtables;
mod writer;

pub use access::{
    median_weights, AddedColumns, Chunk, ChunkColumns, ChunkRange, ChunkSpec, DataColumn,
    FlatChunk, MsChunks, MsMeta, MsTable,
};
pub use block::{MsBlock, SIGMA_FOR_ZERO_WEIGHT};
pub use caltable::{CalSolutions, CalTable, CalType};
pub use error::MsError;
pub use layout::{
    antenna_specs, group_ms_spec, ms_antenna_name, GroupLayout, SpwLayout, SubbandWindow,
    DSA110_FEED_ANGLES_RAD, DSA110_MOUNT,
};
pub use reader::{read_ms, MsContents, MsSpw};
pub use spec::{AntennaSpec, FieldSpec, HistoryEntry, MsSpec, SpwSpec};
pub use subtables::SUBTABLES;
pub use writer::{jd_to_mjd_s, mjd_s_to_jd, MsSummary, MsWriter};
