//! `dsa110-tools mosaic IMAGE.fits... --out NAME` on three overlapping
//! synthetic images (each an apparent image with its `-pb.fits`): the mosaic
//! is in primary-beam-corrected flux.

use std::path::{Path, PathBuf};

use dsa110_fits::{Beam, FitsImage, ImageMeta, SinWcs};

use crate::common::{assert_exit, json, scratch, stderr, tools};

const N: usize = 128;
const CELL_ARCSEC: f64 = 20.0;
const BEAM_FWHM_ARCSEC: f64 = 80.0;
const PB_FWHM_DEG: f64 = 0.8;
const DEC: f64 = 54.5;
const SRC: (f64, f64, f64) = (150.5, 54.52, 2.0);
const NOISE_JY: f64 = 0.005;

/// Deterministic standard normals (LCG + Box–Muller).
struct Normal(u64);
impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn sample(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn gauss(d_arcsec: f64, fwhm_arcsec: f64) -> f64 {
    (-4.0 * 2f64.ln() * (d_arcsec / fwhm_arcsec).powi(2)).exp()
}

/// Angular distance (arcsec) between the directions of (l, m) pairs.
fn dist_arcsec(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2))
        .sqrt()
        .to_degrees()
        * 3600.0
}

/// Write `X-image.fits` (apparent: pb × sky, plus noise) and `X-pb.fits`
/// centred on `ra`; returns the image path.
fn write_pair(dir: &Path, name: &str, ra: f64, seed: u64) -> PathBuf {
    let wcs = SinWcs::centered(ra, DEC, N, N, CELL_ARCSEC / 3600.0);
    let src_lm = wcs.lm_of(SRC.0, SRC.1).unwrap();
    let mut rng = Normal(seed);
    let (mut img, mut pb) = (vec![0f32; N * N], vec![0f32; N * N]);
    for y in 0..N {
        for x in 0..N {
            let lm = wcs.pixel_to_lm(x as f64, y as f64);
            let p = gauss(dist_arcsec(lm, (0.0, 0.0)), PB_FWHM_DEG * 3600.0);
            let p_src = gauss(dist_arcsec(src_lm, (0.0, 0.0)), PB_FWHM_DEG * 3600.0);
            let sky = SRC.2 * gauss(dist_arcsec(lm, src_lm), BEAM_FWHM_ARCSEC);
            img[y * N + x] = (p_src * sky + NOISE_JY * rng.sample()) as f32;
            pb[y * N + x] = p as f32;
        }
    }
    let mut meta = ImageMeta::new(wcs);
    meta.freq_hz = 1.405e9;
    meta.bandwidth_hz = 187.5e6;
    meta.beam = Some(Beam {
        bmaj_deg: BEAM_FWHM_ARCSEC / 3600.0,
        bmin_deg: BEAM_FWHM_ARCSEC / 3600.0,
        bpa_deg: 0.0,
    });
    let image = dir.join(format!("{name}-image.fits"));
    dsa110_fits::write_image(
        &image,
        &FitsImage {
            nx: N,
            ny: N,
            data: img,
            meta: meta.clone(),
        },
    )
    .unwrap();
    meta.beam = None;
    meta.bunit = String::new();
    dsa110_fits::write_image(
        dir.join(format!("{name}-pb.fits")),
        &FitsImage {
            nx: N,
            ny: N,
            data: pb,
            meta,
        },
    )
    .unwrap();
    image
}

#[test]
fn mosaic_of_three_images_is_primary_beam_corrected() {
    let dir = scratch("mosaic-ok");
    let cosd = DEC.to_radians().cos();
    let images: Vec<PathBuf> = [-0.5, 0.0, 0.5]
        .iter()
        .enumerate()
        .map(|(k, dra)| {
            write_pair(
                &dir,
                &format!("e{k}"),
                SRC.0 + 0.3 * dra / cosd - 0.05,
                k as u64 + 1,
            )
        })
        .collect();
    let out = dir.join("mos");
    let mut args: Vec<&std::ffi::OsStr> = vec!["mosaic".as_ref()];
    args.extend(images.iter().map(|p| p.as_os_str()));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    let o = tools(&args);
    assert_exit(&o, 0);
    let j = json(&o);
    eprintln!("{j:#}");
    for (kind, suffix) in [
        ("image", ".fits"),
        ("weight", "-weight.fits"),
        ("noise", "-noise.fits"),
        ("png", ".png"),
    ] {
        let p = format!("{}{suffix}", out.display());
        assert_eq!(j["products"][kind], p.as_str());
        assert!(Path::new(&p).is_file(), "{p}");
    }
    assert_eq!(j["inputs"].as_array().unwrap().len(), 3);
    // wider than one input
    assert!(j["nx"].as_u64().unwrap() > N as u64 + 20, "{j}");

    // at the source: the true (pb-corrected) flux, though each input shows pb × flux
    let m = dsa110_fits::read_image(format!("{}.fits", out.display())).unwrap();
    let (sx, sy) = m.meta.wcs.world_to_pixel(SRC.0, SRC.1).unwrap();
    let (px, py) = (sx.round() as usize, sy.round() as usize);
    let src_lm = m.meta.wcs.lm_of(SRC.0, SRC.1).unwrap();
    let want = SRC.2
        * gauss(
            dist_arcsec(m.meta.wcs.pixel_to_lm(px as f64, py as f64), src_lm),
            BEAM_FWHM_ARCSEC,
        );
    let got = f64::from(m.get(px, py).unwrap());
    assert!(
        (got / want - 1.0).abs() < 0.02,
        "mosaic {got} Jy/beam at the source, want {want}"
    );
    let first = dsa110_fits::read_image(&images[0]).unwrap();
    let (fx, fy) = first.meta.wcs.world_to_pixel(SRC.0, SRC.1).unwrap();
    let apparent = f64::from(first.get(fx.round() as usize, fy.round() as usize).unwrap());
    assert!(apparent < 0.9 * want, "input 0 is attenuated: {apparent}");
    // noise map: below one image's noise where the three overlap
    let noise = dsa110_fits::read_image(format!("{}-noise.fits", out.display())).unwrap();
    let sigma = f64::from(noise.get(px, py).unwrap());
    assert!(sigma > 0.0 && sigma < NOISE_JY, "noise {sigma}");
    let weight = dsa110_fits::read_image(format!("{}-weight.fits", out.display())).unwrap();
    let w = f64::from(weight.get(px, py).unwrap());
    assert!(
        (sigma - 1.0 / w.sqrt()).abs() < 1e-3 * sigma,
        "{sigma} vs 1/√{w}"
    );
}

#[test]
fn mosaic_refuses_missing_primary_beams_and_corrected_inputs() {
    let dir = scratch("mosaic-bad");
    let a = write_pair(&dir, "a", SRC.0, 7);
    let lone = dir.join("b-image.fits");
    std::fs::copy(&a, &lone).unwrap();
    let out = dir.join("m");
    let o = tools(&[
        "mosaic".as_ref(),
        a.as_os_str(),
        lone.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(
        e.contains(&format!("no primary-beam image for {}", lone.display()))
            && e.contains(&dir.join("b-pb.fits").display().to_string()),
        "{e}"
    );
    assert!(!Path::new(&format!("{}.fits", out.display())).exists());
    let corrected = dir.join("a-image-pb.fits");
    std::fs::copy(&a, &corrected).unwrap();
    let o = tools(&[
        "mosaic".as_ref(),
        corrected.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("already primary-beam corrected"),
        "{}",
        stderr(&o)
    );
}
