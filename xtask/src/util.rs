//! Small process helpers for the xtask.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The workspace root (the xtask's parent directory).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// The cargo that runs us.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// A command whose working directory is the workspace root.
pub fn cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.current_dir(workspace_root());
    c
}

/// Run a command to completion; a non-zero exit is an error naming it.
pub fn run(c: &mut Command) -> Result<()> {
    let desc = format!("{c:?}");
    let status = c.status().with_context(|| format!("cannot start {desc}"))?;
    if !status.success() {
        bail!("{desc} failed with {status}");
    }
    Ok(())
}

/// Run a command and capture its stdout.
pub fn output(c: &mut Command) -> Result<String> {
    let desc = format!("{c:?}");
    let out = c.output().with_context(|| format!("cannot start {desc}"))?;
    if !out.status.success() {
        bail!(
            "{desc} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Bytes free for an unprivileged writer on the filesystem holding `path` (`df`).
pub fn free_bytes(path: &Path) -> Result<u64> {
    let free = output(Command::new("df").args(["--output=avail", "-B1"]).arg(path))?;
    free.lines()
        .nth(1)
        .and_then(|x| x.trim().parse().ok())
        .with_context(|| format!("df's output for {}: {free:?}", path.display()))
}

/// Announce a step (xtask output goes to stderr, like cargo's).
#[allow(clippy::print_stderr)]
pub fn step(msg: &str) {
    eprintln!("==> {msg}");
}

/// Build a workspace binary (dev profile, the project's single profile) and return its path.
pub fn build_bin(package: &str, bin: &str) -> Result<PathBuf> {
    run(cmd(cargo()).args(["build", "--quiet", "--package", package, "--bin", bin]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join("debug").join(bin))
}

/// The first entry of `dir` whose path ends with `suffix`.
pub fn find_with_suffix(dir: &Path, suffix: &str) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .with_context(|| format!("no *{suffix} in {}", dir.display()))
}
