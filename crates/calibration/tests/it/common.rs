//! Synthetic visibilities with known gains, noise and RFI.

use dsa110_astro::constants::C_M_S;
use dsa110_astro::{PhaseCentre, VisBlock};
use ndarray::{Array2, Array3};
use num_complex::{Complex32, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Antenna numbers used by the synthetic arrays (not 0..n, to exercise the mapping).
pub fn antenna_numbers(nant: usize) -> Vec<u32> {
    (0..nant as u32).map(|k| 2 * k + 1).collect()
}

/// A synthetic group (one spectral window).
pub struct Synth {
    pub block: VisBlock,
    pub model: Array2<Complex32>,
    /// truth gains `(nant, nchan, npol)` (constant in time) in antenna order of `antennas`
    pub gains: Array3<Complex64>,
    pub antennas: Vec<u32>,
    /// per-time factor `(ntimes, nant, npol)`
    pub time_gains: Array3<Complex64>,
}

pub struct SynthSpec {
    pub nant: usize,
    pub ntimes: usize,
    pub nchan: usize,
    pub f0_hz: f64,
    pub df_hz: f64,
    pub flux_jy: f64,
    pub sigma_jy: f64,
    pub seed: u64,
    /// rms phase (rad) of a random walk in time per antenna (0 = steady gains)
    pub time_phase_rms: f64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            nant: 96,
            ntimes: 4,
            nchan: 8,
            f0_hz: 1.40e9,
            df_hz: 244_140.625,
            flux_jy: 10.0,
            sigma_jy: 0.0,
            seed: 7,
            time_phase_rms: 0.0,
        }
    }
}

pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

pub fn synth(spec: &SynthSpec) -> Synth {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let ants = antenna_numbers(spec.nant);
    let npol = 2;
    let (mut ant1, mut ant2) = (Vec::new(), Vec::new());
    for i in 0..spec.nant {
        for j in i..spec.nant {
            ant1.push(ants[i]);
            ant2.push(ants[j]);
        }
    }
    let nbls = ant1.len();
    let nrows = nbls * spec.ntimes;
    // antenna positions (m) in a 1.5 km box; uvw = pos2 − pos1 (constant)
    let pos: Vec<[f64; 3]> = (0..spec.nant)
        .map(|_| {
            [
                rng.random_range(-700.0..700.0),
                rng.random_range(-700.0..700.0),
                rng.random_range(-5.0..5.0),
            ]
        })
        .collect();
    let idx = |a: u32| ((a - 1) / 2) as usize;
    let mut uvw = Array2::<f64>::zeros((nrows, 3));
    for t in 0..spec.ntimes {
        for b in 0..nbls {
            let (p1, p2) = (pos[idx(ant1[b])], pos[idx(ant2[b])]);
            for k in 0..3 {
                uvw[[t * nbls + b, k]] = p2[k] - p1[k];
            }
        }
    }
    let freqs: Vec<f64> = (0..spec.nchan)
        .map(|c| spec.f0_hz + c as f64 * spec.df_hz)
        .collect();
    // model: a point source at (l, m) drifting slightly with time, and a
    // weaker second one; amplitude with a smooth beam-like taper in time
    let mut model = Array2::<Complex32>::zeros((nrows, spec.nchan));
    for t in 0..spec.ntimes {
        let l1 = 0.004 + 0.0005 * t as f64;
        let m1 = -0.002;
        let a1 = spec.flux_jy * (1.0 - 0.02 * t as f64);
        for b in 0..nbls {
            let r = t * nbls + b;
            for (c, &f) in freqs.iter().enumerate() {
                let k = std::f64::consts::TAU * f / C_M_S;
                let ph1 = k * (uvw[[r, 0]] * l1 + uvw[[r, 1]] * m1);
                let ph2 = k * (uvw[[r, 0]] * -0.01 + uvw[[r, 1]] * 0.006);
                let v =
                    Complex64::from_polar(a1, ph1) + Complex64::from_polar(0.2 * spec.flux_jy, ph2);
                model[[r, c]] = Complex32::new(v.re as f32, v.im as f32);
            }
        }
    }
    // gains: amplitude 0.7–1.3 with a ripple, phase random + delay slope
    let mut gains = Array3::<Complex64>::zeros((spec.nant, spec.nchan, npol));
    for a in 0..spec.nant {
        for p in 0..npol {
            let amp0 = rng.random_range(0.7..1.3);
            let ph0 = rng.random_range(-3.1..3.1);
            let tau = rng.random_range(-4e-9..4e-9);
            let rip = rng.random_range(0.0..0.05);
            for c in 0..spec.nchan {
                let x = c as f64 / spec.nchan as f64;
                let amp = amp0 * (1.0 + rip * (6.0 * x).sin());
                let ph = ph0 + std::f64::consts::TAU * tau * (freqs[c] - spec.f0_hz);
                gains[[a, c, p]] = Complex64::from_polar(amp, ph);
            }
        }
    }
    let mut time_gains =
        Array3::<Complex64>::from_elem((spec.ntimes, spec.nant, npol), Complex64::new(1.0, 0.0));
    if spec.time_phase_rms > 0.0 {
        for a in 0..spec.nant {
            for p in 0..npol {
                let mut ph = 0.0;
                for t in 0..spec.ntimes {
                    ph += spec.time_phase_rms * normal(&mut rng);
                    time_gains[[t, a, p]] = Complex64::from_polar(1.0 + 0.01 * t as f64, ph);
                }
            }
        }
    }
    let mut data = Array3::<Complex32>::zeros((nrows, spec.nchan, npol));
    for t in 0..spec.ntimes {
        for b in 0..nbls {
            let r = t * nbls + b;
            let (i, j) = (idx(ant1[b]), idx(ant2[b]));
            for c in 0..spec.nchan {
                for p in 0..npol {
                    let gi = gains[[i, c, p]] * time_gains[[t, i, p]];
                    let gj = gains[[j, c, p]] * time_gains[[t, j, p]];
                    let m = model[[r, c]];
                    let m = Complex64::new(f64::from(m.re), f64::from(m.im));
                    let mut v = if i == j {
                        Complex64::new(gi.norm_sqr() * (m.re + 11_600.0), 0.0)
                    } else {
                        gi * gj.conj() * m
                    };
                    if spec.sigma_jy > 0.0 && i != j {
                        v += Complex64::new(
                            spec.sigma_jy * normal(&mut rng),
                            spec.sigma_jy * normal(&mut rng),
                        );
                    }
                    data[[r, c, p]] = Complex32::new(v.re as f32, v.im as f32);
                }
            }
        }
    }
    let times: Vec<f64> = (0..spec.ntimes)
        .map(|t| 2_460_950.5 + t as f64 * 12.884_902 / 86_400.0)
        .collect();
    let block = VisBlock {
        times_jd_utc: times,
        int_time_s: 12.884_902,
        ant1,
        ant2,
        freqs_hz: freqs,
        chan_width_hz: spec.df_hz,
        pols: vec![-5, -6],
        uvw_m: uvw,
        flags: Array3::from_elem((nrows, spec.nchan, npol), false),
        nsamples: Array3::from_elem((nrows, spec.nchan, npol), 1.0),
        data,
        phase_centre: PhaseCentre::MeridianDrift { dec_rad: 0.9 },
    };
    Synth {
        block,
        model,
        gains,
        antennas: ants,
        time_gains,
    }
}

/// Truth gains aligned so that `refant` (index) is real positive.
pub fn aligned_truth(g: &[Complex64], refant: usize) -> Vec<Complex64> {
    let r = g[refant].conj() / g[refant].norm();
    g.iter().map(|x| x * r).collect()
}
