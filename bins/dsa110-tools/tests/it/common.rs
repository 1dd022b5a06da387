//! What the science-command tests share: scratch directories, running the
//! built binary, and one simulated calibrator group converted to an MS.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use dsa110_astro::{Eop, EopProvider, ObsTime, Site};
use dsa110_pipeline_core::convert::{convert_group, ConvertParams, GroupInput};
use dsa110_sim::sky::meridian_icrs_deg;
use dsa110_sim::{simulate_group, Scale, SimConfig, SourceSpec};
use serde_json::Value;

/// The test calibrator's flux (Jy, flat spectrum).
pub const CAL_FLUX_JY: f64 = 15.0;
/// Its name, in the catalogue the tests write.
pub const CAL_NAME: &str = "TESTCAL";

/// A fresh directory under the target's tmp dir.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run `dsa110-tools ARGS…`.
pub fn tools<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsa110-tools"))
        .args(args)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Stdout as JSON.
pub fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("{e}: {}\nstderr: {}", stdout(o), stderr(o)))
}

/// Copy a directory tree (an MS).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The simulated calibrator group: where its pristine MS is, and the
/// calibrator's position (ICRS deg).
#[derive(Debug, Clone)]
pub struct CalGroup {
    pub ms: PathBuf,
    pub ra_deg: f64,
    pub dec_deg: f64,
    pub catalog: PathBuf,
}

/// A tiny simulated group (10 antennas, 4 integrations, 16 × 8 channels,
/// real noise, random gains) whose only source, [`CAL_NAME`] of
/// [`CAL_FLUX_JY`], sits on the meridian at the pointing declination at the
/// group's mid-time (so it transits the beam centre), converted to an MS by
/// the pipeline's converter; built once per test binary, never modified (tests
/// copy it).
pub fn cal_group() -> &'static CalGroup {
    static G: OnceLock<CalGroup> = OnceLock::new();
    G.get_or_init(|| build_group("science-calgroup", 1.0, false))
}

/// The same group with `noise_scale` × the real noise: too noisy for
/// solutions that pass QA.
pub fn noisy_group() -> &'static CalGroup {
    static G: OnceLock<CalGroup> = OnceLock::new();
    G.get_or_init(|| build_group("science-noisygroup", 12.0, false))
}

/// The same group with the simulator's RFI (narrow-band channels at all
/// times, one-integration broadband bursts).
pub fn rfi_group() -> &'static CalGroup {
    static G: OnceLock<CalGroup> = OnceLock::new();
    G.get_or_init(|| build_group("science-rfigroup", 1.0, true))
}

fn build_group(dir_name: &str, noise_scale: f64, rfi: bool) -> CalGroup {
    {
        let dir = scratch(dir_name);
        let mut cfg = SimConfig::for_scale(Scale::Tiny, dir.join("hdf5"));
        cfg.start = ObsTime::from_iso("2025-10-02T00:12:00").unwrap();
        cfg.jitter_s = 0.0;
        cfg.seed = 11;
        cfg.noise_scale = Some(noise_scale);
        cfg.rfi = rfi;
        let t_mid = cfg
            .start
            .plus_seconds(cfg.ntimes as f64 * cfg.int_time_s() / 2.0)
            .unwrap();
        let (ra, dec) = meridian_icrs_deg(
            &t_mid,
            &Site::dsa110(),
            &Eop::default(),
            cfg.dec_deg.to_radians(),
        )
        .unwrap();
        cfg.sources = vec![SourceSpec::point(CAL_NAME, ra, dec, CAL_FLUX_JY)];
        let g = simulate_group(&cfg).unwrap();
        let files: Vec<(u8, PathBuf)> = g
            .files
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let sb = dsa110_hdf5_ingest::parse_subband_filename(&name)
                    .unwrap()
                    .subband;
                (sb, p.clone())
            })
            .collect();
        let out = dir.join("ms");
        std::fs::create_dir_all(&out).unwrap();
        let report = convert_group(
            &GroupInput {
                group_id: g.group_id.clone(),
                files,
            },
            &ConvertParams {
                output_dir: out,
                expected_subbands: 16,
                eop: Arc::new(EopProvider::Fixed(Eop::default())),
                overwrite: true,
                application: "dsa110-tools tests".into(),
                command_line: "cargo test -p dsa110-tools".into(),
            },
        )
        .unwrap();
        let catalog = dir.join("calibrators.csv");
        std::fs::write(
            &catalog,
            format!("name,ra_deg,dec_deg,flux_jy,spectral_index\n{CAL_NAME},{ra:.8},{dec:.8},{CAL_FLUX_JY},0.0\n"),
        )
        .unwrap();
        CalGroup {
            ms: report.ms_path,
            ra_deg: ra,
            dec_deg: dec,
            catalog,
        }
    }
}
