//! Calibration sets, images (FITS and PNG files), mosaics, sources and light curves.

use crate::common::*;

#[test]
fn calibration_images_and_mosaics() {
    let f = fixture();
    let s = start(&f, &[]);
    let sets = get(s.port, "/api/v1/cal/sets").json();
    assert_eq!(sets["total"], 1);
    assert_eq!(sets["sets"][0]["set_name"], CAL_SET);
    assert_eq!(sets["sets"][0]["status"], "active");
    let set = get(s.port, &format!("/api/v1/cal/sets/{CAL_SET}")).json();
    assert_eq!(set["valid_start_mjd"], 60949.75);
    assert_eq!(set["tables"].as_array().unwrap().len(), 2);
    assert_eq!(set["tables"][0]["table_type"], "B");
    assert_eq!(set["tables"][1]["qa"]["snr_median"], 42.0);
    let ms = f.output.join(format!("{COMPLETED}.ms"));
    let applied = get(
        s.port,
        &format!("/api/v1/cal/applied?ms_path={}", ms.display()),
    )
    .json();
    assert_eq!(applied["applied"][0]["set_name"], CAL_SET);
    // solution plots: one antenna at a time, by default the first that is not the
    // reference; flagged solutions stay null; an unknown antenna is a 422 naming it
    let url = format!("/api/v1/cal/sets/{CAL_SET}/solutions");
    let sol = get(s.port, &url).json();
    assert_eq!(sol["antennas"], serde_json::json!(["pad103", "pad104"]));
    assert_eq!(
        (&sol["antenna"], &sol["refant"]),
        (&serde_json::json!("pad104"), &serde_json::json!("pad103"))
    );
    assert_eq!(sol["solutions"]["name"], "pad104");
    assert_eq!(sol["solutions"]["bandpass_phase_deg"][0][3], 20.0);
    assert!(sol["solutions"]["bandpass_amp"][1][1].is_null());
    assert_eq!(sol["bandpass_freqs_mhz"].as_array().unwrap().len(), 4);
    assert_eq!(
        sol["gain_windows"][0]["times_mjd"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let refs = get(s.port, &format!("{url}?antenna=pad103")).json();
    assert_eq!(
        refs["solutions"]["gain_phase_deg"][0][0],
        serde_json::json!([0.0, 0.0, 0.0])
    );
    let bad = get(s.port, &format!("{url}?antenna=pad999"));
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert!(
        bad.text().contains("\"antenna\"") && bad.text().contains("pad999"),
        "{}",
        bad.text()
    );
    assert_eq!(get(s.port, "/api/v1/cal/sets/nope/solutions").status, 404);
    std::fs::remove_file(f.output.join("cal/3C286.solutions.json")).unwrap();
    let gone = get(s.port, &url);
    assert_eq!(gone.status, 404, "{}", gone.text());
    assert!(
        gone.text().contains("no_solutions") && gone.text().contains("3C286.solutions.json"),
        "{}",
        gone.text()
    );

    let by_group = get(s.port, &format!("/api/v1/cal/applied?group_id={COMPLETED}")).json();
    assert_eq!(by_group["total"], 1);
    assert_eq!(
        get(s.port, "/api/v1/cal/sets?status=failed").json()["total"],
        0
    );

    let images = get(s.port, "/api/v1/images?limit=1").json();
    assert_eq!(images["total"], 2);
    assert_eq!(images["images"].as_array().unwrap().len(), 1);
    assert_eq!(images["images"][0]["id"], f.image_id, "newest first");
    let img = get(s.port, &format!("/api/v1/images/{}", f.image_id)).json();
    assert_eq!(img["noise_jy"], 0.0012);
    assert_eq!(img["dynamic_range"], 350.0);
    let fits = get(s.port, &format!("/api/v1/images/{}/fits", f.image_id));
    assert_eq!(fits.status, 200);
    assert_eq!(fits.header("content-type"), Some("application/fits"));
    assert!(fits
        .header("content-disposition")
        .unwrap()
        .contains(".fits"));
    assert_eq!(fits.body, tiny_fits());
    let png = get(s.port, &format!("/api/v1/images/{}/png", f.image_id));
    assert_eq!(
        (png.status, png.header("content-type")),
        (200, Some("image/png"))
    );
    assert_eq!(png.body, PNG_1X1);
    // a file outside --output-dir is refused, even though it exists
    assert!(f.outside_file.exists());
    let r = get(
        s.port,
        &format!("/api/v1/images/{}/fits", f.outside_image_id),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (403, Some("outside_output_dir"))
    );
    let r = get(
        s.port,
        &format!("/api/v1/images/{}/png", f.outside_image_id),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let g = get(
        s.port,
        &format!("/api/v1/imaging/groups/{COMPLETED}/images"),
    )
    .json();
    assert_eq!(g["total"], 2);

    let mosaics = get(s.port, "/api/mosaic/list").json();
    assert_eq!(mosaics["mosaics"][0]["name"], MOSAIC);
    let m = get(s.port, &format!("/api/mosaic/{MOSAIC}")).json();
    assert_eq!(m["status"], "completed");
    assert_eq!(m["images"].as_array().unwrap().len(), 1);
}

#[test]
fn sources_lightcurves_and_csv() {
    let f = fixture();
    let s = start(&f, &[]);
    let list = get(s.port, "/api/v1/sources?search=0123&limit=10&offset=0").json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["sources"][0]["source_id"], SOURCE);
    assert_eq!(list["sources"][0]["n_measurements"], 5);
    assert_eq!(
        get(s.port, "/api/v1/sources?search=nothing").json()["total"],
        0
    );
    assert_eq!(
        get(s.port, "/api/v1/sources?offset=1").json()["sources"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let enc = SOURCE.replace('+', "%2B");
    let one = get(s.port, &format!("/api/v1/sources/{enc}")).json();
    assert_eq!(one["n_measurements"], 5);
    assert_eq!(one["variability"]["eta"], 3.1);
    let lc = get(s.port, &format!("/api/v1/sources/{enc}/lightcurve")).json();
    assert_eq!(lc["points"].as_array().unwrap().len(), 5);
    assert_eq!(lc["points"][0]["mjd"], 60950.0);
    assert_eq!(lc["points"][4]["flux_jy"], 0.54);
    // 60950 = 2025-10-02; 60952 = 2025-10-04 (a bare end date includes the day)
    let part = get(
        s.port,
        &format!("/api/v1/sources/{enc}/lightcurve?start_date=2025-10-03&end_date=2025-10-04"),
    )
    .json();
    let mjds: Vec<f64> = part["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mjd"].as_f64().unwrap())
        .collect();
    assert_eq!(mjds, vec![60951.0, 60952.0]);
    let var = get(s.port, &format!("/api/v1/sources/{enc}/variability")).json();
    assert_eq!(var["n_epochs"], 5);
    let all = get(s.port, "/api/v1/variability").json();
    assert_eq!(all["total"], 1);

    let csv = get(s.port, &format!("/api/v1/sources/{enc}/export.csv"));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[0].starts_with("source_id,mjd,peak_flux_jy"));
    assert!(
        lines[1].starts_with("J0123+4567,60950,0.5,0.002"),
        "{}",
        lines[1]
    );
}

#[test]
fn health_reports_database_and_disk() {
    let f = fixture();
    let s = start(&f, &[]);
    let r = get(s.port, "/api/v1/health");
    let v = r.json();
    assert!(r.status == 200 || r.status == 503);
    assert_eq!(v["checks"]["database"]["ok"], true);
    assert_eq!(v["checks"]["database"]["queue"]["pending"], 1);
    assert!(v["checks"]["disk"]["output_free_gb"].as_f64().unwrap() > 0.0);
    let free = v["checks"]["disk"]["output_free_gb"].as_f64().unwrap();
    let expected = if free < 5.0 {
        "unhealthy"
    } else if free < 10.0 {
        "degraded"
    } else {
        "healthy"
    };
    assert_eq!(v["status"], expected);
    assert_eq!(r.status == 503, expected == "unhealthy");
}

/// Light curves are cached, but a write to the photometry — the daemon's own
/// (a new epoch, a re-measured one) or one by hand in SQL (a flux-only update,
/// a delete) — is seen by the very next request.
#[test]
fn lightcurves_follow_every_photometry_write() {
    let f = fixture();
    let s = start(&f, &[]);
    let enc = SOURCE.replace('+', "%2B");
    let url = format!("/api/v1/sources/{enc}/lightcurve");
    let fluxes = || -> Vec<f64> {
        get(s.port, &url).json()["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["flux_jy"].as_f64().unwrap())
            .collect()
    };
    let first = fluxes();
    assert_eq!(first.len(), 5);
    assert_eq!(
        fluxes(),
        first,
        "a second read, from the cache, is the same"
    );

    let q = dsa110_queue::Queue::open(&f.db).unwrap();
    let mut row = q.photometry_for_source(SOURCE, None, None).unwrap()[4].clone();
    row.image_path = f.output.join("epoch5-image.fits");
    row.mjd += 1.0;
    row.norm_flux_jy = Some(0.9);
    q.record_photometry(&[row.clone()]).unwrap();
    assert_eq!(fluxes().len(), 6, "a new epoch");
    row.norm_flux_jy = Some(0.8);
    q.record_photometry(&[row]).unwrap();
    assert_eq!(fluxes()[5], 0.8, "the epoch re-measured");

    assert!(sqlite3_cli(
        &f.db,
        "UPDATE photometry SET norm_flux_jy = 0.1 WHERE mjd = 60950.0"
    ));
    assert_eq!(fluxes()[0], 0.1, "a flux changed by hand");
    assert!(sqlite3_cli(
        &f.db,
        "DELETE FROM photometry WHERE mjd = 60950.0"
    ));
    assert_eq!(fluxes().len(), 5, "a row deleted by hand");

    // the generation is per source: photometry of another source leaves this one's
    // (and its cached curve) alone; moving a row between sources counts for both
    let mine = q.photometry_generation(SOURCE).unwrap();
    let mut other = q.photometry_for_source(SOURCE, None, None).unwrap()[0].clone();
    other.source_id = "J9999+0000".into();
    q.record_photometry(&[other]).unwrap();
    assert_eq!(q.photometry_generation(SOURCE).unwrap(), mine);
    let theirs = q.photometry_generation("J9999+0000").unwrap();
    assert!(theirs > 0);
    assert!(sqlite3_cli(
        &f.db,
        "UPDATE photometry SET source_id = 'J9999+0000' WHERE mjd = 60952.0"
    ));
    assert!(q.photometry_generation(SOURCE).unwrap() > mine);
    assert!(q.photometry_generation("J9999+0000").unwrap() > theirs);
    assert_eq!(fluxes().len(), 4, "a row moved to another source by hand");
}

/// Runs SQL with the `sqlite3` command-line tool, as an operator would.
fn sqlite3_cli(db: &std::path::Path, sql: &str) -> bool {
    std::process::Command::new("sqlite3")
        .args(["-bail", "-cmd", ".timeout 10000"])
        .arg(db)
        .arg(sql)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
