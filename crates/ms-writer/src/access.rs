//! [`MsTable`]: an existing Measurement Set opened for the science stages —
//! metadata without the visibilities, calibration columns added in place,
//! and chunked reads and writes whose memory does not grow with the MS.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use num_complex::Complex32;
use rubbl_casatables::{GlueDataType, Table, TableOpenMode};

use crate::block::row_weight;
use crate::error::CasaContext;
use crate::reader::{read_antennas, read_ddids, read_field, read_pols, read_spws};
use crate::spec::{AntennaSpec, FieldSpec, SpwSpec};
use crate::writer::choose_tile_rows;
use crate::MsError;

/// A visibility column of the main table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataColumn {
    /// `DATA`, as recorded.
    Data,
    /// `CORRECTED_DATA`, the calibrated visibilities.
    Corrected,
    /// `MODEL_DATA`, the predicted visibilities.
    Model,
}

impl DataColumn {
    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            DataColumn::Data => "DATA",
            DataColumn::Corrected => "CORRECTED_DATA",
            DataColumn::Model => "MODEL_DATA",
        }
    }
}

/// What an MS holds besides its visibilities, read without loading them.
#[derive(Clone, Debug, PartialEq)]
pub struct MsMeta {
    /// SPECTRAL_WINDOW rows (channel frequencies as stored).
    pub spws: Vec<SpwSpec>,
    /// ANTENNA rows (names, ITRF positions).
    pub antennas: Vec<AntennaSpec>,
    /// FIELD row 0: the phase centre (J2000).
    pub field: FieldSpec,
    /// AIPS polarisation codes of POLARIZATION row 0, in data order.
    pub pols: Vec<i32>,
    /// Main-table rows.
    pub n_rows: usize,
    /// The main-table rows of each spectral window (empty if it has none).
    pub spw_rows: Vec<Range<usize>>,
    /// Earliest and latest `TIME` (integration centres, MJD seconds UTC).
    pub time_range_mjd_s: (f64, f64),
}

impl MsMeta {
    /// Rows of spectral window `spw` (0 if out of range).
    pub fn n_rows_in_spw(&self, spw: usize) -> usize {
        self.spw_rows.get(spw).map_or(0, ExactSizeIterator::len)
    }
}

/// How [`MsTable::chunks`] cuts a spectral window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSpec {
    /// The spectral window.
    pub spw: usize,
    /// Most rows per chunk. Chunks hold whole integrations (consecutive rows
    /// with one `TIME`) when one fits; an integration longer than this is cut
    /// into pieces of `max_rows`.
    pub max_rows: usize,
}

/// Which array columns a chunk read fetches (TIME, ANTENNA1/2 and UVW are
/// always read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkColumns {
    /// The visibility column to read, if any.
    pub data: Option<DataColumn>,
    /// Read FLAG.
    pub flag: bool,
    /// Read WEIGHT_SPECTRUM (or WEIGHT broadcast over channels if the MS
    /// has no WEIGHT_SPECTRUM).
    pub weight_spectrum: bool,
}

impl Default for ChunkColumns {
    /// DATA, FLAG and WEIGHT_SPECTRUM.
    fn default() -> Self {
        Self {
            data: Some(DataColumn::Data),
            flag: true,
            weight_spectrum: true,
        }
    }
}

/// A range of main-table rows within one spectral window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRange {
    /// The spectral window.
    pub spw: usize,
    /// Main-table rows.
    pub rows: Range<usize>,
}

/// Rows of one chunk, as the MS stores them: `DATA`-convention visibilities
/// (`conj(V_uvh5)`), `UVW = −uvw_uvh5`, cells `[nchan, npol]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// The spectral window.
    pub spw: usize,
    /// Main-table rows.
    pub rows: Range<usize>,
    /// `TIME` per row (MJD seconds, UTC).
    pub time_mjd_s: Vec<f64>,
    /// `ANTENNA1` per row.
    pub ant1: Vec<i32>,
    /// `ANTENNA2` per row.
    pub ant2: Vec<i32>,
    /// `UVW` per row `[rows, 3]` (m).
    pub uvw_m: Array2<f64>,
    /// The requested visibility column `[rows, nchan, npol]`.
    pub data: Option<Array3<Complex32>>,
    /// `FLAG` `[rows, nchan, npol]`.
    pub flag: Option<Array3<bool>>,
    /// `WEIGHT_SPECTRUM` `[rows, nchan, npol]`.
    pub weight_spectrum: Option<Array3<f32>>,
}

impl Chunk {
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.rows.len()
    }
}

/// Rows of one chunk as flat buffers, without `UVW`
/// ([`MsTable::read_chunk_flat`]): the cells of row `i` are
/// `[i * nchan * npol .. (i + 1) * nchan * npol]`, row-major `[nchan, npol]`
/// as stored. A column not requested is empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlatChunk {
    /// The spectral window.
    pub spw: usize,
    /// Main-table rows.
    pub rows: Range<usize>,
    /// Channels per cell.
    pub nchan: usize,
    /// Polarisations per cell.
    pub npol: usize,
    /// `TIME` per row (MJD seconds, UTC).
    pub time_mjd_s: Vec<f64>,
    /// `ANTENNA1` per row.
    pub ant1: Vec<i32>,
    /// `ANTENNA2` per row.
    pub ant2: Vec<i32>,
    /// The requested visibility column, `rows × nchan × npol`.
    pub data: Vec<Complex32>,
    /// `FLAG`, `rows × nchan × npol`.
    pub flag: Vec<bool>,
    /// `WEIGHT_SPECTRUM` (or `WEIGHT` broadcast over channels),
    /// `rows × nchan × npol`.
    pub weight_spectrum: Vec<f32>,
}

impl FlatChunk {
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.rows.len()
    }
}

/// What [`MsTable::add_calibration_columns`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedColumns {
    /// Columns created now.
    pub added: Vec<&'static str>,
    /// Columns that were already there with the right type and shape.
    pub existing: Vec<&'static str>,
}

/// An existing MS opened read-only or read-write. Not `Send` (casacore
/// tables are not): use it on one thread.
///
/// Opening reads the subtables and the main table's `TIME` and
/// `DATA_DESC_ID` columns once (12 bytes per row, then dropped) to find each
/// window's rows and integrations, then `ANTENNA1/2` (8 bytes per row, then
/// dropped): when every integration repeats one baseline list (as
/// [`MsWriter`](crate::MsWriter) writes), that list and the integration
/// times are kept and chunk reads take TIME and ANTENNA1/2 from them;
/// otherwise they read them from the table. Afterwards only O(baselines +
/// integrations) is kept. Every spectral window's rows must be contiguous
/// (spw-major, as [`MsWriter`](crate::MsWriter) writes them) and time-ordered
/// within the window. Chunk reads fetch each column's rows in one bulk read
/// (`get_column_range_into`, the vendored rubbl addition: see
/// `vendor/README.md`) and writes use one bulk `put_column_range_*` per
/// column, so memory is bounded by the chunk size whatever the MS size.
pub struct MsTable {
    path: PathBuf,
    table: Table,
    meta: MsMeta,
    writable: bool,
    /// Per window, the main-table rows where a new integration starts
    /// (ascending, the first being the window's first row).
    time_starts: Vec<Vec<usize>>,
    /// The rows' TIME and baselines when every integration repeats one
    /// baseline list (as [`MsWriter`](crate::MsWriter) writes): chunk reads
    /// then take them from here instead of three cell reads per row.
    grid: Option<BaselineGrid>,
}

/// TIME and ANTENNA1/2 of an MS whose integrations all hold the same
/// baselines in the same order: O(baselines + integrations) memory.
#[derive(Clone, Debug)]
struct BaselineGrid {
    ant1: Vec<i32>,
    ant2: Vec<i32>,
    /// Per window, the TIME of each integration (parallel to `time_starts`).
    times: Vec<Vec<f64>>,
}

impl BaselineGrid {
    fn detect(
        spw_rows: &[Range<usize>],
        time_starts: &[Vec<usize>],
        times: Vec<Vec<f64>>,
        ant1: &[i32],
        ant2: &[i32],
    ) -> Option<Self> {
        let (s0, rows0) = spw_rows.iter().enumerate().find(|(_, r)| !r.is_empty())?;
        let first = time_starts[s0][0];
        let nbls = time_starts[s0].get(1).copied().unwrap_or(rows0.end) - first;
        let (b1, b2) = (&ant1[first..first + nbls], &ant2[first..first + nbls]);
        for (rows, starts) in spw_rows.iter().zip(time_starts) {
            for (k, &st) in starts.iter().enumerate() {
                let end = starts.get(k + 1).copied().unwrap_or(rows.end);
                if end - st != nbls || &ant1[st..end] != b1 || &ant2[st..end] != b2 {
                    return None;
                }
            }
        }
        Some(Self {
            ant1: b1.to_vec(),
            ant2: b2.to_vec(),
            times,
        })
    }
}

impl fmt::Debug for MsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsTable")
            .field("path", &self.path)
            .field("writable", &self.writable)
            .field("n_rows", &self.meta.n_rows)
            .finish_non_exhaustive()
    }
}

/// Data-manager names of the calibration columns.
const CAL_COLUMNS: [(DataColumn, &str); 2] = [
    (DataColumn::Corrected, "TiledCorrectedData"),
    (DataColumn::Model, "TiledModelData"),
];

impl MsTable {
    /// Open an MS read-only.
    pub fn open(path: &Path) -> Result<Self, MsError> {
        Self::open_with(path, false)
    }

    /// Open an MS read-write (to add columns or write chunks back).
    pub fn open_rw(path: &Path) -> Result<Self, MsError> {
        Self::open_with(path, true)
    }

    fn open_with(path: &Path, writable: bool) -> Result<Self, MsError> {
        let antennas = read_antennas(path)?;
        let field = read_field(path)?;
        let pols = read_pols(path)?;
        let spws = read_spws(path)?;
        let ddid_to_spw = read_ddids(path)?;
        let mode = if writable {
            TableOpenMode::ReadWrite
        } else {
            TableOpenMode::Read
        };
        let mut table = Table::open(path, mode).casa(path, || "open".into())?;
        let n_rows = table.n_rows() as usize;
        let format = |reason: String| MsError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let (spw_rows, time_starts, time_range_mjd_s, grid) = {
            let ddid: Vec<i32> = table
                .get_col_as_vec("DATA_DESC_ID")
                .casa(path, || "read column DATA_DESC_ID".into())?;
            let time: Vec<f64> = table
                .get_col_as_vec("TIME")
                .casa(path, || "read column TIME".into())?;
            let mut spw_rows = vec![0..0; spws.len()];
            let mut time_starts = vec![Vec::new(); spws.len()];
            let mut r = 0;
            while r < n_rows {
                let d = ddid[r];
                let end = ddid[r..]
                    .iter()
                    .position(|&x| x != d)
                    .map_or(n_rows, |k| r + k);
                let spw = usize::try_from(d)
                    .ok()
                    .and_then(|d| ddid_to_spw.get(d).copied())
                    .filter(|&s| s < spws.len())
                    .ok_or_else(|| {
                        format(format!("row {r} has DATA_DESC_ID {d} with no window"))
                    })?;
                if !spw_rows[spw].is_empty() {
                    return Err(format(format!(
                        "the rows of spectral window {spw} are not contiguous \
                         (rows {:?} and from {r}); only spw-major MSs are supported",
                        spw_rows[spw]
                    )));
                }
                spw_rows[spw] = r..end;
                let starts = &mut time_starts[spw];
                for k in r..end {
                    if k == r || time[k] != time[k - 1] {
                        if k > r && time[k] < time[k - 1] {
                            return Err(format(format!(
                                "spectral window {spw}: TIME decreases at row {k}; \
                                 rows must be time-ordered within a window"
                            )));
                        }
                        starts.push(k);
                    }
                }
                r = end;
            }
            let range = time
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| {
                    (lo.min(t), hi.max(t))
                });
            let int_times: Vec<Vec<f64>> = time_starts
                .iter()
                .map(|starts| starts.iter().map(|&k| time[k]).collect())
                .collect();
            drop(time);
            drop(ddid);
            let ant1: Vec<i32> = table
                .get_col_as_vec("ANTENNA1")
                .casa(path, || "read column ANTENNA1".into())?;
            let ant2: Vec<i32> = table
                .get_col_as_vec("ANTENNA2")
                .casa(path, || "read column ANTENNA2".into())?;
            let grid = BaselineGrid::detect(&spw_rows, &time_starts, int_times, &ant1, &ant2);
            (
                spw_rows,
                time_starts,
                if n_rows == 0 { (0.0, 0.0) } else { range },
                grid,
            )
        };
        Ok(Self {
            path: path.to_path_buf(),
            table,
            meta: MsMeta {
                spws,
                antennas,
                field,
                pols,
                n_rows,
                spw_rows,
                time_range_mjd_s,
            },
            writable,
            time_starts,
            grid,
        })
    }

    /// The MS path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Metadata read at open.
    pub fn meta(&self) -> &MsMeta {
        &self.meta
    }

    /// Whether the main table has a column `name`.
    pub fn has_column(&mut self, name: &str) -> Result<bool, MsError> {
        Ok(self
            .table
            .column_names()
            .casa(&self.path, || "list columns".into())?
            .iter()
            .any(|c| c == name))
    }

    /// Add `CORRECTED_DATA` and `MODEL_DATA` (complex, fixed cell shape
    /// `[nchan, npol]` like DATA), each in its own `TiledColumnStMan` with the
    /// tile shape [`MsWriter`](crate::MsWriter) gives DATA (≈ 1 MiB: rows
    /// dividing a window's rows × nchan × npol), without rewriting the table.
    ///
    /// Idempotent: a column that already exists with a complex `[nchan,
    /// npol]` cell is left as it is and listed in [`AddedColumns::existing`];
    /// one with another type or shape is an error
    /// ([`MsError::ColumnShape`]). New columns read as 0 until written
    /// (casacore zero-fills new tiles); [`init_calibration_columns`]
    /// sets them as CASA's `clearcal` does.
    ///
    /// Corrected weights need no new column: as CASA's `applycal`
    /// (`calwt=True`) does, they replace `WEIGHT_SPECTRUM` and `WEIGHT` (see
    /// [`write_weights`](Self::write_weights)); `SIGMA` keeps describing
    /// DATA.
    ///
    /// [`init_calibration_columns`]: Self::init_calibration_columns
    pub fn add_calibration_columns(&mut self) -> Result<AddedColumns, MsError> {
        self.add_data_columns(&[DataColumn::Corrected, DataColumn::Model])
    }

    /// [`add_calibration_columns`](Self::add_calibration_columns) for the
    /// columns `cols` only (`DATA` is not one of them). Applying a calibration
    /// needs `CORRECTED_DATA` alone: a `MODEL_DATA` nobody writes would cost
    /// its whole size in zeros written when the table closes, and CASA would
    /// read those zeros as the model where, without the column, it uses its own.
    pub fn add_data_columns(&mut self, cols: &[DataColumn]) -> Result<AddedColumns, MsError> {
        let Some(&first) = cols.first() else {
            return Ok(AddedColumns {
                added: Vec::new(),
                existing: Vec::new(),
            });
        };
        self.check_writable(first.name())?;
        let cell = self.data_cell_shape()?;
        let rows_per_spw = self
            .meta
            .spw_rows
            .iter()
            .map(ExactSizeIterator::len)
            .find(|&n| n > 0)
            .unwrap_or(1);
        let tile_rows = choose_tile_rows(cell[0] as usize * cell[1] as usize * 8, rows_per_spw);
        let tile = [tile_rows as u64, cell[0], cell[1]];
        let mut out = AddedColumns {
            added: Vec::new(),
            existing: Vec::new(),
        };
        for (col, dm) in CAL_COLUMNS.iter().filter(|(c, _)| cols.contains(c)) {
            let name = col.name();
            if self.has_column(name)? {
                let shape = self.fixed_cell_shape(name)?;
                if shape != Some(cell) {
                    return Err(MsError::ColumnShape {
                        path: self.path.clone(),
                        column: name.into(),
                        reason: format!(
                            "exists with cell shape {shape:?}, DATA has {cell:?} \
                             (remove it or use another MS)"
                        ),
                    });
                }
                out.existing.push(name);
                continue;
            }
            self.table
                .add_tiled_array_column(GlueDataType::TpComplex, name, None, &cell, &tile, dm, true)
                .casa(&self.path, || format!("add tiled column {name}"))?;
            out.added.push(name);
        }
        tracing::debug!(path = %self.path.display(), ?out, "calibration columns");
        Ok(out)
    }

    /// Set `CORRECTED_DATA = DATA` and `MODEL_DATA = 1` (a 1 Jy point source
    /// at the phase centre) everywhere, as CASA's `clearcal` does, in chunks
    /// of at most `max_rows` rows. The columns must exist.
    pub fn init_calibration_columns(&mut self, max_rows: usize) -> Result<(), MsError> {
        let cols = ChunkColumns {
            data: Some(DataColumn::Data),
            flag: false,
            weight_spectrum: false,
        };
        for spw in 0..self.meta.spws.len() {
            for range in self.chunk_ranges(ChunkSpec { spw, max_rows })? {
                let chunk = self.read_chunk(&range, cols)?;
                if let Some(data) = &chunk.data {
                    self.write_data(DataColumn::Corrected, range.rows.start, data.view())?;
                    let ones = Array3::from_elem(data.dim(), Complex32::new(1.0, 0.0));
                    self.write_data(DataColumn::Model, range.rows.start, ones.view())?;
                }
            }
        }
        Ok(())
    }

    /// The chunks of `spec.spw`: whole integrations, at most `max_rows` rows
    /// each (an integration longer than `max_rows` is cut).
    pub fn chunk_ranges(&self, spec: ChunkSpec) -> Result<Vec<ChunkRange>, MsError> {
        let starts = self
            .time_starts
            .get(spec.spw)
            .ok_or(MsError::SpwOutOfRange {
                path: self.path.clone(),
                spw: spec.spw,
                nspw: self.meta.spws.len(),
            })?;
        if spec.max_rows == 0 {
            return Err(MsError::InvalidSpec {
                path: self.path.clone(),
                reason: "chunks of 0 rows".into(),
            });
        }
        let rows = self.meta.spw_rows[spec.spw].clone();
        let mut out = Vec::new();
        let mut k = 0; // index into starts
        let mut r = rows.start;
        while r < rows.end {
            // integrations starting at or after r: take as many whole ones as fit
            while k < starts.len() && starts[k] <= r {
                k += 1;
            }
            let mut end = r;
            let mut j = k;
            loop {
                let next = starts.get(j).copied().unwrap_or(rows.end);
                if next - r > spec.max_rows {
                    break;
                }
                end = next;
                if next == rows.end {
                    break;
                }
                j += 1;
            }
            if end == r {
                // one integration larger than max_rows: cut it
                end = (r + spec.max_rows).min(rows.end);
            }
            out.push(ChunkRange {
                spw: spec.spw,
                rows: r..end,
            });
            r = end;
        }
        Ok(out)
    }

    /// Iterate over the chunks of `spec.spw`, reading `cols`. Write results
    /// back through [`MsChunks::ms`] between iterations.
    pub fn chunks(&mut self, spec: ChunkSpec, cols: ChunkColumns) -> Result<MsChunks<'_>, MsError> {
        let ranges = self.chunk_ranges(spec)?;
        Ok(MsChunks {
            ms: self,
            ranges,
            next: 0,
            cols,
        })
    }

    /// Read the rows of `range`.
    pub fn read_chunk(&mut self, range: &ChunkRange, cols: ChunkColumns) -> Result<Chunk, MsError> {
        self.read_chunk_with(range, cols, true)
    }

    /// [`read_chunk`](Self::read_chunk) without `UVW` (one cell read per row
    /// fewer, for readers that do not need it, e.g. a flagger): the chunk's
    /// `uvw_m` is empty (`[0, 3]`).
    pub fn read_chunk_without_uvw(
        &mut self,
        range: &ChunkRange,
        cols: ChunkColumns,
    ) -> Result<Chunk, MsError> {
        self.read_chunk_with(range, cols, false)
    }

    /// The rows of `range`, or the error naming them if they pass the table's end.
    fn checked_rows(&self, range: &ChunkRange) -> Result<std::ops::Range<usize>, MsError> {
        let rows = range.rows.clone();
        if rows.end > self.meta.n_rows {
            return Err(MsError::RowRange {
                path: self.path.clone(),
                spw: range.spw,
                row0: rows.start,
                row_end: rows.end,
                n_rows_per_spw: self.meta.n_rows,
            });
        }
        Ok(rows)
    }

    /// [`read_chunk_flat`](Self::read_chunk_flat) with its cells as
    /// `[rows, nchan, npol]` arrays, and `UVW` if `uvw`.
    fn read_chunk_with(
        &mut self,
        range: &ChunkRange,
        cols: ChunkColumns,
        uvw: bool,
    ) -> Result<Chunk, MsError> {
        let flat = self.read_chunk_flat(range, cols)?;
        let n = flat.nrows();
        let mut uvw_flat = Vec::new();
        if uvw {
            self.read_cells_flat("UVW", flat.rows.clone(), &[3], &mut uvw_flat)?;
        }
        let uvw_m = Array2::from_shape_vec((uvw_flat.len() / 3, 3), uvw_flat).map_err(|e| {
            MsError::ColumnShape {
                path: self.path.clone(),
                column: "UVW".into(),
                reason: format!("cells do not form [{n}, 3]: {e}"),
            }
        })?;
        let shape = (n, flat.nchan, flat.npol);
        let path = &self.path;
        // the flat cells as an array (casacore checked their shape on reading)
        fn cube<T>(
            path: &Path,
            column: &str,
            shape: (usize, usize, usize),
            v: Vec<T>,
        ) -> Result<Array3<T>, MsError> {
            Array3::from_shape_vec(shape, v).map_err(|e| MsError::ColumnShape {
                path: path.to_path_buf(),
                column: column.into(),
                reason: format!("cells do not form {shape:?}: {e}"),
            })
        }
        let data = match cols.data {
            Some(col) => Some(cube(path, col.name(), shape, flat.data)?),
            None => None,
        };
        let flag = if cols.flag {
            Some(cube(path, "FLAG", shape, flat.flag)?)
        } else {
            None
        };
        let weight_spectrum = if cols.weight_spectrum {
            Some(cube(path, "WEIGHT_SPECTRUM", shape, flat.weight_spectrum)?)
        } else {
            None
        };
        Ok(Chunk {
            spw: range.spw,
            rows: flat.rows,
            time_mjd_s: flat.time_mjd_s,
            ant1: flat.ant1,
            ant2: flat.ant2,
            uvw_m,
            data,
            flag,
            weight_spectrum,
        })
    }

    /// The rows of `range` as flat buffers ([`FlatChunk`]), without `UVW`:
    /// the same values as [`read_chunk_without_uvw`](Self::read_chunk_without_uvw)
    /// without the `ndarray` copies, for readers that walk the cells in
    /// order. Fetch `UVW` of the rows that need it with
    /// [`read_uvw_rows`](Self::read_uvw_rows).
    pub fn read_chunk_flat(
        &mut self,
        range: &ChunkRange,
        cols: ChunkColumns,
    ) -> Result<FlatChunk, MsError> {
        let rows = self.checked_rows(range)?;
        let (nchan, npol) = self.spw_cell(range.spw)?;
        let (time_mjd_s, ant1, ant2) = self.read_row_ids(range)?;
        let cell = [nchan, npol];
        let mut out = FlatChunk {
            spw: range.spw,
            rows: rows.clone(),
            nchan,
            npol,
            time_mjd_s,
            ant1,
            ant2,
            ..FlatChunk::default()
        };
        if let Some(col) = cols.data {
            let name = col.name();
            self.require_column(name)?;
            self.read_cells_flat(name, rows.clone(), &cell, &mut out.data)?;
        }
        if cols.flag {
            self.read_cells_flat("FLAG", rows.clone(), &cell, &mut out.flag)?;
        }
        if cols.weight_spectrum {
            if self.has_column("WEIGHT_SPECTRUM")? {
                self.read_cells_flat("WEIGHT_SPECTRUM", rows, &cell, &mut out.weight_spectrum)?;
            } else {
                let mut w = Vec::new();
                self.read_cells_flat("WEIGHT", rows.clone(), &[npol], &mut w)?;
                out.weight_spectrum.reserve(rows.len() * nchan * npol);
                for v in w.chunks_exact(npol) {
                    for _ in 0..nchan {
                        out.weight_spectrum.extend_from_slice(v);
                    }
                }
            }
        }
        Ok(out)
    }

    /// `UVW` of main-table rows `rows` (m), one bulk read.
    pub fn read_uvw_rows(&mut self, rows: Range<usize>) -> Result<Vec<[f64; 3]>, MsError> {
        let mut flat = Vec::new();
        self.read_cells_flat("UVW", rows, &[3], &mut flat)?;
        Ok(flat.chunks_exact(3).map(|u| [u[0], u[1], u[2]]).collect())
    }

    /// `SIGMA` of main-table rows `rows` (`[rows, npol]`), one bulk read: the
    /// noise of DATA, which applying a calibration leaves alone (`WEIGHT` and
    /// `WEIGHT_SPECTRUM` then describe CORRECTED_DATA, as in CASA ≥ 4.2.2).
    pub fn read_sigma_rows(&mut self, rows: Range<usize>) -> Result<Array2<f32>, MsError> {
        self.read_row_pol("SIGMA", rows)
    }

    /// `WEIGHT` of main-table rows `rows` (`[rows, npol]`), one bulk read.
    pub fn read_weight_rows(&mut self, rows: Range<usize>) -> Result<Array2<f32>, MsError> {
        self.read_row_pol("WEIGHT", rows)
    }

    /// A `[rows, npol]` float column (SIGMA, WEIGHT) of main-table rows `rows`.
    fn read_row_pol(&mut self, column: &str, rows: Range<usize>) -> Result<Array2<f32>, MsError> {
        let (n, npol) = (rows.len(), self.meta.pols.len());
        let mut flat = Vec::with_capacity(n * npol);
        self.read_cells_flat(column, rows, &[npol], &mut flat)?;
        Array2::from_shape_vec((n, npol), flat).map_err(|e| MsError::ColumnShape {
            path: self.path.clone(),
            column: column.into(),
            reason: format!("cells do not form [{n}, {npol}]: {e}"),
        })
    }

    /// Write a visibility column (`[rows, nchan, npol]`, MS convention) for
    /// main-table rows `row0 ..`, one bulk write. The rows must lie in one
    /// spectral window and the column must exist.
    pub fn write_data(
        &mut self,
        col: DataColumn,
        row0: usize,
        data: ArrayView3<'_, Complex32>,
    ) -> Result<(), MsError> {
        let name = col.name();
        self.check_writable(name)?;
        self.require_column(name)?;
        self.check_cells(name, row0, data.dim())?;
        self.put_range(name, row0, &data)
    }

    /// Write `FLAG` for main-table rows `row0 ..` and set `FLAG_ROW` where
    /// every channel and polarisation of a row is flagged (cleared
    /// elsewhere).
    pub fn write_flags(&mut self, row0: usize, flag: ArrayView3<'_, bool>) -> Result<(), MsError> {
        self.check_writable("FLAG")?;
        self.check_cells("FLAG", row0, flag.dim())?;
        self.put_range("FLAG", row0, &flag)?;
        let flag_row: Vec<bool> = flag
            .outer_iter()
            .map(|row| row.iter().all(|&f| f))
            .collect();
        self.table
            .put_column_range_scalar("FLAG_ROW", row0 as u64, &flag_row)
            .casa(&self.path, || {
                format!("write FLAG_ROW rows {row0}..{}", row0 + flag_row.len())
            })
    }

    /// Write corrected weights for main-table rows `row0 ..`, as CASA's
    /// `applycal` (`calwt=True`) stores them: `WEIGHT_SPECTRUM` is replaced
    /// by `weight_spectrum`, and `WEIGHT` by its per-polarisation median over
    /// the channels not flagged in `flag` (0 if all are; the rule
    /// [`MsWriter`](crate::MsWriter) uses). `SIGMA` is left alone: it
    /// describes DATA, `WEIGHT` describes CORRECTED_DATA (CASA ≥ 4.2.2).
    /// The caller computes the calibrated weights; for reference, CASA 6.7's
    /// `applycal` scales them by `|g_i g_j|²` for G and, for B, by a
    /// channel-independent factor close to the squared channel-mean
    /// bandpass amplitudes (measured in the CASA test, not reproduced here).
    pub fn write_weights(
        &mut self,
        row0: usize,
        weight_spectrum: ArrayView3<'_, f32>,
        flag: ArrayView3<'_, bool>,
    ) -> Result<(), MsError> {
        let weight =
            median_weights(weight_spectrum, flag).map_err(|reason| MsError::ColumnShape {
                path: self.path.clone(),
                column: "WEIGHT".into(),
                reason,
            })?;
        self.write_weights_with(row0, weight_spectrum, weight.view())
    }

    /// [`write_weights`](Self::write_weights) with `WEIGHT` already computed
    /// by [`median_weights`] (e.g. by a worker thread beside the table I/O):
    /// `WEIGHT_SPECTRUM` and `WEIGHT` for main-table rows `row0 ..`.
    pub fn write_weights_with(
        &mut self,
        row0: usize,
        weight_spectrum: ArrayView3<'_, f32>,
        weight: ArrayView2<'_, f32>,
    ) -> Result<(), MsError> {
        self.check_writable("WEIGHT_SPECTRUM")?;
        self.require_column("WEIGHT_SPECTRUM")?;
        self.check_cells("WEIGHT_SPECTRUM", row0, weight_spectrum.dim())?;
        let (n, _, npol) = weight_spectrum.dim();
        if weight.dim() != (n, npol) {
            return Err(MsError::ColumnShape {
                path: self.path.clone(),
                column: "WEIGHT".into(),
                reason: format!(
                    "WEIGHT {:?} does not match WEIGHT_SPECTRUM {:?}",
                    weight.dim(),
                    weight_spectrum.dim()
                ),
            });
        }
        self.put_range("WEIGHT_SPECTRUM", row0, &weight_spectrum)?;
        self.put_range("WEIGHT", row0, &weight)
    }

    // --- helpers ---

    fn check_writable(&self, column: &str) -> Result<(), MsError> {
        if self.writable {
            Ok(())
        } else {
            Err(MsError::ReadOnly {
                path: self.path.clone(),
                column: column.into(),
            })
        }
    }

    fn require_column(&mut self, name: &str) -> Result<(), MsError> {
        if self.has_column(name)? {
            Ok(())
        } else {
            Err(MsError::MissingColumn {
                path: self.path.clone(),
                column: name.into(),
            })
        }
    }

    /// `[nchan, npol]` of a fixed-shape column, `None` if the column's
    /// cells may vary.
    fn fixed_cell_shape(&mut self, name: &str) -> Result<Option<[u64; 2]>, MsError> {
        let desc = self
            .table
            .get_col_desc(name)
            .casa(&self.path, || format!("describe column {name}"))?;
        let complex = matches!(
            desc.data_type(),
            GlueDataType::TpComplex | GlueDataType::TpArrayComplex
        );
        if !complex || desc.is_scalar() {
            return Err(MsError::ColumnShape {
                path: self.path.clone(),
                column: name.into(),
                reason: format!("has type {:?}, not a complex array", desc.data_type()),
            });
        }
        Ok(match desc.shape() {
            Some([c, p]) if desc.is_fixed_shape() => Some([*c, *p]),
            _ => None,
        })
    }

    /// DATA's cell shape: fixed in the description, or else the same in
    /// every window.
    fn data_cell_shape(&mut self) -> Result<[u64; 2], MsError> {
        if let Some(s) = self.fixed_cell_shape("DATA")? {
            return Ok(s);
        }
        let npol = self.meta.pols.len() as u64;
        let nchans: Vec<usize> = self.meta.spws.iter().map(SpwSpec::nchan).collect();
        match nchans.split_first() {
            Some((&first, rest)) if rest.iter().all(|&n| n == first) => Ok([first as u64, npol]),
            _ => Err(MsError::ColumnShape {
                path: self.path.clone(),
                column: "DATA".into(),
                reason: format!(
                    "windows have {nchans:?} channels; fixed-shape calibration \
                     columns need one channel count"
                ),
            }),
        }
    }

    fn spw_cell(&self, spw: usize) -> Result<(usize, usize), MsError> {
        let s = self.meta.spws.get(spw).ok_or(MsError::SpwOutOfRange {
            path: self.path.clone(),
            spw,
            nspw: self.meta.spws.len(),
        })?;
        Ok((s.nchan(), self.meta.pols.len()))
    }

    /// Rows `row0 .. row0 + dim.0` must lie in one window whose cells are
    /// `[dim.1, dim.2]`.
    fn check_cells(
        &self,
        column: &str,
        row0: usize,
        dim: (usize, usize, usize),
    ) -> Result<(), MsError> {
        let (n, nchan, npol) = dim;
        let bad = |reason: String| MsError::ColumnShape {
            path: self.path.clone(),
            column: column.into(),
            reason,
        };
        let spw = self
            .meta
            .spw_rows
            .iter()
            .position(|r| r.contains(&row0))
            .ok_or_else(|| bad(format!("row {row0} is in no spectral window")))?;
        let rows = &self.meta.spw_rows[spw];
        if row0 + n > rows.end {
            return Err(bad(format!(
                "rows {row0}..{} run past spectral window {spw} (rows {rows:?})",
                row0 + n
            )));
        }
        let want = self.spw_cell(spw)?;
        if (nchan, npol) != want {
            return Err(bad(format!(
                "cells [{nchan}, {npol}], spectral window {spw} has {want:?}"
            )));
        }
        Ok(())
    }

    fn put_range<T, D>(
        &mut self,
        name: &str,
        row0: usize,
        values: &ndarray::ArrayView<'_, T, D>,
    ) -> Result<(), MsError>
    where
        T: rubbl_casatables::CasaScalarData + Copy,
        D: ndarray::Dimension,
    {
        let n = values.shape().first().copied().unwrap_or(0);
        if n == 0 {
            return Ok(());
        }
        self.table
            .put_column_range_array(name, row0 as u64, values)
            .casa(&self.path, || {
                format!("write {name} rows {row0}..{}", row0 + n)
            })
    }

    /// `TIME`, `ANTENNA1` and `ANTENNA2` of the rows of `range` (from the
    /// baseline grid when there is one, else one bulk read per column).
    #[allow(clippy::type_complexity)]
    fn read_row_ids(
        &mut self,
        range: &ChunkRange,
    ) -> Result<(Vec<f64>, Vec<i32>, Vec<i32>), MsError> {
        let rows = range.rows.clone();
        let n = rows.len();
        let mut time_mjd_s = Vec::with_capacity(n);
        let mut ant1 = Vec::with_capacity(n);
        let mut ant2 = Vec::with_capacity(n);
        let spw_rows = self
            .meta
            .spw_rows
            .get(range.spw)
            .cloned()
            .unwrap_or_default();
        let in_grid = rows.start >= spw_rows.start && rows.end <= spw_rows.end;
        match (&self.grid, self.time_starts.get(range.spw)) {
            (Some(g), Some(starts)) if in_grid => {
                for r in rows {
                    let k = starts.partition_point(|&s| s <= r) - 1;
                    let b = r - starts[k];
                    time_mjd_s.push(g.times[range.spw][k]);
                    ant1.push(g.ant1[b]);
                    ant2.push(g.ant2[b]);
                }
            }
            _ => {
                self.read_cells_flat("TIME", rows.clone(), &[], &mut time_mjd_s)?;
                self.read_cells_flat("ANTENNA1", rows.clone(), &[], &mut ant1)?;
                self.read_cells_flat("ANTENNA2", rows, &[], &mut ant2)?;
            }
        }
        Ok((time_mjd_s, ant1, ant2))
    }

    /// Append the cells of `name` for `rows` to `out`, one bulk read
    /// (casacore's `getColumnCells`): `cell` is the cell shape (empty for a
    /// scalar column). A column whose cells have another shape or type is an
    /// error naming the column and rows, and `out` is left as it was.
    fn read_cells_flat<T: rubbl_casatables::CasaScalarData + Copy>(
        &mut self,
        name: &str,
        rows: Range<usize>,
        cell: &[usize],
        out: &mut Vec<T>,
    ) -> Result<(), MsError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut dims = Vec::with_capacity(1 + cell.len());
        dims.push(rows.len() as u64);
        dims.extend(cell.iter().map(|&c| c as u64));
        let (r0, r1) = (rows.start, rows.end);
        self.table
            .get_column_range_into(name, r0 as u64, &dims, out)
            .casa(&self.path, || {
                format!("read {name} rows {r0}..{r1} as cells {cell:?}")
            })
    }
}

/// The chunks of one spectral window, read in order ([`MsTable::chunks`]).
/// An `Iterator` of `Result<Chunk, MsError>`; call [`ms`](Self::ms) between
/// chunks to write results back.
pub struct MsChunks<'a> {
    ms: &'a mut MsTable,
    ranges: Vec<ChunkRange>,
    next: usize,
    cols: ChunkColumns,
}

impl fmt::Debug for MsChunks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsChunks")
            .field("path", &self.ms.path)
            .field("chunks", &self.ranges.len())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl MsChunks<'_> {
    /// The MS, to write a chunk's results back.
    pub fn ms(&mut self) -> &mut MsTable {
        self.ms
    }

    /// The row ranges of all chunks.
    pub fn ranges(&self) -> &[ChunkRange] {
        &self.ranges
    }
}

impl Iterator for MsChunks<'_> {
    type Item = Result<Chunk, MsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let range = self.ranges.get(self.next)?.clone();
        self.next += 1;
        Some(self.ms.read_chunk(&range, self.cols))
    }
}

/// `WEIGHT` from `WEIGHT_SPECTRUM` as [`MsTable::write_weights`] stores it:
/// per row and polarisation the median over the channels not flagged in
/// `flag` (0 if all are), rows on both cores. `Err` names the mismatch when
/// the shapes differ.
pub fn median_weights(
    weight_spectrum: ArrayView3<'_, f32>,
    flag: ArrayView3<'_, bool>,
) -> Result<Array2<f32>, String> {
    if flag.dim() != weight_spectrum.dim() {
        return Err(format!(
            "flags {:?} and weights {:?} differ in shape",
            flag.dim(),
            weight_spectrum.dim()
        ));
    }
    let (n, nchan, npol) = weight_spectrum.dim();
    let mut weight = Array2::<f32>::zeros((n, npol));
    let (ws, fs) = (
        weight_spectrum.as_standard_layout(),
        flag.as_standard_layout(),
    );
    let (Some(ws), Some(fs), Some(out)) = (ws.as_slice(), fs.as_slice(), weight.as_slice_mut())
    else {
        // as_standard_layout always yields contiguous arrays
        return Err("weights or flags not contiguous".into());
    };
    // rows on both cores, each row's [chan][pol] cells read in place
    let row = nchan * npol;
    if row > 0 {
        use rayon::prelude::*;
        out.par_chunks_mut(npol)
            .zip(ws.par_chunks(row).zip(fs.par_chunks(row)))
            .for_each_init(Vec::new, |buf, (o, (w, f))| {
                for (p, o) in o.iter_mut().enumerate() {
                    *o = row_weight(&f[p..], &w[p..], npol, buf);
                }
            });
    }
    Ok(weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names() {
        assert_eq!(DataColumn::Data.name(), "DATA");
        assert_eq!(DataColumn::Corrected.name(), "CORRECTED_DATA");
        assert_eq!(DataColumn::Model.name(), "MODEL_DATA");
    }
}
