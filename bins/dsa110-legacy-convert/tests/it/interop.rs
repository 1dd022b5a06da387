//! Independent tools read our MS: python-casacore (every subtable) and pyuvdata
//! (check(), and the visibilities against pyuvdata's own phasing of the input).

use serde_json::Value;

use crate::common::{convert_once, run_py, script, stderr, tiny_group, TestResult};

#[test]
fn casacore_and_pyuvdata_read_the_ms_and_agree_with_pyuvdata_phasing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let input = tmp.path().join("incoming");
    let output = tmp.path().join("ms");
    let db = tmp.path().join("q.sqlite3");
    std::fs::create_dir_all(&input)?;
    let g = tiny_group(&input, "2025-10-02T00:12:00", 3, |c| {
        c.nants = 16;
        c.ntimes = 6;
    });
    // the EOP that pyuvdata (astropy's IERS table) uses at this time, for our converter too
    let eop_json = tmp.path().join("eop.json");
    let compare = script("compare_pyuvdata.py");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&compare, &"-", &eop_json];
    for f in &g.files {
        args.push(f);
    }
    run_py(&args);
    let eop: Value = serde_json::from_str(&std::fs::read_to_string(&eop_json)?)?;
    let e = &eop["eop"];
    let eop_arg = format!(
        "--eop={},{},{}",
        e["dut1_s"].as_f64().unwrap(),
        e["xp_arcsec"].as_f64().unwrap(),
        e["yp_arcsec"].as_f64().unwrap()
    );
    let o = convert_once(&input, &output, &db, &[&eop_arg]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ms = crate::common::only_ms(&output);

    // python-casacore: the main table and every subtable
    let summary: Value = serde_json::from_str(&run_py(&[&script("casacore_open.py"), &ms]))?;
    let subs = summary["subtables"].as_object().unwrap();
    for (name, want_rows) in [
        ("ANTENNA", 117),
        ("SPECTRAL_WINDOW", 16),
        ("DATA_DESCRIPTION", 16),
        ("FEED", 117),
    ] {
        assert_eq!(subs[name]["rows"].as_u64(), Some(want_rows), "{name}");
    }
    for name in [
        "POLARIZATION",
        "FIELD",
        "SOURCE",
        "OBSERVATION",
        "HISTORY",
        "PROCESSOR",
        "STATE",
    ] {
        assert!(
            subs[name]["rows"].as_u64().unwrap_or(0) >= 1,
            "{name} is empty"
        );
    }
    assert_eq!(
        summary["spw_ascending"], true,
        "spectral windows and channels ascending"
    );
    assert_eq!(summary["antenna_names"][0], "DSA-001");
    assert_eq!(summary["antenna_names"][116], "DSA-117");
    assert_eq!(
        summary["time_unique"].as_u64(),
        Some(6),
        "all integrations present"
    );
    for col in [
        "UVW",
        "TIME",
        "TIME_CENTROID",
        "INTERVAL",
        "EXPOSURE",
        "ANTENNA1",
        "ANTENNA2",
        "FEED1",
        "FEED2",
        "DATA_DESC_ID",
        "FIELD_ID",
        "SCAN_NUMBER",
        "ARRAY_ID",
        "OBSERVATION_ID",
        "PROCESSOR_ID",
        "STATE_ID",
        "FLAG",
        "FLAG_ROW",
        "WEIGHT",
        "SIGMA",
        "DATA",
        "WEIGHT_SPECTRUM",
    ] {
        assert!(
            summary["columns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == col),
            "column {col}"
        );
    }

    // pyuvdata: check() passes and the data equal pyuvdata's phasing of the input files
    let cmp_json = tmp.path().join("compare.json");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&compare, &ms, &cmp_json];
    for f in &g.files {
        args.push(f);
    }
    run_py(&args);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&cmp_json)?)?;
    eprintln!("pyuvdata comparison: {r}");
    let num = |k: &str| r[k].as_f64().unwrap();
    assert!(
        num("max_baseline_m") > 1000.0,
        "the test needs long (outrigger) baselines"
    );
    assert!(
        num("max_uvw_diff_m") < 1e-3,
        "UVWs differ from pyuvdata's by {} m",
        num("max_uvw_diff_m")
    );
    assert!(
        num("rms_rel") < 1e-5,
        "visibilities differ: rms relative {}",
        num("rms_rel")
    );
    // per visibility, not just on average (measured: max 2e-6, median 2e-7)
    assert!(
        num("max_rel") < 1e-5,
        "visibilities differ: max relative {}",
        num("max_rel")
    );
    assert_eq!(r["flags_equal"], true);
    Ok(())
}

/// Runs `compare_pyuvdata.py` on `ms` against the group's files.
fn compare_with_pyuvdata(
    tmp: &std::path::Path,
    ms: &std::path::Path,
    files: &[std::path::PathBuf],
) -> Value {
    let compare = script("compare_pyuvdata.py");
    let out = tmp.join(format!(
        "compare-{}.json",
        ms.parent().unwrap().file_name().unwrap().to_string_lossy()
    ));
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&compare, &ms, &out];
    for f in files {
        args.push(f);
    }
    run_py(&args);
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

/// With its defaults (no --eop) the converter reads UT1-UTC and polar motion from the
/// IERS table it finds (here astropy-iers-data's finals2000A.all, the table pyuvdata
/// uses through astropy) and agrees with pyuvdata's phasing of the same files; with
/// the EOP forced to zero the same comparison fails on the long baselines, which shows
/// that the comparison is sensitive to the Earth orientation.
#[test]
fn default_earth_orientation_agrees_with_pyuvdata_and_zero_does_not() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let input = tmp.path().join("incoming");
    std::fs::create_dir_all(&input)?;
    let g = tiny_group(&input, "2025-10-02T00:12:00", 5, |c| {
        c.nants = 16;
        c.ntimes = 4;
    });
    let run = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let db = tmp.path().join(format!("{name}.sqlite3"));
        let o = convert_once(&input, &out, &db, extra);
        assert!(o.status.success(), "{}", stderr(&o));
        (crate::common::only_ms(&out), stderr(&o))
    };
    let (ms, log) = run("ms-default", &[]);
    assert!(
        log.contains("Earth orientation from the IERS table"),
        "the default found a table:\n{log}"
    );
    let r = compare_with_pyuvdata(tmp.path(), &ms, &g.files);
    eprintln!("default EOP vs pyuvdata: {r}");
    let num = |r: &Value, k: &str| r[k].as_f64().unwrap();
    assert!(num(&r, "max_baseline_m") > 1000.0);
    assert!(num(&r, "max_uvw_diff_m") < 1e-3, "{r}");
    assert!(num(&r, "max_rel") < 1e-2, "{r}");

    let (ms0, _) = run("ms-zero", &["--eop=0,0,0"]);
    let r0 = compare_with_pyuvdata(tmp.path(), &ms0, &g.files);
    eprintln!("zero EOP vs pyuvdata: {r0}");
    assert!(
        num(&r0, "max_rel") > 1e-2,
        "zero EOP should differ from astropy's IERS phasing by > 1e-2: {r0}"
    );
    Ok(())
}
