//! Random damage to valid tiny files: `validate`, `peek` and `read_all` return `Ok`
//! or a typed `Err`, never panic.
//!
//! In process (with `catch_unwind`): truncations anywhere, and byte flips inside the
//! `Data` chunks (raw and LZF-compressed). Byte flips in the HDF5 *metadata* can
//! crash libhdf5 1.10 itself (a SIGSEGV inside `H5Dopen2` was found this way), which
//! no Rust code can catch, so those cases run in child processes: the test fails if
//! any child panics, and reports (without failing) children that libhdf5 killed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;

use dsa110_hdf5_ingest::{peek, read_all, validate};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use crate::common::{fixtures, NAME};

#[derive(Clone, Debug)]
enum Damage {
    Truncate(f64),
    /// (which chunk as a fraction of the list, position within it, new byte)
    DataFlips(Vec<(f64, f64, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0f64..1.0).prop_map(Damage::Truncate),
        prop::collection::vec((0.0f64..1.0, 0.0f64..1.0, any::<u8>()), 1..8)
            .prop_map(Damage::DataFlips),
    ]
}

fn data_ranges(variant: &str) -> Vec<(usize, usize)> {
    fixtures().truth["data_ranges"][variant]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_u64().unwrap() as usize,
                r[1].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

fn apply(src: &[u8], ranges: &[(usize, usize)], d: &Damage) -> Vec<u8> {
    match d {
        Damage::Truncate(f) => src[..(src.len() as f64 * f) as usize].to_vec(),
        Damage::DataFlips(flips) => {
            let mut b = src.to_vec();
            for &(which, pos, byte) in flips {
                let (off, size) =
                    ranges[((ranges.len() as f64 * which) as usize).min(ranges.len() - 1)];
                b[off + ((size as f64 * pos) as usize).min(size - 1)] = byte;
            }
            b
        }
    }
}

/// Every entry point on `p`: Ok or a typed error naming the file.
fn exercise(p: &Path) {
    for e in [validate(p, None).err(), peek(p).err(), read_all(p).err()]
        .into_iter()
        .flatten()
    {
        assert_eq!(e.path(), p, "{e}");
        let _ = (e.to_string(), e.is_retryable(), e.kind(), e.dataset());
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("DSA110_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    // `DSA110_FUZZ_CASES=5000` for a longer soak.
    #![proptest_config(ProptestConfig {
        cases: cases(160),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn truncated_or_data_damaged_files_never_panic(d in damage(), pyuvdata in any::<bool>()) {
        let fx = fixtures();
        let variant = if pyuvdata { "pyuvdata" } else { "corr" };
        let src = std::fs::read(fx.file(variant)).unwrap();
        let dir = fx.scratch(&format!("fuzz-{}", std::process::id()));
        let p = dir.join(NAME);
        std::fs::write(&p, apply(&src, &data_ranges(variant), &d)).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| exercise(&p)));
        prop_assert!(r.is_ok(), "panicked on {:?}", d);
    }
}

#[test]
fn metadata_flips_never_panic_out_of_process() {
    let fx = fixtures();
    let exe = std::env::current_exe().unwrap();
    let dir = fx.scratch("fuzz-meta");
    let mut rng = rand::rngs::StdRng::seed_from_u64(110);
    let (mut ok, mut typed_err_or_ok, mut killed) = (0, 0, Vec::new());
    for case in 0..cases(100) {
        let variant = if case % 2 == 0 { "corr" } else { "pyuvdata" };
        let mut b = std::fs::read(fx.file(variant)).unwrap();
        let nflips = rng.random_range(1..4);
        let mut flips = Vec::new();
        for _ in 0..nflips {
            // mostly the first 4 KiB (superblock, root group, Header object headers)
            let span = if rng.random_bool(0.5) {
                b.len().min(4096)
            } else {
                b.len()
            };
            let i = rng.random_range(0..span);
            let v: u8 = rng.random();
            b[i] = v;
            flips.push((i, v));
        }
        let p = dir.join(format!("{case:04}_{NAME}"));
        std::fs::write(&p, &b).unwrap();
        let out = Command::new(&exe)
            .args(["fuzz::repro", "--exact", "--test-threads=1"])
            .env("DSA110_REPRO", &p)
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => {
                typed_err_or_ok += 1;
                ok += 1;
                std::fs::remove_file(&p).unwrap();
            }
            Some(c) => panic!(
                "case {case} ({variant}, flips {flips:?}) exited {c}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            None => killed.push((case, variant, flips)),
        }
    }
    if !killed.is_empty() {
        eprintln!(
            "libhdf5 crashed (signal) on {} of {} metadata-damaged files (kept in {}): {killed:?}",
            killed.len(),
            ok + killed.len(),
            dir.display()
        );
    }
    assert!(typed_err_or_ok > 0);
}

/// Re-run one file: `DSA110_REPRO=/path/file.hdf5 cargo test -p dsa110-hdf5-ingest
/// --test it fuzz::repro -- --exact --nocapture`. A panic fails the test.
#[test]
fn repro() {
    let Some(p) = std::env::var_os("DSA110_REPRO") else {
        return;
    };
    let p = std::path::PathBuf::from(p);
    if std::env::var_os("DSA110_REPRO_VERBOSE").is_none() {
        exercise(&p);
        return;
    }
    let t = std::time::Instant::now();
    eprintln!("peek: {:?} {:?}", peek(&p).map(|_| ()), t.elapsed());
    let t = std::time::Instant::now();
    let v = validate(&p, None).map(|_| ()).map_err(|e| e.to_string());
    eprintln!("validate: {v:?} {:?}", t.elapsed());
    let t = std::time::Instant::now();
    eprintln!("read_all: {:?} {:?}", read_all(&p).map(|_| ()), t.elapsed());
}
