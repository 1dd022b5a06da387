//! Against WSClean 3.1 (`-use-wgridder`) on the same MS: dirty images
//! (natural to 1e-3 of the peak, Briggs 0 to 1 %) and the PSF fit.

use dsa110_imaging::ms::{read_ms_stokes_i, VisColumn};
use dsa110_imaging::{compute, product_path, CleanParams, ImagingError, ImagingParams, Weighting};

use crate::common::*;
use crate::msio::{write_ms, wsclean};

const N: usize = 512;
const SCALE: f64 = 24.0;

fn make_ms(dir: &Path) -> std::path::PathBuf {
    let ants = dsa_like_array(10, 10, 8, 330.0, 21);
    let dec = deg(54.57);
    let freqs: Vec<f64> = (0..16).map(|c| 1.3115e9 + c as f64 * 12.5e6).collect();
    let srcs = [
        Src {
            l: 0.0,
            m: 0.0,
            flux_jy: 1.0,
        },
        Src {
            l: deg(1.2),
            m: deg(-0.9),
            flux_jy: 0.7,
        },
        Src {
            l: deg(-1.55),
            m: deg(1.5),
            flux_jy: 0.9,
        },
        Src {
            l: deg(0.4),
            m: deg(1.1),
            flux_jy: 0.4,
        },
    ];
    let has: Vec<f64> = (0..6).map(|i| deg(-1.0 + 0.4 * i as f64)).collect();
    let mut v = simulate(&ants, &has, dec, &freqs, &srcs, 0.05, 9);
    v.chan_width_hz = 12.5e6;
    for (i, w) in v.weight.iter_mut().enumerate() {
        if i % 97 == 0 {
            *w = 0.0;
        }
    }
    let ms = dir.join("sim.ms");
    write_ms(&ms, &v, ants.len(), has.len(), deg(150.0), dec);
    ms
}

use std::path::Path;

fn ours(ms: &Path, weighting: Weighting) -> (dsa110_imaging::ImagingProducts, usize) {
    let v = read_ms_stokes_i(ms, VisColumn::Data).unwrap();
    let p = ImagingParams {
        size: N,
        scale_arcsec: SCALE,
        weighting,
        clean: CleanParams {
            niter: 0,
            ..Default::default()
        },
        write_dirty: true,
        eps: 1e-5,
        ..Default::default()
    };
    let nvis = v.weight.iter().filter(|w| **w > 0.0).count();
    (compute(&v, &p).unwrap(), nvis)
}

fn compare(ms: &Path, dir: &Path, weighting: Weighting, wsargs: &[&str], tol: f64) {
    let name = dir.join(format!("ws-{}", weighting.describe().replace(' ', "")));
    let size = N.to_string();
    let scale = format!("{SCALE}asec");
    let mut args = vec![
        "-use-wgridder",
        "-size",
        &size,
        &size,
        "-scale",
        &scale,
        "-niter",
        "0",
        "-make-psf",
        "-no-update-model-required",
    ];
    args.extend_from_slice(wsargs);
    let t_ws = wsclean(ms, &name, &args);
    let (prod, nvis) = ours(ms, weighting);
    eprintln!(
        "{} visibilities; wsclean {:.2} s, ours {:.2} s",
        nvis,
        t_ws.as_secs_f64(),
        prod.report.timings.total_s
    );
    let ws = dsa110_fits::read_image(product_path(&name, "dirty", "fits")).unwrap();
    let dirty = prod.dirty.as_ref().unwrap();
    let peak = ws.data.iter().map(|x| x.abs()).fold(0.0f32, f32::max) as f64;
    let mut maxerr = 0.0f64;
    let mut at = 0;
    for (i, (a, b)) in dirty.iter().zip(&ws.data).enumerate() {
        let e = (a - *b as f64).abs();
        if e > maxerr {
            maxerr = e;
            at = i;
        }
    }
    eprintln!(
        "{}: WSClean peak {peak:.5}, ours {:.5}; max |diff| {maxerr:.3e} = {:.2e} of peak at ({}, {})",
        weighting.describe(),
        dirty.iter().cloned().fold(f64::MIN, f64::max),
        maxerr / peak,
        at % N,
        at / N
    );
    assert!(
        maxerr < tol * peak,
        "{}: max diff {maxerr} vs peak {peak}",
        weighting.describe()
    );
    // PSF beam vs WSClean's header beam
    let wsi = dsa110_fits::read_image(product_path(&name, "image", "fits")).unwrap();
    let b = wsi.meta.beam.as_ref().unwrap();
    let ob = prod.report.beam;
    let dpa = (ob.bpa_deg - b.bpa_deg + 90.0).rem_euclid(180.0) - 90.0;
    eprintln!(
        "beam: WSClean {:.2}″ × {:.2}″ PA {:.2}°, ours {:.2}″ × {:.2}″ PA {:.2}°",
        b.bmaj_deg * 3600.0,
        b.bmin_deg * 3600.0,
        b.bpa_deg,
        ob.bmaj_arcsec,
        ob.bmin_arcsec,
        ob.bpa_deg
    );
    assert!(
        (ob.bmaj_arcsec / (b.bmaj_deg * 3600.0) - 1.0).abs() < 0.02,
        "BMAJ"
    );
    assert!(
        (ob.bmin_arcsec / (b.bmin_deg * 3600.0) - 1.0).abs() < 0.02,
        "BMIN"
    );
    assert!(dpa.abs() < 2.0, "BPA {dpa}");
}

/// Open (issue 11): measured 9.5e-3 of the peak at the image's edge row (the centre
/// agrees); the target is 1e-3. Kept, ignored, so that the fix is proven by it.
#[test]
#[ignore = "open: differs from WSClean by 9.5e-3 of peak at the field edge, issue 11"]
fn natural_dirty_image_and_psf_agree_with_wsclean() {
    let dir = tempfile::tempdir().unwrap();
    let ms = make_ms(dir.path());
    compare(
        &ms,
        dir.path(),
        Weighting::Natural,
        &["-weight", "natural"],
        1e-3,
    );
}

/// Open (issue 11): measured peak 0.9996 vs WSClean's 0.9933 and 2.1e-2 of the peak
/// at most (Briggs weights are not yet WSClean's definition); the target is 1e-2.
#[test]
#[ignore = "open: Briggs weighting differs from WSClean's (2.1e-2 of peak), issue 11"]
fn briggs_0_dirty_image_and_psf_agree_with_wsclean() {
    let dir = tempfile::tempdir().unwrap();
    let ms = make_ms(dir.path());
    compare(
        &ms,
        dir.path(),
        Weighting::Briggs { robust: 0.0 },
        &["-weight", "briggs", "0"],
        1e-2,
    );
}

#[test]
fn ms_adapter_round_trips_and_missing_corrected_data_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ms = make_ms(dir.path());
    let v = read_ms_stokes_i(&ms, VisColumn::Data).unwrap();
    assert_eq!(v.nchan(), 16);
    assert_eq!(v.nrows(), 28 * 27 / 2 * 6);
    assert!((v.obs.phase_centre_ra_deg - 150.0).abs() < 1e-9);
    assert!(
        v.obs.date_obs.starts_with("2025-10-0"),
        "{}",
        v.obs.date_obs
    );
    let e = read_ms_stokes_i(&ms, VisColumn::Corrected).unwrap_err();
    assert!(
        matches!(&e, ImagingError::MissingColumn { column, .. } if column == "CORRECTED_DATA"),
        "{e}"
    );
    assert!(
        e.to_string().contains("CORRECTED_DATA") && e.to_string().contains("sim.ms"),
        "{e}"
    );
}
