//! Test data generated at test time by `tests/make_test_files.py`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const NAME: &str = "2025-10-05T12:00:00_sb03.hdf5";

pub use dsa110_test_support::python;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/make_test_files.py")
}

fn run(args: &[&str]) {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "make_test_files.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Fixtures {
    pub dir: PathBuf,
    pub truth: serde_json::Value,
}

impl Fixtures {
    pub fn file(&self, variant: &str) -> PathBuf {
        self.dir.join(variant).join(NAME)
    }
    pub fn broken(&self, kind: &str) -> PathBuf {
        self.dir.join("broken").join(kind).join(NAME)
    }
    /// A fresh scratch directory for one test.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let d = self.dir.join("scratch").join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

/// Generate all test files once per test binary.
pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        remove_stale_runs();
        let tmp = tempfile::Builder::new()
            .prefix("hdf5-ingest-it-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let dir = tmp.keep();
        let d = dir.to_str().unwrap();
        run(&["make", d]);
        let corr = dir.join("corr").join(NAME);
        run(&[
            "break",
            corr.to_str().unwrap(),
            dir.join("broken").to_str().unwrap(),
        ]);
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap())
                .unwrap();
        Fixtures { dir, truth }
    })
}

/// Remove fixture directories of earlier runs (older than an hour) from the target's
/// tmp directory, so repeated runs do not accumulate files.
fn remove_stale_runs() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if old
            && e.file_name()
                .to_string_lossy()
                .starts_with("hdf5-ingest-it-")
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
