//! pyuvdata reads our MS, `check()` passes, and its arrays equal ours in the
//! pyuvdata (VisBlock) convention.

use crate::common::{f64s, run_py, small_ms, u64s};

#[test]
fn pyuvdata_reads_our_ms() {
    let dir = tempfile::tempdir().unwrap();
    let ms = dir.path().join("uv.ms");
    let small = small_ms(&ms);
    let j = run_py("pyuvdata_read.py", &[&ms]);

    let warnings: Vec<&str> = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    println!("pyuvdata warnings ({}):", warnings.len());
    for w in &warnings {
        println!("  {w}");
    }
    // our UVWs are geometrically right: pyuvdata must not complain about them
    assert!(
        !warnings.iter().any(|w| w.contains("uvw")),
        "pyuvdata disagrees with our UVWs: {warnings:?}"
    );

    let nchan = 4;
    let nspw = small.expected.len();
    assert_eq!(j["Nspws"].as_u64(), Some(nspw as u64));
    assert_eq!(j["Nfreqs"].as_u64(), Some((nspw * nchan) as u64));
    assert_eq!(j["Npols"].as_u64(), Some(2));
    assert_eq!(j["pols"], serde_json::json!(["xx", "yy"]));
    assert_eq!(j["telescope_name"], "OVRO_MMA");
    assert_eq!(j["x_orientation"], "east");
    let loc = f64s(&j["telescope_location"]);
    for k in 0..3 {
        assert!((loc[k] - small.spec.telescope_itrf_m[k]).abs() < 1e-6);
    }
    let names: Vec<String> = j["antenna_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    let want_names: Vec<String> = small.spec.antennas.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, want_names);
    let pc = &j["phase_center"];
    assert_eq!(pc["cat_name"], "test_field");
    assert!((pc["cat_lon"].as_f64().unwrap() - small.spec.field.ra_rad).abs() < 1e-12);
    assert!((pc["cat_lat"].as_f64().unwrap() - small.spec.field.dec_rad).abs() < 1e-12);

    let freq = f64s(&j["freq_array"]);
    for (s, spw) in small.spec.spws.iter().enumerate() {
        assert_eq!(&freq[s * nchan..(s + 1) * nchan], spw.freqs_hz.as_slice());
    }

    // rows: match by (time, ant1, ant2)
    let times = f64s(&j["time_array"]);
    let a1 = u64s(&j["ant_1_array"]);
    let a2 = u64s(&j["ant_2_array"]);
    let uvw = f64s(&j["uvw_array"]);
    let (re, im) = (f64s(&j["data_re"]), f64s(&j["data_im"]));
    let flags: Vec<bool> = j["flag_array"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect();
    let nsamp = f64s(&j["nsample_array"]);
    let nblts = times.len();
    let e0 = &small.expected[0];
    assert_eq!(nblts, e0.nrows());
    let nf = nspw * nchan;
    for blt in 0..nblts {
        let t = e0
            .times_jd_utc
            .iter()
            .position(|&x| (x - times[blt]).abs() < 1e-8)
            .unwrap_or_else(|| panic!("time {} not ours", times[blt]));
        let b = (0..e0.nbls())
            .position(|b| u64::from(e0.ant1[b]) == a1[blt] && u64::from(e0.ant2[b]) == a2[blt])
            .unwrap_or_else(|| panic!("baseline {}-{} not ours", a1[blt], a2[blt]));
        let r = t * e0.nbls() + b;
        for k in 0..3 {
            assert_eq!(uvw[blt * 3 + k], e0.uvw_m[[r, k]], "uvw blt {blt}");
        }
        for (s, e) in small.expected.iter().enumerate() {
            for c in 0..nchan {
                for p in 0..2 {
                    let i = (blt * nf + s * nchan + c) * 2 + p;
                    let v = e.data[[r, c, p]];
                    assert_eq!(
                        re[i] as f32, v.re,
                        "data.re blt {blt} spw {s} chan {c} pol {p}"
                    );
                    assert_eq!(
                        im[i] as f32, v.im,
                        "data.im blt {blt} spw {s} chan {c} pol {p}"
                    );
                    assert_eq!(flags[i], e.flags[[r, c, p]], "flag blt {blt} spw {s}");
                    assert_eq!(nsamp[i] as f32, e.nsamples[[r, c, p]], "nsamples blt {blt}");
                }
            }
        }
    }
}
