//! The demo's input data and report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

/// Options of `demo-data`.
#[derive(Args, Debug)]
pub struct DemoDataArgs {
    /// The demo directory (input goes to DIR/incoming).
    #[arg(long)]
    pub dir: PathBuf,
    /// Simulation scale.
    #[arg(long, default_value = "tiny")]
    pub scale: String,
}

pub fn data(args: &DemoDataArgs) -> Result<()> {
    crate::simulate::demo_groups(&args.dir, &args.scale)
}

#[allow(clippy::print_stdout)]
pub fn report(dir: &Path) -> Result<()> {
    let db = dir.join("state/db/pipeline.sqlite3");
    let queue = dsa110_queue::Queue::open_readonly(&db)
        .with_context(|| format!("opening {}", db.display()))?;
    println!("\nQueue {}:", db.display());
    for (state, n) in queue.counts_by_state()? {
        println!("  {:<12} {n}", state.as_str());
    }
    let (groups, _) = queue.list_groups(None, 100, 0)?;
    println!("\nGroups:");
    for g in &groups {
        let perf = queue.performance(&g.group_id)?;
        let secs = perf
            .and_then(|p| p.total_time_s)
            .map_or(String::new(), |s| format!("{s:.2} s"));
        println!(
            "  {}  {:<10} {:>8}  {}",
            g.group_id,
            g.state.as_str(),
            secs,
            g.error_message.clone().unwrap_or_default()
        );
        for ms in queue.ms_for_group(&g.group_id)? {
            println!(
                "      → {} ({} spw, {} rows, {} flagged subbands, {:.1} MB, phase centre {:.4}°, {:.4}°)",
                ms.path.display(),
                ms.n_spw.unwrap_or(0),
                ms.n_rows.unwrap_or(0),
                ms.n_missing_subbands.unwrap_or(0),
                ms.size_bytes.unwrap_or(0) as f64 / 1e6,
                ms.ra_deg.unwrap_or(f64::NAN),
                ms.dec_deg.unwrap_or(f64::NAN),
            );
        }
    }
    science_report(&queue)?;
    println!(
        "\nTry: sqlite3 {} \"SELECT state, COUNT(*) FROM processing_queue GROUP BY state\"",
        db.display()
    );
    Ok(())
}

/// Calibration sets, images (with their previews) and light curves of the demo.
#[allow(clippy::print_stdout)]
fn science_report(queue: &dsa110_queue::Queue) -> Result<()> {
    let (sets, _) = queue.list_cal_sets(None, 20, 0)?;
    println!("\nCalibration sets:");
    if sets.is_empty() {
        println!("  (none)");
    }
    for s in &sets {
        println!(
            "  {}  {:<7} calibrator {}  refant {}  valid MJD {:.4}..{:.4}{}",
            s.set_name,
            s.status.as_str(),
            s.calibrator.as_deref().unwrap_or("?"),
            s.refant.as_deref().unwrap_or("?"),
            s.valid_start_mjd.unwrap_or(f64::NAN),
            s.valid_end_mjd.unwrap_or(f64::NAN),
            s.error
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        );
        for t in &s.tables {
            println!("      {} {}", t.table_type.as_str(), t.path.display());
        }
    }
    let (images, _) = queue.list_images(Some(dsa110_queue::ImageType::Image), 50, 0)?;
    println!("\nImages (restored; -residual, -model, -psf, -pb, -image-pb beside each):");
    if images.is_empty() {
        println!("  (none)");
    }
    for im in images.iter().rev() {
        let png = im.path.with_extension("png");
        let cal = match queue.ms_status(im.ms_path.clone().unwrap_or_default())? {
            Some(st) if st.cal_applied == Some(true) => "calibrated",
            _ => "UNCALIBRATED",
        };
        println!(
            "  {}  {cal}  beam {:.1}\"×{:.1}\"  rms {:.2} mJy/beam  DR {:.0}",
            im.path.display(),
            im.beam_major_arcsec.unwrap_or(f64::NAN),
            im.beam_minor_arcsec.unwrap_or(f64::NAN),
            im.noise_jy.unwrap_or(f64::NAN) * 1e3,
            im.dynamic_range.unwrap_or(f64::NAN),
        );
        if png.is_file() {
            println!("      preview: {}", png.display());
        }
    }
    let (sources, _) = queue.list_sources(None, 100, 0)?;
    if sources.is_empty() {
        println!("\nLight curves: (no photometry)");
        return Ok(());
    }
    println!("\nLight curves (intrinsic flux = image flux / primary beam; normalised by the epoch's flux scale):");
    for src in &sources {
        let rows = queue.photometry_for_source(&src.source_id, None, None)?;
        let truth = rows.first().and_then(|r| r.catalog_flux_jy);
        println!(
            "  {}  (catalogue {} mJy)",
            src.source_id,
            truth.map_or("?".to_owned(), |f| format!("{:.0}", f * 1e3))
        );
        for r in &rows {
            println!(
                "      MJD {:.5}  {:>8.1} ± {:>5.1} mJy  (normalised {:>8.1})  SNR {:>6.1}  pb {:.2}",
                r.mjd,
                r.int_flux_jy.unwrap_or(f64::NAN) * 1e3,
                r.int_flux_err_jy.unwrap_or(f64::NAN) * 1e3,
                r.norm_flux_jy.unwrap_or(f64::NAN) * 1e3,
                r.snr.unwrap_or(f64::NAN),
                r.pb.unwrap_or(f64::NAN),
            );
        }
        if let Some(v) = queue.variability(&src.source_id)? {
            println!(
                "      variability: {} epochs, eta {:.2}, V {:.3}, candidate: {}",
                v.n_epochs,
                v.eta.unwrap_or(f64::NAN),
                v.v.unwrap_or(f64::NAN),
                if v.is_candidate {
                    v.candidate_reason.unwrap_or_else(|| "yes".into())
                } else {
                    "no".into()
                }
            );
        }
    }
    Ok(())
}
