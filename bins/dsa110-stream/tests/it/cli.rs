//! Options: bad values exit non-zero naming the option (the science stages' options and
//! catalogues included, checked before anything starts); the hidden validator mode gives
//! verdicts.

use std::process::{Command, Output};

use dsa110_sim::Scale;

use crate::common::*;

fn run(dirs: &Dirs, args: &[&str]) -> Output {
    Command::new(EXE)
        .current_dir(dirs.root())
        .args(args)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .output()
        .unwrap()
}

fn check_rejected(args: &[&str], needles: &[&str]) {
    let dirs = Dirs::new();
    let input = dirs.input();
    let output = dirs.output();
    let mut full = vec![
        "--input-dir",
        input.to_str().unwrap(),
        "--output-dir",
        output.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    let out = run(&dirs, &full);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: {n:?} not in:\n{stderr}");
    }
    // Nothing was started: no database, no log file.
    assert!(!dirs.db().exists() && !dirs.root().join("state").exists());
}

#[test]
fn science_options_are_checked_before_anything_starts() {
    // photometry measures the images
    check_rejected(
        &["--enable-photometry", "--no-imaging"],
        &["--enable-photometry", "--no-imaging"],
    );
    // catalogues: a missing file and a bad row are named
    check_rejected(
        &["--calibrator-catalog", "/nonexistent/cals.csv"],
        &["--calibrator-catalog", "/nonexistent/cals.csv"],
    );
    let dir = tempfile::tempdir().unwrap();
    let cals = dir.path().join("cals.csv");
    std::fs::write(
        &cals,
        "name,ra_deg,dec_deg,flux_jy,spectral_index\n3C286,202.78,30.51,14.6,-0.5\nBAD,abc,30,1,0\n",
    )
    .unwrap();
    check_rejected(
        &["--calibrator-catalog", cals.to_str().unwrap()],
        &["--calibrator-catalog", "cals.csv", "3", "ra_deg"],
    );
    let field = dir.path().join("field.csv");
    std::fs::write(
        &field,
        "name,ra_deg,dec_deg,flux_mjy\nA,10,20,5\nB,11,95,5\n",
    )
    .unwrap();
    check_rejected(
        &[
            "--enable-photometry",
            "--photometry-catalog",
            field.to_str().unwrap(),
        ],
        &["--photometry-catalog", "field.csv", "dec_deg"],
    );
    check_rejected(
        &["--image-weight", "briggs 9"],
        &["--image-weight", "briggs 9"],
    );
    check_rejected(&["--image-size", "7"], &["--image-size"]);
    check_rejected(&["--cal-validity-hours", "0"], &["--cal-validity-hours"]);
    check_rejected(
        &[
            "--enable-photometry",
            "--mosaic-size",
            "4",
            "--mosaic-overlap",
            "4",
        ],
        &["--mosaic-overlap"],
    );
}

#[test]
fn bad_values_name_the_option() {
    check_rejected(
        &["--expected-subbands", "17"],
        &["--expected-subbands", "17"],
    );
    check_rejected(&["--min-subbands", "20"], &["--min-subbands"]);
    check_rejected(&["--health-port", "http"], &["--health-port"]);
    check_rejected(&["--chunk-duration", "0"], &["--chunk-duration"]);
    check_rejected(&["--poll-interval=-1"], &["--poll-interval"]);
    check_rejected(&["--workers", "0"], &["--workers"]);
    check_rejected(
        &["--disk-pause-gb", "2", "--disk-critical-gb", "5"],
        &["--disk-pause-gb"],
    );
    check_rejected(&["--eop", "1,2"], &["--eop"]);
    check_rejected(&["--no-such-option"], &["--no-such-option"]);
}

#[test]
fn missing_or_bad_directories_are_named() {
    let dirs = Dirs::new();
    let out = run(&dirs, &["--output-dir", "ms"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input-dir"));
    let out = run(
        &dirs,
        &["--input-dir", "/nonexistent/incoming", "--output-dir", "ms"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--input-dir") && stderr.contains("/nonexistent/incoming"),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_option_of_the_guide() {
    let dirs = Dirs::new();
    let out = run(&dirs, &["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (opt, default) in [
        ("--input-dir", None),
        ("--output-dir", None),
        ("--queue-db", Some("[default: state/db/pipeline.sqlite3]")),
        ("--expected-subbands", Some("[default: 16]")),
        ("--chunk-duration", Some("[default: 5]")),
        ("--enable-calibration-solving", None),
        ("--enable-photometry", None),
        ("--monitoring", None),
        ("--health-port", Some("[default: 9100]")),
        ("--stop-timeout", Some("[default: 300]")),
        ("--workers", Some("[default: 1]")),
    ] {
        assert!(help.contains(opt), "{opt} not in --help:\n{help}");
        if let Some(d) = default {
            // The option's entry: its line and the description lines under it.
            let lines: Vec<&str> = help.lines().collect();
            let start = lines
                .iter()
                .position(|l| l.trim_start().starts_with(&format!("{opt} ")))
                .unwrap();
            let entry: String = lines[start..]
                .iter()
                .enumerate()
                .take_while(|(i, l)| *i == 0 || !l.trim_start().starts_with('-'))
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(entry.contains(d), "{opt}: {d} not in {entry:?}");
        }
    }
    assert!(
        !help.contains("--validate-file"),
        "internal options stay hidden"
    );
}

#[test]
fn validator_mode_gives_verdicts() {
    let dirs = Dirs::new();
    let files = write_staged(&sim_config(Scale::Tiny, &dirs.staging(), 0.0, 41, &[2, 3]));
    let verdict = |path: &std::path::Path| -> serde_json::Value {
        let out = run(&dirs, &["--validate-file", path.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let good = verdict(&files[0]);
    assert_eq!(good["status"], "valid", "{good}");
    assert!(good["dec_deg"].as_f64().unwrap() > 50.0, "{good}");
    truncate_to_half(&files[1]);
    let bad = verdict(&files[1]);
    assert_eq!(bad["status"], "invalid", "{bad}");
    let name = files[1].file_name().unwrap().to_str().unwrap();
    assert!(bad["reason"].as_str().unwrap().contains(name), "{bad}");
}
