//! `dsa110-legacy-convert`: the fallback converter. Scans the input directory,
//! registers subband files in the shared SQLite queue and converts pending
//! groups to Measurement Sets, oldest observation first.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use dsa110_pipeline_core::legacy::{self, LegacyConfig, LegacyEvent, LegacyParams};
use dsa110_pipeline_core::validate_child::{self, VALIDATE_FILE_FLAG};

/// Convert DSA-110 subband groups to Measurement Sets through the shared queue.
#[derive(Parser, Debug)]
#[command(name = "dsa110-legacy-convert", version)]
struct Args {
    /// Directory the correlator writes subband files to.
    #[arg(long)]
    #[arg(long, required_unless_present = "validate_file")]
    input_dir: Option<PathBuf>,
    /// Directory for the Measurement Sets.
    #[arg(long, required_unless_present = "validate_file")]
    output_dir: Option<PathBuf>,
    /// The queue database (shared with dsa110-stream and dsa110-api).
    #[arg(long, default_value = "state/db/pipeline.sqlite3")]
    queue_db: PathBuf,
    /// Subbands per observation.
    #[arg(long, default_value_t = 16)]
    expected_subbands: u32,
    /// Minutes per time chunk.
    #[arg(long, default_value_t = 5.0)]
    chunk_duration: f64,
    /// Convert what is there, then exit (groups still short of subbands are
    /// converted as partial groups if they have --min-subbands).
    #[arg(long)]
    once: bool,
    /// Seconds between scans when not --once.
    #[arg(long, default_value_t = 10.0)]
    poll_interval: f64,
    /// Minimum subbands to convert a partial group (missing ones are flagged).
    #[arg(long, default_value_t = 12)]
    min_subbands: u32,
    /// Seconds a group may wait for its subbands before it is converted as partial.
    #[arg(long, default_value_t = 900.0)]
    partial_timeout: f64,
    /// Retries of a group after a retryable failure.
    #[arg(long, default_value_t = 3)]
    retry_limit: u32,
    /// Seconds a file must be unmodified before it is read.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Fixed Earth-orientation parameters "UT1-UTC_s,xp_arcsec,yp_arcsec" (IERS
    /// Bulletin A units), overriding the IERS table. By default they are interpolated
    /// in an IERS finals2000A table (see --eop-table).
    #[arg(long, value_parser = dsa110_pipeline_core::config::parse_eop)]
    eop: Option<dsa110_astro::Eop>,
    /// IERS finals2000A table for UT1-UTC and polar motion. Default: $DSA110_IERS_TABLE,
    /// else astropy-iers-data's finals2000A.all (installed with astropy), else
    /// /usr/share/dsa110/finals2000A.all; with none found positions are off by up to
    /// ~1 arcsec and a warning says so.
    #[arg(long, value_name = "FILE")]
    eop_table: Option<PathBuf>,
    /// Internal: validate one subband file and print a JSON verdict (the converter runs
    /// itself with this to keep libhdf5 crashes out of its own process).
    #[arg(long = &VALIDATE_FILE_FLAG[2..], hide = true)]
    validate_file: Option<PathBuf>,
    /// Internal, with --validate-file: the file's subband.
    #[arg(long, hide = true, requires = "validate_file")]
    subband: Option<u8>,
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
    match run() {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    if let Some(path) = &args.validate_file {
        return Ok(ExitCode::from(validate_child::child_main(
            path,
            args.subband,
            &args.eop.unwrap_or_default(),
        )));
    }
    let (Some(input_dir), Some(output_dir)) = (args.input_dir, args.output_dir) else {
        anyhow::bail!("--input-dir and --output-dir are required");
    };
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let params = LegacyParams::new(LegacyConfig {
        input_dir,
        output_dir,
        queue_db: args.queue_db,
        expected_subbands: args.expected_subbands,
        chunk_minutes: args.chunk_duration,
        once: args.once,
        poll_interval_s: args.poll_interval,
        min_subbands: args.min_subbands,
        partial_timeout_s: args.partial_timeout,
        retry_limit: args.retry_limit,
        settle_s: args.settle,
        eop: args.eop,
        eop_table: args.eop_table,
        command_line,
        validator_exe: Some(std::env::current_exe().context("locating this executable")?),
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    });
    let mut on_event = |ev: LegacyEvent<'_>| match (&bar, ev) {
        (Some(b), LegacyEvent::Converting { group_id, pending }) => {
            b.set_message(format!("converting {group_id} ({pending} pending)"));
        }
        (
            Some(b),
            LegacyEvent::Finished {
                group_id,
                report,
                error,
            },
        ) => match (report, error) {
            (Some(r), _) => b.println(format!(
                "{group_id}: {} in {:.1} s",
                r.ms_path.display(),
                r.timings.total_s
            )),
            (_, Some(e)) => b.println(format!("{group_id}: FAILED: {e}")),
            _ => {}
        },
        (None, LegacyEvent::Converting { group_id, pending }) => {
            tracing::info!(group_id, pending, "converting");
        }
        _ => {}
    };
    let summary = legacy::run(&params, &stop, &mut on_event)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    tracing::info!(
        completed = summary.completed,
        failed = summary.failed,
        retried = summary.retried,
        invalid_files = summary.invalid_files,
        "done"
    );
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
