//! Visibility weighting: natural, uniform and Briggs, with WSClean's
//! definitions, so that our images compare with WSClean's: the weights are
//! summed on a uv grid of the *padded* image (WSClean's default padding 1.2,
//! the side rounded up to a multiple of 4), whose cell is `1/(P·Δ)` for a
//! padded side `P` and pixel `Δ`; a visibility falls in the cell
//! `⌊u·P·Δ⌋ + P/2`, `⌊v·P·Δ⌋` (cells start at their lower edge, not centred),
//! after `(u, v) → (−u, −v)` when `v < 0` (both Hermitian halves on one half
//! plane of `P × P/2` cells). Briggs: `w / (1 + W_cell f²)` with
//! `f² = (5·10^−R)² / (Σ_cells W² / Σ w)`; uniform: `w / W_cell`. A
//! visibility outside the weight grid gets weight 0 (uniform, Briggs).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{ImagingError, ImagingVis};

const C_M_S: f64 = 299_792_458.0;

/// Weighting scheme.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Weighting {
    /// Imaging weight = visibility weight.
    Natural,
    /// Weight divided by the summed weight in its uv cell.
    Uniform,
    /// Briggs robust weighting with robustness R ∈ [−2, 2].
    Briggs {
        /// Robustness (0 is the usual compromise).
        robust: f64,
    },
}

impl std::str::FromStr for Weighting {
    type Err = String;

    /// Parses WSClean's `-weight` argument: `briggs R` (R in −2…2), `natural` or
    /// `uniform` (case-insensitive; one string, so the Briggs form is quoted on a
    /// command line). The error says what is wrong, in words.
    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<String> = s.split_whitespace().map(str::to_ascii_lowercase).collect();
        match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["natural"] => Ok(Weighting::Natural),
            ["uniform"] => Ok(Weighting::Uniform),
            ["briggs", r] => {
                let robust: f64 = r
                    .parse()
                    .map_err(|_| format!("briggs robustness {r:?} is not a number"))?;
                if !(-2.0..=2.0).contains(&robust) {
                    return Err(format!("briggs robustness {robust} is outside [-2, 2]"));
                }
                Ok(Weighting::Briggs { robust })
            }
            ["briggs"] => Err("briggs needs a robustness, e.g. \"briggs 0\"".into()),
            _ => Err(format!(
                "{s:?} is not a weighting: \"briggs R\", natural or uniform"
            )),
        }
    }
}

impl Weighting {
    /// Short name for FITS HISTORY / JSON.
    pub fn describe(&self) -> String {
        match self {
            Weighting::Natural => "natural".into(),
            Weighting::Uniform => "uniform".into(),
            Weighting::Briggs { robust } => format!("briggs {robust}"),
        }
    }
}

/// WSClean's image padding, which sets the weight grid (see the module docs).
pub const WEIGHT_GRID_PADDING: f64 = 1.2;

/// Side of the weight grid for an image of `npix` pixels: WSClean's padded
/// image size, `⌈npix · 1.2⌉` rounded up to a multiple of 4.
pub fn weight_grid_size(npix: usize) -> usize {
    let p = (npix as f64 * WEIGHT_GRID_PADDING).ceil() as usize;
    p + (4 - p % 4) % 4
}

/// Cell of a visibility at (u, v) wavelengths on the `p × p/2` half-plane
/// weight grid of side `p` (from [`weight_grid_size`]) and image pixel
/// `cell_rad`, or None if it falls outside.
#[inline]
pub fn uv_cell(u_lambda: f64, v_lambda: f64, p: usize, cell_rad: f64) -> Option<usize> {
    let s = p as f64 * cell_rad;
    let (mut u, mut v) = (u_lambda, v_lambda);
    if v < 0.0 {
        u = -u;
        v = -v;
    }
    let iu = (u * s + (p / 2) as f64).floor();
    let iv = (v * s).floor();
    if iu < 0.0 || iu >= p as f64 || iv >= (p / 2) as f64 {
        None
    } else {
        Some(iv as usize * p + iu as usize)
    }
}

/// Imaging weights (row × channel) for `vis` on an image of `npix` pixels of
/// `cell_rad` (WSClean's definitions, module docs).
pub fn imaging_weights(
    vis: &ImagingVis,
    weighting: Weighting,
    npix: usize,
    cell_rad: f64,
) -> Result<Vec<f32>, ImagingError> {
    let nchan = vis.nchan();
    if let Weighting::Briggs { robust } = weighting {
        if !(-2.0..=2.0).contains(&robust) {
            return Err(ImagingError::InvalidParam {
                name: "robust",
                value: robust.to_string(),
                reason: "Briggs robustness must be in [−2, 2]".into(),
            });
        }
    }
    if weighting == Weighting::Natural {
        return Ok(vis.weight.clone());
    }
    let p = weight_grid_size(npix);
    let cell_of = |r: usize, c: usize| {
        let uvw = vis.uvw_m[r];
        let k = vis.freq_hz[c] / C_M_S;
        uv_cell(uvw[0] * k, uvw[1] * k, p, cell_rad)
    };
    // the weight density: each thread sums its share of the rows on a grid of
    // its own, then the grids are added (a full group: 27 M visibilities)
    let nrows = vis.nrows();
    let parts = rayon::current_num_threads().clamp(1, 4);
    let sum_rows = |rows: std::ops::Range<usize>| {
        let mut grid = vec![0f64; p * (p / 2)];
        for r in rows {
            for c in 0..nchan {
                let w = vis.weight[r * nchan + c];
                if w > 0.0 {
                    if let Some(i) = cell_of(r, c) {
                        grid[i] += w as f64;
                    }
                }
            }
        }
        grid
    };
    let mut partial: Vec<Vec<f64>> = (0..parts)
        .into_par_iter()
        .map(|k| sum_rows(k * nrows / parts..(k + 1) * nrows / parts))
        .collect();
    let mut grid = partial.pop().unwrap_or_else(|| vec![0f64; p * (p / 2)]);
    for other in &partial {
        grid.par_iter_mut()
            .zip(other.par_iter())
            .for_each(|(g, o)| *g += o);
    }
    drop(partial);
    let f2 = match weighting {
        Weighting::Briggs { robust } => {
            let sum_w2: f64 = grid.iter().map(|g| g * g).sum();
            let sum_w: f64 = grid.iter().sum();
            if sum_w2 > 0.0 {
                (5.0 * 10f64.powf(-robust)).powi(2) / (sum_w2 / sum_w)
            } else {
                0.0
            }
        }
        _ => 0.0,
    };
    let mut out = vec![0f32; vis.weight.len()];
    out.par_chunks_mut(nchan.max(1))
        .enumerate()
        .for_each(|(r, orow)| {
            for (c, o) in orow.iter_mut().enumerate() {
                let w = vis.weight[r * nchan + c];
                if w <= 0.0 {
                    continue;
                }
                let Some(cell) = cell_of(r, c) else {
                    continue;
                };
                let wc = grid[cell];
                *o = match weighting {
                    Weighting::Uniform => (w as f64 / wc) as f32,
                    Weighting::Briggs { .. } => (w as f64 / (1.0 + wc * f2)) as f32,
                    Weighting::Natural => w,
                };
            }
        });
    Ok(out)
}
