//! Applying solutions.

use dsa110_calibration::{apply_to_block, solve_spws, SolveParams};

use crate::common::{synth, SynthSpec};

#[test]
fn applying_solved_tables_recovers_the_model_and_scales_weights() {
    let s = synth(&SynthSpec {
        nant: 16,
        ..Default::default()
    });
    let sol = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams::default(),
    )
    .unwrap();
    let mut blk = s.block.clone();
    let rep = apply_to_block(&mut blk, Some(&sol.bandpass[0]), Some(&sol.gains[0])).unwrap();
    assert_eq!(rep.n_newly_flagged, 0);
    assert_eq!(rep.n_corrected as usize, blk.data.len());
    let nbls = blk.nbls();
    let mut worst = 0.0f32;
    for r in 0..blk.nrows() {
        let b = r % nbls;
        if blk.ant1[b] == blk.ant2[b] {
            continue;
        }
        for c in 0..blk.nchan() {
            for p in 0..2 {
                let m = s.model[[r, c]];
                worst = worst.max((blk.data[[r, c, p]] - m).norm() / m.norm());
                // weight = |g_i|²|g_j|² = |V|²/|M|² for noise-free data
                let expect = s.block.data[[r, c, p]].norm_sqr() / m.norm_sqr();
                let w = blk.nsamples[[r, c, p]];
                assert!(
                    (w - expect).abs() <= 1e-4 * expect,
                    "weight {w} vs {expect}"
                );
            }
        }
    }
    eprintln!("apply: worst relative deviation from the model {worst:.2e}");
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn flagged_or_missing_solutions_flag_the_data_and_mismatches_are_refused() {
    let s = synth(&SynthSpec {
        nant: 8,
        ..Default::default()
    });
    let mut sol = solve_spws(
        std::slice::from_ref(&s.block),
        std::slice::from_ref(&s.model),
        &SolveParams::default(),
    )
    .unwrap();
    let bad = s.antennas[2];
    let k = sol.bandpass[0].antenna_index(bad).unwrap();
    // flag one channel of one antenna, receptor X only
    sol.bandpass[0].flags[[0, k, 3, 0]] = true;
    let mut blk = s.block.clone();
    let rep = apply_to_block(&mut blk, Some(&sol.bandpass[0]), Some(&sol.gains[0])).unwrap();
    let nbls = blk.nbls();
    let mut n = 0;
    for r in 0..blk.nrows() {
        let b = r % nbls;
        let involved = blk.ant1[b] == bad || blk.ant2[b] == bad;
        for c in 0..blk.nchan() {
            for p in 0..2 {
                let expect = involved && c == 3 && p == 0;
                assert_eq!(blk.flags[[r, c, p]], expect, "row {r} chan {c} pol {p}");
                n += usize::from(expect);
            }
        }
    }
    assert_eq!(rep.n_newly_flagged as usize, n);
    // B of other channel frequencies is refused
    let mut other = sol.bandpass[0].clone();
    other.freqs_hz.iter_mut().for_each(|f| *f += 1e5);
    let mut blk = s.block.clone();
    let err = apply_to_block(&mut blk, Some(&other), None).unwrap_err();
    assert!(err.to_string().contains("channel frequencies"), "{err}");
    // CASA's CPARAM is the conjugate
    let casa = sol.gains[0].casa_cparam();
    assert_eq!(casa[[0, 1, 0, 0]], sol.gains[0].gains[[0, 1, 0, 0]].conj());
}
