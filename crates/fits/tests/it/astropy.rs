use dsa110_fits::{read_image, write_image, SinWcs};

use crate::{run_python, sample_image};

/// astropy opens our file, its WCS gives the same sky positions as `SinWcs` (to 1e-9 deg)
/// for pixels across the image, and it sees the beam, frequency and HISTORY.
#[test]
fn astropy_reads_our_file_and_agrees_on_wcs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.fits");
    let img = sample_image(64, 48);
    write_image(&path, &img).unwrap();
    let script = r#"
import sys, warnings
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
warnings.simplefilter("ignore")
h = fits.open(sys.argv[1])[0]
w = WCS(h.header).celestial
xs = np.array([0, 63, 10.5, 31.25, 63, 0]); ys = np.array([0, 47, 40.0, 7.75, 0, 47])
ra, dec = w.wcs_pix2world(xs, ys, 0)
for a, b in zip(ra, dec): print("%.12f %.12f" % (a, b))
d = h.data
print(d.shape, "%.9f" % (h.header["BMAJ"]*3600), h.header["CRVAL3"], int(np.isnan(d).sum()), "%.3f" % np.nansum(d))
print("|".join(str(x) for x in h.header["HISTORY"]))
"#;
    let out = run_python(script, &[path.to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    let pts = [
        (0.0, 0.0),
        (63.0, 47.0),
        (10.5, 40.0),
        (31.25, 7.75),
        (63.0, 0.0),
        (0.0, 47.0),
    ];
    for (i, &(x, y)) in pts.iter().enumerate() {
        let v: Vec<f64> = lines[i]
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        let (ra, dec) = img.meta.wcs.pixel_to_world(x, y).unwrap();
        let dra = ((ra - v[0] + 540.0) % 360.0 - 180.0) * dec.to_radians().cos();
        assert!(
            dra.abs() < 1e-9 && (dec - v[1]).abs() < 1e-9,
            "pixel ({x},{y}): ours {ra} {dec}, astropy {v:?}"
        );
    }
    let sum: f64 = img
        .data
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .sum();
    assert_eq!(
        lines[6],
        format!("(1, 1, 48, 64) 17.000000000 1405000000.0 1 {sum:.3}")
    );
    assert!(
        lines[7].contains("dsa110-stream imaging test"),
        "{}",
        lines[7]
    );
}

/// astropy writes SIN images the way astropy/WSClean-like tools do (2 axes, PC matrix,
/// no beam; and 4 axes with a beam, FK5); we read them and agree on the WCS.
#[test]
fn we_read_files_written_by_astropy() {
    let dir = tempfile::tempdir().unwrap();
    let p2 = dir.path().join("astropy2.fits");
    let p4 = dir.path().join("astropy4.fits");
    let script = r#"
import sys, warnings
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
warnings.simplefilter("ignore")
w = WCS(naxis=2)
w.wcs.ctype = ["RA---SIN", "DEC--SIN"]; w.wcs.crval = [123.456, -12.5]
w.wcs.crpix = [20.5, 11.0]; w.wcs.cdelt = [-0.01, 0.01]; w.wcs.radesys = "ICRS"
d = np.arange(30*40, dtype=np.float64).reshape(30, 40) * 0.25
d[3, 4] = np.nan
fits.PrimaryHDU(d, header=w.to_header()).writeto(sys.argv[1], overwrite=True)
h = fits.Header()
h["BUNIT"] = "JY/BEAM"; h["BMAJ"] = 0.005; h["BMIN"] = 0.004; h["BPA"] = 12.0
for k, v in [("CTYPE1","RA---SIN"),("CRVAL1",10.0),("CRPIX1",21.0),("CDELT1",-0.002),("CUNIT1","deg"),
             ("CTYPE2","DEC--SIN"),("CRVAL2",71.0),("CRPIX2",16.0),("CDELT2",0.002),("CUNIT2","deg"),
             ("CTYPE3","FREQ"),("CRVAL3",1.4e9),("CRPIX3",1.0),("CDELT3",2.5e8),("CUNIT3","Hz"),
             ("CTYPE4","STOKES"),("CRVAL4",1.0),("CRPIX4",1.0),("CDELT4",1.0),
             ("RADESYS","FK5"),("EQUINOX",2000.0),("TELESCOP","OVRO_MMA"),("DATE-OBS","2024-01-02T03:04:05.0"),
             ("ORIGIN","WSClean"),("WSCVERSI","3.1"),("WSCNORMF",1234.5),("WSCNEGCM",1),("WSCDATAC","CORRECTED_DATA")]:
    h[k] = v
h["HISTORY"] = "wsclean -size 40 30"
fits.PrimaryHDU(np.ones((1, 1, 30, 40), dtype=np.float32), header=h).writeto(sys.argv[2], overwrite=True)
for p in sys.argv[1:3]:
    ww = WCS(fits.getheader(p)).celestial
    ra, dec = ww.wcs_pix2world([[0, 0], [39, 29], [7.5, 22.25]], 0).T
    for a, b in zip(ra, dec): print("%.12f %.12f" % (a, b))
"#;
    let out = run_python(script, &[p2.to_str().unwrap(), p4.to_str().unwrap()]);
    let v: Vec<Vec<f64>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|s| s.parse().unwrap()).collect())
        .collect();
    let a = read_image(&p2).unwrap();
    assert_eq!((a.nx, a.ny), (40, 30));
    assert!(a.meta.beam.is_none());
    assert_eq!(a.data[4], 1.0);
    assert!(a.data[3 * 40 + 4].is_nan());
    let b = read_image(&p4).unwrap();
    let beam = b.meta.beam.unwrap();
    assert_eq!(
        (beam.bmaj_deg, beam.bmin_deg, beam.bpa_deg),
        (0.005, 0.004, 12.0)
    );
    assert_eq!((b.meta.freq_hz, b.meta.bandwidth_hz), (1.4e9, 2.5e8));
    assert_eq!(b.meta.telescope, "OVRO_MMA");
    assert_eq!(b.meta.history, vec!["wsclean -size 40 30".to_string()]);
    // WSClean's own keywords are kept as extras, typed.
    let extra = |k: &str| {
        b.meta
            .extra
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        extra("WSCNORMF"),
        Some(dsa110_fits::KeyValue::Float(1234.5))
    );
    assert_eq!(
        extra("WSCVERSI"),
        Some(dsa110_fits::KeyValue::Str("3.1".into()))
    );
    assert_eq!(extra("WSCNEGCM"), Some(dsa110_fits::KeyValue::Int(1)));
    assert_eq!(
        extra("ORIGIN"),
        Some(dsa110_fits::KeyValue::Str("WSClean".into()))
    );
    let pts = [(0.0, 0.0), (39.0, 29.0), (7.5, 22.25)];
    for (k, img) in [&a, &b].iter().enumerate() {
        for (i, &(x, y)) in pts.iter().enumerate() {
            let (ra, dec) = img.meta.wcs.pixel_to_world(x, y).unwrap();
            let r = &v[k * 3 + i];
            assert!(
                (ra - r[0]).abs() < 1e-9 && (dec - r[1]).abs() < 1e-9,
                "file {k} pixel ({x},{y}): {ra} {dec} vs {r:?}"
            );
        }
    }
    // And world_to_pixel inverts it.
    let w: SinWcs = b.meta.wcs;
    let (x, y) = w.world_to_pixel(v[5][0], v[5][1]).unwrap();
    assert!((x - 7.5).abs() < 1e-7 && (y - 22.25).abs() < 1e-7);
}
