//! Synthetic sky images (independent of the library's own beam code).

use dsa110_fits::{Beam, FitsImage, ImageMeta, SinWcs};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub const FWHM_TO_SIGMA: f64 = 0.424_660_900_144_009_5; // 1 / (2 √(2 ln 2))

/// Gaussian of the given FWHMs (deg) and PA (deg, east of north) evaluated at a pixel
/// offset (dx, dy) on a grid with increments cdelt1/cdelt2 (deg); peak 1.
pub fn gauss(dx: f64, dy: f64, bmaj: f64, bmin: f64, bpa_deg: f64, c1: f64, c2: f64) -> f64 {
    let east = dx * c1; // l offset, degrees (c1 < 0: +x is west)
    let north = dy * c2;
    let (s, c) = bpa_deg.to_radians().sin_cos();
    let along_major = east * s + north * c;
    let along_minor = east * c - north * s;
    let (sa, sb) = (bmaj * FWHM_TO_SIGMA, bmin * FWHM_TO_SIGMA);
    (-0.5 * ((along_major / sa).powi(2) + (along_minor / sb).powi(2))).exp()
}

pub struct TrueSource {
    pub name: String,
    pub ra_deg: f64,
    pub dec_deg: f64,
    pub flux_jy: f64,
}

/// Beam-correlated noise of unit-free rms `sigma`.
pub fn correlated_noise(
    nx: usize,
    ny: usize,
    beam: &Beam,
    w: &SinWcs,
    sigma: f64,
    seed: u64,
) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (kmaj, kmin) = (beam.bmaj_deg / 2f64.sqrt(), beam.bmin_deg / 2f64.sqrt());
    let r =
        ((4.0 * kmaj * FWHM_TO_SIGMA) / w.cdelt1_deg.abs().min(w.cdelt2_deg.abs())).ceil() as isize;
    let n = (2 * r + 1) as usize;
    let mut k = vec![0.0_f64; n * n];
    for dy in -r..=r {
        for dx in -r..=r {
            k[((dy + r) as usize) * n + (dx + r) as usize] = gauss(
                dx as f64,
                dy as f64,
                kmaj,
                kmin,
                beam.bpa_deg,
                w.cdelt1_deg,
                w.cdelt2_deg,
            );
        }
    }
    let norm = k.iter().map(|v| v * v).sum::<f64>().sqrt();
    for v in &mut k {
        *v /= norm;
    }
    let (px, py) = (nx + 2 * r as usize, ny + 2 * r as usize);
    let white: Vec<f64> = (0..px * py)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect();
    let mut out = vec![0.0_f32; nx * ny];
    for y in 0..ny {
        for x in 0..nx {
            let mut acc = 0.0;
            for j in 0..n {
                let row = &white[(y + j) * px + x..(y + j) * px + x + n];
                let kr = &k[j * n..(j + 1) * n];
                acc += row.iter().zip(kr).map(|(a, b)| a * b).sum::<f64>();
            }
            out[y * nx + x] = (acc * sigma) as f32;
        }
    }
    out
}

/// Add point sources (apparent flux = flux × `gain(ra, dec)`) convolved with the beam.
pub fn add_sources(
    data: &mut [f32],
    nx: usize,
    ny: usize,
    beam: &Beam,
    w: &SinWcs,
    src: &[TrueSource],
    gain: &dyn Fn(f64, f64) -> f64,
) {
    let r = (5.0 * beam.bmaj_deg / w.cdelt1_deg.abs().min(w.cdelt2_deg.abs())).ceil() as isize;
    for s in src {
        let Some((x0, y0)) = w.world_to_pixel(s.ra_deg, s.dec_deg) else {
            continue;
        };
        let amp = s.flux_jy * gain(s.ra_deg, s.dec_deg);
        let (cx, cy) = (x0.round() as isize, y0.round() as isize);
        for y in (cy - r).max(0)..=(cy + r).min(ny as isize - 1) {
            for x in (cx - r).max(0)..=(cx + r).min(nx as isize - 1) {
                let v = gauss(
                    x as f64 - x0,
                    y as f64 - y0,
                    beam.bmaj_deg,
                    beam.bmin_deg,
                    beam.bpa_deg,
                    w.cdelt1_deg,
                    w.cdelt2_deg,
                );
                data[y as usize * nx + x as usize] += (amp * v) as f32;
            }
        }
    }
}

/// The standard test beam: 17″ × 12″ at PA 30°, on 3″ pixels.
pub fn test_beam() -> Beam {
    Beam {
        bmaj_deg: 17.0 / 3600.0,
        bmin_deg: 12.0 / 3600.0,
        bpa_deg: 30.0,
    }
}

/// A full synthetic image: sources + correlated noise (+ constant background `bkg`).
pub fn make_image(
    nx: usize,
    ny: usize,
    w: SinWcs,
    beam: Beam,
    src: &[TrueSource],
    sigma: f64,
    bkg: f64,
    seed: u64,
) -> FitsImage {
    let mut data = correlated_noise(nx, ny, &beam, &w, sigma, seed);
    for v in &mut data {
        *v += bkg as f32;
    }
    add_sources(&mut data, nx, ny, &beam, &w, src, &|_, _| 1.0);
    let mut meta = ImageMeta::new(w);
    meta.beam = Some(beam);
    meta.freq_hz = 1.405e9;
    FitsImage { nx, ny, data, meta }
}

/// Sources at random positions at least `min_sep_px` apart and `margin_px` from the edge.
pub fn random_sources(
    n: usize,
    nx: usize,
    ny: usize,
    w: &SinWcs,
    margin_px: f64,
    min_sep_px: f64,
    flux: &dyn Fn(usize, &mut ChaCha8Rng) -> f64,
    seed: u64,
) -> Vec<TrueSource> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pos: Vec<(f64, f64)> = Vec::new();
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < 100_000 {
        tries += 1;
        let x = rng.random_range(margin_px..nx as f64 - 1.0 - margin_px);
        let y = rng.random_range(margin_px..ny as f64 - 1.0 - margin_px);
        if pos.iter().any(|&(a, b)| (a - x).hypot(b - y) < min_sep_px) {
            continue;
        }
        pos.push((x, y));
        let (ra, dec) = w.pixel_to_world(x, y).unwrap();
        let i = out.len();
        out.push(TrueSource {
            name: format!("S{i:04}"),
            ra_deg: ra,
            dec_deg: dec,
            flux_jy: flux(i, &mut rng),
        });
    }
    assert_eq!(out.len(), n, "could not place sources");
    out
}

pub fn catalog_of(src: &[TrueSource]) -> Vec<dsa110_photometry::Source> {
    src.iter()
        .map(|s| dsa110_photometry::Source {
            name: s.name.clone(),
            ra_deg: s.ra_deg,
            dec_deg: s.dec_deg,
            flux_mjy: s.flux_jy * 1e3,
            extra: vec![],
        })
        .collect()
}

pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
    )
}
