//! Integration tests of dsa110-fits: round trips, astropy cross-checks, WSClean-style input,
//! PNG previews and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod astropy;
mod roundtrip;

use std::process::Command;

use dsa110_fits::{Beam, FitsImage, ImageMeta, KeyValue, SinWcs};

pub use dsa110_test_support::python;

/// Run a Python script, return its stdout; panic with stderr on failure.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// A small test image: a ramp with a NaN, at a declination and RA near the wrap.
pub fn sample_image(nx: usize, ny: usize) -> FitsImage {
    let wcs = SinWcs {
        crval_ra_deg: 359.95,
        crval_dec_deg: 54.57,
        crpix1: nx as f64 / 2.0 + 1.0,
        crpix2: ny as f64 / 2.0 + 1.0,
        cdelt1_deg: -3.0 / 3600.0 * 40.0,
        cdelt2_deg: 3.0 / 3600.0 * 40.0,
    };
    let mut meta = ImageMeta::new(wcs);
    meta.freq_hz = 1.405e9;
    meta.bandwidth_hz = 187.5e6;
    meta.beam = Some(Beam {
        bmaj_deg: 17.0 / 3600.0,
        bmin_deg: 12.5 / 3600.0,
        bpa_deg: -33.25,
    });
    meta.date_obs = "2026-11-30T12:34:56.789".into();
    meta.object = "dsa110 group 2026-11-30T12:30:00".into();
    meta.history = vec![
        "dsa110-stream imaging test".into(),
        "a long history line that certainly exceeds the seventy-two characters of one FITS card, to be split".into(),
    ];
    meta.extra = vec![
        ("OBSERVER".into(), KeyValue::Str("pipeline".into())),
        ("NITER".into(), KeyValue::Int(1234)),
        ("THRESH".into(), KeyValue::Float(1.25e-4)),
        ("CLEANED".into(), KeyValue::Bool(true)),
    ];
    let mut data: Vec<f32> = (0..nx * ny).map(|i| (i as f32) * 0.5 - 3.0).collect();
    data[nx + 2] = f32::NAN;
    FitsImage { nx, ny, data, meta }
}
