//! Restoring beam: an elliptical Gaussian fitted to the PSF's main lobe, and
//! restoring (model ⊛ beam).

use serde::{Deserialize, Serialize};

const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949;

/// Gaussian beam: FWHM axes (arcsec) and position angle east of north (deg, [0, 180)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeamShape {
    /// Major axis FWHM (arcsec).
    pub bmaj_arcsec: f64,
    /// Minor axis FWHM (arcsec).
    pub bmin_arcsec: f64,
    /// Position angle of the major axis, east of north (deg).
    pub bpa_deg: f64,
}

/// Quadratic form `Q(e, n) = a e² + b e n + c n²` (pixel units; e = east = −x,
/// n = north = +y) of `G = exp(−Q)`.
#[derive(Clone, Copy, Debug)]
struct Quad {
    a: f64,
    b: f64,
    c: f64,
}

impl Quad {
    fn to_beam(self, cell_arcsec: f64) -> Option<BeamShape> {
        let (a, b, c) = (self.a, self.b / 2.0, self.c);
        let tr = a + c;
        let det = a * c - b * b;
        let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
        let (l1, l2) = (tr / 2.0 - disc, tr / 2.0 + disc); // l1 ≤ l2
        if !(l1 > 0.0 && l2 > 0.0) {
            return None;
        }
        // G = exp(−λ t²) = exp(−t²/(2σ²)) → σ = 1/√(2λ)
        let smaj = 1.0 / (2.0 * l1).sqrt();
        let smin = 1.0 / (2.0 * l2).sqrt();
        // eigenvector of l1: (b, l1 − a) or (l1 − c, b), whichever is better conditioned
        let v1 = (b, l1 - a);
        let v2 = (l1 - c, b);
        let (e, n) = if v1.0.hypot(v1.1) >= v2.0.hypot(v2.1) {
            v1
        } else {
            v2
        };
        let pa = e.atan2(n).to_degrees().rem_euclid(180.0);
        Some(BeamShape {
            bmaj_arcsec: smaj * FWHM_PER_SIGMA * cell_arcsec,
            bmin_arcsec: smin * FWHM_PER_SIGMA * cell_arcsec,
            bpa_deg: if (pa - 180.0).abs() < 1e-9 { 0.0 } else { pa },
        })
    }
}

/// Fit the PSF (`[y][x]`, peak at `(n/2, n/2)`, normalised to 1) with an
/// elliptical Gaussian of peak 1: pixels of the main lobe (connected to the
/// centre) above 0.35, first a log-quadratic fit, then Gauss–Newton on the
/// values. None if the PSF has no usable main lobe.
pub fn fit_psf(psf: &[f64], n: usize, cell_arcsec: f64) -> Option<BeamShape> {
    let (cx, cy) = (n / 2, n / 2);
    let level = 0.35;
    // flood fill from the centre, limited to a box
    let half = (n / 2).min(256);
    let mut pts: Vec<(f64, f64, f64)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![(cx, cy)];
    while let Some((x, y)) = stack.pop() {
        if !seen.insert((x, y)) {
            continue;
        }
        let v = psf[y * n + x];
        if v < level {
            continue;
        }
        pts.push((-(x as f64 - cx as f64), y as f64 - cy as f64, v));
        for (dx, dy) in [(1i64, 0i64), (-1, 0), (0, 1), (0, -1)] {
            let (nx, ny) = (x as i64 + dx, y as i64 + dy);
            if (nx - cx as i64).abs() > half as i64 || (ny - cy as i64).abs() > half as i64 {
                continue;
            }
            if nx < 0 || ny < 0 || nx >= n as i64 || ny >= n as i64 {
                continue;
            }
            stack.push((nx as usize, ny as usize));
        }
    }
    if pts.len() < 4 {
        // a PSF narrower than a pixel: fall back to a 1-pixel beam
        return Some(BeamShape {
            bmaj_arcsec: cell_arcsec,
            bmin_arcsec: cell_arcsec,
            bpa_deg: 0.0,
        });
    }
    // log fit: −ln v = a e² + b e n + c n², weights v² (value errors)
    let mut q = {
        let mut m = [[0.0f64; 3]; 3];
        let mut r = [0.0f64; 3];
        for &(e, nn, v) in &pts {
            if e == 0.0 && nn == 0.0 {
                continue;
            }
            let f = [e * e, e * nn, nn * nn];
            let y = -v.ln();
            let w = v * v;
            for i in 0..3 {
                r[i] += w * f[i] * y;
                for j in 0..3 {
                    m[i][j] += w * f[i] * f[j];
                }
            }
        }
        let s = solve3(m, r)?;
        Quad {
            a: s[0],
            b: s[1],
            c: s[2],
        }
    };
    // Gauss–Newton on v − exp(−Q)
    for _ in 0..20 {
        let mut m = [[0.0f64; 3]; 3];
        let mut r = [0.0f64; 3];
        for &(e, nn, v) in &pts {
            let f = [e * e, e * nn, nn * nn];
            let g = (-(q.a * f[0] + q.b * f[1] + q.c * f[2])).exp();
            let jac = [-f[0] * g, -f[1] * g, -f[2] * g];
            let res = v - g;
            for i in 0..3 {
                r[i] += jac[i] * res;
                for j in 0..3 {
                    m[i][j] += jac[i] * jac[j];
                }
            }
        }
        let d = solve3(m, r)?;
        q = Quad {
            a: q.a + d[0],
            b: q.b + d[1],
            c: q.c + d[2],
        };
        if d.iter().map(|x| x.abs()).fold(0.0, f64::max) < 1e-12 {
            break;
        }
    }
    q.to_beam(cell_arcsec)
}

fn solve3(m: [[f64; 3]; 3], r: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    if d.abs() < 1e-300 || !d.is_finite() {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut mk = m;
        for i in 0..3 {
            mk[i][k] = r[i];
        }
        *o = det(&mk) / d;
    }
    Some(out)
}

/// Gaussian beam value at pixel offset (dx, dy) (x to the west, y north).
pub fn beam_value(beam: &BeamShape, cell_arcsec: f64, dx: f64, dy: f64) -> f64 {
    let e = -dx * cell_arcsec;
    let nn = dy * cell_arcsec;
    let pa = beam.bpa_deg.to_radians();
    // major-axis unit vector (east, north) = (sin pa, cos pa)
    let t_maj = e * pa.sin() + nn * pa.cos();
    let t_min = e * pa.cos() - nn * pa.sin();
    let smaj = beam.bmaj_arcsec / FWHM_PER_SIGMA;
    let smin = beam.bmin_arcsec / FWHM_PER_SIGMA;
    (-0.5 * (t_maj * t_maj / (smaj * smaj) + t_min * t_min / (smin * smin))).exp()
}

/// Add `model ⊛ beam` (peak-1 Gaussian: Jy → Jy/beam) to `image`.
pub fn restore_into(
    image: &mut [f64],
    model: &[f64],
    n: usize,
    beam: &BeamShape,
    cell_arcsec: f64,
) {
    let r = (4.0 * beam.bmaj_arcsec / cell_arcsec).ceil() as i64 + 1;
    let kernel: Vec<f64> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .map(|(dx, dy)| beam_value(beam, cell_arcsec, dx as f64, dy as f64))
        .collect();
    let side = (2 * r + 1) as usize;
    for (i, &f) in model.iter().enumerate() {
        if f == 0.0 {
            continue;
        }
        let (x0, y0) = ((i % n) as i64, (i / n) as i64);
        for dy in -r..=r {
            let y = y0 + dy;
            if y < 0 || y >= n as i64 {
                continue;
            }
            for dx in -r..=r {
                let x = x0 + dx;
                if x < 0 || x >= n as i64 {
                    continue;
                }
                let k = kernel[(dy + r) as usize * side + (dx + r) as usize];
                image[y as usize * n + x as usize] += f * k;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quad_round_trip() {
        let b = BeamShape {
            bmaj_arcsec: 59.0,
            bmin_arcsec: 18.0,
            bpa_deg: 110.0,
        };
        let n = 128;
        let psf: Vec<f64> = (0..n * n)
            .map(|i| beam_value(&b, 3.0, (i % n) as f64 - 64.0, (i / n) as f64 - 64.0))
            .collect();
        let f = fit_psf(&psf, n, 3.0).unwrap();
        assert!((f.bmaj_arcsec - 59.0).abs() < 1e-6, "{f:?}");
        assert!((f.bmin_arcsec - 18.0).abs() < 1e-6, "{f:?}");
        assert!((f.bpa_deg - 110.0).abs() < 1e-6, "{f:?}");
    }
}
