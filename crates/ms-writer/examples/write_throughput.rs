//! Write a synthetic DSA-110-sized MS and report the throughput.
//!
//! `cargo run -p dsa110-ms-writer --example write_throughput [-- NSPW [DIR]]`
//! (default 2 spectral windows, in a temporary directory unless DIR is given,
//! then kept as `DIR/throughput.ms`): 96 antennas with
//! autos (4656 baselines) × 24 integrations × 48 channels × 2 pols per window.
//! Set `DSA110_READ_BACK=1` to also time `read_ms` on the result.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use dsa110_astro::{PhaseCentre, VisBlock};
use dsa110_ms_writer::{AntennaSpec, FieldSpec, MsSpec, MsWriter, SpwSpec};
use ndarray::{Array2, Array3};
use num_complex::Complex32;

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        dir_size(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nspw: usize = args.get(1).map_or(2, |a| a.parse().expect("NSPW"));
    // with DIR, the MS is kept as DIR/throughput.ms; otherwise a temp dir
    let tmp = tempfile::tempdir().unwrap();
    let ms = args
        .get(2)
        .map_or_else(|| tmp.path().to_path_buf(), PathBuf::from)
        .join("throughput.ms");

    let (nant, ntimes, nchan, npol) = (96usize, 24usize, 48usize, 2usize);
    let antennas: Vec<AntennaSpec> = (0..117)
        .map(|i| AntennaSpec {
            name: format!("DSA-{:03}", i + 1),
            station: format!("DSA-{:03}", i + 1),
            itrf_m: [-2_409_150.0 + i as f64, -4_478_573.0, 3_838_617.0],
            diameter_m: 4.65,
            mount: "ALT-AZ".into(),
        })
        .collect();
    let (mut a1, mut a2) = (Vec::new(), Vec::new());
    for i in 0..nant as u32 {
        for j in i..nant as u32 {
            a1.push(i);
            a2.push(j);
        }
    }
    let nbls = a1.len();
    let nrows = nbls * ntimes;
    let df = 244_140.625;
    let spws: Vec<SpwSpec> = (0..nspw)
        .map(|s| SpwSpec {
            name: format!("sb{s:02}"),
            freqs_hz: (0..nchan)
                .map(|c| 1.311e9 + (s * nchan + c) as f64 * df)
                .collect(),
            chan_width_hz: df,
        })
        .collect();
    let jd0 = 2_460_676.8;
    let times: Vec<f64> = (0..ntimes)
        .map(|t| jd0 + t as f64 * 12.884_901_888 / 86_400.0)
        .collect();
    let spec = MsSpec {
        antennas,
        spws: spws.clone(),
        pols: vec![-5, -6],
        feed_angles_rad: [std::f64::consts::FRAC_PI_2, 0.0],
        field: FieldSpec {
            name: "drift".into(),
            ra_rad: 1.0,
            dec_rad: 0.6,
        },
        telescope_name: "OVRO_MMA".into(),
        telescope_itrf_m: [-2_409_150.0, -4_478_573.0, 3_838_617.0],
        observer: "bench".into(),
        project: "bench".into(),
        time_range_mjd_s: (
            dsa110_ms_writer::jd_to_mjd_s(times[0]),
            dsa110_ms_writer::jd_to_mjd_s(times[ntimes - 1]),
        ),
        history: vec![],
        n_rows_per_spw: nrows,
    };
    let mut freqs = spws[0].freqs_hz.clone();
    freqs.reverse(); // the correlator's descending order
    let mut block = VisBlock {
        times_jd_utc: times.clone(),
        int_time_s: 12.884_901_888,
        ant1: a1.clone(),
        ant2: a2.clone(),
        freqs_hz: freqs,
        chan_width_hz: df,
        pols: vec![-5, -6],
        uvw_m: Array2::from_shape_fn((nrows, 3), |(r, k)| (r % 977) as f64 + k as f64),
        data: Array3::from_shape_fn((nrows, nchan, npol), |(r, c, p)| {
            Complex32::new((r % 101) as f32, (c * 2 + p) as f32)
        }),
        flags: Array3::from_shape_fn((nrows, nchan, npol), |(r, c, _)| (r + c) % 17 == 0),
        nsamples: Array3::from_elem((nrows, nchan, npol), 1.0),
        phase_centre: PhaseCentre::MeridianDrift { dec_rad: 0.6 },
    };

    // timed: create + write_block per window + finish (not the synthesis)
    let t0 = Instant::now();
    let mut w = MsWriter::create(&ms, &spec).unwrap();
    let mut timed = t0.elapsed().as_secs_f64();
    println!("create: {timed:.2} s");
    for (s, spw) in spws.iter().enumerate() {
        block.freqs_hz = spw.freqs_hz.iter().rev().copied().collect();
        let ts = Instant::now();
        w.write_block(s, 0, &block).unwrap();
        let dt = ts.elapsed().as_secs_f64();
        timed += dt;
        println!("spw {s}: {dt:.2} s");
    }
    let ts = Instant::now();
    let summary = w.finish().unwrap();
    let dt = ts.elapsed().as_secs_f64();
    println!("finish: {dt:.2} s");
    let total = timed + dt;
    let disk = dir_size(&ms);
    let data_mb = summary.data_bytes as f64 / 1e6;
    println!(
        "{} rows ({nspw} spw × {nbls} baselines × {ntimes} times × {nchan} ch × {npol} pol)",
        summary.n_rows
    );
    println!("total {total:.2} s");
    println!(
        "DATA {data_mb:.1} MB → {:.0} MB/s of DATA; {:.1} MB on disk → {:.0} MB/s",
        data_mb / total,
        disk as f64 / 1e6,
        disk as f64 / 1e6 / total
    );
    if std::env::var_os("DSA110_READ_BACK").is_some() {
        let ts = Instant::now();
        let back = dsa110_ms_writer::read_ms(&ms).unwrap();
        let dt = ts.elapsed().as_secs_f64();
        println!(
            "read_ms: {} windows in {dt:.2} s ({:.0} MB/s of DATA)",
            back.spws.len(),
            data_mb / dt
        );
    }
}
