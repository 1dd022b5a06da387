use dsa110_fits::{FitsImage, SinWcs};
use dsa110_photometry::{
    background_maps, forced_photometry, forced_photometry_files, BkgOptions, Flags, ForcedOptions,
    NoiseCorrelation, PhotError,
};
use rand::Rng;

use crate::sim::{catalog_of, make_image, mean_std, random_sources, test_beam, TrueSource};

const CELL: f64 = 3.0 / 3600.0;

fn wcs(n: usize) -> SinWcs {
    SinWcs::centered(150.0, 40.0, n, n, CELL)
}

/// Three 1024² images, 160 sources each (10 at 1 Jy, 150 log-uniform 4–200 mJy), σ = 1 mJy
/// beam-correlated noise and a 3 mJy background: bright fluxes within 1 %; the pulls
/// (measured − true)/error over 480 sources have std within 10 % of 1 and mean ≈ 0.
/// With the independent-pixel error formula the pulls are far too wide (which is why the
/// correlated-noise correction is there).
#[test]
fn bright_fluxes_within_one_percent_and_pulls_are_honest() {
    let n = 1024;
    let sigma = 1e-3;
    let mut pulls = Vec::new();
    let mut pulls_white = Vec::new();
    let mut worst_bright: f64 = 0.0;
    for seed in 0..3u64 {
        let w = wcs(n);
        let src = random_sources(
            160,
            n,
            n,
            &w,
            20.0,
            25.0,
            &|i, rng| {
                if i < 10 {
                    1.0
                } else {
                    10f64.powf(rng.random_range(0.6..2.3)) * 1e-3
                }
            },
            100 + seed,
        );
        let img = make_image(n, n, w, test_beam(), &src, sigma, 3e-3, 200 + seed);
        let cat = catalog_of(&src);
        let m = forced_photometry("sim.fits", &img, None, &cat, &ForcedOptions::default()).unwrap();
        let white = ForcedOptions {
            noise_correlation: NoiseCorrelation::White,
            ..ForcedOptions::default()
        };
        let mw = forced_photometry("sim.fits", &img, None, &cat, &white).unwrap();
        for ((s, r), rw) in src.iter().zip(&m).zip(&mw) {
            assert!(r.flags.is_empty(), "{}: flags {}", r.name, r.flags.names());
            assert_eq!(r.n_group, 1);
            if s.flux_jy >= 1.0 {
                worst_bright = worst_bright.max((r.flux_jy / s.flux_jy - 1.0).abs());
            }
            pulls.push((r.flux_jy - s.flux_jy) / r.flux_err_jy);
            pulls_white.push((rw.flux_jy - s.flux_jy) / rw.flux_err_jy);
            assert!(
                (r.local_rms_jy / sigma - 1.0).abs() < 0.15,
                "local rms {}",
                r.local_rms_jy
            );
            assert!((r.snr - r.flux_jy / r.flux_err_jy).abs() < 1e-9);
        }
    }
    let (mean, std) = mean_std(&pulls);
    let (_, std_white) = mean_std(&pulls_white);
    eprintln!("pulls: n={} mean={mean:.3} std={std:.3}; white-noise errors: std={std_white:.2}; worst bright {:.4}", pulls.len(), worst_bright);
    assert!(worst_bright < 0.01, "bright source off by {worst_bright}");
    assert!((std - 1.0).abs() < 0.1, "pull std {std}");
    assert!(mean.abs() < 0.2, "pull mean {mean}");
    assert!(std_white > 2.0, "white-noise pulls std {std_white}");
}

/// Two sources 0.8 beam apart are fitted together, both fluxes come back within their errors.
#[test]
fn close_pair_is_fitted_jointly() {
    let n = 256;
    let w = wcs(n);
    let (ra0, dec0) = w.pixel_to_world(128.3, 127.6).unwrap();
    let (ra1, dec1) = w.pixel_to_world(128.3 + 2.9, 127.6 + 3.3).unwrap(); // 4.4 px ≈ 0.78 BMAJ
    let src = vec![
        TrueSource {
            name: "A".into(),
            ra_deg: ra0,
            dec_deg: dec0,
            flux_jy: 0.100,
        },
        TrueSource {
            name: "B".into(),
            ra_deg: ra1,
            dec_deg: dec1,
            flux_jy: 0.050,
        },
        TrueSource {
            name: "C".into(),
            ra_deg: w.pixel_to_world(60.0, 60.0).unwrap().0,
            dec_deg: w.pixel_to_world(60.0, 60.0).unwrap().1,
            flux_jy: 0.02,
        },
    ];
    let img = make_image(n, n, w, test_beam(), &src, 1e-3, 0.0, 7);
    let m = forced_photometry(
        "pair",
        &img,
        None,
        &catalog_of(&src),
        &ForcedOptions::default(),
    )
    .unwrap();
    for (s, r) in src.iter().zip(&m) {
        let pull = (r.flux_jy - s.flux_jy) / r.flux_err_jy;
        assert!(
            pull.abs() < 4.0,
            "{}: {} vs {} ± {}",
            r.name,
            r.flux_jy,
            s.flux_jy,
            r.flux_err_jy
        );
    }
    assert!(m[0].flags.contains(Flags::BLENDED) && m[1].flags.contains(Flags::BLENDED));
    assert_eq!((m[0].n_group, m[1].n_group, m[2].n_group), (2, 2, 1));
    assert!(!m[2].flags.contains(Flags::BLENDED));
    // Without the joint fit, B would soak up A's wings.
    let apart = ForcedOptions {
        blend_radius_fwhm: 0.1,
        ..ForcedOptions::default()
    };
    let m1 = forced_photometry("pair", &img, None, &catalog_of(&src), &apart).unwrap();
    assert_eq!(m1[1].n_group, 1);
    assert!(
        (m1[1].flux_jy - 0.05) / m1[1].flux_err_jy > 10.0,
        "separate fit {}",
        m1[1].flux_jy
    );
}

/// Constant background and noise are recovered by the sliding-box maps.
#[test]
fn background_and_noise_maps() {
    let n = 512;
    let w = wcs(n);
    let img = make_image(n, n, w, test_beam(), &[], 2e-3, 5e-3, 11);
    let o = BkgOptions::for_beam(17.0 / 3.0);
    let m = background_maps(&img.data, n, n, &o).unwrap();
    let bk: Vec<f64> = m.bkg.iter().map(|&v| f64::from(v)).collect();
    let rm: Vec<f64> = m.rms.iter().map(|&v| f64::from(v)).collect();
    let (bmean, _) = mean_std(&bk);
    let (rmean, rstd) = mean_std(&rm);
    assert!((bmean - 5e-3).abs() < 0.2 * 2e-3, "background {bmean}");
    assert!((rmean / 2e-3 - 1.0).abs() < 0.05, "rms {rmean}");
    assert!(rstd / rmean < 0.1, "rms map scatter {rstd}");
    let e = background_maps(&img.data, n, n, &BkgOptions { step_px: 0, ..o }).unwrap_err();
    assert!(matches!(e, PhotError::BadOption { .. }));
}

/// Bad input: no beam → error; NaNs, off-image, edge and low-PB sources → flags, never a
/// panic or a silent flux.
#[test]
fn bad_input_gives_errors_or_flags() {
    let n = 256;
    let w = wcs(n);
    let px = |x: f64, y: f64| w.pixel_to_world(x, y).unwrap();
    let mk = |name: &str, (ra, dec): (f64, f64), f: f64| TrueSource {
        name: name.into(),
        ra_deg: ra,
        dec_deg: dec,
        flux_jy: f,
    };
    let src = vec![
        mk("ok", px(100.0, 100.0), 0.1),
        mk("nan_core", px(180.0, 180.0), 0.1),
        mk("nan_wing", px(60.0, 200.0), 0.1),
        mk("edge", px(2.0, 128.0), 0.1),
        mk("off", px(-40.0, 128.0), 0.1),
        mk("far", (330.0, -40.0), 0.1),
        mk("low_pb", px(200.0, 40.0), 0.1),
    ];
    let mut img = make_image(n, n, w, test_beam(), &src, 1e-3, 0.0, 3);
    for y in 170..191 {
        for x in 170..191 {
            img.data[y * n + x] = f32::NAN;
        }
    }
    for y in 196..206 {
        for x in 64..70 {
            img.data[y * n + x] = f32::NAN;
        }
    }
    // Primary beam: 1 at the centre falling to 0.1 at the right edge.
    let mut pb = img.clone();
    for y in 0..n {
        for x in 0..n {
            pb.data[y * n + x] = if x < 128 {
                1.0
            } else {
                1.0 - 0.9 * (x - 128) as f32 / 127.0
            };
        }
    }
    pb.meta.beam = None;
    let cat = catalog_of(&src);
    let m =
        forced_photometry("bad.fits", &img, Some(&pb), &cat, &ForcedOptions::default()).unwrap();
    let by = |name: &str| m.iter().find(|r| r.name == name).unwrap();
    assert!(by("ok").flags.is_empty(), "{}", by("ok").flags.names());
    assert!((by("ok").flux_jy / 0.1 - 1.0).abs() < 0.05);
    assert_eq!(by("ok").pb, Some(1.0));
    let r = by("nan_core");
    assert!(
        r.flags.contains(Flags::NON_FINITE)
            && r.flags.contains(Flags::FIT_FAILED)
            && r.flux_jy.is_nan()
    );
    let r = by("nan_wing");
    assert!(
        r.flags.contains(Flags::NON_FINITE) && !r.flags.contains(Flags::FIT_FAILED),
        "{}",
        r.flags.names()
    );
    assert!(((r.flux_jy - 0.1) / r.flux_err_jy).abs() < 4.0);
    assert!(by("edge").flags.contains(Flags::EDGE));
    for name in ["off", "far"] {
        let r = by(name);
        assert!(
            r.flags.contains(Flags::OFF_IMAGE) && r.flux_jy.is_nan() && r.n_group == 0,
            "{name}"
        );
    }
    let r = by("low_pb");
    let want_pb = 1.0 - 0.9 * (200.0 - 128.0) / 127.0;
    assert!(
        (r.pb.unwrap() - want_pb).abs() < 1e-3
            && r.flags.contains(Flags::LOW_PB) == (want_pb < 0.2)
    );
    let strict = ForcedOptions {
        min_pb: 0.6,
        ..ForcedOptions::default()
    };
    let m2 = forced_photometry("bad.fits", &img, Some(&pb), &cat, &strict).unwrap();
    assert!(m2[6].flags.contains(Flags::LOW_PB) && !m2[0].flags.contains(Flags::LOW_PB));

    // All-NaN image: flagged, no panic.
    let mut blank = img.clone();
    blank.data.iter_mut().for_each(|v| *v = f32::NAN);
    let m = forced_photometry("blank.fits", &blank, None, &cat, &ForcedOptions::default()).unwrap();
    assert!(m.iter().all(|r| r.flux_jy.is_nan() && !r.flags.is_empty()));

    // No beam: a clear error naming the image.
    let mut nob: FitsImage = img.clone();
    nob.meta.beam = None;
    let e =
        forced_photometry("nobeam.fits", &nob, None, &cat, &ForcedOptions::default()).unwrap_err();
    assert!(
        matches!(e, PhotError::NoBeam { .. }) && e.to_string().contains("nobeam.fits"),
        "{e}"
    );

    // Through files: the same, and a missing file names its path.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nobeam-image.fits");
    dsa110_fits::write_image(&p, &nob).unwrap();
    let e = forced_photometry_files(&p, None, &cat, &ForcedOptions::default()).unwrap_err();
    assert!(
        matches!(e, PhotError::NoBeam { .. }) && e.to_string().contains("nobeam-image.fits"),
        "{e}"
    );
    let e = forced_photometry_files(
        &dir.path().join("missing.fits"),
        None,
        &cat,
        &ForcedOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing.fits"), "{e}");
}
