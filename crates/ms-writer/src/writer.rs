//! [`MsWriter`]: create an MS with all its rows and subtables, then fill the
//! main table block by block with bulk (column-range) writes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dsa110_astro::VisBlock;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3};
use num_complex::Complex32;
use rubbl_casatables::{CasaScalarData, GlueDataType as T, Table};

use crate::block::{MsBlock, SIGMA_FOR_ZERO_WEIGHT};
use crate::desc::{col, create_table, set_column_measure, ColDef, Meas, Shape};
use crate::error::CasaContext;
use crate::spec::MsSpec;
use crate::subtables;
use crate::MsError;

/// Target bytes of one DATA tile (rows × nchan × npol × 8 B).
const DATA_TILE_BYTES: usize = 1 << 20;
/// Most rows per bulk write of the scalar columns: 512 StandardStMan buckets
/// of 32 rows, half the cache set in `create`.
const SCALAR_CHUNK_ROWS: usize = 16_384;
/// Bytes of DATA per bulk write of a missing (flagged) window.
const FLAGGED_CHUNK_BYTES: usize = 32 << 20;
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
    started: Instant,
}

/// Times and baselines of time-major rows (`times × baselines`).
#[derive(Clone, Copy)]
struct RowMeta<'a> {
    times_jd_utc: &'a [f64],
    int_time_s: f64,
    ant1: &'a [u32],
    ant2: &'a [u32],
}

/// The per-row columns of those rows, in the MS convention.
struct RowArrays<'a> {
    uvw: ArrayView2<'a, f64>,
    data: ArrayView3<'a, Complex32>,
    flag: ArrayView3<'a, bool>,
    weight_spectrum: ArrayView3<'a, f32>,
    weight: ArrayView2<'a, f32>,
    sigma: ArrayView2<'a, f32>,
    flag_row: &'a [bool],
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
    /// a block in the VisBlock (UVH5) convention, converting a copy of it with
    /// [`MsBlock::from_vis`]. The block's channels may be ascending or
    /// descending (the correlator's order; they are reversed so the MS
    /// ascends) but must match the window's frequencies; its polarisations
    /// must equal the MS's, in order. To avoid the copy, convert the block
    /// yourself and call [`write_ms_block`](Self::write_ms_block).
    pub fn write_block(
        &mut self,
        spw: usize,
        row0: usize,
        block: &VisBlock,
    ) -> Result<(), MsError> {
        self.check_spw(spw)?;
        let converted = MsBlock::from_vis(block.clone()).map_err(|source| MsError::Block {
            path: self.path.clone(),
            spw,
            source,
        })?;
        self.write_ms_block(spw, row0, &converted)
    }

    /// Write rows `row0 .. row0 + block.nrows()` of spectral window `spw` from
    /// a block already in the MS convention. Its channels must match the
    /// window's frequencies and its polarisations the MS's, in order. The
    /// arrays go to casacore as they are, one bulk write per column.
    pub fn write_ms_block(
        &mut self,
        spw: usize,
        row0: usize,
        block: &MsBlock,
    ) -> Result<(), MsError> {
        self.check_spw(spw)?;
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
        let tol = 1e-3 * want.chan_width_hz;
        for (c, (&f, &got)) in want.freqs_hz.iter().zip(&block.freqs_hz).enumerate() {
            if (got - f).abs() > tol {
                return Err(mismatch(format!(
                    "channel {c} at {got} Hz, the window has {f} Hz"
                )));
            }
        }
        let nrows = block.nrows();
        self.check_rows(spw, row0, nrows, &block.ant1, &block.ant2)?;
        if nrows == 0 {
            return Ok(());
        }
        let rows = RowMeta {
            times_jd_utc: &block.times_jd_utc,
            int_time_s: block.int_time_s,
            ant1: &block.ant1,
            ant2: &block.ant2,
        };
        let arrays = RowArrays {
            uvw: block.uvw.view(),
            data: block.data.view(),
            flag: block.flag.view(),
            weight_spectrum: block.weight_spectrum.view(),
            weight: block.weight.view(),
            sigma: block.sigma.view(),
            flag_row: &block.flag_row,
        };
        self.put_rows(spw, spw * self.spec.n_rows_per_spw + row0, rows, &arrays)?;
        tracing::debug!(spw, row0, nrows, "wrote rows");
        Ok(())
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
        let nrows = template.nrows();
        if template.ant2.len() != template.nbls() || template.uvw_m.dim() != (nrows, 3) {
            return Err(MsError::BlockMismatch {
                path: self.path.clone(),
                spw,
                reason: format!(
                    "template has {} ant1, {} ant2 and uvw {:?} for {} rows",
                    template.nbls(),
                    template.ant2.len(),
                    template.uvw_m.dim(),
                    nrows
                ),
            });
        }
        self.check_rows(spw, row0, nrows, &template.ant1, &template.ant2)?;
        if nrows == 0 {
            return Ok(());
        }
        // whole integrations per bulk write, about FLAGGED_CHUNK_BYTES of DATA;
        // the constant arrays are built once and sliced for the last write
        let (nchan, npol, nbls) = (self.spec.nchan(), self.spec.pols.len(), template.nbls());
        let per = (FLAGGED_CHUNK_BYTES / (nbls * nchan * npol * 8).max(1)).max(1);
        let n = (per * nbls).min(nrows);
        let data = Array3::<Complex32>::zeros((n, nchan, npol));
        let flag = Array3::from_elem((n, nchan, npol), true);
        let wspec = Array3::<f32>::zeros((n, nchan, npol));
        let weight = Array2::<f32>::zeros((n, npol));
        let sigma = Array2::from_elem((n, npol), SIGMA_FOR_ZERO_WEIGHT);
        let flag_row = vec![true; n];
        let base = spw * self.spec.n_rows_per_spw + row0;
        let mut t0 = 0;
        while t0 < template.ntimes() {
            let t1 = (t0 + per).min(template.ntimes());
            let (r0, k) = (t0 * nbls, (t1 - t0) * nbls);
            let rows = RowMeta {
                times_jd_utc: &template.times_jd_utc[t0..t1],
                int_time_s: template.int_time_s,
                ant1: &template.ant1,
                ant2: &template.ant2,
            };
            let uvw = template.uvw_m.slice(s![r0..r0 + k, ..]).mapv(|x| -x);
            let arrays = RowArrays {
                uvw: uvw.view(),
                data: data.slice(s![..k, .., ..]),
                flag: flag.slice(s![..k, .., ..]),
                weight_spectrum: wspec.slice(s![..k, .., ..]),
                weight: weight.slice(s![..k, ..]),
                sigma: sigma.slice(s![..k, ..]),
                flag_row: &flag_row[..k],
            };
            self.put_rows(spw, base + r0, rows, &arrays)?;
            t0 = t1;
        }
        tracing::debug!(spw, row0, nrows, "wrote flagged rows");
        Ok(())
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

    /// Rows `row0 .. row0 + nrows` must lie in the window and every baseline
    /// must name antennas of the MS.
    fn check_rows(
        &self,
        spw: usize,
        row0: usize,
        nrows: usize,
        ant1: &[u32],
        ant2: &[u32],
    ) -> Result<(), MsError> {
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
        if let Some((a1, a2)) = ant1
            .iter()
            .zip(ant2)
            .find(|(a1, a2)| **a1 as usize >= nant || **a2 as usize >= nant)
        {
            return Err(MsError::BlockMismatch {
                path: self.path.clone(),
                spw,
                reason: format!("baseline ({a1}, {a2}) but the MS has {nant} antennas"),
            });
        }
        Ok(())
    }

    /// The scalar columns of main-table rows `start ..` (time-major rows of
    /// `rows`). StandardStMan stores one value per call (casacore has no bulk
    /// path for a row range), so columns that are 0 (or `false`) in these rows
    /// and were never written are left as they are: StandardStMan hands out
    /// zero-filled buckets for new rows (casacore `SSMBase::getNewBucket`).
    /// That covers FEED1/2, FIELD_ID, ARRAY_ID, OBSERVATION_ID, PROCESSOR_ID
    /// and STATE_ID everywhere, DATA_DESC_ID in window 0, and FLAG_ROW
    /// wherever it is false on a first write.
    fn put_scalars(
        &mut self,
        spw: usize,
        start: usize,
        rows: RowMeta<'_>,
        flag_row: &[bool],
    ) -> Result<(), MsError> {
        let nbls = rows.ant1.len();
        if nbls == 0 {
            return Ok(());
        }
        // whole integrations, at most SCALAR_CHUNK_ROWS rows (unless one
        // integration is larger), so the StandardStMan buckets they touch stay
        // in its cache while every column is written
        let per = (SCALAR_CHUNK_ROWS / nbls).max(1);
        for (k, times) in rows.times_jd_utc.chunks(per).enumerate() {
            let r0 = k * per * nbls;
            let n = times.len() * nbls;
            let time: Vec<f64> = times
                .iter()
                .flat_map(|&jd| std::iter::repeat_n(jd_to_mjd_s(jd), nbls))
                .collect();
            let per_row =
                |a: &[u32]| -> Vec<i32> { a.iter().map(|&x| x as i32).cycle().take(n).collect() };
            let interval = vec![rows.int_time_s; n];
            let (path, tb, s) = (&self.path, &mut self.table, (start + r0) as u64);
            put_scalar(tb, path, "TIME", s, &time)?;
            put_scalar(tb, path, "TIME_CENTROID", s, &time)?;
            put_scalar(tb, path, "INTERVAL", s, &interval)?;
            put_scalar(tb, path, "EXPOSURE", s, &interval)?;
            put_scalar(tb, path, "ANTENNA1", s, &per_row(rows.ant1))?;
            put_scalar(tb, path, "ANTENNA2", s, &per_row(rows.ant2))?;
            put_scalar(tb, path, "SCAN_NUMBER", s, &vec![1i32; n])?;
            if spw > 0 {
                put_scalar(tb, path, "DATA_DESC_ID", s, &vec![spw as i32; n])?;
            }
            // FLAG_ROW: runs of true, and runs of false over rows written before
            let flags = &flag_row[r0..r0 + n];
            let written = &self.written[start + r0..start + r0 + n];
            let mut r = 0;
            while r < n {
                let v = flags[r];
                let end = flags[r..].iter().position(|&x| x != v).map_or(n, |j| r + j);
                if v || written[r..end].contains(&true) {
                    put_scalar(tb, path, "FLAG_ROW", s + r as u64, &flags[r..end])?;
                }
                r = end;
            }
        }
        Ok(())
    }

    /// The array columns of main-table rows `start ..`, one bulk write each.
    fn put_arrays(&mut self, start: usize, a: &RowArrays<'_>) -> Result<(), MsError> {
        let (path, tb, s) = (&self.path, &mut self.table, start as u64);
        let n = a.uvw.nrows() as u64;
        let what = |col: &str| format!("write {col} rows {s}..{}", s + n);
        tb.put_column_range_array("UVW", s, &a.uvw)
            .casa(path, || what("UVW"))?;
        tb.put_column_range_array("DATA", s, &a.data)
            .casa(path, || what("DATA"))?;
        tb.put_column_range_array("FLAG", s, &a.flag)
            .casa(path, || what("FLAG"))?;
        tb.put_column_range_array("WEIGHT_SPECTRUM", s, &a.weight_spectrum)
            .casa(path, || what("WEIGHT_SPECTRUM"))?;
        tb.put_column_range_array("WEIGHT", s, &a.weight)
            .casa(path, || what("WEIGHT"))?;
        tb.put_column_range_array("SIGMA", s, &a.sigma)
            .casa(path, || what("SIGMA"))?;
        self.data_bytes += (a.data.len() * 8) as u64;
        Ok(())
    }

    /// Every column of main-table rows `start ..`, then mark them written.
    fn put_rows(
        &mut self,
        spw: usize,
        start: usize,
        rows: RowMeta<'_>,
        arrays: &RowArrays<'_>,
    ) -> Result<(), MsError> {
        self.put_scalars(spw, start, rows, arrays.flag_row)?;
        self.put_arrays(start, arrays)?;
        self.written[start..start + arrays.flag_row.len()].fill(true);
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
pub(crate) fn choose_tile_rows(row_bytes: usize, rows_per_spw: usize) -> usize {
    let target = (DATA_TILE_BYTES / row_bytes.max(1)).max(1);
    (target.div_ceil(2)..=target)
        .rev()
        .find(|d| rows_per_spw % d == 0)
        .unwrap_or(target)
}

/// One scalar column's values for main-table rows `start ..`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_divide_windows() {
        // DSA-110: 4656 baselines × 24 integrations, 48 × 2 complex per row
        let t = choose_tile_rows(48 * 2 * 8, 4656 * 24);
        assert_eq!(4656 * 24 % t, 0);
        assert!(t * 768 <= DATA_TILE_BYTES && t * 768 * 2 >= DATA_TILE_BYTES);
        // no divisor near the target: the target itself
        assert_eq!(choose_tile_rows(1 << 10, 1_000_003), 1024);
    }

    #[test]
    fn time_conversion_round_trips() {
        let jd = 2_460_000.123_456_789;
        assert!((mjd_s_to_jd(jd_to_mjd_s(jd)) - jd).abs() < 1e-9);
    }
}
