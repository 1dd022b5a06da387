//! `simulate` and the demo's data.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use dsa110_astro::ObsTime;
use dsa110_sim::{
    simulate_group, simulate_group_like_correlator, CorrelatorMode, Scale, SimConfig,
};

/// Options of `simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Size preset: tiny (a few MB per group), small (~200 MB), full (the real size, ~2.3 GB).
    #[arg(long, default_value = "tiny")]
    pub scale: String,
    /// Output directory; the 16 files and the truth file land directly in it.
    #[arg(long)]
    pub out: PathBuf,
    /// Start of the observation (UTC), e.g. 2025-10-02T00:12:00.
    #[arg(long)]
    pub start: Option<String>,
    /// Pointing declination (deg).
    #[arg(long)]
    pub dec: Option<f64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Active antennas (1..=117).
    #[arg(long)]
    pub nants: Option<usize>,
    /// Integrations per file.
    #[arg(long)]
    pub ntimes: Option<usize>,
    /// Channels per subband (divides 48).
    #[arg(long)]
    pub nchan: Option<usize>,
    /// Subbands to write, comma-separated (default all 16).
    #[arg(long, value_delimiter = ',')]
    pub subbands: Option<Vec<u8>>,
    /// Thermal noise scale (1 = the real SEFD); `0` turns noise off.
    #[arg(long)]
    pub noise_scale: Option<f64>,
    /// Unit gains (no bandpass).
    #[arg(long)]
    pub unit_gains: bool,
    /// Add RFI.
    #[arg(long)]
    pub rfi: bool,
    /// Write like the correlator: `_incomplete` names, growing files, renamed when done, shuffled subbands.
    #[arg(long)]
    pub correlator: bool,
    /// With --correlator: pause between integrations (ms).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// The station table.
    #[arg(long)]
    pub stations: Option<PathBuf>,
}

fn scale(s: &str) -> Result<Scale> {
    Scale::parse(s).with_context(|| format!("unknown --scale {s:?}: expected tiny, small or full"))
}

fn config(a: &SimulateArgs) -> Result<SimConfig> {
    let mut cfg = SimConfig::for_scale(scale(&a.scale)?, &a.out);
    if let Some(s) = &a.start {
        cfg.start = ObsTime::from_iso(s).with_context(|| format!("--start {s:?}"))?;
    }
    if let Some(d) = a.dec {
        cfg.dec_deg = d;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(n) = a.nants {
        cfg.nants = n;
    }
    if let Some(n) = a.ntimes {
        cfg.ntimes = n;
    }
    if let Some(n) = a.nchan {
        cfg.nchan_per_sb = n;
    }
    if let Some(s) = &a.subbands {
        cfg.subbands = s.clone();
    }
    if let Some(x) = a.noise_scale {
        cfg.noise_scale = (x > 0.0).then_some(x);
    }
    cfg.unit_gains |= a.unit_gains;
    cfg.rfi |= a.rfi;
    if let Some(p) = &a.stations {
        cfg.stations_csv = p.clone();
    }
    cfg.validate()?;
    Ok(cfg)
}

#[allow(clippy::print_stdout)]
pub fn run(a: &SimulateArgs) -> Result<()> {
    let cfg = config(a)?;
    let summary = if a.correlator {
        simulate_group_like_correlator(
            &cfg,
            &CorrelatorMode {
                shuffle_subbands: true,
                delay_per_integration: Duration::from_millis(a.delay_ms),
            },
        )?
    } else {
        simulate_group(&cfg)?
    };
    println!(
        "group {}: {} files, {:.1} MB in {:.2} s ({:.0} MB/s); truth {}",
        summary.group_id,
        summary.files.len(),
        summary.bytes_written as f64 / 1e6,
        summary.total_s,
        summary.bytes_written as f64 / 1e6 / summary.total_s.max(1e-9),
        summary.truth_path.display()
    );
    Ok(())
}

/// The demo's input: four consecutive observations (309 s apart) written the
/// way the correlator writes them into DIR/incoming — two complete, one missing
/// sb07, one whose sb05 is truncated (a corrupt file).
pub fn demo_groups(dir: &Path, scale_name: &str) -> Result<()> {
    let incoming = dir.join("incoming");
    let truth = dir.join("truth");
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&incoming)?;
    std::fs::create_dir_all(&truth)?;
    let start = ObsTime::from_iso("2025-10-02T00:12:00")?;
    for g in 0..4u64 {
        let mut cfg = SimConfig::for_scale(scale(scale_name)?, &incoming);
        cfg.start = start.plus_seconds(309.0 * g as f64)?;
        cfg.seed = 100 + g;
        if g == 2 {
            cfg.subbands = (0..16).filter(|&s| s != 7).collect();
        }
        let summary = simulate_group_like_correlator(&cfg, &CorrelatorMode::default())?;
        // truth files live beside, not among, the correlator's files
        for p in [&summary.truth_path, &summary.gains_path] {
            if let Some(name) = p.file_name() {
                std::fs::rename(p, truth.join(name))?;
            }
        }
        if g == 3 {
            let victim = summary
                .files
                .iter()
                .find(|f| f.to_string_lossy().ends_with("_sb05.hdf5"))
                .context("no sb05 file in the demo group")?;
            truncate_to_half(victim)?;
        }
        tracing::info!(group = %summary.group_id, files = summary.files.len(),
            note = match g { 2 => "missing sb07", 3 => "sb05 truncated (corrupt)", _ => "complete" },
            "demo group written");
    }
    Ok(())
}

fn truncate_to_half(path: &Path) -> Result<()> {
    let len = std::fs::metadata(path)?.len();
    if len < 2 {
        bail!("{} is too small to truncate", path.display());
    }
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(len / 2)?;
    Ok(())
}
