//! `dsa110-tools lightcurve SOURCE --queue-db DB [--png FILE] [--format table|csv|json]`:
//! one source's light curve from the queue's `photometry` table (oldest epoch
//! first; the database is opened read-only) with its `variability_stats` row
//! when there is one, and optionally a PNG plot of flux against MJD with 1σ
//! error bars.
//!
//! Columns: MJD, peak flux (Jy/beam), its error, the normalised flux (the
//! epoch-normalised value the pipeline recorded, empty when none), the flux
//! relative to the light curve's median, SNR, and the image measured.
//!
//! Exit status: 0 listed; 2 no such database, unknown source (no photometry
//! rows), unreadable database, or the PNG cannot be written.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use dsa110_queue::{PhotometryRecord, Queue, VariabilityRecord};
use serde_json::json;

use crate::plot;
use crate::science::{num, path_json, print_json, print_text, Outcome};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON document.
    Json,
}

/// Arguments of `lightcurve`.
#[derive(Debug, clap::Args)]
pub struct LightcurveArgs {
    /// The source name (the catalogue name, `photometry.source_id`).
    pub source: String,
    /// The queue database (SQLite), opened read-only.
    #[arg(long)]
    pub queue_db: PathBuf,
    /// Also write a PNG plot of flux against MJD here.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn opt(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn cell(v: f64, prec: usize) -> String {
    if v.is_finite() {
        format!("{v:.prec$}")
    } else {
        String::new()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The light curve as aligned text.
pub fn to_table(
    source: &str,
    rows: &[PhotometryRecord],
    rel: &[f64],
    var: Option<&VariabilityRecord>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "source {source}: {} epochs", rows.len());
    let _ = writeln!(
        s,
        "{:<14} {:>12} {:>11} {:>12} {:>8} {:>8}  image",
        "mjd", "flux_jy", "err_jy", "norm_flux_jy", "rel", "snr"
    );
    for (r, rel) in rows.iter().zip(rel) {
        let _ = writeln!(
            s,
            "{:<14.6} {:>12} {:>11} {:>12} {:>8} {:>8}  {}",
            r.mjd,
            cell(opt(r.peak_flux_jy), 6),
            cell(opt(r.peak_flux_err_jy), 6),
            cell(opt(r.norm_flux_jy), 6),
            cell(*rel, 4),
            cell(opt(r.snr), 1),
            r.image_path.display()
        );
    }
    if let Some(v) = var {
        let f = |x: Option<f64>, p: usize| x.map_or("-".to_string(), |x| format!("{x:.p$}"));
        let _ = writeln!(
            s,
            "variability ({} epochs): eta {} V {} chi2_nu {} max_sigma_dev {} m {} Vs_max {}; candidate: {}",
            v.n_epochs,
            f(v.eta, 3),
            f(v.v, 4),
            f(v.chi2_nu, 3),
            f(v.max_sigma_dev, 2),
            f(v.m, 4),
            f(v.vs_max, 2),
            if v.is_candidate {
                format!("yes ({})", v.candidate_reason.as_deref().unwrap_or(""))
            } else {
                "no".to_string()
            }
        );
    }
    s
}

/// The light curve as CSV.
pub fn to_csv(rows: &[PhotometryRecord], rel: &[f64]) -> String {
    let mut s = String::from(
        "mjd,peak_flux_jy,peak_flux_err_jy,norm_flux_jy,norm_flux_err_jy,rel_flux,snr,local_rms_jy,pb,flags,image_path\n",
    );
    for (r, rel) in rows.iter().zip(rel) {
        let _ = writeln!(
            s,
            "{:.8},{},{},{},{},{},{},{},{},{},{}",
            r.mjd,
            cell(opt(r.peak_flux_jy), 8),
            cell(opt(r.peak_flux_err_jy), 8),
            cell(opt(r.norm_flux_jy), 8),
            cell(opt(r.norm_flux_err_jy), 8),
            cell(*rel, 6),
            cell(opt(r.snr), 3),
            cell(opt(r.local_rms_jy), 8),
            cell(opt(r.pb), 5),
            r.flags.map(|f| f.to_string()).unwrap_or_default(),
            csv_field(&r.image_path.display().to_string()),
        );
    }
    s
}

/// `lightcurve`.
pub fn run(args: &LightcurveArgs) -> Result<Outcome> {
    let db = &args.queue_db;
    if !db.is_file() {
        bail!("no queue database at {}", db.display());
    }
    let queue =
        Queue::open_readonly(db).with_context(|| format!("cannot open {}", db.display()))?;
    let rows = queue
        .photometry_for_source(&args.source, None, None)
        .with_context(|| format!("reading the photometry table of {}", db.display()))?;
    if rows.is_empty() {
        let (similar, _) = queue
            .list_sources(Some(&args.source), 5, 0)
            .with_context(|| format!("listing sources in {}", db.display()))?;
        let hint = if similar.is_empty() {
            String::new()
        } else {
            format!(
                " (similar names: {})",
                similar
                    .iter()
                    .map(|s| s.source_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        bail!(
            "unknown source {:?}: no photometry rows in {}{hint}",
            args.source,
            db.display()
        );
    }
    let var = queue
        .variability(&args.source)
        .with_context(|| format!("reading variability_stats of {}", db.display()))?;
    let med = median(rows.iter().map(|r| opt(r.peak_flux_jy)).collect());
    let rel: Vec<f64> = rows.iter().map(|r| opt(r.peak_flux_jy) / med).collect();
    if let Some(png) = &args.png {
        let pts: Vec<plot::Point> = rows
            .iter()
            .map(|r| (r.mjd, opt(r.peak_flux_jy), opt(r.peak_flux_err_jy)))
            .collect();
        let canvas = plot::draw(&pts, "MJD", "FLUX (JY)");
        plot::write_png(&canvas, png)?;
    }
    match args.format {
        Format::Table => print_text(&to_table(&args.source, &rows, &rel, var.as_ref())),
        Format::Csv => print_text(&to_csv(&rows, &rel)),
        Format::Json => {
            let points: Vec<_> = rows
                .iter()
                .zip(&rel)
                .map(|(r, rel)| {
                    json!({
                        "mjd": r.mjd,
                        "peak_flux_jy": r.peak_flux_jy.map(num),
                        "peak_flux_err_jy": r.peak_flux_err_jy.map(num),
                        "norm_flux_jy": r.norm_flux_jy.map(num),
                        "norm_flux_err_jy": r.norm_flux_err_jy.map(num),
                        "rel_flux": num(*rel),
                        "snr": r.snr.map(num),
                        "local_rms_jy": r.local_rms_jy.map(num),
                        "pb": r.pb.map(num),
                        "flags": r.flags,
                        "image_path": path_json(&r.image_path),
                        "group_id": r.group_id.as_ref().map(|g| g.to_string()),
                    })
                })
                .collect();
            print_json(&json!({
                "source": args.source,
                "n_epochs": rows.len(),
                "median_flux_jy": num(med),
                "variability": var,
                "png": args.png.as_deref().map(path_json),
                "points": points,
            }));
        }
    }
    Ok(Outcome::Ok)
}
