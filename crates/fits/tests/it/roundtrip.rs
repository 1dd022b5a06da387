use dsa110_fits::{
    read_image, write_image, write_png_preview, FitsError, SinWcs, Stretch, StretchKind,
};

use crate::sample_image;

#[test]
fn round_trip_preserves_pixels_wcs_beam_and_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-image.fits");
    let img = sample_image(37, 23);
    write_image(&path, &img).unwrap();
    let back = read_image(&path).unwrap();
    assert_eq!((back.nx, back.ny), (37, 23));
    let (hx, hy, hmeta) = dsa110_fits::read_image_header(&path).unwrap();
    assert_eq!((hx, hy, &hmeta), (37, 23, &back.meta));
    for (a, b) in img.data.iter().zip(&back.data) {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "{a} vs {b}"
        );
    }
    assert!(back.data[37 + 2].is_nan());
    let (w, v) = (img.meta.wcs, back.meta.wcs);
    assert!((w.crval_ra_deg - v.crval_ra_deg).abs() < 1e-12);
    assert!((w.crval_dec_deg - v.crval_dec_deg).abs() < 1e-12);
    assert_eq!((w.crpix1, w.crpix2), (v.crpix1, v.crpix2));
    assert!(
        (w.cdelt1_deg - v.cdelt1_deg).abs() < 1e-15 && (w.cdelt2_deg - v.cdelt2_deg).abs() < 1e-15
    );
    let (b0, b1) = (img.meta.beam.unwrap(), back.meta.beam.unwrap());
    assert!((b0.bmaj_deg - b1.bmaj_deg).abs() < 1e-14 && (b0.bmin_deg - b1.bmin_deg).abs() < 1e-14);
    assert!((b0.bpa_deg - b1.bpa_deg).abs() < 1e-12);
    assert_eq!(back.meta.freq_hz, 1.405e9);
    assert_eq!(back.meta.bandwidth_hz, 187.5e6);
    assert_eq!(back.meta.bunit, "JY/BEAM");
    assert_eq!(back.meta.telescope, "DSA-110");
    assert_eq!(back.meta.object, img.meta.object);
    assert_eq!(back.meta.date_obs, img.meta.date_obs);
    assert_eq!(back.meta.history.join(""), img.meta.history.join(""));
    assert_eq!(back.meta.extra, img.meta.extra);
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn crval1_is_normalised_and_overwrite_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrap.fits");
    let mut img = sample_image(8, 8);
    img.meta.wcs.crval_ra_deg = -0.25;
    write_image(&path, &img).unwrap();
    write_image(&path, &img).unwrap(); // replaces, no error
    let back = read_image(&path).unwrap();
    assert!((back.meta.wcs.crval_ra_deg - 359.75).abs() < 1e-12);
}

#[test]
fn bad_input_gives_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.fits");
    let mut img = sample_image(8, 8);
    img.data.pop();
    let e = write_image(&path, &img).unwrap_err();
    assert!(matches!(e, FitsError::Shape { len: 63, .. }), "{e}");
    assert!(!path.exists());

    let mut img = sample_image(8, 8);
    img.meta
        .extra
        .push(("CRVAL1".into(), dsa110_fits::KeyValue::Float(1.0)));
    let e = write_image(&path, &img).unwrap_err();
    assert!(
        matches!(&e, FitsError::ReservedKeyword { keyword, .. } if keyword == "CRVAL1"),
        "{e}"
    );

    let e = read_image(dir.path().join("missing.fits")).unwrap_err();
    assert!(e.to_string().contains("missing.fits"), "{e}");

    std::fs::write(&path, b"this is not a FITS file at all").unwrap();
    let e = read_image(&path).unwrap_err();
    assert!(matches!(e, FitsError::Open { .. }), "{e}");
    assert!(e.to_string().contains("bad.fits"));
    assert!(!e.is_retryable());

    let e = write_image(dir.path().join("no/such/dir/x.fits"), &sample_image(4, 4)).unwrap_err();
    assert!(e.to_string().contains("x.fits"), "{e}");
}

#[test]
fn png_preview_is_written_downsampled_and_north_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.png");
    let (nx, ny) = (300, 200);
    // Top half (high y) bright, bottom half faint, one NaN block.
    let mut data: Vec<f32> = (0..nx * ny)
        .map(|i| if i / nx >= ny / 2 { 10.0 } else { 0.0 })
        .collect();
    for y in 0..10 {
        for x in 0..10 {
            data[y * nx + x] = f32::NAN;
        }
    }
    let st = Stretch {
        kind: StretchKind::Linear,
        lo_pct: 0.5,
        hi_pct: 99.5,
        max_side_px: 100,
    };
    write_png_preview(&path, &data, nx, ny, st).unwrap();
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (100, 67));
    let px = |x: usize, y: usize| &buf[(y * 100 + x) * 3..(y * 100 + x) * 3 + 3];
    let bright = colorous::INFERNO.eval_continuous(1.0);
    assert_eq!(
        px(50, 0),
        &[bright.r, bright.g, bright.b],
        "top row of the PNG is the high-y FITS row"
    );
    assert_eq!(
        px(0, 66),
        &dsa110_fits::NAN_RGB,
        "bottom-left block is NaN grey"
    );
    assert!(write_png_preview(&path, &data[1..], nx, ny, Stretch::default()).is_err());
    let _ = SinWcs::centered(0.0, 0.0, 1, 1, 1.0);
}
