//! `dsa110-tools validate-group GROUP_ID --queue-db DB` on a good group, a
//! group with a truncated file, and wrong arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dsa110_astro::ObsTime;
use dsa110_queue::{GroupId, Queue, RegisterOutcome, SubbandIdx};
use dsa110_sim::{simulate_group, Scale, SimConfig};
use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tiny simulated group starting at `iso`, registered in `db`; its files
/// (sorted by subband) and the queue's group id.
fn registered_group(dir: &Path, db: &Path, iso: &str, seed: u64) -> (GroupId, Vec<PathBuf>) {
    let mut cfg = SimConfig::for_scale(Scale::Tiny, dir);
    cfg.start = ObsTime::from_iso(iso).unwrap();
    cfg.seed = seed;
    let summary = simulate_group(&cfg).unwrap();
    let queue = Queue::open(db).unwrap();
    let mut group = None;
    let mut files: Vec<(u8, PathBuf)> = Vec::new();
    for path in &summary.files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let parsed = dsa110_hdf5_ingest::parse_subband_filename(&name).unwrap();
        let outcome = queue
            .register_file(
                path,
                SubbandIdx::new(parsed.subband).unwrap(),
                parsed.obs_unix_s,
                16,
                parsed.obs_unix_s + 60.0,
            )
            .unwrap();
        match outcome {
            RegisterOutcome::Added { group_id, .. } => group = Some(group_id),
            other => panic!("{name} not added: {other:?}"),
        }
        files.push((parsed.subband, path.clone()));
    }
    files.sort();
    assert_eq!(files.len(), 16);
    (group.unwrap(), files.into_iter().map(|(_, p)| p).collect())
}

fn validate_group(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsa110-tools"))
        .arg("validate-group")
        .args(args)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn good_group_lists_16_valid_files_and_exits_0() {
    let dir = scratch("vg-good");
    let db = dir.join("pipeline.sqlite3");
    let (gid, files) = registered_group(&dir.join("in"), &db, "2025-10-02T00:12:00", 1);
    let out = validate_group(&[gid.as_str().as_ref(), "--queue-db".as_ref(), db.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!(
            "group {gid} (pending): 16 valid, 0 invalid, 0 missing"
        )),
        "{stdout}"
    );
    for (sb, f) in files.iter().enumerate() {
        let line = format!("valid    sb{sb:02}  {}", f.display());
        assert!(stdout.contains(&line), "no {line:?} in\n{stdout}");
    }
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("valid ")).count(),
        16
    );
}

#[test]
fn truncated_file_is_named_and_exit_status_is_nonzero() {
    let dir = scratch("vg-truncated");
    let db = dir.join("pipeline.sqlite3");
    let (gid, files) = registered_group(&dir.join("in"), &db, "2025-10-02T00:17:09", 2);
    let bad = &files[5];
    let len = std::fs::metadata(bad).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(bad).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);

    let out = validate_group(&[gid.as_str().as_ref(), "--queue-db".as_ref(), db.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("15 valid, 1 invalid"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("INVALID"))
        .unwrap_or_else(|| panic!("no INVALID line in\n{stdout}"));
    assert!(
        line.starts_with(&format!("INVALID  sb05  {}: ", bad.display())),
        "{line}"
    );
    assert!(line.to_lowercase().contains("truncated"), "{line}");
    // the HDF5 layer's chain, each cause once: the file, libhdf5's own message, its cause
    let bad_name = bad.file_name().unwrap().to_str().unwrap();
    for needle in [
        bad_name,
        "H5Fopen(): unable to open file",
        "H5F__super_read(): truncated file",
    ] {
        assert_eq!(
            line.matches(needle).count(),
            1,
            "{needle:?} once in {line:?}"
        );
    }

    // the same as JSON, validated in this process instead of children
    let out = validate_group(&[
        gid.as_str().as_ref(),
        "--queue-db".as_ref(),
        db.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "--in-process".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["n_valid"].as_u64(), v["n_invalid"].as_u64()),
        (Some(15), Some(1))
    );
    let invalid: Vec<&Value> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["valid"] == false)
        .collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["subband"], 5);
    assert_eq!(invalid[0]["path"], bad.display().to_string());
    assert!(invalid[0]["reason"].as_str().unwrap().contains("truncated"));
}

#[test]
fn unknown_group_bad_id_and_missing_database_are_usage_errors() {
    let dir = scratch("vg-usage");
    let db = dir.join("pipeline.sqlite3");
    Queue::open(&db).unwrap();
    let out = validate_group(&[
        "2025-01-01T00:00:00".as_ref(),
        "--queue-db".as_ref(),
        db.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown group 2025-01-01T00:00:00"), "{err}");
    assert!(out.stdout.is_empty());

    let out = validate_group(&["yesterday".as_ref(), "--queue-db".as_ref(), db.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a group id"),
        "{}",
        text(&out.stderr)
    );

    let missing = dir.join("absent.sqlite3");
    let out = validate_group(&[
        "2025-01-01T00:00:00".as_ref(),
        "--queue-db".as_ref(),
        missing.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no queue database"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists(), "the check must not create a database");

    let out = validate_group(&["2025-01-01T00:00:00".as_ref()]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}
