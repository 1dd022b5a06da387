//! Restoring-beam fit on synthetic elliptical Gaussian PSFs.

use dsa110_imaging::beam::{beam_value, fit_psf};
use dsa110_imaging::BeamShape;

#[test]
fn elliptical_gaussian_psf_recovered_to_half_percent_and_half_degree() {
    for (bmaj, bmin, pa) in [
        (59.0, 18.0, 110.0),
        (20.0, 17.0, 15.0),
        (40.0, 12.0, 0.0),
        (30.0, 10.0, 90.0),
        (25.0, 9.0, 150.0),
    ] {
        let truth = BeamShape {
            bmaj_arcsec: bmaj,
            bmin_arcsec: bmin,
            bpa_deg: pa,
        };
        let (n, cell) = (256, 3.0);
        let mut psf: Vec<f64> = (0..n * n)
            .map(|i| beam_value(&truth, cell, (i % n) as f64 - 128.0, (i / n) as f64 - 128.0))
            .collect();
        // far sidelobes that are not part of the main lobe must not matter
        for x in 0..n {
            psf[10 * n + x] = 0.5;
        }
        let f = fit_psf(&psf, n, cell).unwrap();
        assert!(
            (f.bmaj_arcsec / bmaj - 1.0).abs() < 0.005,
            "{f:?} vs {truth:?}"
        );
        assert!(
            (f.bmin_arcsec / bmin - 1.0).abs() < 0.005,
            "{f:?} vs {truth:?}"
        );
        let dpa = (f.bpa_deg - pa + 90.0).rem_euclid(180.0) - 90.0;
        assert!(dpa.abs() < 0.5, "{f:?} vs {truth:?}");
    }
}
