//! What the science subcommands (`flag`, `calibrate`, `image`, `photometry`,
//! `lightcurve`, `mosaic`) share: the exit-status convention, printing, and
//! small checks on input paths made before a library opens them (so that a
//! missing file is reported as such, not as a casacore or cfitsio message).
//!
//! Exit status of every science subcommand: 0 done; 1 done, but the check it
//! makes failed (e.g. calibration QA); 2 it could not be done: bad arguments,
//! an unknown item, a missing or unreadable file, a library error. clap's own
//! usage errors also exit with 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use dsa110_calibration::msio::ms_writer::MsTable;

/// How a subcommand that ran to the end came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything as it should be (exit 0).
    Ok,
    /// The work was done but its check failed (exit 1).
    CheckFailed,
}

/// Map a subcommand's result to its exit status; errors print their whole
/// chain (`{:#}`) and exit with 2.
pub fn exit(result: Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(2)
        }
    }
}

/// Print a JSON document on stdout (pretty, one document per run).
#[allow(clippy::print_stdout)]
pub fn print_json(v: &serde_json::Value) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(_) => println!("{v}"),
    }
}

/// Print text on stdout as it is.
#[allow(clippy::print_stdout)]
pub fn print_text(s: &str) {
    print!("{s}");
}

/// Refuse a path that is not an existing Measurement Set directory.
pub fn require_ms(path: &Path) -> Result<()> {
    if !path.exists() {
        bail!(
            "no Measurement Set at {}: no such file or directory",
            path.display()
        );
    }
    if !path.is_dir() || !path.join("table.dat").is_file() {
        bail!(
            "{} is not a Measurement Set (a casacore table directory with table.dat)",
            path.display()
        );
    }
    Ok(())
}

/// Refuse a path that is not an existing regular file; `what` names its role.
pub fn require_file(path: &Path, what: &str) -> Result<()> {
    if !path.exists() {
        bail!("no {what} at {}: no such file", path.display());
    }
    if !path.is_file() {
        bail!("{what} {} is not a regular file", path.display());
    }
    Ok(())
}

/// The names of the MS's ANTENNA rows (row k = antenna number k).
pub fn antenna_names(ms: &Path) -> Result<Vec<String>> {
    let t = MsTable::open(ms)
        .with_context(|| format!("cannot open Measurement Set {}", ms.display()))?;
    Ok(t.meta().antennas.iter().map(|a| a.name.clone()).collect())
}

/// The MS's spectral window names (`sb15`, …), in window order.
pub fn spw_names(ms: &Path) -> Result<Vec<String>> {
    let t = MsTable::open(ms)
        .with_context(|| format!("cannot open Measurement Set {}", ms.display()))?;
    Ok(t.meta().spws.iter().map(|s| s.name.clone()).collect())
}

/// The stem of an MS path: `/x/2025-10-02T00:12:00.ms` → `2025-10-02T00:12:00`.
pub fn ms_stem(ms: &Path) -> Result<String> {
    let name = ms
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .with_context(|| format!("cannot take a file name from {}", ms.display()))?;
    Ok(name
        .strip_suffix(".ms")
        .or_else(|| name.strip_suffix(".MS"))
        .unwrap_or(&name)
        .to_string())
}

/// A path as a JSON string.
pub fn path_json(p: &Path) -> serde_json::Value {
    serde_json::Value::String(p.display().to_string())
}

/// A finite number as JSON, else `null`.
pub fn num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::Value::Null
    }
}

/// `path` with `suffix` appended to its last component.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ms_stems() {
        assert_eq!(
            ms_stem(Path::new("/d/2025-10-02T00:12:00.ms")).unwrap(),
            "2025-10-02T00:12:00"
        );
        assert_eq!(ms_stem(Path::new("x.MS/")).unwrap(), "x");
        assert_eq!(ms_stem(Path::new("plain")).unwrap(), "plain");
        assert!(ms_stem(Path::new("/")).is_err());
    }

    #[test]
    fn missing_paths_are_named() {
        let e = require_ms(Path::new("/nonexistent/a.ms")).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/a.ms"), "{e:#}");
        let e = require_file(Path::new("/nonexistent/c.csv"), "catalogue").unwrap_err();
        assert!(format!("{e:#}").contains("no catalogue at /nonexistent/c.csv"));
    }
}
