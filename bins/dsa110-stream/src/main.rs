//! `dsa110-stream`: the DSA-110 streaming pipeline daemon. Watches the correlator's
//! output directory, registers subband files in the shared SQLite queue, converts each
//! observation group to a Measurement Set as it completes, flags it, calibrates it
//! (solving on calibrator transits with `--enable-calibration-solving`), images it,
//! measures its sources with `--enable-photometry`, and serves `/health`,
//! `/ready` and `/metrics` with `--monitoring`. Runs under systemd (`Type=notify`); see
//! the operations guide and `ops/systemd/dsa110-stream.service`.
//!
//! This binary only parses options, sets up logging (stderr for the journal, and the log
//! file) and calls [`dsa110_pipeline_core::daemon::run`]. Exit codes: 0 after a clean
//! stop, 1 when the daemon failed, 2 for invalid options.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use dsa110_pipeline_core::config::{
    default_log_file, parse_eop, DaemonConfig, DaemonParams, ScienceConfig, DEFAULT_QUEUE_DB,
};
use dsa110_pipeline_core::validate_child::{self, VALIDATE_FILE_FLAG};
use dsa110_pipeline_core::{daemon, PipelineError};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// mimalloc rather than glibc's malloc: glibc serves every block over 32 MiB
/// with its own mmap and unmaps it on free, so each imaging pass faulted its
/// grids and images (hundreds of MB each) back in page by page, zeroed by the
/// kernel. Imaging the full-scale target group of `cargo xtask bench chain`
/// (the same 7 major cycles): 4.0 M page faults → 70 000, system time 42.6 →
/// 31.4 s, CLEAN 139.8 → 135.4 s; peak RSS 3.05 → 3.44 GB (freed blocks are
/// kept for reuse). See the README's Performance section.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The DSA-110 streaming pipeline: correlator HDF5 subband files → Measurement Sets.
#[derive(Parser, Debug)]
#[command(name = "dsa110-stream", version, args_override_self = true)]
struct Args {
    /// Watch directory for HDF5 files (the correlator's output).
    #[arg(long, required_unless_present_any = ["validate_file", "remove_after_exit"])]
    input_dir: Option<PathBuf>,
    /// Output directory for MS files.
    #[arg(long, required_unless_present_any = ["validate_file", "remove_after_exit"])]
    output_dir: Option<PathBuf>,
    /// Path to the unified queue database (shared with dsa110-legacy-convert and dsa110-api).
    #[arg(long, default_value = DEFAULT_QUEUE_DB)]
    queue_db: PathBuf,
    /// Number of subbands per observation.
    #[arg(long, default_value_t = 16)]
    expected_subbands: u32,
    /// Minutes per time chunk.
    #[arg(long, default_value_t = 5.0)]
    chunk_duration: f64,
    /// Enable automatic calibration: solve bandpass and gain tables on calibrator
    /// transits (the nearest valid set is applied to every group either way).
    #[arg(long)]
    enable_calibration_solving: bool,
    /// Enable source measurement: forced photometry of every image, light curves,
    /// variability statistics and mosaics.
    #[arg(long)]
    enable_photometry: bool,
    /// Do not flag RFI (the flagger runs on every group by default).
    #[arg(long, help_heading = "Calibration")]
    no_flagging: bool,
    /// Calibrator catalogue CSV (name,ra_deg,dec_deg,flux_jy,spectral_index; flux at
    /// 1.4 GHz) replacing the built-in VLA calibrators.
    #[arg(long, value_name = "FILE", help_heading = "Calibration")]
    calibrator_catalog: Option<PathBuf>,
    /// Reference antenna (name in the MS's ANTENNA table); automatic by default.
    #[arg(long, value_name = "NAME", help_heading = "Calibration")]
    refant: Option<String>,
    /// A calibration set applies to groups within this many hours of its transit.
    #[arg(long, default_value_t = 12.0, help_heading = "Calibration")]
    cal_validity_hours: f64,
    /// Seconds a group waits for a calibration solve in progress (the fence).
    #[arg(long, default_value_t = 600.0, help_heading = "Calibration")]
    cal_fence_timeout: f64,
    /// Do not image (a conversion-only deployment).
    #[arg(long, help_heading = "Imaging")]
    no_imaging: bool,
    /// Image size in pixels.
    #[arg(long, default_value_t = 4096, help_heading = "Imaging")]
    image_size: usize,
    /// Pixel size in arcsec.
    #[arg(long, default_value_t = 3.0, help_heading = "Imaging")]
    image_scale: f64,
    /// Weighting as WSClean's -weight: "briggs R", "natural" or "uniform".
    #[arg(long, default_value = "briggs 0", help_heading = "Imaging")]
    image_weight: String,
    /// Maximum CLEAN iterations.
    #[arg(long, default_value_t = 100_000, help_heading = "Imaging")]
    image_niter: usize,
    /// Absolute CLEAN threshold (Jy).
    #[arg(long, default_value_t = 0.0, help_heading = "Imaging")]
    image_threshold: f64,
    /// CLEAN down to this many times the residual's robust rms (0: off).
    #[arg(long, default_value_t = 1.0, help_heading = "Imaging")]
    image_auto_threshold: f64,
    /// Auto-masking: CLEAN without a mask down to this many times the residual's
    /// robust rms, then only where it already put components (WSClean's
    /// -auto-mask; 0: off).
    #[arg(
        long,
        value_name = "SIGMA",
        default_value_t = 0.0,
        help_heading = "Imaging"
    )]
    image_auto_mask: f64,
    /// Baseline-dependent averaging before gridding (wavelengths of uv extent per
    /// averaged channel bin; 0: off). A source l rad from the centre loses at most
    /// (π·WL·l)²/6 of its flux: 0.2 % at the half-power radius for 1.5.
    #[arg(
        long,
        value_name = "WL",
        default_value_t = 1.5,
        help_heading = "Imaging"
    )]
    image_baseline_averaging: f64,
    /// CLEAN's image-plane rounds while the residual is bright: a major cycle's
    /// minor cycles go on, predicted with the whole PSF (one FFT convolution),
    /// down to this fraction of the first residual peak, saving major cycles
    /// (0: off, every minor cycle ends in a major cycle as in WSClean).
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.03,
        help_heading = "Imaging"
    )]
    image_plane_depth: f64,
    /// The major cycles predict the model with the primary beam's drift through
    /// the group (the sky drifts 1.25° through the fixed beam in 5 minutes) in
    /// this many chunks of integrations: sources far off-axis, whose flux changes
    /// through the group, are then subtracted as they were seen (0 or 1: with
    /// the group's mean beam only).
    #[arg(long, value_name = "K", default_value_t = 4, help_heading = "Imaging")]
    image_beam_drift_chunks: usize,
    /// Compact-source catalogue CSV (name,ra_deg,dec_deg,flux_mjy, NVSS-like) measured
    /// on every image; without it only the calibrator catalogue's sources are measured.
    #[arg(long, value_name = "FILE", help_heading = "Photometry")]
    photometry_catalog: Option<PathBuf>,
    /// Sources where the primary beam is below this are not measured.
    #[arg(long, default_value_t = 0.2, help_heading = "Photometry")]
    photometry_min_pb: f64,
    /// Sources with a median SNR below this get no variability statistics.
    #[arg(long, default_value_t = 5.0, help_heading = "Photometry")]
    photometry_min_snr: f64,
    /// Do not build mosaics.
    #[arg(long, help_heading = "Photometry")]
    no_mosaics: bool,
    /// Images per mosaic of a declination strip.
    #[arg(long, default_value_t = 12, help_heading = "Photometry")]
    mosaic_size: usize,
    /// Images a mosaic shares with the previous one.
    #[arg(long, default_value_t = 3, help_heading = "Photometry")]
    mosaic_overlap: usize,
    /// Serve /health, /ready and /metrics over HTTP on --health-port (all interfaces).
    #[arg(long)]
    monitoring: bool,
    /// Port for the health endpoint (0: any free port, logged at start).
    #[arg(long, default_value_t = 9100)]
    health_port: u16,
    /// Scratch directory for temporary products (free space reported in /health);
    /// default: the output directory.
    #[arg(long)]
    scratch_dir: Option<PathBuf>,
    /// Log file, besides stderr [default: <state dir>/logs/streaming-pipeline.log, the
    /// state dir being the queue database's grandparent for <state>/db/<file>].
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Seconds between full scans of the input directory (inotify triggers scans sooner)
    /// and between checks while idle or paused.
    #[arg(long, default_value_t = 10.0)]
    poll_interval: f64,
    /// Minimum subbands to process a group whose collection timed out (missing subbands
    /// are written flagged); fewer and the group fails.
    #[arg(long, default_value_t = 12)]
    min_subbands: u32,
    /// Seconds a group may wait for its subbands before the --min-subbands rule applies.
    #[arg(long, default_value_t = 900.0)]
    partial_timeout: f64,
    /// Retries of a group after a retryable failure (with exponential backoff).
    #[arg(long, default_value_t = 3)]
    retry_limit: u32,
    /// Seconds before the first retry of a failed group; the wait doubles with each
    /// retry (at most an hour).
    #[arg(long, default_value_t = 60.0)]
    retry_backoff: f64,
    /// Output free space (GB = 1e9 bytes) below which processing pauses (health degraded).
    #[arg(long, default_value_t = 10.0)]
    disk_pause_gb: f64,
    /// Output free space (GB) below which health is unhealthy (HTTP 503).
    #[arg(long, default_value_t = 5.0)]
    disk_critical_gb: f64,
    /// Seconds the current group may take to finish after SIGTERM/SIGINT before it is
    /// released back to pending (keep below systemd's TimeoutStopSec).
    #[arg(long, default_value_t = 300.0)]
    stop_timeout: f64,
    /// Concurrent workers (each takes its own group).
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// Seconds a file must be unmodified before it is read.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Fixed Earth-orientation parameters "UT1-UTC_s,xp_arcsec,yp_arcsec" (IERS
    /// Bulletin A units), overriding the IERS table. By default they are interpolated
    /// in an IERS finals2000A table (see --eop-table).
    #[arg(long, value_parser = parse_eop)]
    eop: Option<dsa110_astro::Eop>,
    /// IERS finals2000A table for UT1-UTC and polar motion. Default: $DSA110_IERS_TABLE,
    /// else astropy-iers-data's finals2000A.all (installed with astropy), else
    /// /usr/share/dsa110/finals2000A.all; with none found positions are off by up to
    /// ~1 arcsec and a warning says so.
    #[arg(long, value_name = "FILE")]
    eop_table: Option<PathBuf>,
    /// Stop once the queue and the input directory hold no more work (reprocessing a
    /// backlog; the demo).
    #[arg(long)]
    exit_when_idle: bool,
    /// Seconds a database statement waits for another process's lock; past it the call
    /// is retried with backoff and /health reports the database locked (degraded).
    #[arg(long, default_value_t = 30.0)]
    db_busy_timeout: f64,
    /// Testing aid: read the output free space (a number of GB) from this file instead of
    /// statvfs.
    #[arg(long, hide = true)]
    debug_free_space_file: Option<PathBuf>,
    /// Internal: validate one subband file and print a JSON verdict (the daemon runs
    /// itself with this to keep libhdf5 crashes out of its own process).
    #[arg(long = &VALIDATE_FILE_FLAG[2..], hide = true)]
    validate_file: Option<PathBuf>,
    /// Internal, with --validate-file: the file's subband.
    #[arg(long, hide = true, requires = "validate_file")]
    subband: Option<u8>,
    /// Internal: remove this temporary MS once process --pid has exited (cleanup after
    /// a group abandoned at the stop timeout).
    #[arg(long = &daemon::REMOVE_AFTER_EXIT_FLAG[2..], hide = true, requires = "pid")]
    remove_after_exit: Option<PathBuf>,
    /// Internal, with --remove-after-exit: the process to wait for.
    #[arg(long, hide = true)]
    pid: Option<u32>,
}

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

fn stderr_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
}

fn main() -> ExitCode {
    // mimalloc hands freed memory back lazily (see the function; false only with
    // another mimalloc major version, which keeps its default)
    let _ = dsa110_pipeline_core::process::mimalloc_reset_on_purge();
    let args = Args::parse();
    if let Some(path) = &args.validate_file {
        return ExitCode::from(validate_child::child_main(
            path,
            args.subband,
            &args.eop.unwrap_or_default(),
        ));
    }
    if let (Some(path), Some(pid)) = (&args.remove_after_exit, args.pid) {
        return match daemon::remove_after_exit(path, pid, std::time::Duration::from_secs(120)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(1),
        };
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let log_file = args
        .log_file
        .clone()
        .unwrap_or_else(|| default_log_file(&args.queue_db));
    let config = DaemonConfig {
        input_dir: args.input_dir.unwrap_or_default(),
        output_dir: args.output_dir.unwrap_or_default(),
        queue_db: args.queue_db,
        expected_subbands: args.expected_subbands,
        chunk_duration_min: args.chunk_duration,
        science: ScienceConfig {
            enable_calibration_solving: args.enable_calibration_solving,
            enable_photometry: args.enable_photometry,
            no_flagging: args.no_flagging,
            calibrator_catalog: args.calibrator_catalog.clone(),
            refant: args.refant.clone(),
            cal_validity_hours: args.cal_validity_hours,
            cal_fence_timeout_s: args.cal_fence_timeout,
            no_imaging: args.no_imaging,
            image_size: args.image_size,
            image_scale_arcsec: args.image_scale,
            image_weight: args.image_weight.clone(),
            image_niter: args.image_niter,
            image_threshold_jy: args.image_threshold,
            image_auto_threshold: args.image_auto_threshold,
            image_auto_mask: args.image_auto_mask,
            image_baseline_averaging_wl: args.image_baseline_averaging,
            image_plane_depth: args.image_plane_depth,
            image_beam_drift_chunks: args.image_beam_drift_chunks,
            photometry_catalog: args.photometry_catalog.clone(),
            photometry_min_pb: args.photometry_min_pb,
            photometry_min_snr: args.photometry_min_snr,
            no_mosaics: args.no_mosaics,
            mosaic_size: args.mosaic_size,
            mosaic_overlap: args.mosaic_overlap,
        },
        monitoring: args.monitoring,
        health_port: args.health_port,
        scratch_dir: args.scratch_dir,
        poll_interval_s: args.poll_interval,
        min_subbands: args.min_subbands,
        partial_timeout_s: args.partial_timeout,
        retry_limit: args.retry_limit,
        retry_backoff_s: args.retry_backoff,
        disk_pause_gb: args.disk_pause_gb,
        disk_critical_gb: args.disk_critical_gb,
        stop_timeout_s: args.stop_timeout,
        workers: args.workers,
        settle_s: args.settle,
        eop: args.eop,
        eop_table: args.eop_table,
        debug_free_space_file: args.debug_free_space_file,
        validator_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
        command_line,
        exit_when_idle: args.exit_when_idle,
        db_busy_timeout_s: args.db_busy_timeout,
    };
    let params = match DaemonParams::new(config) {
        Ok(p) => p,
        Err(e) => {
            tracing_subscriber::registry()
                .with(stderr_layer().with_filter(env_filter()))
                .init();
            tracing::error!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    // stderr (→ journald) and the log file, same lines.
    let file = log_file
        .parent()
        .map_or(Ok(()), |dir| {
            if dir.as_os_str().is_empty() {
                Ok(())
            } else {
                std::fs::create_dir_all(dir)
            }
        })
        .and_then(|()| OpenOptions::new().create(true).append(true).open(&log_file));
    let file = match file {
        Ok(f) => Arc::new(f),
        Err(e) => {
            tracing_subscriber::registry()
                .with(stderr_layer().with_filter(env_filter()))
                .init();
            tracing::error!(
                "{}",
                PipelineError::Config {
                    option: "--log-file",
                    reason: format!("cannot open {}: {e}", log_file.display()),
                }
            );
            return Ok(ExitCode::from(2));
        }
    };
    tracing_subscriber::registry()
        .with(stderr_layer().with_filter(env_filter()))
        .with(
            fmt::layer()
                .with_writer(file)
                .with_ansi(false)
                .with_filter(env_filter()),
        )
        .init();
    tracing::info!(log_file = %log_file.display(), "logging to stderr and the log file");
    let summary = daemon::run(params)?;
    if !summary.abandoned.is_empty() {
        tracing::warn!(groups = ?summary.abandoned, "groups released unfinished at stop; they will be processed at the next start");
        // The abandoned group's stage may still be inside HDF5 or casacore on another
        // thread: a normal exit would tear those libraries down under it.
        dsa110_pipeline_core::process::exit_leaving_threads(0);
    }
    Ok(ExitCode::SUCCESS)
}
