use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dsa110_astro::ObsTime;
use dsa110_sim::{simulate_group, GroupSummary, Scale, SimConfig};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub use dsa110_test_support::python;

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// Run a python script; panic with its output when it fails.
pub fn run_py(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let mut c = Command::new(python());
    for a in args {
        c.arg(a);
    }
    let out = c
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .output()
        .expect("start python");
    assert!(
        out.status.success(),
        "python {:?} failed:\n{}\n{}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn converter() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dsa110-legacy-convert"));
    c.env("HDF5_USE_FILE_LOCKING", "FALSE")
        .env("RUST_LOG", "info");
    c
}

/// `--input-dir IN --output-dir OUT --queue-db DB --once --settle 0` plus extras.
pub fn convert_once(input: &Path, output: &Path, db: &Path, extra: &[&str]) -> Output {
    converter()
        .arg("--input-dir")
        .arg(input)
        .arg("--output-dir")
        .arg(output)
        .arg("--queue-db")
        .arg(db)
        .args(["--once", "--settle", "0"])
        .args(extra)
        .output()
        .expect("start dsa110-legacy-convert")
}

pub fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("start sqlite3");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A tiny group starting at `iso` with `seed`, written into `dir` (truth files beside).
pub fn tiny_group(
    dir: &Path,
    iso: &str,
    seed: u64,
    edit: impl FnOnce(&mut SimConfig),
) -> GroupSummary {
    let mut cfg = SimConfig::for_scale(Scale::Tiny, dir);
    cfg.start = ObsTime::from_iso(iso).unwrap();
    cfg.seed = seed;
    edit(&mut cfg);
    simulate_group(&cfg).unwrap()
}

/// The converter's stderr, for assertion messages.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one `*.ms` in `dir` (the group id is the earliest file's timestamp).
pub fn only_ms(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ms"))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one MS in {}: {found:?}",
        dir.display()
    );
    found[0].clone()
}
