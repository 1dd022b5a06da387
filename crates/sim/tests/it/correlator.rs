//! Correlator mode: `_incomplete` files that grow and are renamed when done.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dsa110_sim::CorrelatorMode;

use crate::{read_vis, tiny, TestResult};

#[test]
fn watcher_sees_only_incomplete_names_until_the_rename() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cfg = tiny(dir.path());
    cfg.subbands = (0..8).collect();
    let mode = CorrelatorMode {
        shuffle_subbands: true,
        delay_per_integration: Duration::from_millis(25),
    };
    let done = AtomicBool::new(false);
    let ntimes = cfg.ntimes as i64;
    let (summary, watched) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| -> Result<_, String> {
            let mut incomplete = BTreeSet::new();
            let mut finals: BTreeMap<String, usize> = BTreeMap::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let names: Vec<String> = std::fs::read_dir(dir.path())
                    .map_err(|e| e.to_string())?
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".hdf5"))
                    .collect();
                for n in names {
                    if n.ends_with("_incomplete.hdf5") {
                        incomplete.insert(n);
                    } else if !finals.contains_key(&n) {
                        // a final name must be a complete, closed file the moment it appears
                        let nt =
                            ntimes_of(&dir.path().join(&n)).map_err(|e| format!("{n}: {e}"))?;
                        if nt != ntimes {
                            return Err(format!("{n} visible with {nt} of {ntimes} integrations"));
                        }
                        let k = finals.len();
                        finals.insert(n, k);
                    }
                }
                if finished {
                    return Ok((incomplete, finals));
                }
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        let r = crate::sim_correlator(&cfg, &mode);
        done.store(true, Ordering::SeqCst);
        let w = watcher.join();
        (r, w)
    });
    let summary = summary?;
    let (incomplete, finals) = watched.map_err(|_| "watcher panicked")??;
    // every file was first seen under its _incomplete name
    assert_eq!(finals.len(), 8);
    for f in &summary.files {
        let name = f
            .file_name()
            .ok_or("no name")?
            .to_string_lossy()
            .to_string();
        let inc = name.replace(".hdf5", "_incomplete.hdf5");
        assert!(incomplete.contains(&inc), "never saw {inc}");
        assert!(finals.contains_key(&name));
    }
    // subbands completed in a shuffled order
    let mut order: Vec<(usize, String)> = finals.iter().map(|(n, &k)| (k, n.clone())).collect();
    order.sort();
    let sbs: Vec<String> = order
        .iter()
        .map(|(_, n)| n[n.len() - 9..n.len() - 5].to_string())
        .collect();
    let mut sorted = sbs.clone();
    sorted.sort();
    assert_ne!(sbs, sorted, "subbands written in order");
    // no _incomplete left; data equal batch mode's
    let left = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("_incomplete"))
        .count();
    assert_eq!(left, 0);
    let batch_dir = tempfile::tempdir()?;
    cfg.out_dir = batch_dir.path().to_path_buf();
    let batch = crate::sim(&cfg)?;
    assert_eq!(batch.files.len(), summary.files.len());
    for (a, b) in summary.files.iter().zip(&batch.files) {
        assert_eq!(a.file_name(), b.file_name());
        assert_eq!(read_vis(a)?, read_vis(b)?);
        for name in ["Header/time_array", "Header/integration_time"] {
            assert_eq!(read_f64(a, name)?, read_f64(b, name)?, "{name}");
        }
    }
    Ok(())
}

fn ntimes_of(path: &Path) -> hdf5::Result<i64> {
    let f = hdf5::File::open(path)?;
    let nt = f.dataset("Header/Ntimes")?.read_scalar::<i64>()?;
    let nblts = f.dataset("Header/Nblts")?.read_scalar::<i64>()?;
    let shape = f.dataset("Data/visdata")?.shape();
    if shape[0] as i64 != nblts {
        return Err(hdf5::Error::from("Nblts != visdata rows"));
    }
    Ok(nt)
}

fn read_f64(path: &Path, name: &str) -> hdf5::Result<Vec<f64>> {
    hdf5::File::open(path)?.dataset(name)?.read_raw::<f64>()
}
