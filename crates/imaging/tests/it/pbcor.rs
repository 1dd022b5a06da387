//! Primary-beam correction: sources attenuated by the band's Airy pattern in
//! the visibilities come back at their true flux out to the half-power radius.

use dsa110_astro::airy_power;
use dsa110_imaging::{compute, CleanParams, ImagingParams, ImagingVis, Weighting};
use num_complex::{Complex32, Complex64};
use std::f64::consts::PI;

use crate::common::*;

#[test]
fn pb_corrected_fluxes_within_2_percent_to_half_power_radius() {
    let n = 512usize;
    let cell = (20.0f64 / 3600.0).to_radians();
    let dec = deg(54.57);
    let freqs = [1.32e9, 1.37e9, 1.42e9, 1.47e9];
    // half-power radius at the band centre ≈ 1.3°; sources out to it
    let hp = 0.5 * 1.028_993_8 * C_M_S / 1.395e9 / 4.65;
    let pix = |r: f64, ang: f64| {
        let x = (n as f64 / 2.0 - (r * ang.cos()) / cell).round() as usize;
        let y = (n as f64 / 2.0 + (r * ang.sin()) / cell).round() as usize;
        (x, y)
    };
    let list = [
        (pix(0.0, 0.0), 1.0),
        (pix(0.3 * hp, 0.3), 0.8),
        (pix(0.6 * hp, 2.0), 1.2),
        (pix(0.85 * hp, 4.0), 1.0),
        (pix(0.98 * hp, 5.5), 1.5),
    ];
    let ants = dsa_like_array(10, 10, 8, 400.0, 11);
    let has = [deg(-1.0), deg(0.0), deg(1.0)];
    let mut v = ImagingVis {
        freq_hz: freqs.to_vec(),
        chan_width_hz: 5e7,
        ..Default::default()
    };
    v.obs.phase_centre_dec_deg = 54.57;
    v.obs.pointing_dec_deg = 54.57;
    for &ha in &has {
        for i in 0..ants.len() {
            for j in i + 1..ants.len() {
                let b = uvw(&ants[i], &ants[j], ha, dec);
                v.uvw_m.push(b);
                for &f in &freqs {
                    let k = f / C_M_S;
                    let mut s = Complex64::new(0.0, 0.0);
                    for &((x, y), flux) in &list {
                        let l = (n as f64 / 2.0 - x as f64) * cell;
                        let m = (y as f64 - n as f64 / 2.0) * cell;
                        let theta = (l * l + m * m).sqrt().asin();
                        let a = airy_power(theta, f, 4.65);
                        let ph = 2.0 * PI * k * (b[0] * l + b[1] * m + b[2] * nm1(l, m));
                        s += Complex64::from_polar(flux * a, ph);
                    }
                    v.vis.push(Complex32::new(s.re as f32, s.im as f32));
                    v.weight.push(1.0);
                }
            }
        }
    }
    let p = ImagingParams {
        size: n,
        scale_arcsec: 20.0,
        weighting: Weighting::Briggs { robust: 0.0 },
        clean: CleanParams {
            niter: 20_000,
            threshold_jy: 1e-4,
            auto_threshold_sigma: None,
            ..Default::default()
        },
        eps: 1e-5,
        ..Default::default()
    };
    let prod = compute(&mut v, &p).unwrap();
    for &((x, y), flux) in &list {
        let got = prod.image_pb[y * n + x];
        let pb = prod.pb[y * n + x];
        eprintln!("source at ({x},{y}) pb {pb:.3}: {got:.4} vs {flux}");
        assert!(
            (got / flux - 1.0).abs() < 0.02,
            "({x},{y}): pb-corrected {got} vs true {flux}"
        );
    }
    // blanked below the cut-off, finite above
    for (i, b) in prod.pb.iter().enumerate() {
        assert_eq!(prod.image_pb[i].is_nan(), *b < p.pb_cutoff, "pixel {i}");
    }
}
