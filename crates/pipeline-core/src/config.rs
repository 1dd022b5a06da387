//! The streaming daemon's configuration: options as given ([`DaemonConfig`]) →
//! checked parameters ([`DaemonParams`]). Every error names the option.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dsa110_astro::{Eop, EopProvider};

use crate::disk::DiskPolicy;
use crate::error::PipelineError;

/// Default queue database (relative to the working directory).
pub const DEFAULT_QUEUE_DB: &str = "state/db/pipeline.sqlite3";
/// Log file name under `<state dir>/logs/`.
pub const LOG_FILE_NAME: &str = "streaming-pipeline.log";

/// Options as given on the command line (not yet checked).
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Directory the correlator writes to (`--input-dir`).
    pub input_dir: PathBuf,
    /// Directory of the Measurement Sets (`--output-dir`).
    pub output_dir: PathBuf,
    /// The queue database (`--queue-db`).
    pub queue_db: PathBuf,
    /// Subbands per observation (`--expected-subbands`).
    pub expected_subbands: u32,
    /// Minutes per time chunk (`--chunk-duration`), recorded on each group.
    pub chunk_duration_min: f64,
    /// The science stages' options (flagging, calibration, imaging, photometry, mosaics).
    pub science: ScienceConfig,
    /// Serve `/health`, `/ready`, `/metrics` (`--monitoring`).
    pub monitoring: bool,
    /// Port of the monitoring server (`--health-port`; 0 = any free port).
    pub health_port: u16,
    /// Scratch directory (`--scratch-dir`); the output directory when absent.
    pub scratch_dir: Option<PathBuf>,
    /// Seconds between full scans of the input directory and idle worker polls
    /// (`--poll-interval`).
    pub poll_interval_s: f64,
    /// Minimum subbands to process a group that stopped collecting (`--min-subbands`).
    pub min_subbands: u32,
    /// Seconds a group may collect before it is processed as partial (`--partial-timeout`).
    pub partial_timeout_s: f64,
    /// Retries of a group after a retryable failure (`--retry-limit`).
    pub retry_limit: u32,
    /// Seconds before the first retry, doubling each time (`--retry-backoff`).
    pub retry_backoff_s: f64,
    /// Output free space below which processing pauses, GB (`--disk-pause-gb`).
    pub disk_pause_gb: f64,
    /// Output free space below which health is unhealthy, GB (`--disk-critical-gb`).
    pub disk_critical_gb: f64,
    /// Seconds to let the current group finish after SIGTERM (`--stop-timeout`).
    pub stop_timeout_s: f64,
    /// Concurrent workers (`--workers`).
    pub workers: u32,
    /// Seconds a file must be unmodified before it is read (`--settle`).
    pub settle_s: f64,
    /// Fixed Earth-orientation parameters (`--eop`), overriding any IERS table.
    pub eop: Option<Eop>,
    /// The IERS table (`--eop-table`); `None` searches the default places.
    pub eop_table: Option<PathBuf>,
    /// Testing aid: read the output free space (GB) from this file instead of `statvfs`
    /// (`--debug-free-space-file`).
    pub debug_free_space_file: Option<PathBuf>,
    /// The executable run as the file validator (normally this binary).
    pub validator_exe: PathBuf,
    /// The command line, for the MS HISTORY.
    pub command_line: String,
    /// Stop once the queue and the input directory hold no more work
    /// (`--exit-when-idle`: reprocessing a backlog, the demo).
    pub exit_when_idle: bool,
    /// How long a database statement waits for another process's lock before the call
    /// is retried and `/health` reports the database locked (`--db-busy-timeout`, s).
    pub db_busy_timeout_s: f64,
}

/// The science stages' options as given (checked into
/// [`crate::science::ScienceParams`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ScienceConfig {
    /// `--enable-calibration-solving`: solve sets on calibrator transits.
    pub enable_calibration_solving: bool,
    /// `--enable-photometry`: forced photometry, variability and mosaics after imaging.
    pub enable_photometry: bool,
    /// `--no-flagging`.
    pub no_flagging: bool,
    /// `--calibrator-catalog` (CSV `name,ra_deg,dec_deg,flux_jy,spectral_index`).
    pub calibrator_catalog: Option<PathBuf>,
    /// `--refant` (antenna name, or ANTENNA row).
    pub refant: Option<String>,
    /// `--cal-validity-hours`.
    pub cal_validity_hours: f64,
    /// `--cal-fence-timeout` (s).
    pub cal_fence_timeout_s: f64,
    /// `--no-imaging`.
    pub no_imaging: bool,
    /// `--image-size` (pixels).
    pub image_size: usize,
    /// `--image-scale` (arcsec per pixel).
    pub image_scale_arcsec: f64,
    /// `--image-weight` (`briggs R`, `natural`, `uniform`).
    pub image_weight: String,
    /// `--image-niter`.
    pub image_niter: usize,
    /// `--image-threshold` (Jy).
    pub image_threshold_jy: f64,
    /// `--image-auto-threshold` (σ of the residual; 0 = none).
    pub image_auto_threshold: f64,
    /// `--image-auto-mask` (σ of the residual; 0 = none): CLEAN without a mask
    /// down to this, then only where it put components, down to the thresholds.
    pub image_auto_mask: f64,
    /// `--image-baseline-averaging` (wavelengths; 0 = none).
    pub image_baseline_averaging_wl: f64,
    /// `--image-plane-depth` (fraction of the first peak; 0 = none): CLEAN's
    /// image-plane rounds while the residual is bright.
    pub image_plane_depth: f64,
    /// `--image-beam-drift-chunks` (0 or 1 = none): the major cycles predict the
    /// model with the primary beam's drift through the group in this many chunks.
    pub image_beam_drift_chunks: usize,
    /// `--photometry-catalog` (CSV `name,ra_deg,dec_deg,flux_mjy`).
    pub photometry_catalog: Option<PathBuf>,
    /// `--photometry-min-pb`: sources where the primary beam is below this are not fitted.
    pub photometry_min_pb: f64,
    /// `--photometry-min-snr`.
    pub photometry_min_snr: f64,
    /// `--no-mosaics`.
    pub no_mosaics: bool,
    /// `--mosaic-size` (images).
    pub mosaic_size: usize,
    /// `--mosaic-overlap` (images).
    pub mosaic_overlap: usize,
}

impl Default for ScienceConfig {
    fn default() -> Self {
        Self {
            enable_calibration_solving: false,
            enable_photometry: false,
            no_flagging: false,
            calibrator_catalog: None,
            refant: None,
            cal_validity_hours: 12.0,
            cal_fence_timeout_s: 600.0,
            no_imaging: false,
            image_size: 4096,
            image_scale_arcsec: 3.0,
            image_weight: "briggs 0".to_owned(),
            image_niter: 100_000,
            image_threshold_jy: 0.0,
            image_auto_threshold: 1.0,
            image_auto_mask: 0.0,
            image_baseline_averaging_wl: 1.5,
            image_plane_depth: 0.03,
            image_beam_drift_chunks: 4,
            photometry_catalog: None,
            photometry_min_pb: 0.2,
            photometry_min_snr: 5.0,
            no_mosaics: false,
            mosaic_size: 12,
            mosaic_overlap: 3,
        }
    }
}

/// Checked parameters of the daemon.
#[derive(Clone, Debug)]
pub struct DaemonParams {
    /// Directory the correlator writes to (exists).
    pub input_dir: PathBuf,
    /// Directory of the Measurement Sets (created if missing).
    pub output_dir: PathBuf,
    /// Scratch directory (the output directory unless given).
    pub scratch_dir: PathBuf,
    /// The queue database.
    pub queue_db: PathBuf,
    /// Subbands per observation, 1..=16.
    pub expected_subbands: u8,
    /// Minimum subbands of a partial group, 1..=expected.
    pub min_subbands: u8,
    /// Minutes per time chunk.
    pub chunk_minutes: f64,
    /// Serve the monitoring endpoints.
    pub monitoring: bool,
    /// Monitoring port.
    pub health_port: u16,
    /// Scan / idle poll period.
    pub poll_interval: Duration,
    /// Partial-group timeout (s).
    pub partial_timeout_s: f64,
    /// Retry limit.
    pub retry_limit: u32,
    /// First retry delay (s), doubling with each retry.
    pub retry_backoff_s: f64,
    /// Disk thresholds.
    pub disk_policy: DiskPolicy,
    /// Grace period for the current group after SIGTERM.
    pub stop_timeout: Duration,
    /// Number of workers, ≥ 1.
    pub workers: usize,
    /// Settle time (s).
    pub settle_s: f64,
    /// Earth-orientation parameters (IERS table, fixed values or none).
    pub eop: Arc<EopProvider>,
    /// Free-space file (testing aid), if any.
    pub debug_free_space_file: Option<PathBuf>,
    /// Validator executable.
    pub validator_exe: PathBuf,
    /// Command line for HISTORY.
    pub command_line: String,
    /// Stop once idle.
    pub exit_when_idle: bool,
    /// SQLite busy timeout.
    pub db_busy_timeout: Duration,
    /// The science stages.
    #[cfg(feature = "science")]
    pub science: crate::science::ScienceParams,
}

pub(crate) fn bad(option: &'static str, reason: impl Into<String>) -> PipelineError {
    PipelineError::Config {
        option,
        reason: reason.into(),
    }
}

pub(crate) fn seconds(option: &'static str, v: f64, min: f64) -> Result<f64, PipelineError> {
    if v.is_finite() && v >= min && v <= 1e7 {
        Ok(v)
    } else {
        Err(bad(
            option,
            format!("{v} is not a number of seconds in {min}..=1e7"),
        ))
    }
}

/// The options the daemon and the fallback converter share.
#[derive(Debug)]
pub(crate) struct SharedOptions<'a> {
    pub expected_subbands: u32,
    pub min_subbands: u32,
    pub chunk_minutes: f64,
    pub partial_timeout_s: f64,
    pub settle_s: f64,
    pub eop: Option<Eop>,
    pub input_dir: &'a Path,
    pub output_dir: &'a Path,
}

/// Check the shared options; returns the expected and minimum subband counts.
pub(crate) fn check_shared(o: &SharedOptions<'_>) -> Result<(u8, u8), PipelineError> {
    let expected = u8::try_from(o.expected_subbands)
        .ok()
        .filter(|n| (1..=16).contains(n))
        .ok_or_else(|| {
            bad(
                "--expected-subbands",
                format!("{} is not in 1..=16", o.expected_subbands),
            )
        })?;
    let min = u8::try_from(o.min_subbands)
        .ok()
        .filter(|n| (1..=expected).contains(n))
        .ok_or_else(|| {
            bad(
                "--min-subbands",
                format!(
                    "{} is not in 1..={expected} (--expected-subbands)",
                    o.min_subbands
                ),
            )
        })?;
    if !(o.chunk_minutes.is_finite() && o.chunk_minutes > 0.0) {
        return Err(bad(
            "--chunk-duration",
            format!("{} is not a positive number of minutes", o.chunk_minutes),
        ));
    }
    seconds("--partial-timeout", o.partial_timeout_s, 0.0)?;
    seconds("--settle", o.settle_s, 0.0)?;
    if let Some(e) = o.eop {
        let pole_limit = 5.0 * dsa110_astro::constants::ARCSEC;
        if !(e.dut1_s.abs() <= 1.0 && e.xp_rad.abs() <= pole_limit && e.yp_rad.abs() <= pole_limit)
        {
            return Err(bad(
                "--eop",
                format!("{e:?}: |UT1-UTC| must be ≤ 1 s and |xp|, |yp| ≤ 5″"),
            ));
        }
    }
    if !o.input_dir.is_dir() {
        return Err(bad(
            "--input-dir",
            format!("{} is not a directory", o.input_dir.display()),
        ));
    }
    if o.output_dir.exists() && !o.output_dir.is_dir() {
        return Err(bad(
            "--output-dir",
            format!("{} exists and is not a directory", o.output_dir.display()),
        ));
    }
    Ok((expected, min))
}

impl DaemonParams {
    /// Checks a configuration; errors name the option. Touches nothing on disk except
    /// to check that the input directory exists.
    pub fn new(cfg: DaemonConfig) -> Result<Self, PipelineError> {
        #[cfg(feature = "science")]
        let science = crate::science::ScienceParams::from_config(&cfg.science, &cfg.output_dir)?;
        #[cfg(not(feature = "science"))]
        if cfg.science != ScienceConfig::default() {
            return Err(bad(
                "--enable-calibration-solving",
                "this build has no science stages (feature `science`)",
            ));
        }
        let (expected_subbands, min_subbands) = check_shared(&SharedOptions {
            expected_subbands: cfg.expected_subbands,
            min_subbands: cfg.min_subbands,
            chunk_minutes: cfg.chunk_duration_min,
            partial_timeout_s: cfg.partial_timeout_s,
            settle_s: cfg.settle_s,
            eop: cfg.eop,
            input_dir: &cfg.input_dir,
            output_dir: &cfg.output_dir,
        })?;
        let poll = seconds("--poll-interval", cfg.poll_interval_s, 0.05)?;
        let (partial_timeout_s, settle_s) = (cfg.partial_timeout_s, cfg.settle_s);
        let stop = seconds("--stop-timeout", cfg.stop_timeout_s, 0.0)?;
        if cfg.workers == 0 || cfg.workers > 64 {
            return Err(bad(
                "--workers",
                format!("{} is not in 1..=64", cfg.workers),
            ));
        }
        if !(cfg.disk_critical_gb.is_finite() && cfg.disk_critical_gb >= 0.0) {
            return Err(bad(
                "--disk-critical-gb",
                format!(
                    "{} is not a non-negative number of GB",
                    cfg.disk_critical_gb
                ),
            ));
        }
        if !(cfg.disk_pause_gb.is_finite() && cfg.disk_pause_gb >= cfg.disk_critical_gb) {
            return Err(bad(
                "--disk-pause-gb",
                format!(
                    "{} is not a number of GB at least --disk-critical-gb ({})",
                    cfg.disk_pause_gb, cfg.disk_critical_gb
                ),
            ));
        }
        if let Some(s) = &cfg.scratch_dir {
            if s.exists() && !s.is_dir() {
                return Err(bad(
                    "--scratch-dir",
                    format!("{} exists and is not a directory", s.display()),
                ));
            }
        }
        if cfg.queue_db.is_dir() || cfg.queue_db.as_os_str().is_empty() {
            return Err(bad(
                "--queue-db",
                format!("{} is not a database file path", cfg.queue_db.display()),
            ));
        }
        Ok(Self {
            scratch_dir: cfg
                .scratch_dir
                .clone()
                .unwrap_or_else(|| cfg.output_dir.clone()),
            input_dir: cfg.input_dir,
            output_dir: cfg.output_dir,
            queue_db: cfg.queue_db,
            expected_subbands,
            min_subbands,
            chunk_minutes: cfg.chunk_duration_min,
            monitoring: cfg.monitoring,
            health_port: cfg.health_port,
            poll_interval: Duration::from_secs_f64(poll),
            partial_timeout_s,
            retry_limit: cfg.retry_limit,
            retry_backoff_s: seconds("--retry-backoff", cfg.retry_backoff_s, 0.0)?,
            disk_policy: DiskPolicy {
                pause_below_gb: cfg.disk_pause_gb,
                unhealthy_below_gb: cfg.disk_critical_gb,
                ..DiskPolicy::default()
            },
            stop_timeout: Duration::from_secs_f64(stop),
            workers: cfg.workers as usize,
            settle_s,
            eop: eop_provider(cfg.eop, cfg.eop_table.as_deref())?,
            debug_free_space_file: cfg.debug_free_space_file,
            validator_exe: cfg.validator_exe,
            command_line: cfg.command_line,
            exit_when_idle: cfg.exit_when_idle,
            db_busy_timeout: Duration::from_secs_f64(seconds(
                "--db-busy-timeout",
                cfg.db_busy_timeout_s,
                0.05,
            )?),
            #[cfg(feature = "science")]
            science,
        })
    }
}

/// The state directory of a queue database: `<state>` for `<state>/db/<file>`, else the
/// database's own directory.
pub fn state_dir(queue_db: &Path) -> PathBuf {
    let parent = queue_db.parent().unwrap_or(Path::new(""));
    match (parent.file_name(), parent.parent()) {
        (Some(name), Some(grand)) if name == "db" => grand.to_path_buf(),
        _ => parent.to_path_buf(),
    }
}

/// The default log file: `<state dir>/logs/streaming-pipeline.log`.
pub fn default_log_file(queue_db: &Path) -> PathBuf {
    state_dir(queue_db).join("logs").join(LOG_FILE_NAME)
}

/// The Earth-orientation source from the options: fixed values (`--eop`) win; else
/// the IERS table given (`--eop-table`, which must load), else the first found of
/// `$DSA110_IERS_TABLE`, astropy-iers-data's `finals2000A.all` and the system
/// location. No table at all is a warning (zero EOP, a sub-arcsecond error), not an
/// error.
///
/// # Errors
/// [`PipelineError::Config`] naming `--eop-table` when a table exists but cannot be read.
pub fn eop_provider(
    fixed: Option<Eop>,
    table: Option<&Path>,
) -> Result<Arc<EopProvider>, PipelineError> {
    if let Some(e) = fixed {
        tracing::info!(dut1_s = e.dut1_s, "fixed Earth-orientation values (--eop)");
        return Ok(Arc::new(EopProvider::Fixed(e)));
    }
    match EopProvider::discover(table) {
        Ok((p, None)) => {
            if let EopProvider::Table { source, .. } = &p {
                tracing::info!(table = %source, "Earth orientation from the IERS table");
            }
            Ok(Arc::new(p))
        }
        Ok((p, Some(why))) => {
            tracing::warn!(
                "no IERS table found ({}): UT1-UTC and polar motion are taken as zero, \
                 positions are off by up to ~1 arcsec; give --eop-table or DSA110_IERS_TABLE",
                crate::error::display_chain(&why)
            );
            Ok(Arc::new(p))
        }
        Err(e) => Err(bad("--eop-table", crate::error::display_chain(&e))),
    }
}

/// Parses `UT1-UTC_s,xp_arcsec,yp_arcsec` (IERS Bulletin A units).
///
/// # Errors
/// A message saying what is wrong with the text.
pub fn parse_eop(s: &str) -> Result<Eop, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>().map_err(|e| format!("{x:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [dut1_s, xp, yp] => Ok(Eop {
            dut1_s: *dut1_s,
            xp_rad: xp * dsa110_astro::constants::ARCSEC,
            yp_rad: yp * dsa110_astro::constants::ARCSEC,
        }),
        _ => Err("expected three numbers: UT1-UTC (s), xp (arcsec), yp (arcsec)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(dir: &Path) -> DaemonConfig {
        DaemonConfig {
            input_dir: dir.to_path_buf(),
            output_dir: dir.join("ms"),
            queue_db: dir.join("state/db/pipeline.sqlite3"),
            expected_subbands: 16,
            chunk_duration_min: 5.0,
            science: ScienceConfig::default(),
            monitoring: false,
            health_port: 9100,
            scratch_dir: None,
            poll_interval_s: 10.0,
            min_subbands: 12,
            partial_timeout_s: 900.0,
            retry_limit: 3,
            retry_backoff_s: 60.0,
            disk_pause_gb: 10.0,
            disk_critical_gb: 5.0,
            stop_timeout_s: 300.0,
            workers: 1,
            settle_s: 2.0,
            eop: None,
            eop_table: None,
            debug_free_space_file: None,
            validator_exe: PathBuf::from("/bin/true"),
            command_line: String::new(),
            exit_when_idle: false,
            db_busy_timeout_s: 30.0,
        }
    }

    fn check_rejected(edit: impl FnOnce(&mut DaemonConfig), option: &str, needle: &str) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = base(dir.path());
        edit(&mut cfg);
        let Err(e) = DaemonParams::new(cfg) else {
            panic!("{option} ({needle}) accepted");
        };
        let text = e.to_string();
        assert!(text.contains(option), "{text}");
        assert!(text.contains(needle), "{text}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn defaults_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let p = DaemonParams::new(base(dir.path())).unwrap();
        assert_eq!(p.scratch_dir, dir.path().join("ms"));
        assert_eq!(p.disk_policy.pause_below_gb, 10.0);
        assert_eq!(p.stop_timeout, Duration::from_secs(300));
        assert_eq!(p.workers, 1);
        let img = p.science.imaging.as_ref().unwrap();
        assert_eq!(img.clean.auto_threshold_sigma, Some(1.0));
        assert_eq!(img.clean.auto_mask_sigma, None);
        assert_eq!(img.baseline_averaging_wl, 1.5);
        assert_eq!(img.clean.image_plane_depth, 0.03);
        assert_eq!(img.beam_drift_chunks, 4);
    }

    /// The imaging options reach the imaging parameters.
    #[test]
    fn imaging_options_are_passed_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = base(dir.path());
        cfg.science.image_auto_mask = 3.0;
        cfg.science.image_auto_threshold = 0.0;
        cfg.science.image_baseline_averaging_wl = 0.0;
        cfg.science.image_plane_depth = 0.0;
        cfg.science.image_beam_drift_chunks = 0;
        let p = DaemonParams::new(cfg).unwrap();
        let img = p.science.imaging.as_ref().unwrap();
        assert_eq!(img.clean.auto_mask_sigma, Some(3.0));
        assert_eq!(img.clean.auto_threshold_sigma, None);
        assert_eq!(img.baseline_averaging_wl, 0.0);
        assert_eq!(img.clean.image_plane_depth, 0.0);
        assert_eq!(img.beam_drift_chunks, 0);
    }

    #[test]
    fn bad_options_are_named() {
        check_rejected(
            |c| {
                c.science.enable_photometry = true;
                c.science.no_imaging = true;
            },
            "--enable-photometry",
            "--no-imaging",
        );
        check_rejected(
            |c| c.science.calibrator_catalog = Some(PathBuf::from("/nonexistent/cal.csv")),
            "--calibrator-catalog",
            "/nonexistent/cal.csv",
        );
        check_rejected(
            |c| c.science.image_weight = "briggs 3".into(),
            "--image-weight",
            "briggs 3",
        );
        check_rejected(
            |c| c.science.image_auto_mask = -3.0,
            "--image-auto-mask",
            "-3",
        );
        check_rejected(
            |c| c.science.image_baseline_averaging_wl = -1.0,
            "--image-baseline-averaging",
            "-1",
        );
        check_rejected(
            |c| c.science.image_plane_depth = 1.5,
            "--image-plane-depth",
            "1.5",
        );
        check_rejected(
            |c| c.science.image_beam_drift_chunks = 300,
            "--image-beam-drift-chunks",
            "300",
        );
        check_rejected(
            |c| c.science.cal_validity_hours = 0.0,
            "--cal-validity-hours",
            "0",
        );
        check_rejected(
            |c| {
                c.science.enable_photometry = true;
                c.science.mosaic_overlap = 12;
            },
            "--mosaic-overlap",
            "12",
        );
        check_rejected(|c| c.expected_subbands = 17, "--expected-subbands", "17");
        check_rejected(|c| c.min_subbands = 0, "--min-subbands", "0");
        check_rejected(|c| c.chunk_duration_min = -1.0, "--chunk-duration", "-1");
        check_rejected(|c| c.poll_interval_s = f64::NAN, "--poll-interval", "NaN");
        check_rejected(|c| c.workers = 0, "--workers", "0");
        check_rejected(|c| c.disk_pause_gb = 1.0, "--disk-pause-gb", "1");
        check_rejected(
            |c| c.input_dir = PathBuf::from("/nonexistent/in"),
            "--input-dir",
            "/nonexistent/in",
        );
    }

    #[test]
    fn state_dir_and_log_file() {
        assert_eq!(
            default_log_file(Path::new("/data/state/db/pipeline.sqlite3")),
            PathBuf::from("/data/state/logs/streaming-pipeline.log")
        );
        assert_eq!(
            default_log_file(Path::new("state/db/pipeline.sqlite3")),
            PathBuf::from("state/logs/streaming-pipeline.log")
        );
        assert_eq!(
            default_log_file(Path::new("/tmp/q.sqlite3")),
            PathBuf::from("/tmp/logs/streaming-pipeline.log")
        );
        assert_eq!(
            default_log_file(Path::new("q.sqlite3")),
            PathBuf::from("logs/streaming-pipeline.log")
        );
    }

    #[test]
    fn eop_parses() {
        let e = parse_eop("0.1, 0.2,0.3").unwrap();
        assert_eq!(e.dut1_s, 0.1);
        assert!(parse_eop("1,2").is_err());
        assert!(parse_eop("a,2,3").is_err());
    }
}
