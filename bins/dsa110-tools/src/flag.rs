//! `dsa110-tools flag MS [--json]`: run the built-in RFI flagger
//! (`dsa110_calibration::flag_ms`, default `FlagParams`: SumThreshold + SIR on
//! every baseline's time–frequency planes, all windows together) on a
//! Measurement Set in place — FLAG and FLAG_ROW are rewritten, existing flags
//! kept — and summarise the flagged fraction overall, per spectral window
//! (subband) and per antenna (cross-correlations that include it).
//!
//! Exit status: 0 flagged; 2 no such MS, unreadable MS, or the flagger failed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use dsa110_calibration::{flag_ms, FlagParams};
use serde_json::json;

use crate::science::{
    antenna_names, num, path_json, print_json, print_text, require_ms, spw_names, Outcome,
};

/// Arguments of `flag`.
#[derive(Debug, clap::Args)]
pub struct FlagArgs {
    /// The Measurement Set (modified in place: FLAG, FLAG_ROW).
    pub ms: PathBuf,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `flag`.
pub fn run(args: &FlagArgs) -> Result<Outcome> {
    require_ms(&args.ms)?;
    let ants = antenna_names(&args.ms)?;
    let spws = spw_names(&args.ms)?;
    let t = Instant::now();
    let report = flag_ms(&args.ms, &FlagParams::default())
        .with_context(|| format!("flagging {}", args.ms.display()))?;
    let seconds = t.elapsed().as_secs_f64();
    let name_of = |a: u32| {
        ants.get(a as usize)
            .cloned()
            .unwrap_or_else(|| a.to_string())
    };
    let per_spw: Vec<_> = report
        .per_spw
        .iter()
        .enumerate()
        .map(|(k, f)| {
            json!({
                "spw": k,
                "name": spws.get(k).cloned().unwrap_or_default(),
                "fraction": num(*f),
            })
        })
        .collect();
    let per_antenna: Vec<_> = report
        .per_antenna
        .iter()
        .map(|a| json!({"antenna": a.antenna, "name": name_of(a.antenna), "fraction": num(a.fraction)}))
        .collect();
    let before = if report.n_samples > 0 {
        report.n_flagged_before as f64 / report.n_samples as f64
    } else {
        f64::NAN
    };
    if args.json {
        print_json(&json!({
            "ms": path_json(&args.ms),
            "n_samples": report.n_samples,
            "n_flagged_before": report.n_flagged_before,
            "n_flagged": report.n_flagged,
            "fraction_before": num(before),
            "fraction": num(report.fraction),
            "autos_searched": report.autos_searched,
            "per_spw": per_spw,
            "per_antenna": per_antenna,
            "seconds": seconds,
        }));
    } else {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: {:.2} % flagged ({} of {} samples; {:.2} % before), {:.1} s",
            args.ms.display(),
            100.0 * report.fraction,
            report.n_flagged,
            report.n_samples,
            100.0 * before,
            seconds
        );
        let _ = writeln!(s, "per spectral window:");
        for (k, f) in report.per_spw.iter().enumerate() {
            let name = spws.get(k).map_or("", String::as_str);
            let _ = writeln!(s, "  {k:>3} {name:<8} {:>7.2} %", 100.0 * f);
        }
        let _ = writeln!(s, "per antenna (cross-correlations):");
        for a in &report.per_antenna {
            let _ = writeln!(
                s,
                "  {:>3} {:<8} {:>7.2} %",
                a.antenna,
                name_of(a.antenna),
                100.0 * a.fraction
            );
        }
        print_text(&s);
    }
    Ok(Outcome::Ok)
}
