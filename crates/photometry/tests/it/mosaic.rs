use dsa110_fits::{Beam, FitsImage, ImageMeta, SinWcs};
use dsa110_photometry::{
    forced_photometry_with_maps, mosaic_files, BkgMaps, ForcedOptions, MosaicOptions, PhotError,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::{add_sources, catalog_of, correlated_noise, gauss, mean_std, TrueSource};

const FREQ_HZ: f64 = 1.405e9;
const DISH_M: f64 = 4.65;

/// One drift-scan strip at 10× the real pixel size (30″ cells, 410² images ≈ 3.4°, beam
/// 170″×120″ = 5.7×4 px as in the real 3″/17″ images), pointings 1.25° of RA apart.
pub struct Strip {
    pub beam: Beam,
    pub wcs: Vec<SinWcs>,
    pub n: usize,
    pub src: Vec<TrueSource>,
}

pub fn strip(n_img: usize, n: usize, cell_deg: f64, n_src: usize, seed: u64) -> Strip {
    let beam = Beam {
        bmaj_deg: 17.0 / 3.0 * cell_deg,
        bmin_deg: 4.0 * cell_deg,
        bpa_deg: 30.0,
    };
    let dec0 = 30.0;
    let wcs: Vec<SinWcs> = (0..n_img)
        .map(|i| SinWcs::centered(100.0 + 1.25 * i as f64, dec0, n, n, cell_deg))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut src: Vec<TrueSource> = Vec::new();
    let min_sep = 8.0 * beam.bmaj_deg;
    while src.len() < n_src {
        let ra = rng.random_range(100.3..100.0 + 1.25 * (n_img - 1) as f64 - 0.3);
        let dec = rng.random_range(dec0 - 1.0..dec0 + 1.0);
        if src
            .iter()
            .any(|s| ((s.ra_deg - ra) * dec0.to_radians().cos()).hypot(s.dec_deg - dec) < min_sep)
        {
            continue;
        }
        let i = src.len();
        src.push(TrueSource {
            name: format!("M{i:03}"),
            ra_deg: ra,
            dec_deg: dec,
            flux_jy: 10f64.powf(rng.random_range(-0.5..0.5)),
        });
    }
    Strip { beam, wcs, n, src }
}

pub fn pb_of(w: &SinWcs, ra: f64, dec: f64) -> f64 {
    let (_, _, nn) = w.lmn_of(ra, dec);
    dsa110_astro::airy_power(nn.clamp(-1.0, 1.0).acos(), FREQ_HZ, DISH_M)
}

/// Image `i` of the strip (apparent flux = pb × true) with σ-rms noise, and its pb map.
pub fn strip_image(s: &Strip, i: usize, sigma: f64, seed: u64) -> (FitsImage, FitsImage) {
    let w = s.wcs[i];
    let n = s.n;
    let mut data = correlated_noise(n, n, &s.beam, &w, sigma, seed);
    add_sources(&mut data, n, n, &s.beam, &w, &s.src, &|ra, dec| {
        pb_of(&w, ra, dec)
    });
    let mut pbd = vec![0.0_f32; n * n];
    for y in 0..n {
        for x in 0..n {
            let (ra, dec) = w.pixel_to_world(x as f64, y as f64).unwrap();
            pbd[y * n + x] = pb_of(&w, ra, dec) as f32;
        }
    }
    let mut meta = ImageMeta::new(w);
    meta.beam = Some(s.beam);
    meta.freq_hz = FREQ_HZ;
    meta.date_obs = format!("2026-11-30T{:02}:{:02}:00", 10 + i / 12, (i * 5) % 60);
    let mut pbmeta = meta.clone();
    pbmeta.beam = None;
    pbmeta.bunit = String::new();
    (
        FitsImage {
            nx: n,
            ny: n,
            data,
            meta,
        },
        FitsImage {
            nx: n,
            ny: n,
            data: pbd,
            meta: pbmeta,
        },
    )
}

/// A 12-image mosaic: bright sources come back at their true positions (peak within 0.15
/// px of where astropy's reading of the mosaic WCS puts them) and fluxes within 1 %, the
/// noise map agrees with the measured rms of (mosaic − true sky) within 10 %, and the
/// products are written (FITS ×3 + PNG).
#[test]
fn twelve_image_mosaic_fluxes_positions_and_noise() {
    let cell = 30.0 / 3600.0;
    let s = strip(12, 410, cell, 60, 5);
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for i in 0..12 {
        let (img, pb) = strip_image(&s, i, 5e-3, 500 + i as u64);
        let p = dir.path().join(format!("g{i:02}-image.fits"));
        dsa110_fits::write_image(&p, &img).unwrap();
        dsa110_fits::write_image(dir.path().join(format!("g{i:02}-pb.fits")), &pb).unwrap();
        paths.push(p);
    }
    let out = dir.path().join("strip");
    let prods = mosaic_files(&paths, &out, &MosaicOptions::default()).unwrap();
    for suffix in [".fits", "-weight.fits", "-noise.fits", ".png"] {
        assert!(
            dir.path().join(format!("strip{suffix}")).exists(),
            "{suffix}"
        );
    }
    let m = dsa110_fits::read_image(dir.path().join("strip.fits")).unwrap();
    assert_eq!(m.data.len(), prods.image.data.len());
    let noise = dsa110_fits::read_image(dir.path().join("strip-noise.fits")).unwrap();
    let (nx, ny) = (m.nx, m.ny);
    let w = m.meta.wcs;
    eprintln!(
        "mosaic grid {nx}×{ny}, centre ({:.3}, {:.3})",
        w.crval_ra_deg, w.crval_dec_deg
    );

    // Fluxes: forced photometry on the mosaic with its own noise map, zero background.
    let maps = BkgMaps {
        nx,
        ny,
        bkg: vec![0.0; nx * ny],
        rms: noise.data.clone(),
    };
    let cat = catalog_of(&s.src);
    let meas = forced_photometry_with_maps(
        "strip.fits",
        &m,
        &maps,
        None,
        &cat,
        &ForcedOptions::default(),
    )
    .unwrap();
    let mut worst: f64 = 0.0;
    let mut n_bright = 0;
    let mut pulls = Vec::new();
    for (t, r) in s.src.iter().zip(&meas) {
        assert!(r.flux_jy.is_finite(), "{}: {}", r.name, r.flags.names());
        pulls.push((r.flux_jy - t.flux_jy) / r.flux_err_jy);
        if r.snr > 300.0 {
            n_bright += 1;
            worst = worst.max((r.flux_jy / t.flux_jy - 1.0).abs());
        }
    }
    let (pm, ps) = mean_std(&pulls);
    eprintln!("mosaic: {n_bright} bright sources, worst flux error {worst:.4}; pulls mean {pm:.2} std {ps:.2}");
    assert!(n_bright >= 20);
    assert!(worst < 0.01, "worst bright flux error {worst}");

    // Positions: refine the peak (quadratic) and compare with astropy's pixel of the truth.
    let script = r#"
import sys, warnings
from astropy.io import fits
from astropy.wcs import WCS
warnings.simplefilter("ignore")
w = WCS(fits.getheader(sys.argv[1])).celestial
for line in sys.stdin:
    ra, dec = map(float, line.split())
    x, y = w.wcs_world2pix([[ra, dec]], 0)[0]
    print("%.6f %.6f" % (x, y))
"#;
    let coords: String = s
        .src
        .iter()
        .map(|t| format!("{} {}\n", t.ra_deg, t.dec_deg))
        .collect();
    let out = run_python_stdin(
        script,
        &[dir.path().join("strip.fits").to_str().unwrap()],
        &coords,
    );
    let mut worst_pos: f64 = 0.0;
    for (line, (t, r)) in out.lines().zip(s.src.iter().zip(&meas)) {
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (ox, oy) = w.world_to_pixel(t.ra_deg, t.dec_deg).unwrap();
        assert!(
            (ox - v[0]).abs() < 1e-6 && (oy - v[1]).abs() < 1e-6,
            "astropy {v:?} vs ours {ox} {oy}"
        );
        if r.snr < 300.0 {
            continue;
        }
        let (px, py) = refine_peak(&m, ox, oy);
        worst_pos = worst_pos.max((px - v[0]).hypot(py - v[1]));
    }
    eprintln!("worst bright-source peak offset {worst_pos:.3} px");
    assert!(worst_pos < 0.15, "peak offset {worst_pos} px");

    // Noise: (mosaic − true sky)/noise map has unit rms where the weight is ≥ 10 % of max.
    let weight = &prods.weight.data;
    let wmax = weight.iter().copied().fold(0.0_f32, f32::max);
    let mut model = vec![0.0_f32; nx * ny];
    add_sources(&mut model, nx, ny, &s.beam, &w, &s.src, &|_, _| 1.0);
    let z: Vec<f64> = (0..nx * ny)
        .filter(|&i| weight[i] >= 0.1 * wmax && m.data[i].is_finite())
        .step_by(3)
        .map(|i| f64::from(m.data[i] - model[i]) / f64::from(noise.data[i]))
        .collect();
    let (zm, zs) = mean_std(&z);
    eprintln!(
        "noise check over {} pixels: (mosaic − sky)/noise mean {zm:.3} std {zs:.3}",
        z.len()
    );
    assert!((zs - 1.0).abs() < 0.1, "noise map off: std {zs}");
    let _ = gauss(0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0);
}

fn refine_peak(m: &FitsImage, x0: f64, y0: f64) -> (f64, f64) {
    let (cx, cy) = (x0.round() as usize, y0.round() as usize);
    let mut best = (cx, cy, f32::NEG_INFINITY);
    for y in cy - 2..=cy + 2 {
        for x in cx - 2..=cx + 2 {
            let v = m.data[y * m.nx + x];
            if v > best.2 {
                best = (x, y, v);
            }
        }
    }
    let (x, y) = (best.0, best.1);
    // The log of a Gaussian is an exact quadratic: Newton step from finite differences.
    let l = |dx: isize, dy: isize| {
        f64::from(m.data[(y as isize + dy) as usize * m.nx + (x as isize + dx) as usize])
            .max(1e-12)
            .ln()
    };
    let (gx, gy) = (0.5 * (l(1, 0) - l(-1, 0)), 0.5 * (l(0, 1) - l(0, -1)));
    let hxx = l(1, 0) - 2.0 * l(0, 0) + l(-1, 0);
    let hyy = l(0, 1) - 2.0 * l(0, 0) + l(0, -1);
    let hxy = 0.25 * (l(1, 1) - l(1, -1) - l(-1, 1) + l(-1, -1));
    let det = hxx * hyy - hxy * hxy;
    let dx = -(hyy * gx - hxy * gy) / det;
    let dy = -(hxx * gy - hxy * gx) / det;
    (x as f64 + dx, y as f64 + dy)
}

fn run_python_stdin(script: &str, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let py = std::env::var_os("DSA110_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/interop-venv/bin/python")
        });
    assert!(
        py.exists(),
        "reference python missing at {} (set DSA110_PYTHON)",
        py.display()
    );
    let mut child = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Bad mosaic input: no images; a PB file of another size; a missing PB file.
#[test]
fn mosaic_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let e = mosaic_files(&[], &dir.path().join("x"), &MosaicOptions::default()).unwrap_err();
    assert!(matches!(e, PhotError::NoInputs));
    let s = strip(1, 64, 30.0 / 3600.0, 0, 1);
    let (img, mut pb) = strip_image(&s, 0, 5e-3, 1);
    let p = dir.path().join("a-image.fits");
    dsa110_fits::write_image(&p, &img).unwrap();
    let e = mosaic_files(
        std::slice::from_ref(&p),
        &dir.path().join("x"),
        &MosaicOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("a-pb.fits"), "{e}");
    pb.nx = 32;
    pb.data.truncate(32 * 64);
    dsa110_fits::write_image(dir.path().join("a-pb.fits"), &pb).unwrap();
    let e = mosaic_files(&[p], &dir.path().join("x"), &MosaicOptions::default()).unwrap_err();
    assert!(
        matches!(e, PhotError::PbMismatch { .. }) && e.to_string().contains("a-pb.fits"),
        "{e}"
    );
}
