use std::path::Path;

use dsa110_photometry::{
    parse_catalog, read_catalog, write_catalog, BadRowPolicy, PhotError, Source,
};

#[test]
fn catalogue_parses_columns_in_any_order_with_extras() {
    let text = "# NVSS-like\nFlux_mJy,name,dec_deg,ra_deg,maj_arcsec\n12.5,\"J1, quoted\",40.5,-0.5,15\n\n3,J2,-10,359.75,\n";
    let c = parse_catalog(text, Path::new("cat.csv"), BadRowPolicy::Error).unwrap();
    assert_eq!(c.sources.len(), 2);
    let s = &c.sources[0];
    assert_eq!(
        (s.name.as_str(), s.ra_deg, s.dec_deg, s.flux_mjy),
        ("J1, quoted", 359.5, 40.5, 12.5)
    );
    assert_eq!(s.extra, vec![("maj_arcsec".to_string(), "15".to_string())]);
}

#[test]
fn bad_rows_are_errors_naming_line_and_field_or_are_skipped() {
    let text = "name,ra_deg,dec_deg,flux_mjy\nA,10,20,5\nB,10,95,5\nC,abc,20,5\nD,10,20\nE,1,2,nan\nF,1,2,3\n";
    let e = parse_catalog(text, Path::new("bad.csv"), BadRowPolicy::Error).unwrap_err();
    match &e {
        PhotError::CatalogRow { line, field, .. } => {
            assert_eq!((*line, field.as_str()), (3, "dec_deg"))
        }
        other => panic!("wrong error {other}"),
    }
    assert!(
        e.to_string().contains("bad.csv") && e.to_string().contains("line 3"),
        "{e}"
    );
    let c = parse_catalog(text, Path::new("bad.csv"), BadRowPolicy::Skip).unwrap();
    assert_eq!(
        c.sources
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        vec!["A", "F"]
    );
    let fields: Vec<(usize, String)> = c
        .skipped
        .iter()
        .map(|e| match e {
            PhotError::CatalogRow { line, field, .. } => (*line, field.clone()),
            _ => (0, String::new()),
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (3, "dec_deg".into()),
            (4, "ra_deg".into()),
            (5, "(row)".into()),
            (6, "flux_mjy".into())
        ]
    );
    let e = parse_catalog(
        "name,ra_deg,flux_mjy\nA,1,2\n",
        Path::new("h.csv"),
        BadRowPolicy::Error,
    )
    .unwrap_err();
    assert!(
        matches!(e, PhotError::CatalogHeader { ref column, .. } if column == "dec_deg"),
        "{e}"
    );
    assert!(matches!(
        parse_catalog("", Path::new("e.csv"), BadRowPolicy::Skip),
        Err(PhotError::CatalogEmpty { .. })
    ));
}

#[test]
fn catalogue_write_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.csv");
    let src = vec![
        Source {
            name: "a,b".into(),
            ra_deg: 1.25,
            dec_deg: -3.5,
            flux_mjy: 7.0,
            extra: vec![("kind".into(), "ese".into())],
        },
        Source {
            name: "c".into(),
            ra_deg: 359.0,
            dec_deg: 89.0,
            flux_mjy: 0.5,
            extra: vec![("kind".into(), "steady".into())],
        },
    ];
    write_catalog(&p, &src).unwrap();
    let c = read_catalog(&p, BadRowPolicy::Error).unwrap();
    assert_eq!(c.sources, src);
    let e = read_catalog(dir.path().join("none.csv"), BadRowPolicy::Error).unwrap_err();
    assert!(matches!(e, PhotError::CatalogIo { .. }) && e.to_string().contains("none.csv"));
}
