//! [`MsWriter`]: create an MS with all its rows and subtables, then fill the
//! main table block by block with bulk (column-range) writes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dsa110_astro::VisBlock;
use ndarray::{s, Array2, Array3};
use num_complex::Complex32;
use rubbl_casatables::{CasaScalarData, GlueDataType as T, Table};

use crate::desc::{col, create_table, set_column_measure, ColDef, Meas, Shape};
use crate::error::CasaContext;
use crate::spec::MsSpec;
use crate::subtables;
use crate::MsError;

/// Target bytes of one DATA tile (rows × nchan × npol × 8 B).
const DATA_TILE_BYTES: usize = 1 << 20;
/// Target rows handed to casacore per bulk call (rounded to whole integrations).
const CHUNK_ROWS: usize = 16_384;
/// `SIGMA` written for a polarisation whose `WEIGHT` is 0 (every channel
/// flagged or zero samples), following CASA's `statwt`.
pub const SIGMA_FOR_ZERO_WEIGHT: f32 = -1.0;
/// MJD 0 as a Julian Date.
const MJD0_JD: f64 = 2_400_000.5;

/// Convert a UTC Julian Date to the MS `TIME` (MJD seconds, UTC).
pub fn jd_to_mjd_s(jd: f64) -> f64 {
    (jd - MJD0_JD) * 86_400.0
}

/// Convert an MS `TIME` (MJD seconds, UTC) to a UTC Julian Date.
pub fn mjd_s_to_jd(mjd_s: f64) -> f64 {
    mjd_s / 86_400.0 + MJD0_JD
}

const SC: Shape = Shape::Scalar;

/// Main-table columns created with the table description (StandardStMan);
/// the bulk array columns are added afterwards with tiled storage managers.
const MAIN_SCALARS: [ColDef; 17] = [
    col("TIME", T::TpDouble, SC).units(&["s"]).meas(Meas::Epoch),
    col("TIME_CENTROID", T::TpDouble, SC)
        .units(&["s"])
        .meas(Meas::Epoch),
    col("INTERVAL", T::TpDouble, SC).units(&["s"]),
    col("EXPOSURE", T::TpDouble, SC).units(&["s"]),
    col("ANTENNA1", T::TpInt, SC),
    col("ANTENNA2", T::TpInt, SC),
    col("FEED1", T::TpInt, SC),
    col("FEED2", T::TpInt, SC),
    col("DATA_DESC_ID", T::TpInt, SC),
    col("FIELD_ID", T::TpInt, SC),
    col("SCAN_NUMBER", T::TpInt, SC),
    col("ARRAY_ID", T::TpInt, SC),
    col("OBSERVATION_ID", T::TpInt, SC),
    col("PROCESSOR_ID", T::TpInt, SC),
    col("STATE_ID", T::TpInt, SC),
    col("FLAG_ROW", T::TpBool, SC),
    // never filled (no flag categories); present because the MS requires it
    col("FLAG_CATEGORY", T::TpBool, Shape::Var(Some(3))),
];

/// What [`MsWriter::finish`] reports.
#[derive(Clone, Debug, PartialEq)]
pub struct MsSummary {
    /// The MS written.
    pub path: PathBuf,
    /// Main-table rows.
    pub n_rows: usize,
    /// Spectral windows.
    pub n_spw: usize,
    /// Channels per window.
    pub nchan: usize,
    /// Polarisations.
    pub npol: usize,
    /// Bytes of DATA written (rows × nchan × npol × 8, counting rewrites).
    pub data_bytes: u64,
    /// Seconds from `create` to the end of `finish`.
    pub elapsed_s: f64,
}

/// Writes one Measurement Set. Not `Send` (casacore tables are not): create,
/// write and finish it on one thread.
///
/// Rows are spw-major: spectral window `s` occupies main-table rows
/// `s·n_rows_per_spw .. (s+1)·n_rows_per_spw`, and within a window the rows
/// follow the [`VisBlock`] order (time-major). Every row must be written once
/// (by [`write_block`](Self::write_block) or
/// [`write_flagged`](Self::write_flagged)) before [`finish`](Self::finish).
///
/// Conventions: the caller's arrays are in pyuvdata's UVH5 convention; the MS
/// gets `UVW = −uvw` and `DATA = conj(V)`, exactly what pyuvdata's `write_ms`
/// stores, with `ANTENNA1/2 = ant1/ant2`. Channels are stored ascending.
/// `WEIGHT_SPECTRUM = nsamples`; `WEIGHT` is, per polarisation, the median of
/// `nsamples` over the unflagged channels (0 if none), `SIGMA = 1/√WEIGHT`
/// ([`SIGMA_FOR_ZERO_WEIGHT`] when `WEIGHT` is 0); `FLAG_ROW` is set when every
/// channel and polarisation is flagged.
pub struct MsWriter {
    path: PathBuf,
    spec: MsSpec,
    table: Table,
    written: Vec<bool>,
    data_bytes: u64,
    tile_rows: usize,
    started: Instant,
}

impl fmt::Debug for MsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsWriter")
            .field("path", &self.path)
            .field("n_spw", &self.spec.spws.len())
            .field("n_rows_per_spw", &self.spec.n_rows_per_spw)
            .field("data_bytes", &self.data_bytes)
            .finish_non_exhaustive()
    }
}

/// Where the visibilities of the rows being written come from.
#[derive(Clone, Copy)]
enum Payload<'a> {
    /// A real block's `(rows, nchan, npol)` arrays in standard layout
    /// (channels reversed on the way out if `reverse`).
    Vis {
        data: &'a [Complex32],
        flags: &'a [bool],
        nsamples: &'a [f32],
        reverse: bool,
    },
    /// Zeros, all flagged, zero weight.
    Flagged,
}

/// One bulk write's worth of main-table rows, ready for casacore.
struct Chunk {
    /// First main-table row.
    start: u64,
    time: Vec<f64>,
    interval: Vec<f64>,
    ant1: Vec<i32>,
    ant2: Vec<i32>,
    flag_row: Vec<bool>,
    uvw: Array2<f64>,
    data: Array3<Complex32>,
    flag: Array3<bool>,
    wspec: Array3<f32>,
    weight: Array2<f32>,
    sigma: Array2<f32>,
}

impl MsWriter {
    /// Create the MS at `path` (which must not exist; its parent must) with
    /// every main-table row (`spws × n_rows_per_spw`) and every subtable.
    ///
    /// On error a partial directory may be left at `path`; write to a
    /// temporary name and remove it on failure.
    pub fn create(path: &Path, spec: &MsSpec) -> Result<Self, MsError> {
        let started = Instant::now();
        spec.validate(path)?;
        if path.symlink_metadata().is_ok() {
            return Err(MsError::Exists {
                path: path.to_path_buf(),
            });
        }
        let (nchan, npol) = (spec.nchan() as u64, spec.pols.len() as u64);
        let mut table = create_table(path, &MAIN_SCALARS, 0)?;
        let categories: Vec<String> = ["FLAG_CMD", "ORIGINAL", "USER"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        table
            .put_column_keyword("FLAG_CATEGORY", "CATEGORY", &categories)
            .casa(path, || "set CATEGORY of FLAG_CATEGORY".into())?;

        let tile_rows = choose_tile_rows(nchan as usize * npol as usize * 8, spec.n_rows_per_spw);
        let tile_rows_u = tile_rows as u64;
        let cell = [nchan, npol];
        let tiled: [(T, &str, &[u64], &str); 6] = [
            (T::TpDouble, "UVW", &[3], "TiledUVW"),
            (T::TpComplex, "DATA", &cell, "TiledData"),
            (T::TpBool, "FLAG", &cell, "TiledFlag"),
            (T::TpFloat, "WEIGHT_SPECTRUM", &cell, "TiledWeightSpectrum"),
            (T::TpFloat, "WEIGHT", &[npol], "TiledWeight"),
            (T::TpFloat, "SIGMA", &[npol], "TiledSigma"),
        ];
        for (ty, name, shape, dm) in tiled {
            let mut tile = vec![tile_rows_u];
            tile.extend_from_slice(shape);
            table
                .add_tiled_array_column(ty, name, None, shape, &tile, dm, true)
                .casa(path, || format!("add tiled column {name}"))?;
        }
        set_column_measure(&mut table, path, "UVW", &["m", "m", "m"], Some(Meas::Uvw))?;

        table
            .add_rows(spec.n_rows())
            .casa(path, || format!("add {} rows", spec.n_rows()))?;

        for (name, sub) in subtables::write_all(path, spec)? {
            table
                .put_table_keyword(name, sub)
                .casa(path, || format!("link subtable {name}"))?;
        }
        table
            .put_keyword("MS_VERSION", &2.0f32)
            .casa(path, || "set MS_VERSION".into())?;
        // Tell pyuvdata how the data are conjugated (as its own write_ms does),
        // so it never guesses from HISTORY.
        table
            .put_keyword("pyuvdata_flip_conj", &true)
            .casa(path, || "set pyuvdata_flip_conj".into())?;
        // Large enough to hold the StandardStMan buckets touched by a chunk.
        table
            .set_standard_stman_cache_size("StandardStMan", 1024)
            .casa(path, || "size the StandardStMan cache".into())?;

        tracing::debug!(
            path = %path.display(),
            rows = spec.n_rows(),
            tile_rows,
            "created Measurement Set"
        );
        Ok(Self {
            path: path.to_path_buf(),
            spec: spec.clone(),
            table,
            written: vec![false; spec.n_rows()],
            data_bytes: 0,
            tile_rows,
            started,
        })
    }

    /// The MS path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layout this MS was created with.
    pub fn spec(&self) -> &MsSpec {
        &self.spec
    }

    /// Write rows `row0 .. row0 + block.nrows()` of spectral window `spw` from
    /// a block in the VisBlock (UVH5) convention. The block's channels may be
    /// ascending or descending (the correlator's order; they are reversed so
    /// the MS ascends) but must match the window's frequencies; its
    /// polarisations must equal the MS's, in order.
    pub fn write_block(
        &mut self,
        spw: usize,
        row0: usize,
        block: &VisBlock,
    ) -> Result<(), MsError> {
        self.check_spw(spw)?;
        block.validate().map_err(|source| MsError::Block {
            path: self.path.clone(),
            spw,
            source,
        })?;
        let mismatch = |reason: String| MsError::BlockMismatch {
            path: self.path.clone(),
            spw,
            reason,
        };
        let want = &self.spec.spws[spw];
        if block.nchan() != want.nchan() {
            return Err(mismatch(format!(
                "{} channels, the window has {}",
                block.nchan(),
                want.nchan()
            )));
        }
        if block.pols != self.spec.pols {
            return Err(mismatch(format!(
                "polarisations {:?}, the MS has {:?}",
                block.pols, self.spec.pols
            )));
        }
        let n = block.nchan();
        let reverse = n > 1 && block.freqs_hz[0] > block.freqs_hz[n - 1];
        let tol = 1e-3 * want.chan_width_hz;
        for (c, &f) in want.freqs_hz.iter().enumerate() {
            let got = block.freqs_hz[if reverse { n - 1 - c } else { c }];
            if (got - f).abs() > tol {
                return Err(mismatch(format!(
                    "channel {c} at {got} Hz, the window has {f} Hz"
                )));
            }
        }
        let data = block.data.as_standard_layout();
        let flags = block.flags.as_standard_layout();
        let nsamples = block.nsamples.as_standard_layout();
        let payload = Payload::Vis {
            data: data.as_slice().unwrap_or_default(),
            flags: flags.as_slice().unwrap_or_default(),
            nsamples: nsamples.as_slice().unwrap_or_default(),
            reverse,
        };
        self.write_rows(spw, row0, block, payload)
    }

    /// Write rows for a missing subband: zero visibilities, every flag set,
    /// zero weights, with `template`'s times, baselines and UVWs (its
    /// visibility arrays, channels and polarisations are ignored).
    pub fn write_flagged(
        &mut self,
        spw: usize,
        row0: usize,
        template: &VisBlock,
    ) -> Result<(), MsError> {
        self.check_spw(spw)?;
        if template.ant2.len() != template.nbls() || template.uvw_m.dim() != (template.nrows(), 3) {
            return Err(MsError::BlockMismatch {
                path: self.path.clone(),
                spw,
                reason: format!(
                    "template has {} ant1, {} ant2 and uvw {:?} for {} rows",
                    template.nbls(),
                    template.ant2.len(),
                    template.uvw_m.dim(),
                    template.nrows()
                ),
            });
        }
        self.write_rows(spw, row0, template, Payload::Flagged)
    }

    fn check_spw(&self, spw: usize) -> Result<(), MsError> {
        if spw >= self.spec.spws.len() {
            return Err(MsError::SpwOutOfRange {
                path: self.path.clone(),
                spw,
                nspw: self.spec.spws.len(),
            });
        }
        Ok(())
    }

    fn write_rows(
        &mut self,
        spw: usize,
        row0: usize,
        meta: &VisBlock,
        payload: Payload<'_>,
    ) -> Result<(), MsError> {
        let nrows = meta.nrows();
        let per_spw = self.spec.n_rows_per_spw;
        if row0 + nrows > per_spw {
            return Err(MsError::RowRange {
                path: self.path.clone(),
                spw,
                row0,
                row_end: row0 + nrows,
                n_rows_per_spw: per_spw,
            });
        }
        let nant = self.spec.antennas.len();
        if let Some((a1, a2)) = meta
            .ant1
            .iter()
            .zip(&meta.ant2)
            .find(|(a1, a2)| **a1 as usize >= nant || **a2 as usize >= nant)
        {
            return Err(MsError::BlockMismatch {
                path: self.path.clone(),
                spw,
                reason: format!("baseline ({a1}, {a2}) but the MS has {nant} antennas"),
            });
        }
        if nrows == 0 {
            return Ok(());
        }
        let base = spw * per_spw + row0;
        let ranges = chunk_ranges(base, nrows, self.tile_rows);
        let shape = (self.spec.nchan(), self.spec.pols.len());

        // Prepare chunk k+1 on a second thread while casacore writes chunk k
        // (the table itself stays on this thread).
        std::thread::scope(|scope| -> Result<(), MsError> {
            let mut next = Some(prepare(meta, payload, base, ranges[0], shape));
            for k in 0..ranges.len() {
                let Some(chunk) = next.take() else {
                    break;
                };
                let pending = ranges
                    .get(k + 1)
                    .map(|&r| scope.spawn(move || prepare(meta, payload, base, r, shape)));
                let written = self.put_chunk(spw, &chunk);
                drop(chunk);
                next = match pending.map(|h| h.join()) {
                    Some(Ok(c)) => Some(c),
                    Some(Err(panic)) => std::panic::resume_unwind(panic),
                    None => None,
                };
                written?;
            }
            Ok(())
        })?;
        self.written[base..base + nrows].fill(true);
        tracing::debug!(spw, row0, nrows, "wrote rows");
        Ok(())
    }

    /// Hand one prepared chunk to casacore, column by column.
    fn put_chunk(&mut self, spw: usize, c: &Chunk) -> Result<(), MsError> {
        let n = c.time.len();
        let (start, path, tb) = (c.start, &self.path, &mut self.table);
        put_scalar(tb, path, "TIME", start, &c.time)?;
        put_scalar(tb, path, "TIME_CENTROID", start, &c.time)?;
        put_scalar(tb, path, "INTERVAL", start, &c.interval)?;
        put_scalar(tb, path, "EXPOSURE", start, &c.interval)?;
        put_scalar(tb, path, "ANTENNA1", start, &c.ant1)?;
        put_scalar(tb, path, "ANTENNA2", start, &c.ant2)?;
        // FEED1/2, FIELD_ID, ARRAY_ID, OBSERVATION_ID, PROCESSOR_ID and
        // STATE_ID are 0 in every row and never written: StandardStMan hands
        // out zero-filled buckets for new rows (casacore SSMBase::getNewBucket),
        // and writing them would cost ~40 % of the scalar-column time.
        put_scalar(tb, path, "SCAN_NUMBER", start, &vec![1i32; n])?;
        put_scalar(tb, path, "DATA_DESC_ID", start, &vec![spw as i32; n])?;
        put_scalar(tb, path, "FLAG_ROW", start, &c.flag_row)?;

        let what = |col: &str| format!("write {col} rows {start}..{}", start + n as u64);
        tb.put_column_range_array("UVW", start, &c.uvw)
            .casa(path, || what("UVW"))?;
        tb.put_column_range_array("DATA", start, &c.data)
            .casa(path, || what("DATA"))?;
        tb.put_column_range_array("FLAG", start, &c.flag)
            .casa(path, || what("FLAG"))?;
        tb.put_column_range_array("WEIGHT_SPECTRUM", start, &c.wspec)
            .casa(path, || what("WEIGHT_SPECTRUM"))?;
        tb.put_column_range_array("WEIGHT", start, &c.weight)
            .casa(path, || what("WEIGHT"))?;
        tb.put_column_range_array("SIGMA", start, &c.sigma)
            .casa(path, || what("SIGMA"))?;
        self.data_bytes += (c.data.len() * 8) as u64;
        Ok(())
    }

    /// Close the MS. Fails if any row was never written.
    pub fn finish(self) -> Result<MsSummary, MsError> {
        let per_spw = self.spec.n_rows_per_spw;
        for (spw, rows) in self.written.chunks(per_spw.max(1)).enumerate() {
            let missing = rows.iter().filter(|w| !**w).count();
            if missing > 0 {
                return Err(MsError::Incomplete {
                    path: self.path.clone(),
                    spw,
                    missing,
                    total: per_spw,
                });
            }
        }
        let MsWriter {
            path,
            spec,
            table,
            data_bytes,
            started,
            ..
        } = self;
        drop(table); // flushes and closes every table
        let info = path.join("table.info");
        std::fs::write(
            &info,
            "Type = Measurement Set\nSubType = \n\n\
             This is a MeasurementSet Table holding measurements from a Telescope\n",
        )
        .map_err(|source| MsError::Io { path: info, source })?;
        let summary = MsSummary {
            path,
            n_rows: spec.n_rows(),
            n_spw: spec.spws.len(),
            nchan: spec.nchan(),
            npol: spec.pols.len(),
            data_bytes,
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        tracing::debug!(?summary, "finished Measurement Set");
        Ok(summary)
    }
}

/// Tile height (rows) for a row of `row_bytes` bytes of DATA: about
/// [`DATA_TILE_BYTES`], preferring a divisor of `rows_per_spw` (within a
/// factor 2 of the target) so windows start on tile boundaries.
fn choose_tile_rows(row_bytes: usize, rows_per_spw: usize) -> usize {
    let target = (DATA_TILE_BYTES / row_bytes.max(1)).max(1);
    (target.div_ceil(2)..=target)
        .rev()
        .find(|d| rows_per_spw % d == 0)
        .unwrap_or(target)
}

/// Split `nrows` rows starting at main-table row `base` into block-row ranges
/// of about [`CHUNK_ROWS`] rows whose ends fall on tile boundaries.
fn chunk_ranges(base: usize, nrows: usize, tile_rows: usize) -> Vec<(usize, usize)> {
    let step = (CHUNK_ROWS / tile_rows).max(1) * tile_rows;
    let mut out = Vec::new();
    let mut r = 0;
    while r < nrows {
        let abs = base + r;
        let end_abs = (abs / step + 1) * step;
        let end = (end_abs - base).min(nrows);
        out.push((r, end));
        r = end;
    }
    out
}

/// Build the columns for block rows `r0..r1` (main-table rows `base + r0 ..`).
fn prepare(
    meta: &VisBlock,
    payload: Payload<'_>,
    base: usize,
    (r0, r1): (usize, usize),
    (nchan, npol): (usize, usize),
) -> Chunk {
    let n = r1 - r0;
    let nbls = meta.nbls();
    let time: Vec<f64> = (r0..r1)
        .map(|r| jd_to_mjd_s(meta.times_jd_utc[r / nbls]))
        .collect();
    let ant1: Vec<i32> = (r0..r1).map(|r| meta.ant1[r % nbls] as i32).collect();
    let ant2: Vec<i32> = (r0..r1).map(|r| meta.ant2[r % nbls] as i32).collect();
    let uvw = meta.uvw_m.slice(s![r0..r1, ..]).mapv(|x| -x);
    let cell = nchan * npol;
    let mut c = Chunk {
        start: (base + r0) as u64,
        time,
        interval: vec![meta.int_time_s; n],
        ant1,
        ant2,
        flag_row: vec![true; n],
        uvw,
        data: Array3::zeros((n, nchan, npol)),
        flag: Array3::from_elem((n, nchan, npol), true),
        wspec: Array3::zeros((n, nchan, npol)),
        weight: Array2::zeros((n, npol)),
        sigma: Array2::from_elem((n, npol), SIGMA_FOR_ZERO_WEIGHT),
    };
    let Payload::Vis {
        data,
        flags,
        nsamples,
        reverse,
    } = payload
    else {
        return c; // flagged rows: the defaults above
    };
    let (Some(od), Some(of), Some(ow), Some(owt), Some(osg)) = (
        c.data.as_slice_mut(),
        c.flag.as_slice_mut(),
        c.wspec.as_slice_mut(),
        c.weight.as_slice_mut(),
        c.sigma.as_slice_mut(),
    ) else {
        return c; // freshly allocated arrays are always contiguous
    };
    let mut buf = Vec::with_capacity(nchan);
    for i in 0..n {
        let src = (r0 + i) * cell;
        let (sd, sf, sw) = (
            &data[src..src + cell],
            &flags[src..src + cell],
            &nsamples[src..src + cell],
        );
        let dst = i * cell;
        let (dd, df, dw) = (
            &mut od[dst..dst + cell],
            &mut of[dst..dst + cell],
            &mut ow[dst..dst + cell],
        );
        if reverse {
            // channel ch of the MS is channel nchan-1-ch of the block
            let step = npol.max(1);
            for (d, s) in dd.chunks_exact_mut(step).zip(sd.chunks_exact(step).rev()) {
                for (x, y) in d.iter_mut().zip(s) {
                    *x = y.conj();
                }
            }
            for (d, s) in df.chunks_exact_mut(step).zip(sf.chunks_exact(step).rev()) {
                d.copy_from_slice(s);
            }
            for (d, s) in dw.chunks_exact_mut(step).zip(sw.chunks_exact(step).rev()) {
                d.copy_from_slice(s);
            }
        } else {
            for (x, y) in dd.iter_mut().zip(sd) {
                *x = y.conj();
            }
            df.copy_from_slice(sf);
            dw.copy_from_slice(sw);
        }
        c.flag_row[i] = df.iter().all(|&f| f);
        for p in 0..npol {
            let w = row_weight(&df[p..], &dw[p..], npol, &mut buf);
            owt[i * npol + p] = w;
            osg[i * npol + p] = if w > 0.0 {
                1.0 / w.sqrt()
            } else {
                SIGMA_FOR_ZERO_WEIGHT
            };
        }
    }
    c
}

fn put_scalar<V: CasaScalarData>(
    tb: &mut Table,
    path: &Path,
    name: &str,
    start: u64,
    values: &[V],
) -> Result<(), MsError> {
    tb.put_column_range_scalar(name, start, values)
        .casa(path, || {
            format!("write {name} rows {start}..{}", start + values.len() as u64)
        })
}

/// Median (mean of the middle two for an even count); 0 for none.
/// WEIGHT of one row and polarisation: the median of `nsamples` over the
/// unflagged channels (every `stride`-th element from the start of the slices),
/// 0 when all are flagged. The usual case — equal `nsamples` — is found without
/// collecting or sorting.
fn row_weight(flags: &[bool], nsamples: &[f32], stride: usize, buf: &mut Vec<f32>) -> f32 {
    let mut unflagged = flags
        .iter()
        .step_by(stride)
        .zip(nsamples.iter().step_by(stride))
        .filter(|(f, _)| !**f)
        .map(|(_, w)| *w);
    let Some(first) = unflagged.next() else {
        return 0.0;
    };
    if unflagged.all(|w| w == first) {
        return first;
    }
    buf.clear();
    buf.extend(
        flags
            .iter()
            .step_by(stride)
            .zip(nsamples.iter().step_by(stride))
            .filter(|(f, _)| !**f)
            .map(|(_, w)| *w),
    );
    median(buf)
}

fn median(v: &mut [f32]) -> f32 {
    let Some((&first, rest)) = v.split_first() else {
        return 0.0;
    };
    if rest.iter().all(|&x| x == first) {
        return first; // the usual case: equal nsamples
    }
    let (m, odd) = (v.len() / 2, v.len() % 2 == 1);
    let (lower, &mut hi, _) = v.select_nth_unstable_by(m, f32::total_cmp);
    if odd {
        hi
    } else {
        let lo = lower.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        0.5 * (lo + hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_weight_takes_the_median_of_unflagged_channels() {
        let mut buf = Vec::new();
        // two pols interleaved: pol 0 = [1, 9(flagged), 5, 3], pol 1 = [2, 2, 2, 2]
        let flags = [false, false, true, false, false, false, false, false];
        let ns = [1.0, 2.0, 9.0, 2.0, 5.0, 2.0, 3.0, 2.0];
        assert_eq!(row_weight(&flags, &ns, 2, &mut buf), 3.0);
        assert_eq!(row_weight(&flags[1..], &ns[1..], 2, &mut buf), 2.0);
        assert_eq!(row_weight(&[true, true], &[1.0, 1.0], 1, &mut buf), 0.0);
        assert_eq!(row_weight(&[false, false], &[1.0, 4.0], 1, &mut buf), 2.5);
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [1.0, 1.0, 1.0, 1.0]), 1.0);
        assert_eq!(median(&mut [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]), 4.0);
    }

    fn block(nrows: usize, nchan: usize, npol: usize) -> VisBlock {
        VisBlock {
            times_jd_utc: vec![2_460_000.5],
            int_time_s: 10.0,
            ant1: (0..nrows as u32).collect(),
            ant2: (0..nrows as u32).map(|a| a + 1).collect(),
            freqs_hz: (0..nchan).map(|c| 1e9 - c as f64).collect(),
            chan_width_hz: 1.0,
            pols: vec![-5; npol],
            uvw_m: Array2::from_elem((nrows, 3), 2.0),
            data: Array3::from_shape_fn((nrows, nchan, npol), |(r, c, p)| {
                Complex32::new(r as f32, (10 * c + p) as f32)
            }),
            flags: Array3::from_elem((nrows, nchan, npol), false),
            nsamples: Array3::from_elem((nrows, nchan, npol), 4.0),
            phase_centre: dsa110_astro::PhaseCentre::Unprojected,
        }
    }

    #[test]
    fn prepare_conjugates_reverses_and_weights() {
        let mut b = block(2, 3, 2);
        b.nsamples[[0, 0, 0]] = 100.0;
        b.flags[[0, 0, 0]] = true; // excluded from the median
        b.flags.slice_mut(s![1, .., ..]).fill(true);
        let payload = Payload::Vis {
            data: b.data.as_slice().unwrap(),
            flags: b.flags.as_slice().unwrap(),
            nsamples: b.nsamples.as_slice().unwrap(),
            reverse: true,
        };
        let c = prepare(&b, payload, 7, (0, 2), (3, 2));
        assert_eq!(c.start, 7);
        assert_eq!(c.data[[0, 0, 1]], Complex32::new(0.0, -21.0)); // chan 2 → 0, conj
        assert!(c.flag[[0, 2, 0]]); // chan 0 → 2
        assert_eq!(c.wspec[[0, 2, 0]], 100.0);
        assert_eq!(c.uvw[[1, 2]], -2.0);
        assert_eq!(c.weight[[0, 0]], 4.0);
        assert_eq!(c.sigma[[0, 0]], 0.5);
        assert_eq!(c.weight[[1, 1]], 0.0);
        assert_eq!(c.sigma[[1, 1]], SIGMA_FOR_ZERO_WEIGHT);
        assert_eq!(c.flag_row, vec![false, true]);
        assert_eq!(c.ant2, vec![1, 2]);

        let f = prepare(&b, Payload::Flagged, 0, (1, 2), (3, 2));
        assert!(f.flag.iter().all(|&x| x));
        assert_eq!(f.weight[[0, 0]], 0.0);
        assert_eq!(f.flag_row, vec![true]);
    }

    #[test]
    fn tiles_divide_windows_and_chunks_end_on_tiles() {
        // DSA-110: 4656 baselines × 24 integrations, 48 × 2 complex per row
        let t = choose_tile_rows(48 * 2 * 8, 4656 * 24);
        assert_eq!(4656 * 24 % t, 0);
        assert!(t * 768 <= DATA_TILE_BYTES && t * 768 * 2 >= DATA_TILE_BYTES);
        assert_eq!(chunk_ranges(250, 1000, 100), vec![(0, 1000)]);
        let r = chunk_ranges(50, 40_000, 1000);
        assert_eq!(r[0], (0, 15_950));
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!(r.last().map(|x| x.1), Some(40_000));
        assert!(r[..r.len() - 1].iter().all(|x| (50 + x.1) % 1000 == 0));
    }

    #[test]
    fn time_conversion_round_trips() {
        let jd = 2_460_000.123_456_789;
        assert!((mjd_s_to_jd(jd_to_mjd_s(jd)) - jd).abs() < 1e-9);
    }
}
