//! CLEAN known-answer tests.

use dsa110_imaging::{
    compute, CleanParams, CleanStop, ImagingParams, ImagingProducts, ImagingVis, Weighting,
};

use crate::common::*;

const N: usize = 256;
const CELL_ARCSEC: f64 = 20.0;

fn cell() -> f64 {
    (CELL_ARCSEC / 3600.0).to_radians()
}

/// Sources on pixel centres.
fn sources_on_pixels(list: &[(usize, usize, f64)]) -> Vec<Src> {
    list.iter()
        .map(|&(x, y, f)| Src {
            l: (N as f64 / 2.0 - x as f64) * cell(),
            m: (y as f64 - N as f64 / 2.0) * cell(),
            flux_jy: f,
        })
        .collect()
}

fn sim(srcs: &[Src], noise: f64) -> ImagingVis {
    sim_with(dsa_like_array(10, 10, 8, 400.0, 11), srcs, noise)
}

fn sim_with(ants: Vec<[f64; 3]>, srcs: &[Src], noise: f64) -> ImagingVis {
    let freqs = [1.32e9, 1.38e9, 1.44e9, 1.49e9];
    let mut v = simulate(
        &ants,
        &[deg(-1.5), deg(-0.5), deg(0.5), deg(1.5)],
        deg(54.57),
        &freqs,
        srcs,
        noise,
        5,
    );
    v.obs.phase_centre_dec_deg = 54.57;
    v.obs.pointing_dec_deg = 54.57;
    v
}

fn params(niter: usize, auto_threshold: Option<f64>, threshold_jy: f64) -> ImagingParams {
    ImagingParams {
        size: N,
        scale_arcsec: CELL_ARCSEC,
        weighting: Weighting::Natural,
        clean: CleanParams {
            niter,
            gain: 0.1,
            mgain: 0.8,
            threshold_jy,
            auto_threshold_sigma: auto_threshold,
            auto_mask_sigma: None,
            max_major_cycles: 30,
            image_plane_depth: 0.0,
        },
        eps: 1e-5,
        ..Default::default()
    }
}

#[test]
fn noiseless_point_sources_recovered_to_1_percent_at_exact_positions() {
    let comps = [
        (128usize, 128usize, 2.0f64),
        (60, 200, 1.0),
        (210, 40, 0.5),
        (100, 90, 0.25),
        (230, 230, 0.8),
    ];
    let mut v = sim(&sources_on_pixels(&comps), 0.0);
    let prod = compute(&mut v, &params(20_000, None, 1e-4)).unwrap();
    eprintln!(
        "CLEAN: {} iterations, {} major cycles, residual rms {:.2e}",
        prod.report.n_iter, prod.report.n_major, prod.report.rms_jy
    );
    assert!(prod.report.n_major >= 2, "should need several major cycles");
    assert_eq!(prod.report.clean_stop, CleanStop::Threshold);
    for &(x, y, f) in &comps {
        // model flux in a 3×3 box, and its brightest pixel
        let mut sum = 0.0;
        for yy in y - 1..=y + 1 {
            for xx in x - 1..=x + 1 {
                sum += prod.model[yy * N + xx];
            }
        }
        let at = prod.model[y * N + x];
        assert!(
            (sum / f - 1.0).abs() < 0.01,
            "source ({x},{y}) {f} Jy: model {sum}"
        );
        assert!(
            (at / f - 1.0).abs() < 0.01,
            "source ({x},{y}) {f} Jy: flux not on its pixel ({at})"
        );
    }
    let total: f64 = prod.model.iter().sum();
    assert!(
        (total / 4.55 - 1.0).abs() < 0.01,
        "total model flux {total}"
    );
}

/// Three sources on pixel centres, for the tests with noise.
const THREE_SOURCES: [(usize, usize, f64); 3] = [(128, 128, 2.0), (60, 200, 1.0), (210, 40, 0.5)];

/// The restored image at each source's pixel is its flux within 5σ + 1 %.
fn assert_restored(prod: &ImagingProducts, comps: &[(usize, usize, f64)], sigma: f64) {
    for &(x, y, f) in comps {
        let got = prod.image[y * N + x];
        assert!(
            (got - f).abs() < 5.0 * sigma + 0.01 * f,
            "restored peak at ({x},{y}) {got} vs {f}"
        );
    }
}

#[test]
fn residual_rms_within_10_percent_of_thermal_noise() {
    let comps = THREE_SOURCES;
    let sigma_c = 0.5; // Jy per real/imag component per visibility
    let mut v = sim(&sources_on_pixels(&comps), sigma_c);
    let nvis = v.vis.len() as f64;
    // natural weights all 1: image noise σ_c/√N_vis
    let predicted = sigma_c / nvis.sqrt();
    let prod = compute(&mut v, &params(10_000, Some(4.0), 0.0)).unwrap();
    let ratio = prod.report.rms_jy / predicted;
    eprintln!(
        "residual rms {:.3e}, predicted {predicted:.3e}, ratio {ratio:.3}",
        prod.report.rms_jy
    );
    assert!((ratio - 1.0).abs() < 0.10, "rms ratio {ratio}");
    assert_eq!(prod.report.clean_stop, CleanStop::Threshold);
    assert_restored(&prod, &comps, predicted);
}

/// Auto-masking (WSClean's `-auto-mask 3 -auto-threshold 1`): CLEAN without a
/// mask down to 3σ, then only where it already put components, down to 1σ.
/// When a minor cycle has cleaned down to the masking level, the mask is made
/// after its major cycle even if the exact residual peaks a little above the
/// level (the minor cycle's PSF is approximate): waiting for the peak to fall
/// below it chased the level with a major cycle per handful of components (7
/// major cycles here, 20 on a full group, instead of 4).
#[test]
fn auto_mask_cleans_to_one_sigma_inside_the_mask_without_chasing_the_level() {
    let comps = THREE_SOURCES;
    let mut v = sim(&sources_on_pixels(&comps), 2.0);
    let mut p = params(200_000, Some(1.0), 0.0);
    p.clean.auto_mask_sigma = Some(3.0);
    let prod = compute(&mut v, &p).unwrap();
    let rms = prod.report.rms_jy;
    eprintln!(
        "auto-mask 3: {} iterations, {} major cycles, stopping level {:.3e}, rms {rms:.3e}",
        prod.report.n_iter, prod.report.n_major, prod.report.stop_level_jy
    );
    assert!(
        prod.report.n_major <= 5,
        "{} major cycles",
        prod.report.n_major
    );
    // cleaned to the auto-threshold (1σ), not stopped at the mask's 3σ
    assert!(prod.report.stop_level_jy < 1.5 * rms);
    for &(x, y, f) in &comps {
        let r = prod.residual[y * N + x];
        assert!(
            r.abs() < 1.5 * rms,
            "residual {r} at the {f} Jy source ({x},{y}), rms {rms}"
        );
    }
    assert_restored(&prod, &comps, rms);
}

/// Cleaning noise to 1σ without a mask through a PSF with high sidelobes (few
/// antennas, a short track): the minor cycle that cleans the noise-like
/// residual subtracts the PSF cut to a patch, and the sidelobes it neglects add
/// up over thousands of components until the residual would exceed the one it
/// started from. CLEAN foresees that in the image plane (one FFT convolution of
/// the cycle's components with the whole PSF) and undoes the cycle before its
/// major cycle: the result is the previous cycle's, and no major cycle was
/// spent on it.
#[test]
fn a_minor_cycle_that_would_diverge_is_undone_before_its_major_cycle() {
    let comps = THREE_SOURCES;
    let mut v = sim(&sources_on_pixels(&comps), 2.0);
    let prod = compute(&mut v, &params(200_000, Some(1.0), 0.0)).unwrap();
    let rep = &prod.report;
    let peak = prod.residual.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    eprintln!(
        "{} iterations, {} major cycles, residual peak {peak:.3e}, rms {:.3e}",
        rep.n_iter, rep.n_major, rep.rms_jy
    );
    // stopped by the foreseen divergence, far from the 1σ level and the
    // iteration limit
    assert!(peak > 2.0 * rep.rms_jy && rep.n_iter < 10_000);
    assert_eq!(
        rep.n_major, 2,
        "the diverging cycle should cost no major cycle"
    );
    assert_eq!(rep.clean_stop, CleanStop::DivergenceForeseen);
    // the exact residual of the model kept: no diverged components in it
    assert!(peak < 5.0 * rep.rms_jy, "residual peak {peak}");
    assert_restored(&prod, &comps, rep.rms_jy);
}

/// The report says why CLEAN stopped: here the iteration limit, reached long
/// before the absolute threshold.
#[test]
fn stopping_at_niter_is_reported_as_such() {
    let comps = THREE_SOURCES;
    let mut v = sim(&sources_on_pixels(&comps), 0.0);
    let prod = compute(&mut v, &params(40, None, 1e-4)).unwrap();
    assert_eq!(prod.report.n_iter, 40);
    assert_eq!(prod.report.clean_stop, CleanStop::Niter);
    assert_eq!(prod.report.clean_stop.as_str(), "niter");
}

/// Image-plane (Clark) rounds on a bright field: a 50 Jy source with faint
/// ones around it and noise. Without them each major cycle takes the peak down
/// by `1 − mgain` only (50 Jy → 10 → 2 → …); with them the first major cycle's
/// minor cycles go on, predicted with the whole PSF, to 3 % of the peak, and
/// CLEAN needs fewer major cycles for the same result.
#[test]
fn image_plane_rounds_clean_a_bright_field_in_fewer_major_cycles() {
    let comps = [
        (128usize, 128usize, 50.0f64),
        (60, 200, 1.0),
        (210, 40, 0.5),
        (100, 90, 0.25),
    ];
    let run = |depth: f64| {
        let ants = dsa_like_array(24, 24, 12, 400.0, 11);
        let mut v = sim_with(ants, &sources_on_pixels(&comps), 2.0);
        let mut p = params(50_000, Some(3.0), 0.0);
        p.clean.image_plane_depth = depth;
        compute(&mut v, &p).unwrap()
    };
    let plain = run(0.0);
    let rounds = run(0.03);
    let (a, b) = (&plain.report, &rounds.report);
    eprintln!(
        "without rounds: {} major cycles, {} iterations, rms {:.4e}, stop {:?}; \
         with: {} major cycles, {} iterations, rms {:.4e}, stop {:?}",
        a.n_major, a.n_iter, a.rms_jy, a.clean_stop, b.n_major, b.n_iter, b.rms_jy, b.clean_stop
    );
    assert_eq!(a.clean_stop, CleanStop::Threshold);
    assert_eq!(b.clean_stop, CleanStop::Threshold);
    assert!(
        b.n_major < a.n_major,
        "rounds: {} major cycles, without: {}",
        b.n_major,
        a.n_major
    );
    assert!(
        (b.rms_jy / a.rms_jy - 1.0).abs() < 0.02,
        "rms {:.4e} with rounds, {:.4e} without",
        b.rms_jy,
        a.rms_jy
    );
    assert_restored(&plain, &comps, a.rms_jy);
    assert_restored(&rounds, &comps, b.rms_jy);
}
