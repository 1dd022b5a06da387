//! `cargo xtask setup`: system packages (apt) and the Python interop venv.
//! Idempotent: checks first, installs only what is missing.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Result};

use crate::util::{self, step};

/// Debian packages: the build needs libhdf5-dev, libcfitsio-dev and
/// pkg-config; the tests use WSClean, AOFlagger, casacore-tools,
/// promtool/prometheus, sqlite3, systemd-analyze, curl (the guide's commands) and
/// headless Chromium (the dashboard test of dsa110-api).
const APT_PACKAGES: &[&str] = &[
    "pkg-config",
    "libhdf5-dev",
    "libcfitsio-dev",
    "aoflagger",
    "hdf5-tools",
    "wsclean",
    "casacore-tools",
    "prometheus",
    "sqlite3",
    "systemd",
    "curl",
    "chromium",
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
    "photutils==3.0.0",
    "six==1.17.0",
    "casatools==6.7.0.31",
    "casatasks==6.7.0.31",
    "casadata==2025.9.22",
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
        return write_casa_config();
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
    write_casa_config()?;
    Ok(())
}

/// CASA reads `~/.casa/config.py` at start: point it at the measures data
/// shipped in the venv's `casadata` and forbid any download (the machine may
/// be offline). Rewritten only when its content differs.
fn write_casa_config() -> Result<()> {
    let Some(home) = std::env::var_os("HOME") else {
        bail!("HOME is not set: cannot write ~/.casa/config.py for CASA");
    };
    let text = dsa110_test_support::casa_config(&python())
        .map_err(|e| anyhow::anyhow!("{e}: reinstall the venv"))?;
    let dir = PathBuf::from(home).join(".casa");
    let file = dir.join("config.py");
    if std::fs::read_to_string(&file).is_ok_and(|s| s == text) {
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&file, text)?;
    step(&format!("wrote {}", file.display()));
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
