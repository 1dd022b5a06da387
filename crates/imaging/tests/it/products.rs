//! `image()`: products on disk with WSClean's names and a usable header; bad input.

use dsa110_imaging::{
    image, product_path, CleanParams, ImagingError, ImagingParams, ImagingVis, Weighting,
};

use crate::common::*;

fn small_vis() -> ImagingVis {
    let ants = dsa_like_array(8, 8, 4, 300.0, 5);
    let srcs = [
        Src {
            l: 0.0,
            m: 0.0,
            flux_jy: 1.0,
        },
        Src {
            l: deg(0.3),
            m: deg(-0.2),
            flux_jy: 0.5,
        },
    ];
    let mut v = simulate(
        &ants,
        &[deg(-1.0), deg(1.0)],
        deg(54.57),
        &[1.35e9, 1.45e9],
        &srcs,
        0.01,
        3,
    );
    v.obs.phase_centre_ra_deg = -10.0; // must come out in [0, 360)
    v.obs.phase_centre_dec_deg = 54.57;
    v.obs.pointing_ra_deg = 350.0;
    v.obs.pointing_dec_deg = 54.57;
    v.obs.date_obs = "2025-10-05T12:00:00.000".into();
    v.obs.object = "test".into();
    v.chan_width_hz = 244_140.625;
    v
}

fn params() -> ImagingParams {
    ImagingParams {
        size: 128,
        scale_arcsec: 30.0,
        weighting: Weighting::Briggs { robust: 0.0 },
        clean: CleanParams {
            niter: 500,
            ..Default::default()
        },
        write_dirty: true,
        ..Default::default()
    }
}

#[test]
fn products_are_written_with_wsclean_names_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grp");
    let mut v = small_vis();
    let rep = image(&mut v, &params(), &out).unwrap();
    let json = serde_json::to_string(&rep).unwrap();
    assert!(
        json.contains("\"rms_jy\"") && json.contains("\"bmaj_arcsec\""),
        "{json}"
    );
    for kind in [
        "image", "residual", "model", "psf", "dirty", "pb", "image-pb",
    ] {
        let p = product_path(&out, kind, "fits");
        assert!(p.exists(), "{} missing", p.display());
        let img = dsa110_fits::read_image(&p).unwrap();
        assert_eq!((img.nx, img.ny), (128, 128));
        assert!(
            (img.meta.wcs.crval_ra_deg - 350.0).abs() < 1e-9,
            "CRVAL1 {}",
            img.meta.wcs.crval_ra_deg
        );
        assert!((img.meta.wcs.crpix1 - 65.0).abs() < 1e-9);
        assert!((img.meta.freq_hz - 1.4e9).abs() < 1.0);
        assert!(img.meta.bandwidth_hz > 1e8);
        assert_eq!(img.meta.date_obs, "2025-10-05T12:00:00.000");
        assert!(
            img.meta
                .history
                .iter()
                .any(|h| h.contains("weight briggs 0")),
            "{:?}",
            img.meta.history
        );
        if kind != "pb" {
            let b = img.meta.beam.as_ref().unwrap();
            assert!((b.bmaj_deg * 3600.0 - rep.beam.bmaj_arcsec).abs() < 1e-3);
        }
    }
    assert!(product_path(&out, "image", "png").exists());
    // the restored image peaks at the 1 Jy source
    let img = dsa110_fits::read_image(product_path(&out, "image", "fits")).unwrap();
    let c = img.get(64, 64).unwrap();
    assert!((c - 1.0).abs() < 0.05, "centre {c}");
    // no temporary files left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
}

#[test]
fn all_flagged_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = small_vis();
    v.weight.iter_mut().for_each(|w| *w = 0.0);
    let e = image(&mut v, &params(), &dir.path().join("x")).unwrap_err();
    assert!(matches!(e, ImagingError::AllFlagged { .. }), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn image_too_large_for_memory_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = small_vis();
    let p = ImagingParams {
        size: 200_000,
        scale_arcsec: 0.5,
        ..params()
    };
    let e = image(&mut v, &p, &dir.path().join("x")).unwrap_err();
    assert!(
        matches!(e, ImagingError::TooLarge { npix: 200_000, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("200000"), "{e}");
}

#[test]
fn non_writable_output_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no-such-dir").join("x");
    let e = image(&mut small_vis(), &params(), &out).unwrap_err();
    assert!(
        matches!(&e, ImagingError::Write { path, .. } if path == &out),
        "{e}"
    );
    assert!(!dir.path().join("no-such-dir").exists());
}
