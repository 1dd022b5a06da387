//! WSClean images a simulated group from our MS — no `-field`, no phase-shift
//! options — and finds every injected source at its true position (≤ 2″) with
//! its apparent flux (≤ 3 %), using every integration and channel.

use std::process::Command;

use dsa110_astro::{Eop, ObsTime, Site};
use dsa110_sim::sky::meridian_icrs_deg;
use dsa110_sim::{simulate_group, Scale, SimConfig, SourceSpec};
use serde_json::Value;

use crate::common::{convert_once, only_ms, run_py, script, stderr, TestResult};

#[test]
fn wsclean_finds_every_source_at_its_position_and_flux() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let input = tmp.path().join("incoming");
    let truth_dir = tmp.path().join("truth");
    let output = tmp.path().join("ms");
    std::fs::create_dir_all(&input)?;
    std::fs::create_dir_all(&truth_dir)?;

    let mut cfg = SimConfig::for_scale(Scale::Small, &truth_dir);
    cfg.nants = 24; // includes outriggers: baselines to 2.7 km
    cfg.ntimes = 24; // a whole group: WSClean must use all 24 integrations
    cfg.nchan_per_sb = 4;
    cfg.noise_scale = None;
    cfg.unit_gains = true; // no calibration stage yet: the data must not need one
    cfg.seed = 5;
    cfg.start = ObsTime::from_iso("2025-10-02T00:12:00")?;
    let t_mid = cfg
        .start
        .plus_seconds(cfg.ntimes as f64 * cfg.int_time_s() / 2.0)?;
    let (ra0, dec0) = meridian_icrs_deg(
        &t_mid,
        &Site::dsa110(),
        &Eop::default(),
        cfg.dec_deg.to_radians(),
    )?;
    let cosd = dec0.to_radians().cos();
    cfg.sources = [
        (0.3, -0.2, 3.0, -0.7),
        (-0.5, 0.4, 1.5, -0.9),
        (0.1, 0.6, 0.8, -0.5),
        (-0.55, -0.5, 2.0, -0.8),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(dx, dy, s, alpha))| {
        let mut src = SourceSpec::point(&format!("src{i}"), ra0 + dx / cosd, dec0 + dy, s);
        src.spectral_index = alpha;
        src
    })
    .collect();
    let g = simulate_group(&cfg)?;
    for f in &g.files {
        std::fs::rename(f, input.join(f.file_name().unwrap()))?;
    }
    let o = convert_once(&input, &output, &tmp.path().join("q.sqlite3"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ms = only_ms(&output);

    let prefix = tmp.path().join("img");
    let out = Command::new("wsclean")
        .args([
            "-use-wgridder",
            "-parallel-gridding",
            "2",
            "-size",
            "1600",
            "1600",
            "-scale",
            "4asec",
        ])
        .args([
            "-weight", "briggs", "0", "-niter", "800", "-nmiter", "4", "-mgain", "0.85",
        ])
        .args(["-threshold", "0.002", "-no-update-model-required", "-name"])
        .arg(&prefix)
        .arg(&ms)
        .output()?;
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wsclean failed:\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // every integration and channel of every cross-correlation was gridded: no extra flags
    let n_cross = cfg.nants * (cfg.nants - 1) / 2;
    let want = (cfg.ntimes * n_cross * 16 * cfg.nchan_per_sb) as f64;
    let gridded: f64 = log
        .lines()
        .filter_map(|l| l.strip_prefix("Gridded visibility count: "))
        .filter_map(|v| v.trim().parse().ok())
        .next()
        .expect("WSClean reports the gridded visibility count");
    assert!(
        (gridded - want).abs() < 0.5,
        "WSClean gridded {gridded} visibilities, want {want}"
    );

    let image = format!("{}-image.fits", prefix.display());
    let measured: Value = serde_json::from_str(&run_py(&[
        &script("wsclean_sources.py"),
        &g.truth_path,
        &image,
    ]))?;
    for m in measured.as_array().unwrap() {
        eprintln!("{m}");
        let sep = m["sep_arcsec"].as_f64().unwrap();
        let ratio = m["ratio"].as_f64().unwrap();
        assert!(
            sep < 2.0,
            "{} found {sep:.2}″ from its true position",
            m["name"]
        );
        assert!(
            (ratio - 1.0).abs() < 0.03,
            "{} flux ratio {ratio:.4}",
            m["name"]
        );
    }
    assert_eq!(measured.as_array().unwrap().len(), 4);
    Ok(())
}
