//! Primary beam: the 4.65 m dish's Airy power pattern, averaged over the band
//! with the channels' summed imaging weights, centred on the pointing.

use rayon::prelude::*;

/// Band-averaged Airy power as a function of the angle from the pointing,
/// tabulated out to `theta_max_rad`.
#[derive(Clone, Debug)]
pub struct BandBeam {
    step_rad: f64,
    table: Vec<f64>,
}

impl BandBeam {
    /// Tabulate `Σ_c W_c A(θ, f_c) / Σ_c W_c` on 4096 samples.
    pub fn new(freq_hz: &[f64], chan_weight: &[f64], diameter_m: f64, theta_max_rad: f64) -> Self {
        let ns = 4096;
        let step = theta_max_rad.max(1e-6) / (ns - 1) as f64;
        let sumw: f64 = chan_weight.iter().sum();
        let table = (0..ns + 1)
            .into_par_iter()
            .map(|i| {
                let th = i as f64 * step;
                let mut s = 0.0;
                for (f, w) in freq_hz.iter().zip(chan_weight) {
                    if *w > 0.0 {
                        s += w * dsa110_astro::airy_power(th, *f, diameter_m);
                    }
                }
                if sumw > 0.0 {
                    s / sumw
                } else {
                    0.0
                }
            })
            .collect();
        Self {
            step_rad: step,
            table,
        }
    }

    /// Beam power at angle `theta_rad` (linear interpolation).
    pub fn at(&self, theta_rad: f64) -> f64 {
        let t = theta_rad / self.step_rad;
        let i = t as usize;
        if i + 1 >= self.table.len() {
            return self.table.last().copied().unwrap_or(0.0);
        }
        let f = t - i as f64;
        self.table[i] * (1.0 - f) + self.table[i + 1] * f
    }
}

/// Angular distance between two directions (rad).
pub fn ang_dist(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let s = ((dec2 - dec1) / 2.0).sin().powi(2)
        + dec1.cos() * dec2.cos() * ((ra2 - ra1) / 2.0).sin().powi(2);
    2.0 * s.sqrt().min(1.0).asin()
}

/// Primary-beam image (`[y][x]`) for a SIN image centred on `centre` with
/// pixel `cell_rad`: the weighted mean over `pointings` (ra, dec, weight; rad)
/// of the band-averaged beam, i.e. the beam of a drift scan. Evaluated exactly
/// every `STEP` pixels and bilinearly interpolated in between (the beam varies
/// on degree scales).
pub fn pb_image(
    beam: &BandBeam,
    n: usize,
    cell_rad: f64,
    centre: (f64, f64),
    pointings: &[(f64, f64, f64)],
) -> Vec<f64> {
    const STEP: usize = 8;
    let (ra0, dec0) = centre;
    let sumw: f64 = pointings.iter().map(|p| p.2).sum();
    let eval = |x: f64, y: f64| -> f64 {
        let l = (n as f64 / 2.0 - x) * cell_rad;
        let m = (y - n as f64 / 2.0) * cell_rad;
        let r2 = l * l + m * m;
        if r2 >= 1.0 || sumw <= 0.0 {
            return 0.0;
        }
        let nn = (1.0 - r2).sqrt();
        let dec = (m * dec0.cos() + nn * dec0.sin()).asin();
        let ra = ra0 + l.atan2(nn * dec0.cos() - m * dec0.sin());
        pointings
            .iter()
            .map(|&(pr, pd, w)| w * beam.at(ang_dist(ra, dec, pr, pd)))
            .sum::<f64>()
            / sumw
    };
    let nc = n / STEP + 2;
    let coarse: Vec<f64> = (0..nc * nc)
        .into_par_iter()
        .map(|i| eval(((i % nc) * STEP) as f64, ((i / nc) * STEP) as f64))
        .collect();
    let mut out = vec![0.0; n * n];
    out.par_chunks_mut(n).enumerate().for_each(|(y, row)| {
        let (cy, fy) = (y / STEP, (y % STEP) as f64 / STEP as f64);
        for (x, o) in row.iter_mut().enumerate() {
            let (cx, fx) = (x / STEP, (x % STEP) as f64 / STEP as f64);
            let a = coarse[cy * nc + cx];
            let b = coarse[cy * nc + cx + 1];
            let c = coarse[(cy + 1) * nc + cx];
            let d = coarse[(cy + 1) * nc + cx + 1];
            *o = (a * (1.0 - fx) + b * fx) * (1.0 - fy) + (c * (1.0 - fx) + d * fx) * fy;
        }
    });
    out
}
