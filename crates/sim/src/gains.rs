//! Antenna gains (smooth complex bandpasses) and their `.npy` file.
//!
//! For antenna a, polarisation p, channel c of the whole band at frequency f:
//!
//! ```text
//! g(f) = A(f) · E_s(x) · exp(i (2π f τ_ap + φ_ap + β_ap ξ²))
//! A(f) = 1 + a1 sin(2π ξ n1 + ψ1) + a2 sin(2π ξ n2 + ψ2)     (a1 + a2 ≤ 0.1)
//! E_s(x) = 1 − e_s (2x − 1)^m_s                                 (subband edge roll-off)
//! ```
//!
//! with ξ = (f − 1311.25 MHz) / 187.5 MHz across the band, x ∈ [0, 1] the channel's
//! position inside its subband, τ_ap ∈ [−4, 4] ns (a per-antenna delay, the two pols
//! within 0.3 ns of each other), φ_ap ∈ [−π, π), β_ap ∈ [−0.5, 0.5] rad, and per
//! subband e_s ∈ [0.02, 0.08], m_s ∈ {4, 6, 8}. All draws are seeded.
//!
//! A slow drift over `h` hours ([`apply_drift`]) multiplies antenna a, pol p by
//! `(1 + r_ap h) · exp(i θ_ap h)`, r_ap ∈ [−0.5, 0.5] % and θ_ap ∈ [−2°, 2°] per hour
//! (seeded apart from the bandpasses; constant across the band and within a group).
//!
//! Layout (here and in the `.npy`): complex64, shape `(117, npol, 16·nchan)`, C order;
//! channel index `c = sb·nchan + j` with `j` the channel in file order, i.e. the
//! channel axis runs in **file order, sb00 first** = strictly descending frequency.
//! All 16 subbands are present even when only some are written.

use std::io::Write;
use std::path::Path;

use num_complex::Complex32;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{NANTS_TELESCOPE, NSUBBANDS};
use crate::{seed_for, SimError};

/// Complex gains `(117, npol, nchan_total)` flattened in C order.
#[derive(Clone, Debug)]
pub struct Gains {
    /// Polarisations.
    pub npol: usize,
    /// Channels in the whole band (16 × channels per subband).
    pub nchan_total: usize,
    /// Values, C order.
    pub values: Vec<Complex32>,
}

impl Gains {
    /// Gain of antenna `ant`, pol `pol`, band channel `c`.
    #[inline]
    pub fn get(&self, ant: usize, pol: usize, c: usize) -> Complex32 {
        self.values[(ant * self.npol + pol) * self.nchan_total + c]
    }
}

/// All gains = 1.
pub fn unit_gains(npol: usize, nchan_total: usize) -> Gains {
    Gains {
        npol,
        nchan_total,
        values: vec![Complex32::new(1.0, 0.0); NANTS_TELESCOPE * npol * nchan_total],
    }
}

/// Seeded smooth bandpasses (see the module docs). `freqs[sb][j]` are channel centres.
pub fn random_gains(freqs: &[Vec<f64>], npol: usize, seed: u64) -> Gains {
    const F_LO: f64 = 1_311.25e6;
    const SPAN: f64 = 187.5e6;
    let nchan = freqs.first().map_or(0, Vec::len);
    let nchan_total = NSUBBANDS * nchan;
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(seed, &[0x6A]));
    let edges: Vec<(f64, i32)> = (0..NSUBBANDS)
        .map(|_| {
            (
                rng.random_range(0.02..0.08),
                [4, 6, 8][rng.random_range(0..3usize)],
            )
        })
        .collect();
    let mut values = Vec::with_capacity(NANTS_TELESCOPE * npol * nchan_total);
    for _ant in 0..NANTS_TELESCOPE {
        let tau_ant = rng.random_range(-4e-9..4e-9);
        for _pol in 0..npol {
            let tau = tau_ant + rng.random_range(-0.3e-9..0.3e-9);
            let phi0 = rng.random_range(-std::f64::consts::PI..std::f64::consts::PI);
            let beta = rng.random_range(-0.5..0.5);
            let a1 = rng.random_range(0.0..0.06);
            let a2 = rng.random_range(0.0..0.04);
            let n1 = rng.random_range(1.0..3.0);
            let n2 = rng.random_range(5.0..12.0);
            let psi1 = rng.random_range(0.0..std::f64::consts::TAU);
            let psi2 = rng.random_range(0.0..std::f64::consts::TAU);
            for (sb, fs) in freqs.iter().enumerate() {
                let (e, m) = edges[sb];
                for (j, &f) in fs.iter().enumerate() {
                    let xi = (f - F_LO) / SPAN;
                    let x = if nchan > 1 {
                        (j as f64 + 0.5) / nchan as f64
                    } else {
                        0.5
                    };
                    let amp = (1.0
                        + a1 * (std::f64::consts::TAU * xi * n1 + psi1).sin()
                        + a2 * (std::f64::consts::TAU * xi * n2 + psi2).sin())
                        * (1.0 - e * (2.0 * x - 1.0).powi(m));
                    let ph = std::f64::consts::TAU * f * tau + phi0 + beta * xi * xi;
                    let (s, c) = ph.sin_cos();
                    values.push(Complex32::new((amp * c) as f32, (amp * s) as f32));
                }
            }
        }
    }
    Gains {
        npol,
        nchan_total,
        values,
    }
}

/// Applies `hours` of slow drift to `g` (see the module docs), seeded by `seed`.
pub fn apply_drift(g: &mut Gains, hours: f64, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(seed, &[0x6B]));
    let nchan = g.nchan_total;
    for ant_pol in g.values.chunks_mut(nchan.max(1)) {
        let rate_amp: f64 = rng.random_range(-0.005..0.005);
        let rate_ph: f64 = rng.random_range(-2.0f64..2.0).to_radians();
        let (s, c) = (rate_ph * hours).sin_cos();
        let amp = 1.0 + rate_amp * hours;
        let k = Complex32::new((amp * c) as f32, (amp * s) as f32);
        for v in ant_pol {
            *v *= k;
        }
    }
}

/// Write the gains as a NumPy `.npy` (format 1.0, `<c8`, C order, shape
/// `(117, npol, nchan_total)`).
pub fn write_npy(path: &Path, g: &Gains) -> Result<u64, SimError> {
    let io = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dict = format!(
        "{{'descr': '<c8', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
        NANTS_TELESCOPE, g.npol, g.nchan_total
    );
    // magic(6) + version(2) + len(2) + dict + padding + '\n' ≡ 0 mod 64
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header_len = dict.len() + pad + 1;
    let mut buf = Vec::with_capacity(10 + header_len + g.values.len() * 8);
    buf.extend_from_slice(b"\x93NUMPY\x01\x00");
    buf.extend_from_slice(&(header_len as u16).to_le_bytes());
    buf.extend_from_slice(dict.as_bytes());
    buf.extend(std::iter::repeat_n(b' ', pad));
    buf.push(b'\n');
    for v in &g.values {
        buf.extend_from_slice(&v.re.to_le_bytes());
        buf.extend_from_slice(&v.im.to_le_bytes());
    }
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(&buf).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_scales_each_antenna_by_its_rate_times_the_hours() {
        let freqs: Vec<Vec<f64>> = (0..NSUBBANDS)
            .map(|sb| vec![1.5e9 - sb as f64 * 11.7e6, 1.495e9 - sb as f64 * 11.7e6])
            .collect();
        let g0 = random_gains(&freqs, 2, 9);
        let mut g1 = g0.clone();
        apply_drift(&mut g1, 1.0, 9);
        let mut g2 = g0.clone();
        apply_drift(&mut g2, 2.0, 9);
        let mut moved = 0;
        for ant in 0..NANTS_TELESCOPE {
            for pol in 0..2 {
                let r1 = g1.get(ant, pol, 0) / g0.get(ant, pol, 0);
                let r2 = g2.get(ant, pol, 0) / g0.get(ant, pol, 0);
                // amplitude within 0.5 %/h, phase within 2°/h, linear in the hours
                assert!((r1.norm() - 1.0).abs() <= 0.005 + 1e-6, "{r1}");
                assert!(r1.arg().abs() <= 2f32.to_radians() + 1e-6, "{r1}");
                assert!((r2.arg() - 2.0 * r1.arg()).abs() < 1e-5);
                assert!(((r2.norm() - 1.0) - 2.0 * (r1.norm() - 1.0)).abs() < 1e-5);
                // the same factor across the band
                let last = g1.nchan_total - 1;
                let rl = g1.get(ant, pol, last) / g0.get(ant, pol, last);
                assert!((rl - r1).norm() < 1e-5);
                moved += usize::from(r1.arg().abs() > 0.1f32.to_radians());
            }
        }
        assert!(
            moved > NANTS_TELESCOPE,
            "the drift moves most gains: {moved}"
        );
    }
}
