//! Bandpass (B) and complex gain (G) solvers: StEFCal on per-baseline
//! sufficient statistics.
//!
//! **Convention.** `V_ij = g_i conj(g_j) M_ij` for the arrays handed in, with
//! `i = ant1`, `j = ant2` of the row. The arrays of a [`VisBlock`] follow
//! pyuvdata's convention, in which this holds with the simulator's gains. A
//! Measurement Set stores `conj(V)` with the same ANTENNA1/ANTENNA2, so the
//! gains CASA solves from an MS (and that a CASA table holds) are the
//! **complex conjugates** of ours: [`SolutionTable::casa_cparam`] conjugates.
//!
//! **Least squares.** For a solution interval (B: one channel, all integrations;
//! G: one integration, all channels of a spectral window) and one receptor, the
//! weighted χ² = Σ w |V − g_i ḡ_j M|² depends on the data only through the
//! per-baseline sums `A_ij = Σ w V M̄`, `B_ij = Σ w |M|²`, `C_ij = Σ w |V|²`
//! (gains are constant inside the interval), accumulated in one pass over the
//! data. StEFCal (Salvini & Wijnholds 2014) then iterates
//! `g_i ← Σ_j A_ij g_j / Σ_j B_ij |g_j|²` (both orientations of each baseline),
//! averaging with the previous iterate every second step, to a relative change
//! below `tol`. The prior calibration (G when solving B, B when solving G) is
//! folded into the model (`M ← g_i ḡ_j M`).
//!
//! **Errors and SNR.** With `s² = χ² / (2N − 2K)` (N unflagged visibilities, K
//! antennas) the error per real/imaginary component of `g_i` is
//! `σ_i = s / √(Σ_j B_ij |g_j|²)` (stored as PARAMERR) and `SNR_i = |g_i| / σ_i`.
//!
//! **Flags** (CASA's `minblperant`, `minsnr`): an antenna with fewer than
//! `minblperant` baselines with data to other unflagged antennas is flagged
//! (repeated until stable), then solutions with SNR < `min_snr` are flagged and
//! the interval is solved again without them. Flagged solutions hold 1 + 0i.
//!
//! **Reference antenna.** Unless given, the antenna with the most unflagged
//! cross-correlation samples (ties within 1 % broken by the higher median
//! bandpass SNR). Every solution interval is rotated so that the reference
//! antenna's gain is real and positive in each receptor; where its solution is
//! flagged, the next antenna of the same ranking is used for that interval.
//!
//! **Sequence** ([`solve_spws`]): per spectral window B over all integrations
//! (no prior), then G per integration with B applied; `outer_iterations > 1`
//! re-solves B with G applied and G again (useful when gains drift within the
//! group). B is not normalised (CASA's `solnorm=False`): B carries the flux
//! scale and G the variation in time (≈ 1 for steady gains).

use ndarray::{Array2, Array4, ArrayView2};
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use serde::Serialize;

use dsa110_astro::VisBlock;

use crate::CalError;

/// Which Jones matrix a table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum JonesKind {
    /// Bandpass: per channel, one interval.
    B,
    /// Complex gain: per integration, one value per spectral window.
    G,
}

impl JonesKind {
    /// CASA's table subType.
    pub fn casa_subtype(self) -> &'static str {
        match self {
            JonesKind::B => "B Jones",
            JonesKind::G => "G Jones",
        }
    }
}

/// Solutions of one spectral window, in CASA table order: axes
/// `(time, antenna, channel, receptor)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SolutionTable {
    /// B or G.
    pub kind: JonesKind,
    /// Spectral window index (as given by the caller).
    pub spw: usize,
    /// Solution times (UTC JD, interval centres).
    pub times_jd_utc: Vec<f64>,
    /// Interval length (s).
    pub interval_s: f64,
    /// Antenna numbers, one per antenna row.
    pub antennas: Vec<u32>,
    /// Channel frequencies of the solutions (Hz): the window's channels for B,
    /// the window's mean frequency for G.
    pub freqs_hz: Vec<f64>,
    /// Gains in this crate's convention (see the module docs).
    pub gains: Array4<Complex32>,
    /// Flagged solutions.
    pub flags: Array4<bool>,
    /// SNR per solution.
    pub snr: Array4<f32>,
    /// Error per real/imaginary component (CASA's PARAMERR).
    pub param_err: Array4<f32>,
    /// Reference antenna (antenna number).
    pub refant: u32,
}

impl SolutionTable {
    /// Gains as CASA stores them for a Measurement Set of the same data (complex conjugates).
    pub fn casa_cparam(&self) -> Array4<Complex32> {
        self.gains.mapv(|g| g.conj())
    }

    /// Build a table from CASA's CPARAM (conjugating into this crate's convention).
    #[allow(clippy::too_many_arguments)]
    pub fn from_casa(
        kind: JonesKind,
        spw: usize,
        times_jd_utc: Vec<f64>,
        interval_s: f64,
        antennas: Vec<u32>,
        freqs_hz: Vec<f64>,
        cparam: Array4<Complex32>,
        flags: Array4<bool>,
        refant: u32,
    ) -> Result<Self, CalError> {
        let dim = (
            times_jd_utc.len(),
            antennas.len(),
            freqs_hz.len(),
            cparam.dim().3,
        );
        if cparam.dim() != dim || flags.dim() != dim {
            return Err(CalError::Shape {
                what: "cparam",
                detail: format!("{:?} / flags {:?} != {dim:?}", cparam.dim(), flags.dim()),
            });
        }
        Ok(Self {
            kind,
            spw,
            times_jd_utc,
            interval_s,
            antennas,
            freqs_hz,
            gains: cparam.mapv(|g| g.conj()),
            snr: Array4::zeros(dim),
            param_err: Array4::zeros(dim),
            flags,
            refant,
        })
    }

    /// Number of receptors (polarisations of the solutions).
    pub fn nrec(&self) -> usize {
        self.gains.dim().3
    }

    /// Row of `antenna` in the table.
    pub fn antenna_index(&self, antenna: u32) -> Option<usize> {
        self.antennas.iter().position(|&a| a == antenna)
    }
}

/// Pass/fail thresholds of the QA summary (documented defaults).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QaThresholds {
    /// Minimum median SNR of the G solutions (10).
    pub min_median_snr_g: f64,
    /// Minimum median SNR of the B solutions (5).
    pub min_median_snr_b: f64,
    /// Maximum flagged fraction of B or G solutions (0.3).
    pub max_flagged_fraction: f64,
    /// Maximum median (over antennas) fractional scatter of |G| in time (0.1).
    pub max_amp_scatter: f64,
    /// Maximum median (over antennas) scatter of the G phase in time (10°).
    pub max_phase_scatter_deg: f64,
    /// Maximum fraction of the calibrated model's power the data leave unexplained beyond
    /// their noise (0.25): a wrong model (a calibrator that is not where, or not what, the
    /// catalogue says, or a field dominated by other sources) solves to gains that cannot
    /// reproduce the data, whatever their SNR.
    pub max_model_residual: f64,
}

impl Default for QaThresholds {
    fn default() -> Self {
        Self {
            min_median_snr_g: 10.0,
            min_median_snr_b: 5.0,
            max_flagged_fraction: 0.3,
            max_amp_scatter: 0.1,
            max_phase_scatter_deg: 10.0,
            max_model_residual: 0.25,
        }
    }
}

/// Solver parameters (CASA defaults where CASA has one).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SolveParams {
    /// Reference antenna (antenna number); `None` = automatic.
    pub refant: Option<u32>,
    /// Minimum baselines per antenna (CASA `minblperant`, 4).
    pub minblperant: usize,
    /// Minimum SNR of a solution (CASA `minsnr`, 3).
    pub min_snr: f64,
    /// StEFCal iteration limit (500).
    pub max_iter: usize,
    /// StEFCal relative convergence (1e-10).
    pub tol: f64,
    /// B → G rounds (1).
    pub outer_iterations: usize,
    /// QA thresholds.
    pub qa: QaThresholds,
}

impl Default for SolveParams {
    fn default() -> Self {
        Self {
            refant: None,
            minblperant: 4,
            min_snr: 3.0,
            max_iter: 500,
            tol: 1e-10,
            outer_iterations: 1,
            qa: QaThresholds::default(),
        }
    }
}

/// QA summary of a solve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QaReport {
    /// Median SNR of unflagged B solutions.
    pub median_snr_b: f64,
    /// Median SNR of unflagged G solutions.
    pub median_snr_g: f64,
    /// Flagged fraction of B solutions.
    pub flagged_fraction_b: f64,
    /// Flagged fraction of G solutions.
    pub flagged_fraction_g: f64,
    /// Median over antennas/receptors/windows of std(|G|)/mean(|G|) over time.
    pub amp_scatter_g: f64,
    /// Median over antennas/receptors/windows of the G phase scatter in time (deg).
    pub phase_scatter_g_deg: f64,
    /// Model fit: (⟨|V − g_i M g_j*|²⟩ − σ²) / ⟨|g_i M g_j*|²⟩ over the unflagged
    /// cross-correlations of every window, σ² the noise estimated from the residuals'
    /// differences between adjacent channels (see [`model_residual_fraction`]); `None`
    /// when not computed.
    pub model_residual: Option<f64>,
    /// Whether every threshold holds.
    pub passed: bool,
    /// The thresholds that failed, in words.
    pub failures: Vec<String>,
}

/// All solutions of one group.
#[derive(Clone, Debug)]
pub struct CalSolutions {
    /// B per spectral window (input order).
    pub bandpass: Vec<SolutionTable>,
    /// G per spectral window (input order).
    pub gains: Vec<SolutionTable>,
    /// Reference antenna chosen.
    pub refant: u32,
    /// QA.
    pub qa: QaReport,
}

/// How the data polarisations map to receptors.
#[derive(Clone, Debug)]
pub(crate) struct PolMap {
    /// per data pol: (receptor of ant1, receptor of ant2)
    pub pairs: Vec<Option<(usize, usize)>>,
    pub nrec: usize,
    /// per receptor: the data pol index of its parallel hand
    pub parallel: Vec<usize>,
}

pub(crate) fn pol_map(pols: &[i32]) -> Result<PolMap, CalError> {
    let pairs: Vec<Option<(usize, usize)>> = pols
        .iter()
        .map(|&p| match p {
            -5 | -1 => Some((0, 0)),
            -6 | -2 => Some((1, 1)),
            -7 | -3 => Some((0, 1)),
            -8 | -4 => Some((1, 0)),
            _ => None,
        })
        .collect();
    let mut parallel = Vec::new();
    for r in 0..2 {
        if let Some(k) = pairs.iter().position(|q| *q == Some((r, r))) {
            if parallel.len() != r {
                return Err(CalError::Polarisation {
                    codes: pols.to_vec(),
                });
            }
            parallel.push(k);
        }
    }
    if parallel.is_empty() || pairs.iter().any(|p| p.is_none()) {
        return Err(CalError::Polarisation {
            codes: pols.to_vec(),
        });
    }
    Ok(PolMap {
        nrec: parallel.len(),
        pairs,
        parallel,
    })
}

/// Sufficient statistics `[(b · nsol + s) · nrec + r]`.
struct Accum {
    nsol: usize,
    nrec: usize,
    a: Vec<Complex64>,
    b: Vec<f64>,
    c: Vec<f64>,
    n: Vec<u32>,
}

/// A solution table expanded for a block: gain per (integration, antenna
/// number, channel, receptor), 0 where flagged or absent. Axes of length 1
/// when the table has one time (B) or one channel (G).
pub(crate) struct DenseGains {
    nt: usize,
    na: usize,
    nc: usize,
    nrec: usize,
    g: Vec<Complex32>,
}

impl DenseGains {
    pub(crate) fn new(
        table: &SolutionTable,
        times_jd: &[f64],
        freqs_hz: &[f64],
        max_ant: usize,
    ) -> Result<Self, CalError> {
        let time_row: Vec<usize> = if table.times_jd_utc.len() == 1 {
            vec![0]
        } else {
            times_jd
                .iter()
                .map(|&t| nearest(&table.times_jd_utc, t))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| CalError::Mismatch {
                    detail: format!(
                        "{:?} table of window {} has no times",
                        table.kind, table.spw
                    ),
                })?
        };
        let chan_row: Vec<usize> = if table.freqs_hz.len() == 1 {
            vec![0]
        } else {
            freqs_hz
                .iter()
                .map(|&f| {
                    let k = nearest(&table.freqs_hz, f)?;
                    ((table.freqs_hz[k] - f).abs() <= 1.0).then_some(k)
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| CalError::Mismatch {
                    detail: format!(
                        "{:?} table of window {}: channel frequencies differ from the data's",
                        table.kind, table.spw
                    ),
                })?
        };
        let (nt, na, nc, nrec) = (time_row.len(), max_ant + 1, chan_row.len(), table.nrec());
        let mut g = vec![Complex32::new(0.0, 0.0); nt * na * nc * nrec];
        for (ar, &ant) in table.antennas.iter().enumerate() {
            let a = ant as usize;
            if a >= na {
                continue;
            }
            for (ti, &tr) in time_row.iter().enumerate() {
                for (ci, &cr) in chan_row.iter().enumerate() {
                    for r in 0..nrec {
                        let idx = [tr, ar, cr, r];
                        if !table.flags[idx] {
                            g[((ti * na + a) * nc + ci) * nrec + r] = table.gains[idx];
                        }
                    }
                }
            }
        }
        Ok(Self {
            nt,
            na,
            nc,
            nrec,
            g,
        })
    }

    /// Gains of antenna `ant` at integration `t`: `nc × nrec` values (channel-major).
    #[inline]
    pub(crate) fn antenna(&self, t: usize, ant: u32) -> Option<&[Complex32]> {
        let a = ant as usize;
        if a >= self.na {
            return None;
        }
        let ti = if self.nt == 1 { 0 } else { t };
        let o = (ti * self.na + a) * self.nc * self.nrec;
        self.g.get(o..o + self.nc * self.nrec)
    }

    /// Index of channel `c` in an [`DenseGains::antenna`] slice for receptor `r`.
    #[inline]
    pub(crate) fn at(&self, c: usize, r: usize) -> usize {
        (if self.nc == 1 { 0 } else { c }) * self.nrec + r
    }

    pub(crate) fn nrec(&self) -> usize {
        self.nrec
    }
}

pub(crate) fn nearest(xs: &[f64], x: f64) -> Option<usize> {
    xs.iter()
        .enumerate()
        .min_by(|a, b| (a.1 - x).abs().total_cmp(&(b.1 - x).abs()))
        .map(|(k, _)| k)
}

/// Accumulate over (time for B | channel for G).
fn accumulate(
    block: &VisBlock,
    model: ArrayView2<'_, Complex32>,
    pm: &PolMap,
    kind: JonesKind,
    prior: Option<&DenseGains>,
) -> Accum {
    let nbls = block.nbls();
    let nt = block.ntimes();
    let nc = block.nchan();
    let np = block.npol();
    let nrec = pm.nrec;
    let nsol = match kind {
        JonesKind::B => nc,
        JonesKind::G => nt,
    };
    let per_bl = nsol * nrec;
    let data = block.data.as_standard_layout();
    let flags = block.flags.as_standard_layout();
    let wts = block.nsamples.as_standard_layout();
    let model = model.as_standard_layout();
    let (Some(data), Some(flags), Some(wts), Some(model)) = (
        data.as_slice(),
        flags.as_slice(),
        wts.as_slice(),
        model.as_slice(),
    ) else {
        // as_standard_layout always yields contiguous arrays
        return Accum {
            nsol,
            nrec,
            a: vec![Complex64::new(0.0, 0.0); nbls * per_bl],
            b: vec![0.0; nbls * per_bl],
            c: vec![0.0; nbls * per_bl],
            n: vec![0; nbls * per_bl],
        };
    };
    let mut a = vec![Complex64::new(0.0, 0.0); nbls * per_bl];
    let mut bb = vec![0.0f64; nbls * per_bl];
    let mut cc = vec![0.0f64; nbls * per_bl];
    let mut nn = vec![0u32; nbls * per_bl];
    a.par_chunks_mut(per_bl)
        .zip(bb.par_chunks_mut(per_bl))
        .zip(cc.par_chunks_mut(per_bl))
        .zip(nn.par_chunks_mut(per_bl))
        .enumerate()
        .for_each(|(b, (((a, bb), cc), nn))| {
            let (a1, a2) = (block.ant1[b], block.ant2[b]);
            if a1 == a2 {
                return;
            }
            for t in 0..nt {
                let row = t * nbls + b;
                let (g1, g2) = match prior {
                    Some(pr) => match (pr.antenna(t, a1), pr.antenna(t, a2)) {
                        (Some(x), Some(y)) => (Some(x), Some(y)),
                        _ => continue,
                    },
                    None => (None, None),
                };
                let d = &data[row * nc * np..(row + 1) * nc * np];
                let f = &flags[row * nc * np..(row + 1) * nc * np];
                let w = &wts[row * nc * np..(row + 1) * nc * np];
                let mrow = &model[row * nc..(row + 1) * nc];
                for (c, mc) in mrow.iter().enumerate() {
                    let m0 = Complex64::new(f64::from(mc.re), f64::from(mc.im));
                    let s = match kind {
                        JonesKind::B => c,
                        JonesKind::G => t,
                    };
                    for (r, &p) in pm.parallel.iter().enumerate() {
                        let k = c * np + p;
                        let (v, wt) = (d[k], w[k]);
                        if f[k] || !(wt > 0.0 && v.re.is_finite() && v.im.is_finite()) {
                            continue;
                        }
                        let mut m = m0;
                        if let (Some(g1), Some(g2), Some(pr)) = (g1, g2, prior) {
                            let i = pr.at(c, r);
                            let (x, y) = (g1[i], g2[i]);
                            if x.norm_sqr() == 0.0 || y.norm_sqr() == 0.0 {
                                continue;
                            }
                            let gg = x * y.conj();
                            m *= Complex64::new(f64::from(gg.re), f64::from(gg.im));
                        }
                        let v = Complex64::new(f64::from(v.re), f64::from(v.im));
                        let wt = f64::from(wt);
                        let o = s * nrec + r;
                        a[o] += wt * v * m.conj();
                        bb[o] += wt * m.norm_sqr();
                        cc[o] += wt * v.norm_sqr();
                        nn[o] += 1;
                    }
                }
            }
        });
    Accum {
        nsol,
        nrec,
        a,
        b: bb,
        c: cc,
        n: nn,
    }
}

/// One solution interval's result.
struct IntervalSol {
    g: Vec<Complex64>,
    flag: Vec<bool>,
    snr: Vec<f64>,
    err: Vec<f64>,
}

/// StEFCal on one interval. `bi`, `bj`: antenna indices per baseline (cross only).
#[allow(clippy::too_many_arguments)]
fn solve_interval(
    nant: usize,
    bi: &[usize],
    bj: &[usize],
    a: &[Complex64],
    b: &[f64],
    c: &[f64],
    n: &[u32],
    p: &SolveParams,
) -> IntervalSol {
    let nbl = bi.len();
    let mut active = vec![true; nant];
    let mut g = vec![Complex64::new(1.0, 0.0); nant];
    let mut snr = vec![0.0; nant];
    let mut err = vec![0.0; nant];
    for _round in 0..3 {
        // minblperant, until stable
        loop {
            let mut nbl_ant = vec![0usize; nant];
            for k in 0..nbl {
                let (i, j) = (bi[k], bj[k]);
                if active[i] && active[j] && n[k] > 0 && b[k] > 0.0 {
                    nbl_ant[i] += 1;
                    nbl_ant[j] += 1;
                }
            }
            let mut changed = false;
            for i in 0..nant {
                if active[i] && nbl_ant[i] < p.minblperant.max(1) {
                    active[i] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        if !active.iter().any(|&x| x) {
            break;
        }
        stefcal(bi, bj, a, b, n, &active, &mut g, p.max_iter, p.tol);
        // χ², errors, SNR
        let mut chi2 = 0.0;
        let mut nvis = 0u64;
        let mut den = vec![0.0f64; nant];
        for k in 0..nbl {
            let (i, j) = (bi[k], bj[k]);
            if !(active[i] && active[j]) || n[k] == 0 {
                continue;
            }
            let gg = g[i] * g[j].conj();
            chi2 += c[k] - 2.0 * (gg.conj() * a[k]).re + gg.norm_sqr() * b[k];
            nvis += u64::from(n[k]);
            den[i] += b[k] * g[j].norm_sqr();
            den[j] += b[k] * g[i].norm_sqr();
        }
        let nact = active.iter().filter(|&&x| x).count() as f64;
        let dof = (2.0 * nvis as f64 - 2.0 * nact).max(1.0);
        let s2 = (chi2 / dof).max(0.0);
        let mut newly = false;
        for i in 0..nant {
            if !active[i] {
                continue;
            }
            let sig = if den[i] > 0.0 {
                (s2 / den[i]).sqrt()
            } else {
                f64::INFINITY
            };
            err[i] = sig;
            snr[i] = if sig > 0.0 { g[i].norm() / sig } else { 1e9 };
            if snr[i].is_nan() || snr[i] < p.min_snr {
                active[i] = false;
                newly = true;
            }
        }
        if !newly {
            break;
        }
    }
    let flag: Vec<bool> = active.iter().map(|&x| !x).collect();
    for i in 0..nant {
        if flag[i] {
            g[i] = Complex64::new(1.0, 0.0);
            snr[i] = 0.0;
            err[i] = 0.0;
        }
    }
    IntervalSol { g, flag, snr, err }
}

/// StEFCal iterations on the active antennas.
#[allow(clippy::too_many_arguments)]
fn stefcal(
    bi: &[usize],
    bj: &[usize],
    a: &[Complex64],
    b: &[f64],
    n: &[u32],
    active: &[bool],
    g: &mut [Complex64],
    max_iter: usize,
    tol: f64,
) {
    let nant = g.len();
    for (x, &on) in g.iter_mut().zip(active) {
        *x = if on {
            Complex64::new(1.0, 0.0)
        } else {
            Complex64::new(0.0, 0.0)
        };
    }
    let mut num = vec![Complex64::new(0.0, 0.0); nant];
    let mut den = vec![0.0f64; nant];
    for it in 0..max_iter {
        num.fill(Complex64::new(0.0, 0.0));
        den.fill(0.0);
        for k in 0..bi.len() {
            let (i, j) = (bi[k], bj[k]);
            if n[k] == 0 || !(active[i] && active[j]) {
                continue;
            }
            num[i] += a[k] * g[j];
            den[i] += b[k] * g[j].norm_sqr();
            num[j] += a[k].conj() * g[i];
            den[j] += b[k] * g[i].norm_sqr();
        }
        let mut dnorm = 0.0;
        let mut gnorm = 0.0;
        for i in 0..nant {
            if !active[i] || den[i] <= 0.0 {
                continue;
            }
            let mut gn = num[i] / den[i];
            if it % 2 == 1 {
                gn = 0.5 * (gn + g[i]);
            }
            dnorm += (gn - g[i]).norm_sqr();
            gnorm += gn.norm_sqr();
            g[i] = gn;
        }
        if it % 2 == 1 && gnorm > 0.0 && (dnorm / gnorm).sqrt() < tol {
            break;
        }
    }
}

/// Antenna numbers of the cross-correlations and per-baseline indices.
struct AntIndex {
    antennas: Vec<u32>,
    /// per baseline of the block: Some(k) for a cross-correlation (k into bi/bj)
    cross: Vec<Option<usize>>,
    bi: Vec<usize>,
    bj: Vec<usize>,
    max_ant: usize,
}

fn ant_index(ant1: &[u32], ant2: &[u32]) -> AntIndex {
    let mut antennas: Vec<u32> = ant1
        .iter()
        .zip(ant2)
        .filter(|(a, b)| a != b)
        .flat_map(|(&a, &b)| [a, b])
        .collect();
    antennas.sort_unstable();
    antennas.dedup();
    let max_ant = ant1.iter().chain(ant2).copied().max().unwrap_or(0) as usize;
    let mut idx = vec![usize::MAX; max_ant + 1];
    for (k, &a) in antennas.iter().enumerate() {
        idx[a as usize] = k;
    }
    let mut cross = Vec::with_capacity(ant1.len());
    let (mut bi, mut bj) = (Vec::new(), Vec::new());
    for (&a, &b) in ant1.iter().zip(ant2) {
        if a == b {
            cross.push(None);
        } else {
            cross.push(Some(bi.len()));
            bi.push(idx[a as usize]);
            bj.push(idx[b as usize]);
        }
    }
    AntIndex {
        antennas,
        cross,
        bi,
        bj,
        max_ant,
    }
}

/// Solve one table (B or G) of one spectral window, unreferenced (the phase
/// of each interval is arbitrary until [`reference_table`]).
pub fn solve_table(
    block: &VisBlock,
    model: ArrayView2<'_, Complex32>,
    spw: usize,
    kind: JonesKind,
    prior: Option<&SolutionTable>,
    params: &SolveParams,
) -> Result<SolutionTable, CalError> {
    block.validate().map_err(|source| CalError::Astro {
        what: "visibility block shape",
        source,
    })?;
    if model.dim() != (block.nrows(), block.nchan()) {
        return Err(CalError::Shape {
            what: "model",
            detail: format!(
                "{:?} != ({}, {})",
                model.dim(),
                block.nrows(),
                block.nchan()
            ),
        });
    }
    let pm = pol_map(&block.pols)?;
    let ai = ant_index(&block.ant1, &block.ant2);
    if ai.antennas.is_empty() {
        return Err(CalError::NoData {
            spw,
            reason: "no cross-correlations".into(),
        });
    }
    let prior = match prior {
        Some(t) => Some(DenseGains::new(
            t,
            &block.times_jd_utc,
            &block.freqs_hz,
            ai.max_ant,
        )?),
        None => None,
    };
    let acc = accumulate(block, model, &pm, kind, prior.as_ref());
    if acc.n.iter().all(|&n| n == 0) {
        return Err(CalError::NoData {
            spw,
            reason: "every cross-correlation sample is flagged or has zero weight".into(),
        });
    }
    let nant = ai.antennas.len();
    let ncross = ai.bi.len();
    let (nsol, nrec) = (acc.nsol, acc.nrec);
    let per_bl = nsol * nrec;
    // cross baselines' accumulator offsets
    let bl_of_cross: Vec<usize> = ai
        .cross
        .iter()
        .enumerate()
        .filter_map(|(b, c)| c.map(|_| b))
        .collect();
    let sols: Vec<IntervalSol> = (0..nsol * nrec)
        .into_par_iter()
        .map(|k| {
            let mut a = Vec::with_capacity(ncross);
            let mut b = Vec::with_capacity(ncross);
            let mut c = Vec::with_capacity(ncross);
            let mut n = Vec::with_capacity(ncross);
            for &bl in &bl_of_cross {
                let o = bl * per_bl + k;
                a.push(acc.a[o]);
                b.push(acc.b[o]);
                c.push(acc.c[o]);
                n.push(acc.n[o]);
            }
            solve_interval(nant, &ai.bi, &ai.bj, &a, &b, &c, &n, params)
        })
        .collect();
    let (nt_sol, nch_sol) = match kind {
        JonesKind::B => (1, nsol),
        JonesKind::G => (nsol, 1),
    };
    let dim = (nt_sol, nant, nch_sol, nrec);
    let mut gains = Array4::from_elem(dim, Complex32::new(1.0, 0.0));
    let mut flags = Array4::from_elem(dim, true);
    let mut snr = Array4::zeros(dim);
    let mut err = Array4::zeros(dim);
    for (k, s) in sols.iter().enumerate() {
        let (sol, r) = (k / nrec, k % nrec);
        let (ti, ci) = match kind {
            JonesKind::B => (0, sol),
            JonesKind::G => (sol, 0),
        };
        for i in 0..nant {
            let idx = [ti, i, ci, r];
            gains[idx] = Complex32::new(s.g[i].re as f32, s.g[i].im as f32);
            flags[idx] = s.flag[i];
            snr[idx] = s.snr[i].min(1e9) as f32;
            err[idx] = s.err[i] as f32;
        }
    }
    let mean_t = block.times_jd_utc.iter().sum::<f64>() / block.ntimes().max(1) as f64;
    let (times, interval_s, freqs) = match kind {
        JonesKind::B => (
            vec![mean_t],
            block.int_time_s * block.ntimes() as f64,
            block.freqs_hz.clone(),
        ),
        JonesKind::G => (
            block.times_jd_utc.clone(),
            block.int_time_s,
            vec![block.freqs_hz.iter().sum::<f64>() / block.nchan().max(1) as f64],
        ),
    };
    Ok(SolutionTable {
        kind,
        spw,
        times_jd_utc: times,
        interval_s,
        antennas: ai.antennas,
        freqs_hz: freqs,
        gains,
        flags,
        snr,
        param_err: err,
        refant: u32::MAX,
    })
}

/// Rotate every interval so that the first unflagged antenna of `ranking`
/// (antenna numbers, best first) has a real positive gain.
pub fn reference_table(table: &mut SolutionTable, ranking: &[u32]) {
    let (nt, _nant, nc, nr) = table.gains.dim();
    let rows: Vec<usize> = ranking
        .iter()
        .filter_map(|&a| table.antenna_index(a))
        .collect();
    if let Some(&a) = ranking.first() {
        table.refant = a;
    }
    for t in 0..nt {
        for c in 0..nc {
            for r in 0..nr {
                let Some(&ref_row) = rows.iter().find(|&&k| !table.flags[[t, k, c, r]]) else {
                    continue;
                };
                let g = table.gains[[t, ref_row, c, r]];
                let nrm = g.norm();
                if nrm == 0.0 {
                    continue;
                }
                let rot = g.conj() / nrm;
                for i in 0..table.antennas.len() {
                    if !table.flags[[t, i, c, r]] {
                        table.gains[[t, i, c, r]] *= rot;
                    }
                }
            }
        }
    }
}

/// Add a block's unflagged cross-correlation samples per antenna to `counts`.
fn count_unflagged(blk: &VisBlock, counts: &mut std::collections::BTreeMap<u32, u64>) {
    let nbls = blk.nbls();
    for (row, f) in blk.flags.outer_iter().enumerate() {
        let b = row % nbls;
        let (a1, a2) = (blk.ant1[b], blk.ant2[b]);
        if a1 == a2 {
            continue;
        }
        let good = f.iter().filter(|&&x| !x).count() as u64;
        *counts.entry(a1).or_default() += good;
        *counts.entry(a2).or_default() += good;
    }
}

/// Rank antennas for the reference: most unflagged cross samples (`counts`,
/// within 1 %), then the higher median SNR in `tables`.
fn rank_antennas(
    counts: &std::collections::BTreeMap<u32, u64>,
    tables: &[SolutionTable],
) -> Vec<u32> {
    let max = counts.values().copied().max().unwrap_or(0) as f64;
    let mut snrs: std::collections::BTreeMap<u32, Vec<f32>> = Default::default();
    for t in tables {
        for (i, &a) in t.antennas.iter().enumerate() {
            let e = snrs.entry(a).or_default();
            for (idx, &s) in t.snr.indexed_iter() {
                if idx.1 == i && !t.flags[idx] {
                    e.push(s);
                }
            }
        }
    }
    let mut ranked: Vec<(u32, u64, f64)> = counts
        .iter()
        .map(|(&a, &n)| {
            let bucket = if max > 0.0 {
                ((n as f64 / max) * 100.0).floor() as u64
            } else {
                0
            };
            let med = snrs
                .get_mut(&a)
                .map(|v| median(v.iter().map(|&x| f64::from(x)).collect()))
                .unwrap_or(0.0);
            (a, bucket, med)
        })
        .collect();
    ranked.sort_by(|x, y| y.1.cmp(&x.1).then(y.2.total_cmp(&x.2)).then(x.0.cmp(&y.0)));
    ranked.into_iter().map(|r| r.0).collect()
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

/// Solve B then G for every spectral window of a group (`models[k]` for
/// `blocks[k]`, as from [`crate::model::predict_block`]), choose and apply the
/// reference antenna, and summarise the QA: [`GroupSolver`] over the windows
/// in order (window `k` is spectral window `k`).
pub fn solve_spws(
    blocks: &[VisBlock],
    models: &[Array2<Complex32>],
    params: &SolveParams,
) -> Result<CalSolutions, CalError> {
    if blocks.len() != models.len() || blocks.is_empty() {
        return Err(CalError::Shape {
            what: "models",
            detail: format!("{} models for {} windows", models.len(), blocks.len()),
        });
    }
    let mut solver = GroupSolver::new(params);
    for (k, (blk, m)) in blocks.iter().zip(models).enumerate() {
        solver.add_window(k, blk, m.view())?;
    }
    solver.finish()
}

/// Solves a group window by window, so that only one window's visibilities
/// need be in memory: [`add_window`](Self::add_window) solves the window's B
/// (all integrations, no prior) and G (per integration, B applied;
/// `outer_iterations > 1` re-solves B with G applied and G again), counts
/// its unflagged samples per antenna and adds its share of the model fit;
/// [`finish`](Self::finish) ranks the antennas (most unflagged data, then the
/// median B SNR over every window), rotates every table to the reference
/// antenna and summarises the QA. Rotating a table does not change any
/// `g_i conj(g_j)`, so the model fit (and a correction applied with the
/// window's unreferenced tables, [`last_tables`](Self::last_tables)) is the
/// same before and after, to rounding.
#[derive(Debug)]
pub struct GroupSolver<'p> {
    params: &'p SolveParams,
    bands: Vec<SolutionTable>,
    gains: Vec<SolutionTable>,
    counts: std::collections::BTreeMap<u32, u64>,
    fit: FitSums,
}

impl<'p> GroupSolver<'p> {
    /// A solver with no window yet.
    pub fn new(params: &'p SolveParams) -> Self {
        Self {
            params,
            bands: Vec::new(),
            gains: Vec::new(),
            counts: Default::default(),
            fit: FitSums::default(),
        }
    }

    /// Solve one window (`spw` names it in the tables), with `model` its model
    /// visibilities (`[rows, nchan]`).
    ///
    /// # Errors
    /// As [`solve_table`], and [`CalError::Mismatch`] when a table does not fit.
    pub fn add_window(
        &mut self,
        spw: usize,
        block: &VisBlock,
        model: ArrayView2<'_, Complex32>,
    ) -> Result<(), CalError> {
        let params = self.params;
        let mut band = solve_table(block, model, spw, JonesKind::B, None, params)?;
        let mut g = solve_table(block, model, spw, JonesKind::G, Some(&band), params)?;
        if params.outer_iterations > 1 {
            // a provisional reference (this window's ranking) for the prior;
            // finish() references every table against the group's ranking
            let mut counts = Default::default();
            count_unflagged(block, &mut counts);
            let mut ranking = rank_antennas(&counts, std::slice::from_ref(&band));
            if let Some(a) = params.refant {
                ranking.retain(|&x| x != a);
                ranking.insert(0, a);
            }
            for _ in 1..params.outer_iterations {
                reference_table(&mut g, &ranking);
                band = solve_table(block, model, spw, JonesKind::B, Some(&g), params)?;
                g = solve_table(block, model, spw, JonesKind::G, Some(&band), params)?;
            }
        }
        count_unflagged(block, &mut self.counts);
        self.fit.add(block, model, &band, &g)?;
        self.bands.push(band);
        self.gains.push(g);
        Ok(())
    }

    /// The B and G tables of the last window added (unreferenced).
    pub fn last_tables(&self) -> Option<(&SolutionTable, &SolutionTable)> {
        self.bands.last().zip(self.gains.last())
    }

    /// Choose and apply the reference antenna; QA.
    ///
    /// # Errors
    /// [`CalError::Shape`] with no window; [`CalError::RefantUnavailable`]
    /// when the requested reference antenna has no solution.
    pub fn finish(self) -> Result<CalSolutions, CalError> {
        let Self {
            params,
            mut bands,
            mut gains,
            counts,
            fit,
        } = self;
        if bands.is_empty() {
            return Err(CalError::Shape {
                what: "models",
                detail: "no windows solved".into(),
            });
        }
        let ranking = match params.refant {
            Some(a) => {
                let mut r = rank_antennas(&counts, &bands);
                if !bands.iter().any(|t| t.antenna_index(a).is_some()) {
                    return Err(CalError::RefantUnavailable { antenna: a });
                }
                r.retain(|&x| x != a);
                r.insert(0, a);
                r
            }
            None => rank_antennas(&counts, &bands),
        };
        let refant = ranking.first().copied().unwrap_or(0);
        for t in bands.iter_mut().chain(gains.iter_mut()) {
            reference_table(t, &ranking);
        }
        let mut qa = qa_summary(&bands, &gains, &params.qa);
        qa.add_model_fit(fit.fraction(), &params.qa);
        Ok(CalSolutions {
            bandpass: bands,
            gains,
            refant,
            qa,
        })
    }
}

impl QaReport {
    /// Records the model fit ([`model_residual_fraction`]) and checks it against
    /// `th.max_model_residual`.
    pub fn add_model_fit(&mut self, fraction: Option<f64>, th: &QaThresholds) {
        self.model_residual = fraction;
        if let Some(f) = fraction {
            if f.is_nan() || f > th.max_model_residual {
                self.failures.push(format!(
                    "the model leaves {:.0} % of its power unexplained (> {:.0} %): \
                     wrong calibrator model or position?",
                    100.0 * f,
                    100.0 * th.max_model_residual
                ));
                self.passed = false;
            }
        }
    }
}

/// How badly the calibrated model misses the data: (⟨|r|²⟩ − σ²) / ⟨|p|²⟩ with
/// p = g_i M g_j* (B × G of each antenna and receptor) and r = V − p over every
/// unflagged parallel-hand cross-correlation of every window, σ² = ⟨|r_c − r_{c+1}|²⟩ / 2
/// from adjacent channels (the noise: what the model leaves unexplained varies slowly
/// with frequency, the noise does not). Weighted by nsamples. `None` without data.
///
/// # Errors
/// [`CalError::Mismatch`] when a table does not fit its window.
pub fn model_residual_fraction(
    blocks: &[VisBlock],
    models: &[Array2<Complex32>],
    bands: &[SolutionTable],
    gains: &[SolutionTable],
) -> Result<Option<f64>, CalError> {
    let mut fit = FitSums::default();
    for (((blk, model), b), g) in blocks.iter().zip(models).zip(bands).zip(gains) {
        fit.add(blk, model.view(), b, g)?;
    }
    Ok(fit.fraction())
}

/// The sums of [`model_residual_fraction`], window by window.
#[derive(Clone, Debug, Default)]
struct FitSums {
    res: f64,
    pow: f64,
    wsum: f64,
    diff: f64,
    dw: f64,
}

impl FitSums {
    fn add(
        &mut self,
        blk: &VisBlock,
        model: ArrayView2<'_, Complex32>,
        b: &SolutionTable,
        g: &SolutionTable,
    ) -> Result<(), CalError> {
        let pm = pol_map(&blk.pols)?;
        let ai = ant_index(&blk.ant1, &blk.ant2);
        let bd = DenseGains::new(b, &blk.times_jd_utc, &blk.freqs_hz, ai.max_ant)?;
        let gd = DenseGains::new(g, &blk.times_jd_utc, &blk.freqs_hz, ai.max_ant)?;
        let (nbls, nc, np) = (blk.nbls(), blk.nchan(), blk.npol());
        let data = blk.data.as_standard_layout();
        let flags = blk.flags.as_standard_layout();
        let wts = blk.nsamples.as_standard_layout();
        let model = model.as_standard_layout();
        let (Some(data), Some(flags), Some(wts), Some(model)) = (
            data.as_slice(),
            flags.as_slice(),
            wts.as_slice(),
            model.as_slice(),
        ) else {
            return Err(CalError::Shape {
                what: "block",
                detail: "arrays not in standard layout".into(),
            });
        };
        // per row (integration × baseline), in parallel; summed in row order
        let sums: Vec<[f64; 5]> = (0..blk.ntimes() * nbls)
            .into_par_iter()
            .map(|row| {
                let mut out = [0.0f64; 5];
                let (t, bl) = (row / nbls, row % nbls);
                let (a1, a2) = (blk.ant1[bl], blk.ant2[bl]);
                if a1 == a2 {
                    return out;
                }
                let (Some(b1), Some(b2), Some(g1), Some(g2)) = (
                    bd.antenna(t, a1),
                    bd.antenna(t, a2),
                    gd.antenna(t, a1),
                    gd.antenna(t, a2),
                ) else {
                    return out;
                };
                let d = &data[row * nc * np..(row + 1) * nc * np];
                let f = &flags[row * nc * np..(row + 1) * nc * np];
                let w = &wts[row * nc * np..(row + 1) * nc * np];
                let m = &model[row * nc..(row + 1) * nc];
                for (r, &p) in pm.parallel.iter().enumerate() {
                    let mut prev: Option<(Complex64, f64)> = None;
                    for c in 0..nc {
                        let k = c * np + p;
                        let (v, wk) = (d[k], f64::from(w[k]));
                        let gi = b1[bd.at(c, r)] * g1[gd.at(c, r)];
                        let gj = b2[bd.at(c, r)] * g2[gd.at(c, r)];
                        let usable = !f[k]
                            && wk > 0.0
                            && v.re.is_finite()
                            && v.im.is_finite()
                            && gi.norm_sqr() > 0.0
                            && gj.norm_sqr() > 0.0;
                        if !usable {
                            prev = None;
                            continue;
                        }
                        let mc = m[c];
                        let pred = Complex64::new(f64::from(mc.re), f64::from(mc.im))
                            * c64(gi * gj.conj());
                        let rc = c64(v) - pred;
                        out[0] += wk * rc.norm_sqr();
                        out[1] += wk * pred.norm_sqr();
                        out[2] += wk;
                        if let Some((rp, wp)) = prev {
                            let wd = wk.min(wp);
                            out[3] += wd * (rc - rp).norm_sqr() / 2.0;
                            out[4] += wd;
                        }
                        prev = Some((rc, wk));
                    }
                }
                out
            })
            .collect();
        for x in sums {
            self.res += x[0];
            self.pow += x[1];
            self.wsum += x[2];
            self.diff += x[3];
            self.dw += x[4];
        }
        Ok(())
    }

    fn fraction(&self) -> Option<f64> {
        if self.wsum <= 0.0 || self.pow <= 0.0 {
            return None;
        }
        let noise = if self.dw > 0.0 {
            self.diff / self.dw
        } else {
            0.0
        };
        Some(((self.res / self.wsum - noise).max(0.0)) / (self.pow / self.wsum))
    }
}

fn c64(z: Complex32) -> Complex64 {
    Complex64::new(f64::from(z.re), f64::from(z.im))
}

/// The QA figures and verdict for a set of tables.
pub fn qa_summary(bands: &[SolutionTable], gains: &[SolutionTable], th: &QaThresholds) -> QaReport {
    let stats = |ts: &[SolutionTable]| {
        let mut snr = Vec::new();
        let (mut nf, mut n) = (0usize, 0usize);
        for t in ts {
            for (idx, &f) in t.flags.indexed_iter() {
                n += 1;
                if f {
                    nf += 1;
                } else {
                    snr.push(f64::from(t.snr[idx]));
                }
            }
        }
        (median(snr), if n > 0 { nf as f64 / n as f64 } else { 1.0 })
    };
    let (snr_b, ff_b) = stats(bands);
    let (snr_g, ff_g) = stats(gains);
    let mut amp_sc = Vec::new();
    let mut ph_sc = Vec::new();
    for t in gains {
        let (nt, nant, nc, nr) = t.gains.dim();
        for i in 0..nant {
            for c in 0..nc {
                for r in 0..nr {
                    let v: Vec<Complex64> = (0..nt)
                        .filter(|&k| !t.flags[[k, i, c, r]])
                        .map(|k| {
                            let g = t.gains[[k, i, c, r]];
                            Complex64::new(f64::from(g.re), f64::from(g.im))
                        })
                        .collect();
                    if v.len() < 2 {
                        continue;
                    }
                    let nv = v.len() as f64;
                    let amps: Vec<f64> = v.iter().map(|g| g.norm()).collect();
                    let ma = amps.iter().sum::<f64>() / nv;
                    let sa = (amps.iter().map(|a| (a - ma).powi(2)).sum::<f64>() / nv).sqrt();
                    if ma > 0.0 {
                        amp_sc.push(sa / ma);
                    }
                    let mean: Complex64 = v.iter().sum::<Complex64>() / nv;
                    let sp = (v
                        .iter()
                        .map(|g| (g * mean.conj()).arg().powi(2))
                        .sum::<f64>()
                        / nv)
                        .sqrt();
                    ph_sc.push(sp.to_degrees());
                }
            }
        }
    }
    let amp_scatter = median(amp_sc);
    let phase_scatter = median(ph_sc);
    let mut failures = Vec::new();
    if snr_g < th.min_median_snr_g {
        failures.push(format!("median G SNR {snr_g:.1} < {}", th.min_median_snr_g));
    }
    if snr_b < th.min_median_snr_b {
        failures.push(format!("median B SNR {snr_b:.1} < {}", th.min_median_snr_b));
    }
    if ff_b > th.max_flagged_fraction {
        failures.push(format!(
            "B flagged fraction {ff_b:.3} > {}",
            th.max_flagged_fraction
        ));
    }
    if ff_g > th.max_flagged_fraction {
        failures.push(format!(
            "G flagged fraction {ff_g:.3} > {}",
            th.max_flagged_fraction
        ));
    }
    if amp_scatter > th.max_amp_scatter {
        failures.push(format!(
            "G amplitude scatter {amp_scatter:.3} > {}",
            th.max_amp_scatter
        ));
    }
    if phase_scatter > th.max_phase_scatter_deg {
        failures.push(format!(
            "G phase scatter {phase_scatter:.2}° > {}°",
            th.max_phase_scatter_deg
        ));
    }
    QaReport {
        median_snr_b: snr_b,
        median_snr_g: snr_g,
        flagged_fraction_b: ff_b,
        flagged_fraction_g: ff_g,
        amp_scatter_g: amp_scatter,
        phase_scatter_g_deg: phase_scatter,
        model_residual: None,
        passed: failures.is_empty(),
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stefcal_recovers_gains_from_exact_statistics() {
        // 6 antennas, all baselines, M = 1: A_ij = g_i conj(g_j)
        let g_true: Vec<Complex64> = (0..6)
            .map(|i| Complex64::from_polar(1.0 + 0.1 * i as f64, 0.3 * i as f64 - 0.7))
            .collect();
        let (mut bi, mut bj, mut a) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..6 {
            for j in (i + 1)..6 {
                bi.push(i);
                bj.push(j);
                a.push(g_true[i] * g_true[j].conj());
            }
        }
        let b = vec![1.0; bi.len()];
        let n = vec![1u32; bi.len()];
        let mut g = vec![Complex64::new(0.0, 0.0); 6];
        stefcal(&bi, &bj, &a, &b, &n, &[true; 6], &mut g, 500, 1e-12);
        let rot = g_true[0] / g[0];
        for i in 0..6 {
            assert!((g[i] * rot - g_true[i]).norm() < 1e-9, "{i}");
        }
    }

    #[test]
    fn pol_maps() {
        let m = pol_map(&[-5, -6]).unwrap();
        assert_eq!((m.nrec, m.parallel.clone()), (2, vec![0, 1]));
        let m = pol_map(&[-5, -7, -8, -6]).unwrap();
        assert_eq!(m.parallel, vec![0, 3]);
        assert_eq!(m.pairs[1], Some((0, 1)));
        assert!(pol_map(&[1]).is_err());
        assert!(pol_map(&[-6]).is_err());
    }
}
