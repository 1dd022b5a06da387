//! Files written by the simulator (the correlator's format) and pyuvdata's
//! rewrite of the same files read to the same values, and to the truth.

use std::process::Command;

use dsa110_astro::ObsTime;
use dsa110_hdf5_ingest::{read_all, validate};
use dsa110_sim::{simulate_group, Scale, SimConfig, Truth};

use crate::common::python;
use crate::roundtrip::{assert_same, baseline_numbers};

/// pyuvdata reads one file (singly, with run_check=False: it rejects the
/// correlator's float32 uvw_array before any check), casts uvw to float64,
/// runs check() and writes its own UVH5.
const REWRITE_PY: &str = r#"
import sys, warnings
import numpy as np
from pyuvdata import UVData
warnings.filterwarnings("ignore")
u = UVData.from_file(sys.argv[1], file_type="uvh5", run_check=False)
u.uvw_array = u.uvw_array.astype(np.float64)
u.check()
u.write_uvh5(sys.argv[2], clobber=True)
"#;

#[test]
fn simulator_and_pyuvdata_rewrite_read_the_same_and_match_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::for_scale(Scale::Tiny, dir.path());
    cfg.start = ObsTime::from_iso("2025-10-02T00:12:00").unwrap();
    cfg.subbands = vec![3, 12];
    let g = simulate_group(&cfg).unwrap();
    let truth = Truth::read(&g.truth_path).unwrap();
    for f in &g.files {
        let sb: u8 = f.to_string_lossy()[f.to_string_lossy().len() - 7..][..2]
            .parse()
            .unwrap();
        let meta = validate(f, Some(sb)).unwrap();
        let rewritten = dir.path().join(format!("pyuvdata_sb{sb:02}.uvh5"));
        let out = Command::new(python())
            .args(["-c", REWRITE_PY])
            .arg(f)
            .arg(&rewritten)
            .env("HDF5_USE_FILE_LOCKING", "FALSE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pyuvdata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let a = read_all(f).unwrap();
        let b = read_all(&rewritten).unwrap();
        // uvw: float32 in the correlator's file, float64 after pyuvdata's cast
        assert_same(&a, &b, 0.0);
        assert_eq!(baseline_numbers(f, &a), baseline_numbers(&rewritten, &b));
        // and both equal the simulator's truth
        assert_eq!(a.times_jd_utc, truth.times_jd_utc);
        assert_eq!(a.freqs_hz, truth.freqs_hz[sb as usize]);
        let bl: Vec<(u32, u32)> = a.ant1.iter().copied().zip(a.ant2.iter().copied()).collect();
        let want: Vec<(u32, u32)> = truth
            .baselines
            .iter()
            .map(|b| (b[0] as u32, b[1] as u32))
            .collect();
        assert_eq!(bl, want);
        assert_eq!(meta.nants_data, cfg.nants);
    }
}
