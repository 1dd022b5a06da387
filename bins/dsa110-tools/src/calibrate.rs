//! `dsa110-tools calibrate MS --solve --out DIR [--calibrator-catalog FILE] [--refant NAME]`,
//! `dsa110-tools calibrate MS --flag --solve --apply --out DIR`,
//! `dsa110-tools calibrate MS --apply TABLE...` and
//! `dsa110-tools calibrate MS --model [--calibrator-catalog FILE]`.
//!
//! `--solve` finds the catalogue calibrator that transits the primary beam
//! during the group (built-in VLA table, or a CSV
//! `name,ra_deg,dec_deg,flux_jy,spectral_index`), solves per-channel bandpass
//! (B) and per-integration complex gains (G) (`dsa110_calibration::solve_ms`)
//! and writes `DIR/<ms stem>.bcal` and `DIR/<ms stem>.gcal`, CASA `B Jones` /
//! `G Jones` tables (`write_tables`). It reads DATA, FLAG and WEIGHT_SPECTRUM
//! as they are: run `dsa110-tools flag MS` first, as the pipeline does.
//! The JSON summary gives the calibrator, the reference antenna, the SNR,
//! flagged fraction and scatter of the solutions and the QA verdict.
//!
//! `--flag` (with `--solve`) flags the MS first as `dsa110-tools flag` does,
//! and `--apply` with `--solve` and no TABLE writes CORRECTED_DATA from the
//! solutions being solved, in the same run: each window's visibilities are
//! read twice in all instead of three times by three commands
//! (`dsa110_calibration::flag_solve_apply_ms`); the summary adds `flagged`
//! and `applied`. CORRECTED_DATA is written whatever the QA verdict, as
//! `--apply TABLE...` would write it.
//!
//! When QA fails the tables are still written — as CASA's `bandpass`/`gaincal`
//! write whatever they solved — so that they can be inspected; the summary
//! says so (`tables_written`, `qa.passed: false`, `note`) and the exit status
//! is 1. The pipeline never applies a set that failed QA; `--apply` does not
//! check QA (it cannot: CASA tables carry none), so apply such tables only
//! knowingly.
//!
//! `--refant` takes an ANTENNA table NAME (or STATION) as in the MS; a value
//! that matches no name and is an integer is taken as the ANTENNA row number
//! (as CASA does: a name that looks like a number wins). Without it the
//! solver ranks antennas (most unflagged data, then SNR) and takes the best.
//!
//! `--apply` writes CORRECTED_DATA (created if missing), the corrected
//! weights and FLAG where a solution is flagged or missing
//! (`dsa110_calibration::apply_tables`; ours or CASA's tables).
//!
//! `--model` writes the model `--solve` solves against (the calibrator with
//! the primary beam per integration and frequency) into MODEL_DATA
//! (`dsa110_calibration::write_model_ms`), so that CASA's `bandpass` and
//! `gaincal` can solve against the same model (`cargo xtask bench calibrate`).
//!
//! Exit status: 0 done (QA passed); 1 solved and written but QA failed;
//! 2 bad arguments, missing MS/table/catalogue, no calibrator in the beam,
//! unknown reference antenna, tables already present, or a library error.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dsa110_calibration::msio::ms_writer::MsTable;
use dsa110_calibration::{
    apply_tables, flag_solve_apply_ms, solve_ms, write_model_ms, write_tables, Catalog, FlagParams,
    SolveParams,
};
use serde_json::json;

use crate::science::{ms_stem, num, path_json, print_json, require_file, require_ms, Outcome};

/// Arguments of `calibrate`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).multiple(true).args(["solve", "apply", "model"])))]
pub struct CalibrateArgs {
    /// The Measurement Set.
    pub ms: PathBuf,
    /// Solve B and G on the calibrator transiting the beam and write the tables.
    #[arg(long, requires = "out")]
    pub solve: bool,
    /// Directory for `<ms stem>.bcal` and `<ms stem>.gcal` (created if missing).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Calibrator catalogue CSV (`name,ra_deg,dec_deg,flux_jy,spectral_index`)
    /// replacing the built-in VLA table.
    #[arg(long)]
    pub calibrator_catalog: Option<PathBuf>,
    /// Reference antenna: an ANTENNA NAME of the MS, or its row number.
    #[arg(long, requires = "solve")]
    pub refant: Option<String>,
    /// Apply these calibration tables (B and/or G), writing CORRECTED_DATA;
    /// with --solve and no TABLE, apply the solutions being solved, in the
    /// same pass over the MS.
    #[arg(long, num_args = 0.., value_name = "TABLE")]
    pub apply: Option<Vec<PathBuf>>,
    /// With --solve: flag the MS first (as `dsa110-tools flag` does), in the
    /// same run, sharing its reads.
    #[arg(long, requires = "solve")]
    pub flag: bool,
    /// Write the calibrator model that --solve solves against into MODEL_DATA.
    #[arg(long, conflicts_with_all = ["solve", "out", "apply", "refant", "flag"])]
    pub model: bool,
}

/// `calibrate`.
pub fn run(args: &CalibrateArgs) -> Result<Outcome> {
    require_ms(&args.ms)?;
    if args.solve {
        let Some(out) = &args.out else {
            bail!("--solve needs --out DIR");
        };
        match &args.apply {
            Some(t) if !t.is_empty() => bail!(
                "--solve --apply applies the solutions being solved: give no TABLE \
                 (apply existing tables with --apply TABLE... alone)"
            ),
            _ => {}
        }
        solve(args, out)
    } else if let Some(tables) = &args.apply {
        if tables.is_empty() {
            bail!("--apply needs TABLE... (or --solve --out DIR to apply what it solves)");
        }
        if args.calibrator_catalog.is_some() {
            bail!("--calibrator-catalog goes with --solve or --model, not --apply");
        }
        if args.out.is_some() {
            bail!("--out goes with --solve, not --apply TABLE...");
        }
        apply(&args.ms, tables)
    } else if args.model {
        model(args)
    } else {
        bail!("say --solve --out DIR, --apply TABLE... or --model")
    }
}

/// Resolve `--refant` against the MS's ANTENNA table: NAME, then STATION,
/// then a row number.
pub fn resolve_refant(spec: &str, names: &[(String, String)]) -> Result<u32> {
    let s = spec.trim();
    let hit = names
        .iter()
        .position(|(n, _)| n == s)
        .or_else(|| names.iter().position(|(_, st)| st == s));
    if let Some(k) = hit {
        return u32::try_from(k).context("antenna row out of range");
    }
    if let Ok(k) = s.parse::<u32>() {
        if (k as usize) < names.len() {
            return Ok(k);
        }
        bail!(
            "reference antenna {s:?}: no antenna of that name, and row {k} is beyond the \
             ANTENNA table ({} rows)",
            names.len()
        );
    }
    let some: Vec<&str> = names.iter().take(5).map(|(n, _)| n.as_str()).collect();
    bail!(
        "reference antenna {s:?} is not in the ANTENNA table ({} antennas, e.g. {})",
        names.len(),
        some.join(", ")
    )
}

fn catalog(args: &CalibrateArgs) -> Result<Catalog> {
    Ok(match &args.calibrator_catalog {
        Some(p) => {
            require_file(p, "calibrator catalogue")?;
            Catalog::from_csv(p)?
        }
        None => Catalog::built_in(),
    })
}

fn model(args: &CalibrateArgs) -> Result<Outcome> {
    let catalog = catalog(args)?;
    let t0 = Instant::now();
    let transit = write_model_ms(&args.ms, &catalog)
        .with_context(|| format!("writing MODEL_DATA in {}", args.ms.display()))?;
    print_json(&json!({
        "ms": path_json(&args.ms),
        "column": "MODEL_DATA",
        "calibrator": transit.calibrator.name,
        "calibrator_offset_deg": num(transit.min_offset_rad.to_degrees()),
        "transit_in_group": transit.transit_in_group,
        "seconds": t0.elapsed().as_secs_f64(),
    }));
    Ok(Outcome::Ok)
}

fn solve(args: &CalibrateArgs, out: &Path) -> Result<Outcome> {
    let ms = &args.ms;
    let catalog = catalog(args)?;
    let table = MsTable::open(ms)
        .with_context(|| format!("cannot open Measurement Set {}", ms.display()))?;
    let antennas: Vec<(String, String)> = table
        .meta()
        .antennas
        .iter()
        .map(|a| (a.name.clone(), a.station.clone()))
        .collect();
    drop(table);
    let mut params = SolveParams::default();
    if let Some(r) = &args.refant {
        params.refant = Some(resolve_refant(r, &antennas)?);
    }
    let stem = ms_stem(ms)?;
    let bcal = out.join(format!("{stem}.bcal"));
    let gcal = out.join(format!("{stem}.gcal"));
    for t in [&bcal, &gcal] {
        if t.exists() {
            bail!(
                "calibration table {} already exists: remove it or choose another --out",
                t.display()
            );
        }
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))?;
    let t0 = Instant::now();
    let flag_params = args.flag.then(FlagParams::default);
    let one_pass = args.flag || args.apply.is_some();
    let what = || {
        let doing = match (args.flag, args.apply.is_some()) {
            (true, true) => "flagging, solving and applying",
            (true, false) => "flagging and solving",
            (false, true) => "solving and applying",
            (false, false) => "solving",
        };
        match (&args.refant, params.refant) {
            (Some(name), Some(row)) => format!(
                "{doing} on {} with reference antenna {} (ANTENNA row {row})",
                ms.display(),
                name.trim()
            ),
            _ => format!("{doing} on {}", ms.display()),
        }
    };
    let mut flag_s = None;
    let (solved, flagged, applied) = if one_pass {
        let r = flag_solve_apply_ms(
            ms,
            &catalog,
            flag_params.as_ref(),
            &params,
            args.apply.is_some(),
        )
        .with_context(what)?;
        if args.flag {
            flag_s = Some(r.flag_s);
        }
        (r.solve, r.flag, r.apply)
    } else {
        (
            solve_ms(ms, &catalog, &params).with_context(what)?,
            None,
            None,
        )
    };
    let solve_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    write_tables(&solved, ms, &bcal, &gcal).with_context(|| {
        format!(
            "writing the calibration tables {} and {}",
            bcal.display(),
            gcal.display()
        )
    })?;
    let write_s = t1.elapsed().as_secs_f64();
    let summary = solved.summary();
    let qa = &summary.qa;
    let refant_name = antennas
        .get(summary.refant as usize)
        .map(|(n, _)| n.clone());
    let note = if qa.passed {
        "QA passed".to_string()
    } else {
        format!(
            "QA failed ({}); the tables were written anyway, as CASA writes what it solved: \
             the pipeline never applies a set that failed QA, apply them only knowingly",
            qa.failures.join("; ")
        )
    };
    let flag_json = flagged.map(|r| {
        json!({
            "n_samples": r.n_samples,
            "n_flagged_before": r.n_flagged_before,
            "n_flagged": r.n_flagged,
            "fraction": num(r.fraction),
            "per_spw": r.per_spw.iter().map(|f| num(*f)).collect::<Vec<_>>(),
        })
    });
    let apply_json = applied.map(|r| {
        json!({
            "column": "CORRECTED_DATA",
            "n_corrected": r.n_corrected,
            "n_newly_flagged": r.n_newly_flagged,
        })
    });
    print_json(&json!({
        "ms": path_json(ms),
        "flagged": flag_json,
        "applied": apply_json,
        "calibrator": summary.calibrator,
        "calibrator_offset_deg": num(summary.calibrator_offset_deg),
        "transit_in_group": solved.calibrator.transit_in_group,
        "pointing_dec_deg": num(solved.pointing_dec_rad.to_degrees()),
        "refant": summary.refant,
        "refant_name": refant_name,
        "refant_requested": args.refant,
        "snr": {"median_b": num(qa.median_snr_b), "median_g": num(qa.median_snr_g)},
        "flagged_fraction": {"b": num(qa.flagged_fraction_b), "g": num(qa.flagged_fraction_g)},
        "scatter": {"amp_g": num(qa.amp_scatter_g), "phase_g_deg": num(qa.phase_scatter_g_deg)},
        "qa": {"passed": qa.passed, "failures": qa.failures, "thresholds": params.qa},
        "tables_written": true,
        "tables": {"bandpass": path_json(&bcal), "gain": path_json(&gcal)},
        "n_spw": solved.solutions.bandpass.len(),
        "note": note,
        "timings": {
            // with --flag/--apply: flagging, solving and applying together
            "solve_s": solve_s,
            "write_s": write_s,
            // with --flag: its share of solve_s (reading the amplitudes, flagging)
            "flag_s": flag_s,
        },
    }));
    Ok(if qa.passed {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}

fn apply(ms: &Path, tables: &[PathBuf]) -> Result<Outcome> {
    for t in tables {
        if !t.is_dir() || !t.join("table.dat").is_file() {
            bail!(
                "no calibration table at {} (a casacore table directory with table.dat)",
                t.display()
            );
        }
    }
    let t0 = Instant::now();
    let report = apply_tables(ms, tables).with_context(|| {
        format!(
            "applying {} to {}",
            tables
                .iter()
                .map(|t| t.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            ms.display()
        )
    })?;
    print_json(&json!({
        "ms": path_json(ms),
        "tables": tables.iter().map(|t| path_json(t)).collect::<Vec<_>>(),
        "column": "CORRECTED_DATA",
        "n_corrected": report.n_corrected,
        "n_newly_flagged": report.n_newly_flagged,
        "seconds": t0.elapsed().as_secs_f64(),
    }));
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn names() -> Vec<(String, String)> {
        ["DSA-001", "DSA-002", "7", "DSA-004"]
            .iter()
            .map(|n| (n.to_string(), format!("ST-{n}")))
            .collect()
    }

    #[test]
    fn refant_by_name_station_or_row() {
        let n = names();
        assert_eq!(resolve_refant("DSA-002", &n).unwrap(), 1);
        assert_eq!(resolve_refant(" DSA-004 ", &n).unwrap(), 3);
        assert_eq!(resolve_refant("ST-DSA-001", &n).unwrap(), 0);
        // a name that looks like a number wins over the row number
        assert_eq!(resolve_refant("7", &n).unwrap(), 2);
        assert_eq!(resolve_refant("1", &n).unwrap(), 1);
        let e = resolve_refant("9", &n).unwrap_err().to_string();
        assert!(e.contains("beyond the ANTENNA table (4 rows)"), "{e}");
        let e = resolve_refant("DSA-099", &n).unwrap_err().to_string();
        assert!(e.contains("\"DSA-099\" is not in the ANTENNA table"), "{e}");
    }
}
