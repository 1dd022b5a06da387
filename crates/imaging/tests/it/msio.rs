//! Writing synthetic [`ImagingVis`] as a Measurement Set (through
//! dsa110-ms-writer) and running WSClean on it.

use std::path::Path;
use std::process::Command;

use dsa110_astro::{PhaseCentre, Site, VisBlock};
use dsa110_imaging::ImagingVis;
use dsa110_ms_writer::{
    jd_to_mjd_s, AntennaSpec, FieldSpec, HistoryEntry, MsSpec, MsWriter, SpwSpec,
};
use ndarray::{Array2, Array3};

/// Write `v` (rows time-major over the baselines i < j of `nants` antennas,
/// `ntimes` times; MS convention) as an MS with XX = YY = Stokes I and
/// per-pol weight w/2 (so that the Stokes I weight is w). Optionally a
/// CORRECTED_DATA column is absent (we never add one).
pub fn write_ms(
    path: &Path,
    v: &ImagingVis,
    nants: usize,
    ntimes: usize,
    ra_rad: f64,
    dec_rad: f64,
) {
    let site = Site::dsa110();
    let base = site.itrf_m().unwrap();
    let antennas: Vec<AntennaSpec> = (0..nants)
        .map(|i| AntennaSpec {
            name: format!("DSA-{:03}", i + 1),
            station: format!("DSA-{:03}", i + 1),
            itrf_m: [base[0] + i as f64 * 10.0, base[1], base[2]],
            diameter_m: 4.65,
            mount: "ALT-AZ".into(),
        })
        .collect();
    let (mut a1, mut a2) = (Vec::new(), Vec::new());
    for i in 0..nants {
        for j in i + 1..nants {
            a1.push(i as u32);
            a2.push(j as u32);
        }
    }
    let nbls = a1.len();
    assert_eq!(nbls * ntimes, v.nrows());
    let int_s = 12.884_901_888;
    let jd0 = 2_460_954.0;
    let times: Vec<f64> = (0..ntimes)
        .map(|i| jd0 + i as f64 * int_s / 86_400.0)
        .collect();
    let nchan = v.nchan();
    let nrows = v.nrows();
    let mut uvw = Array2::<f64>::zeros((nrows, 3));
    let mut data = Array3::zeros((nrows, nchan, 2));
    let mut flags = Array3::from_elem((nrows, nchan, 2), false);
    let mut nsamples = Array3::from_elem((nrows, nchan, 2), 1.0f32);
    for r in 0..nrows {
        for k in 0..3 {
            uvw[[r, k]] = -v.uvw_m[r][k];
        }
        for c in 0..nchan {
            let i = r * nchan + c;
            let d = v.vis[i].conj();
            data[[r, c, 0]] = d;
            data[[r, c, 1]] = d;
            if v.weight[i] == 0.0 {
                flags[[r, c, 0]] = true;
                flags[[r, c, 1]] = true;
            }
            nsamples[[r, c, 0]] = v.weight[i] / 2.0;
            nsamples[[r, c, 1]] = v.weight[i] / 2.0;
        }
    }
    let field = FieldSpec {
        name: "synthetic".into(),
        ra_rad,
        dec_rad,
    };
    let block = VisBlock {
        times_jd_utc: times.clone(),
        int_time_s: int_s,
        ant1: a1,
        ant2: a2,
        freqs_hz: v.freq_hz.clone(),
        chan_width_hz: v.chan_width_hz,
        pols: vec![-5, -6],
        uvw_m: uvw,
        data,
        flags,
        nsamples,
        phase_centre: PhaseCentre::Icrs {
            name: field.name.clone(),
            ra_rad,
            dec_rad,
        },
    };
    let spec = MsSpec {
        antennas,
        spws: vec![SpwSpec {
            name: "sb00".into(),
            freqs_hz: v.freq_hz.clone(),
            chan_width_hz: v.chan_width_hz,
        }],
        pols: vec![-5, -6],
        feed_angles_rad: [std::f64::consts::FRAC_PI_2, 0.0],
        field,
        telescope_name: "OVRO_MMA".into(),
        telescope_itrf_m: base,
        observer: "dsa110-imaging tests".into(),
        project: "test".into(),
        time_range_mjd_s: (
            jd_to_mjd_s(times[0]) - 0.5 * int_s,
            jd_to_mjd_s(times[ntimes - 1]) + 0.5 * int_s,
        ),
        history: vec![HistoryEntry {
            message: "dsa110-imaging tests".into(),
            application: "dsa110-imaging tests".into(),
            cli_command: "cargo test -p dsa110-imaging".into(),
        }],
        n_rows_per_spw: nrows,
    };
    if path.exists() {
        std::fs::remove_dir_all(path).unwrap();
    }
    let mut w = MsWriter::create(path, &spec).unwrap();
    w.write_block(0, 0, &block).unwrap();
    w.finish().unwrap();
}

/// Run WSClean 3.1 with `args` (plus `-name name ms`); panics with its output on failure.
pub fn wsclean(ms: &Path, name: &Path, args: &[&str]) -> std::time::Duration {
    let t = std::time::Instant::now();
    let out = Command::new("wsclean")
        .args(args)
        .arg("-name")
        .arg(name)
        .arg(ms)
        .output()
        .expect("run wsclean (Debian package wsclean must be installed)");
    assert!(
        out.status.success(),
        "wsclean failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}
