//! Baseline-dependent averaging: fewer visibilities, the same sky within the
//! smearing bound `(π·extent·l)²/6`.

use dsa110_imaging::{compute, CleanParams, ImagingParams, ImagingVis, Weighting};

use crate::common::*;

const N: usize = 512;
const CELL_ARCSEC: f64 = 30.0;

fn cell() -> f64 {
    (CELL_ARCSEC / 3600.0).to_radians()
}

/// Two 1 Jy sources on pixel centres: at the phase centre and 206 pixels east
/// (l = 0.030 rad, the half-width of DSA-110's 3.4° image).
fn sim() -> (ImagingVis, (usize, usize), f64) {
    let edge = (50usize, 256usize);
    let l_edge = (N as f64 / 2.0 - edge.0 as f64) * cell();
    let srcs = [
        Src {
            l: 0.0,
            m: 0.0,
            flux_jy: 1.0,
        },
        Src {
            l: l_edge,
            m: 0.0,
            flux_jy: 1.0,
        },
    ];
    let ants = dsa_like_array(10, 10, 8, 400.0, 3);
    // 96 channels of 244 kHz, as DSA-110's
    let freqs: Vec<f64> = (0..96).map(|c| 1.40e9 + c as f64 * 244_140.625).collect();
    let mut v = simulate(
        &ants,
        &[deg(-0.5), deg(0.5)],
        deg(54.57),
        &freqs,
        &srcs,
        0.0,
        1,
    );
    v.obs.phase_centre_dec_deg = 54.57;
    v.obs.pointing_dec_deg = 54.57;
    (v, edge, l_edge)
}

fn dirty(v: &mut ImagingVis, extent: f64) -> (Vec<f64>, usize, usize) {
    let p = ImagingParams {
        size: N,
        scale_arcsec: CELL_ARCSEC,
        weighting: Weighting::Natural,
        clean: CleanParams {
            niter: 0,
            ..CleanParams::default()
        },
        eps: 1e-5,
        write_dirty: true,
        write_png: false,
        baseline_averaging_wl: extent,
        ..Default::default()
    };
    let prod = compute(v, &p).unwrap();
    let r = prod.report;
    (prod.dirty.unwrap(), r.n_vis_read, r.n_vis)
}

#[test]
fn averaging_cuts_the_visibilities_and_smears_within_its_bound() {
    const EXTENT: f64 = 1.5;
    let (mut full, edge, l_edge) = sim();
    let mut avg = full.clone();
    let (d_full, read_full, n_full) = dirty(&mut full, 0.0);
    let (d_avg, read_avg, n_avg) = dirty(&mut avg, EXTENT);
    assert_eq!(read_full, n_full);
    assert_eq!(read_avg, read_full);
    let factor = read_avg as f64 / n_avg as f64;
    eprintln!("averaging: {read_avg} → {n_avg} visibilities ({factor:.2}×)");
    assert!(factor > 3.0, "only {factor:.2}× fewer visibilities");

    let at = |d: &[f64], (x, y): (usize, usize)| d[y * N + x];
    let c = (N / 2, N / 2);
    let centre = at(&d_avg, c) / at(&d_full, c) - 1.0;
    let loss = 1.0 - at(&d_avg, edge) / at(&d_full, edge);
    let bound = (std::f64::consts::PI * EXTENT * l_edge).powi(2) / 6.0;
    eprintln!(
        "centre changed by {centre:.2e}; source at l = {l_edge:.4} rad lost {loss:.2e} \
         (bound {bound:.2e})"
    );
    // the centre source does not smear (its own sidelobes from the edge source
    // change a little)
    assert!(centre.abs() < 2e-4, "centre changed by {centre:e}");
    // the edge source loses flux, within the bound; an average stored off its
    // bin's centroid would shift its phase and lose far more
    assert!(
        loss > 0.0 && loss <= bound,
        "loss {loss:e}, bound {bound:e}"
    );
    // and nowhere does the image change by more than the bound (of the peak)
    let worst = d_full
        .iter()
        .zip(&d_avg)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!("image changed by up to {worst:.2e} Jy/beam");
    assert!(worst <= bound, "image changed by up to {worst:e} Jy/beam");
}
