//! w-gridding and degridding with the ES kernel (the scheme of ducc0's
//! wgridder, Arras et al. 2021): visibilities are spread over `W × W` uv cells
//! and over `W_w` w-planes; each plane is Fourier transformed, multiplied by
//! `exp(−2πi w_p (n−1−c))` and summed; the image is divided by the kernels'
//! Fourier transforms in u, v and w. Unlike ducc0, the w-kernel has its own
//! oversampling and support ([`choose_w_kernel`]): on a full group 5 planes a
//! visibility instead of 6.
//!
//! Convention (WSClean's): `V = Σ S exp(+2πi(u l + v m + w(n−1)))` with the
//! MS's UVW; pixel `(x, y)` is at `l = (N/2 − x)Δ`, `m = (y − N/2)Δ`.

use std::f64::consts::PI;

use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use rustfft::{Fft, FftDirection, FftPlanner};

use crate::kernel::EsKernel;
use crate::{ImagingError, ImagingVis};

const C_M_S: f64 = 299_792_458.0;

/// The grid oversampling σ a caller may ask for ([`GridConfig::sigma`]).
pub const SIGMA_RANGE: std::ops::RangeInclusive<f64> = 1.2..=4.0;

/// What the gridder needs to know.
#[derive(Clone, Debug)]
pub struct GridConfig {
    /// Image side (pixels, even).
    pub npix: usize,
    /// Pixel size (rad).
    pub cell_rad: f64,
    /// Requested accuracy ε of gridding/degridding (relative to the peak).
    pub eps: f64,
    /// Grid oversampling factor σ (1.2…4), or `None`: chosen per image and data
    /// in [1.5, 2] by a cost model (with the kernel support that keeps ε).
    pub sigma: Option<f64>,
    /// Apply the w-term correction (true) or ignore w entirely (false).
    pub wcorr: bool,
    /// The w-kernel's oversampling σ_w (the w-planes' spacing, 1.2…8), or
    /// `None`: chosen by the cost model ([`choose_w_kernel`]). Its support is
    /// the smallest that keeps the error ε leaves to w.
    pub w_sigma: Option<f64>,
}

#[derive(Clone, Copy, Debug)]
struct WPlanes {
    /// w of plane 0 (wavelengths).
    w0: f64,
    /// Plane spacing (wavelengths).
    dw: f64,
    nplanes: usize,
    /// Shift `c` of (n − 1): the middle of its range over the image.
    nshift: f64,
}

/// A gridder for one image geometry and one set of visibilities' (u, v, w).
#[derive(Debug)]
pub struct Gridder {
    n: usize,
    nu: usize,
    sigma: f64,
    cell: f64,
    kernel: EsKernel,
    /// The kernel over w ([`choose_w_kernel`]): its own oversampling σ_w (the
    /// w-planes' spacing) and support, which may be narrower than the uv
    /// kernel's.
    wkernel: EsKernel,
    corr: Vec<f64>,
    w: Option<WPlanes>,
    /// Distance between grid rows in the band buffers (cells): `nu` plus one
    /// cache line. With `nu` a power of two, rows `nu` cells apart share their
    /// cache sets, and a kernel footprint's W rows (times the streams gridded
    /// together) evict one another from L1 and L2 on every visibility.
    stride: usize,
    /// Grid rows `[lo, hi)` that any visibility's kernel reaches.
    vband: (usize, usize),
    /// Unflagged visibilities that fall outside the uv grid (not imaged).
    pub n_dropped: usize,
    /// The channel spacing (Hz) when the channels are evenly spaced: the w-shift
    /// phasor is then stepped from channel to channel instead of evaluated.
    df_hz: Option<f64>,
    /// The rows in the order the grid and degrid passes visit them: by the grid
    /// tile of their middle channel (see [`Gridder::row_order`]).
    order: Vec<u32>,
    /// Per row: its unflagged channels (baseline-dependent averaging leaves
    /// short baselines a few of them), for balancing the grid bands' work.
    row_nnz: Vec<u32>,
    /// The band grids, kept from one pass to the next.
    pool: GridPool,
    /// Per-pixel factors of the grid passes, computed at the first.
    quad: std::sync::OnceLock<Quadrants>,
}

/// What a grid pass multiplies its image planes by, for one quadrant
/// (`[|x − N/2|][|y − N/2|]`: both depend on |l| and |m| only), computed once per
/// gridder instead of once per pass (0.12–0.17 s of `sincos` a pass on a full
/// group, and the correction's divisions per pixel).
struct Quadrants {
    /// 1 / the kernel's transform in x, y and (with w-correction) n − 1: what a
    /// grid pass multiplies its image by, and a degrid its model.
    inv_corr: Vec<f64>,
    /// The w-phase of plane 0 and its step from plane to plane (empty without
    /// w-correction).
    phase0: Vec<Complex32>,
    step: Vec<Complex32>,
}

impl std::fmt::Debug for Quadrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Quadrants({} pixels)", self.inv_corr.len())
    }
}

/// Band grids kept from one grid or degrid pass to the next. A full group's
/// are a few hundred MB each, and allocated afresh for every pass (the PSF and
/// the dirty image, then per major cycle a grid and a degrid per drift chunk)
/// their pages were faulted in and zeroed by the kernel each time: a tenth of
/// the CPU time of CLEAN on a full group. Freed with the gridder.
#[derive(Default)]
struct GridPool(std::sync::Mutex<Vec<Vec<Complex32>>>);

impl std::fmt::Debug for GridPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.lock().map(|v| v.len()).unwrap_or(0);
        write!(f, "GridPool({kept} band grids kept)")
    }
}

impl GridPool {
    /// `count` band grids of `len` cells each (their contents unspecified:
    /// every pass zeroes its grids); grids kept beyond `count` are freed, so the
    /// pool holds no more than the last pass used.
    fn take(&self, count: usize, len: usize) -> PooledGrids<'_> {
        let mut kept = self
            .0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let grids = (0..count)
            .map(|_| match kept.pop() {
                Some(g) if g.len() == len => g,
                // written on both cores (see `crate::buf::zeros`)
                _ => crate::buf::zeros(len, Complex32::new(0.0, 0.0)),
            })
            .collect();
        PooledGrids { pool: self, grids }
    }
}

/// Band grids lent by a [`GridPool`], given back to it when dropped.
struct PooledGrids<'a> {
    pool: &'a GridPool,
    grids: Vec<Vec<Complex32>>,
}

impl std::ops::Deref for PooledGrids<'_> {
    type Target = Vec<Vec<Complex32>>;
    fn deref(&self) -> &Self::Target {
        &self.grids
    }
}

impl std::ops::DerefMut for PooledGrids<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.grids
    }
}

impl Drop for PooledGrids<'_> {
    fn drop(&mut self) {
        // a poisoned pool keeps nothing: the next pass allocates afresh
        if let Ok(mut kept) = self.pool.0.lock() {
            kept.append(&mut self.grids);
        }
    }
}

fn good_size(n: usize) -> usize {
    // smallest m ≥ n, even, of the form 2^a 3^b 5^c 7^d
    let mut m = n + (n & 1);
    loop {
        let mut k = m;
        for p in [2, 3, 5, 7] {
            while k % p == 0 {
                k /= p;
            }
        }
        if k == 1 {
            return m;
        }
        m += 2;
    }
}

/// A row's (u, v, w) folded onto v ≥ 0: `(−u, −v, −w)` and `true` (its
/// visibilities conjugated) when v < 0. The image is real (`Re` of the sum), so a
/// visibility and its conjugate at the opposite baseline image alike; folded,
/// the data occupy half the grid's rows, and the row FFTs halve.
#[inline]
fn fold(uvw: &[f64; 3]) -> ([f64; 3], bool) {
    if uvw[1] < 0.0 {
        ([-uvw[0], -uvw[1], -uvw[2]], true)
    } else {
        (*uvw, false)
    }
}

/// Direction cosines (l, m) of pixel (x, y) of an `n`-pixel image with pixel
/// `cell` (rad): l grows to the east (decreasing x), m to the north.
#[inline]
fn lm(n: usize, cell: f64, x: usize, y: usize) -> (f64, f64) {
    (
        (n as f64 / 2.0 - x as f64) * cell,
        (y as f64 - n as f64 / 2.0) * cell,
    )
}

/// `n − 1` at pixel (x, y), computed stably.
#[inline]
fn nm1(n: usize, cell: f64, x: usize, y: usize) -> f64 {
    let (l, m) = lm(n, cell, x, y);
    let r2 = l * l + m * m;
    if r2 >= 1.0 {
        return -1.0;
    }
    -r2 / (1.0 + (1.0 - r2).sqrt())
}

/// The grid side for image side `n` at oversampling σ with kernel support `w`.
fn grid_side(n: usize, sigma: f64, w: usize) -> usize {
    good_size((n as f64 * sigma).ceil() as usize).max(n + 2 * w)
}

/// What the cost of a grid or degrid pass depends on, from one pass over the rows.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Range of w over rows with any weight (wavelengths).
    w_range: f64,
    /// Half the range of (n − 1) over the image.
    n_half_range: f64,
    /// Extent of v·cell over rows with any weight (fraction of the grid side).
    v_frac: f64,
    /// Unflagged visibilities.
    nvis: f64,
}

impl Geometry {
    fn of(vis: &ImagingVis, cfg: &GridConfig) -> Self {
        let nchan = vis.nchan();
        let (fmin, fmax) = (vis.freq_hz[0], vis.freq_hz[nchan - 1]);
        let (mut wmin, mut wmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut vmin, mut vmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut nvis = 0usize;
        for (r, uvw) in vis.uvw_m.iter().enumerate() {
            let (uvw, _) = fold(uvw);
            let good = vis.weight[r * nchan..(r + 1) * nchan]
                .iter()
                .filter(|w| **w > 0.0)
                .count();
            if good == 0 {
                continue;
            }
            nvis += good;
            for f in [fmin, fmax] {
                let (v, w) = (uvw[1] * f / C_M_S, uvw[2] * f / C_M_S);
                wmin = wmin.min(w);
                wmax = wmax.max(w);
                vmin = vmin.min(v);
                vmax = vmax.max(v);
            }
        }
        let n = cfg.npix;
        let nmin = nm1(n, cfg.cell_rad, 0, 0).min(nm1(n, cfg.cell_rad, n - 1, n - 1));
        let finite = wmin.is_finite();
        Self {
            w_range: if finite { wmax - wmin } else { 0.0 },
            n_half_range: 0.5 * nmin.abs(),
            v_frac: if finite {
                ((vmax - vmin) * cfg.cell_rad).min(1.0)
            } else {
                0.0
            },
            nvis: nvis as f64,
        }
    }
}

/// The oversampling σ in [1.5, 2] of least estimated cost for one grid pass
/// plus one degrid pass, each σ with the support [`EsKernel::design`] gives
/// for ε. A smaller σ shrinks the FFTs (rows × columns ∝ σ², and fewer rows
/// hold data) but widens the kernel (W² per visibility and w-plane reached)
/// and, with w-correction, spaces the w-planes closer (their number ∝ σ + W).
/// The cost of each σ is taken with a w-kernel equal to its uv kernel (the
/// w-kernel is chosen afterwards, [`choose_w_kernel`], and only lowers it).
fn choose_sigma(cfg: &GridConfig, geom: &Geometry) -> f64 {
    // Not below 1.5: the grids are f32, and dividing by the kernel's transform
    // (u × v × w) at the field's edge amplifies their rounding; at σ = 1.25 the
    // wide-field test's error reaches 2e-4 of the peak whatever the support.
    const SIGMAS: [f64; 6] = [1.5, 1.6, 1.7, 1.8, 1.9, 2.0];
    let mut best = (f64::INFINITY, 2.0);
    for sigma in SIGMAS {
        let w = EsKernel::design_params(cfg.eps, sigma).0;
        let nu = grid_side(cfg.npix, sigma, w);
        let c = pass_cost(cfg, geom, nu, w, sigma, w);
        if c < best.0 {
            best = (c, sigma);
        }
    }
    best.1
}

/// Estimated cost of one grid pass plus one degrid pass on a grid of side `nu`
/// with a uv kernel of support `w_uv` and a w-kernel of support `w_w` at
/// oversampling `sigma_w`.
///
/// Per pass: w-planes × (FFT rows of the band and the image's columns, each
/// `nu log₂ nu`; the image's `n²` w-phase and accumulation) + visibilities × W²
/// (× the w-kernel's support with w-correction). The weights (an FFT's
/// `nu log₂ nu` unit ≈ 1, a pixel's w-phase ≈ 6, a kernel tap ≈ 4) are rough
/// estimates, not fitted to timings: refit them before relying on σ < 2 for
/// speed.
fn pass_cost(
    cfg: &GridConfig,
    geom: &Geometry,
    nu: usize,
    w_uv: usize,
    sigma_w: f64,
    w_w: usize,
) -> f64 {
    let (c_fft, c_pix, c_tap) = (1.0, 6.0, 4.0);
    let n = cfg.npix as f64;
    let nu = nu as f64;
    let (wf, ww) = (w_uv as f64, w_w as f64);
    let wcorr = cfg.wcorr && geom.w_range > 0.0;
    let nplanes = if wcorr {
        (geom.w_range * 2.0 * sigma_w * geom.n_half_range).ceil() + ww + 1.0
    } else {
        1.0
    };
    let band = (geom.v_frac * nu + wf + 3.0).min(nu);
    let fft = c_fft * (band + n) * nu * nu.log2();
    let per_plane = fft + c_pix * n * n;
    let taps = geom.nvis * wf * wf * if wcorr { ww } else { 1.0 };
    2.0 * (nplanes * per_plane + c_tap * taps)
}

/// Oversampling factors tried for the w-kernel ([`choose_w_kernel`]).
const W_SIGMAS: [f64; 6] = [2.0, 2.5, 3.0, 3.5, 4.0, 5.0];

/// The w-kernel oversampling a caller may ask for ([`GridConfig::w_sigma`]).
pub const W_SIGMA_RANGE: std::ops::RangeInclusive<f64> = 1.2..=8.0;

/// The kernel over w: the w-planes' spacing `1 / (2 σ_w · half range of n − 1)`
/// and the number of planes a visibility reaches (the support) are a choice of
/// their own, apart from the uv grid's σ. ε is the sum of the aliasing errors
/// in u, v and w: the uv kernel leaves `ε − 2 e_uv` to w (at σ = 2, ε = 1e-4 and
/// W = 6: 5.7e-5), and among [`W_SIGMAS`] (and the uv σ itself) the σ_w whose
/// smallest support within that error has the least [`pass_cost`] is taken. A
/// wider spacing of w (larger σ_w) adds planes, each an FFT of the band; a
/// narrower w-kernel takes a sixth (6 → 5) of every visibility's taps away. On a
/// full group at 4096² × 3″ (σ = 2, W = 6): σ_w 3, 5 planes a visibility, still
/// 10 planes; the grid passes' taps 3.7–3.8 s → 3.3 s. Small cases keep W in w
/// (too few visibilities to pay for more planes). [`GridConfig::w_sigma`] forces
/// σ_w. Without w-correction: the uv kernel (unused).
fn choose_w_kernel(cfg: &GridConfig, geom: &Geometry, uv: &EsKernel, nu: usize) -> EsKernel {
    if !(cfg.wcorr && geom.w_range > 0.0) {
        return uv.clone();
    }
    // the uv kernel's error, from the design that made it (cached)
    let e_uv = EsKernel::design_for_error(EsKernel::per_dimension_error(cfg.eps), uv.sigma).2;
    let target = (cfg.eps - 2.0 * e_uv).max(cfg.eps / 3.0);
    if let Some(sigma_w) = cfg.w_sigma {
        let (w, beta, _) = EsKernel::design_for_error(target, sigma_w);
        return EsKernel::new(w, beta, sigma_w);
    }
    let mut best: (f64, f64, usize, f64) = (
        pass_cost(cfg, geom, nu, uv.support, uv.sigma, uv.support),
        uv.sigma,
        uv.support,
        uv.beta,
    );
    for sigma_w in W_SIGMAS {
        let (w, beta, err) = EsKernel::design_for_error(target, sigma_w);
        if err > target || !SUPPORTS.contains(&w) {
            continue;
        }
        let c = pass_cost(cfg, geom, nu, uv.support, sigma_w, w);
        if c < best.0 {
            best = (c, sigma_w, w, beta);
        }
    }
    if best.1 == uv.sigma && best.2 == uv.support {
        return uv.clone();
    }
    EsKernel::new(best.2, best.3, best.1)
}

/// Per channel: grid cells per metre of u or v (`f/c · Δ · nu`) and
/// wavelengths per metre (`f/c`), computed once per pass instead of divided out
/// per visibility and w-plane.
struct ChanScale {
    uv: Vec<f64>,
    wl: Vec<f64>,
}

impl ChanScale {
    fn new(g: &Gridder, vis: &ImagingVis) -> Self {
        Self {
            uv: vis
                .freq_hz
                .iter()
                .map(|f| f / C_M_S * g.cell * g.nu as f64)
                .collect(),
            wl: vis.freq_hz.iter().map(|f| f / C_M_S).collect(),
        }
    }
}

/// The w-shift phasors of one row's channels from `c0` on, one per call to
/// [`Phasors::at`] in channel order: stepped by one multiplication when the
/// channels are evenly spaced, computed afresh otherwise.
struct Phasors<'a> {
    g: &'a Gridder,
    w_m: f64,
    freq_hz: &'a [f64],
    sign: f64,
    cur: Complex64,
    step: Option<Complex64>,
}

impl<'a> Phasors<'a> {
    fn new(g: &'a Gridder, w_m: f64, freq_hz: &'a [f64], c0: usize, sign: f64) -> Self {
        let (cur, step) = g.shift_phasor(w_m, freq_hz[c0], sign);
        Self {
            g,
            w_m,
            freq_hz,
            sign,
            cur,
            step,
        }
    }

    /// The phasor of channel `c` (the next one after the previous call's).
    #[inline(always)]
    fn at(&mut self, c: usize) -> Complex64 {
        match self.step {
            Some(st) => {
                let v = self.cur;
                self.cur *= st;
                v
            }
            None => self.g.shift_phasor(self.w_m, self.freq_hz[c], self.sign).0,
        }
    }
}

/// Most w-planes gridded (or degridded) in one pass over the visibilities: a
/// visibility's position, uv-kernel weights and value serve all the group's
/// planes it reaches (each reaches W of them), at the cost of one band grid per
/// plane of the group (and stream) held at once. A full group's 10 planes at
/// W = 6 go in two passes of 5, each visibility visited twice; in pairs (five
/// passes) each was visited three or four times. Interleaved A/B on the chain's
/// target group (`dsa110-tools image`, 2026-12-03): 2 → 5 took 12-15 % off the
/// CPU time (user 162.9 / 145.8 → 139.7 / 124.2 s), the same image, +380 MB peak
/// RSS; 10 (one pass) was no faster than 5 and held 300 MB more.
const PLANE_GROUP: usize = 5;

/// The band grids one pass may hold for its plane group (all streams): a full
/// group's band (≈ 1000 rows of an 8192² grid, 63 MB a plane) takes groups of
/// 5 with two streams; an array whose band is the whole grid keeps pairs.
const GROUP_BUDGET_BYTES: usize = 1 << 30;

/// [`Gridder::plane_groups`] of `np` planes, at most `max_group` a pass.
fn plane_groups(np: usize, max_group: usize) -> Vec<(usize, usize)> {
    let passes = np.div_ceil(max_group.max(1)).max(1);
    let (base, extra) = (np / passes, np % passes);
    let mut p0 = 0;
    (0..passes)
        .map(|i| {
            let ng = base + usize::from(i < extra);
            let g = (p0, ng);
            p0 += ng;
            g
        })
        .filter(|g| g.1 > 0)
        .collect()
}

/// A row's channel range on each plane of a group (empty for planes past the
/// group's end) and the range they span together.
type RowRanges = ([(usize, usize); PLANE_GROUP], (usize, usize));

/// Padding of the band buffers' rows (cells: one 64-byte cache line).
const ROW_PAD: usize = 8;

/// Kernel supports the tap loops are compiled for ([`EsKernel::design`] keeps
/// the support in this range; [`Gridder::new`] checks it).
const SUPPORTS: std::ops::RangeInclusive<usize> = 4..=16;

/// A model column with at most this many non-zero pixels has its band rows summed
/// directly (per pixel, a phasor stepped along the band: 1326 rows on a full
/// group) instead of by an FFT over the whole grid column (8192 points). CLEAN's
/// last cycle spreads its components thinly (12 971 components in 2151 columns
/// on the chain's target group): with this and the columns' pixels listed in one
/// pass over the model, its model planes took 0.26 s a drift chunk instead of
/// 0.61–0.77 s.
const DIRECT_COLUMN: usize = 8;

/// Evaluate `$call` with the const `W` equal to the run-time support `$w` (one
/// of [`SUPPORTS`]; any other does nothing, and `Gridder::new` refuses it).
macro_rules! with_support {
    ($w:expr, |$W:ident| $call:expr) => {
        match $w {
            4 => {
                const $W: usize = 4;
                $call
            }
            5 => {
                const $W: usize = 5;
                $call
            }
            6 => {
                const $W: usize = 6;
                $call
            }
            7 => {
                const $W: usize = 7;
                $call
            }
            8 => {
                const $W: usize = 8;
                $call
            }
            9 => {
                const $W: usize = 9;
                $call
            }
            10 => {
                const $W: usize = 10;
                $call
            }
            11 => {
                const $W: usize = 11;
                $call
            }
            12 => {
                const $W: usize = 12;
                $call
            }
            13 => {
                const $W: usize = 13;
                $call
            }
            14 => {
                const $W: usize = 14;
                $call
            }
            15 => {
                const $W: usize = 15;
                $call
            }
            16 => {
                const $W: usize = 16;
                $call
            }
            _ => {}
        }
    };
}

impl Gridder {
    /// Set up the grid for `vis` (its w range decides the w-planes).
    pub fn new(cfg: &GridConfig, vis: &ImagingVis) -> Result<Self, ImagingError> {
        let n = cfg.npix;
        if n < 16 || n % 2 != 0 {
            return Err(ImagingError::InvalidParam {
                name: "size",
                value: n.to_string(),
                reason: "must be even and ≥ 16".into(),
            });
        }
        if !(cfg.cell_rad > 0.0 && cfg.cell_rad * n as f64 / 2.0 < 1.0) {
            return Err(ImagingError::InvalidParam {
                name: "scale",
                value: format!("{} rad", cfg.cell_rad),
                reason: "pixel size must be > 0 and the field smaller than the sky".into(),
            });
        }
        if let Some(sigma) = cfg.sigma {
            if !SIGMA_RANGE.contains(&sigma) {
                return Err(ImagingError::InvalidParam {
                    name: "sigma",
                    value: sigma.to_string(),
                    reason: "grid oversampling must be in [1.2, 4]".into(),
                });
            }
        }
        if let Some(ws) = cfg.w_sigma {
            if !W_SIGMA_RANGE.contains(&ws) {
                return Err(ImagingError::InvalidParam {
                    name: "w_sigma",
                    value: ws.to_string(),
                    reason: format!("the w-kernel's oversampling must be in {W_SIGMA_RANGE:?}"),
                });
            }
        }
        let geom = Geometry::of(vis, cfg);
        let sigma = match cfg.sigma {
            Some(s) => s,
            None => choose_sigma(cfg, &geom),
        };
        let kernel = EsKernel::design(cfg.eps, sigma);
        if !SUPPORTS.contains(&kernel.support) {
            return Err(ImagingError::InvalidParam {
                name: "eps",
                value: cfg.eps.to_string(),
                reason: format!(
                    "needs a kernel support of {} cells, outside {SUPPORTS:?}",
                    kernel.support
                ),
            });
        }
        let nu = grid_side(n, sigma, kernel.support);
        let corr: Vec<f64> = (0..n)
            .map(|x| kernel.ft((x as f64 - n as f64 / 2.0) / nu as f64))
            .collect();
        let wkernel = choose_w_kernel(cfg, &geom, &kernel, nu);
        if !SUPPORTS.contains(&wkernel.support) {
            return Err(ImagingError::InvalidParam {
                name: "w_sigma",
                value: format!("{}", wkernel.sigma),
                reason: format!(
                    "the w-kernel needs a support of {} planes, outside {SUPPORTS:?}",
                    wkernel.support
                ),
            });
        }
        let mut g = Self {
            n,
            nu,
            sigma,
            cell: cfg.cell_rad,
            kernel,
            wkernel,
            corr,
            w: None,
            vband: (0, 0),
            n_dropped: 0,
            df_hz: None,
            order: Vec::new(),
            row_nnz: Vec::new(),
            stride: nu + ROW_PAD,
            pool: GridPool::default(),
            quad: std::sync::OnceLock::new(),
        };
        let nchan = vis.nchan();
        if nchan >= 2 {
            let df = (vis.freq_hz[nchan - 1] - vis.freq_hz[0]) / (nchan - 1) as f64;
            let even = vis
                .freq_hz
                .windows(2)
                .all(|w| ((w[1] - w[0]) - df).abs() <= 1e-9 * df.abs());
            g.df_hz = even.then_some(df);
        }
        let (fmin, fmax) = (vis.freq_hz[0], vis.freq_hz[nchan - 1]);
        // w range over rows with any weight, and dropped visibilities
        let mut wmin = f64::INFINITY;
        let mut wmax = f64::NEG_INFINITY;
        let mut dropped = 0usize;
        let (mut gvmin, mut gvmax) = (f64::INFINITY, f64::NEG_INFINITY);
        g.row_nnz = vis
            .weight
            .chunks(nchan)
            .map(|w| w.iter().filter(|x| **x > 0.0).count() as u32)
            .collect();
        for (r, uvw) in vis.uvw_m.iter().enumerate() {
            let (uvw, _) = fold(uvw);
            let uvw = &uvw;
            let wts = &vis.weight[r * nchan..(r + 1) * nchan];
            if g.row_nnz[r] == 0 {
                continue;
            }
            for f in [fmin, fmax] {
                let w = uvw[2] * f / C_M_S;
                wmin = wmin.min(w);
                wmax = wmax.max(w);
            }
            for (c, wt) in wts.iter().enumerate() {
                if *wt > 0.0 {
                    match g.uv_pos(uvw, vis.freq_hz[c]) {
                        None => dropped += 1,
                        Some((_, gv)) => {
                            gvmin = gvmin.min(gv);
                            gvmax = gvmax.max(gv);
                        }
                    }
                }
            }
        }
        g.n_dropped = dropped;
        g.order = g.row_order(vis);
        let half_sup = g.kernel.support as f64 / 2.0 + 1.0;
        g.vband = if gvmin.is_finite() {
            (
                ((gvmin - half_sup).floor().max(0.0)) as usize,
                ((gvmax + half_sup).ceil() as usize + 1).min(nu),
            )
        } else {
            (nu / 2, nu / 2 + 1)
        };
        if cfg.wcorr && wmin.is_finite() {
            // (n − 1) over the image: from its minimum (a corner) to 0
            let nmin = nm1(n, cfg.cell_rad, 0, 0).min(nm1(n, cfg.cell_rad, n - 1, n - 1));
            let nshift = 0.5 * nmin;
            let half_range = 0.5 * nmin.abs();
            let dw = 1.0 / (2.0 * g.wkernel.sigma * half_range.max(1e-12));
            let sup = g.wkernel.support;
            let nplanes = ((wmax - wmin) / dw).ceil() as usize + sup + 1;
            let w0 = 0.5 * (wmin + wmax) - 0.5 * (nplanes as f64 - 1.0) * dw;
            g.w = Some(WPlanes {
                w0,
                dw,
                nplanes,
                nshift,
            });
        }
        Ok(g)
    }

    /// The rows of `vis`, sorted by the grid tile (32 × 32 cells)
    /// of their middle channel, tiles row by row. Rows come from the MS time by
    /// time, so neighbours in it are different baselines far apart on the grid:
    /// visited in that order, every row's kernel footprint misses the caches.
    /// Sorted, the next row is mostly the same baseline one integration later,
    /// a cell or so away, and its footprint is still cached.
    fn row_order(&self, vis: &ImagingVis) -> Vec<u32> {
        const TILE: f64 = 32.0;
        let nchan = vis.nchan();
        let f_mid = vis.freq_hz[nchan / 2];
        let half = self.nu as f64 / 2.0;
        let s = f_mid / C_M_S * self.cell * self.nu as f64;
        let mut keyed: Vec<(u64, u32)> = vis
            .uvw_m
            .iter()
            .enumerate()
            .map(|(r, uvw)| {
                let (uvw, _) = fold(uvw);
                let tu = ((-uvw[0] * s + half) / TILE).max(0.0) as u64;
                let tv = ((uvw[1] * s + half) / TILE).max(0.0) as u64;
                ((tv << 32) | tu, r as u32)
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, r)| r).collect()
    }

    /// The rows a pass visits, in [`Gridder::row_order`] (in their own order
    /// for visibilities with another number of rows than those the gridder was
    /// made for).
    fn rows<'a>(&'a self, vis: &ImagingVis) -> Box<dyn Iterator<Item = usize> + 'a> {
        if self.order.len() == vis.nrows() {
            Box::new(self.order.iter().map(|&r| r as usize))
        } else {
            Box::new(0..vis.nrows())
        }
    }

    /// Oversampled grid side.
    pub fn grid_size(&self) -> usize {
        self.nu
    }
    /// Grid oversampling factor σ used (given or chosen).
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    /// Kernel support W.
    pub fn support(&self) -> usize {
        self.kernel.support
    }
    /// The w-kernel's support (planes a visibility reaches) and oversampling σ_w.
    pub fn w_kernel(&self) -> (usize, f64) {
        (self.wkernel.support, self.wkernel.sigma)
    }
    /// Number of w-planes (1 without w-correction).
    pub fn nplanes(&self) -> usize {
        self.w.map_or(1, |w| w.nplanes)
    }

    /// Grid position (fractional cell indices) of a visibility, or None if its
    /// kernel footprint leaves the grid.
    #[inline]
    fn uv_pos(&self, uvw: &[f64; 3], f_hz: f64) -> Option<(f64, f64)> {
        self.uv_pos_scaled(uvw, f_hz / C_M_S * self.cell * self.nu as f64)
    }

    /// [`Gridder::uv_pos`] with the channel's grid cells per metre `s` (see
    /// [`ChanScale`]).
    #[inline(always)]
    fn uv_pos_scaled(&self, uvw: &[f64; 3], s: f64) -> Option<(f64, f64)> {
        let half = self.nu as f64 / 2.0;
        let gu = -uvw[0] * s + half;
        let gv = uvw[1] * s + half;
        let lim = self.kernel.support as f64 / 2.0 + 1.0;
        if gu < lim || gv < lim || gu > self.nu as f64 - lim || gv > self.nu as f64 - lim {
            None
        } else {
            Some((gu, gv))
        }
    }

    /// The w-shift phasors `exp(±2πi w_λ c)` of a row's channels `c0..`: the first
    /// and the step from one channel to the next (None: not evenly spaced).
    #[inline]
    fn shift_phasor(&self, w_m: f64, f_hz: f64, sign: f64) -> (Complex64, Option<Complex64>) {
        let Some(wp) = self.w else {
            return (Complex64::new(1.0, 0.0), None);
        };
        let k = sign * 2.0 * PI * w_m / C_M_S * wp.nshift;
        (
            Complex64::from_polar(1.0, k * f_hz),
            self.df_hz.map(|df| Complex64::from_polar(1.0, k * df)),
        )
    }

    /// The w-kernel of plane `(w_p, 1/Δw)` at `w_lambda` (wavelengths) times the
    /// shift phasor `shc`: the factor a visibility carries onto (or from) that plane.
    #[inline(always)]
    fn w_factor(&self, shc: Complex64, w_lambda: f64, (w_p, inv_dw): (f64, f64)) -> Complex32 {
        let ph = shc * self.wkernel.eval_table((w_lambda - w_p) * inv_dw);
        Complex32::new(ph.re as f32, ph.im as f32)
    }

    /// Channel range of `row` whose w-kernel reaches plane `p`.
    fn chan_range(&self, vis: &ImagingVis, w_m: f64, p: usize) -> (usize, usize) {
        let nchan = vis.nchan();
        let Some(wp) = self.w else {
            return (0, nchan);
        };
        let w_p = wp.w0 + p as f64 * wp.dw;
        let half = wp.dw * self.wkernel.support as f64 / 2.0;
        let (lo, hi) = (w_p - half, w_p + half);
        // w(f) = w_m f / c, monotonic in f; channels ascending
        if w_m == 0.0 {
            return if lo < 0.0 && hi > 0.0 {
                (0, nchan)
            } else {
                (0, 0)
            };
        }
        let (flo, fhi) = if w_m > 0.0 {
            (lo * C_M_S / w_m, hi * C_M_S / w_m)
        } else {
            (hi * C_M_S / w_m, lo * C_M_S / w_m)
        };
        let a = vis.freq_hz.partition_point(|f| *f <= flo);
        let b = vis.freq_hz.partition_point(|f| *f < fhi);
        (a, b.max(a))
    }

    /// The passes' plane groups `(first plane, planes)` for a pass of `streams`
    /// streams: groups of at most [`PLANE_GROUP`] planes whose band grids fit in
    /// [`GROUP_BUDGET_BYTES`] (but pairs at least, as before), as few passes as
    /// that allows, their sizes balanced (10 planes: 5 + 5; 11: 4 + 4 + 3).
    fn plane_groups(&self, streams: usize) -> Vec<(usize, usize)> {
        let band_bytes =
            (self.vband.1 - self.vband.0) * self.stride * std::mem::size_of::<Complex32>();
        let fits = GROUP_BUDGET_BYTES / (band_bytes * streams.max(1)).max(1);
        plane_groups(self.nplanes(), fits.clamp(2, PLANE_GROUP))
    }

    /// Per plane of the group of `ng` planes from `p0`: its w and 1/Δw (None
    /// without w-correction).
    fn plane_params(&self, p0: usize, ng: usize) -> [Option<(f64, f64)>; PLANE_GROUP] {
        std::array::from_fn(|g| {
            self.w
                .filter(|_| g < ng)
                .map(|wp| (wp.w0 + (p0 + g) as f64 * wp.dw, 1.0 / wp.dw))
        })
    }

    /// [`Gridder::chan_range`] of each plane of the group of `ng` planes from
    /// `p0`, and the range they span together (empty when none reaches a plane).
    #[inline]
    fn chan_ranges(&self, vis: &ImagingVis, w_m: f64, p0: usize, ng: usize) -> RowRanges {
        let mut ranges = [(0usize, 0usize); PLANE_GROUP];
        let (mut lo, mut hi) = (usize::MAX, 0usize);
        for (g, rg) in ranges.iter_mut().enumerate().take(ng) {
            *rg = self.chan_range(vis, w_m, p0 + g);
            if rg.0 < rg.1 {
                lo = lo.min(rg.0);
                hi = hi.max(rg.1);
            }
        }
        (ranges, if lo < hi { (lo, hi) } else { (0, 0) })
    }

    /// `Σ_k wt_k V_k exp(−2πi(u l + v m + w(n−1)))` on the image (row-major
    /// `[y][x]`), unnormalised; `data = None` grids the weights (the PSF).
    ///
    /// Per w-plane: grid the band of grid rows that holds data, FFT those rows,
    /// then FFT the N kept columns in blocks, multiplying by the plane's
    /// w-phase and accumulating into a transposed image.
    pub fn grid_image(&self, vis: &ImagingVis, data: Option<&[Complex32]>, wt: &[f32]) -> Vec<f64> {
        let [img] = self.grid_images(vis, [data], wt);
        img
    }

    /// The grid and degrid passes' per-pixel factors ([`Quadrants`]), computed at the first.
    fn quadrants(&self) -> &Quadrants {
        self.quad.get_or_init(|| {
            let (n, h) = (self.n, self.n / 2);
            let side = h + 1;
            let inv_corr = (0..side * side)
                .into_par_iter()
                .map(|i| {
                    let (x, y) = (h - i / side, h - i % side);
                    let mut c = self.corr[x] * self.corr[y];
                    if let Some(wp) = self.w {
                        c *= self
                            .wkernel
                            .ft(wp.dw * (nm1(n, self.cell, x, y) - wp.nshift));
                    }
                    1.0 / c
                })
                .collect();
            let (phase0, step) = match self.w {
                Some(wp) => (self.quad_phase(wp.w0, wp), self.quad_phase(wp.dw, wp)),
                None => (Vec::new(), Vec::new()),
            };
            Quadrants {
                inv_corr,
                phase0,
                step,
            }
        })
    }

    /// `exp(−2πi wv (n − 1 − nshift))` for one quadrant, `[|x − N/2|][|y − N/2|]`.
    fn quad_phase(&self, wv: f64, wp: WPlanes) -> Vec<Complex32> {
        let (n, h) = (self.n, self.n / 2);
        (0..(h + 1) * (h + 1))
            .into_par_iter()
            .map(|i| {
                let (ax, ay) = (i / (h + 1), i % (h + 1));
                let xn = nm1(n, self.cell, h - ax, h + ay) - wp.nshift;
                let (s, c) = (-2.0 * PI * wv * xn).sin_cos();
                Complex32::new(c as f32, s as f32)
            })
            .collect()
    }

    /// [`Gridder::grid_image`] of several streams at once (e.g. the weights for
    /// the PSF and the data for the dirty image), in one pass over the
    /// visibilities: each visibility's kernel weights and w-kernel are computed
    /// once for all streams. One image per stream, in order.
    pub fn grid_images<const S: usize>(
        &self,
        vis: &ImagingVis,
        streams: [Option<&[Complex32]>; S],
        wt: &[f32],
    ) -> [Vec<f64>; S] {
        let (n, nu, stride) = (self.n, self.nu, self.stride);
        let (vlo, vhi) = self.vband;
        let nband = vhi - vlo;
        let h = n / 2;
        let t_setup = std::time::Instant::now();
        let mut imgs_t: [Vec<f64>; S] = std::array::from_fn(|_| crate::buf::zeros(n * n, 0f64)); // [x][y]
        let groups = self.plane_groups(S);
        let group = groups.iter().map(|g| g.1).max().unwrap_or(1);
        // one band grid per (plane of the group, stream): index g·S + s
        let imgs_s = t_setup.elapsed().as_secs_f64();
        let mut grids = self.pool.take(group * S, nband * stride);
        let pool_s = t_setup.elapsed().as_secs_f64() - imgs_s;
        let mut planner = FftPlanner::<f32>::new();
        let fft = planner.plan_fft(nu, FftDirection::Forward);
        // The w-phase depends on (n − 1), i.e. on |l| and |m| only: kept for one
        // quadrant (a quarter of the image's memory traffic per plane); the
        // current plane's and the per-plane step.
        let t_quad = std::time::Instant::now();
        let quad = self.quadrants();
        let quad_s = t_quad.elapsed().as_secs_f64();
        let mut phase = quad.phase0.clone();
        let step = &quad.step;
        let setup_s = t_setup.elapsed().as_secs_f64();
        let (mut t_grid, mut t_fft) = (0.0, 0.0);
        for (p0, ng) in groups {
            let t0 = std::time::Instant::now();
            self.grid_planes(vis, &streams, wt, p0, ng, &mut grids[..ng * S]);
            t_grid += t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            for (gi, plane_grids) in grids[..ng * S].chunks_mut(S).enumerate() {
                let p = p0 + gi;
                if let (true, Some(wp)) = (p > 0, self.w) {
                    // exact phases every 8 planes, the running product otherwise
                    if p % 8 == 0 {
                        phase = self.quad_phase(wp.w0 + p as f64 * wp.dw, wp);
                    } else {
                        phase
                            .par_iter_mut()
                            .zip(step.par_iter())
                            .for_each(|(ph, st)| *ph *= *st);
                    }
                }
                for (grid, img_t) in plane_grids.iter_mut().zip(imgs_t.iter_mut()) {
                    self.transform_plane(grid, img_t, &phase, &*fft);
                }
            }
            t_fft += t1.elapsed().as_secs_f64();
        }
        let t_post = std::time::Instant::now();
        // transpose back and correct by the kernel's Fourier transform, in blocks
        // of TB image rows (each column's TB values are neighbours in `img_t`)
        const TB: usize = 16;
        let side = h + 1;
        let out = imgs_t.map(|img_t| {
            let mut img = crate::buf::zeros(n * n, 0f64);
            img.par_chunks_mut(TB * n)
                .enumerate()
                .for_each(|(bi, rows)| {
                    let y0 = bi * TB;
                    let nr = rows.len() / n;
                    for x in 0..n {
                        let qx = x.abs_diff(h) * side;
                        let col = &img_t[x * n + y0..x * n + y0 + nr];
                        for (k, v) in col.iter().enumerate() {
                            rows[k * n + x] = v * quad.inv_corr[qx + (y0 + k).abs_diff(h)];
                        }
                    }
                });
            img
        });
        tracing::debug!(
            setup_s,
            imgs_s,
            pool_s,
            quad_s,
            grid_s = t_grid,
            fft_s = t_fft,
            post_s = t_post.elapsed().as_secs_f64(),
            streams = S,
            "grid pass"
        );
        out
    }

    /// One w-plane's band grid `grid` (gridded, rows `vband`) into the transposed
    /// image `img_t` (`[x][y]`, accumulated): FFT the band's rows, then FFT the N
    /// kept columns in blocks, multiplying by the plane's w-phase `phase` (one
    /// quadrant, `[|x − N/2|][|y − N/2|]`; empty without w-correction).
    fn transform_plane(
        &self,
        grid: &mut [Complex32],
        img_t: &mut [f64],
        phase: &[Complex32],
        fft: &dyn Fft<f32>,
    ) {
        let (n, nu, stride) = (self.n, self.nu, self.stride);
        let (vlo, vhi) = self.vband;
        let h = n / 2;
        // FFT the band's rows
        grid.par_chunks_mut(stride).for_each_init(
            || vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()],
            |scratch, row| fft.process_with_scratch(&mut row[..nu], scratch),
        );
        // kept columns px ∈ [−N/2, N/2): blocks of CB image columns x, gathered
        // row by row (CB neighbouring cells of a grid row at a time, not one
        // cell per row per column: the rows are nu cells apart)
        const CB: usize = 16;
        let grid: &[Complex32] = grid;
        let with_w = self.w.is_some();
        img_t.par_chunks_mut(CB * n).enumerate().for_each_init(
            || {
                (
                    vec![Complex32::new(0.0, 0.0); CB * stride],
                    vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()],
                )
            },
            |(buf, scratch), (bi, out)| {
                let x0 = bi * CB;
                let ncols = out.len() / n;
                let mut ixs = [0usize; CB];
                for (k, ix) in ixs.iter_mut().enumerate().take(ncols) {
                    let px = (x0 + k) as i64 - h as i64;
                    *ix = px.rem_euclid(nu as i64) as usize;
                }
                for k in 0..ncols {
                    let col = &mut buf[k * stride..k * stride + nu];
                    col[..vlo]
                        .iter_mut()
                        .for_each(|c| *c = Complex32::new(0.0, 0.0));
                    col[vhi..]
                        .iter_mut()
                        .for_each(|c| *c = Complex32::new(0.0, 0.0));
                }
                for (j, row) in grid.chunks_exact(stride).enumerate() {
                    for (k, ix) in ixs.iter().enumerate().take(ncols) {
                        buf[k * stride + vlo + j] = row[*ix];
                    }
                }
                for k in 0..ncols {
                    let col = &mut buf[k * stride..k * stride + nu];
                    fft.process_with_scratch(col, scratch);
                    let x = x0 + k;
                    let px = x as i64 - h as i64;
                    let qrow = x.abs_diff(h) * (h + 1);
                    let orow = &mut out[k * n..(k + 1) * n];
                    for (y, o) in orow.iter_mut().enumerate() {
                        let py = y as i64 - h as i64;
                        let mut v = col[py.rem_euclid(nu as i64) as usize];
                        if (px + py) & 1 != 0 {
                            v = -v;
                        }
                        if with_w {
                            v *= phase[qrow + y.abs_diff(h)];
                        }
                        *o += v.re as f64;
                    }
                }
            },
        );
    }

    /// Ends (exclusive, relative to `vband.0`) of up to `nbands` contiguous row
    /// bands holding about equal numbers of the visibilities of the planes whose
    /// channel ranges per row are `ranges` (counted at each row's centre channel on
    /// each plane, a kernel's width of rows around it).
    fn balanced_bands(&self, vis: &ImagingVis, ranges: &[RowRanges], nbands: usize) -> Vec<usize> {
        let nrows = self.vband.1 - self.vband.0;
        let sup = self.kernel.support;
        let mut count = vec![0u64; nrows + 1];
        let half = self.nu as f64 / 2.0;
        let nchan = vis.nchan() as u64;
        for (r, uvw) in vis.uvw_m.iter().enumerate() {
            let (uvw, _) = fold(uvw);
            let nnz = self.row_nnz.get(r).map_or(nchan, |&k| k as u64);
            if nnz == 0 {
                continue;
            }
            for &(c0, c1) in &ranges[r].0 {
                if c0 >= c1 {
                    continue;
                }
                let f = vis.freq_hz[(c0 + c1) / 2];
                let gv = uvw[1] * f / C_M_S * self.cell * self.nu as f64 + half;
                let row = (gv - sup as f64 / 2.0).floor() as i64 - self.vband.0 as i64;
                let row = row.clamp(0, nrows as i64 - 1) as usize;
                // the channels' share that is unflagged (a row's rest of the
                // loop is a skipped weight), at least one
                count[row] += ((c1 - c0) as u64 * nnz).div_ceil(nchan);
            }
        }
        let total: u64 = count.iter().sum();
        if total == 0 || nbands <= 1 || nrows <= 1 {
            return vec![nrows];
        }
        let per = total.div_ceil(nbands as u64).max(1);
        let mut bounds = Vec::with_capacity(nbands + 1);
        let mut acc = 0u64;
        for (r, c) in count.iter().take(nrows).enumerate() {
            acc += c;
            if acc >= per && r + 1 < nrows {
                bounds.push(r + 1);
                acc = 0;
            }
        }
        bounds.push(nrows);
        bounds
    }

    /// Grid the `ng` planes from `p0` of each stream into their band buffers
    /// (rows `vband`; `grids[g·S + s]` for plane `p0 + g` and stream `s`),
    /// zeroing them first.
    fn grid_planes(
        &self,
        vis: &ImagingVis,
        streams: &[Option<&[Complex32]>],
        wt: &[f32],
        p0: usize,
        ng: usize,
        grids: &mut [Vec<Complex32>],
    ) {
        let stride = self.stride;
        let vlo = self.vband.0 as i64;
        for grid in grids.iter_mut() {
            grid.par_iter_mut()
                .for_each(|g| *g = Complex32::new(0.0, 0.0));
        }
        // Bands of grid rows gridded in parallel, each by one thread over every
        // visibility that touches it. The rows are split by the number of
        // visibilities landing in them, not evenly: a compact array's short
        // baselines crowd a few rows, and even bands would leave one thread with
        // nearly all the work.
        let nrows = self.vband.1 - self.vband.0;
        // every row's channel ranges on the group's planes, found once here
        // rather than by each band's pass over the rows
        let ranges: Vec<RowRanges> = vis
            .uvw_m
            .par_iter()
            .map(|uvw| self.chan_ranges(vis, fold(uvw).0[2], p0, ng))
            .collect();
        let bounds = self.balanced_bands(vis, &ranges, 8 * rayon::current_num_threads().max(1));
        // per band: its first row and its slice of every stream's grid
        let mut bands: Vec<(i64, Vec<&mut [Complex32]>)> = (0..bounds.len())
            .map(|_| (0, Vec::with_capacity(grids.len())))
            .collect();
        for grid in grids.iter_mut() {
            let mut rest: &mut [Complex32] = &mut grid[..nrows * stride];
            let mut start = 0usize;
            for (b, &end) in bounds.iter().enumerate() {
                let (band, tail) = std::mem::take(&mut rest).split_at_mut((end - start) * stride);
                bands[b].0 = vlo + start as i64;
                bands[b].1.push(band);
                rest = tail;
                start = end;
            }
        }
        let sc = ChanScale::new(self, vis);
        bands.into_par_iter().for_each(|(r0, mut band)| {
            with_support!(self.kernel.support, |W| self
                .grid_band::<W>(vis, streams, wt, p0, ng, &sc, &ranges, r0, &mut band))
        });
    }

    /// Grid the visibilities of the `ng` planes from `p0` that reach the rows
    /// `[r0, r0 + band rows)` into `bands` (`bands[g·S + s]`: plane `p0 + g`,
    /// stream `s`), with the kernel support `W` known at compile time (the tap
    /// loops unrolled). A visibility's position, uv-kernel weights and value are
    /// computed once for all the group's planes it reaches.
    #[allow(clippy::too_many_arguments)]
    fn grid_band<const W: usize>(
        &self,
        vis: &ImagingVis,
        streams: &[Option<&[Complex32]>],
        wt: &[f32],
        p0: usize,
        ng: usize,
        sc: &ChanScale,
        row_ranges: &[RowRanges],
        r0: i64,
        bands: &mut [&mut [Complex32]],
    ) {
        let nu = self.nu;
        let sup = W;
        let nchan = vis.nchan();
        let Some(first) = bands.first() else {
            return;
        };
        let r1 = r0 + (first.len() / self.stride) as i64;
        let ns = streams.len();
        // the planes' w and 1/Δw
        let wplanes = self.plane_params(p0, ng);
        for r in self.rows(vis) {
            let (ranges, (c0, c1)) = row_ranges[r];
            if c0 >= c1 {
                continue;
            }
            let (uvw, flip) = fold(&vis.uvw_m[r]);
            let uvw = &uvw;
            let (va, vb) = (uvw[1] * sc.uv[c0], uvw[1] * sc.uv[c1 - 1]);
            let vmin = va.min(vb) + nu as f64 / 2.0 - sup as f64;
            let vmax = va.max(vb) + nu as f64 / 2.0 + sup as f64;
            if vmax < r0 as f64 || vmin > r1 as f64 {
                continue;
            }
            // only the channels whose kernel rows reach this band: gv rises with
            // f (v ≥ 0 folded), and a row's channels often span several bands
            let kv_f = uvw[1] / C_M_S * self.cell * nu as f64;
            let (c0, c1) = if kv_f > 0.0 {
                let centre = nu as f64 / 2.0;
                let flo = (r0 as f64 - sup as f64 / 2.0 - 1.0 - centre) / kv_f;
                let fhi = (r1 as f64 + sup as f64 / 2.0 + 1.0 - centre) / kv_f;
                let fr = &vis.freq_hz[c0..c1];
                let a = c0 + fr.partition_point(|f| *f < flo);
                let b = c0 + fr.partition_point(|f| *f <= fhi);
                (a, b.max(a))
            } else {
                (c0, c1)
            };
            if c0 >= c1 {
                continue;
            }
            let mut phasors = Phasors::new(self, uvw[2], &vis.freq_hz, c0, -1.0);
            for c in c0..c1 {
                let shc = phasors.at(c);
                let i = r * nchan + c;
                let w8 = wt[i];
                if w8 == 0.0 {
                    continue;
                }
                let Some((gu, gv)) = self.uv_pos_scaled(uvw, sc.uv[c]) else {
                    continue;
                };
                let (iv0, kv) = self.kernel.weights_fixed::<W>(gv);
                if iv0 + sup as i64 <= r0 || iv0 >= r1 {
                    continue;
                }
                let (iu0, ku) = self.kernel.weights_fixed::<W>(gu);
                let iu0 = iu0 as usize;
                // kernel rows inside the band
                let a0 = (r0 - iv0).max(0) as usize;
                let a1 = (r1 - iv0).min(sup as i64) as usize;
                for (g, plane_bands) in bands.chunks_mut(ns).enumerate().take(ng) {
                    if c < ranges[g].0 || c >= ranges[g].1 {
                        continue;
                    }
                    // the w-kernel and the shift phasor, common to all streams
                    let wph = wplanes[g].map(|wpl| self.w_factor(shc, uvw[2] * sc.wl[c], wpl));
                    for (band, data) in plane_bands.iter_mut().zip(streams.iter()) {
                        let mut val = match data {
                            Some(d) if flip => d[i].conj() * w8,
                            Some(d) => d[i] * w8,
                            None => Complex32::new(w8, 0.0),
                        };
                        if let Some(wph) = wph {
                            val *= wph;
                        }
                        // the value times the u-kernel once; each kernel row adds it
                        // times one real weight (a broadcast, no per-tap shuffle)
                        let pu: [Complex32; W] = std::array::from_fn(|j| val * ku[j]);
                        for (a, kva) in kv.iter().enumerate().take(a1).skip(a0) {
                            let off = (iv0 + a as i64 - r0) as usize * self.stride + iu0;
                            if let Some(dst) = band.get_mut(off..off + W) {
                                for (d, p) in dst.iter_mut().zip(pu.iter()) {
                                    *d += *p * *kva;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `resid_k −= Σ_pix model · exp(+2πi(u l + v m + w(n−1)))` for every
    /// visibility (weights are not applied; flagged ones are skipped).
    pub fn subtract_model(&self, vis: &ImagingVis, model: &[f64], resid: &mut [Complex32]) {
        self.subtract_model_rows(vis, model, resid, None);
    }

    /// [`Gridder::subtract_model`] for the rows `r` with `chunk_of[r] == k`
    /// only (`only = Some((chunk_of, k))`; the others are left as they are), or
    /// for every row (`None`).
    pub fn subtract_model_rows(
        &self,
        vis: &ImagingVis,
        model: &[f64],
        resid: &mut [Complex32],
        only: Option<(&[u8], u8)>,
    ) {
        let (n, nu, stride) = (self.n, self.nu, self.stride);
        let (vlo, vhi) = self.vband;
        let nband = vhi - vlo;
        let sup = self.kernel.support;
        let nchan = vis.nchan();
        // the model's non-zero pixels by column, `(x, [(y, value)])`, in one pass
        // over its rows (a scan down each column reads a cache line per pixel)
        let mut by_col: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
        for (y, row) in model.chunks_exact(n).enumerate() {
            for (x, m) in row.iter().enumerate() {
                if *m != 0.0 {
                    by_col[x].push((y, *m));
                }
            }
        }
        let cols_used: Vec<(usize, Vec<(usize, f64)>)> = by_col
            .into_iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .collect();
        if cols_used.is_empty() {
            return;
        }
        let mut planner = FftPlanner::<f32>::new();
        let fft = planner.plan_fft(nu, FftDirection::Inverse);
        let groups = self.plane_groups(1);
        let group = groups.iter().map(|g| g.1).max().unwrap_or(1);
        let mut grids = self.pool.take(group, nband * stride);
        let sc = ChanScale::new(self, vis);
        // the rows in the gridder's order (neighbours in the grid one after the
        // other), as disjoint slices of `resid`
        let mut rows: Vec<Option<&mut [Complex32]>> = resid.chunks_mut(nchan).map(Some).collect();
        // sized once (a collect of a filter grows by doubling: 26 MB a full group)
        let mut ordered: Vec<(usize, &mut [Complex32])> = Vec::with_capacity(rows.len());
        ordered.extend(
            self.rows(vis)
                .filter(|&r| only.is_none_or(|(of, k)| of.get(r) == Some(&k)))
                .filter_map(|r| rows.get_mut(r).and_then(Option::take).map(|x| (r, x))),
        );
        if ordered.is_empty() {
            return;
        }
        // the used columns' band rows, one plane at a time (reused for every plane)
        let mut cols = crate::buf::zeros(cols_used.len() * nband, Complex32::new(0.0, 0.0));
        let (mut t_fft, mut t_degrid) = (0.0, 0.0);
        for (p0, ng) in groups {
            let t0 = std::time::Instant::now();
            for (gi, grid) in grids.iter_mut().enumerate().take(ng) {
                self.model_plane(&cols_used, p0 + gi, grid, &mut cols, &*fft);
            }
            t_fft += t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            let grids = &grids[..ng];
            let sc = &sc;
            ordered
                .par_iter_mut()
                .with_min_len(64)
                .for_each(|(r, res)| {
                    with_support!(sup, |W| self.degrid_row::<W>(vis, grids, p0, sc, *r, res))
                });
            t_degrid += t1.elapsed().as_secs_f64();
        }
        tracing::debug!(
            fft_s = t_fft,
            degrid_s = t_degrid,
            columns = cols_used.len(),
            band_rows = nband,
            rows = ordered.len(),
            "degrid pass"
        );
    }

    /// Plane `p`'s band grid (rows `vband`) of the model: each used column's
    /// pixels corrected by the kernel's transform and w-phased, FFT'd over y, then
    /// the band's rows FFT'd over x (the degrid reads it).
    fn model_plane(
        &self,
        cols_used: &[(usize, Vec<(usize, f64)>)],
        p: usize,
        grid: &mut [Complex32],
        cols: &mut [Complex32],
        fft: &dyn Fft<f32>,
    ) {
        let (n, nu, stride) = (self.n, self.nu, self.stride);
        let (vlo, vhi) = self.vband;
        let nband = vhi - vlo;
        let wp = self.w;
        // the kernel correction the grid passes divide their images by
        // (`Quadrants::inv_corr`, one quadrant), applied to the model here
        let (h, side) = (n / 2, n / 2 + 1);
        let inv_corr = &self.quadrants().inv_corr;
        // columns: FFT over y of the corrected, w-phased model column x; its band
        // rows kept in `cols` (`[column k][row]`, the k-th used column)
        cols.par_chunks_mut(nband.max(1))
            .zip(cols_used.par_iter())
            .for_each_init(
                || {
                    (
                        vec![Complex32::new(0.0, 0.0); nu],
                        vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()],
                        Vec::<(usize, Complex64)>::new(),
                        vec![Complex64::new(0.0, 0.0); nband],
                    )
                },
                |(col, scratch, pix, acc), (band, (x, column))| {
                    let x = *x;
                    // the column's pixels: (row in the grid, corrected value)
                    pix.clear();
                    let px = x as i64 - n as i64 / 2;
                    let qx = x.abs_diff(h) * side;
                    for &(y, m) in column {
                        let py = y as i64 - n as i64 / 2;
                        let mut val = Complex64::new(m * inv_corr[qx + y.abs_diff(h)], 0.0);
                        if let Some(wp) = wp {
                            let xn = nm1(n, self.cell, x, y) - wp.nshift;
                            val *= Complex64::from_polar(
                                1.0,
                                2.0 * PI * (wp.w0 + p as f64 * wp.dw) * xn,
                            );
                        }
                        if (px + py) & 1 != 0 {
                            val = -val;
                        }
                        pix.push((py.rem_euclid(nu as i64) as usize, val));
                    }
                    if pix.len() <= DIRECT_COLUMN {
                        // the band rows of the inverse DFT directly:
                        // Σ_j val_j exp(+2πi k_j v / nu), stepped along v
                        acc.iter_mut().for_each(|a| *a = Complex64::new(0.0, 0.0));
                        for &(k, val) in pix.iter() {
                            let turn = |v: usize| 2.0 * PI * ((k * v) % nu) as f64 / nu as f64;
                            let step = Complex64::from_polar(1.0, turn(1));
                            let mut ph = val * Complex64::from_polar(1.0, turn(vlo));
                            for a in acc.iter_mut() {
                                *a += ph;
                                ph *= step;
                            }
                        }
                        for (b, a) in band.iter_mut().zip(acc.iter()) {
                            *b = Complex32::new(a.re as f32, a.im as f32);
                        }
                    } else {
                        col.iter_mut().for_each(|c| *c = Complex32::new(0.0, 0.0));
                        for &(k, val) in pix.iter() {
                            col[k] = Complex32::new(val.re as f32, val.im as f32);
                        }
                        fft.process_with_scratch(col, scratch);
                        band.copy_from_slice(&col[vlo..vhi]);
                    }
                },
            );
        // rows of the band: FFT over x, in blocks of RB rows (each column's
        // RB values are neighbours: one cache line, not RB of them)
        const RB: usize = 16;
        grid.par_chunks_mut(RB * stride).enumerate().for_each_init(
            || vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()],
            |scratch, (bj, rows)| {
                rows.iter_mut().for_each(|c| *c = Complex32::new(0.0, 0.0));
                let j0 = bj * RB;
                let nr = rows.len() / stride;
                for ((x, _), col) in cols_used.iter().zip(cols.chunks_exact(nband.max(1))) {
                    let px = *x as i64 - n as i64 / 2;
                    let ix = px.rem_euclid(nu as i64) as usize;
                    for (k, v) in col[j0..j0 + nr].iter().enumerate() {
                        rows[k * stride + ix] = *v;
                    }
                }
                for row in rows.chunks_exact_mut(stride) {
                    fft.process_with_scratch(&mut row[..nu], scratch);
                }
            },
        );
    }

    /// Subtract the part of the model on the planes from `p0` (the band grids
    /// `grids`, one per plane, rows from `vband.0`) from row `r`'s visibilities
    /// `res`, with the kernel support `W` known at compile time. A visibility's
    /// position and uv-kernel weights are computed once for all those planes.
    fn degrid_row<const W: usize>(
        &self,
        vis: &ImagingVis,
        grids: &[Vec<Complex32>],
        p0: usize,
        sc: &ChanScale,
        r: usize,
        res: &mut [Complex32],
    ) {
        let stride = self.stride;
        let vlo = self.vband.0 as i64;
        let nchan = vis.nchan();
        let ng = grids.len();
        let (uvw, flip) = fold(&vis.uvw_m[r]);
        let uvw = &uvw;
        let (ranges, (c0, c1)) = self.chan_ranges(vis, uvw[2], p0, ng);
        if c0 >= c1 {
            return;
        }
        let wplanes = self.plane_params(p0, ng);
        let mut phasors = Phasors::new(self, uvw[2], &vis.freq_hz, c0, 1.0);
        for (c, rc) in res.iter_mut().enumerate().take(c1).skip(c0) {
            let shc = phasors.at(c);
            if vis.weight[r * nchan + c] == 0.0 {
                continue;
            }
            let Some((gu, gv)) = self.uv_pos_scaled(uvw, sc.uv[c]) else {
                continue;
            };
            let (iv0, kv) = self.kernel.weights_fixed::<W>(gv);
            let (iu0, ku) = self.kernel.weights_fixed::<W>(gu);
            let (iv0, iu0) = ((iv0 - vlo) as usize, iu0 as usize);
            let mut total = Complex32::new(0.0, 0.0);
            for (g, grid) in grids.iter().enumerate() {
                if c < ranges[g].0 || c >= ranges[g].1 {
                    continue;
                }
                // the kernel rows weighted by the v-kernel first (a broadcast per
                // row), the u-kernel applied once at the end
                let mut cols = [Complex32::new(0.0, 0.0); W];
                for (a, kva) in kv.iter().enumerate() {
                    let off = (iv0 + a) * stride + iu0;
                    if let Some(src) = grid.get(off..off + W) {
                        for (c, g) in cols.iter_mut().zip(src.iter()) {
                            *c += *g * *kva;
                        }
                    }
                }
                let mut acc = Complex32::new(0.0, 0.0);
                for (c, k) in cols.iter().zip(ku.iter()) {
                    acc += *c * *k;
                }
                if let Some(wpl) = wplanes[g] {
                    acc *= self.w_factor(shc, uvw[2] * sc.wl[c], wpl);
                }
                total += acc;
            }
            *rc -= if flip { total.conj() } else { total };
        }
    }

    /// [`Gridder::subtract_model`] by a direct sum over a few components
    /// `comps` (pixel index `y·n + x`, flux) instead of degridding: per row, each
    /// component's phasor `exp(+2πi f/c (u l + v m + w(n−1)))` at the first
    /// channel and its step from channel to channel (two `sincos` per row and
    /// component), then one complex multiply per component and unflagged
    /// channel. Exact (no kernel, no w-planes), and for a cycle of a few dozen
    /// components far cheaper than a degrid, whose tap work is the same for one
    /// component as for a million. `scale = (row_chunk, ratios)`, when given,
    /// multiplies component j's flux on row r by `ratios[row_chunk[r]][j]` (the
    /// beam's drift, [`crate::drift`]).
    /// Visibilities the degrid skips (zero data weight, outside the uv grid) are
    /// skipped here too.
    pub fn subtract_direct(
        &self,
        vis: &ImagingVis,
        comps: &[(usize, f64)],
        resid: &mut [Complex32],
        scale: Option<(&[u8], &[Vec<f64>])>,
    ) {
        let (n, cell) = (self.n, self.cell);
        let nchan = vis.nchan();
        if comps.is_empty() || nchan == 0 {
            return;
        }
        // per component: (l, m, n − 1) and the flux
        let lmn: Vec<([f64; 3], f64)> = comps
            .iter()
            .map(|&(i, a)| {
                let (x, y) = (i % n, i / n);
                let (l, m) = lm(n, cell, x, y);
                ([l, m, nm1(n, cell, x, y)], a)
            })
            .collect();
        let f = &vis.freq_hz;
        // evenly spaced channels: the phasor is stepped; otherwise evaluated
        let df = self.df_hz;
        resid
            .par_chunks_mut(nchan)
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || {
                    (
                        Vec::with_capacity(lmn.len()),
                        Vec::with_capacity(lmn.len()),
                        Vec::with_capacity(lmn.len()),
                    )
                },
                |(ka, cur, step): &mut (Vec<(f64, f64)>, Vec<Complex64>, Vec<Complex64>),
                 (r, res)| {
                    let uvw = vis.uvw_m[r];
                    let folded = fold(&uvw).0;
                    let sc = scale.and_then(|(of, ratios)| {
                        of.get(r)
                            .and_then(|k| ratios.get(*k as usize))
                            .map(Vec::as_slice)
                    });
                    // per component on this row: phase per Hz and (scaled) flux
                    ka.clear();
                    ka.extend(lmn.iter().enumerate().map(|(j, (p, a))| {
                        let d = uvw[0] * p[0] + uvw[1] * p[1] + uvw[2] * p[2];
                        let amp = a * sc.and_then(|s| s.get(j)).copied().unwrap_or(1.0);
                        (2.0 * PI * d / C_M_S, amp)
                    }));
                    let at = |cur: &mut Vec<Complex64>, fc: f64| {
                        cur.clear();
                        cur.extend(
                            ka.iter()
                                .map(|&(k, amp)| Complex64::from_polar(amp, k * fc)),
                        );
                    };
                    at(cur, f[0]);
                    step.clear();
                    if let Some(df) = df {
                        step.extend(ka.iter().map(|&(k, _)| Complex64::from_polar(1.0, k * df)));
                    }
                    for (c, rc) in res.iter_mut().enumerate() {
                        if c > 0 {
                            if df.is_some() {
                                cur.iter_mut().zip(step.iter()).for_each(|(v, s)| *v *= s);
                            } else {
                                at(cur, f[c]);
                            }
                        }
                        if vis.weight[r * nchan + c] == 0.0 || self.uv_pos(&folded, f[c]).is_none()
                        {
                            continue;
                        }
                        let total: Complex64 = cur.iter().sum();
                        *rc -= Complex32::new(total.re as f32, total.im as f32);
                    }
                },
            );
    }

    /// Model visibilities `Σ_pix model · exp(+2πi(u l + v m + w(n−1)))`.
    pub fn predict(&self, vis: &ImagingVis, model: &[f64]) -> Vec<Complex32> {
        let mut out = crate::buf::zeros(vis.vis.len(), Complex32::new(0.0, 0.0));
        self.subtract_model(vis, model, &mut out);
        for v in out.iter_mut() {
            *v = -*v;
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `n` antennas on a spiral: antenna i at radius `r0 + dr·i` (m), angle
    /// 2.4·i rad, height `zscale · r · sin(zfreq · angle)` (a non-coplanar array).
    pub(crate) fn spiral_ants(
        n: usize,
        r0: f64,
        dr: f64,
        zscale: f64,
        zfreq: f64,
    ) -> Vec<[f64; 3]> {
        (0..n)
            .map(|i| {
                let t = i as f64 * 2.4;
                let r = r0 + dr * i as f64;
                [r * t.cos(), r * t.sin(), zscale * r * (t * zfreq).sin()]
            })
            .collect()
    }

    /// A wide field (5.7° across) seen by 12 antennas up to 360 m apart, with w
    /// up to ±100 m, 3 times, 6 channels; some visibilities flagged.
    fn wide_vis() -> (ImagingVis, usize, f64) {
        let ants = spiral_ants(12, 15.0, 15.0, 0.3, 1.7);
        let freq_hz: Vec<f64> = (0..6).map(|c| 1.31e9 + c as f64 * 37e6).collect();
        let mut uvw_m = Vec::new();
        for t in 0..3 {
            for a in 0..ants.len() {
                for b in a + 1..ants.len() {
                    let s = 1.0 + 0.05 * t as f64;
                    uvw_m.push([
                        (ants[b][0] - ants[a][0]) * s,
                        ants[b][1] - ants[a][1],
                        (ants[b][2] - ants[a][2]) * (2.0 - s),
                    ]);
                }
            }
        }
        let nvis = uvw_m.len() * freq_hz.len();
        let weight = (0..nvis)
            .map(|i| if i % 17 == 0 { 0.0 } else { 1.0 })
            .collect();
        let vis = ImagingVis {
            uvw_m,
            freq_hz,
            chan_width_hz: 37e6,
            vis: vec![Complex32::new(0.0, 0.0); nvis],
            weight,
            obs: Default::default(),
        };
        (vis, 512, (40.0f64 / 3600.0).to_radians())
    }

    /// The tests' gridder settings for `wide_vis`: ε 1e-5, σ 2, w-corrected.
    fn wide_cfg(n: usize, cell: f64) -> GridConfig {
        GridConfig {
            npix: n,
            cell_rad: cell,
            eps: 1e-5,
            sigma: Some(2.0),
            wcorr: true,
            w_sigma: None,
        }
    }

    /// Direct sum `Σ model exp(+2πi(u l + v m + w(n−1)))` at visibility (r, c).
    fn dft(
        vis: &ImagingVis,
        n: usize,
        cell: f64,
        comps: &[(usize, usize, f64)],
        r: usize,
        c: usize,
    ) -> Complex64 {
        let k = vis.freq_hz[c] / C_M_S;
        let b = vis.uvw_m[r];
        comps
            .iter()
            .map(|&(x, y, f)| {
                let (l, m) = lm(n, cell, x, y);
                let ph = 2.0 * PI * k * (b[0] * l + b[1] * m + b[2] * nm1(n, cell, x, y));
                Complex64::from_polar(f, ph)
            })
            .sum()
    }

    #[test]
    fn plane_groups_cover_every_plane_once_in_fewest_balanced_passes() {
        for (np, max) in (1..=23).flat_map(|np| (2..=PLANE_GROUP).map(move |m| (np, m))) {
            let groups = plane_groups(np, max);
            assert_eq!(groups.len(), np.div_ceil(max), "{np} planes: {groups:?}");
            let mut next = 0;
            for &(p0, ng) in &groups {
                assert_eq!(p0, next, "{np} planes: {groups:?} not contiguous");
                assert!((1..=max).contains(&ng), "{np} planes: {groups:?}");
                next = p0 + ng;
            }
            assert_eq!(next, np, "{np} planes: {groups:?} do not cover them");
            let (lo, hi) = groups
                .iter()
                .fold((usize::MAX, 0), |(lo, hi), g| (lo.min(g.1), hi.max(g.1)));
            assert!(hi - lo <= 1, "{np} planes: {groups:?} unbalanced");
        }
        assert_eq!(plane_groups(10, 5), vec![(0, 5), (5, 5)]);
        assert_eq!(plane_groups(11, 5), vec![(0, 4), (4, 4), (8, 3)]);
        assert_eq!(plane_groups(10, 2).len(), 5);
    }

    /// The direct subtraction of a few components equals the direct Fourier sum
    /// (to f32 rounding) on evenly and unevenly spaced channels, with and without
    /// per-row scale factors, leaves flagged visibilities alone, and agrees with
    /// the degrid to the degrid's accuracy.
    #[test]
    fn direct_subtraction_equals_the_fourier_sum() {
        let (vis, n, cell) = wide_vis();
        let mut uneven = vis.clone();
        uneven.freq_hz[3] += 5e6;
        let comps = [
            (n / 2, n / 2, 1.0),
            (0, 0, 0.5),
            (n - 1, 3, -0.4),
            (n / 2 + 7, 1, 0.2),
        ];
        let pix: Vec<(usize, f64)> = comps.iter().map(|&(x, y, f)| (y * n + x, f)).collect();
        let total: f64 = comps.iter().map(|c| c.2.abs()).sum();
        // two "chunks" of rows with their own factors per component
        let nrows = vis.nrows();
        let chunk: Vec<u8> = (0..nrows).map(|r| (r % 2) as u8).collect();
        let ratios = vec![vec![1.0, 0.5, 2.0, 1.0], vec![0.25, 1.0, 1.0, 3.0]];
        for v in [&vis, &uneven] {
            let g = Gridder::new(&wide_cfg(n, cell), v).unwrap();
            assert_eq!(g.df_hz.is_some(), std::ptr::eq(v, &vis), "channel spacing");
            let nchan = v.nchan();
            for scaled in [false, true] {
                let mut resid = vec![Complex32::new(0.0, 0.0); v.vis.len()];
                let scale = scaled.then_some((chunk.as_slice(), ratios.as_slice()));
                g.subtract_direct(v, &pix, &mut resid, scale);
                for r in 0..nrows {
                    let cs: Vec<(usize, usize, f64)> = comps
                        .iter()
                        .enumerate()
                        .map(|(j, &(x, y, f))| {
                            let k = if scaled {
                                ratios[chunk[r] as usize][j]
                            } else {
                                1.0
                            };
                            (x, y, f * k)
                        })
                        .collect();
                    for c in 0..nchan {
                        let i = r * nchan + c;
                        if v.weight[i] == 0.0 {
                            assert_eq!(resid[i], Complex32::new(0.0, 0.0), "flagged ({r}, {c})");
                            continue;
                        }
                        let d = dft(v, n, cell, &cs, r, c);
                        let got = -Complex64::new(resid[i].re as f64, resid[i].im as f64);
                        assert!(
                            (got - d).norm() < 1e-6 * total,
                            "({r}, {c}), scaled {scaled}: {got} vs {d}"
                        );
                    }
                }
            }
            // the degrid of the same model, to its own accuracy
            let mut model = vec![0.0; n * n];
            for &(i, f) in &pix {
                model[i] = f;
            }
            let mut direct = vec![Complex32::new(0.0, 0.0); v.vis.len()];
            g.subtract_direct(v, &pix, &mut direct, None);
            let mut degrid = vec![Complex32::new(0.0, 0.0); v.vis.len()];
            g.subtract_model(v, &model, &mut degrid);
            let worst = direct
                .iter()
                .zip(&degrid)
                .map(|(a, b)| (a - b).norm() as f64)
                .fold(0.0, f64::max);
            assert!(worst < 1e-4 * total, "direct vs degrid: {worst:.3e}");
        }
    }

    /// Degridding (what a major cycle subtracts) equals the direct sum for components
    /// at the centre and on the image's outermost rows and columns, and subtracting
    /// the model from its own visibilities leaves nothing; for columns of a few
    /// components (summed directly) and for one of many (transformed).
    #[test]
    fn grid_and_degrid_equal_direct_sum_at_centre_and_edges() {
        let (mut vis, n, cell) = wide_vis();
        let g = Gridder::new(&wide_cfg(n, cell), &vis).unwrap();
        assert!(
            g.nplanes() > 10,
            "w-terms must matter: {} planes",
            g.nplanes()
        );
        let mut comps = vec![
            (n / 2, n / 2, 1.0),
            (0, 0, 0.5),
            (n - 1, 3, -0.4),
            (2, n - 1, 0.3),
            (n - 1, n - 1, 0.25),
            (n / 2 + 7, 1, 0.2),
        ];
        // column 5: more components than a column summed directly takes
        comps.extend(
            (0..=DIRECT_COLUMN).map(|j| (5, j * (n - 1) / DIRECT_COLUMN, 0.05 + 0.01 * j as f64)),
        );
        let nchan = vis.nchan();
        let mut model = vec![0.0; n * n];
        for &(x, y, f) in &comps {
            model[y * n + x] = f;
        }
        let pred = g.predict(&vis, &model);
        let total: f64 = comps.iter().map(|c| c.2.abs()).sum();
        let mut maxerr: f64 = 0.0;
        for r in 0..vis.nrows() {
            for c in 0..nchan {
                let i = r * nchan + c;
                let d = dft(&vis, n, cell, &comps, r, c);
                if vis.weight[i] == 0.0 {
                    assert_eq!(
                        pred[i],
                        Complex32::new(0.0, 0.0),
                        "flagged visibility predicted"
                    );
                    continue;
                }
                let e = Complex64::new(pred[i].re as f64, pred[i].im as f64) - d;
                maxerr = maxerr.max(e.norm());
                vis.vis[i] = Complex32::new(d.re as f32, d.im as f32);
            }
        }
        assert!(
            maxerr < 1e-4 * total,
            "degridding error {maxerr:.3e} of {total} Jy"
        );
        // gridding (evenly spaced channels: the stepped w-shift phasor) equals the
        // direct sum Σ wt V exp(−2πi(u l + v m + w(n−1))) on the components' pixels
        let img = g.grid_image(&vis, Some(&vis.vis), &vis.weight);
        for &(x, y, _) in &comps {
            let mut d = 0.0;
            for r in 0..vis.nrows() {
                for c in 0..nchan {
                    let i = r * nchan + c;
                    let ph = dft(&vis, n, cell, &[(x, y, 1.0)], r, c).conj();
                    let v = Complex64::new(vis.vis[i].re as f64, vis.vis[i].im as f64);
                    d += vis.weight[i] as f64 * (v * ph).re;
                }
            }
            let sumw: f64 = vis.weight.iter().map(|w| *w as f64).sum();
            let e = (img[y * n + x] - d).abs() / sumw;
            assert!(e < 1e-4 * total, "gridding error {e:.3e} at ({x}, {y})");
        }
        // the major cycle's subtraction: data − model ≈ 0
        let mut resid = vis.vis.clone();
        g.subtract_model(&vis, &model, &mut resid);
        let rmax = resid.iter().map(|v| v.norm() as f64).fold(0.0, f64::max);
        assert!(rmax < 1e-4 * total, "residual after subtraction {rmax:.3e}");
    }
}
