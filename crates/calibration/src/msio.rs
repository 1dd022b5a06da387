//! Glue to Measurement Sets and CASA calibration tables through
//! `dsa110-ms-writer`: flag an MS in place, solve B and G on a calibrator
//! group, write `B Jones`/`G Jones` tables, and apply tables (ours or CASA's)
//! into CORRECTED_DATA.
//!
//! Each spectral window is read whole (one chunk: 111,744 rows × 48 channels
//! × 2 pols ≈ 86 MB of DATA for a DSA-110 group) and converted to a
//! [`VisBlock`] in this crate's (pyuvdata's) convention: `V = conj(DATA)`,
//! `uvw = −UVW`. Rows must be time-major within a window with the same
//! baselines in every integration (as the converter writes them). Tables hold
//! CASA's convention (`CPARAM` = conj of this crate's gains, see
//! [`crate::solve`]), on the grid of all ANTENNA rows (antennas without a
//! solution flagged); the reference antenna is ANTENNA2 of every row.

use std::path::{Path, PathBuf};

/// The MS crate, re-exported for callers that create or inspect MSs.
pub use dsa110_ms_writer as ms_writer;

use dsa110_astro::{PhaseCentre, VisBlock};
use dsa110_ms_writer::{
    jd_to_mjd_s, median_weights, mjd_s_to_jd, CalTable, CalType, ChunkColumns, ChunkSpec,
    DataColumn, MsError, MsTable,
};
use ndarray::{Array2, Array4};
use num_complex::Complex32;
use serde::Serialize;

use crate::apply::{apply_to_block, ApplyReport};
use crate::catalog::Catalog;
use crate::flag::{
    amplitude, flag_amplitude_group, AmpWindow, BaselineLayout, FlagParams, FlagReport,
};
use crate::model::{pointing_dec_of_icrs_centre, predict_block};
use crate::solve::{CalSolutions, GroupSolver, JonesKind, SolutionTable, SolveParams};
use crate::transit::{find_transits, BeamGeometry, Transit};
use crate::CalError;

fn ms_err(path: &Path) -> impl Fn(MsError) -> CalError + '_ {
    move |source| CalError::Ms {
        path: path.to_path_buf(),
        source,
    }
}

/// Read one spectral window of an open MS as a block (see the module docs):
/// DATA and FLAG, and WEIGHT_SPECTRUM when `weights` (else unit weights).
fn read_block(
    ms: &mut MsTable,
    path: &Path,
    spw: usize,
    weights: bool,
) -> Result<VisBlock, CalError> {
    read_block_with(ms, path, spw, weights, None)
}

/// [`read_block`], with the window's flags given (`flags`, e.g. the flagger's,
/// not yet written) instead of read from FLAG.
fn read_block_with(
    ms: &mut MsTable,
    path: &Path,
    spw: usize,
    weights: bool,
    flags: Option<ndarray::Array3<bool>>,
) -> Result<VisBlock, CalError> {
    let have_flags = flags.is_some();
    let chunk = read_window(ms, path, spw, Some(DataColumn::Data), weights, !have_flags)?;
    let (times, ant1, ant2) = window_layout(path, spw, &chunk)?;
    let layout_err = |detail: &str| CalError::MsLayout {
        path: path.to_path_buf(),
        detail: format!("spectral window {spw}: {detail}"),
    };
    let (Some(mut data), Some(flags)) = (chunk.data, flags.or(chunk.flag)) else {
        return Err(layout_err("DATA or FLAG not read"));
    };
    if flags.dim() != data.dim() {
        return Err(layout_err(&format!(
            "flags {:?} for DATA {:?}",
            flags.dim(),
            data.dim()
        )));
    }
    let nsamples = match chunk.weight_spectrum {
        Some(w) => data_weights(ms, path, chunk.rows.clone(), w)?,
        None => ndarray::Array3::from_elem(flags.dim(), 1.0),
    };
    let ntimes = times.len();
    let int_time_s = if ntimes > 1 {
        (times[ntimes - 1] - times[0]) / (ntimes - 1) as f64
    } else {
        0.0
    };
    conj_in_place(&mut data);
    let mut uvw_m = chunk.uvw_m;
    uvw_m.mapv_inplace(|x| -x);
    let meta = ms.meta();
    Ok(VisBlock {
        times_jd_utc: times.iter().map(|&t| mjd_s_to_jd(t)).collect(),
        int_time_s,
        ant1,
        ant2,
        freqs_hz: meta.spws[spw].freqs_hz.clone(),
        chan_width_hz: meta.spws[spw].chan_width_hz,
        pols: meta.pols.clone(),
        uvw_m,
        data,
        flags,
        nsamples,
        phase_centre: PhaseCentre::Icrs {
            name: meta.field.name.clone(),
            ra_rad: meta.field.ra_rad,
            dec_rad: meta.field.dec_rad,
        },
    })
}

/// The weights of DATA for the main-table rows `rows`, given their
/// `WEIGHT_SPECTRUM` (`ws`, turned into the result in place): `1/SIGMA²` of
/// the row and polarisation in every channel whose `WEIGHT_SPECTRUM` is not 0,
/// 0 where it is 0 or where SIGMA is not positive (the writer's
/// [`SIGMA_FOR_ZERO_WEIGHT`](dsa110_ms_writer::SIGMA_FOR_ZERO_WEIGHT)).
///
/// `WEIGHT_SPECTRUM` alone would not do: once a calibration is applied it
/// holds CORRECTED_DATA's weights (DATA's times `|g_i g_j|²`), and applying
/// or solving again from it would compound that factor on every run. SIGMA,
/// which applying leaves alone, keeps describing DATA; CASA's `applycal`
/// (`calwt=True`) derives its weights from it the same way, so that applying
/// twice gives the same weights (checked with CASA 6.7: two runs, the same
/// WEIGHT_SPECTRUM). For an MS from the converter, whose rows have one
/// nsamples value in every channel (or 0 where the correlator had none), this
/// is its `WEIGHT_SPECTRUM` before any calibration to float rounding; a row
/// whose nsamples vary over the channels gets their median (its `WEIGHT`),
/// as in CASA.
fn data_weights(
    ms: &mut MsTable,
    path: &Path,
    rows: std::ops::Range<usize>,
    mut ws: ndarray::Array3<f32>,
) -> Result<ndarray::Array3<f32>, CalError> {
    let sigma = ms.read_sigma_rows(rows).map_err(ms_err(path))?;
    let weight = sigma.mapv(|s| if s > 0.0 { 1.0 / (s * s) } else { 0.0 });
    // [rows, 1, npol] over every channel: fails unless rows and npol match
    let per_row = weight.view().insert_axis(ndarray::Axis(1));
    let Some(per_cell) = per_row.broadcast(ws.dim()) else {
        return Err(CalError::MsLayout {
            path: path.to_path_buf(),
            detail: format!("SIGMA {:?} for WEIGHT_SPECTRUM {:?}", sigma.dim(), ws.dim()),
        });
    };
    ndarray::Zip::from(&mut ws)
        .and(&per_cell)
        .for_each(|v, &r| *v = if *v != 0.0 { r } else { 0.0 });
    Ok(ws)
}

/// All rows of spectral window `spw` in one chunk, with the visibility
/// column `data`, WEIGHT_SPECTRUM when `weights` and FLAG when `flag` (and
/// UVW).
fn read_window(
    ms: &mut MsTable,
    path: &Path,
    spw: usize,
    data: Option<DataColumn>,
    weights: bool,
    flag: bool,
) -> Result<dsa110_ms_writer::Chunk, CalError> {
    read_window_uvw(ms, path, spw, data, weights, flag, true)
}

/// [`read_window`], reading UVW only when `uvw` (else `uvw_m` is empty).
fn read_window_uvw(
    ms: &mut MsTable,
    path: &Path,
    spw: usize,
    data: Option<DataColumn>,
    weights: bool,
    flag: bool,
    uvw: bool,
) -> Result<dsa110_ms_writer::Chunk, CalError> {
    let nrows = ms.meta().n_rows_in_spw(spw);
    if nrows == 0 {
        return Err(CalError::MsLayout {
            path: path.to_path_buf(),
            detail: format!("spectral window {spw} has no rows"),
        });
    }
    let ranges = ms
        .chunk_ranges(ChunkSpec {
            spw,
            max_rows: nrows,
        })
        .map_err(ms_err(path))?;
    let Some(range) = ranges.first() else {
        return Err(CalError::MsLayout {
            path: path.to_path_buf(),
            detail: format!("spectral window {spw}: no chunk"),
        });
    };
    let cols = ChunkColumns {
        data,
        flag,
        weight_spectrum: weights,
    };
    if uvw {
        ms.read_chunk(range, cols)
    } else {
        ms.read_chunk_without_uvw(range, cols)
    }
    .map_err(ms_err(path))
}

/// A window's integration times (MJD s) and its baselines, checking that
/// every integration lists the same baselines in the same order.
#[allow(clippy::type_complexity)]
fn window_layout(
    path: &Path,
    spw: usize,
    chunk: &dsa110_ms_writer::Chunk,
) -> Result<(Vec<f64>, Vec<u32>, Vec<u32>), CalError> {
    let layout_err = |detail: String| CalError::MsLayout {
        path: path.to_path_buf(),
        detail: format!("spectral window {spw}: {detail}"),
    };
    // integrations: runs of equal TIME
    let mut times = Vec::new();
    let mut starts = Vec::new();
    for (r, &t) in chunk.time_mjd_s.iter().enumerate() {
        if times.last() != Some(&t) {
            times.push(t);
            starts.push(r);
        }
    }
    let ntimes = times.len();
    let nbls = chunk.nrows() / ntimes.max(1);
    if nbls * ntimes != chunk.nrows() || starts.iter().enumerate().any(|(k, &s)| s != k * nbls) {
        return Err(layout_err(format!(
            "{} rows are not {ntimes} integrations of equal size",
            chunk.nrows()
        )));
    }
    let ant1: Vec<u32> = chunk.ant1[..nbls]
        .iter()
        .map(|&a| a.max(0) as u32)
        .collect();
    let ant2: Vec<u32> = chunk.ant2[..nbls]
        .iter()
        .map(|&a| a.max(0) as u32)
        .collect();
    for t in 1..ntimes {
        let o = t * nbls;
        if chunk.ant1[o..o + nbls] != chunk.ant1[..nbls]
            || chunk.ant2[o..o + nbls] != chunk.ant2[..nbls]
        {
            return Err(layout_err(format!("integration {t} lists other baselines")));
        }
    }
    Ok((times, ant1, ant2))
}

/// Flag the MS at `path` in place (FLAG and FLAG_ROW), all windows together.
///
/// Each window is read once (DATA and FLAG) and kept as amplitudes (what the
/// flagger looks at), half the memory of the visibilities: ≈ 0.9 GB for a
/// full DSA-110 group instead of ≈ 1.6 GB.
pub fn flag_ms(path: &Path, params: &FlagParams) -> Result<FlagReport, CalError> {
    let mut ms = MsTable::open_rw(path).map_err(ms_err(path))?;
    let (mut windows, layout) = read_amplitudes(&mut ms, path)?;
    let npol = ms.meta().pols.len();
    let (ntimes, ant1, ant2) = layout;
    let report = flag_amplitude_group(
        &mut windows,
        &BaselineLayout {
            ntimes,
            ant1: &ant1,
            ant2: &ant2,
        },
        npol,
        params,
    )?;
    let rows = ms.meta().spw_rows.clone();
    for (w, r) in windows.iter().zip(rows) {
        ms.write_flags(r.start, w.flags.view())
            .map_err(ms_err(path))?;
    }
    Ok(report)
}

/// Every window of the MS as amplitudes and flags (for [`flag_amplitude_group`]),
/// with the rows' layout (integrations, ANTENNA1, ANTENNA2), the same in every
/// window.
#[allow(clippy::type_complexity)]
fn read_amplitudes(
    ms: &mut MsTable,
    path: &Path,
) -> Result<(Vec<AmpWindow>, (usize, Vec<u32>, Vec<u32>)), CalError> {
    let nspw = ms.meta().spws.len();
    let mut windows = Vec::with_capacity(nspw);
    let mut layout: Option<(usize, Vec<u32>, Vec<u32>)> = None;
    for spw in 0..nspw {
        // the flagger looks at |DATA| and FLAG only: no UVW
        let chunk = read_window_uvw(ms, path, spw, Some(DataColumn::Data), false, true, false)?;
        let (times, ant1, ant2) = window_layout(path, spw, &chunk)?;
        match &layout {
            None => layout = Some((times.len(), ant1, ant2)),
            Some((nt, a1, a2)) => {
                if *nt != times.len() || *a1 != ant1 || *a2 != ant2 {
                    return Err(CalError::MsLayout {
                        path: path.to_path_buf(),
                        detail: format!(
                            "spectral window {spw} has other integrations or baselines than \
                             window 0"
                        ),
                    });
                }
            }
        }
        let (Some(data), Some(flags)) = (chunk.data, chunk.flag) else {
            return Err(CalError::MsLayout {
                path: path.to_path_buf(),
                detail: format!("spectral window {spw}: DATA or FLAG not read"),
            });
        };
        // |DATA| on both cores (the table read before it is one thread's)
        let amp = match data.as_slice() {
            Some(v) => {
                use rayon::prelude::*;
                let a: Vec<f32> = v.par_iter().map(|&x| amplitude(x)).collect();
                ndarray::Array3::from_shape_vec(data.dim(), a).map_err(|e| CalError::MsLayout {
                    path: path.to_path_buf(),
                    detail: format!("spectral window {spw}: amplitudes: {e}"),
                })?
            }
            None => data.mapv(amplitude),
        };
        drop(data);
        windows.push(AmpWindow {
            freqs_hz: ms.meta().spws[spw].freqs_hz.clone(),
            amp,
            flags,
        });
    }
    let Some(layout) = layout else {
        return Err(CalError::MsLayout {
            path: path.to_path_buf(),
            detail: "no spectral windows".into(),
        });
    };
    Ok((windows, layout))
}

/// The result of [`solve_ms`].
#[derive(Clone, Debug)]
pub struct MsSolve {
    /// The solutions (this crate's convention).
    pub solutions: CalSolutions,
    /// The calibrator used (the one nearest the beam centre).
    pub calibrator: Transit,
    /// Pointing declination of date inferred from the phase centre (rad).
    pub pointing_dec_rad: f64,
    /// Number of antennas in the MS's ANTENNA table.
    pub n_antennas: usize,
}

/// A JSON-friendly summary of a solve.
#[derive(Clone, Debug, Serialize)]
pub struct SolveSummary {
    /// Calibrator name.
    pub calibrator: String,
    /// Its smallest offset from the pointing during the group (deg).
    pub calibrator_offset_deg: f64,
    /// Reference antenna (ANTENNA row).
    pub refant: u32,
    /// QA figures and verdict.
    pub qa: crate::solve::QaReport,
}

impl MsSolve {
    /// The summary the tools print.
    pub fn summary(&self) -> SolveSummary {
        SolveSummary {
            calibrator: self.calibrator.calibrator.name.clone(),
            calibrator_offset_deg: self.calibrator.min_offset_rad.to_degrees(),
            refant: self.solutions.refant,
            qa: self.solutions.qa.clone(),
        }
    }
}

/// Solve B and G on the MS at `path` (flag it first): the phase centre gives
/// the pointing declination (the converter phases to the meridian at the
/// group's mid-time), `catalog` the calibrator transiting the beam during the
/// group; its model uses the beam per integration and frequency.
pub fn solve_ms(path: &Path, catalog: &Catalog, params: &SolveParams) -> Result<MsSolve, CalError> {
    let mut ms = MsTable::open(path).map_err(ms_err(path))?;
    let n_antennas = ms.meta().antennas.len();
    let nspw = ms.meta().spws.len();
    if nspw == 0 {
        return Err(CalError::MsLayout {
            path: path.to_path_buf(),
            detail: "no spectral windows".into(),
        });
    }
    // window by window: one window's visibilities in memory at a time
    let mut solver = GroupSolver::new(params);
    let mut models = WindowModels::new(path, catalog);
    for spw in 0..nspw {
        let blk = read_block(&mut ms, path, spw, true)?;
        let model = models.predict(&blk)?;
        solver.add_window(spw, &blk, model.view())?;
    }
    drop(ms);
    let (cal, pointing) = models.finish()?;
    Ok(MsSolve {
        solutions: solver.finish()?,
        calibrator: cal,
        pointing_dec_rad: pointing,
        n_antennas,
    })
}

/// The calibrator transiting the beam during the group whose first window is
/// `first` (the one nearest the beam centre), and the pointing declination of date.
fn group_calibrator(
    path: &Path,
    first: &VisBlock,
    catalog: &Catalog,
) -> Result<(Transit, f64), CalError> {
    let (t0, t1) = (
        first.times_jd_utc.first().copied().unwrap_or(0.0),
        first.times_jd_utc.last().copied().unwrap_or(0.0),
    );
    let (ra, dec) = match &first.phase_centre {
        PhaseCentre::Icrs {
            ra_rad, dec_rad, ..
        } => (*ra_rad, *dec_rad),
        _ => (0.0, 0.0),
    };
    let (transits, pointing) = group_transits(catalog, ra, dec, t0, t1)?;
    let Some(cal) = transits.into_iter().next() else {
        return Err(CalError::NoCalibrator {
            path: path.to_path_buf(),
        });
    };
    Ok((cal, pointing))
}

/// The calibrator model of each window in turn: the calibrator and pointing are found on
/// the first window (the group's times and phase centre are the same in every window)
/// and kept for the rest.
struct WindowModels<'a> {
    path: &'a Path,
    catalog: &'a Catalog,
    found: Option<(Transit, f64)>,
}

impl<'a> WindowModels<'a> {
    fn new(path: &'a Path, catalog: &'a Catalog) -> Self {
        Self {
            path,
            catalog,
            found: None,
        }
    }

    /// The model visibilities of `blk` (this crate's convention).
    fn predict(&mut self, blk: &VisBlock) -> Result<Array2<Complex32>, CalError> {
        let found = match self.found.take() {
            Some(f) => f,
            None => group_calibrator(self.path, blk, self.catalog)?,
        };
        let (cal, pointing) = self.found.insert(found);
        predict_block(
            blk,
            std::slice::from_ref(&cal.calibrator),
            &BeamGeometry::dsa110(*pointing),
        )
    }

    /// The calibrator's transit and the pointing declination; an error when no
    /// window was modelled.
    fn finish(self) -> Result<(Transit, f64), CalError> {
        self.found.ok_or_else(|| CalError::MsLayout {
            path: self.path.to_path_buf(),
            detail: "no spectral windows".into(),
        })
    }
}

/// Write the model [`solve_ms`] solves against (the calibrator transiting the
/// beam, with the beam per integration and frequency; the same in every
/// polarisation) into MODEL_DATA (created if missing; MS convention), so that
/// another solver — CASA's `bandpass`/`gaincal` — can use the same model.
/// Returns the calibrator's transit.
pub fn write_model_ms(path: &Path, catalog: &Catalog) -> Result<Transit, CalError> {
    let mut ms = MsTable::open_rw(path).map_err(ms_err(path))?;
    ms.add_data_columns(&[DataColumn::Model])
        .map_err(ms_err(path))?;
    let rows = ms.meta().spw_rows.clone();
    let mut models = WindowModels::new(path, catalog);
    for (spw, r) in rows.into_iter().enumerate() {
        let blk = read_block(&mut ms, path, spw, false)?;
        let m = models.predict(&blk)?;
        let (nrows, nchan, npol) = blk.data.dim();
        drop(blk);
        let cube =
            ndarray::Array3::from_shape_fn((nrows, nchan, npol), |(row, c, _)| m[[row, c]].conj());
        ms.write_data(DataColumn::Model, r.start, cube.view())
            .map_err(ms_err(path))?;
    }
    Ok(models.finish()?.0)
}

/// What [`flag_solve_apply_ms`] did.
#[derive(Clone, Debug)]
pub struct OnePass {
    /// The flagger's report, when it ran.
    pub flag: Option<FlagReport>,
    /// Seconds spent flagging (reading the amplitudes and flagging them; 0 without).
    pub flag_s: f64,
    /// The solve (tables not yet written: [`write_tables`]).
    pub solve: MsSolve,
    /// What the application did, when it ran.
    pub apply: Option<ApplyReport>,
    /// Where the time went.
    pub timings: OnePassTimings,
}

/// Wall seconds of the steps of [`flag_solve_apply_ms`] (`flag_read_s +
/// flag_s` is [`OnePass::flag_s`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OnePassTimings {
    /// Reading every window's DATA and FLAG for the flagger.
    pub flag_read_s: f64,
    /// The flagger itself.
    pub flag_s: f64,
    /// Reading each window again (DATA, WEIGHT_SPECTRUM, UVW; FLAG without the flagger).
    pub read_s: f64,
    /// Model prediction and the B and G solves (on a worker thread, beside
    /// the reads and writes of the neighbouring windows).
    pub model_solve_s: f64,
    /// Applying the solutions in memory (on the worker, as `model_solve_s`).
    pub apply_s: f64,
    /// Writing CORRECTED_DATA, weights and flags (or FLAG alone), closing the
    /// table included (casacore writes the tiles it still caches then).
    pub write_s: f64,
}

/// Flag (when `flag` is given), solve and apply (when `apply`) on the MS at
/// `path` in one run, reading each window's visibilities twice instead of
/// the three times (and three FLAG reads, two FLAG writes) of [`flag_ms`],
/// [`solve_ms`] and [`apply_tables`] one after the other:
///
/// 1. with `flag`: every window's DATA and FLAG as amplitudes (the flagger
///    needs the group's windows together), flagged as [`flag_ms`] flags; the
///    flags stay in memory (≈ 0.17 GB for a full group), the amplitudes go;
/// 2. window by window: DATA and WEIGHT_SPECTRUM (FLAG too without step 1),
///    the model, B and G ([`GroupSolver`]); with `apply`, the window corrected
///    with its own B and G as [`apply_tables`] corrects it (CORRECTED_DATA,
///    WEIGHT_SPECTRUM, WEIGHT, FLAG), else FLAG written when step 1 ran.
///
/// The solutions equal [`solve_ms`]'s after [`flag_ms`]. The correction uses
/// each window's tables before they are rotated to the group's reference
/// antenna (chosen from every window's B): a rotation does not change
/// `g_i conj(g_j)`, so CORRECTED_DATA equals what [`apply_tables`] writes
/// from the written tables to float rounding (≲ 1e-6 relative). It is
/// written whatever the QA verdict ([`MsSolve::summary`]): like
/// [`apply_tables`], this does not judge the set; the pipeline applies only
/// sets that passed QA.
///
/// # Errors
/// As [`flag_ms`], [`solve_ms`] and [`apply_tables`].
pub fn flag_solve_apply_ms(
    path: &Path,
    catalog: &Catalog,
    flag: Option<&FlagParams>,
    params: &SolveParams,
    apply: bool,
) -> Result<OnePass, CalError> {
    let mut ms = if flag.is_some() || apply {
        MsTable::open_rw(path)
    } else {
        MsTable::open(path)
    }
    .map_err(ms_err(path))?;
    let n_antennas = ms.meta().antennas.len();
    let nspw = ms.meta().spws.len();
    if nspw == 0 {
        return Err(CalError::MsLayout {
            path: path.to_path_buf(),
            detail: "no spectral windows".into(),
        });
    }
    let mut timings = OnePassTimings::default();
    let t_flag = std::time::Instant::now();
    let (mut flags, flag_report) = match flag {
        Some(fp) => {
            let (mut windows, (ntimes, ant1, ant2)) = read_amplitudes(&mut ms, path)?;
            timings.flag_read_s = t_flag.elapsed().as_secs_f64();
            let npol = ms.meta().pols.len();
            let report = flag_amplitude_group(
                &mut windows,
                &BaselineLayout {
                    ntimes,
                    ant1: &ant1,
                    ant2: &ant2,
                },
                npol,
                fp,
            )?;
            let flags: Vec<Option<ndarray::Array3<bool>>> =
                windows.into_iter().map(|w| Some(w.flags)).collect();
            (flags, Some(report))
        }
        None => (vec![None; nspw], None),
    };
    let flag_s = if flag.is_some() {
        t_flag.elapsed().as_secs_f64()
    } else {
        0.0
    };
    timings.flag_s = flag_s - timings.flag_read_s;
    if apply {
        ms.add_data_columns(&[DataColumn::Corrected])
            .map_err(ms_err(path))?;
    }
    let rows = ms.meta().spw_rows.clone();
    let mut solver = GroupSolver::new(params);
    let mut models = WindowModels::new(path, catalog);
    let mut total = ApplyReport {
        n_corrected: 0,
        n_newly_flagged: 0,
    };
    // Window k − 1 is written back (CORRECTED_DATA, weights, flags; or FLAG
    // alone) and window k + 1 read by this thread, which owns the table
    // (casacore is not thread-safe), while a worker models, solves and
    // applies window k: the table I/O, one thread's work, runs beside the
    // computation instead of between its steps.
    let flagged = flag_report.is_some();
    let read_s = std::cell::Cell::new(0.0);
    let write_s = std::cell::Cell::new(0.0);
    let (solver_ref, models_ref) = (&mut solver, &mut models);
    let weights = WindowWeights::new(rows.len());
    let reports = pipeline_windows(
        &mut ms,
        rows.len(),
        |ms, k| {
            let t = std::time::Instant::now();
            let blk = read_block_with(ms, path, k, true, flags.get_mut(k).and_then(Option::take));
            read_s.set(read_s.get() + t.elapsed().as_secs_f64());
            blk
        },
        |spw, blk| {
            let t0 = std::time::Instant::now();
            let model = models_ref.predict(blk)?;
            solver_ref.add_window(spw, blk, model.view())?;
            drop(model);
            let model_solve_s = t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            let rep = if apply {
                let Some((b, g)) = solver_ref.last_tables() else {
                    return Err(CalError::MsLayout {
                        path: path.to_path_buf(),
                        detail: format!("spectral window {spw}: no solution"),
                    });
                };
                let rep = apply_to_block(blk, Some(b), Some(g))?;
                // conjugated and the WEIGHT medians taken here, so that the
                // writing thread only writes
                to_ms_convention(blk);
                weights.compute(spw, blk);
                Some(rep)
            } else {
                None
            };
            Ok((rep, model_solve_s, t1.elapsed().as_secs_f64()))
        },
        |ms, k, blk| {
            let t = std::time::Instant::now();
            let row0 = rows[k].start;
            let done = if apply {
                write_corrected_ms(ms, path, row0, blk, weights.take(k))
            } else if flagged {
                ms.write_flags(row0, blk.flags.view()).map_err(ms_err(path))
            } else {
                Ok(())
            };
            write_s.set(write_s.get() + t.elapsed().as_secs_f64());
            done
        },
    )?;
    let t = std::time::Instant::now();
    drop(ms);
    timings.write_s = write_s.get() + t.elapsed().as_secs_f64();
    timings.read_s = read_s.get();
    for (rep, model_solve_s, apply_s) in reports {
        timings.model_solve_s += model_solve_s;
        timings.apply_s += apply_s;
        if let Some(rep) = rep {
            total.n_corrected += rep.n_corrected;
            total.n_newly_flagged += rep.n_newly_flagged;
        }
    }
    let (cal, pointing) = models.finish()?;
    Ok(OnePass {
        flag: flag_report,
        flag_s,
        solve: MsSolve {
            solutions: solver.finish()?,
            calibrator: cal,
            pointing_dec_rad: pointing,
            n_antennas,
        },
        apply: apply.then_some(total),
        timings,
    })
}

/// The calibrators of `catalog` that pass through the primary beam of a group whose
/// (ICRS) phase centre is (`ra_rad`, `dec_rad`) — the meridian at the group's mid-time, as
/// the converter phases it — between its first and last integration (`start_jd_utc`,
/// `end_jd_utc`), nearest the beam centre first; and the pointing declination of date (rad).
///
/// # Errors
/// [`CalError::Astro`] or [`CalError::InvalidParam`] for impossible times.
pub fn group_transits(
    catalog: &Catalog,
    ra_rad: f64,
    dec_rad: f64,
    start_jd_utc: f64,
    end_jd_utc: f64,
) -> Result<(Vec<Transit>, f64), CalError> {
    let site_beam = BeamGeometry::dsa110(dec_rad);
    let pointing = pointing_dec_of_icrs_centre(
        ra_rad,
        dec_rad,
        0.5 * (start_jd_utc + end_jd_utc),
        &site_beam,
    )?;
    let beam = BeamGeometry::dsa110(pointing);
    Ok((
        find_transits(catalog, start_jd_utc, end_jd_utc, &beam)?,
        pointing,
    ))
}

/// The ANTENNA row of the MS at `path` named `name` (as CASA's `refant` takes it); a
/// plain number that names no antenna is taken as the row number.
///
/// # Errors
/// [`CalError::Ms`] when the MS cannot be read; [`CalError::InvalidParam`] naming the
/// antenna when the MS has no such antenna.
pub fn antenna_by_name(path: &Path, name: &str) -> Result<u32, CalError> {
    let ms = MsTable::open(path).map_err(ms_err(path))?;
    let antennas = &ms.meta().antennas;
    if let Some(i) = antennas
        .iter()
        .position(|a| a.name.eq_ignore_ascii_case(name) || a.station.eq_ignore_ascii_case(name))
    {
        return Ok(i as u32);
    }
    match name.trim().parse::<u32>() {
        Ok(i) if (i as usize) < antennas.len() => Ok(i),
        _ => Err(CalError::InvalidParam {
            name: "refant",
            reason: format!(
                "{}: no antenna named {name:?} ({} antennas, e.g. {:?})",
                path.display(),
                antennas.len(),
                antennas.first().map(|a| a.name.as_str()).unwrap_or("")
            ),
        }),
    }
}

/// One table of ours → ms-writer's per-window solutions on the full antenna grid.
fn to_casa(t: &SolutionTable, n_antennas: usize) -> dsa110_ms_writer::CalSolutions {
    let (nt, _, nc, nr) = t.gains.dim();
    let dim = (nt, n_antennas, nc, nr);
    let mut gains = Array4::from_elem(dim, Complex32::new(1.0, 0.0));
    let mut errors = Array4::zeros(dim);
    let mut flags = Array4::from_elem(dim, true);
    let mut snr = Array4::zeros(dim);
    for (i, &a) in t.antennas.iter().enumerate() {
        let a = a as usize;
        if a >= n_antennas {
            continue;
        }
        for ti in 0..nt {
            for c in 0..nc {
                for r in 0..nr {
                    let (s, d) = ([ti, i, c, r], [ti, a, c, r]);
                    gains[d] = t.gains[s].conj();
                    errors[d] = t.param_err[s];
                    flags[d] = t.flags[s];
                    snr[d] = t.snr[s];
                }
            }
        }
    }
    dsa110_ms_writer::CalSolutions {
        spw: t.spw,
        times_mjd_s: t.times_jd_utc.iter().map(|&j| jd_to_mjd_s(j)).collect(),
        interval_s: t.interval_s,
        gains,
        errors,
        flags,
        snr,
    }
}

/// Write `solve`'s B and G tables at `bcal` and `gcal` (which must not exist),
/// copying the subtables of the MS at `ms_path`.
pub fn write_tables(
    solve: &MsSolve,
    ms_path: &Path,
    bcal: &Path,
    gcal: &Path,
) -> Result<(), CalError> {
    for (kind, tables, path) in [
        (CalType::Bandpass, &solve.solutions.bandpass, bcal),
        (CalType::Gain, &solve.solutions.gains, gcal),
    ] {
        let table = CalTable {
            cal_type: kind,
            ms_name: ms_path.display().to_string(),
            ref_antenna: Some(solve.solutions.refant as usize),
            field_id: 0,
            scan_number: 1,
            solutions: tables
                .iter()
                .map(|t| to_casa(t, solve.n_antennas))
                .collect(),
        };
        table.write(path, ms_path).map_err(ms_err(path))?;
    }
    Ok(())
}

/// Read a CASA `B Jones` or `G Jones` table (ours or CASA's) as this crate's
/// tables, one per spectral window; `freqs` are the MS's channel frequencies
/// per window (a B table's channels are the MS's).
pub fn read_table(path: &Path, freqs: &[Vec<f64>]) -> Result<Vec<SolutionTable>, CalError> {
    let t = CalTable::read(path).map_err(ms_err(path))?;
    let kind = match t.cal_type {
        CalType::Bandpass => JonesKind::B,
        CalType::Gain => JonesKind::G,
    };
    let refant = t.ref_antenna.map_or(u32::MAX, |a| a as u32);
    let mut out = Vec::with_capacity(t.solutions.len());
    for s in t.solutions {
        let Some(f) = freqs.get(s.spw) else {
            return Err(CalError::Mismatch {
                detail: format!(
                    "{}: spectral window {} is not in the MS ({} windows)",
                    path.display(),
                    s.spw,
                    freqs.len()
                ),
            });
        };
        let nant = s.gains.dim().1;
        let chan_freqs = match kind {
            JonesKind::B => f.clone(),
            JonesKind::G => vec![f.iter().sum::<f64>() / f.len().max(1) as f64],
        };
        let mut table = SolutionTable::from_casa(
            kind,
            s.spw,
            s.times_mjd_s.iter().map(|&m| mjd_s_to_jd(m)).collect(),
            s.interval_s,
            (0..nant as u32).collect(),
            chan_freqs,
            s.gains,
            s.flags,
            refant,
        )
        .map_err(|e| match e {
            CalError::Shape { detail, .. } => CalError::Mismatch {
                detail: format!("{}: {detail}", path.display()),
            },
            other => other,
        })?;
        table.snr = s.snr;
        table.param_err = s.errors;
        out.push(table);
    }
    Ok(out)
}

/// Apply tables (paths of `B Jones`/`G Jones` tables, ours or CASA's) to the
/// MS at `ms_path`: CORRECTED_DATA (created if missing), WEIGHT_SPECTRUM and
/// WEIGHT (`calwt=True`: DATA's weights, from SIGMA ([`data_weights`]), times
/// `|g_i g_j|²`, so that applying again gives the same weights), and FLAG
/// where a solution is flagged or missing.
/// A window with no table of a kind is left uncorrected by that kind.
pub fn apply_tables(ms_path: &Path, tables: &[PathBuf]) -> Result<ApplyReport, CalError> {
    let mut ms = MsTable::open_rw(ms_path).map_err(ms_err(ms_path))?;
    let freqs: Vec<Vec<f64>> = ms.meta().spws.iter().map(|s| s.freqs_hz.clone()).collect();
    let mut b_tabs: Vec<SolutionTable> = Vec::new();
    let mut g_tabs: Vec<SolutionTable> = Vec::new();
    for p in tables {
        for t in read_table(p, &freqs)? {
            match t.kind {
                JonesKind::B => b_tabs.push(t),
                JonesKind::G => g_tabs.push(t),
            }
        }
    }
    ms.add_data_columns(&[DataColumn::Corrected])
        .map_err(ms_err(ms_path))?;
    let rows = ms.meta().spw_rows.clone();
    let mut total = ApplyReport {
        n_corrected: 0,
        n_newly_flagged: 0,
    };
    // window by window (two windows' visibilities in memory, three while one
    // is written back and the next read beside the correction)
    let weights = WindowWeights::new(rows.len());
    let reports = pipeline_windows(
        &mut ms,
        rows.len(),
        |ms, k| read_block(ms, ms_path, k, true),
        |spw, blk| {
            let b = b_tabs.iter().find(|t| t.spw == spw);
            let g = g_tabs.iter().find(|t| t.spw == spw);
            let rep = apply_to_block(blk, b, g)?;
            to_ms_convention(blk);
            weights.compute(spw, blk);
            Ok(rep)
        },
        |ms, k, blk| write_corrected_ms(ms, ms_path, rows[k].start, blk, weights.take(k)),
    )?;
    for rep in reports {
        total.n_corrected += rep.n_corrected;
        total.n_newly_flagged += rep.n_newly_flagged;
    }
    Ok(total)
}

/// Window-by-window processing with the table I/O beside the computation:
/// while a worker thread runs `compute` on window k, this thread, which owns
/// the table (casacore is not thread-safe), writes window k − 1 back
/// (`write`, given the window's index) and reads window k + 1 (`read`). The
/// table I/O, one thread's work, then overlaps the computation instead of
/// alternating with it. `compute`'s results in window order; the first error
/// stops the run (a window computed or read beside it is dropped unwritten).
fn pipeline_windows<R: Send>(
    ms: &mut MsTable,
    nwin: usize,
    mut read: impl FnMut(&mut MsTable, usize) -> Result<VisBlock, CalError>,
    mut compute: impl FnMut(usize, &mut VisBlock) -> Result<R, CalError> + Send,
    mut write: impl FnMut(&mut MsTable, usize, &VisBlock) -> Result<(), CalError>,
) -> Result<Vec<R>, CalError> {
    let mut out = Vec::with_capacity(nwin);
    if nwin == 0 {
        return Ok(out);
    }
    let mut next = read(ms, 0)?;
    let mut pending: Option<(usize, VisBlock)> = None;
    for k in 0..nwin {
        let mut blk = next;
        let compute = &mut compute;
        let (computed, io) = std::thread::scope(|sc| {
            let worker = sc.spawn(move || compute(k, &mut blk).map(|r| (blk, r)));
            let io = (|| -> Result<Option<VisBlock>, CalError> {
                if let Some((j, done)) = pending.take() {
                    write(ms, j, &done)?;
                }
                if k + 1 < nwin {
                    read(ms, k + 1).map(Some)
                } else {
                    Ok(None)
                }
            })();
            let computed = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (computed, io)
        });
        let (blk, r) = computed?;
        out.push(r);
        pending = Some((k, blk));
        match io? {
            Some(b) => next = b,
            None => break,
        }
    }
    if let Some((j, done)) = pending.take() {
        write(ms, j, &done)?;
    }
    Ok(out)
}

/// The corrected visibilities of `blk` in the MS convention (`conj`).
fn to_ms_convention(blk: &mut VisBlock) {
    conj_in_place(&mut blk.data);
}

/// `v ← conj(v)` on both cores (a window's visibilities are ≈ 86 MB).
fn conj_in_place(data: &mut ndarray::Array3<Complex32>) {
    use rayon::prelude::*;
    match data.as_slice_mut() {
        Some(v) => v.par_iter_mut().for_each(|x| *x = x.conj()),
        None => data.mapv_inplace(|x| x.conj()),
    }
}

/// Write a corrected block already in the MS convention ([`to_ms_convention`])
/// as CORRECTED_DATA, its weights and its flags; `weight`: its WEIGHT column
/// computed beforehand ([`WindowWeights`]), or `None` to compute it here.
fn write_corrected_ms(
    ms: &mut MsTable,
    path: &Path,
    row0: usize,
    blk: &VisBlock,
    weight: Option<Array2<f32>>,
) -> Result<(), CalError> {
    ms.write_data(DataColumn::Corrected, row0, blk.data.view())
        .map_err(ms_err(path))?;
    match weight {
        Some(w) => ms.write_weights_with(row0, blk.nsamples.view(), w.view()),
        None => ms.write_weights(row0, blk.nsamples.view(), blk.flags.view()),
    }
    .map_err(ms_err(path))?;
    ms.write_flags(row0, blk.flags.view()).map_err(ms_err(path))
}

/// Each window's WEIGHT column (the median of its calibrated weights over the
/// unflagged channels, [`median_weights`]), computed by the worker that
/// corrects the window rather than by the thread that writes it: the table
/// I/O is one thread's work and the apply's critical path, and the medians
/// (3.5 M rows × polarisations of 48 channels on a full group) took a third of
/// the apply's CPU time on it.
struct WindowWeights(Vec<std::sync::Mutex<Option<Array2<f32>>>>);

impl WindowWeights {
    fn new(nwin: usize) -> Self {
        Self((0..nwin).map(|_| std::sync::Mutex::new(None)).collect())
    }

    /// Compute window `k`'s WEIGHT from the corrected block (kept for
    /// [`WindowWeights::take`]; on a shape mismatch nothing is kept and the
    /// writer computes it, reporting the error).
    fn compute(&self, k: usize, blk: &VisBlock) {
        let w = median_weights(blk.nsamples.view(), blk.flags.view()).ok();
        if let Some(Ok(mut slot)) = self.0.get(k).map(|m| m.lock()) {
            *slot = w;
        }
    }

    /// Window `k`'s WEIGHT, if computed.
    fn take(&self, k: usize) -> Option<Array2<f32>> {
        self.0.get(k)?.lock().ok()?.take()
    }
}
