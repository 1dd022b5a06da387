//! Full-scale timing (run explicitly: `cargo test -p dsa110-calibration --test it
//! full_group -- --ignored --nocapture`): flag + model + solve + apply on a
//! synthetic group of the real size (96 antennas with autos, 24 integrations,
//! 16 × 48 channels, 2 pols: 111,744 rows × 768 channels).

use std::time::Instant;

use dsa110_astro::{ObsTime, PhaseCentre, VisBlock};
use dsa110_calibration::transit::transit_time_jd;
use dsa110_calibration::{
    apply_to_block, flag_group, predict_block, solve_spws, BeamGeometry, Catalog, FlagParams,
    SolveParams,
};
use ndarray::{Array2, Array3};
use num_complex::{Complex32, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::common::normal;

/// CPU seconds (user + system) of this process so far, from /proc/self/stat.
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // fields 14 and 15 of the file are utime and stime (ticks of 1/100 s)
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[test]
#[ignore = "full-scale timing, run on demand"]
fn full_group_flag_solve_apply_timing() {
    let nant = 96usize;
    let nt = 24usize;
    let cat = Catalog::built_in();
    let cal = cat.get("3C286").unwrap().clone();
    let beam = BeamGeometry::dsa110(30.5f64.to_radians());
    let tr = transit_time_jd(
        &cal,
        ObsTime::from_iso("2025-10-02T00:00:00").unwrap().jd_utc(),
        &beam,
    )
    .unwrap();
    let times: Vec<f64> = (0..nt)
        .map(|k| tr + (k as f64 - 11.5) * 12.884_902 / 86_400.0)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let pos: Vec<[f64; 3]> = (0..nant)
        .map(|_| {
            [
                rng.random_range(-400.0..400.0),
                rng.random_range(-400.0..400.0),
                0.0,
            ]
        })
        .collect();
    let (mut ant1, mut ant2) = (Vec::new(), Vec::new());
    for i in 0..nant as u32 {
        for j in i..nant as u32 {
            ant1.push(i);
            ant2.push(j);
        }
    }
    let nbls = ant1.len();
    let nrows = nbls * nt;
    let t0 = Instant::now();
    let mut blocks: Vec<VisBlock> = (0..16usize)
        .map(|sb| {
            let freqs: Vec<f64> = (0..48)
                .map(|j| dsa110_astro::constants::channel_freq_hz(sb, j))
                .collect();
            let mut uvw = Array2::<f64>::zeros((nrows, 3));
            for t in 0..nt {
                for b in 0..nbls {
                    for k in 0..3 {
                        uvw[[t * nbls + b, k]] =
                            pos[ant2[b] as usize][k] - pos[ant1[b] as usize][k];
                    }
                }
            }
            VisBlock {
                times_jd_utc: times.clone(),
                int_time_s: 12.884_902,
                ant1: ant1.clone(),
                ant2: ant2.clone(),
                freqs_hz: freqs,
                chan_width_hz: 244_140.625,
                pols: vec![-5, -6],
                uvw_m: uvw,
                data: Array3::zeros((nrows, 48, 2)),
                flags: Array3::from_elem((nrows, 48, 2), false),
                nsamples: Array3::from_elem((nrows, 48, 2), 1.0),
                phase_centre: PhaseCentre::MeridianDrift {
                    dec_rad: 30.5f64.to_radians(),
                },
            }
        })
        .collect();
    // truth: gains per (ant, pol, band channel); data = g g* M + noise + RFI
    let gains: Vec<Complex64> = (0..nant * 2 * 768)
        .map(|_| Complex64::from_polar(rng.random_range(0.8..1.2), rng.random_range(-3.0..3.0)))
        .collect();
    let models: Vec<Array2<Complex32>> = blocks
        .iter()
        .map(|b| predict_block(b, std::slice::from_ref(&cal), &beam).unwrap())
        .collect();
    for (sb, (blk, m)) in blocks.iter_mut().zip(&models).enumerate() {
        let d = blk.data.as_slice_mut().unwrap();
        d.par_chunks_mut(96).enumerate().for_each(|(r, row)| {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + (sb * nrows + r) as u64);
            let b = r % nbls;
            let (i, j) = (ant1[b] as usize, ant2[b] as usize);
            for c in 0..48 {
                for p in 0..2 {
                    let gi = gains[(i * 2 + p) * 768 + sb * 48 + c];
                    let gj = gains[(j * 2 + p) * 768 + sb * 48 + c];
                    let mm = m[[r, c]];
                    let mut v = gi * gj.conj() * Complex64::new(f64::from(mm.re), f64::from(mm.im));
                    if i != j {
                        v += Complex64::new(4.6 * normal(&mut rng), 4.6 * normal(&mut rng));
                        if rng.random_range(0.0..1.0) < 1e-3 {
                            v += Complex64::from_polar(
                                200.0,
                                rng.random_range(0.0..std::f64::consts::TAU),
                            );
                        }
                    } else {
                        v += Complex64::new(11_600.0 * gi.norm_sqr(), 0.0);
                    }
                    row[c * 2 + p] = Complex32::new(v.re as f32, v.im as f32);
                }
            }
        });
    }
    eprintln!(
        "generated a full group in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let (t, c) = (Instant::now(), cpu_s());
    let rep = flag_group(&mut blocks, &FlagParams::default()).unwrap();
    let (t_flag, c_flag) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    let (t, c) = (Instant::now(), cpu_s());
    let models: Vec<Array2<Complex32>> = blocks
        .iter()
        .map(|b| predict_block(b, std::slice::from_ref(&cal), &beam).unwrap())
        .collect();
    let (t_model, c_model) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    let (t, c) = (Instant::now(), cpu_s());
    let sol = solve_spws(&blocks, &models, &SolveParams::default()).unwrap();
    let (t_solve, c_solve) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    let (t, c) = (Instant::now(), cpu_s());
    for (k, blk) in blocks.iter_mut().enumerate() {
        apply_to_block(blk, Some(&sol.bandpass[k]), Some(&sol.gains[k])).unwrap();
    }
    let (t_apply, c_apply) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    eprintln!(
        "CPU seconds: flag {c_flag:.1}, model {c_model:.1}, solve {c_solve:.1}, apply {c_apply:.1}, total {:.1} (÷2 cores = {:.1} s); load average {}",
        c_flag + c_model + c_solve + c_apply,
        (c_flag + c_model + c_solve + c_apply) / 2.0,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    eprintln!(
        "full group: flag {t_flag:.2} s ({:.2} % flagged), model {t_model:.2} s, solve {t_solve:.2} s, apply {t_apply:.2} s, total {:.2} s; QA {:?}",
        100.0 * rep.fraction,
        t_flag + t_model + t_solve + t_apply,
        sol.qa
    );
}

/// The flagger alone on a third of a group's baselines (32 antennas with
/// autos, 24 integrations, 16 × 48 channels, 2 pols): CPU seconds, ns per
/// sample and a fingerprint of the flags (to check that a faster flagger
/// flags the same samples). `cargo test -p dsa110-calibration --test it
/// flagger_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run on demand"]
fn flagger_timing() {
    let (nant, nt, nchan_sb, nsb) = (32usize, 24usize, 48usize, 16usize);
    let (mut ant1, mut ant2) = (Vec::new(), Vec::new());
    for i in 0..nant as u32 {
        for j in i..nant as u32 {
            ant1.push(i);
            ant2.push(j);
        }
    }
    let nbls = ant1.len();
    let nrows = nbls * nt;
    let mut blocks: Vec<VisBlock> = (0..nsb)
        .map(|sb| {
            let mut rng = ChaCha8Rng::seed_from_u64(77 + sb as u64);
            let mut data = Array3::<Complex32>::zeros((nrows, nchan_sb, 2));
            for ((r, c, _), v) in data.indexed_iter_mut() {
                let b = r % nbls;
                let t = r / nbls;
                *v = if ant1[b] == ant2[b] {
                    Complex32::new(11_600.0, 0.0)
                } else {
                    let mut z = Complex32::new(
                        (10.0 + 4.6 * normal(&mut rng)) as f32,
                        (4.6 * normal(&mut rng)) as f32,
                    );
                    // a narrow-band emitter, a broadband burst and random spikes
                    if (sb == 3 && c == 17) || (t == 9 && sb < 6) {
                        z += Complex32::new(15.0, 0.0);
                    }
                    if rng.random_range(0.0..1.0) < 1e-3 {
                        z += Complex32::new(200.0, 0.0);
                    }
                    z
                };
            }
            VisBlock {
                times_jd_utc: (0..nt).map(|k| 2.46e6 + k as f64 * 1.5e-4).collect(),
                int_time_s: 12.884_902,
                ant1: ant1.clone(),
                ant2: ant2.clone(),
                freqs_hz: (0..nchan_sb)
                    .map(|j| dsa110_astro::constants::channel_freq_hz(sb, j))
                    .collect(),
                chan_width_hz: 244_140.625,
                pols: vec![-5, -6],
                uvw_m: Array2::zeros((nrows, 3)),
                data,
                flags: Array3::from_elem((nrows, nchan_sb, 2), false),
                nsamples: Array3::from_elem((nrows, nchan_sb, 2), 1.0),
                phase_centre: PhaseCentre::MeridianDrift { dec_rad: 0.5 },
            }
        })
        .collect();
    let (t, c) = (Instant::now(), cpu_s());
    let rep = flag_group(&mut blocks, &FlagParams::default()).unwrap();
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    let n = (nrows * nchan_sb * 2 * nsb) as f64;
    // FNV-1a over the flags in block order
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in &blocks {
        for &f in b.flags.iter() {
            h = (h ^ u64::from(f)).wrapping_mul(0x100_0000_01b3);
        }
    }
    eprintln!(
        "flagger: {wall:.2} s wall, {cpu:.2} CPU-s, {:.0} CPU-ns per sample, {:.4} % flagged, \
         fingerprint {h:016x}; load average {}",
        1e9 * cpu / n,
        100.0 * rep.fraction,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
