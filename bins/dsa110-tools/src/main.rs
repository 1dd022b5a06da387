//! `dsa110-tools`: developer commands that `cargo xtask` drives — simulate
//! observation groups, inspect subband files, benchmark the reader, and build
//! and report the demo — and the operators' science commands on single
//! products: flag, calibrate, image, photometry, lightcurve, mosaic. Thin:
//! the work is in the library crates.

mod calibrate;
mod demo;
mod flag;
mod image;
mod lightcurve;
mod mosaic;
mod photometry;
mod plot;
mod science;
mod simulate;
mod validate_group;

/// mimalloc rather than glibc's malloc: glibc serves every block over 32 MiB
/// with its own mmap and unmaps it on free, so each imaging pass faulted its
/// grids and images (hundreds of MB each) back in page by page, zeroed by the
/// kernel. Imaging the full-scale target group of `cargo xtask bench chain`
/// (the same 7 major cycles): 4.0 M page faults → 70 000, system time 42.6 →
/// 31.4 s, CLEAN 139.8 → 135.4 s; peak RSS 3.05 → 3.44 GB (freed blocks are
/// kept for reuse). See the README's Performance section.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "dsa110-tools", version, about = "DSA-110 developer tools")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write one simulated observation group (16 subband files and a truth file).
    Simulate(simulate::SimulateArgs),
    /// Validate subband files (or every *.hdf5 in a directory) and summarise them.
    Inspect {
        /// Files or directories.
        paths: Vec<PathBuf>,
    },
    /// Read subband files completely, streaming, and report bytes, time and peak RSS (JSON).
    BenchIngest {
        /// Subband files.
        files: Vec<PathBuf>,
    },
    /// Write the demo's input: several groups the way the correlator writes them,
    /// one missing a subband and one with a corrupt file.
    DemoData(demo::DemoDataArgs),
    /// Summarise the demo's queue and products.
    DemoReport {
        /// The demo directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// List a group's files from the queue, valid and invalid with the reason
    /// (exit 1 when any is invalid, 2 for an unknown group or bad arguments).
    ValidateGroup(validate_group::ValidateGroupArgs),
    /// Validate one file and print a JSON verdict (validate-group's child process).
    #[command(name = validate_group::CHILD_SUBCOMMAND, hide = true)]
    ValidateFileChild(validate_group::ChildArgs),
    /// Flag RFI in a Measurement Set in place (FLAG) and summarise the flagged
    /// fractions (exit 2 on a missing or unreadable MS).
    Flag(flag::FlagArgs),
    /// Solve bandpass and gains on a calibrator group (--solve --out DIR) or apply
    /// calibration tables (--apply TABLE...); exit 1 when the solutions fail QA.
    Calibrate(calibrate::CalibrateArgs),
    /// Image a Measurement Set (Stokes I, CLEAN) into WSClean-named FITS products.
    Image(image::ImageArgs),
    /// Forced photometry of catalogue sources on an image (CSV or JSON).
    Photometry(photometry::PhotometryArgs),
    /// A source's light curve from the queue's photometry table (and a PNG plot).
    Lightcurve(lightcurve::LightcurveArgs),
    /// Primary-beam-weighted mosaic of images (X-image.fits with X-pb.fits beside).
    Mosaic(mosaic::MosaicArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse_from(image::join_briggs_robust(std::env::args_os().collect()));
    let result = match cli.cmd {
        Cmd::Simulate(a) => simulate::run(&a),
        Cmd::Inspect { paths } => inspect(&paths),
        Cmd::BenchIngest { files } => bench_ingest(&files),
        Cmd::DemoData(a) => demo::data(&a),
        Cmd::DemoReport { dir } => demo::report(&dir),
        Cmd::ValidateGroup(a) => return validate_group::run(&a),
        Cmd::ValidateFileChild(a) => return validate_group::run_child(&a),
        Cmd::Flag(a) => return science::exit(flag::run(&a)),
        Cmd::Calibrate(a) => return science::exit(calibrate::run(&a)),
        Cmd::Image(a) => return science::exit(image::run(&a)),
        Cmd::Photometry(a) => return science::exit(photometry::run(&a)),
        Cmd::Lightcurve(a) => return science::exit(lightcurve::run(&a)),
        Cmd::Mosaic(a) => return science::exit(mosaic::run(&a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `*.hdf5` files under the given paths (directories are listed, not recursed).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            for e in std::fs::read_dir(p).with_context(|| format!("listing {}", p.display()))? {
                let path = e?.path();
                if path.extension().is_some_and(|x| x == "hdf5") {
                    out.push(path);
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    Ok(out)
}

#[allow(clippy::print_stdout)]
fn inspect(paths: &[PathBuf]) -> Result<()> {
    let files = expand(paths)?;
    let (mut ok, mut bad) = (0, 0);
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sb = dsa110_hdf5_ingest::parse_subband_filename(&name)
            .ok()
            .map(|p| p.subband);
        match dsa110_hdf5_ingest::validate(f, sb) {
            Ok(m) => {
                ok += 1;
                println!(
                    "ok      {name}: {} integrations × {} baselines × {} channels ({:.3}–{:.3} MHz) × {} pols, {} antennas, dec {:.2}°",
                    m.ntimes,
                    m.nbls,
                    m.nfreqs,
                    m.freqs_hz.iter().copied().fold(f64::INFINITY, f64::min) / 1e6,
                    m.freqs_hz.iter().copied().fold(f64::NEG_INFINITY, f64::max) / 1e6,
                    m.npols,
                    m.nants_data,
                    m.pointing_dec_rad.map_or(f64::NAN, f64::to_degrees),
                );
            }
            Err(e) => {
                bad += 1;
                println!("INVALID {name}: {e}");
            }
        }
    }
    println!("{ok} valid, {bad} invalid");
    Ok(())
}

/// Peak resident set size of this process (bytes), from /proc.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[allow(clippy::print_stdout)]
fn bench_ingest(files: &[PathBuf]) -> Result<()> {
    let t = Instant::now();
    let mut bytes_read: u64 = 0;
    let mut rows: u64 = 0;
    for f in files {
        let (b, r) = read_streaming(f)?;
        bytes_read += b;
        rows += r;
    }
    println!(
        "{}",
        serde_json::json!({
            "files": files.len(),
            "rows": rows,
            "array_bytes": bytes_read,
            "seconds": t.elapsed().as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
        })
    );
    Ok(())
}

/// Read a file block by block (blocks sized to ~32 MB of visibilities), keeping one block.
fn read_streaming(path: &Path) -> Result<(u64, u64)> {
    let reader = dsa110_hdf5_ingest::SubbandReader::open(path)?;
    let nt = reader.meta().suggested_block_times(32 * 1024 * 1024);
    let (mut bytes, mut rows) = (0u64, 0u64);
    for block in reader.blocks(nt) {
        let b = block?;
        bytes +=
            (b.data.len() * 8 + b.flags.len() + b.nsamples.len() * 4 + b.uvw_m.len() * 8) as u64;
        rows += b.nrows() as u64;
    }
    Ok((bytes, rows))
}
