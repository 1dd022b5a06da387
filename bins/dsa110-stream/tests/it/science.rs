//! The guide's quick start with the science stages: a calibrator transit and two target
//! groups two hours later go through `dsa110-stream --enable-calibration-solving
//! --enable-photometry`; the targets are calibrated with the calibrator's set (waiting
//! for it behind the fence), imaged, and their sources measured at their true fluxes.
//! A set that fails QA is never applied.

use std::path::Path;
use std::time::Duration;

use dsa110_astro::ObsTime;
use dsa110_calibration::transit::transit_time_jd;
use dsa110_calibration::{BeamGeometry, Catalog};
use dsa110_sim::{Scale, SimConfig, SourceSpec};

use crate::common::*;

/// Pointing declination: 3C286's strip.
const DEC_DEG: f64 = 30.5;
/// Sidereal degrees per second.
const SIDEREAL_DEG_S: f64 = 360.985_647_366 / 86_400.0;

/// A small group (24 antennas, 8 integrations, 4 channels per subband) starting at `start`.
fn group(out: &Path, start: ObsTime, sources: Vec<SourceSpec>) -> SimConfig {
    let mut cfg = SimConfig::for_scale(Scale::Tiny, out);
    cfg.start = start;
    cfg.dec_deg = DEC_DEG;
    cfg.nants = 24;
    cfg.ntimes = 8;
    cfg.nchan_per_sb = 4;
    cfg.seed = 7; // same seed: the same antennas and gains in every group
    cfg.jitter_s = 0.0;
    cfg.sources = sources;
    cfg
}

/// Start of a group in which 3C286 transits mid-group.
fn calibrator_start() -> (ObsTime, SourceSpec) {
    let cat = Catalog::built_in();
    let cal = cat.get("3C286").unwrap().clone();
    let beam = BeamGeometry::dsa110(DEC_DEG.to_radians());
    let near = ObsTime::from_iso("2025-10-02T00:00:00").unwrap().jd_utc();
    let transit = transit_time_jd(&cal, near, &beam).unwrap();
    let half = 4.0 * dsa110_astro::constants::INTEGRATION_TIME_S;
    let start = ObsTime::from_jd_utc(transit - half / 86_400.0).unwrap();
    let mut spec = SourceSpec::point("3C286", cal.ra_deg, cal.dec_deg, cal.flux_jy);
    spec.spectral_index = cal.spectral_index;
    (start, spec)
}

fn query_f64(db: &Path, sql: &str) -> Vec<f64> {
    let c = read_db(db);
    let mut s = c.prepare(sql).unwrap();
    s.query_map([], |r| r.get::<_, f64>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn query_strings(db: &Path, sql: &str) -> Vec<String> {
    let c = read_db(db);
    let mut s = c.prepare(sql).unwrap();
    s.query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .map(|r| r.unwrap().unwrap_or_default())
        .collect()
}

const SCIENCE: &[&str] = &[
    "--image-size",
    "1024",
    "--image-scale",
    "8",
    "--image-niter",
    "2000",
    "--workers",
    "2",
];

#[test]
fn quick_start_calibrates_images_and_measures_a_target_with_the_calibrator_set() {
    let dirs = Dirs::new();
    let (cal_start, cal_src) = calibrator_start();
    // two target groups two hours later, one group apart; three sources between their
    // meridians, so both images hold them
    let t_a = cal_start.plus_seconds(7200.0).unwrap();
    let t_b = t_a.plus_seconds(309.0).unwrap();
    let ra_mid = cal_src.ra_deg + (7200.0 + 309.0 / 2.0) * SIDEREAL_DEG_S;
    let targets = vec![
        SourceSpec::point("T1", ra_mid, DEC_DEG + 0.10, 3.0),
        SourceSpec::point("T2", ra_mid + 0.15, DEC_DEG - 0.12, 2.0),
        SourceSpec::point("T3", ra_mid - 0.2, DEC_DEG + 0.02, 1.5),
    ];
    let catalog = dirs.root().join("field.csv");
    let mut csv = String::from("name,ra_deg,dec_deg,flux_mjy\n");
    for s in &targets {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            s.name,
            s.ra_deg,
            s.dec_deg,
            s.flux_jy * 1e3
        ));
    }
    std::fs::write(&catalog, csv).unwrap();

    // the calibrator's solve is slowed once it is registered, so that the first target
    // reaches its apply step while the set is still being solved (the fence)
    let mut daemon = Daemon::start_with_env(
        &dirs,
        &[
            &[
                "--enable-calibration-solving",
                "--enable-photometry",
                "--photometry-catalog",
                catalog.to_str().unwrap(),
                // mosaics of 2 images overlapping by 1: the 3 images make 2
                "--mosaic-size",
                "2",
                "--mosaic-overlap",
                "1",
            ],
            SCIENCE,
        ]
        .concat(),
        &[("DSA110_FAULT_SLEEP", "calibration_solve.solving:12")],
    );
    let input = dirs.input();
    // the targets are simulated in advance and delivered once the solve is registered
    // (in real time they come two hours later; a target processed before the solve
    // begins has no set to wait for)
    // the same antennas' gains, two hours of slow drift later
    let drifted = |start| {
        let mut cfg = group(&dirs.staging(), start, targets.clone());
        cfg.gain_drift_hours = 2.0;
        dsa110_sim::simulate_group(&cfg).unwrap()
    };
    let sim_a = drifted(t_a);
    let staged_a = sim_a.files.clone();
    let staged_b = drifted(t_b).files;
    write_like_correlator(&group(&input, cal_start, vec![cal_src]));
    wait_for("the solve to begin", Duration::from_secs(60), || {
        dirs.db().exists().then_some(())?;
        let n: i64 = read_db(&dirs.db())
            .query_row("SELECT COUNT(*) FROM caltables", [], |r| r.get(0))
            .ok()?;
        (n > 0).then_some(())
    });
    deliver(&staged_a, &input);
    deliver(&staged_b, &input);

    let rows = wait_for("3 groups to finish", Duration::from_secs(240), || {
        let rows = groups(&dirs.db());
        (rows.len() == 3
            && rows
                .iter()
                .all(|r| r.state == "completed" || r.state == "failed"))
        .then_some(rows)
    });
    for r in &rows {
        assert_eq!(r.state, "completed", "{r:#?}\n{}", daemon.stderr());
    }
    let db = dirs.db();
    let (cal_gid, a_gid, b_gid) = (&rows[0].group_id, &rows[1].group_id, &rows[2].group_id);

    // the set: one, active, solved on 3C286 in the calibrator group
    let sets = query_strings(
        &db,
        "SELECT DISTINCT set_name || '|' || status || '|' || calibrator || '|' || group_id || '|' || COALESCE(error, '') FROM caltables",
    );
    assert_eq!(sets.len(), 1, "{sets:?}");
    let set = &sets[0];
    assert!(set.ends_with(&format!("|active|3C286|{cal_gid}|")), "{set}");
    let set_name = set.split('|').next().unwrap();
    for kind in ["bcal", "gcal"] {
        let p = dirs
            .output()
            .join("caltables")
            .join(format!("{set_name}.{kind}"));
        assert!(p.join("table.dat").is_file(), "{} missing", p.display());
    }
    solution_plots_are_served(&dirs, set_name);
    let has_cal = query_strings(
        &db,
        "SELECT group_id || ':' || has_calibrator || ':' || COALESCE(calibrators, '') FROM processing_queue ORDER BY group_id",
    );
    assert_eq!(
        has_cal,
        vec![
            format!("{cal_gid}:1:3C286"),
            format!("{a_gid}:0:"),
            format!("{b_gid}:0:")
        ]
    );

    // every group got the set: CORRECTED_DATA written, cal_applied = 1
    let applied = query_strings(
        &db,
        "SELECT group_id || ':' || success || ':' || COALESCE(set_name, '') FROM calibration_applied ORDER BY group_id",
    );
    let why = query_strings(&db, "SELECT COALESCE(error, '') FROM calibration_applied");
    assert_eq!(
        applied,
        [cal_gid, a_gid, b_gid]
            .iter()
            .map(|g| format!("{g}:1:{set_name}"))
            .collect::<Vec<_>>(),
        "{why:?}"
    );
    assert_eq!(
        query_f64(&db, "SELECT CAST(cal_applied AS REAL) FROM ms_index"),
        vec![1.0; 3]
    );

    // the fence: a target began its apply step before the solve finished, and waited
    let solve_done = query_f64(
        &db,
        &format!(
            "SELECT finished_at FROM group_stages WHERE group_id = '{cal_gid}' AND stage = 'calibration_solve'"
        ),
    )[0];
    let apply_started = query_f64(
        &db,
        &format!(
            "SELECT started_at FROM group_stages WHERE group_id = '{a_gid}' AND stage = 'calibration_apply'"
        ),
    )[0];
    assert!(
        apply_started < solve_done,
        "the target's apply started at {apply_started}, after the solve ended at {solve_done}\n{}",
        daemon.stderr()
    );
    assert!(
        daemon
            .stderr()
            .contains("waiting for a calibration solve in progress"),
        "{}",
        daemon.stderr()
    );

    // images: every product of every group, with its QA, and the PNG preview
    let images = query_strings(
        &db,
        "SELECT path FROM images WHERE type = 'image' ORDER BY path",
    );
    assert_eq!(images.len(), 3, "{images:?}");
    for g in [cal_gid, a_gid, b_gid] {
        let base = dirs.output().join("images").join(g);
        for kind in ["image", "residual", "model", "psf", "pb", "image-pb"] {
            let p = Path::new(&format!("{}-{kind}.fits", base.display())).to_path_buf();
            assert!(p.is_file(), "{} missing", p.display());
        }
        assert!(Path::new(&format!("{}-image.png", base.display())).is_file());
    }
    let noise = query_f64(&db, "SELECT noise_jy FROM images WHERE type = 'image'");
    assert!(noise.iter().all(|n| *n > 0.0 && *n < 0.5), "{noise:?}");

    // photometry: each target source in both target images, its intrinsic flux (the
    // image's value over the primary beam) within 5 % of the truth
    let c = read_db(&db);
    let mut stmt = c
        .prepare("SELECT source_id, int_flux_jy, int_flux_err_jy, snr FROM photometry ORDER BY source_id, mjd")
        .unwrap();
    let phot: Vec<(String, f64, f64, f64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for s in &targets {
        let rows: Vec<_> = phot.iter().filter(|p| p.0 == s.name).collect();
        assert_eq!(
            rows.len(),
            2,
            "{} measured {} times: {phot:?}",
            s.name,
            rows.len()
        );
        for (_, flux, err, snr) in rows {
            let rel = (flux - s.flux_jy) / s.flux_jy;
            eprintln!(
                "{}: {flux:.4} ± {err:.4} Jy (SNR {snr:.0}), truth {} Jy: {:+.2} %",
                s.name,
                s.flux_jy,
                100.0 * rel
            );
            assert!(
                rel.abs() < 0.02,
                "{}: {flux:.3} ± {err:.3} Jy (SNR {snr:.0}) vs {} Jy ({:+.1} %)",
                s.name,
                s.flux_jy,
                100.0 * rel
            );
        }
    }
    let var = query_strings(
        &db,
        "SELECT source_id || ':' || n_epochs FROM variability_stats ORDER BY source_id",
    );
    assert_eq!(var, vec!["T1:2", "T2:2", "T3:2"]);

    // mosaics of the declination strip, each primary-beam weighted over its 2 images
    let mosaics = query_strings(
        &db,
        "SELECT status || '|' || n_images || '|' || COALESCE(path, '') FROM mosaics ORDER BY start_mjd",
    );
    assert_eq!(mosaics.len(), 2, "{mosaics:?}\n{}", daemon.stderr());
    for m in &mosaics {
        let parts: Vec<&str> = m.split('|').collect();
        assert_eq!(&parts[..2], &["completed", "2"], "{m}");
        let fits = Path::new(parts[2]);
        assert!(fits.is_file(), "{m}");
        let base = parts[2].strip_suffix(".fits").unwrap();
        for extra in ["-weight.fits", "-noise.fits"] {
            assert!(
                Path::new(&format!("{base}{extra}")).is_file(),
                "{base}{extra}"
            );
        }
    }
    assert_eq!(
        query_f64(&db, "SELECT CAST(COUNT(*) AS REAL) FROM mosaic_images")[0],
        4.0
    );

    // monitoring
    let metrics = daemon.get("/metrics").body;
    assert_eq!(
        sample(&metrics, "dsa110_calibration_snr_count"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "dsa110_calibration_groups_total{outcome=\"applied\"}"
        ),
        Some(3.0)
    );
    assert_eq!(sample(&metrics, "dsa110_image_noise_jy_count"), Some(3.0));
    assert_eq!(
        sample(&metrics, "dsa110_photometry_rows_total"),
        Some(phot.len() as f64)
    );
    assert!(sample(&metrics, "dsa110_ms_flagged_fraction").is_some());
    assert!(
        sample(
            &metrics,
            "dsa110_calibration_newest_valid_set_timestamp_seconds"
        )
        .unwrap()
            > 1.7e9
    );
    let health = daemon.get("/health").json();
    assert!(!health.to_string().contains("uncalibrated"), "{health}");

    // on-demand mosaics, as `POST /api/mosaic/create` records them: one over the three
    // images, one over a range without images
    {
        use dsa110_queue::{JobState, NewJob, Queue};
        let q = Queue::open(&db).unwrap();
        let mjds = query_f64(&db, "SELECT mid_mjd FROM images WHERE type = 'image'");
        let lo = mjds.iter().copied().fold(f64::MAX, f64::min);
        let hi = mjds.iter().copied().fold(f64::MIN, f64::max);
        let make = |start: f64, end: f64| {
            let params = serde_json::json!({"start_mjd": start, "end_mjd": end}).to_string();
            q.create_job(
                &NewJob {
                    kind: "mosaic",
                    group_ids: &[],
                    params_json: Some(&params),
                    requested_by: Some("test"),
                },
                1.0e9,
            )
            .unwrap()
        };
        let (all, none) = (make(lo - 1e-4, hi + 1e-4), make(lo - 2.0, lo - 1.0));
        let finished = |id| {
            wait_for("a mosaic job to finish", Duration::from_secs(90), || {
                q.job(id)
                    .unwrap()
                    .filter(|j| matches!(j.state, JobState::Completed | JobState::Failed))
            })
        };
        let job = finished(all);
        assert_eq!(
            job.state,
            JobState::Completed,
            "{job:#?}\n{}",
            daemon.stderr()
        );
        let result: serde_json::Value =
            serde_json::from_str(job.result_json.as_deref().unwrap_or("null")).unwrap();
        let name = result["mosaic"].as_str().unwrap_or_default().to_string();
        assert!(name.starts_with(&format!("job{all}_dec+30.")), "{result}");
        let row = query_strings(
            &db,
            &format!("SELECT status || '|' || n_images || '|' || path FROM mosaics WHERE name = '{name}'"),
        );
        assert_eq!(row.len(), 1, "{row:?} {result}");
        let parts: Vec<&str> = row[0].split('|').collect();
        assert_eq!(&parts[..2], &["completed", "3"], "{row:?}");
        assert!(Path::new(parts[2]).is_file(), "{row:?}");
        assert_eq!(q.mosaic_images(&name).unwrap().len(), 3);
        let job = finished(none);
        assert_eq!(job.state, JobState::Failed, "{job:#?}");
        assert!(
            job.error
                .as_deref()
                .unwrap_or("")
                .contains("no image between"),
            "{job:#?}"
        );
    }
    daemon.stop_ok(Duration::from_secs(30));

    // WSClean, the field's own imager, on the first target's MS: its CORRECTED_DATA
    // holds every source within 2 % of the truth and 1/20 of the beam of its position;
    // its DATA (uncalibrated) does not.
    let ms = dirs.output().join(format!("{a_gid}.ms"));
    let corrected = wsclean_sources(&ms, "CORRECTED_DATA", &sim_a.truth_path);
    // our own restored image measured the same way, side by side
    let ours = dirs
        .output()
        .join("images")
        .join(format!("{a_gid}-image.fits"));
    for m in measure_sources(&ours, &sim_a.truth_path) {
        eprintln!("ours (same measurement): {m}");
    }
    for m in &corrected {
        eprintln!("WSClean CORRECTED_DATA: {m}");
    }
    for m in &corrected {
        // integrated flux (the fitted Gaussian's volume over the restoring beam's): CLEAN
        // spreads a point source off a pixel centre over its neighbours, which lowers its
        // restored peak by up to a few % at 4 pixels per beam, not its flux
        let ratio = m["int_ratio"].as_f64().unwrap();
        let sep = m["sep_arcsec"].as_f64().unwrap();
        let beam = m["bmaj_arcsec"].as_f64().unwrap();
        assert!((ratio - 1.0).abs() < 0.02, "flux off: {m}");
        assert!(
            sep < beam / 20.0,
            "position off by more than 1/20 of the beam: {m}"
        );
    }
    let raw = wsclean_sources(&ms, "DATA", &sim_a.truth_path);
    let worst = raw
        .iter()
        .map(|m| (m["int_ratio"].as_f64().unwrap_or(0.0) - 1.0).abs())
        .fold(0.0f64, f64::max);
    eprintln!(
        "WSClean DATA (uncalibrated): worst flux error {:.0} %",
        100.0 * worst
    );
    assert!(
        worst > 0.2,
        "the uncalibrated image should be wrong: {raw:?}"
    );
}

/// Images `column` of `ms` with WSClean 3.1 (Briggs 0, CLEAN to 1σ) and measures the
/// truth's sources in it with `wsclean_sources.py` (independent primary beam and
/// Gaussian fits in Python); one JSON object per source, plus the restoring beam.
/// The set's solutions, as `dsa110-api` serves them for the dashboard's plots (from
/// the overview the daemon wrote beside the tables): every antenna of the array, one
/// value per channel of every window and per integration, the reference antenna's
/// gain phases zero (CASA's convention) and the others' not.
fn solution_plots_are_served(dirs: &Dirs, set_name: &str) {
    let api = start_api(dirs, "plots");
    let url = format!("/api/v1/cal/sets/{set_name}/solutions");
    let get = |path: &str| -> serde_json::Value {
        let r = dsa110_test_support::http_get(api.port, path).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    };
    let d = get(&url);
    let antennas = d["antennas"].as_array().unwrap();
    assert_eq!(antennas.len(), 24, "the simulated array: {}", d["antennas"]);
    let refant = d["refant"].as_str().unwrap();
    assert_ne!(d["antenna"].as_str().unwrap(), refant);
    assert_eq!(d["receptors"], serde_json::json!(["X", "Y"]));
    let nchan = d["bandpass_freqs_mhz"].as_array().unwrap().len();
    let ntimes: usize = d["gain_windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["times_mjd"].as_array().unwrap().len())
        .sum();
    assert!(
        nchan >= 16 && ntimes >= 16,
        "{nchan} channels, {ntimes} gains"
    );
    let values = |v: &serde_json::Value| -> Vec<f64> {
        let mut out = Vec::new();
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Array(a) => stack.extend(a),
                serde_json::Value::Number(n) => out.push(n.as_f64().unwrap()),
                _ => {}
            }
        }
        out
    };
    let s = &d["solutions"];
    assert_eq!(
        values(&s["bandpass_amp"]).len(),
        2 * nchan,
        "one per channel and receptor"
    );
    assert_eq!(values(&s["gain_amp"]).len(), 2 * ntimes);
    assert!(values(&s["gain_amp"]).iter().all(|a| *a > 0.1 && *a < 10.0));
    assert!(values(&s["gain_phase_deg"]).iter().any(|p| p.abs() > 0.1));
    let r = get(&format!("{url}?antenna={refant}"));
    let phases = values(&r["solutions"]["gain_phase_deg"]);
    assert_eq!(phases.len(), 2 * ntimes);
    assert!(phases.iter().all(|p| p.abs() < 1e-3), "{phases:?}");
    let r = dsa110_test_support::http_get(api.port, &format!("{url}?antenna=NOPE")).unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("\"antenna\""), "{}", r.body);
}

fn wsclean_sources(ms: &Path, column: &str, truth: &Path) -> Vec<serde_json::Value> {
    let prefix = ms.with_file_name(format!(
        "wsclean-{}",
        column.to_lowercase().replace('_', "-")
    ));
    let out = std::process::Command::new("wsclean")
        .args([
            "-use-wgridder",
            "-j",
            "2",
            "-size",
            "256",
            "256",
            "-scale",
            "20asec",
        ])
        .args(["-weight", "briggs", "0", "-niter", "2000", "-mgain", "0.8"])
        .args(["-auto-threshold", "1", "-no-update-model-required"])
        .args(["-data-column", column, "-name"])
        .arg(&prefix)
        .arg(ms)
        .output()
        .expect("wsclean runs (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "wsclean failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    measure_sources(
        Path::new(&format!("{}-image.fits", prefix.display())),
        truth,
    )
}

/// The truth's sources measured in `image` by `wsclean_sources.py`.
fn measure_sources(image: &Path, truth: &Path) -> Vec<serde_json::Value> {
    let script = dsa110_test_support::workspace_root()
        .join("bins/dsa110-legacy-convert/tests/py/wsclean_sources.py");
    let json = dsa110_test_support::run_python(&[
        script.as_os_str(),
        truth.as_os_str(),
        image.as_os_str(),
    ]);
    serde_json::from_str::<serde_json::Value>(&json)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The target field of [`calibrator_start`]'s group (3C286 itself left out of the sky).
fn field_at(ra_deg: f64) -> Vec<SourceSpec> {
    vec![
        SourceSpec::point("T1", ra_deg, DEC_DEG + 0.10, 3.0),
        SourceSpec::point("T2", ra_deg + 0.15, DEC_DEG - 0.12, 2.0),
        SourceSpec::point("T3", ra_deg - 0.2, DEC_DEG + 0.02, 1.5),
    ]
}

fn write_catalog(path: &Path, sources: &[SourceSpec]) {
    let mut csv = String::from("name,ra_deg,dec_deg,flux_mjy\n");
    for s in sources {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            s.name,
            s.ra_deg,
            s.dec_deg,
            s.flux_jy * 1e3
        ));
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn a_set_that_fails_qa_is_never_applied_and_the_group_goes_on_uncalibrated() {
    let dirs = Dirs::new();
    // a "calibrator" where the sky has nothing: its model fits noise and the solve fails
    let (cal_start, cal_src) = calibrator_start();
    let catalog = dirs.root().join("calibrators.csv");
    std::fs::write(
        &catalog,
        format!(
            "name,ra_deg,dec_deg,flux_jy,spectral_index\nGHOST,{},{},5.0,0.0\n",
            cal_src.ra_deg, cal_src.dec_deg
        ),
    )
    .unwrap();
    // a target group 14 h later, beyond the 12 h validity of any set of the first
    let later = cal_start.plus_seconds(14.0 * 3600.0).unwrap();
    let field = field_at(
        cal_src.ra_deg + 14.0 * 3600.0 * SIDEREAL_DEG_S + 0.5 * 8.0 * 12.885 * SIDEREAL_DEG_S,
    );
    let field_csv = dirs.root().join("field.csv");
    write_catalog(&field_csv, &field);
    let mut daemon = Daemon::start(
        &dirs,
        &[
            &[
                "--enable-calibration-solving",
                "--calibrator-catalog",
                catalog.to_str().unwrap(),
                "--enable-photometry",
                "--photometry-catalog",
                field_csv.to_str().unwrap(),
            ],
            SCIENCE,
        ]
        .concat(),
    );
    // the "calibrator" group: the sky holds one faint source away from GHOST
    let faint = vec![SourceSpec::point(
        "faint",
        cal_src.ra_deg + 1.0,
        DEC_DEG,
        0.01,
    )];
    write_like_correlator(&group(&dirs.input(), cal_start, faint));
    write_like_correlator(&group(&dirs.input(), later, field.clone()));
    let rows = wait_for("the groups to finish", Duration::from_secs(120), || {
        let rows = groups(&dirs.db());
        (rows.len() == 2
            && rows
                .iter()
                .all(|r| r.state == "completed" || r.state == "failed"))
        .then_some(rows)
    });
    for r in &rows {
        assert_eq!(r.state, "completed", "{rows:#?}\n{}", daemon.stderr());
    }
    let db = dirs.db();
    let sets = query_strings(
        &db,
        "SELECT status || '|' || COALESCE(error, '') FROM caltables",
    );
    assert_eq!(sets.len(), 2, "B and G rows of one set: {sets:?}");
    for s in &sets {
        // below the SNR threshold: the solve fails (QA, or no solution survives the
        // per-solution SNR cut), and says why
        assert!(
            s.starts_with("failed|") && s.len() > "failed|".len() + 10,
            "{s}\n{}",
            daemon.stderr()
        );
    }
    let applied = query_strings(
        &db,
        "SELECT success || '|' || COALESCE(set_name, '') || '|' || COALESCE(error, '') FROM calibration_applied",
    );
    assert_eq!(applied.len(), 2, "{applied:?}");
    for a in &applied {
        assert!(a.starts_with("0||no valid calibration set"), "{applied:?}");
    }
    assert_eq!(
        query_f64(&db, "SELECT CAST(cal_applied AS REAL) FROM ms_index"),
        vec![0.0, 0.0]
    );
    // imaged from DATA all the same; with the antennas' gains uncorrected the sources'
    // fluxes are far from the truth (the calibrated run above finds them within 2 %)
    assert_eq!(
        query_strings(&db, "SELECT type FROM images WHERE type = 'image'").len(),
        2
    );
    let c = read_db(&db);
    let mut stmt = c
        .prepare("SELECT source_id, int_flux_jy FROM photometry ORDER BY source_id")
        .unwrap();
    let phot: Vec<(String, f64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let worst = field
        .iter()
        .map(|s| {
            phot.iter()
                .find(|p| p.0 == s.name)
                .map_or(1.0, |p| ((p.1 - s.flux_jy) / s.flux_jy).abs())
        })
        .fold(0.0, f64::max);
    eprintln!("uncalibrated fluxes: {phot:?}; worst relative error {worst:.2}");
    assert!(worst > 0.2, "uncalibrated fluxes look calibrated: {phot:?}");
    let health = daemon.get("/health").json();
    assert!(health.to_string().contains("uncalibrated"), "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    let metrics = daemon.get("/metrics").body;
    assert_eq!(
        sample(
            &metrics,
            "dsa110_calibration_solves_total{outcome=\"failed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "dsa110_calibration_groups_total{outcome=\"uncalibrated\"}"
        ),
        Some(2.0)
    );
    daemon.stop_ok(Duration::from_secs(30));
}

#[test]
fn a_corrupt_calibration_table_is_named_never_applied_and_the_daemon_goes_on() {
    let dirs = Dirs::new();
    let (cal_start, cal_src) = calibrator_start();
    let target_start = cal_start.plus_seconds(3600.0).unwrap();
    let ra = cal_src.ra_deg + (3600.0 + 0.5 * 8.0 * 12.885) * SIDEREAL_DEG_S;
    let field = field_at(ra);
    let staged = write_staged(&group(&dirs.staging(), target_start, field));
    let mut daemon = Daemon::start(
        &dirs,
        &[
            &["--enable-calibration-solving", "--retry-backoff", "0.2"],
            SCIENCE,
        ]
        .concat(),
    );
    write_like_correlator(&group(&dirs.input(), cal_start, vec![cal_src]));
    let set = wait_for("the set to be active", Duration::from_secs(120), || {
        dirs.db().exists().then_some(())?;
        query_strings(
            &dirs.db(),
            "SELECT DISTINCT set_name FROM caltables WHERE status = 'active'",
        )
        .into_iter()
        .next()
    });
    // the bandpass table's main file is damaged on disk
    let table_dat = dirs
        .output()
        .join("caltables")
        .join(format!("{set}.bcal"))
        .join("table.dat");
    std::fs::write(&table_dat, b"not a casacore table").unwrap();
    deliver(&staged, &dirs.input());
    wait_for("the target to finish", Duration::from_secs(120), || {
        let rows = groups(&dirs.db());
        (rows.len() == 2
            && rows
                .iter()
                .all(|r| r.state == "completed" || r.state == "failed"))
        .then_some(())
    });
    let db = dirs.db();
    let rows = groups(&db);
    assert!(
        rows.iter().all(|r| r.state == "completed"),
        "{rows:#?}\n{}",
        daemon.stderr()
    );
    // the set is retired with the reason, naming the table and keeping casacore's words
    let sets = query_strings(
        &db,
        "SELECT DISTINCT status || '|' || COALESCE(error, '') FROM caltables",
    );
    assert_eq!(sets.len(), 1, "{sets:?}");
    let why = &sets[0];
    assert!(why.starts_with("failed|cannot be applied"), "{why}");
    let bcal = table_dat.parent().unwrap().display().to_string();
    assert!(why.contains(&bcal), "the table is not named: {why}");
    // each cause once: the table is named once by our layers, casacore's own message
    // (which names its file) kept
    assert_eq!(why.matches(&format!("{bcal}: ")).count(), 1, "{why}");
    assert!(
        why.contains("no magic value found"),
        "casacore's message lost: {why}"
    );
    let parts: Vec<&str> = why.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(p),
            "cause repeated in {why:?}: {p:?}"
        );
    }
    eprintln!("set error: {why}");
    // the target went on uncalibrated; nothing was applied from the damaged set to it
    let target = &rows[1].group_id;
    let applied = query_strings(
        &db,
        &format!(
            "SELECT success || '|' || COALESCE(error, '') FROM calibration_applied WHERE group_id = '{target}'"
        ),
    );
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert!(applied[0].starts_with("0|"), "{applied:?}");
    assert_eq!(
        query_f64(
            &db,
            &format!("SELECT CAST(cal_applied AS REAL) FROM ms_index WHERE group_id = '{target}'")
        ),
        vec![0.0]
    );
    assert!(daemon.is_running());
    daemon.stop_ok(Duration::from_secs(30));
}
