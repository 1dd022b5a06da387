//! Variability metrics of a light curve and the candidate rules.
//!
//! For fluxes `f_i` with errors `σ_i` (epochs in time order; non-finite values or
//! `σ ≤ 0` are left out), `w_i = 1/σ_i²`, weighted mean `f̄_w = Σw f/Σw`:
//! - `η = Σ w (f − f̄_w)² / (N − 1)` — the weighted reduced χ² about the weighted mean
//!   (Mooley et al. 2016; VAST's η);
//! - `V = s / f̄` — the fractional standard deviation (sample std over the plain mean);
//! - `χ²ν = Σ ((f − median)/σ)² / (N − 1)` — reduced χ² about the median flux (a constant
//!   model robust to a few outlying epochs);
//! - `max_sigma_dev = max |f − f̄_w| / σ`;
//! - `m = √max(0, s² − ⟨σ²⟩) / f̄` — the debiased modulation index (intrinsic variability,
//!   noise removed);
//! - two-epoch (Mooley et al. 2016): `Vs = (f_a − f_b)/√(σ_a² + σ_b²)`,
//!   `m_ab = 2 (f_a − f_b)/(f_a + f_b)` over all pairs; reported: the pair with the largest
//!   |Vs| (`vs_max_abs`, `m_at_vs_max`) and the largest |m_ab| among pairs with
//!   |Vs| ≥ `vs_min` (`m_max_significant`, 0 if none).
//!
//! Candidate rules ([`classify`]), with `σ_eff,i = √(σ_i² + (sys_frac · median)²)` and
//! `z_i = (f_i − median)/σ_eff,i`:
//! - **ESE**: ≥ `ese_min_run` consecutive epochs each with `z ≤ −ese_k_sigma` and a
//!   fractional dip `(median − f)/median ≥ ese_min_depth`;
//! - **flare**: ≥ `flare_min_run` consecutive epochs each with `z ≥ flare_k_sigma` and a
//!   fractional rise ≥ `flare_min_rise`;
//! - **variable**: `η ≥ eta_min` and `V ≥ v_min` (only when neither rule above fires).
//!
//! Defaults: ESE 3 epochs, 3σ, 15 %; flare 1 epoch, 5σ, 30 %; η ≥ 10 and V ≥ 0.1; sys_frac
//! 2 % (residual flux-scale error after normalisation); vs_min 4.3.

/// Per-source variability statistics.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LightCurveStats {
    pub n: usize,
    pub mean_flux: f64,
    pub weighted_mean_flux: f64,
    pub median_flux: f64,
    pub std_flux: f64,
    pub eta: f64,
    pub v: f64,
    pub chi2_red: f64,
    pub max_sigma_dev: f64,
    pub m: f64,
    pub vs_max_abs: f64,
    pub m_at_vs_max: f64,
    pub m_max_significant: f64,
}

/// Thresholds of the candidate rules (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariabilityRules {
    pub sys_frac: f64,
    pub ese_min_run: usize,
    pub ese_k_sigma: f64,
    pub ese_min_depth: f64,
    pub flare_min_run: usize,
    pub flare_k_sigma: f64,
    pub flare_min_rise: f64,
    pub eta_min: f64,
    pub v_min: f64,
    pub vs_min: f64,
}

impl Default for VariabilityRules {
    fn default() -> Self {
        Self {
            sys_frac: 0.02,
            ese_min_run: 3,
            ese_k_sigma: 3.0,
            ese_min_depth: 0.15,
            flare_min_run: 1,
            flare_k_sigma: 5.0,
            flare_min_rise: 0.3,
            eta_min: 10.0,
            v_min: 0.1,
            vs_min: 4.3,
        }
    }
}

/// Kind of candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CandidateKind {
    Ese,
    Flare,
    Variable,
}

/// The outcome of [`classify`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Classification {
    pub stats: LightCurveStats,
    pub kind: Option<CandidateKind>,
    /// Why it is a candidate (every rule that fired), empty if it is not.
    pub reason: String,
}

fn median_of(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

fn clean(flux: &[f64], err: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
    let mut f = Vec::new();
    let mut e = Vec::new();
    let mut idx = Vec::new();
    for (i, (&a, &b)) in flux.iter().zip(err).enumerate() {
        if a.is_finite() && b.is_finite() && b > 0.0 {
            f.push(a);
            e.push(b);
            idx.push(i);
        }
    }
    (f, e, idx)
}

/// Statistics of one light curve; `None` with fewer than 2 usable epochs.
pub fn light_curve_stats(flux: &[f64], err: &[f64], vs_min: f64) -> Option<LightCurveStats> {
    let (f, e, _) = clean(flux, err);
    let n = f.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let w: Vec<f64> = e.iter().map(|s| 1.0 / (s * s)).collect();
    let sw: f64 = w.iter().sum();
    let wmean = f.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let mean = f.iter().sum::<f64>() / nf;
    let med = median_of(&f);
    let var = f.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let std = var.sqrt();
    let eta = f
        .iter()
        .zip(&w)
        .map(|(a, b)| b * (a - wmean).powi(2))
        .sum::<f64>()
        / (nf - 1.0);
    let chi2_red = f
        .iter()
        .zip(&e)
        .map(|(a, s)| ((a - med) / s).powi(2))
        .sum::<f64>()
        / (nf - 1.0);
    let max_sigma_dev = f
        .iter()
        .zip(&e)
        .map(|(a, s)| (a - wmean).abs() / s)
        .fold(0.0, f64::max);
    let mean_var_err = e.iter().map(|s| s * s).sum::<f64>() / nf;
    let m = (var - mean_var_err).max(0.0).sqrt() / mean;
    let (mut vs_max_abs, mut m_at_vs_max, mut m_max_sig) = (0.0_f64, 0.0_f64, 0.0_f64);
    for a in 0..n {
        for b in a + 1..n {
            let vs = (f[a] - f[b]) / (e[a] * e[a] + e[b] * e[b]).sqrt();
            let mab = 2.0 * (f[a] - f[b]) / (f[a] + f[b]);
            if vs.abs() > vs_max_abs {
                vs_max_abs = vs.abs();
                m_at_vs_max = mab;
            }
            if vs.abs() >= vs_min && mab.abs() > m_max_sig {
                m_max_sig = mab.abs();
            }
        }
    }
    Some(LightCurveStats {
        n,
        mean_flux: mean,
        weighted_mean_flux: wmean,
        median_flux: med,
        std_flux: std,
        eta,
        v: std / mean,
        chi2_red,
        max_sigma_dev,
        m,
        vs_max_abs,
        m_at_vs_max,
        m_max_significant: m_max_sig,
    })
}

/// Longest-first list of runs `(start, len)` of consecutive `true`.
fn runs(mask: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < mask.len() {
        if mask[i] {
            let s = i;
            while i < mask.len() && mask[i] {
                i += 1;
            }
            out.push((s, i - s));
        } else {
            i += 1;
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.1));
    out
}

/// Statistics and candidate classification of one light curve (epochs in time order).
/// `None` with fewer than 2 usable epochs. Epoch numbers in the reason are indices into
/// the given arrays.
pub fn classify(flux: &[f64], err: &[f64], rules: &VariabilityRules) -> Option<Classification> {
    let stats = light_curve_stats(flux, err, rules.vs_min)?;
    let (f, e, idx) = clean(flux, err);
    let med = stats.median_flux;
    let floor = rules.sys_frac * med.abs();
    let z: Vec<f64> = f
        .iter()
        .zip(&e)
        .map(|(a, s)| (a - med) / (s * s + floor * floor).sqrt())
        .collect();
    let frac: Vec<f64> = f
        .iter()
        .map(|a| (a - med) / med.abs().max(f64::MIN_POSITIVE))
        .collect();
    let mut reasons = Vec::new();
    let mut kind = None;
    let describe = |label: &str, (s, len): (usize, usize), z: &[f64], frac: &[f64]| {
        let depth = frac[s..s + len].iter().sum::<f64>() / len as f64;
        let zext =
            z[s..s + len]
                .iter()
                .copied()
                .fold(0.0_f64, |a, b| if b.abs() > a.abs() { b } else { a });
        format!(
            "{label}: {len} consecutive epochs {}–{} at {:+.0}% of the median flux (extreme {:+.1}σ)",
            idx[s],
            idx[s + len - 1],
            100.0 * depth,
            zext
        )
    };
    let dip: Vec<bool> = z
        .iter()
        .zip(&frac)
        .map(|(zz, fr)| *zz <= -rules.ese_k_sigma && -fr >= rules.ese_min_depth)
        .collect();
    if let Some(&r) = runs(&dip).first() {
        if r.1 >= rules.ese_min_run.max(1) {
            kind = Some(CandidateKind::Ese);
            let mut text = describe("ESE-like dip", r, &z, &frac);
            // Caustic spikes: the epochs just before and after the dip above the median.
            let before = r.0.checked_sub(1).map(|i| z[i]);
            let after = z.get(r.0 + r.1).copied();
            if before.is_some_and(|v| v >= 2.0) || after.is_some_and(|v| v >= 2.0) {
                text.push_str(", with brighter edges (caustics)");
            }
            reasons.push(text);
        }
    }
    let rise: Vec<bool> = z
        .iter()
        .zip(&frac)
        .map(|(zz, fr)| *zz >= rules.flare_k_sigma && *fr >= rules.flare_min_rise)
        .collect();
    if let Some(&r) = runs(&rise).first() {
        if r.1 >= rules.flare_min_run.max(1) {
            kind = kind.or(Some(CandidateKind::Flare));
            reasons.push(describe("flare", r, &z, &frac));
        }
    }
    if stats.eta >= rules.eta_min && stats.v >= rules.v_min {
        kind = kind.or(Some(CandidateKind::Variable));
        reasons.push(format!(
            "variable: eta {:.1} ≥ {}, V {:.3} ≥ {}",
            stats.eta, rules.eta_min, stats.v, rules.v_min
        ));
    }
    Some(Classification {
        stats,
        kind,
        reason: reasons.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_metrics() {
        let f = [1.0, 2.0, 3.0];
        let e = [1.0, 1.0, 1.0];
        let s = light_curve_stats(&f, &e, 4.3).unwrap_or_else(|| panic!("stats"));
        assert!((s.eta - 1.0).abs() < 1e-12); // Σ(f−2)² / 2 = 1
        assert!((s.v - 0.5).abs() < 1e-12); // std 1 / mean 2
        assert!((s.chi2_red - 1.0).abs() < 1e-12);
        assert!((s.max_sigma_dev - 1.0).abs() < 1e-12);
        assert_eq!(s.m, 0.0); // var 1 − mean σ² 1
        assert!((s.vs_max_abs - 2.0 / 2f64.sqrt()).abs() < 1e-12);
        assert!((s.m_at_vs_max.abs() - 1.0).abs() < 1e-12); // 2·2/4
        assert_eq!(s.m_max_significant, 0.0);
        assert!(light_curve_stats(&[1.0], &[1.0], 4.3).is_none());
    }

    #[test]
    fn runs_longest_first() {
        assert_eq!(
            runs(&[true, false, true, true, false, true]),
            vec![(2, 2), (0, 1), (5, 1)]
        );
    }
}
