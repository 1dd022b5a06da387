//! Calibrator catalogue CSV.

use dsa110_calibration::{CalError, Catalog};

#[test]
fn csv_replaces_the_built_in_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cals.csv");
    std::fs::write(
        &p,
        "name,ra_deg,dec_deg,flux_jy,spectral_index\n# comment\nMYCAL,10.5,40.25,3.5,-0.7\n\n3C286,202.7845,30.5092,14.65,-0.5\n",
    )
    .unwrap();
    let c = Catalog::from_csv(&p).unwrap();
    assert_eq!(c.sources.len(), 2);
    let m = c.get("mycal").unwrap();
    assert_eq!(
        (m.ra_deg, m.dec_deg, m.flux_jy, m.spectral_index),
        (10.5, 40.25, 3.5, -0.7)
    );
    assert!(c.get("3C48").is_none());
}

#[test]
fn a_bad_row_is_named_by_file_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.csv");
    let check = |text: &str, row: usize, field: &str| {
        std::fs::write(&p, text).unwrap();
        let err = Catalog::from_csv(&p).unwrap_err();
        match &err {
            CalError::CatalogParse {
                path,
                row: r,
                field: f,
                ..
            } => {
                assert_eq!(
                    (path.as_path(), *r, f.as_str()),
                    (p.as_path(), row, field),
                    "{err}"
                );
            }
            other => panic!("unexpected {other}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("bad.csv") && msg.contains(&format!("row {row}")) && msg.contains(field),
            "{msg}"
        );
    };
    let h = "name,ra_deg,dec_deg,flux_jy,spectral_index\n";
    check(&format!("{h}A,1,2,3,-0.7\nB,1,abc,3,-0.7\n"), 3, "dec_deg");
    check(&format!("{h}A,1,2,3,-0.7\nB,1,2,-3,-0.7\n"), 3, "flux_jy");
    check(&format!("{h}A,400,2,3,-0.7\n"), 2, "ra_deg");
    check(&format!("{h}A,1,2,3\n"), 2, "row");
    check(&format!("{h}A,1,2,3,x\n"), 2, "spectral_index");
    check(
        "name,ra_deg,dec_deg,flux_jy\nA,1,2,3\n",
        1,
        "spectral_index",
    );
    check(&format!("{h}A,1,2,3,-0.7\nA,2,2,3,-0.7\n"), 3, "name");
    // a missing file is an I/O error naming it, and retryable
    let err = Catalog::from_csv(&dir.path().join("none.csv")).unwrap_err();
    assert!(matches!(err, CalError::CatalogIo { .. }) && err.is_retryable());
    assert!(err.to_string().contains("none.csv"));
}
