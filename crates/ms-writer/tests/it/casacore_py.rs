//! python-casacore opens the MS and every subtable; DATA is conj(V).

use crate::common::{f64s, run_py, small_ms, strs};
use dsa110_ms_writer::SUBTABLES;

#[test]
fn python_casacore_reads_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let ms = dir.path().join("pc.ms");
    let small = small_ms(&ms);
    let j = run_py("inspect_ms.py", &[&ms]);

    // table info, keywords
    assert_eq!(j["info"]["type"], "Measurement Set");
    assert_eq!(j["keywords"]["MS_VERSION"].as_f64(), Some(2.0));
    assert_eq!(j["keywords"]["pyuvdata_flip_conj"], true);

    // every subtable linked and readable, with the expected rows
    let tables = j["tables"].as_object().unwrap();
    let nant = small.spec.antennas.len() as u64;
    let expected_rows: &[(&str, u64)] = &[
        ("MAIN", 9 * 15),
        ("ANTENNA", nant),
        ("DATA_DESCRIPTION", 3),
        ("FEED", nant),
        ("FIELD", 1),
        ("FLAG_CMD", 0),
        ("HISTORY", 1),
        ("OBSERVATION", 1),
        ("POINTING", nant),
        ("POLARIZATION", 1),
        ("PROCESSOR", 1),
        ("SOURCE", 1),
        ("SPECTRAL_WINDOW", 3),
        ("STATE", 1),
    ];
    assert_eq!(tables.len(), SUBTABLES.len() + 1, "{:?}", tables.keys());
    for (name, rows) in expected_rows {
        let t = tables
            .get(*name)
            .unwrap_or_else(|| panic!("table {name} missing"));
        assert_eq!(t["nrows"].as_u64(), Some(*rows), "{name} rows");
    }
    let main_cols = strs(&tables["MAIN"]["colnames"]);
    for c in [
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
        "FLAG_CATEGORY",
        "WEIGHT",
        "SIGMA",
        "DATA",
        "WEIGHT_SPECTRUM",
    ] {
        assert!(main_cols.iter().any(|x| x == c), "main table lacks {c}");
    }
    assert!(strs(&tables["OBSERVATION"]["colnames"]).contains(&"TELESCOPE_LOCATION".into()));

    // measures and units
    let kw = &j["colkeywords"];
    assert_eq!(kw["TIME"]["MEASINFO"]["Ref"], "UTC");
    assert_eq!(kw["TIME"]["QuantumUnits"][0], "s");
    assert_eq!(kw["UVW"]["MEASINFO"]["type"], "uvw");
    assert_eq!(kw["UVW"]["QuantumUnits"].as_array().unwrap().len(), 3);
    assert!(kw["FLAG_CATEGORY"].get("CATEGORY").is_some());
    assert_eq!(kw["CHAN_FREQ"]["MEASINFO"]["VarRefCol"], "MEAS_FREQ_REF");
    assert_eq!(kw["PHASE_DIR"]["MEASINFO"]["Ref"], "J2000");
    let pd = &j["phase_dir"][0];
    assert_eq!(pd[0].as_f64(), Some(small.spec.field.ra_rad));
    assert_eq!(pd[1].as_f64(), Some(small.spec.field.dec_rad));
    assert_eq!(j["corr_type"], serde_json::json!([9, 12]));
    assert_eq!(j["corr_product"], serde_json::json!([[0, 0], [1, 1]]));
    assert_eq!(
        f64s(&j["telescope_location"]),
        small.spec.telescope_itrf_m.to_vec()
    );
    for (s, f) in j["chan_freq"].as_array().unwrap().iter().enumerate() {
        assert_eq!(f64s(f), small.spec.spws[s].freqs_hz, "CHAN_FREQ spw {s}");
    }

    // storage managers: the bulk columns are tiled
    let dm = j["dminfo"].as_object().unwrap();
    for (name, col) in [
        ("TiledData", "DATA"),
        ("TiledFlag", "FLAG"),
        ("TiledUVW", "UVW"),
    ] {
        assert_eq!(dm[name]["TYPE"], "TiledColumnStMan", "{name}");
        assert_eq!(strs(&dm[name]["COLUMNS"]), vec![col.to_string()]);
    }

    // DATA = conj(V), UVW = -uvw, in spw-major row order
    let shape: Vec<u64> = j["data_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(shape, vec![135, 4, 2]);
    let (re, im) = (f64s(&j["data_re"]), f64s(&j["data_im"]));
    let flag: Vec<bool> = j["flag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect();
    let wspec = f64s(&j["weight_spectrum"]);
    let uvw = f64s(&j["uvw"]);
    let ddid: Vec<i64> = j["data_desc_id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let mut k = 0;
    let mut row = 0;
    for (s, b) in small.expected.iter().enumerate() {
        for r in 0..b.nrows() {
            assert_eq!(ddid[row], s as i64);
            for x in 0..3 {
                assert_eq!(uvw[row * 3 + x], -b.uvw_m[[r, x]], "UVW row {row}");
            }
            for c in 0..4 {
                for p in 0..2 {
                    let v = b.data[[r, c, p]];
                    assert_eq!(re[k], f64::from(v.re), "DATA.re row {row} chan {c} pol {p}");
                    assert_eq!(
                        im[k],
                        -f64::from(v.im),
                        "DATA.im row {row} chan {c} pol {p}"
                    );
                    assert_eq!(flag[k], b.flags[[r, c, p]]);
                    assert_eq!(wspec[k], f64::from(b.nsamples[[r, c, p]]));
                    k += 1;
                }
            }
            row += 1;
        }
    }

    // per-row scalars
    let sc = &j["scalars"];
    for c in [
        "FEED1",
        "FEED2",
        "FIELD_ID",
        "ARRAY_ID",
        "OBSERVATION_ID",
        "PROCESSOR_ID",
        "STATE_ID",
    ] {
        assert_eq!(sc[c], serde_json::json!([0]), "{c}");
    }
    assert_eq!(sc["SCAN_NUMBER"], serde_json::json!([1]));
    let int_s = small.expected[0].int_time_s;
    assert_eq!(f64s(&sc["INTERVAL"]), vec![int_s]);
    assert_eq!(f64s(&sc["EXPOSURE"]), vec![int_s]);
    let (time, centroid) = (f64s(&j["time"]), f64s(&j["time_centroid"]));
    assert_eq!(time, centroid);
    let flag_row: Vec<bool> = j["flag_row"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect();
    let mut row = 0;
    for b in &small.expected {
        for r in 0..b.nrows() {
            let t = b.times_jd_utc[r / b.nbls()];
            assert_eq!(
                time[row],
                dsa110_ms_writer::jd_to_mjd_s(t),
                "TIME row {row}"
            );
            assert_eq!(
                j["antenna1"][row].as_u64(),
                Some(u64::from(b.ant1[r % b.nbls()]))
            );
            assert_eq!(
                j["antenna2"][row].as_u64(),
                Some(u64::from(b.ant2[r % b.nbls()]))
            );
            let all = b.flags.index_axis(ndarray::Axis(0), r).iter().all(|&f| f);
            assert_eq!(flag_row[row], all, "FLAG_ROW row {row}");
            row += 1;
        }
    }

    // WEIGHT = median of unflagged nsamples, SIGMA = 1/sqrt(WEIGHT)
    let weight = f64s(&j["weight"]);
    let sigma = f64s(&j["sigma"]);
    let b = &small.expected[0];
    for r in 0..b.nrows() {
        for p in 0..2 {
            let mut v: Vec<f32> = (0..4)
                .filter(|&c| !b.flags[[r, c, p]])
                .map(|c| b.nsamples[[r, c, p]])
                .collect();
            v.sort_by(f32::total_cmp);
            let want = match v.len() {
                0 => 0.0,
                n if n % 2 == 1 => v[n / 2],
                n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
            };
            assert_eq!(weight[r * 2 + p], f64::from(want), "WEIGHT row {r}");
            let want_sigma = if want > 0.0 { 1.0 / want.sqrt() } else { -1.0 };
            assert_eq!(sigma[r * 2 + p], f64::from(want_sigma), "SIGMA row {r}");
        }
    }
}
