//! Integration tests of dsa110-sim (one binary). Tests that need Python use the
//! interop venv: `$DSA110_PYTHON`, or `<workspace>/target/interop-venv/bin/python`;
//! they fail (not skip) when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod correlator;
mod determinism;
mod format;
mod science;

use std::path::Path;
use std::process::Command;

use std::sync::{RwLock, RwLockReadGuard};

use dsa110_sim::{
    simulate_group, simulate_group_like_correlator, CorrelatorMode, GroupSummary, Scale, SimConfig,
    SimError,
};
use num_complex::Complex32;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub use dsa110_test_support::python;

/// libhdf5 opens files without `O_CLOEXEC` and holds an `flock` on them: a Python
/// child forked while another test is writing a file inherits that descriptor and
/// its exclusive lock for its whole life, and readers of the file then fail with
/// "unable to lock file". Simulations hold this lock shared; forking takes it
/// exclusively (only for the fork itself).
static FORK_GUARD: RwLock<()> = RwLock::new(());

fn no_fork() -> RwLockReadGuard<'static, ()> {
    FORK_GUARD
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`simulate_group`] while no child process is being forked.
pub fn sim(cfg: &SimConfig) -> Result<GroupSummary, SimError> {
    let _guard = no_fork();
    simulate_group(cfg)
}

/// [`simulate_group_like_correlator`] while no child process is being forked.
pub fn sim_correlator(cfg: &SimConfig, mode: &CorrelatorMode) -> Result<GroupSummary, SimError> {
    let _guard = no_fork();
    simulate_group_like_correlator(cfg, mode)
}

/// Run `tests/it/py/<script>` with `args`; panic with its output on failure.
pub fn run_py(script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/py")
        .join(script);
    let child = {
        let _fork = FORK_GUARD
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Command::new(python())
            .arg(&path)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
    };
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// The tiny preset writing into `dir`.
pub fn tiny(dir: &Path) -> SimConfig {
    SimConfig::for_scale(Scale::Tiny, dir)
}

/// Read `Data/visdata` of a file.
pub fn read_vis(path: &Path) -> hdf5::Result<Vec<Complex32>> {
    hdf5::File::open(path)?
        .dataset("Data/visdata")?
        .read_raw::<Complex32>()
}
