//! Broken files: each kind gives its own error variant, naming the file and the
//! dataset. Most are made by h5py edits of a copy (`make_test_files.py break`), the
//! rest by byte edits here.

use std::io::Write;
use std::path::{Path, PathBuf};

use dsa110_hdf5_ingest::{peek, read_all, validate, IngestError, SubbandReader};

use crate::common::{fixtures, NAME};

/// `validate` fails with error kind `kind`, the message names the file and (if
/// given) the dataset, and the error is not retryable.
fn check_err(path: &Path, e: &IngestError, kind: &str, dataset: Option<&str>) {
    assert_eq!(e.kind(), kind, "{path:?}: got {e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    assert_eq!(e.path(), path);
    if let Some(ds) = dataset {
        assert!(msg.contains(ds), "message does not name {ds}: {msg}");
        assert_eq!(e.dataset(), Some(ds), "{msg}");
    }
}

fn check(broken: &str, kind: &str, dataset: Option<&str>) {
    let p = fixtures().broken(broken);
    let e = validate(&p, Some(3)).expect_err(broken);
    check_err(&p, &e, kind, dataset);
    assert!(!e.is_retryable(), "{broken}: {e}");
}

/// Structural problems are found by `peek` and `read_all` too.
fn check_structural(broken: &str, kind: &str, dataset: Option<&str>) {
    check(broken, kind, dataset);
    let p = fixtures().broken(broken);
    check_err(&p, &peek(&p).expect_err(broken), kind, dataset);
    check_err(&p, &read_all(&p).expect_err(broken), kind, dataset);
}

#[test]
fn missing_header_group() {
    check_structural("no_header", "missing_group", Some("Header"));
}

#[test]
fn missing_data_group() {
    check_structural("no_data", "missing_group", Some("Data"));
}

#[test]
fn missing_header_dataset_time_array() {
    check_structural(
        "no_time_array",
        "missing_dataset",
        Some("Header/time_array"),
    );
}

#[test]
fn missing_header_dataset_freq_array() {
    check_structural(
        "no_freq_array",
        "missing_dataset",
        Some("Header/freq_array"),
    );
}

#[test]
fn missing_data_flags() {
    check_structural("no_flags", "missing_dataset", Some("Data/flags"));
}

#[test]
fn missing_data_nsamples() {
    check_structural("no_nsamples", "missing_dataset", Some("Data/nsamples"));
}

#[test]
fn empty_time_array() {
    check_structural(
        "empty_time_array",
        "empty_dataset",
        Some("Header/time_array"),
    );
}

#[test]
fn nblts_not_nbls_times_ntimes() {
    check_structural("nblts_mismatch", "inconsistent", Some("Header/Nblts"));
}

#[test]
fn ant_array_length_disagrees_with_nblts() {
    check_structural(
        "ant_array_length",
        "inconsistent",
        Some("Header/ant_1_array"),
    );
}

#[test]
fn visdata_shape_wrong() {
    check_structural("visdata_shape", "shape", Some("Data/visdata"));
}

#[test]
fn flags_shape_wrong() {
    check_structural("flags_shape", "shape", Some("Data/flags"));
}

#[test]
fn visdata_not_complex() {
    check_structural("visdata_dtype", "dtype", Some("Data/visdata"));
}

#[test]
fn time_array_not_float() {
    check_structural("time_dtype", "dtype", Some("Header/time_array"));
}

#[test]
fn phase_center_dec_not_a_number() {
    check_structural(
        "bad_phase_center_dec",
        "dtype",
        Some("Header/extra_keywords/phase_center_dec"),
    );
}

#[test]
fn frequencies_of_another_subband() {
    check(
        "freq_wrong_subband",
        "frequency_mismatch",
        Some("Header/freq_array"),
    );
}

#[test]
fn frequencies_ascending_in_correlator_file() {
    check(
        "freq_ascending",
        "frequency_mismatch",
        Some("Header/freq_array"),
    );
    let e = validate(&fixtures().broken("freq_ascending"), None).unwrap_err();
    assert!(e.to_string().contains("descending"), "{e}");
}

#[test]
fn file_name_subband_disagrees_with_frequencies() {
    let fx = fixtures();
    let d = fx.scratch("sb05");
    let p = d.join("2025-10-05T12:00:00_sb05.hdf5");
    std::fs::copy(fx.file("corr"), &p).unwrap();
    let e = validate(&p, None).unwrap_err();
    check_err(&p, &e, "frequency_mismatch", Some("Header/freq_array"));
    assert!(e.to_string().contains("subband 5"), "{e}");
    // an explicit expectation that contradicts the name
    let e = validate(&fx.file("corr"), Some(4)).unwrap_err();
    check_err(&fx.file("corr"), &e, "subband_mismatch", None);
    // pyuvdata files are checked against the subband too
    let p2 = d.join("2025-10-05T12:00:00_sb07.hdf5");
    std::fs::copy(fx.file("pyuvdata"), &p2).unwrap();
    check_err(
        &p2,
        &validate(&p2, None).unwrap_err(),
        "frequency_mismatch",
        Some("Header/freq_array"),
    );
}

#[test]
fn unknown_polarisation_code() {
    check(
        "bad_pol",
        "bad_polarization",
        Some("Header/polarization_array"),
    );
}

#[test]
fn antenna_out_of_range() {
    check_structural(
        "ant_out_of_range",
        "antenna_out_of_range",
        Some("Header/ant_2_array"),
    );
}

#[test]
fn non_finite_time() {
    check_structural("nonfinite_time", "non_finite", Some("Header/time_array"));
}

#[test]
fn zero_integration_time() {
    check(
        "zero_int_time",
        "non_positive",
        Some("Header/integration_time"),
    );
}

#[test]
fn negative_channel_width() {
    check(
        "negative_chan_width",
        "non_positive",
        Some("Header/channel_width"),
    );
}

#[test]
fn blts_not_rectangular() {
    check_structural(
        "not_rectangular",
        "not_rectangular",
        Some("Header/ant_1_array"),
    );
}

// ---------------------------------------------------------------- byte edits

fn scratch_copy(test: &str, variant: &str) -> PathBuf {
    let fx = fixtures();
    let p = fx.scratch(test).join(NAME);
    std::fs::copy(fx.file(variant), &p).unwrap();
    p
}

#[test]
fn file_missing() {
    let p = fixtures().scratch("missing").join(NAME);
    let e = validate(&p, None).unwrap_err();
    check_err(&p, &e, "not_found", None);
    check_err(&p, &read_all(&p).unwrap_err(), "not_found", None);
}

#[test]
fn zero_byte_file() {
    let p = scratch_copy("zero", "corr");
    std::fs::write(&p, b"").unwrap();
    check_err(&p, &validate(&p, None).unwrap_err(), "empty_file", None);
    check_err(&p, &peek(&p).unwrap_err(), "empty_file", None);
}

#[test]
fn random_junk_is_not_hdf5() {
    use rand::{Rng, SeedableRng};
    let p = scratch_copy("junk", "corr");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let junk: Vec<u8> = (0..70_000).map(|_| rng.random()).collect();
    std::fs::write(&p, &junk).unwrap();
    check_err(&p, &validate(&p, None).unwrap_err(), "not_hdf5", None);
    std::fs::write(&p, b"hello").unwrap();
    check_err(&p, &read_all(&p).unwrap_err(), "not_hdf5", None);
}

#[test]
fn truncated_files() {
    let src = std::fs::read(fixtures().file("corr")).unwrap();
    for frac in [0.95, 0.5, 0.1] {
        let p = scratch_copy(&format!("trunc{frac}"), "corr");
        let n = (src.len() as f64 * frac) as usize;
        std::fs::write(&p, &src[..n]).unwrap();
        let e = validate(&p, None).unwrap_err();
        check_err(&p, &e, "truncated", None);
        assert!(!e.is_retryable());
        check_err(&p, &read_all(&p).unwrap_err(), "truncated", None);
    }
    // shorter than a superblock: the signature is there, the rest is not
    let p = scratch_copy("trunc_tiny", "corr");
    std::fs::write(&p, &src[..40]).unwrap();
    let e = validate(&p, None).unwrap_err();
    assert!(matches!(e.kind(), "truncated" | "hdf5"), "{e}");
    check_err(&p, &e, e.kind(), None);
}

/// Truncated, then padded back to its size with zeros: the header and the EOF check
/// pass, so only reading the last (LZF) chunk of Data catches it.
#[test]
fn truncated_data_with_intact_header_is_caught_by_last_chunk_read() {
    let fx = fixtures();
    let src = std::fs::read(fx.file("pyuvdata")).unwrap();
    let m = peek(&fx.file("pyuvdata")).unwrap();
    assert!(m.flags.filtered);
    // zero everything from the start of the compressed flags chunk onwards
    // (find it by locating where the last Data chunks live: zero the tail of the
    // file past the header datasets, trying cut points from the end).
    let mut caught = false;
    for back in (256..src.len() / 2).step_by(256) {
        let p = scratch_copy("zeropad", "pyuvdata");
        let mut bytes = src.clone();
        let cut = src.len() - back;
        bytes[cut..].iter_mut().for_each(|b| *b = 0);
        std::fs::write(&p, &bytes).unwrap();
        if peek(&p).is_ok() {
            if let Err(e) = validate(&p, None) {
                let ds = e.dataset().unwrap_or("").to_string();
                assert!(ds.starts_with("Data/"), "{e}");
                assert!(matches!(e.kind(), "hdf5" | "truncated"), "{e}");
                check_err(&p, &e, e.kind(), Some(&ds));
                caught = true;
                break;
            }
        }
    }
    assert!(
        caught,
        "no zero-padded variant passed peek but failed validate"
    );
}

#[test]
fn incomplete_file_is_retryable() {
    let fx = fixtures();
    let d = fx.scratch("incomplete");
    let p = d.join("2025-10-05T12:00:00_sb03_incomplete.hdf5");
    std::fs::copy(fx.file("corr"), &p).unwrap();
    let e = validate(&p, None).unwrap_err();
    check_err(&p, &e, "incomplete", None);
    assert!(e.is_retryable());
}

#[test]
fn size_change_while_reading_is_retryable() {
    let p = scratch_copy("grow", "corr");
    let r = SubbandReader::open(&p).unwrap();
    r.read_times(0, 1).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(&[0u8; 100])
        .unwrap();
    let e = r.read_times(1, 1).unwrap_err();
    check_err(&p, &e, "size_changed", None);
    assert!(e.is_retryable());
}
