//! Deconvolution: Högbom minor cycles on the pixels above the minor-cycle
//! level (Clark's selection) inside Cotton–Schwab major cycles, where the
//! model is subtracted from the visibilities by exact degridding.

use num_complex::Complex32;
use serde::{Deserialize, Serialize};

use crate::{Gridder, ImagingVis};

/// Most pixels searched in one minor cycle.
const MAX_ACTIVE: usize = 100_000;

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
        }
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
}

/// Robust rms: 1.4826 × the median absolute deviation from the median
/// (non-finite values ignored).
pub fn robust_rms(img: &[f64]) -> f64 {
    let mut v: Vec<f32> = img
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| *x as f32)
        .collect();
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

/// A major cycle whose exact residual peaks higher than this many times the peak it
/// started from is taken as divergence and undone.
const DIVERGENCE_FACTOR: f64 = 1.1;

/// Run CLEAN. `dirty` is the dirty image normalised to Jy/beam (divided by
/// `sumw`), `psf` has peak 1 at (n/2, n/2).
#[allow(clippy::too_many_arguments)]
pub fn clean(
    g: &Gridder,
    vis: &ImagingVis,
    wt: &[f32],
    sumw: f64,
    n: usize,
    dirty: Vec<f64>,
    psf: &[f64],
    p: &CleanParams,
) -> CleanResult {
    let mut residual = dirty;
    let mut model = vec![0.0f64; n * n];
    let mut mask: Option<Vec<bool>> = None;
    let mut n_iter = 0usize;
    let mut n_major = 0usize;
    let mut stop;
    loop {
        let rms = robust_rms(&residual);
        stop = p
            .threshold_jy
            .max(p.auto_threshold_sigma.map_or(0.0, |s| s * rms));
        let mut level = stop;
        if let Some(am) = p.auto_mask_sigma {
            if mask.is_none() {
                let peak = abs_peak(&residual, None).1;
                if peak <= am * rms && model.iter().any(|m| *m != 0.0) {
                    mask = Some(model.iter().map(|m| *m != 0.0).collect());
                } else {
                    level = level.max(am * rms);
                }
            }
        }
        let (ipk, peak) = abs_peak(&residual, mask.as_deref());
        if peak <= level || n_iter >= p.niter || n_major >= p.max_major_cycles || ipk.is_none() {
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
        // active pixels
        let mut act_idx: Vec<usize> = Vec::new();
        let mut act_val: Vec<f64> = Vec::new();
        for (i, r) in residual.iter().enumerate() {
            if r.abs() > minor_stop && mask.as_ref().is_none_or(|m| m[i]) {
                act_idx.push(i);
                act_val.push(*r);
            }
        }
        let half = (n / 2) as i64;
        // kept to undo a major cycle that made things worse (divergence)
        let model_before = model.clone();
        let n_iter_before = n_iter;
        while n_iter < p.niter {
            let mut best = 0usize;
            let mut bv = 0.0f64;
            for (k, v) in act_val.iter().enumerate() {
                if v.abs() > bv {
                    bv = v.abs();
                    best = k;
                }
            }
            if bv <= minor_stop {
                break;
            }
            let comp = p.gain * act_val[best];
            let ip = act_idx[best];
            model[ip] += comp;
            let (xp, yp) = ((ip % n) as i64, (ip / n) as i64);
            for (k, &i) in act_idx.iter().enumerate() {
                let dx = (i % n) as i64 - xp + half;
                let dy = (i / n) as i64 - yp + half;
                if dx >= 0 && dy >= 0 && dx < n as i64 && dy < n as i64 {
                    act_val[k] -= comp * psf[dy as usize * n + dx as usize];
                }
            }
            n_iter += 1;
        }
        // major cycle: exact residual from the visibilities
        let mut resid_vis: Vec<Complex32> = vis.vis.clone();
        g.subtract_model(vis, &model, &mut resid_vis);
        let mut new_residual = g.grid_image(vis, Some(&resid_vis), wt);
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
            model = model_before;
            n_iter = n_iter_before;
            break;
        }
        residual = new_residual;
        tracing::info!(
            major = n_major,
            iterations = n_iter,
            active = act_idx.len(),
            "CLEAN: peak {peak:.3e} Jy/beam, rms {rms:.3e}, minor-cycle level {minor_stop:.3e}"
        );
    }
    CleanResult {
        model,
        residual,
        n_iter,
        n_major,
        stop_level_jy: stop,
    }
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
