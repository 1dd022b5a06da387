//! Solver known-answer and noise tests.

use dsa110_calibration::solve::reference_table;
use dsa110_calibration::{solve_spws, solve_table, CalError, JonesKind, SolveParams};
use num_complex::Complex64;

use crate::common::{aligned_truth, normal, synth, SynthSpec};

fn c64(z: num_complex::Complex32) -> Complex64 {
    Complex64::new(f64::from(z.re), f64::from(z.im))
}

#[test]
fn known_answer_noise_free_96_antennas_to_1e5() {
    let s = synth(&SynthSpec::default());
    let sol = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams::default(),
    )
    .unwrap();
    let (b, g) = (&sol.bandpass[0], &sol.gains[0]);
    assert_eq!(b.antennas, s.antennas);
    let rk = s.antennas.iter().position(|&a| a == sol.refant).unwrap();
    assert!(!b.flags.iter().any(|&f| f) && !g.flags.iter().any(|&f| f));
    let (nt, nant, _, npol) = g.gains.dim();
    let nchan = b.gains.dim().2;
    let mut worst = 0.0f64;
    for p in 0..npol {
        for c in 0..nchan {
            let truth: Vec<Complex64> = (0..nant).map(|i| s.gains[[i, c, p]]).collect();
            let truth = aligned_truth(&truth, rk);
            for t in 0..nt {
                for i in 0..nant {
                    let got = c64(b.gains[[0, i, c, p]]) * c64(g.gains[[t, i, 0, p]]);
                    worst = worst.max((got - truth[i]).norm() / truth[i].norm());
                }
            }
        }
    }
    eprintln!(
        "known answer: worst relative error {worst:.2e}, refant {}",
        sol.refant
    );
    assert!(worst < 1e-5, "worst relative error {worst}");
    assert!(sol.qa.passed, "{:?}", sol.qa);
}

#[test]
fn drifting_gains_are_followed_with_outer_iterations() {
    let spec = SynthSpec {
        nant: 24,
        ntimes: 6,
        time_phase_rms: 0.3,
        ..Default::default()
    };
    let s = synth(&spec);
    let run = |outer: usize| {
        let params = SolveParams {
            outer_iterations: outer,
            ..Default::default()
        };
        let sol = solve_spws(
            std::slice::from_ref(&s.block),
            std::slice::from_ref(&s.model),
            &params,
        )
        .unwrap();
        let rk = s.antennas.iter().position(|&a| a == sol.refant).unwrap();
        let (b, g) = (&sol.bandpass[0], &sol.gains[0]);
        let mut worst = 0.0f64;
        for p in 0..2 {
            for c in 0..spec.nchan {
                for t in 0..spec.ntimes {
                    let truth: Vec<Complex64> = (0..spec.nant)
                        .map(|i| s.gains[[i, c, p]] * s.time_gains[[t, i, p]])
                        .collect();
                    let truth = aligned_truth(&truth, rk);
                    for i in 0..spec.nant {
                        let got = c64(b.gains[[0, i, c, p]]) * c64(g.gains[[t, i, 0, p]]);
                        worst = worst.max((got - truth[i]).norm() / truth[i].norm());
                    }
                }
            }
        }
        worst
    };
    let one = run(1);
    let many = run(30);
    eprintln!("drifting gains: worst relative error {one:.2e} (1 round), {many:.2e} (30 rounds)");
    assert!(many < 1e-4, "{many}");
    assert!(many < one / 10.0);
}

/// Predicted per-component σ² of g_i (channel c, pol p) for a B solve.
fn predicted_b_var(s: &crate::common::Synth, sigma: f64, c: usize, p: usize) -> Vec<f64> {
    let blk = &s.block;
    let nbls = blk.nbls();
    let idx = |a: u32| ((a - 1) / 2) as usize;
    let mut den = vec![0.0; s.antennas.len()];
    for t in 0..blk.ntimes() {
        for b in 0..nbls {
            let (i, j) = (idx(blk.ant1[b]), idx(blk.ant2[b]));
            if i == j {
                continue;
            }
            let m = c64(s.model[[t * nbls + b, c]]).norm_sqr();
            den[i] += s.gains[[j, c, p]].norm_sqr() * m;
            den[j] += s.gains[[i, c, p]].norm_sqr() * m;
        }
    }
    den.iter().map(|d| sigma * sigma / d).collect()
}

#[test]
fn bandpass_errors_match_the_noise_prediction() {
    let sigma = 4.6;
    let spec = SynthSpec {
        nant: 48,
        ntimes: 8,
        nchan: 16,
        flux_jy: 10.0,
        sigma_jy: sigma,
        seed: 11,
        ..Default::default()
    };
    let s = synth(&spec);
    let params = SolveParams::default();
    let mut b = solve_table(&s.block, s.model.view(), 0, JonesKind::B, None, &params).unwrap();
    let refant = s.antennas[5];
    reference_table(&mut b, &[refant]);
    let rk = 5;
    let (mut sum_err, mut sum_pred) = (0.0, 0.0);
    let mut ratios = Vec::new();
    for p in 0..2 {
        for c in 0..spec.nchan {
            let var = predicted_b_var(&s, sigma, c, p);
            let truth: Vec<Complex64> = (0..spec.nant).map(|i| s.gains[[i, c, p]]).collect();
            let truth = aligned_truth(&truth, rk);
            for i in 0..spec.nant {
                if i == rk {
                    continue;
                }
                assert!(!b.flags[[0, i, c, p]]);
                let got = c64(b.gains[[0, i, c, p]]);
                sum_err += (got - truth[i]).norm_sqr();
                sum_pred += 2.0 * var[i] + truth[i].norm_sqr() * var[rk] / truth[rk].norm_sqr();
                ratios.push(f64::from(b.param_err[[0, i, c, p]]) / var[i].sqrt());
            }
        }
    }
    ratios.sort_by(f64::total_cmp);
    let med_ratio = ratios[ratios.len() / 2];
    let r = (sum_err / sum_pred).sqrt();
    eprintln!(
        "bandpass with noise: rms error / predicted = {r:.3}; PARAMERR / predicted σ (median) = {med_ratio:.3}; rms error {:.4}",
        (sum_err / ratios.len() as f64).sqrt()
    );
    assert!((0.8..1.2).contains(&r), "{r}");
    assert!((0.9..1.1).contains(&med_ratio), "{med_ratio}");
}

#[test]
fn bad_antennas_are_flagged_and_refant_checked() {
    let mut s = synth(&SynthSpec {
        nant: 12,
        sigma_jy: 0.5,
        ..Default::default()
    });
    let nbls = s.block.nbls();
    let dead = s.antennas[3];
    let weak = s.antennas[7];
    // antenna `dead`: all data flagged; antenna `weak`: signal × 1e-3 (SNR ≪ 3)
    for r in 0..s.block.nrows() {
        let b = r % nbls;
        let (a1, a2) = (s.block.ant1[b], s.block.ant2[b]);
        if a1 == dead || a2 == dead {
            s.block.flags.slice_mut(ndarray::s![r, .., ..]).fill(true);
        }
        if (a1 == weak || a2 == weak) && a1 != a2 {
            let mut d = s.block.data.slice_mut(ndarray::s![r, .., ..]);
            d.mapv_inplace(|v| v * 1e-3);
        }
    }
    let sol = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams::default(),
    )
    .unwrap();
    let b = &sol.bandpass[0];
    let kd = b.antenna_index(dead).unwrap();
    let kw = b.antenna_index(weak).unwrap();
    assert!(b
        .flags
        .slice(ndarray::s![.., kd, .., ..])
        .iter()
        .all(|&f| f));
    assert!(b
        .flags
        .slice(ndarray::s![.., kw, .., ..])
        .iter()
        .all(|&f| f));
    let others = (0..12).filter(|&k| k != kd && k != kw);
    for k in others {
        assert!(
            b.flags
                .slice(ndarray::s![.., k, .., ..])
                .iter()
                .all(|&f| !f),
            "antenna row {k}"
        );
    }
    assert_ne!(sol.refant, dead);
    assert_ne!(sol.refant, weak);
    // a reference antenna that does not exist is refused
    let err = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams {
            refant: Some(1000),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, CalError::RefantUnavailable { antenna: 1000 }),
        "{err}"
    );
    // the requested one is used
    let sol = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams {
            refant: Some(s.antennas[2]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(sol.refant, s.antennas[2]);
    let k = sol.gains[0].antenna_index(s.antennas[2]).unwrap();
    assert!(sol.gains[0]
        .gains
        .slice(ndarray::s![.., k, .., ..])
        .iter()
        .all(|g| g.im.abs() < 1e-6 && g.re > 0.0));
}

#[test]
fn all_flagged_data_is_an_error_naming_the_window() {
    let mut s = synth(&SynthSpec {
        nant: 6,
        ..Default::default()
    });
    s.block.flags.fill(true);
    let err = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CalError::NoData { spw: 0, .. }), "{err}");
    assert!(err.to_string().contains("spectral window 0"), "{err}");
}

/// A model that does not describe the sky — the catalogue's calibrator at the phase
/// centre where the data hold three comparable sources elsewhere — solves to gains that
/// cannot reproduce the data: QA fails on the model fit. (A single off-centre source
/// would not show: antenna phases absorb a shift of the whole sky.) The right model, with
/// noise, passes with a residual at the noise (σ² subtracted).
#[test]
fn a_wrong_model_fails_qa_on_the_model_fit() {
    let mut s = synth(&SynthSpec::default());
    let blk = &mut s.block;
    let nbls = blk.nbls();
    let idx = |a: u32| ((a - 1) / 2) as usize;
    let sky = [
        (0.004, -0.002, 4.0),
        (-0.006, 0.003, 3.0),
        (0.002, 0.007, 3.0),
    ];
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
    for r in 0..blk.data.dim().0 {
        let (t, b) = (r / nbls, r % nbls);
        let (i, j) = (idx(blk.ant1[b]), idx(blk.ant2[b]));
        for (c, &f) in blk.freqs_hz.clone().iter().enumerate() {
            let k = std::f64::consts::TAU * f / 299_792_458.0;
            let m: Complex64 = sky
                .iter()
                .map(|&(l, mm, a)| {
                    Complex64::from_polar(a, k * (blk.uvw_m[[r, 0]] * l + blk.uvw_m[[r, 1]] * mm))
                })
                .sum();
            s.model[[r, c]] = num_complex::Complex32::new(m.re as f32, m.im as f32);
            for p in 0..2 {
                let gi = s.gains[[i, c, p]] * s.time_gains[[t, i, p]];
                let gj = s.gains[[j, c, p]] * s.time_gains[[t, j, p]];
                let mut v = gi * gj.conj() * m;
                if i != j {
                    v += Complex64::new(normal(&mut rng), normal(&mut rng));
                }
                blk.data[[r, c, p]] = num_complex::Complex32::new(v.re as f32, v.im as f32);
            }
        }
    }
    let right = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams::default(),
    )
    .unwrap();
    let fit = right.qa.model_residual.unwrap();
    eprintln!(
        "right model: unexplained fraction {fit:.4}, QA {:?}",
        right.qa
    );
    assert!(right.qa.passed, "{:?}", right.qa);
    assert!(fit < 0.01, "{fit}");

    // the catalogue's 10 Jy calibrator at the phase centre
    let wrong = s.model.mapv(|_| num_complex::Complex32::new(10.0, 0.0));
    let sol = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&wrong),
        &SolveParams::default(),
    )
    .unwrap();
    let fit = sol.qa.model_residual.unwrap();
    eprintln!(
        "wrong model: unexplained fraction {fit:.3}, QA {:?}",
        sol.qa
    );
    assert!(!sol.qa.passed);
    assert!(
        sol.qa.failures.iter().any(|f| f.contains("unexplained")),
        "{:?}",
        sol.qa.failures
    );
}
