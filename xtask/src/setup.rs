//! `cargo xtask setup`: system packages (apt) and the Python interop venv.
//! Idempotent: checks first, installs only what is missing.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Result};

use crate::util::{self, step};

/// Debian packages: the build needs libhdf5-dev and pkg-config; the tests use
/// WSClean, casacore-tools, promtool/prometheus, sqlite3 and systemd-analyze.
const APT_PACKAGES: &[&str] = &[
    "pkg-config",
    "libhdf5-dev",
    "hdf5-tools",
    "wsclean",
    "casacore-tools",
    "prometheus",
    "sqlite3",
    "systemd",
];

/// PyPI packages of the interop venv (the independent reference tools), pinned.
const PIP_PACKAGES: &[&str] = &[
    "numpy==2.3.5",
    "h5py==3.16.0",
    "astropy==8.0.2",
    "pyerfa==2.0.1.5",
    "pyuvdata==3.2.8",
    "python-casacore==3.8.1",
    "prometheus-client==0.26.0",
];

/// The venv's interpreter.
pub fn python() -> PathBuf {
    venv_dir().join("bin").join("python")
}

fn venv_dir() -> PathBuf {
    util::workspace_root().join("target").join("interop-venv")
}

fn missing_apt() -> Vec<&'static str> {
    APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output();
            !matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect()
}

fn venv_stamp() -> PathBuf {
    venv_dir().join(".dsa110-requirements")
}

fn venv_ok() -> bool {
    python().exists()
        && std::fs::read_to_string(venv_stamp()).is_ok_and(|s| s == PIP_PACKAGES.join("\n"))
}

/// Install whatever is missing, quietly when nothing is.
pub fn ensure() -> Result<()> {
    if missing_apt().is_empty() && venv_ok() {
        return Ok(());
    }
    run()
}

/// Install (or check) everything.
pub fn run() -> Result<()> {
    let missing = missing_apt();
    if missing.is_empty() {
        step("system packages: all present");
    } else {
        step(&format!(
            "installing Debian packages: {}",
            missing.join(" ")
        ));
        let sudo = !is_root();
        let apt = |args: &[&str]| {
            let mut c = if sudo {
                Command::new("sudo")
            } else {
                Command::new("apt-get")
            };
            if sudo {
                c.arg("apt-get");
            }
            c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            c
        };
        util::run(&mut apt(&["update", "-qq"]))?;
        let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
        install.args(&missing);
        util::run(&mut install)?;
        let still = missing_apt();
        if !still.is_empty() {
            bail!("apt-get could not install: {}", still.join(" "));
        }
    }
    if venv_ok() {
        step("python interop venv: up to date");
    } else {
        step(&format!(
            "creating the python interop venv in {}",
            venv_dir().display()
        ));
        let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        util::run(Command::new(&py).args(["-m", "venv"]).arg(venv_dir()))?;
        util::run(
            Command::new(python())
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(PIP_PACKAGES),
        )?;
        std::fs::write(venv_stamp(), PIP_PACKAGES.join("\n"))?;
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
