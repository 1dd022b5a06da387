//! Cross-epoch flux normalisation.
//!
//! Per epoch (image), the flux scale is the median, after iterative outlier rejection, of
//! `measured / long-term flux` over up to `max_refs` reference sources. Rejection: ratios
//! further than `clip_sigma` × (1.4826·MAD) from the median are dropped, repeated until
//! nothing changes (at most 10 passes). The scale's error is `1.2533 · σ / √n` (the standard
//! error of a median) with σ the robust scatter of the kept ratios.
//!
//! References ([`normalise_epochs`]): sources measured in ≥ `min_epoch_frac` of the epochs
//! with median SNR ≥ `min_snr` are candidates; a first pass over all candidates gives
//! provisional scales; then the `max_refs` candidates whose ratio to (long-term × scale)
//! is most stable (smallest robust fractional scatter, and at most `max_ref_scatter`) are the
//! references, and the final scales use them only. A source's long-term flux is the
//! median of its measurements divided by the provisional scales.
//!
//! Normalised flux `f/s`, error `√((σ_f/s)² + (f σ_s/s²)²)`. Epochs with fewer than
//! `min_refs_per_epoch` usable reference ratios get no scale (`None`) and NaN normalised
//! fluxes, rather than a silently wrong scale.

use crate::background::robust_stats;
use crate::PhotError;

/// Options of [`normalise_epochs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormaliseOptions {
    pub max_refs: usize,
    pub min_snr: f64,
    pub min_epoch_frac: f64,
    pub clip_sigma: f64,
    pub max_ref_scatter: f64,
    pub min_refs_per_epoch: usize,
}

impl Default for NormaliseOptions {
    /// 20 references, SNR ≥ 20, in ≥ 80 % of epochs, 3σ clipping, scatter ≤ 10 %, ≥ 3 per epoch.
    fn default() -> Self {
        Self {
            max_refs: 20,
            min_snr: 20.0,
            min_epoch_frac: 0.8,
            clip_sigma: 3.0,
            max_ref_scatter: 0.1,
            min_refs_per_epoch: 3,
        }
    }
}

/// One epoch's flux scale.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EpochScale {
    pub scale: f64,
    pub scale_err: f64,
    pub n_used: usize,
    pub n_rejected: usize,
}

/// Clipped median of reference ratios (measured / long-term). Non-finite or non-positive
/// ratios are ignored; `None` if fewer than `min_n` remain.
pub fn scale_from_references(ratios: &[f64], clip_sigma: f64, min_n: usize) -> Option<EpochScale> {
    let mut kept: Vec<f64> = ratios
        .iter()
        .copied()
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    let n0 = kept.len();
    if n0 < min_n.max(1) {
        return None;
    }
    let stats = |v: &[f64]| {
        let mut f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        robust_stats(&mut f)
    };
    for _ in 0..10 {
        let (med, sig) = stats(&kept)?;
        let before = kept.len();
        if sig > 0.0 {
            kept.retain(|r| (r - med).abs() <= clip_sigma * sig);
        }
        if kept.len() == before || kept.len() < min_n.max(1) {
            break;
        }
    }
    if kept.len() < min_n.max(1) {
        return None;
    }
    // Median in f64 (robust_stats works in f32).
    let mut s = kept.clone();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    };
    let (_, sig) = stats(&kept)?;
    let sig = if sig > 0.0 {
        sig
    } else {
        // All equal (or one value): fall back to the plain standard deviation.
        let mean = s.iter().sum::<f64>() / n as f64;
        (s.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64).sqrt()
    };
    Some(EpochScale {
        scale: med,
        scale_err: 1.2533 * sig / (n as f64).sqrt(),
        n_used: n,
        n_rejected: n0 - n,
    })
}

/// What the streaming pipeline knows about a possible reference source (e.g. from its
/// `variability_stats` row) for [`select_references`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefCandidate {
    /// The caller's id for the source.
    pub id: usize,
    pub n_epochs: usize,
    pub median_snr: f64,
    /// Robust fractional scatter of its normalised flux (or V when that is all there is).
    pub frac_scatter: f64,
    /// Flagged as a variability candidate (never a reference).
    pub is_candidate: bool,
}

/// Streaming reference choice: candidates with `median_snr ≥ min_snr`, at least
/// `min_epochs` epochs, `frac_scatter ≤ max_ref_scatter` and not variability candidates,
/// the `max_refs` most stable first (ties: higher SNR first). Returns their ids.
pub fn select_references(
    cands: &[RefCandidate],
    min_epochs: usize,
    opts: &NormaliseOptions,
) -> Vec<usize> {
    let mut ok: Vec<&RefCandidate> = cands
        .iter()
        .filter(|c| {
            !c.is_candidate
                && c.n_epochs >= min_epochs
                && c.median_snr >= opts.min_snr
                && c.frac_scatter.is_finite()
                && c.frac_scatter <= opts.max_ref_scatter
        })
        .collect();
    ok.sort_by(|a, b| {
        a.frac_scatter
            .total_cmp(&b.frac_scatter)
            .then(b.median_snr.total_cmp(&a.median_snr))
    });
    ok.iter().take(opts.max_refs).map(|c| c.id).collect()
}

/// Result of [`normalise_epochs`].
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    /// Per epoch.
    pub scales: Vec<Option<EpochScale>>,
    /// Indices of the reference sources.
    pub references: Vec<usize>,
    /// Long-term flux per source (NaN if never measured).
    pub long_term: Vec<f64>,
    /// Normalised fluxes and errors, `[source][epoch]`.
    pub flux: Vec<Vec<f64>>,
    pub err: Vec<Vec<f64>>,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Normalise light curves `flux[source][epoch]` (NaN = not measured) with errors
/// `err[source][epoch]`; every row must have the same number of epochs.
pub fn normalise_epochs(
    flux: &[Vec<f64>],
    err: &[Vec<f64>],
    opts: &NormaliseOptions,
) -> Result<Normalisation, PhotError> {
    let ns = flux.len();
    let ne = flux.first().map_or(0, Vec::len);
    if err.len() != ns || flux.iter().chain(err).any(|r| r.len() != ne) {
        return Err(PhotError::LightCurve {
            what: "flux and error tables must be sources × epochs of one shape".into(),
        });
    }
    let ok =
        |s: usize, e: usize| flux[s][e].is_finite() && err[s][e].is_finite() && err[s][e] > 0.0;
    let raw_lt: Vec<f64> = (0..ns)
        .map(|s| {
            median(
                &mut (0..ne)
                    .filter(|&e| ok(s, e))
                    .map(|e| flux[s][e])
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let candidates: Vec<usize> = (0..ns)
        .filter(|&s| {
            let n = (0..ne).filter(|&e| ok(s, e)).count();
            let snr = median(
                &mut (0..ne)
                    .filter(|&e| ok(s, e))
                    .map(|e| flux[s][e] / err[s][e])
                    .collect::<Vec<_>>(),
            );
            ne > 0
                && n as f64 >= opts.min_epoch_frac * ne as f64
                && snr >= opts.min_snr
                && raw_lt[s] > 0.0
        })
        .collect();
    let scales_with = |refs: &[usize], lt: &[f64]| -> Vec<Option<EpochScale>> {
        (0..ne)
            .map(|e| {
                let r: Vec<f64> = refs
                    .iter()
                    .filter(|&&s| ok(s, e))
                    .map(|&s| flux[s][e] / lt[s])
                    .collect();
                scale_from_references(&r, opts.clip_sigma, opts.min_refs_per_epoch)
            })
            .collect()
    };
    // Pass 1: all candidates.
    let prov = scales_with(&candidates, &raw_lt);
    let lt: Vec<f64> = (0..ns)
        .map(|s| {
            median(
                &mut (0..ne)
                    .filter(|&e| ok(s, e))
                    .filter_map(|e| prov[e].map(|sc| flux[s][e] / sc.scale))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let lt: Vec<f64> = lt
        .iter()
        .zip(&raw_lt)
        .map(|(a, b)| if a.is_finite() { *a } else { *b })
        .collect();
    // Stability of each candidate: robust fractional scatter of flux / (lt × scale).
    let mut ranked: Vec<(f64, usize)> = candidates
        .iter()
        .filter_map(|&s| {
            let mut r: Vec<f32> = (0..ne)
                .filter(|&e| ok(s, e))
                .filter_map(|e| prov[e].map(|sc| (flux[s][e] / (lt[s] * sc.scale)) as f32))
                .collect();
            robust_stats(&mut r).map(|(_, sig)| (sig, s))
        })
        .filter(|(sig, _)| *sig <= opts.max_ref_scatter)
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let references: Vec<usize> = ranked.iter().take(opts.max_refs).map(|&(_, s)| s).collect();
    let scales = scales_with(&references, &lt);
    let mut nf = vec![vec![f64::NAN; ne]; ns];
    let mut nerr = vec![vec![f64::NAN; ne]; ns];
    for s in 0..ns {
        for e in 0..ne {
            if let Some(sc) = scales[e] {
                let (f, sf) = (flux[s][e], err[s][e]);
                nf[s][e] = f / sc.scale;
                nerr[s][e] = ((sf / sc.scale).powi(2)
                    + (f * sc.scale_err / (sc.scale * sc.scale)).powi(2))
                .sqrt();
            }
        }
    }
    Ok(Normalisation {
        scales,
        references,
        long_term: lt,
        flux: nf,
        err: nerr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_selection() {
        let c = |id, n, snr, sc, cand| RefCandidate {
            id,
            n_epochs: n,
            median_snr: snr,
            frac_scatter: sc,
            is_candidate: cand,
        };
        let cands = [
            c(1, 10, 100.0, 0.02, false),
            c(2, 10, 100.0, 0.01, false),
            c(3, 10, 100.0, 0.005, true), // a variable
            c(4, 2, 100.0, 0.001, false), // too few epochs
            c(5, 10, 10.0, 0.001, false), // too faint
            c(6, 10, 200.0, 0.01, false), // tie on scatter, brighter first
            c(7, 10, 100.0, 0.5, false),  // unstable
        ];
        let o = NormaliseOptions {
            max_refs: 3,
            ..NormaliseOptions::default()
        };
        assert_eq!(select_references(&cands, 5, &o), vec![6, 2, 1]);
    }

    #[test]
    fn clipped_median_rejects_outlier() {
        let r = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 3.0];
        let s = scale_from_references(&r, 3.0, 3).unwrap_or(EpochScale {
            scale: 0.0,
            scale_err: 0.0,
            n_used: 0,
            n_rejected: 0,
        });
        assert_eq!(s.n_rejected, 1);
        assert!((s.scale - 1.0).abs() < 1e-12);
        assert!(scale_from_references(&[1.0, f64::NAN], 3.0, 3).is_none());
    }
}
