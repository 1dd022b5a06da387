//! The Measurement Set glue: flag, solve, write tables, read them back, apply.

use dsa110_astro::{direction_from_hadec, Eop, ObsTime, PhaseCentre, Site, SkyFrame, VisBlock};
use dsa110_calibration::msio::ms_writer::{
    jd_to_mjd_s, AntennaSpec, ChunkColumns, ChunkSpec, DataColumn, FieldSpec, HistoryEntry, MsSpec,
    MsTable, MsWriter, SpwSpec,
};
use dsa110_calibration::msio::read_table;
use dsa110_calibration::transit::transit_time_jd;
use dsa110_calibration::{
    apply_tables, flag_ms, flag_solve_apply_ms, predict_block, solve_ms, write_tables,
    BeamGeometry, CalError, Catalog, FlagParams, JonesKind, SolveParams,
};
use ndarray::{Array2, Array3};
use num_complex::{Complex32, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A noise-free 3C286 transit group of `nant` antennas, 2 windows × 8 channels,
/// 6 integrations; returns (ms path, truth gains [ant][spw][chan][pol], models).
fn write_group(
    dir: &std::path::Path,
    nant: usize,
) -> (std::path::PathBuf, Vec<Complex64>, Vec<Array2<Complex32>>) {
    let cat = Catalog::built_in();
    let cal = cat.get("3C286").unwrap().clone();
    let dec_ptg = 30.45f64.to_radians();
    let beam = BeamGeometry::dsa110(dec_ptg);
    let tr = transit_time_jd(
        &cal,
        ObsTime::from_iso("2025-10-02T00:00:00").unwrap().jd_utc(),
        &beam,
    )
    .unwrap();
    let (nt, nc, int_s) = (6usize, 8usize, 12.884_902);
    let times: Vec<f64> = (0..nt)
        .map(|k| tr + (k as f64 - 2.5) * int_s / 86_400.0)
        .collect();
    let site = Site::dsa110();
    let frame = SkyFrame::new(&ObsTime::from_jd_utc(tr).unwrap(), &site, &Eop::default()).unwrap();
    let (ra, dec) = frame.local_to_icrs(direction_from_hadec(0.0, dec_ptg));
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let tel = site.itrf_m().unwrap();
    let antennas: Vec<AntennaSpec> = (0..nant)
        .map(|k| AntennaSpec {
            name: format!("DSA-{:03}", k + 1),
            station: format!("DSA-{:03}", k + 1),
            itrf_m: [
                tel[0] + rng.random_range(-300.0..300.0),
                tel[1] + rng.random_range(-300.0..300.0),
                tel[2],
            ],
            diameter_m: 4.65,
            mount: "ALT-AZ".into(),
        })
        .collect();
    let pos: Vec<[f64; 3]> = (0..nant)
        .map(|_| {
            [
                rng.random_range(-300.0..300.0),
                rng.random_range(-300.0..300.0),
                rng.random_range(-3.0..3.0),
            ]
        })
        .collect();
    let (mut ant1, mut ant2) = (Vec::new(), Vec::new());
    for i in 0..nant as u32 {
        for j in i..nant as u32 {
            ant1.push(i);
            ant2.push(j);
        }
    }
    let nbls = ant1.len();
    let spws: Vec<SpwSpec> = (0..2)
        .map(|s| SpwSpec {
            name: format!("sb{s:02}"),
            freqs_hz: (0..nc)
                .map(|c| 1.35e9 + (s * nc + c) as f64 * 244_140.625)
                .collect(),
            chan_width_hz: 244_140.625,
        })
        .collect();
    let truth: Vec<Complex64> = (0..nant * 2 * nc * 2)
        .map(|_| Complex64::from_polar(rng.random_range(0.7..1.3), rng.random_range(-3.0..3.0)))
        .collect();
    let spec = MsSpec {
        antennas,
        spws: spws.clone(),
        pols: vec![-5, -6],
        feed_angles_rad: [std::f64::consts::FRAC_PI_2, 0.0],
        field: FieldSpec {
            name: "meridian".into(),
            ra_rad: ra,
            dec_rad: dec,
        },
        telescope_name: "OVRO_MMA".into(),
        telescope_itrf_m: tel,
        observer: "calibration tests".into(),
        project: "test".into(),
        time_range_mjd_s: (
            jd_to_mjd_s(times[0]) - 0.5 * int_s,
            jd_to_mjd_s(times[nt - 1]) + 0.5 * int_s,
        ),
        history: vec![HistoryEntry {
            message: "calibration tests".into(),
            application: "dsa110-calibration".into(),
            cli_command: "cargo test".into(),
        }],
        n_rows_per_spw: nt * nbls,
    };
    let path = dir.join("cal.ms");
    let mut w = MsWriter::create(&path, &spec).unwrap();
    let mut models = Vec::new();
    for (s, sp) in spws.iter().enumerate() {
        let mut uvw = Array2::<f64>::zeros((nt * nbls, 3));
        for r in 0..nt * nbls {
            let b = r % nbls;
            for k in 0..3 {
                uvw[[r, k]] = pos[ant2[b] as usize][k] - pos[ant1[b] as usize][k];
            }
        }
        let mut blk = VisBlock {
            times_jd_utc: times.clone(),
            int_time_s: int_s,
            ant1: ant1.clone(),
            ant2: ant2.clone(),
            freqs_hz: sp.freqs_hz.clone(),
            chan_width_hz: sp.chan_width_hz,
            pols: vec![-5, -6],
            uvw_m: uvw,
            data: Array3::zeros((nt * nbls, nc, 2)),
            flags: Array3::from_elem((nt * nbls, nc, 2), false),
            nsamples: Array3::from_elem((nt * nbls, nc, 2), 1.0),
            phase_centre: PhaseCentre::Icrs {
                name: "meridian".into(),
                ra_rad: ra,
                dec_rad: dec,
            },
        };
        let model = predict_block(&blk, std::slice::from_ref(&cal), &beam).unwrap();
        for r in 0..nt * nbls {
            let b = r % nbls;
            let (i, j) = (ant1[b] as usize, ant2[b] as usize);
            for c in 0..nc {
                for p in 0..2 {
                    let g = |a: usize| truth[((a * 2 + s) * nc + c) * 2 + p];
                    let m = model[[r, c]];
                    let v = g(i) * g(j).conj() * Complex64::new(f64::from(m.re), f64::from(m.im));
                    blk.data[[r, c, p]] = Complex32::new(v.re as f32, v.im as f32);
                }
            }
        }
        w.write_block(s, 0, &blk).unwrap();
        models.push(model);
    }
    w.finish().unwrap();
    (path, truth, models)
}

/// Known open defect (issue 10): on noise-free data the flagger's noise estimate is at
/// float32 round-off, so the smooth calibrator drift and bandpass exceed its thresholds
/// and it flags ~100 samples. A flagger needs a noise floor; until it has one this test
/// fails, and it is kept (ignored) so that the fix is proven by it.
#[test]
#[ignore = "open defect: flags noise-free data (no noise floor in the threshold), issue 10"]
fn noise_free_data_is_not_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (ms, _, _) = write_group(dir.path(), 10);
    let rep = flag_ms(&ms, &FlagParams::default()).unwrap();
    assert_eq!(rep.n_flagged, 0, "noise-free data: nothing to flag");
}

#[test]
fn solve_write_read_apply_on_a_measurement_set() {
    let dir = tempfile::tempdir().unwrap();
    let nant = 10;
    let (ms, truth, models) = write_group(dir.path(), nant);
    let solve = solve_ms(&ms, &Catalog::built_in(), &SolveParams::default()).unwrap();
    assert_eq!(solve.calibrator.calibrator.name, "3C286");
    assert!(solve.solutions.qa.passed, "{:?}", solve.solutions.qa);
    // the solutions (VisBlock convention) against the truth, aligned to the refant
    let rk = solve.solutions.refant as usize;
    let mut worst = 0.0f64;
    for s in 0..2 {
        let (b, g) = (&solve.solutions.bandpass[s], &solve.solutions.gains[s]);
        for c in 0..8 {
            for p in 0..2 {
                let t = |a: usize| truth[((a * 2 + s) * 8 + c) * 2 + p];
                let rot = t(rk).conj() / t(rk).norm();
                for i in 0..nant {
                    let k = b.antenna_index(i as u32).unwrap();
                    let got = b.gains[[0, k, c, p]] * g.gains[[0, k, 0, p]];
                    let got = Complex64::new(f64::from(got.re), f64::from(got.im));
                    worst = worst.max((got - t(i) * rot).norm() / t(i).norm());
                }
            }
        }
    }
    eprintln!("MS solve: worst relative gain error {worst:.2e}, refant {rk}");
    assert!(worst < 1e-5, "{worst}");
    // tables written and read back (CASA convention on disk)
    let (bcal, gcal) = (dir.path().join("cal.bcal"), dir.path().join("cal.gcal"));
    write_tables(&solve, &ms, &bcal, &gcal).unwrap();
    let freqs: Vec<Vec<f64>> = solve
        .solutions
        .bandpass
        .iter()
        .map(|t| t.freqs_hz.clone())
        .collect();
    let back = read_table(&bcal, &freqs).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].kind, JonesKind::B);
    let ours = &solve.solutions.bandpass[1];
    for (k, &a) in ours.antennas.iter().enumerate() {
        for c in 0..8 {
            assert_eq!(
                back[1].gains[[0, a as usize, c, 1]],
                ours.gains[[0, k, c, 1]]
            );
        }
    }
    // apply: CORRECTED_DATA = conj(model) (MS convention)
    let rep = apply_tables(&ms, &[bcal.clone(), gcal.clone()]).unwrap();
    assert_eq!(rep.n_newly_flagged, 0);
    let mut t = MsTable::open(&ms).unwrap();
    let mut worst = 0.0f32;
    for s in 0..2 {
        let n = t.meta().n_rows_in_spw(s);
        let ranges = t
            .chunk_ranges(ChunkSpec {
                spw: s,
                max_rows: n,
            })
            .unwrap();
        let chunk = t
            .read_chunk(
                &ranges[0],
                ChunkColumns {
                    data: Some(DataColumn::Corrected),
                    flag: true,
                    weight_spectrum: false,
                },
            )
            .unwrap();
        let d = chunk.data.unwrap();
        for r in 0..d.dim().0 {
            if chunk.ant1[r] == chunk.ant2[r] {
                continue;
            }
            for c in 0..8 {
                for p in 0..2 {
                    let m = models[s][[r, c]].conj();
                    worst = worst.max((d[[r, c, p]] - m).norm() / m.norm());
                }
            }
        }
    }
    eprintln!("MS apply: worst relative deviation of CORRECTED_DATA from the model {worst:.2e}");
    assert!(worst < 1e-5, "{worst}");
    // applying again (an operator's re-run) changes nothing: the weights come
    // from DATA's (SIGMA), not from the WEIGHT_SPECTRUM the first run scaled
    drop(t);
    let first = columns(&ms, DataColumn::Corrected);
    let scaled = first
        .iter()
        .flat_map(|(_, _, w)| w.iter())
        .filter(|&&w| (w - 1.0).abs() > 1e-3)
        .count();
    assert!(scaled > 0, "the first apply scaled no weight");
    // WEIGHT: per row and polarisation the median of WEIGHT_SPECTRUM over the
    // unflagged channels (0 when all are flagged), as the MS writer stores it
    {
        let mut t = MsTable::open(&ms).unwrap();
        let mut varied = 0;
        for (s, (_, flag, ws)) in first.iter().enumerate() {
            let (n, nchan, npol) = ws.dim();
            let row0 = t.meta().spw_rows[s].start;
            let weight = t.read_weight_rows(row0..row0 + n).unwrap();
            for r in 0..n {
                for p in 0..npol {
                    let mut v: Vec<f32> = (0..nchan)
                        .filter(|&c| !flag[[r, c, p]])
                        .map(|c| ws[[r, c, p]])
                        .collect();
                    v.sort_by(f32::total_cmp);
                    let want = match v.len() {
                        0 => 0.0,
                        k if k % 2 == 1 => v[k / 2],
                        k => 0.5 * (v[k / 2 - 1] + v[k / 2]),
                    };
                    varied += usize::from(v.first() != v.last());
                    let got = weight[[r, p]];
                    assert!(
                        (got - want).abs() <= 1e-6 * want.abs(),
                        "window {s} row {r} pol {p}: WEIGHT {got}, median {want}"
                    );
                }
            }
        }
        assert!(
            varied > 0,
            "no row's calibrated weights vary over the channels"
        );
    }
    apply_tables(&ms, &[bcal.clone(), gcal.clone()]).unwrap();
    let second = columns(&ms, DataColumn::Corrected);
    for (s, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!(
            a.0, b.0,
            "window {s}: CORRECTED_DATA changed on re-applying"
        );
        assert_eq!(a.1, b.1, "window {s}: FLAG changed on re-applying");
        let dw =
            a.2.iter()
                .zip(&b.2)
                .map(|(x, y)| (x - y).abs() / x.abs().max(f32::MIN_POSITIVE))
                .fold(0.0f32, f32::max);
        assert!(
            dw <= 1e-6,
            "window {s}: weights changed by {dw:.2e} on re-applying"
        );
    }
    // errors name the file (in their chain, once)
    let chain = |e: &CalError| {
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    };
    let err = apply_tables(&ms, &[dir.path().join("missing.bcal")]).unwrap_err();
    let text = chain(&err);
    assert!(
        matches!(err, CalError::Ms { .. }) && text.matches("missing.bcal").count() == 1,
        "{text}"
    );
    let err = write_tables(&solve, &ms, &bcal, &dir.path().join("x.gcal")).unwrap_err();
    assert!(chain(&err).contains("cal.bcal"), "{}", chain(&err));
}

/// Every window's (DATA-like column, FLAG, WEIGHT_SPECTRUM) of an MS.
#[allow(clippy::type_complexity)]
fn columns(
    ms: &std::path::Path,
    col: DataColumn,
) -> Vec<(Array3<Complex32>, Array3<bool>, Array3<f32>)> {
    let mut t = MsTable::open(ms).unwrap();
    (0..t.meta().spws.len())
        .map(|s| {
            let n = t.meta().n_rows_in_spw(s);
            let ranges = t
                .chunk_ranges(ChunkSpec {
                    spw: s,
                    max_rows: n,
                })
                .unwrap();
            let c = t
                .read_chunk(
                    &ranges[0],
                    ChunkColumns {
                        data: Some(col),
                        flag: true,
                        weight_spectrum: true,
                    },
                )
                .unwrap();
            (c.data.unwrap(), c.flag.unwrap(), c.weight_spectrum.unwrap())
        })
        .collect()
}

#[test]
fn one_pass_equals_flag_then_solve_then_apply() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ms_a, _, _) = write_group(da.path(), 10);
    let (ms_b, _, _) = write_group(db.path(), 10);
    let (cat, params, fp) = (
        Catalog::built_in(),
        SolveParams::default(),
        FlagParams::default(),
    );
    // three steps
    let rep_a = flag_ms(&ms_a, &fp).unwrap();
    let solve_a = solve_ms(&ms_a, &cat, &params).unwrap();
    let (bcal, gcal) = (da.path().join("a.bcal"), da.path().join("a.gcal"));
    write_tables(&solve_a, &ms_a, &bcal, &gcal).unwrap();
    let app_a = apply_tables(&ms_a, &[bcal, gcal]).unwrap();
    // one pass
    let one = flag_solve_apply_ms(&ms_b, &cat, Some(&fp), &params, true).unwrap();
    // the flagger found something to flag here (noise-free data, see above), so
    // the comparison covers flags the solver and the application must respect
    assert!(rep_a.n_flagged > 0);
    assert_eq!(one.flag.as_ref(), Some(&rep_a));
    assert_eq!(one.apply.as_ref(), Some(&app_a));
    let (sa, sb) = (&solve_a.solutions, &one.solve.solutions);
    assert_eq!(sa.refant, sb.refant);
    assert_eq!(sa.bandpass, sb.bandpass);
    assert_eq!(sa.gains, sb.gains);
    assert_eq!(sa.qa, sb.qa);
    // the same FLAG and, to rounding (tables rotated to the reference antenna or
    // not), the same CORRECTED_DATA and weights
    let (ca, cb) = (
        columns(&ms_a, DataColumn::Corrected),
        columns(&ms_b, DataColumn::Corrected),
    );
    let mut worst = 0.0f32;
    for ((xa, fa, wa), (xb, fb, wb)) in ca.iter().zip(&cb) {
        assert_eq!(fa, fb);
        for (a, b) in xa.iter().zip(xb) {
            worst = worst.max((a - b).norm() / a.norm().max(f32::MIN_POSITIVE));
        }
        for (a, b) in wa.iter().zip(wb) {
            worst = worst.max((a - b).abs() / a.abs().max(f32::MIN_POSITIVE));
        }
    }
    eprintln!("one pass against three steps: worst relative difference {worst:.2e}");
    assert!(worst < 1e-5, "{worst}");
    // without --apply nothing is corrected, and FLAG is still written
    let dc = tempfile::tempdir().unwrap();
    let (ms_c, _, _) = write_group(dc.path(), 10);
    let two = flag_solve_apply_ms(&ms_c, &cat, Some(&fp), &params, false).unwrap();
    assert!(two.apply.is_none());
    assert_eq!(two.solve.solutions.gains, sa.gains);
    let mut t = MsTable::open(&ms_c).unwrap();
    assert!(!t.has_column("CORRECTED_DATA").unwrap());
    drop(t);
    for ((_, fa, _), (_, fc, _)) in ca.iter().zip(columns(&ms_c, DataColumn::Data)) {
        assert_eq!(fa, &fc);
    }
}

/// The one pass's split (read for the flagger, flag, read, model + solve,
/// apply, write) on an MS named by `DSA110_ONE_PASS_MS` (flagged, solved and
/// corrected in place: give it a copy, e.g. of `cargo xtask bench calibrate`'s
/// converted group). `cargo test -p dsa110-calibration --test it
/// one_pass_split -- --ignored --nocapture`.
#[test]
#[ignore = "timing on a given MS, run on demand"]
fn one_pass_split_on_a_given_ms() {
    let Ok(path) = std::env::var("DSA110_ONE_PASS_MS") else {
        eprintln!("DSA110_ONE_PASS_MS not set: nothing to time");
        return;
    };
    let cpu = || {
        let s = std::fs::read_to_string("/proc/self/stat").unwrap();
        let f: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    };
    let (t, c) = (std::time::Instant::now(), cpu());
    let one = flag_solve_apply_ms(
        std::path::Path::new(&path),
        &Catalog::built_in(),
        Some(&FlagParams::default()),
        &SolveParams::default(),
        true,
    )
    .unwrap();
    eprintln!(
        "one pass: {:.1} s wall, {:.1} CPU-s, flagged {:.4} %; {:?}; load average {}",
        t.elapsed().as_secs_f64(),
        cpu() - c,
        100.0 * one.flag.map_or(0.0, |f| f.fraction),
        one.timings,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
