//! Deconvolution: Högbom minor cycles on the pixels above the minor-cycle
//! level (Clark's selection) inside Cotton–Schwab major cycles, where the
//! model is subtracted from the visibilities by exact degridding.

use serde::{Deserialize, Serialize};

use crate::drift::BeamDrift;
use crate::fft::PsfModel;
use crate::{Gridder, ImagingVis};
use num_complex::Complex32;

/// Most pixels searched in one minor cycle: half a 4096² image. Cleaning to
/// 1σ without a mask puts about a third of the image above the level; a cap
/// below that (it was 100 000) stops every minor cycle short of the level and
/// costs a major cycle (a full degrid + grid) per step instead: on a full group
/// CLEAN then ran into the 20-major limit where WSClean's rule needs 7.
const MAX_ACTIVE: usize = 8_388_608;

/// CLEAN parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CleanParams {
    /// Maximum number of minor iterations in total (0 = no CLEAN).
    pub niter: usize,
    /// Loop gain.
    pub gain: f64,
    /// Major-cycle gain: a minor cycle stops when the peak fell by this fraction.
    pub mgain: f64,
    /// Absolute stopping threshold (Jy/beam).
    pub threshold_jy: f64,
    /// Stopping threshold in units of the residual's robust rms.
    pub auto_threshold_sigma: Option<f64>,
    /// Clean without a mask down to this many σ, then only inside the mask
    /// made of the components found so far.
    pub auto_mask_sigma: Option<f64>,
    /// Maximum number of major cycles.
    pub max_major_cycles: usize,
    /// Image-plane (Clark) rounds while the residual is bright: after a minor
    /// cycle reaches its `mgain` level, the residual its components leave is
    /// predicted with the whole PSF (one FFT convolution) and the minor cycle
    /// goes on from there, down to this fraction of the first major cycle's
    /// (the brightest) peak but not below 20 × the residual's robust rms,
    /// before the major cycle. 0 = off: every minor cycle ends in a major
    /// cycle, as WSClean's. The PSF's errors for a bright source (its
    /// spectrum, the w-term, the primary beam drifting through the group) are
    /// ≈ 1 % of its flux, which is why the depth is measured from the first
    /// peak; at the default 3 % the rounds take a full group's first major
    /// cycle from 4.06 Jy to 0.12 Jy instead of 0.78 Jy.
    #[serde(default)]
    pub image_plane_depth: f64,
}

impl Default for CleanParams {
    fn default() -> Self {
        Self {
            niter: 100_000,
            gain: 0.1,
            mgain: 0.8,
            threshold_jy: 0.0,
            auto_threshold_sigma: Some(1.0),
            auto_mask_sigma: None,
            max_major_cycles: 20,
            image_plane_depth: 0.03,
        }
    }
}

/// Why CLEAN stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanStop {
    /// The residual peak reached the stopping level (threshold or auto-threshold).
    Threshold,
    /// `niter` minor iterations done.
    Niter,
    /// `max_major_cycles` major cycles done.
    MaxMajorCycles,
    /// A major cycle's exact residual peaked above the peak it started from;
    /// that cycle was undone.
    Diverged,
    /// A minor cycle's residual, predicted in the image plane, would have
    /// peaked above the one it started from; that cycle was undone before its
    /// major cycle.
    DivergenceForeseen,
    /// Nothing above the level to clean, or no component could be taken.
    NoProgress,
}

impl CleanStop {
    /// The name used in logs, summaries and FITS HISTORY (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Threshold => "threshold",
            Self::Niter => "niter",
            Self::MaxMajorCycles => "max_major_cycles",
            Self::Diverged => "diverged",
            Self::DivergenceForeseen => "divergence_foreseen",
            Self::NoProgress => "no_progress",
        }
    }
}

/// The gridders of the major cycles: `model` degrids the components (at the
/// imaging accuracy: its errors stay in the residual visibilities), `residual`
/// grids the residual visibilities (may be coarser, see
/// [`crate::ImagingParams::residual_eps`]).
#[derive(Clone, Copy, Debug)]
pub struct Gridders<'a> {
    /// Degrids the model.
    pub model: &'a Gridder,
    /// Grids the residual.
    pub residual: &'a Gridder,
    /// The primary beam's drift in the model's prediction (None: the mean beam).
    pub drift: Option<&'a BeamDrift>,
}

impl Gridders<'_> {
    /// `resid −=` the visibilities of `model` (with the beam's drift if set).
    /// A model of at most [`DIRECT_SUBTRACT`] components is subtracted by a
    /// direct sum (exact), a larger one by degridding.
    fn subtract(&self, vis: &ImagingVis, model: &[f64], resid: &mut [Complex32]) {
        let t = std::time::Instant::now();
        // one more than the direct sum takes tells that the model is too large
        let comps: Vec<(usize, f64)> = model
            .iter()
            .enumerate()
            .filter(|(_, m)| **m != 0.0)
            .map(|(i, m)| (i, *m))
            .take(DIRECT_SUBTRACT + 1)
            .collect();
        match (self.drift, comps.len() > DIRECT_SUBTRACT) {
            (Some(d), true) => d.subtract_model(self.model, vis, model, resid),
            (None, true) => self.model.subtract_model(vis, model, resid),
            (Some(d), false) => d.subtract_direct(self.model, vis, &comps, resid),
            (None, false) => self.model.subtract_direct(vis, &comps, resid, None),
        }
        tracing::debug!(
            components = comps.len(),
            direct = comps.len() <= DIRECT_SUBTRACT,
            seconds = t.elapsed().as_secs_f64(),
            "model subtracted"
        );
    }
}

/// What CLEAN produced.
#[derive(Debug)]
pub struct CleanResult {
    /// Model (Jy per pixel), `[y][x]`.
    pub model: Vec<f64>,
    /// Final residual (Jy/beam).
    pub residual: Vec<f64>,
    /// Minor iterations done.
    pub n_iter: usize,
    /// Major cycles done (residual recomputations from the visibilities).
    pub n_major: usize,
    /// Final stopping level (Jy/beam).
    pub stop_level_jy: f64,
    /// Why CLEAN stopped.
    pub stopped_by: CleanStop,
}

/// Robust rms: 1.4826 × the median absolute deviation from the median
/// (non-finite values ignored).
pub fn robust_rms(img: &[f64]) -> f64 {
    // sized once: a filtered collect grows by doubling (a 4096² image: 64 MB
    // reached through a dozen reallocations and copies)
    let mut v: Vec<f32> = Vec::with_capacity(img.len());
    v.extend(img.iter().filter(|x| x.is_finite()).map(|x| *x as f32));
    if v.is_empty() {
        return 0.0;
    }
    let med = median(&mut v);
    for x in v.iter_mut() {
        *x = (*x - med).abs();
    }
    1.4826 * median(&mut v) as f64
}

fn median(v: &mut [f32]) -> f32 {
    let k = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    *m
}

/// Most components a major cycle subtracts from the visibilities by a direct
/// sum ([`Gridder::subtract_direct`]) rather than a degrid.
const DIRECT_SUBTRACT: usize = 64;

/// A major cycle whose exact residual peaks higher than this many times the peak it
/// started from is taken as divergence and undone.
const DIVERGENCE_FACTOR: f64 = 1.1;

/// A minor cycle of at least this many components has its residual predicted in
/// the image plane before the major cycle (see [`clean`]).
const PREDICT_COMPONENTS: usize = 1000;

/// Run CLEAN. `dirty` is the dirty image normalised to Jy/beam (divided by
/// `sumw`), `psf` has peak 1 at (n/2, n/2).
///
/// The major cycles subtract each cycle's new components from `vis.vis` in
/// place, so the visibilities are held once: on return `vis.vis` holds the
/// residual visibilities (the data minus the final model).
///
/// Divergence is foreseen in the image plane: after a minor cycle of
/// [`PREDICT_COMPONENTS`] or more, the residual its components leave for a
/// shift-invariant PSF (one FFT convolution with the whole PSF, ≈ 2 s at 4096²).
/// The minor cycle subtracts the PSF cut to a patch, and the sidelobes it
/// neglects add up over many components of both signs: on a full group, the
/// minor cycle that cleans the noise-like residual towards 1σ (tens of thousands
/// of components) ends with a residual above the one it started from. If the
/// prediction peaks above [`DIVERGENCE_FACTOR`] × the cycle's starting peak, the
/// cycle is undone and CLEAN stops without the major cycle (a degrid, a grid and
/// the degrid that undid it: ≈ 45 s on a full group). On the full group the
/// prediction's peak agreed with the exact residual's to 0.05 % of the starting
/// peak near the centre and to 5 % near a half-power source (the w-term and the
/// band-dependent primary beam make the real PSF vary across the field).
///
/// Image-plane rounds ([`CleanParams::image_plane_depth`]) use the same
/// prediction to take a bright residual further down before its major cycle.
#[allow(clippy::too_many_arguments)]
pub fn clean(
    g: &Gridders<'_>,
    vis: &mut ImagingVis,
    wt: &[f32],
    sumw: f64,
    n: usize,
    dirty: Vec<f64>,
    psf: &[f64],
    p: &CleanParams,
) -> CleanResult {
    let mut residual = dirty;
    // the residual visibilities, updated in place (taken out of `vis` so that
    // `vis` can be read alongside; put back at the end)
    let mut resid_vis = std::mem::take(&mut vis.vis);
    let mut model = crate::buf::zeros(n * n, 0.0f64);
    // a cycle's components (and the model before it), and an image-plane round's,
    // in buffers kept from cycle to cycle: a fresh n² image each time is
    // faulted in and zeroed by the kernel (128 MB at 4096²)
    let mut delta = crate::buf::zeros(n * n, 0.0f64);
    let mut comps: Vec<f64> = Vec::with_capacity(n * n);
    let mut mask: Option<Vec<bool>> = None;
    let mut n_iter = 0usize;
    let mut n_major = 0usize;
    let mut stop;
    let patch = PsfPatch::new(psf, n, p.mgain);
    let mut psf_model = PsfModel::new(psf, n);
    // the first major cycle's peak: the brightest residual, to which the PSF's
    // errors (which image-plane rounds cannot see) are proportional
    let mut first_peak: Option<f64> = None;
    // The level a minor cycle cleaned down to when that was the stopping level
    // itself (or the masking level: then the mask is made after its major cycle,
    // see below): the major cycle after it is the last (as in WSClean), unless the
    // stopping level fell by more than 10 % with the new residual (an
    // auto-threshold first set on sidelobes that CLEAN has since removed). The
    // exact residual may peak a little above the level (the minor cycle's PSF
    // patch is approximate); chasing that with more major cycles of a few
    // components each costs a full degrid + grid per cycle and changes nothing.
    let mut final_level: Option<f64> = None;
    let stopped_by: CleanStop;
    loop {
        let rms = robust_rms(&residual);
        stop = p
            .threshold_jy
            .max(p.auto_threshold_sigma.map_or(0.0, |s| s * rms));
        let mut level = stop;
        if let Some(am) = p.auto_mask_sigma {
            if mask.is_none() {
                let peak = abs_peak(&residual, None).1;
                // The last minor cycle cleaned down to the masking level and the
                // level held: the exact residual may peak a little above it (the
                // minor cycle's PSF is approximate), and waiting for it to fall
                // below cost a major cycle per handful of components (on a full
                // group, 20 major cycles at the level instead of going on).
                let cleaned_to_mask = final_level.is_some_and(|fl| am * rms >= 0.9 * fl);
                if (peak <= am * rms || cleaned_to_mask) && model.iter().any(|m| *m != 0.0) {
                    mask = Some(model.iter().map(|m| *m != 0.0).collect());
                    final_level = None;
                } else {
                    level = level.max(am * rms);
                }
            }
        }
        if let Some(fl) = final_level.take() {
            if level >= 0.9 * fl {
                stopped_by = CleanStop::Threshold;
                break;
            }
        }
        let (ipk, peak) = abs_peak(&residual, mask.as_deref());
        if ipk.is_none() {
            stopped_by = CleanStop::NoProgress;
            break;
        }
        if peak <= level {
            stopped_by = CleanStop::Threshold;
            break;
        }
        if n_iter >= p.niter {
            stopped_by = CleanStop::Niter;
            break;
        }
        if n_major >= p.max_major_cycles {
            stopped_by = CleanStop::MaxMajorCycles;
            break;
        }
        let mut minor_stop = level.max((1.0 - p.mgain) * peak);
        // Clark's selection, capped: if too many pixels are above the level,
        // raise it to the MAX_ACTIVE-th largest |value| (more major cycles,
        // bounded minor-cycle cost).
        let above = residual
            .iter()
            .enumerate()
            .filter(|(i, r)| r.abs() > minor_stop && mask.as_ref().is_none_or(|m| m[*i]))
            .count();
        if above > MAX_ACTIVE {
            let mut vals: Vec<f32> = residual
                .iter()
                .enumerate()
                .filter(|(i, _)| mask.as_ref().is_none_or(|m| m[*i]))
                .map(|(_, r)| r.abs() as f32)
                .collect();
            let k = vals.len() - MAX_ACTIVE;
            let (_, kth, _) = vals.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
            minor_stop = minor_stop.max(*kth as f64);
        }
        // active pixels (row-major order) and the minor cycle on them
        let t_minor = std::time::Instant::now();
        let mut act = ActiveSet::new(&residual, n, minor_stop, mask.as_deref());
        // Clark's rule: with the PSF cut to the patch, stop where the neglected
        // exterior sidelobes of what was subtracted could matter.
        minor_stop = minor_stop.max(patch.exterior_max * peak);
        // the model before this cycle; after its minor cycle, the components it
        // added (to subtract, and to undo a cycle that made things worse:
        // divergence)
        delta.copy_from_slice(&model);
        let n_iter_before = n_iter;
        // Image-plane rounds go no deeper than this (see
        // `CleanParams::image_plane_depth`); none when it is not below the
        // minor cycle's own level.
        let first_peak = *first_peak.get_or_insert(peak);
        let round_floor = if p.image_plane_depth > 0.0 {
            (p.image_plane_depth * first_peak).max(BRIGHT_SIGMA * rms)
        } else {
            f64::INFINITY
        };
        let mut round_peak = peak;
        let mut rounds = 0usize;
        loop {
            // the level this minor cycle cleans to, when that is the stopping level
            // or the masking level itself (not a step of mgain)
            let to_level = (minor_stop <= level).then_some(level);
            let reached = minor_cycle(
                &mut act,
                &patch,
                &mut model,
                &mut n_iter,
                p,
                minor_stop,
                round_peak,
            );
            if reached {
                final_level = to_level;
            }
            if !reached || minor_stop <= round_floor || n_iter >= p.niter {
                break;
            }
            // An image-plane round: the residual the cycle's components leave for
            // a shift-invariant PSF, and the minor cycle again on it.
            let t_round = std::time::Instant::now();
            comps.clear();
            comps.extend(model.iter().zip(&delta).map(|(m, d)| m - d));
            let (pred, pred_peak) =
                predict_residual(&mut psf_model, &comps, &residual, mask.as_deref());
            rounds += 1;
            tracing::debug!(
                round = rounds,
                seconds = t_round.elapsed().as_secs_f64(),
                "image-plane round: peak {pred_peak:.3e} Jy/beam, {round_peak:.3e} before"
            );
            // no deeper than the floor, and not on a residual the rounds no longer
            // reduce (the PSF no longer describes it); NaN ends them too
            let deeper = pred_peak > round_floor.max(level) && pred_peak <= 0.5 * round_peak;
            if !deeper {
                break;
            }
            round_peak = pred_peak;
            let next = level.max((1.0 - p.mgain) * pred_peak).max(round_floor);
            act = ActiveSet::new(&pred, n, next, mask.as_deref());
            if act.idx.len() > MAX_ACTIVE {
                break;
            }
            minor_stop = next.max(patch.exterior_max * pred_peak);
        }
        if n_iter == n_iter_before {
            stopped_by = CleanStop::NoProgress;
            break;
        }
        // the cycle's components: the model now minus the model before
        delta.iter_mut().zip(&model).for_each(|(d, m)| *d = m - *d);
        if n_iter - n_iter_before >= PREDICT_COMPONENTS && patch.exterior_max > 0.0 {
            let t_pred = std::time::Instant::now();
            let pred_peak = predict_residual(&mut psf_model, &delta, &residual, mask.as_deref()).1;
            tracing::debug!(
                components = n_iter - n_iter_before,
                seconds = t_pred.elapsed().as_secs_f64(),
                "image-plane prediction: peak {pred_peak:.3e} Jy/beam, {peak:.3e} before"
            );
            if pred_peak.is_nan() || pred_peak > DIVERGENCE_FACTOR * peak {
                tracing::warn!(
                    major = n_major + 1,
                    "CLEAN would diverge (residual peak {pred_peak:.3e} Jy/beam predicted in the \
                     image plane after {} components, {peak:.3e} before): that cycle undone \
                     before its major cycle, CLEAN stopped",
                    n_iter - n_iter_before
                );
                model.iter_mut().zip(&delta).for_each(|(m, d)| *m -= d);
                n_iter = n_iter_before;
                stopped_by = CleanStop::DivergenceForeseen;
                break;
            }
        }
        // major cycle: exact residual from the visibilities, from which this
        // cycle's components are subtracted
        let minor_s = t_minor.elapsed().as_secs_f64();
        let t_major = std::time::Instant::now();
        g.subtract(vis, &delta, &mut resid_vis);
        let degrid_s = t_major.elapsed().as_secs_f64();
        let mut new_residual = g.residual.grid_image(vis, Some(&resid_vis), wt);
        let major_s = t_major.elapsed().as_secs_f64();
        for r in new_residual.iter_mut() {
            *r /= sumw;
        }
        n_major += 1;
        // Divergence: the exact residual's peak grew past the peak this cycle started
        // from (the minor cycle's PSF subtraction and the visibilities disagree, e.g.
        // a poorly sampled PSF whose sidelobes CLEAN keeps feeding). Undo the cycle and
        // stop, as WSClean does, rather than amplify the error.
        let new_peak = abs_peak(&new_residual, mask.as_deref()).1;
        if new_peak.is_nan() || new_peak > DIVERGENCE_FACTOR * peak {
            tracing::warn!(
                major = n_major,
                "CLEAN diverged (residual peak {new_peak:.3e} Jy/beam after the major cycle, \
                 {peak:.3e} before): that cycle undone, CLEAN stopped"
            );
            // add the cycle's components back to the visibilities
            delta.iter_mut().for_each(|d| *d = -*d);
            g.subtract(vis, &delta, &mut resid_vis);
            model.iter_mut().zip(&delta).for_each(|(m, d)| *m += d);
            n_iter = n_iter_before;
            stopped_by = CleanStop::Diverged;
            break;
        }
        residual = new_residual;
        tracing::info!(
            major = n_major,
            iterations = n_iter,
            active = act.idx.len(),
            patch = patch.half,
            image_plane_rounds = rounds,
            minor_s,
            degrid_s,
            major_s,
            "CLEAN: peak {peak:.3e} Jy/beam, rms {rms:.3e}, minor-cycle level {minor_stop:.3e}"
        );
    }
    vis.vis = resid_vis;
    CleanResult {
        model,
        residual,
        n_iter,
        n_major,
        stop_level_jy: stop,
        stopped_by,
    }
}

/// Image-plane rounds run only while the level they would clean to is at least
/// this many times the residual's robust rms: on a bright residual, whose
/// structure is the PSF's, and not on the noise-like residual of the last
/// cycles, where the patch's neglected sidelobes add up (see [`clean`]).
const BRIGHT_SIGMA: f64 = 20.0;

/// Högbom iterations on `act` until its peak is at most `stop` (returns true),
/// or `niter` is reached, or the peak rises above `start_peak` (false).
fn minor_cycle(
    act: &mut ActiveSet,
    patch: &PsfPatch,
    model: &mut [f64],
    n_iter: &mut usize,
    p: &CleanParams,
    stop: f64,
    start_peak: f64,
) -> bool {
    let n = act.n;
    while *n_iter < p.niter {
        let Some((k, v)) = act.peak() else {
            return true;
        };
        if v.abs() <= stop {
            return true;
        }
        // The residual can only fall in a converging minor cycle: a peak above
        // the one it started from means the shifted PSF (exact only for the
        // phase centre: the w-term makes it asymmetric far out) is feeding on
        // itself. Stop here and let the major cycle compute the truth.
        if v.abs() > start_peak * (1.0 + 1e-4) {
            tracing::debug!(
                n_iter = *n_iter,
                "minor cycle stopped: peak {v:.3e} above its start {start_peak:.3e}"
            );
            return false;
        }
        let comp = p.gain * v;
        let ip = act.idx[k] as usize;
        model[ip] += comp;
        act.subtract_psf(patch, ip % n, ip / n, comp);
        *n_iter += 1;
    }
    false
}

/// The residual `residual − psf ⊛ comps` that components `comps` leave for a
/// shift-invariant PSF, and its peak |value| (inside the mask).
fn predict_residual(
    psf_model: &mut PsfModel<'_>,
    comps: &[f64],
    residual: &[f64],
    mask: Option<&[bool]>,
) -> (Vec<f64>, f64) {
    let mut pred = psf_model.convolve(comps);
    pred.iter_mut().zip(residual).for_each(|(e, r)| *e = r - *e);
    let peak = abs_peak(&pred, mask).1;
    (pred, peak)
}

fn abs_peak(img: &[f64], mask: Option<&[bool]>) -> (Option<usize>, f64) {
    let mut best = None;
    let mut bv = 0.0;
    for (i, v) in img.iter().enumerate() {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        if v.abs() > bv {
            bv = v.abs();
            best = Some(i);
        }
    }
    (best, bv)
}

/// The pixels a minor cycle works on: their image indices (row-major order), their
/// residual values (f32, compact for the search), where each image row starts in
/// them, the maximum |value| of every block of [`BLOCK`] entries and of every
/// group of [`GROUP`] blocks (the search reads the group maxima, then one group's
/// blocks, then one block; an update refreshes only the blocks and groups it
/// touched). With millions of active pixels, as when the last cycles clean a
/// noise-like residual, a search over every block's maximum took a fifth of
/// the minor cycle.
struct ActiveSet {
    n: usize,
    idx: Vec<u32>,
    val: Vec<f32>,
    /// Per row y and tile t of [`XTILE`] columns: the first entry of row y at
    /// x ≥ t·XTILE; `tiles` + 1 per row, the last the end of the row's entries
    /// (row y's entries are `tile_start[y·(tiles+1)]..tile_start[y·(tiles+1) +
    /// tiles]`). A component's subtraction finds the
    /// patch's columns in each row from here with a short scan: a binary search
    /// over every row's entries missed the caches at each probe and took most
    /// of the minor cycle's time.
    tile_start: Vec<u32>,
    tiles: usize,
    blk_max: Vec<f32>,
    /// Maximum of `blk_max` over each group of [`GROUP`] blocks.
    grp_max: Vec<f32>,
}

const BLOCK: usize = 64;

/// Blocks per group of [`ActiveSet::grp_max`].
const GROUP: usize = 64;

/// Largest of `v`, 0 for none.
fn max_of(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(*x))
}

/// Columns per tile of [`ActiveSet::tile_start`].
const XTILE: usize = 32;

impl ActiveSet {
    fn new(residual: &[f64], n: usize, level: f64, mask: Option<&[bool]>) -> Self {
        let active = |i: usize, r: f64| r.abs() > level && mask.is_none_or(|m| m[i]);
        // counted first: pushing millions of entries grew the vectors by doubling
        // (a copy and fresh pages at each step)
        let count = residual
            .iter()
            .enumerate()
            .filter(|(i, r)| active(*i, **r))
            .count();
        let mut idx = Vec::with_capacity(count);
        let mut val = Vec::with_capacity(count);
        let tiles = n.div_ceil(XTILE);
        let mut tile_start = Vec::with_capacity(n * (tiles + 1));
        for y in 0..n {
            for x in 0..n {
                if x % XTILE == 0 {
                    tile_start.push(idx.len() as u32);
                }
                let i = y * n + x;
                let r = residual[i];
                if active(i, r) {
                    idx.push(i as u32);
                    val.push(r as f32);
                }
            }
            tile_start.push(idx.len() as u32);
        }
        let blk_max = val
            .chunks(BLOCK)
            .map(|c| c.iter().fold(0.0f32, |m, v| m.max(v.abs())))
            .collect::<Vec<f32>>();
        let grp_max = blk_max.chunks(GROUP).map(max_of).collect();
        Self {
            n,
            idx,
            val,
            tile_start,
            tiles,
            blk_max,
            grp_max,
        }
    }

    /// The first index of the largest of `v` if it is above 0.
    fn first_max(v: &[f32]) -> Option<usize> {
        let (mut b, mut bm) = (None, 0.0f32);
        for (k, m) in v.iter().enumerate() {
            if *m > bm {
                bm = *m;
                b = Some(k);
            }
        }
        b
    }

    /// The entry of largest |value| and its value.
    fn peak(&self) -> Option<(usize, f64)> {
        let g = Self::first_max(&self.grp_max)?;
        let blocks = &self.blk_max[g * GROUP..((g + 1) * GROUP).min(self.blk_max.len())];
        let b = g * GROUP + Self::first_max(blocks)?;
        let lo = b * BLOCK;
        let hi = (lo + BLOCK).min(self.val.len());
        let (mut k, mut km) = (lo, -1.0f32);
        for (j, v) in self.val[lo..hi].iter().enumerate() {
            if v.abs() > km {
                km = v.abs();
                k = lo + j;
            }
        }
        Some((k, self.val[k] as f64))
    }

    /// Subtract `comp` × the PSF patch centred on pixel (xp, yp) from the entries
    /// it covers.
    fn subtract_psf(&mut self, patch: &PsfPatch, xp: usize, yp: usize, comp: f64) {
        let n = self.n as i64;
        let (xp, yp) = (xp as i64, yp as i64);
        let h = patch.half as i64;
        let half = n / 2;
        // rows and columns where both the image and the PSF (shifted) exist
        let y0 = (yp - h).max(0).max(yp - half);
        let y1 = (yp + h).min(n - 1).min(yp + half - 1);
        let x0 = (xp - h).max(0).max(xp - half);
        let x1 = (xp + h).min(n - 1).min(xp + half - 1);
        if y0 > y1 || x0 > x1 {
            return;
        }
        let c = comp as f32;
        let mut touched: Option<(usize, usize)> = None;
        for y in y0..=y1 {
            let ts = &self.tile_start[y as usize * (self.tiles + 1)..][..=self.tiles];
            let b = ts[self.tiles] as usize;
            if ts[0] as usize == b {
                continue;
            }
            let row = y * n;
            let mut lo = ts[x0 as usize / XTILE] as usize;
            while lo < b && (self.idx[lo] as i64) < row + x0 {
                lo += 1;
            }
            let mut hi = (ts[x1 as usize / XTILE] as usize).max(lo);
            while hi < b && (self.idx[hi] as i64) <= row + x1 {
                hi += 1;
            }
            if lo >= hi {
                continue;
            }
            let side = 2 * h + 1;
            let prow = &patch.psf[((y - yp + h) * side) as usize..];
            for k in lo..hi {
                let dx = self.idx[k] as i64 - row - xp + h;
                self.val[k] -= c * prow[dx as usize];
            }
            for blk in lo / BLOCK..=(hi - 1) / BLOCK {
                let s = blk * BLOCK;
                let e = (s + BLOCK).min(self.val.len());
                self.blk_max[blk] = self.val[s..e].iter().fold(0.0f32, |m, v| m.max(v.abs()));
            }
            let (g0, g1) = (lo / BLOCK / GROUP, (hi - 1) / BLOCK / GROUP);
            touched = Some(touched.map_or((g0, g1), |(a, _)| (a, g1)));
        }
        // the groups from the first touched to the last (rows in between that
        // were not touched leave their groups' maxima as they were)
        if let Some((g0, g1)) = touched {
            for g in g0..=g1 {
                let e = ((g + 1) * GROUP).min(self.blk_max.len());
                self.grp_max[g] = max_of(&self.blk_max[g * GROUP..e]);
            }
        }
    }
}

/// The half-width of the square patch of the PSF a minor cycle subtracts: the
/// smallest (at least [`MIN_PATCH`]) outside which |PSF| stays below half the
/// major-cycle depth `1 − mgain` (Clark), or the whole PSF; and that patch.
struct PsfPatch {
    /// The PSF at offsets `[−half, half]²` from its centre, row-major with side
    /// `2·half + 1` (f32; 0 where the n × n PSF has no value). Compact, not cut
    /// out of the n × n image: a component's subtraction reads one PSF row per
    /// image row of the patch, and rows n apart (16 KiB at 4096²) each cost a
    /// cache and a TLB miss, which made the minor cycle memory-bound.
    psf: Vec<f32>,
    half: usize,
    /// Largest |PSF| outside the patch.
    exterior_max: f64,
}

const MIN_PATCH: usize = 16;

impl PsfPatch {
    fn new(psf: &[f64], n: usize, mgain: f64) -> Self {
        let c = (n / 2) as i64;
        // largest |PSF| on each square ring around the centre (Chebyshev radius)
        let mut ring = vec![0.0f64; n / 2 + 1];
        for y in 0..n as i64 {
            for x in 0..n as i64 {
                let r = (x - c).abs().max((y - c).abs()) as usize;
                let v = psf[(y * n as i64 + x) as usize].abs();
                if v > ring[r] {
                    ring[r] = v;
                }
            }
        }
        // exterior[r] = max over rings > r
        let mut exterior = vec![0.0f64; ring.len()];
        for r in (0..ring.len() - 1).rev() {
            exterior[r] = exterior[r + 1].max(ring[r + 1]);
        }
        let target = 0.5 * (1.0 - mgain);
        let half = (MIN_PATCH..ring.len())
            .find(|&r| exterior[r] <= target)
            .unwrap_or(ring.len() - 1);
        let h = half as i64;
        let side = (2 * h + 1) as usize;
        let mut cut = vec![0.0f32; side * side];
        for (j, row) in cut.chunks_mut(side).enumerate() {
            let y = c + j as i64 - h;
            if !(0..n as i64).contains(&y) {
                continue;
            }
            for (i, v) in row.iter_mut().enumerate() {
                let x = c + i as i64 - h;
                if (0..n as i64).contains(&x) {
                    *v = psf[(y * n as i64 + x) as usize] as f32;
                }
            }
        }
        Self {
            psf: cut,
            half,
            exterior_max: exterior[half.min(ring.len() - 1)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_set_peak_is_the_largest_value_through_many_subtractions() {
        // a noise-like 512² residual, half its pixels active (several groups of
        // blocks per row), and a PSF with sidelobes of both signs
        let n = 512;
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let residual: Vec<f64> = (0..n * n).map(|_| rnd()).collect();
        let c = (n / 2) as f64;
        let psf: Vec<f64> = (0..n * n)
            .map(|i| {
                let (x, y) = ((i % n) as f64 - c, (i / n) as f64 - c);
                let r = (x * x + y * y).sqrt();
                (-r * r / 8.0).exp() + 0.05 * (r / 3.0).cos() * (-r / 40.0).exp()
            })
            .collect();
        let patch = PsfPatch::new(&psf, n, 0.8);
        let mut act = ActiveSet::new(&residual, n, 0.25, None);
        assert!(act.idx.len() > n * n / 3, "{} active", act.idx.len());
        for it in 0..400 {
            let (k, v) = act.peak().expect("active entries");
            let best = act.val.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert_eq!(v.abs() as f32, best, "iteration {it}");
            // the first entry holding it
            assert_eq!(k, act.val.iter().position(|x| x.abs() == best).unwrap());
            let ip = act.idx[k] as usize;
            act.subtract_psf(&patch, ip % n, ip / n, 0.1 * v);
        }
    }
}
