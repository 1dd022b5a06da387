//! `simulate` and the demo's data.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use dsa110_astro::ObsTime;
use dsa110_sim::{
    simulate_group, simulate_group_like_correlator, CorrelatorMode, Scale, SimConfig, SourceSpec,
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
    /// A calibrator of the built-in VLA table (e.g. 3C286) as the whole sky: its
    /// point source (flux, spectral index), the pointing at its declination and
    /// the group centred on its transit nearest the preset start (--dec and
    /// --start override the last two).
    #[arg(long)]
    pub calibrator: Option<String>,
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
    if let Some(name) = &a.calibrator {
        let catalog = dsa110_calibration::Catalog::built_in();
        let cal = catalog
            .get(name)
            .with_context(|| {
                format!("--calibrator {name:?} is not in the built-in calibrator table")
            })?
            .clone();
        if a.dec.is_none() {
            cfg.dec_deg = cal.dec_deg;
        }
        if a.start.is_none() {
            let beam = dsa110_calibration::BeamGeometry::dsa110(cfg.dec_deg.to_radians());
            let transit =
                dsa110_calibration::transit::transit_time_jd(&cal, cfg.start.jd_utc(), &beam)?;
            let half_s = 0.5 * cfg.ntimes as f64 * cfg.int_time_s();
            cfg.start = ObsTime::from_jd_utc(transit - half_s / 86_400.0)?;
        }
        let mut source = SourceSpec::point(&cal.name, cal.ra_deg, cal.dec_deg, cal.flux_jy);
        source.spectral_index = cal.spectral_index;
        cfg.sources = vec![source];
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
/// Pointing declination of the demo: 3C286's strip.
const DEMO_DEC_DEG: f64 = 30.5;
/// Sidereal degrees per second.
const SIDEREAL_DEG_S: f64 = 360.985_647_366 / 86_400.0;
/// The demo's target groups start this long after the calibrator group.
const DEMO_TARGET_OFFSET_S: f64 = 7200.0;

/// The demo's observation: a 3C286 transit, then four target groups two hours later
/// (one missing sb07, one with sb05 truncated), all at Dec +30.5° with the same antennas
/// and gains; the target field's compact sources go to `DIR/field.csv` (the photometry
/// catalogue) and the truth files to `DIR/truth/`.
pub fn demo_groups(dir: &Path, scale_name: &str) -> Result<()> {
    let incoming = dir.join("incoming");
    let truth = dir.join("truth");
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&incoming)?;
    std::fs::create_dir_all(&truth)?;
    let catalog = dsa110_calibration::Catalog::built_in();
    let cal = catalog
        .get("3C286")
        .context("3C286 is not in the built-in calibrator catalogue")?
        .clone();
    let beam = dsa110_calibration::BeamGeometry::dsa110(DEMO_DEC_DEG.to_radians());
    let near = ObsTime::from_iso("2025-10-02T00:00:00")?.jd_utc();
    let transit = dsa110_calibration::transit::transit_time_jd(&cal, near, &beam)?;
    let base = |start: ObsTime| -> Result<SimConfig> {
        let mut cfg = SimConfig::for_scale(scale(scale_name)?, &incoming);
        if scale_name == "tiny" {
            // enough antennas and integrations for a calibration solve, still a few MB
            cfg.nants = 24;
            cfg.ntimes = 8;
            cfg.nchan_per_sb = 4;
        }
        cfg.start = start;
        cfg.dec_deg = DEMO_DEC_DEG;
        cfg.seed = 110;
        Ok(cfg)
    };
    let half_s = 0.5
        * base(ObsTime::from_jd_utc(transit)?)?.ntimes as f64
        * dsa110_astro::constants::INTEGRATION_TIME_S;
    let cal_start = ObsTime::from_jd_utc(transit - half_s / 86_400.0)?;
    // the target field: sources around the meridian of the middle target groups
    let ra_mid = cal.ra_deg + (DEMO_TARGET_OFFSET_S + 1.5 * 309.0) * SIDEREAL_DEG_S;
    let field: Vec<SourceSpec> = [
        ("J1531+3036", 0.00, 0.10, 2.5),
        ("J1532+3022", 0.25, -0.13, 1.8),
        ("J1530+3031", -0.30, 0.02, 1.2),
        ("J1531+3040", 0.10, 0.17, 0.9),
        ("J1533+3029", 0.45, -0.02, 0.7),
        ("J1529+3027", -0.50, -0.05, 0.6),
    ]
    .iter()
    .map(|&(name, dra, ddec, flux)| {
        SourceSpec::point(name, ra_mid + dra, DEMO_DEC_DEG + ddec, flux)
    })
    .collect();
    let mut csv = String::from("name,ra_deg,dec_deg,flux_mjy\n");
    for s in &field {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.1}\n",
            s.name,
            s.ra_deg.rem_euclid(360.0),
            s.dec_deg,
            s.flux_jy * 1e3
        ));
    }
    let csv_path = dir.join("field.csv");
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
    let mut calibrator = SourceSpec::point("3C286", cal.ra_deg, cal.dec_deg, cal.flux_jy);
    calibrator.spectral_index = cal.spectral_index;
    let mut groups = vec![(base(cal_start)?, "3C286 transit (calibrator)")];
    for g in 0..4u32 {
        let mut cfg = base(cal_start.plus_seconds(DEMO_TARGET_OFFSET_S + 309.0 * f64::from(g))?)?;
        cfg.sources = field.clone();
        let note = match g {
            2 => {
                cfg.subbands = (0..16).filter(|&s| s != 7).collect();
                "target, missing sb07"
            }
            3 => "target, sb05 truncated (corrupt)",
            _ => "target",
        };
        groups.push((cfg, note));
    }
    groups[0].0.sources = vec![calibrator];
    for (i, (cfg, note)) in groups.iter().enumerate() {
        let summary = simulate_group_like_correlator(cfg, &CorrelatorMode::default())?;
        // truth files live beside, not among, the correlator's files
        for p in [&summary.truth_path, &summary.gains_path] {
            if let Some(name) = p.file_name() {
                std::fs::rename(p, truth.join(name))?;
            }
        }
        if i == 4 {
            let victim = summary
                .files
                .iter()
                .find(|f| f.to_string_lossy().ends_with("_sb05.hdf5"))
                .context("no sb05 file in the demo group")?;
            truncate_to_half(victim)?;
        }
        tracing::info!(group = %summary.group_id, files = summary.files.len(), note, "demo group written");
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
