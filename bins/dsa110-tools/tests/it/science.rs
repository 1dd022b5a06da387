//! `flag`, `calibrate --solve`, `calibrate --apply`, `image` and `photometry`
//! run as an operator runs them, in that order, on one simulated calibrator
//! group (see [`cal_group`]); each stage's outputs are built once and checked
//! by their own test. Then the documented failures.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{
    assert_exit, cal_group, copy_dir, json, noisy_group, rfi_group, scratch, stderr, stdout, tools,
    CAL_FLUX_JY, CAL_NAME,
};

/// The MS flagged, solved with a chosen reference antenna and with the tables written.
struct Solved {
    ms: PathBuf,
    cal: PathBuf,
    /// The solve's JSON.
    json: Value,
    /// The reference antenna asked for: ANTENNA row and name.
    refant: (u64, String),
    /// Names of the antennas with data (the ANTENNA table lists all 117 stations).
    active: Vec<String>,
}

fn solved() -> &'static Solved {
    static S: OnceLock<Solved> = OnceLock::new();
    S.get_or_init(|| {
        let g = cal_group();
        let dir = scratch("science-pipeline");
        let ms = dir.join("group.ms");
        copy_dir(&g.ms, &ms);
        let o = tools(&["flag".as_ref(), ms.as_os_str(), "--json".as_ref()]);
        assert_exit(&o, 0);
        let f = json(&o);
        let active: Vec<String> = f["per_antenna"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect();
        // the third active antenna
        let a = &f["per_antenna"][2];
        let refant = (
            a["antenna"].as_u64().unwrap(),
            a["name"].as_str().unwrap().to_string(),
        );
        let cal = dir.join("cal");
        let o = tools(&[
            "calibrate".as_ref(),
            ms.as_os_str(),
            "--solve".as_ref(),
            "--out".as_ref(),
            cal.as_os_str(),
            "--calibrator-catalog".as_ref(),
            g.catalog.as_os_str(),
            "--refant".as_ref(),
            refant.1.as_ref(),
        ]);
        assert_exit(&o, 0);
        Solved {
            ms,
            cal,
            json: json(&o),
            refant,
            active,
        }
    })
}

/// The solved MS with CORRECTED_DATA: (ms, apply JSON).
fn applied() -> &'static (PathBuf, Value) {
    static A: OnceLock<(PathBuf, Value)> = OnceLock::new();
    A.get_or_init(|| {
        let Solved { ms, cal, .. } = solved();
        let o = tools(&[
            "calibrate".as_ref(),
            ms.as_os_str(),
            "--apply".as_ref(),
            cal.join("group.bcal").as_os_str(),
            cal.join("group.gcal").as_os_str(),
        ]);
        assert_exit(&o, 0);
        (ms.clone(), json(&o))
    })
}

/// The calibrated MS imaged (256², 4″ pixels): (image name, image JSON).
fn imaged() -> &'static (PathBuf, Value) {
    static I: OnceLock<(PathBuf, Value)> = OnceLock::new();
    I.get_or_init(|| {
        let (ms, _) = applied();
        let name = ms.parent().unwrap().join("img");
        let o = tools(&[
            "image".as_ref(),
            ms.as_os_str(),
            "--out".as_ref(),
            name.as_os_str(),
            "--size".as_ref(),
            "256".as_ref(),
            "--scale".as_ref(),
            "4asec".as_ref(),
            // the and WSClean's spelling: two words
            "--weight".as_ref(),
            "briggs".as_ref(),
            "0".as_ref(),
            "--niter".as_ref(),
            "2000".as_ref(),
            "--auto-threshold".as_ref(),
            "2".as_ref(),
            "--column".as_ref(),
            "CORRECTED_DATA".as_ref(),
        ]);
        assert_exit(&o, 0);
        (name, json(&o))
    })
}

#[test]
fn flag_summarises_fractions_per_spw_and_antenna_and_writes_flag() {
    let g = rfi_group();
    let dir = scratch("science-flag");
    let ms = dir.join("f.ms");
    copy_dir(&g.ms, &ms);
    let o = tools(&["flag".as_ref(), ms.as_os_str(), "--json".as_ref()]);
    assert_exit(&o, 0);
    let j = json(&o);
    eprintln!("{j}");
    // 10 antennas (55 baselines with autos) × 4 integrations × 128 channels × 2 pols
    assert_eq!(j["n_samples"], 55 * 4 * 128 * 2, "{j}");
    assert_eq!(j["n_flagged_before"], 0, "{j}");
    let frac = j["fraction"].as_f64().unwrap();
    // the simulated RFI is found, and it is not everything
    assert!(frac > 0.005 && frac < 0.5, "flagged {frac}");
    let n_flagged = j["n_flagged"].as_u64().unwrap();
    assert!((n_flagged as f64 / (55 * 4 * 128 * 2) as f64 - frac).abs() < 1e-12);
    let spw = j["per_spw"].as_array().unwrap();
    assert_eq!(spw.len(), 16);
    // windows in ascending frequency: spw 0 is sb15
    assert_eq!(spw[0]["name"], "sb15", "{j}");
    assert_eq!(spw[15]["name"], "sb00", "{j}");
    let fr: Vec<f64> = spw
        .iter()
        .map(|s| s["fraction"].as_f64().unwrap())
        .collect();
    let mean_spw = fr.iter().sum::<f64>() / fr.len() as f64;
    assert!((mean_spw - frac).abs() < 1e-9, "{mean_spw} vs {frac}");
    // narrow-band RFI sits in some windows more than others
    let (lo, hi) = fr
        .iter()
        .fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi > lo, "{fr:?}");
    let ants = j["per_antenna"].as_array().unwrap();
    assert_eq!(ants.len(), 10);
    assert!(ants[0]["name"].as_str().unwrap().starts_with("DSA-"), "{j}");
    assert!(
        ants.iter().all(|a| a["fraction"].as_f64().unwrap() > 0.0),
        "{j}"
    );
    // FLAG was written: a second run finds those flags on entry; the text form
    // names the MS and the windows
    let o = tools(&["flag".as_ref(), ms.as_os_str()]);
    assert_exit(&o, 0);
    let t = stdout(&o);
    eprintln!("{t}");
    assert!(t.starts_with(&format!("{}: ", ms.display())), "{t}");
    let before = 100.0 * frac;
    assert!(
        t.contains(&format!("samples; {before:.2} % before)")),
        "{t}"
    );
    assert!(t.contains(" sb00 "), "{t}");
}

#[test]
fn calibrate_solve_passes_qa_with_the_requested_refant_and_writes_tables() {
    let Solved {
        cal,
        json: j,
        refant: (row, name),
        ..
    } = solved();
    eprintln!("{j:#}");
    assert_eq!(j["calibrator"], CAL_NAME);
    assert!(j["calibrator_offset_deg"].as_f64().unwrap() < 0.05, "{j}");
    assert_eq!(j["qa"]["passed"], true, "{j}");
    assert_eq!(j["refant_name"].as_str(), Some(name.as_str()), "{j}");
    assert_eq!(j["refant"].as_u64(), Some(*row), "{j}");
    assert_eq!(j["refant_requested"].as_str(), Some(name.as_str()), "{j}");
    assert!(j["snr"]["median_g"].as_f64().unwrap() > 10.0, "{j}");
    assert!(j["flagged_fraction"]["b"].as_f64().unwrap() < 0.3, "{j}");
    assert_eq!(j["tables_written"], true);
    assert_eq!(j["n_spw"], 16);
    for t in ["group.bcal", "group.gcal"] {
        assert!(cal.join(t).join("table.dat").is_file(), "{t} missing");
    }
    assert_eq!(
        j["tables"]["bandpass"],
        cal.join("group.bcal").display().to_string()
    );
}

#[test]
fn calibrate_solve_refuses_to_overwrite_tables_and_unknown_refants() {
    let Solved { cal, active, .. } = solved();
    let g = cal_group();
    let solve = |out: &Path, refant: Option<&str>| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "calibrate".as_ref(),
            g.ms.as_os_str(),
            "--solve".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--calibrator-catalog".as_ref(),
            g.catalog.as_os_str(),
        ];
        if let Some(r) = refant {
            args.push("--refant".as_ref());
            args.push(r.as_ref());
        }
        tools(&args)
    };
    // the tables of `solved` are there already (named after the stem "group")
    let o = tools(&[
        "calibrate".as_ref(),
        solved().ms.as_os_str(),
        "--solve".as_ref(),
        "--out".as_ref(),
        cal.as_os_str(),
        "--calibrator-catalog".as_ref(),
        g.catalog.as_os_str(),
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("group.bcal already exists"),
        "{}",
        stderr(&o)
    );
    // a name that is not in the ANTENNA table
    let o = solve(&scratch("science-refant-1"), Some("DSA-200"));
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("reference antenna \"DSA-200\" is not in the ANTENNA table"),
        "{}",
        stderr(&o)
    );
    // a station in the table without data
    let idle = (1..=117)
        .map(|k| format!("DSA-{k:03}"))
        .find(|n| !active.contains(n))
        .unwrap();
    let out = scratch("science-refant-2");
    let o = solve(&out, Some(&idle));
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(
        e.contains(&format!("reference antenna {idle}")) && e.contains("has no valid solutions"),
        "{e}"
    );
    assert!(!out.join("2025-10-02T00:12:00.bcal").exists());
}

#[test]
fn calibrate_apply_accepts_the_solved_tables_and_corrects_every_sample() {
    let (_, j) = applied();
    eprintln!("{j}");
    assert_eq!(j["column"], "CORRECTED_DATA");
    // every unflagged sample of every cross-correlation was corrected
    let n = j["n_corrected"].as_u64().unwrap();
    assert!(n > 45 * 4 * 128 * 2 * 9 / 10, "{j}");
    assert!(j["n_newly_flagged"].as_u64().unwrap() < n / 20, "{j}");
}

#[test]
fn image_of_the_calibrated_data_peaks_on_the_calibrator_at_its_flux() {
    let (name, j) = imaged();
    eprintln!("{j:#}");
    let g = cal_group();
    assert_eq!(j["column"], "CORRECTED_DATA");
    assert_eq!(j["size"], 256);
    assert_eq!(j["weight"], "briggs 0");
    assert!((j["scale_arcsec"].as_f64().unwrap() - 4.0).abs() < 1e-9);
    // the peak pixel is the calibrator's pixel (it sits at the phase centre)
    let img = dsa110_fits::read_image(dsa110_imaging::product_path(name, "image", "fits")).unwrap();
    let (x, y) = img.meta.wcs.world_to_pixel(g.ra_deg, g.dec_deg).unwrap();
    let (px, py) = (
        j["peak"]["x_pix"].as_f64().unwrap(),
        j["peak"]["y_pix"].as_f64().unwrap(),
    );
    assert!(
        (px - x).abs() <= 1.0 && (py - y).abs() <= 1.0,
        "peak at ({px}, {py}), calibrator at ({x:.2}, {y:.2})"
    );
    // calibrated flux scale: the peak is the calibrator's flux (pb ≈ 1 at the centre)
    let peak = j["peak_jy"].as_f64().unwrap();
    assert!(
        (peak / CAL_FLUX_JY - 1.0).abs() < 0.05,
        "peak {peak} Jy/beam, truth {CAL_FLUX_JY}"
    );
    assert!(j["dynamic_range"].as_f64().unwrap() > 50.0, "{j}");
    let bmaj = j["beam"]["bmaj_arcsec"].as_f64().unwrap();
    assert!(bmaj > 10.0 && bmaj < 600.0, "{j}");
    for kind in ["image", "residual", "model", "psf", "pb", "image-pb", "png"] {
        let p = j["products"][kind]
            .as_str()
            .unwrap_or_else(|| panic!("{kind}: {j}"));
        assert!(Path::new(p).is_file(), "{p}");
    }
    assert!(j["products"]["image"]
        .as_str()
        .unwrap()
        .ends_with("img-image.fits"));
    assert!(j["timings"]["read_s"].as_f64().is_some());
}

#[test]
fn photometry_measures_the_calibrator_with_its_primary_beam_value() {
    let (name, _) = imaged();
    let g = cal_group();
    let dir = name.parent().unwrap();
    let catalog = dir.join("sources.csv");
    // the calibrator and a source far off the image
    std::fs::write(
        &catalog,
        format!(
            "name,ra_deg,dec_deg,flux_mjy\n{CAL_NAME},{:.8},{:.8},{}\nFAR,{:.4},{:.4},100\n",
            g.ra_deg,
            g.dec_deg,
            CAL_FLUX_JY * 1e3,
            (g.ra_deg + 30.0) % 360.0,
            g.dec_deg
        ),
    )
    .unwrap();
    let image = dsa110_imaging::product_path(name, "image", "fits");
    let o = tools(&[
        "photometry".as_ref(),
        image.as_os_str(),
        "--catalog".as_ref(),
        catalog.as_os_str(),
    ]);
    assert_exit(&o, 0);
    let csv = stdout(&o);
    eprintln!("{csv}");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "name",
        "ra_deg",
        "dec_deg",
        "peak_flux_jy",
        "peak_flux_err_jy",
        "local_rms_jy",
        "snr",
        "pb",
        "flags",
    ] {
        assert!(header.contains(&col), "no column {col} in {header:?}");
    }
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1, "only the on-image source is listed: {csv}");
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let r = &rows[0];
    assert_eq!(r[col("name")], CAL_NAME);
    let flux: f64 = r[col("peak_flux_jy")].parse().unwrap();
    assert!(
        (flux / CAL_FLUX_JY - 1.0).abs() < 0.05,
        "flux {flux}, truth {CAL_FLUX_JY}"
    );
    let err: f64 = r[col("peak_flux_err_jy")].parse().unwrap();
    assert!(err > 0.0 && err < 0.05 * CAL_FLUX_JY, "{err}");
    let pb: f64 = r[col("pb")].parse().unwrap();
    assert!(pb > 0.99 && pb <= 1.0 + 1e-6, "pb {pb}");
    assert!(stderr(&o).contains("1 of 2 catalogue sources fall outside"));

    // JSON lists both with --all, the far one flagged off_image
    let o = tools(&[
        "photometry".as_ref(),
        image.as_os_str(),
        "--catalog".as_ref(),
        catalog.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "--all".as_ref(),
    ]);
    assert_exit(&o, 0);
    let j = json(&o);
    assert_eq!(j["n_listed"], 2);
    assert!(
        j["measurements"][1]["flags"]
            .as_str()
            .unwrap()
            .contains("off_image"),
        "{j}"
    );
    assert!(j["measurements"][1]["peak_flux_jy"].is_null());
    let jf = j["measurements"][0]["peak_flux_jy"].as_f64().unwrap();
    assert!((jf - flux).abs() < 1e-5 * flux, "{jf} vs {flux}");
    assert!(j["pb_image"].as_str().unwrap().ends_with("img-pb.fits"));
}

#[test]
fn photometry_names_the_bad_catalogue_row_and_exits_2() {
    let (name, _) = imaged();
    let dir = scratch("science-badcat");
    let catalog = dir.join("bad.csv");
    std::fs::write(
        &catalog,
        "name,ra_deg,dec_deg,flux_mjy\nA,10.0,50.0,12\nB,ten,50.0,12\n",
    )
    .unwrap();
    let image = dsa110_imaging::product_path(name, "image", "fits");
    let o = tools(&[
        "photometry".as_ref(),
        image.as_os_str(),
        "--catalog".as_ref(),
        catalog.as_os_str(),
    ]);
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(e.contains(&catalog.display().to_string()), "{e}");
    assert!(e.contains("line 3") || e.contains("row 3"), "{e}");
    assert!(e.contains("ra_deg"), "{e}");
    assert!(stdout(&o).is_empty());
    // a missing catalogue or image is named too
    let o = tools(&[
        "photometry".as_ref(),
        image.as_os_str(),
        "--catalog".as_ref(),
        dir.join("none.csv").as_os_str(),
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no catalogue at"), "{}", stderr(&o));
    let o = tools(&[
        "photometry".as_ref(),
        dir.join("none-image.fits").as_os_str(),
        "--catalog".as_ref(),
        catalog.as_os_str(),
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("none-image.fits"), "{}", stderr(&o));
}

#[test]
fn image_without_corrected_data_is_a_clear_error() {
    let g = cal_group();
    let dir = scratch("science-nocorr");
    let o = tools(&[
        "image".as_ref(),
        g.ms.as_os_str(),
        "--out".as_ref(),
        dir.join("x").as_os_str(),
        "--size".as_ref(),
        "64".as_ref(),
        "--column".as_ref(),
        "CORRECTED_DATA".as_ref(),
    ]);
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(e.contains("has no column CORRECTED_DATA"), "{e}");
    assert!(e.contains(&g.ms.display().to_string()), "{e}");
    assert!(!dir.join("x-image.fits").exists());
    // bad --scale, --weight, --gain and --mgain are usage errors, named
    for (flag, bad) in [
        ("--scale", "3parsec"),
        ("--weight", "briggs 7"),
        ("--gain", "0"),
        ("--mgain", "1.5"),
        ("--grid-oversampling", "9"),
    ] {
        let o = tools(&[
            "image".as_ref(),
            g.ms.as_os_str(),
            "--out".as_ref(),
            dir.join("x").as_os_str(),
            flag.as_ref(),
            bad.as_ref(),
        ]);
        assert_exit(&o, 2);
        let e = stderr(&o);
        assert!(e.contains(bad) && e.contains(&flag[2..]), "{e}");
        assert!(!dir.join("x-image.fits").exists());
    }
}

#[test]
fn a_missing_measurement_set_is_named_with_exit_2() {
    let dir = scratch("science-missing");
    let ms = dir.join("nope.ms");
    let table = dir.join("nope.bcal");
    let out = dir.join("o");
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["flag".as_ref(), ms.as_os_str()],
        vec![
            "calibrate".as_ref(),
            ms.as_os_str(),
            "--solve".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        vec![
            "calibrate".as_ref(),
            ms.as_os_str(),
            "--apply".as_ref(),
            table.as_os_str(),
        ],
        vec![
            "image".as_ref(),
            ms.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
    ];
    for args in cases {
        let o = tools(&args);
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains(&format!("no Measurement Set at {}", ms.display())),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // a missing table for --apply is named
    let g = cal_group();
    let o = tools(&[
        "calibrate".as_ref(),
        g.ms.as_os_str(),
        "--apply".as_ref(),
        table.as_os_str(),
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains(&format!("no calibration table at {}", table.display())),
        "{}",
        stderr(&o)
    );
    // --solve without --out, or neither mode, are usage errors
    let o = tools(&["calibrate".as_ref(), g.ms.as_os_str(), "--solve".as_ref()]);
    assert_exit(&o, 2);
    let o = tools(&["calibrate".as_ref(), g.ms.as_os_str()]);
    assert_exit(&o, 2);
}

#[test]
fn calibrate_solve_failing_qa_writes_the_tables_says_so_and_exits_1() {
    let g = noisy_group();
    let out = scratch("science-qa-fail");
    let o = tools(&[
        "calibrate".as_ref(),
        g.ms.as_os_str(),
        "--solve".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--calibrator-catalog".as_ref(),
        g.catalog.as_os_str(),
    ]);
    assert_exit(&o, 1);
    let j = json(&o);
    eprintln!("{j:#}");
    assert_eq!(j["qa"]["passed"], false);
    assert!(!j["qa"]["failures"].as_array().unwrap().is_empty(), "{j}");
    assert_eq!(j["tables_written"], true);
    assert!(j["note"].as_str().unwrap().starts_with("QA failed"), "{j}");
    let stem = g.ms.file_stem().unwrap().to_string_lossy().into_owned();
    for ext in ["bcal", "gcal"] {
        assert!(out
            .join(format!("{stem}.{ext}"))
            .join("table.dat")
            .is_file());
    }
}

#[test]
fn calibrate_model_writes_the_calibrator_model_to_model_data() {
    use dsa110_calibration::msio::ms_writer::{ChunkColumns, ChunkSpec, DataColumn, MsTable};
    let g = cal_group();
    let ms = scratch("science-model").join("m.ms");
    copy_dir(&g.ms, &ms);
    let o = tools(&[
        "calibrate".as_ref(),
        ms.as_os_str(),
        "--model".as_ref(),
        "--calibrator-catalog".as_ref(),
        g.catalog.as_os_str(),
    ]);
    assert_exit(&o, 0);
    let j = json(&o);
    assert_eq!(j["calibrator"], CAL_NAME, "{j}");
    assert_eq!(j["column"], "MODEL_DATA", "{j}");
    let mut t = MsTable::open(&ms).unwrap();
    let nspw = t.meta().spws.len();
    for spw in 0..nspw {
        let ranges = t
            .chunk_ranges(ChunkSpec {
                spw,
                max_rows: usize::MAX,
            })
            .unwrap();
        for r in &ranges {
            let c = t
                .read_chunk(
                    r,
                    ChunkColumns {
                        data: Some(DataColumn::Model),
                        flag: false,
                        weight_spectrum: false,
                    },
                )
                .unwrap();
            // the calibrator on the meridian at the pointing: its flux times a
            // beam close to 1 over the group's minute, on every baseline and pol
            for v in c.data.unwrap().iter() {
                let a = f64::from(v.norm());
                assert!(a > 0.97 * CAL_FLUX_JY && a <= CAL_FLUX_JY * 1.000_01, "{a}");
            }
        }
    }
    // --model takes no --refant (it solves nothing)
    let o = tools(&[
        "calibrate".as_ref(),
        ms.as_os_str(),
        "--model".as_ref(),
        "--refant".as_ref(),
        "DSA-001".as_ref(),
    ]);
    assert_exit(&o, 2);
}
