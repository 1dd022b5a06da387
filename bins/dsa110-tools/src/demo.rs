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
    println!(
        "\nTry: sqlite3 {} \"SELECT state, COUNT(*) FROM processing_queue GROUP BY state\"",
        db.display()
    );
    Ok(())
}
