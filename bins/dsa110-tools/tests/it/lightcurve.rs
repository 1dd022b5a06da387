//! `dsa110-tools lightcurve SOURCE --queue-db DB` on a queue filled with
//! `Queue::record_photometry` rows.

use std::path::{Path, PathBuf};

use dsa110_queue::{PhotometryRecord, Queue, VariabilityRecord};

use crate::common::{assert_exit, json, scratch, stderr, stdout, tools};

/// (mjd, flux, err) of the test source; one epoch has no error.
const EPOCHS: [(f64, f64, f64); 5] = [
    (60950.10, 1.00, 0.02),
    (60951.10, 1.05, 0.02),
    (60952.10, 0.70, 0.03),
    (60953.10, 0.98, 0.02),
    (60954.10, 1.02, f64::NAN),
];

fn record(source: &str, k: usize, mjd: f64, flux: f64, err: f64) -> PhotometryRecord {
    PhotometryRecord {
        id: None,
        source_id: source.to_string(),
        image_path: PathBuf::from(format!("/data/images/epoch{k}-image.fits")),
        group_id: None,
        ra_deg: Some(150.0),
        dec_deg: Some(54.5),
        catalog_flux_jy: Some(1.0),
        peak_flux_jy: Some(flux),
        peak_flux_err_jy: err.is_finite().then_some(err),
        int_flux_jy: None,
        int_flux_err_jy: None,
        norm_flux_jy: Some(flux * 1.1),
        norm_flux_err_jy: None,
        local_rms_jy: Some(0.02),
        snr: Some(flux / 0.02),
        pb: Some(0.9),
        mjd,
        flags: Some(0),
        created_at: None,
    }
}

fn filled_db(dir: &Path) -> PathBuf {
    let db = dir.join("pipeline.sqlite3");
    let q = Queue::open(&db).unwrap();
    // recorded out of time order: the light curve comes back oldest first
    let mut rows: Vec<PhotometryRecord> = EPOCHS
        .iter()
        .enumerate()
        .rev()
        .map(|(k, &(m, f, e))| record("J1000+5430", k, m, f, e))
        .collect();
    rows.push(record("J0900+5000", 9, 60950.2, 3.0, 0.1));
    q.record_photometry(&rows).unwrap();
    q.upsert_variability(&[VariabilityRecord {
        source_id: "J1000+5430".into(),
        n_epochs: 5,
        mean_flux_jy: Some(0.95),
        median_flux_jy: Some(1.0),
        eta: Some(42.0),
        v: Some(0.14),
        chi2_nu: Some(40.0),
        max_sigma_dev: Some(8.3),
        m: Some(0.14),
        vs_max: Some(9.0),
        m_vs: Some(0.4),
        is_candidate: true,
        candidate_reason: Some("ESE-like dip".into()),
        updated_at: 1.0,
    }])
    .unwrap();
    db
}

#[test]
fn lightcurve_lists_epochs_in_order_and_writes_a_png_plot() {
    let dir = scratch("lc-ok");
    let db = filled_db(&dir);
    let png = dir.join("lc.png");
    let o = tools(&[
        "lightcurve".as_ref(),
        "J1000+5430".as_ref(),
        "--queue-db".as_ref(),
        db.as_os_str(),
        "--png".as_ref(),
        png.as_os_str(),
    ]);
    assert_exit(&o, 0);
    let t = stdout(&o);
    eprintln!("{t}");
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "source J1000+5430: 5 epochs");
    assert!(lines[1].starts_with("mjd"), "{t}");
    for (k, (mjd, flux, _)) in EPOCHS.iter().enumerate() {
        let l = lines[2 + k];
        assert!(l.starts_with(&format!("{mjd:.6}")), "{l}");
        assert!(l.contains(&format!("{flux:.6}")), "{l}");
        assert!(
            l.contains(&format!("{:.6}", flux * 1.1)),
            "normalised flux: {l}"
        );
        assert!(
            l.ends_with(&format!("/data/images/epoch{k}-image.fits")),
            "{l}"
        );
    }
    assert!(t.contains("candidate: yes (ESE-like dip)"), "{t}");
    assert!(!t.contains("J0900"), "{t}");

    // a valid PNG: decode it and find the points drawn
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (800, 480));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let blue = buf[..info.buffer_size()]
        .chunks(3)
        .filter(|p| p == &[31, 119, 180])
        .count();
    // five 7×7 markers and four error bars
    assert!(blue >= 5 * 49, "{blue} point pixels");
    // one cluster of blue columns per epoch, left to right; the mean height of
    // each cluster's blue pixels is the point's (its error bar is symmetric)
    let (w, h) = (info.width as usize, info.height as usize);
    let is_blue = |x: usize, y: usize| buf[3 * (y * w + x)..][..3] == [31, 119, 180];
    let mut clusters: Vec<(usize, usize)> = Vec::new();
    for x in (0..w).filter(|&x| (0..h).any(|y| is_blue(x, y))) {
        match clusters.last_mut() {
            Some(c) if x == c.1 + 1 => c.1 = x,
            _ => clusters.push((x, x)),
        }
    }
    assert_eq!(clusters.len(), 5, "{clusters:?}");
    let mean_y: Vec<f64> = clusters
        .iter()
        .map(|&(a, b)| {
            let ys: Vec<usize> = (a..=b)
                .flat_map(|x| (0..h).filter(move |&y| is_blue(x, y)))
                .collect();
            ys.iter().sum::<usize>() as f64 / ys.len() as f64
        })
        .collect();
    // the dip (0.70 Jy) is lowest on the plot, 1.05 Jy highest
    let lowest = (0..5)
        .max_by(|&a, &b| mean_y[a].total_cmp(&mean_y[b]))
        .unwrap();
    let highest = (0..5)
        .min_by(|&a, &b| mean_y[a].total_cmp(&mean_y[b]))
        .unwrap();
    assert_eq!((lowest, highest), (2, 1), "{mean_y:?}");
    // equal MJD steps give equal pixel steps
    let centres: Vec<f64> = clusters
        .iter()
        .map(|&(a, b)| (a + b) as f64 / 2.0)
        .collect();
    let steps: Vec<f64> = centres.windows(2).map(|c| c[1] - c[0]).collect();
    assert!(
        steps.iter().all(|s| (s - steps[0]).abs() <= 1.0),
        "{steps:?}"
    );
}

#[test]
fn lightcurve_csv_and_json_carry_the_numbers() {
    let dir = scratch("lc-formats");
    let db = filled_db(&dir);
    let o = tools(&[
        "lightcurve".as_ref(),
        "J1000+5430".as_ref(),
        "--queue-db".as_ref(),
        db.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
    ]);
    assert_exit(&o, 0);
    let csv = stdout(&o);
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("mjd,peak_flux_jy,peak_flux_err_jy,norm_flux_jy"));
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 5);
    let dip: f64 = rows[2][1].parse().unwrap();
    assert!((dip - 0.70).abs() < 1e-9);
    assert_eq!(rows[4][2], "", "missing error is an empty field");
    // relative to the median (1.00)
    let rel: f64 = rows[1][5].parse().unwrap();
    assert!((rel - 1.05).abs() < 1e-6, "{rel}");

    let o = tools(&[
        "lightcurve".as_ref(),
        "J1000+5430".as_ref(),
        "--queue-db".as_ref(),
        db.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_exit(&o, 0);
    let j = json(&o);
    assert_eq!(j["n_epochs"], 5);
    assert_eq!(j["points"][0]["mjd"], 60950.10);
    assert!(j["points"][4]["peak_flux_err_jy"].is_null());
    assert_eq!(j["variability"]["eta"], 42.0);
    assert_eq!(j["median_flux_jy"], 1.0);
}

#[test]
fn lightcurve_of_an_unknown_source_or_database_exits_2() {
    let dir = scratch("lc-unknown");
    let db = filled_db(&dir);
    let o = tools(&[
        "lightcurve".as_ref(),
        "J1000".as_ref(),
        "--queue-db".as_ref(),
        db.as_os_str(),
    ]);
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(e.contains("unknown source \"J1000\""), "{e}");
    assert!(e.contains("similar names: J1000+5430"), "{e}");
    assert!(stdout(&o).is_empty());
    let missing = dir.join("none.sqlite3");
    let o = tools(&[
        "lightcurve".as_ref(),
        "J1000+5430".as_ref(),
        "--queue-db".as_ref(),
        missing.as_os_str(),
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains(&format!("no queue database at {}", missing.display())),
        "{}",
        stderr(&o)
    );
    assert!(
        !missing.exists(),
        "a read-only tool must not create the database"
    );
}
