//! Synthetic DSA-110-like arrays, skies and direct Fourier sums.

use dsa110_imaging::ImagingVis;
use num_complex::{Complex32, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

pub const C_M_S: f64 = 299_792_458.0;
pub const LAT_RAD: f64 = 37.2339 * PI / 180.0;

/// Antenna ENU positions (m): `n_ew` on the E-W arm (5.75 m), `n_ns` on the N-S
/// arm (8.66 m), `n_out` outriggers out to `r_out` m.
pub fn dsa_like_array(
    n_ew: usize,
    n_ns: usize,
    n_out: usize,
    r_out: f64,
    seed: u64,
) -> Vec<[f64; 3]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut a = Vec::new();
    let ew_step = 51.0 * 5.75 / n_ew as f64;
    for i in 0..n_ew {
        a.push([i as f64 * ew_step - 145.0, 0.0, 0.0]);
    }
    let ns_step = 51.0 * 8.66 / n_ns as f64;
    for i in 0..n_ns {
        a.push([0.0, 10.0 + i as f64 * ns_step, 0.0]);
    }
    for _ in 0..n_out {
        let r = rng.random_range(0.3..1.0) * r_out;
        let t = rng.random_range(0.0..2.0 * PI);
        a.push([r * t.cos(), r * t.sin(), rng.random_range(-5.0..5.0)]);
    }
    a
}

/// MS-convention UVW (m) of `ant2 − ant1` for a source at hour angle `ha`,
/// declination `dec`.
pub fn uvw(enu1: &[f64; 3], enu2: &[f64; 3], ha: f64, dec: f64) -> [f64; 3] {
    let (e, n, u) = (enu2[0] - enu1[0], enu2[1] - enu1[1], enu2[2] - enu1[2]);
    let x = -LAT_RAD.sin() * n + LAT_RAD.cos() * u;
    let y = e;
    let z = LAT_RAD.cos() * n + LAT_RAD.sin() * u;
    let (sh, ch) = ha.sin_cos();
    let (sd, cd) = dec.sin_cos();
    [
        sh * x + ch * y,
        -sd * ch * x + sd * sh * y + cd * z,
        cd * ch * x - cd * sh * y + sd * z,
    ]
}

/// A point source: direction cosines and flux.
#[derive(Clone, Copy, Debug)]
pub struct Src {
    pub l: f64,
    pub m: f64,
    pub flux_jy: f64,
}

pub fn nm1(l: f64, m: f64) -> f64 {
    let r2 = l * l + m * m;
    -r2 / (1.0 + (1.0 - r2).sqrt())
}

/// Visibilities of `srcs` (exact, with the n−1 term), MS convention.
pub fn simulate(
    ants: &[[f64; 3]],
    has: &[f64],
    dec: f64,
    freqs: &[f64],
    srcs: &[Src],
    noise_jy: f64,
    seed: u64,
) -> ImagingVis {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = rand_distr::Normal::new(0.0, 1.0).unwrap();
    let mut v = ImagingVis {
        freq_hz: freqs.to_vec(),
        chan_width_hz: if freqs.len() > 1 {
            freqs[1] - freqs[0]
        } else {
            1e6
        },
        ..Default::default()
    };
    for &ha in has {
        for i in 0..ants.len() {
            for j in i + 1..ants.len() {
                let b = uvw(&ants[i], &ants[j], ha, dec);
                v.uvw_m.push(b);
                for &f in freqs {
                    let k = f / C_M_S;
                    let mut s = Complex64::new(0.0, 0.0);
                    for src in srcs {
                        let ph =
                            2.0 * PI * k * (b[0] * src.l + b[1] * src.m + b[2] * nm1(src.l, src.m));
                        s += Complex64::from_polar(src.flux_jy, ph);
                    }
                    if noise_jy > 0.0 {
                        let re: f64 = rng.sample(normal);
                        let im: f64 = rng.sample(normal);
                        s += Complex64::new(re, im) * noise_jy;
                    }
                    v.vis.push(Complex32::new(s.re as f32, s.im as f32));
                    v.weight.push(1.0);
                }
            }
        }
    }
    v
}

/// Direct Fourier sum at pixel (x, y): `Σ wt Re(V e^{−2πi(ul+vm+w(n−1))}) / Σ wt`
/// (with `wcorr` false, the w term is dropped).
pub fn dft_pixel(v: &ImagingVis, wt: &[f32], npix: usize, cell: f64, x: usize, y: usize) -> f64 {
    let l = (npix as f64 / 2.0 - x as f64) * cell;
    let m = (y as f64 - npix as f64 / 2.0) * cell;
    let n1 = nm1(l, m);
    let nchan = v.nchan();
    let mut s = 0.0;
    let mut sw = 0.0;
    for (r, b) in v.uvw_m.iter().enumerate() {
        for (c, f) in v.freq_hz.iter().enumerate() {
            let w = wt[r * nchan + c] as f64;
            if w == 0.0 {
                continue;
            }
            let k = f / C_M_S;
            let ph = -2.0 * PI * k * (b[0] * l + b[1] * m + b[2] * n1);
            let d = v.vis[r * nchan + c];
            s += w * (d.re as f64 * ph.cos() - d.im as f64 * ph.sin());
            sw += w;
        }
    }
    s / sw
}

/// Pixels to check: the whole border, a strided sub-grid, and boxes around
/// the given pixels.
pub fn check_pixels(
    npix: usize,
    stride: usize,
    around: &[(usize, usize)],
    half_box: usize,
) -> Vec<(usize, usize)> {
    let mut p = Vec::new();
    for i in 0..npix {
        p.push((i, 0));
        p.push((i, npix - 1));
        p.push((0, i));
        p.push((npix - 1, i));
    }
    for y in (0..npix).step_by(stride) {
        for x in (0..npix).step_by(stride) {
            p.push((x, y));
        }
    }
    for &(cx, cy) in around {
        for y in cy.saturating_sub(half_box)..(cy + half_box + 1).min(npix) {
            for x in cx.saturating_sub(half_box)..(cx + half_box + 1).min(npix) {
                p.push((x, y));
            }
        }
    }
    p.sort_unstable();
    p.dedup();
    p
}

/// Pixel nearest to (l, m).
pub fn lm_to_pix(l: f64, m: f64, npix: usize, cell: f64) -> (usize, usize) {
    let x = (npix as f64 / 2.0 - l / cell).round() as usize;
    let y = (npix as f64 / 2.0 + m / cell).round() as usize;
    (x, y)
}

pub fn deg(x: f64) -> f64 {
    x.to_radians()
}
