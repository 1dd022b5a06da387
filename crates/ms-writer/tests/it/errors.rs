//! Typed errors that name the MS path.

use dsa110_ms_writer::{MsError, MsWriter};

use crate::common::{all_antennas, freqs, random_block, spec, times, transit_field, Rng};
use dsa110_ms_writer::SpwSpec;

fn setup() -> (
    tempfile::TempDir,
    dsa110_ms_writer::MsSpec,
    dsa110_astro::VisBlock,
) {
    let dir = tempfile::tempdir().unwrap();
    let antennas = all_antennas();
    let t = times(2_460_676.8, 2, 10.0);
    let field = transit_field(t[0], "f");
    let df = 1.0e6;
    let spws = vec![SpwSpec {
        name: "sb00".into(),
        freqs_hz: freqs(1.4e9, df, 4),
        chan_width_hz: df,
    }];
    let block = random_block(
        &mut Rng::new(7),
        &antennas,
        &t,
        &[0, 1, 2],
        &spws[0].freqs_hz,
        df,
        &[-5, -6],
        &field,
    );
    let s = spec(antennas, spws, vec![-5, -6], field, &t, 10.0, block.nrows());
    (dir, s, block)
}

#[test]
fn existing_path_is_refused() {
    let (dir, s, _) = setup();
    let ms = dir.path().join("exists.ms");
    std::fs::create_dir(&ms).unwrap();
    let err = MsWriter::create(&ms, &s).unwrap_err();
    assert!(
        matches!(&err, MsError::Exists { path } if path == &ms),
        "{err:?}"
    );
    assert!(err.to_string().contains("exists.ms"));
    assert!(!err.is_retryable());
}

#[test]
fn block_shape_mismatch_is_typed() {
    let (dir, s, block) = setup();
    let ms = dir.path().join("shape.ms");
    let mut w = MsWriter::create(&ms, &s).unwrap();

    // arrays disagree with the declared sizes
    let mut bad = block.clone();
    bad.data = ndarray::Array3::zeros((block.nrows(), 3, 2));
    let err = w.write_block(0, 0, &bad).unwrap_err();
    assert!(
        matches!(&err, MsError::Block { path, spw: 0, .. } if path == &ms),
        "{err:?}"
    );
    assert!(err.to_string().contains("shape.ms"), "{err}");

    // consistent block, wrong channel count for the window
    let mut bad = block.clone();
    bad.freqs_hz.truncate(3);
    bad.data = bad.data.slice(ndarray::s![.., ..3, ..]).to_owned();
    bad.flags = bad.flags.slice(ndarray::s![.., ..3, ..]).to_owned();
    bad.nsamples = bad.nsamples.slice(ndarray::s![.., ..3, ..]).to_owned();
    let err = w.write_block(0, 0, &bad).unwrap_err();
    assert!(
        matches!(&err, MsError::BlockMismatch { path, .. } if path == &ms),
        "{err:?}"
    );

    // wrong frequencies
    let mut bad = block.clone();
    bad.freqs_hz.iter_mut().for_each(|f| *f += 1.0e6);
    let err = w.write_block(0, 0, &bad).unwrap_err();
    assert!(matches!(&err, MsError::BlockMismatch { .. }), "{err:?}");

    // wrong polarisations
    let mut bad = block.clone();
    bad.pols = vec![-6, -5];
    let err = w.write_block(0, 0, &bad).unwrap_err();
    assert!(matches!(&err, MsError::BlockMismatch { .. }), "{err:?}");

    // too many rows for the window
    let err = w.write_block(0, 1, &block).unwrap_err();
    assert!(
        matches!(&err, MsError::RowRange { path, row0: 1, .. } if path == &ms),
        "{err:?}"
    );

    // nothing written yet: finish reports the missing rows
    let err = w.finish().unwrap_err();
    assert!(
        matches!(&err, MsError::Incomplete { path, spw: 0, .. } if path == &ms),
        "{err:?}"
    );
}

#[test]
fn spw_out_of_range_is_typed() {
    let (dir, s, block) = setup();
    let ms = dir.path().join("spw.ms");
    let mut w = MsWriter::create(&ms, &s).unwrap();
    let err = w.write_block(1, 0, &block).unwrap_err();
    assert!(
        matches!(&err, MsError::SpwOutOfRange { path, spw: 1, nspw: 1 } if path == &ms),
        "{err:?}"
    );
    assert!(err.to_string().contains("spw.ms"), "{err}");
    let err = w.write_flagged(3, 0, &block).unwrap_err();
    assert!(
        matches!(&err, MsError::SpwOutOfRange { spw: 3, .. }),
        "{err:?}"
    );
    // the writer is still usable after errors
    w.write_block(0, 0, &block).unwrap();
    w.finish().unwrap();
}

#[test]
fn invalid_spec_is_typed() {
    let (dir, mut s, _) = setup();
    let ms = dir.path().join("spec.ms");
    s.spws[0].freqs_hz.reverse();
    let err = MsWriter::create(&ms, &s).unwrap_err();
    assert!(
        matches!(&err, MsError::InvalidSpec { path, .. } if path == &ms),
        "{err:?}"
    );
    assert!(!ms.exists());
}

/// Rows written twice keep the last write's FLAG_ROW and WEIGHT, whichever way
/// the flags go (FLAG_ROW false is left to the zero-filled storage only on a
/// first write).
#[test]
fn rewritten_rows_take_the_last_flags() {
    let (dir, s, mut block) = setup();
    let ms = dir.path().join("rewrite.ms");
    let mut w = MsWriter::create(&ms, &s).unwrap();
    w.write_flagged(0, 0, &block).unwrap();
    block.flags.fill(false);
    block.nsamples.fill(2.0);
    block.flags.slice_mut(ndarray::s![1, .., ..]).fill(true); // row 1 wholly flagged
    w.write_block(0, 0, &block).unwrap();
    w.finish().unwrap();

    let mut t = rubbl_casatables::Table::open(&ms, rubbl_casatables::TableOpenMode::Read).unwrap();
    let flag_row: Vec<bool> = t.get_col_as_vec("FLAG_ROW").unwrap();
    let want: Vec<bool> = (0..block.nrows()).map(|r| r == 1).collect();
    assert_eq!(flag_row, want);
    let ddid: Vec<i32> = t.get_col_as_vec("DATA_DESC_ID").unwrap();
    assert!(ddid.iter().all(|&d| d == 0));
    let scan: Vec<i32> = t.get_col_as_vec("SCAN_NUMBER").unwrap();
    assert!(scan.iter().all(|&n| n == 1));
    let weight: Vec<f32> = t.get_cell_as_vec("WEIGHT", 0).unwrap();
    assert_eq!(weight, vec![2.0, 2.0]);
    let weight: Vec<f32> = t.get_cell_as_vec("WEIGHT", 1).unwrap();
    assert_eq!(weight, vec![0.0, 0.0]);
}
