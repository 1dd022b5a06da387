//! Integration tests of dsa110-photometry on synthetic images: point sources convolved with
//! the restoring beam plus beam-correlated Gaussian noise (white noise smoothed with a
//! Gaussian of FWHM beam/√2, so that the noise autocorrelation is the beam, as in a
//! synthesis image).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_arguments)]

mod catalog;
mod forced;
mod mosaic;
mod perf;
mod photutils;
mod sim;
mod variability;

/// Run a script with the reference Python (`$DSA110_PYTHON` or the interop venv); the
/// tests FAIL, never skip, when it is missing.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let py = std::env::var_os("DSA110_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/interop-venv/bin/python")
        });
    assert!(
        py.exists(),
        "reference python missing at {} (set DSA110_PYTHON or run cargo xtask setup)",
        py.display()
    );
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
