//! Our flagger and AOFlagger 3.1 (Debian `aoflagger`, default strategy) on the
//! same simulated data, scored and timed side by side. Run on demand:
//! `cargo test -p dsa110-calibration --test it aoflagger -- --ignored --nocapture`.
//! It fails (does not skip) when the Python venv or `aoflagger` is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use dsa110_calibration::{flag_block, BaselineLayout, FlagParams};
use ndarray::Array3;
use num_complex::Complex32;

use dsa110_test_support::python;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/rfi_ms.py")
}

fn read_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (detection of cross samples with |RFI| > 3σ, false-positive rate on clean cross samples)
fn score(flags: &[bool], rfi: &[f32], cross: &[bool], nper_row: usize, sigma: f32) -> (f64, f64) {
    let (mut hit, mut n, mut fp, mut nc) = (0usize, 0usize, 0usize, 0usize);
    for (k, (&f, &a)) in flags.iter().zip(rfi).enumerate() {
        if !cross[k / nper_row] {
            continue;
        }
        if a > 3.0 * sigma {
            n += 1;
            hit += usize::from(f);
        } else if a == 0.0 {
            nc += 1;
            fp += usize::from(f);
        }
    }
    (hit as f64 / n as f64, fp as f64 / nc as f64)
}

#[test]
fn aoflagger_side_by_side() {
    let nant: usize = std::env::var("RFI_NANT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(python())
        .arg(script())
        .args(["make", dir.path().to_str().unwrap(), &nant.to_string(), "1"])
        .output()
        .expect("the interop venv's python (set DSA110_PYTHON)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&read_bytes(&dir.path().join("meta.json"))).unwrap();
    let get = |k: &str| meta[k].as_u64().unwrap() as usize;
    let (nrows, nchan, npol, ntimes) = (get("nrows"), get("nchan"), get("npol"), get("ntimes"));
    let sigma = meta["sigma"].as_f64().unwrap() as f32;
    let ants = |k: &str| -> Vec<u32> {
        meta[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect()
    };
    let (ant1, ant2) = (ants("ant1"), ants("ant2"));
    let raw = read_bytes(&dir.path().join("data.c64"));
    let vals: Vec<Complex32> = raw
        .chunks_exact(8)
        .map(|b| {
            Complex32::new(
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            )
        })
        .collect();
    let data = Array3::from_shape_vec((nrows, nchan, npol), vals).unwrap();
    let rfi: Vec<f32> = read_bytes(&dir.path().join("rfi.f32"))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let nbls = ant1.len();
    let cross: Vec<bool> = (0..nrows)
        .map(|r| ant1[r % nbls] != ant2[r % nbls])
        .collect();
    // ours
    let mut flags = Array3::from_elem((nrows, nchan, npol), false);
    let layout = BaselineLayout {
        ntimes,
        ant1: &ant1,
        ant2: &ant2,
    };
    let t = Instant::now();
    flag_block(
        data.view(),
        flags.view_mut(),
        &layout,
        None,
        &FlagParams::default(),
    )
    .unwrap();
    let t_ours = t.elapsed().as_secs_f64();
    let ours = score(flags.as_slice().unwrap(), &rfi, &cross, nchan * npol, sigma);
    // AOFlagger
    let ms = dir.path().join("rfi.ms");
    let t = Instant::now();
    let out = Command::new("aoflagger")
        .arg(&ms)
        .output()
        .expect("aoflagger (apt-get install aoflagger)");
    let t_ao = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fpath = dir.path().join("flags.u8");
    let out = Command::new(python())
        .arg(script())
        .args(["flags", ms.to_str().unwrap(), fpath.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ao_flags: Vec<bool> = read_bytes(&fpath).iter().map(|&b| b != 0).collect();
    let ao = score(&ao_flags, &rfi, &cross, nchan * npol, sigma);
    eprintln!(
        "{} planes of {ntimes}×{nchan}: ours detected {:.2} %, false positives {:.3} %, {t_ours:.2} s (in memory); \
         AOFlagger 3.1 detected {:.2} %, false positives {:.3} %, {t_ao:.2} s (MS in place); load {}",
        nbls * npol,
        100.0 * ours.0,
        100.0 * ours.1,
        100.0 * ao.0,
        100.0 * ao.1,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    // detection per kind of RFI (cross samples > 3σ)
    let chans: Vec<usize> = meta["emitter_chans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let btimes: Vec<usize> = meta["burst_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let mut kinds = [(0usize, 0usize, 0usize); 3]; // (n, ours, ao) for emitters, bursts, spikes
    let fl = flags.as_slice().unwrap();
    for (k, &a) in rfi.iter().enumerate() {
        let r = k / (nchan * npol);
        if !cross[r] || a <= 3.0 * sigma {
            continue;
        }
        let (t, c) = (r / nbls, (k / npol) % nchan);
        let kind = if btimes.contains(&t) {
            1
        } else if chans.contains(&c) {
            0
        } else {
            2
        };
        kinds[kind].0 += 1;
        kinds[kind].1 += usize::from(fl[k]);
        kinds[kind].2 += usize::from(ao_flags[k]);
    }
    eprintln!(
        "emitters {:?} σ, bursts {:?} σ; detected (ours / AOFlagger): emitters {:.2} / {:.2} %, bursts {:.2} / {:.2} %, spikes {:.2} / {:.2} %",
        meta["emitter_amp_sigma"], meta["burst_amp_sigma"],
        100.0 * kinds[0].1 as f64 / kinds[0].0.max(1) as f64, 100.0 * kinds[0].2 as f64 / kinds[0].0.max(1) as f64,
        100.0 * kinds[1].1 as f64 / kinds[1].0.max(1) as f64, 100.0 * kinds[1].2 as f64 / kinds[1].0.max(1) as f64,
        100.0 * kinds[2].1 as f64 / kinds[2].0.max(1) as f64, 100.0 * kinds[2].2 as f64 / kinds[2].0.max(1) as f64,
    );
    for &ch in &chans {
        let (mut n, mut o, mut a) = (0, 0, 0);
        for r in 0..nrows {
            if !cross[r] || btimes.contains(&(r / nbls)) {
                continue;
            }
            for p in 0..npol {
                let k = (r * nchan + ch) * npol + p;
                n += 1;
                o += usize::from(fl[k]);
                a += usize::from(ao_flags[k]);
            }
        }
        eprintln!(
            "  emitter channel {ch}: ours {:.1} %, AOFlagger {:.1} %",
            100.0 * o as f64 / n as f64,
            100.0 * a as f64 / n as f64
        );
    }
    assert!(ours.0 >= 0.95 && ours.1 <= 0.01);
    assert!(ours.0 >= ao.0 - 0.005, "detection below AOFlagger's");
    assert!(ours.1 <= ao.1, "more false positives than AOFlagger");
}
