//! Weighting against a direct implementation of the definitions.

use dsa110_imaging::{imaging_weights, Weighting};

use crate::common::*;

/// Direct: for each visibility, sum the weights of all visibilities in the same
/// uv cell of WSClean's weight grid: the padded image side P = ⌈1.2 N⌉ rounded up
/// to a multiple of 4, cell 1/(PΔ), cells [k, k+1) (floor, not rounding), and
/// (u, v) → (−u, −v) when v < 0 (WSClean's ImageWeights).
fn direct(v: &dsa110_imaging::ImagingVis, npix: usize, cell: f64, kind: Weighting) -> Vec<f64> {
    let nchan = v.nchan();
    let p = (6 * npix).div_ceil(5).div_ceil(4) * 4;
    let pos: Vec<Option<(i64, i64)>> = (0..v.vis.len())
        .map(|i| {
            let b = v.uvw_m[i / nchan];
            let k = v.freq_hz[i % nchan] / C_M_S * p as f64 * cell;
            let (mut u, mut vv) = (b[0] * k, b[1] * k);
            if vv < 0.0 {
                u = -u;
                vv = -vv;
            }
            let (iu, iv) = (u.floor() as i64, vv.floor() as i64);
            let half = p as i64 / 2;
            (iu >= -half && iu < half && iv < half).then_some((iu, iv))
        })
        .collect();
    assert!(
        pos.iter().all(Option::is_some),
        "all inside the weight grid"
    );
    let cell_sum: Vec<f64> = (0..v.vis.len())
        .map(|i| {
            (0..v.vis.len())
                .filter(|&j| pos[j] == pos[i])
                .map(|j| v.weight[j] as f64)
                .sum()
        })
        .collect();
    // Σ_k W_k² over cells = Σ_i w_i W_cell(i); Σ_i w_i
    let sum_w: f64 = v.weight.iter().map(|w| *w as f64).sum();
    let sum_w2: f64 = (0..v.vis.len())
        .map(|i| v.weight[i] as f64 * cell_sum[i])
        .sum();
    (0..v.vis.len())
        .map(|i| {
            let w = v.weight[i] as f64;
            if w == 0.0 {
                return 0.0;
            }
            match kind {
                Weighting::Natural => w,
                Weighting::Uniform => w / cell_sum[i],
                Weighting::Briggs { robust } => {
                    let f2 = (5.0 * 10f64.powf(-robust)).powi(2) / (sum_w2 / sum_w);
                    w / (1.0 + cell_sum[i] * f2)
                }
            }
        })
        .collect()
}

#[test]
fn natural_uniform_briggs_match_the_definition() {
    let ants = dsa_like_array(10, 10, 4, 300.0, 3);
    let freqs = [1.35e9, 1.40e9, 1.45e9];
    let mut v = simulate(
        &ants,
        &[deg(-1.0), deg(0.0), deg(1.0)],
        deg(54.57),
        &freqs,
        &[],
        0.0,
        2,
    );
    for (i, w) in v.weight.iter_mut().enumerate() {
        *w = 1.0 + (i % 5) as f32;
        if i % 41 == 0 {
            *w = 0.0;
        }
    }
    let (npix, cell) = (256, (20.0f64 / 3600.0).to_radians());
    for kind in [
        Weighting::Natural,
        Weighting::Uniform,
        Weighting::Briggs { robust: -2.0 },
        Weighting::Briggs { robust: 0.0 },
        Weighting::Briggs { robust: 0.5 },
        Weighting::Briggs { robust: 2.0 },
    ] {
        let got = imaging_weights(&v, kind, npix, cell).unwrap();
        let want = direct(&v, npix, cell, kind);
        let mut distinct = want.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup_by(|a, b| (*a - *b).abs() < 1e-9 * b.abs().max(1e-30));
        assert!(
            distinct.len() > 5 || kind == Weighting::Natural,
            "{kind:?}: weights should vary"
        );
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * w.abs().max(1e-12),
                "{kind:?} vis {i}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn robust_out_of_range_is_refused() {
    let ants = dsa_like_array(4, 4, 0, 0.0, 3);
    let v = simulate(&ants, &[0.0], deg(54.57), &[1.4e9], &[], 0.0, 2);
    let e = imaging_weights(&v, Weighting::Briggs { robust: 2.5 }, 64, 1e-4).unwrap_err();
    assert!(
        matches!(
            e,
            dsa110_imaging::ImagingError::InvalidParam { name: "robust", .. }
        ),
        "{e}"
    );
}
