//! Known answers for the sky model, gains, noise and RFI.

use std::path::Path;

use dsa110_astro::constants::{C_M_S, DISH_DIAMETER_M};
use dsa110_astro::{airy_power, Eop, ObsTime, Site};
use dsa110_sim::sky::{meridian_icrs_deg, source_geometry};
use dsa110_sim::{GaussianShape, SimConfig, SourceSpec, Truth};
use num_complex::Complex32;

use crate::{read_vis, run_py, tiny, TestResult};

/// ICRS (deg) of the observed meridian point (HA = 0, Dec = dec_deg) at `t`.
fn meridian_icrs(t: &ObsTime, dec_deg: f64) -> (f64, f64) {
    meridian_icrs_deg(t, &Site::dsa110(), &Eop::default(), dec_deg.to_radians())
        .expect("meridian position")
}

/// One integration, noise off, one source at the meridian at the mid-time.
fn one_integration_at_meridian(
    dir: &Path,
    flux: f64,
) -> Result<SimConfig, Box<dyn std::error::Error>> {
    let mut cfg = tiny(dir);
    cfg.ntimes = 1;
    cfg.nchan_per_sb = 48;
    cfg.subbands = vec![0, 15];
    cfg.noise_scale = None;
    cfg.unit_gains = true;
    let t_mid = cfg.start.plus_seconds(0.5 * cfg.int_time_s())?;
    let (ra, dec) = meridian_icrs(&t_mid, cfg.dec_deg);
    cfg.sources = vec![SourceSpec::point("centre", ra, dec, flux)];
    Ok(cfg)
}

#[test]
fn point_source_at_meridian_gives_its_flux_everywhere() -> TestResult {
    let dir = tempfile::tempdir()?;
    let flux = 2.5;
    let cfg = one_integration_at_meridian(dir.path(), flux)?;
    // the beam attenuation is exactly 1 there
    let t_mid = cfg.start.plus_seconds(0.5 * cfg.int_time_s())?;
    let g = source_geometry(
        &t_mid,
        &Site::dsa110(),
        &Eop::default(),
        cfg.dec_deg.to_radians(),
        &cfg.sources,
    )?;
    assert!(g[0].theta_rad < 1e-10, "{}", g[0].theta_rad);
    assert_eq!(airy_power(g[0].theta_rad, 1.4e9, DISH_DIAMETER_M), 1.0);

    let s = crate::sim(&cfg)?;
    let mut n = 0;
    for f in &s.files {
        let vis = read_vis(f)?;
        assert_eq!(vis.len(), 55 * 48 * 2);
        for v in vis {
            assert!(
                (v.re - flux as f32).abs() <= 4.0 * f32::EPSILON * flux as f32
                    && v.im.abs() <= 4.0 * f32::EPSILON * flux as f32,
                "{v} != {flux} in {}",
                f.display()
            );
            n += 1;
        }
    }
    assert_eq!(n, 2 * 55 * 96);
    Ok(())
}

#[test]
fn gains_are_applied_as_g1_conj_g2_with_the_documented_layout() -> TestResult {
    let dir = tempfile::tempdir()?;
    let flux = 2.0;
    let mut cfg = one_integration_at_meridian(dir.path(), flux)?;
    cfg.unit_gains = false;
    let s = crate::sim(&cfg)?;
    let truth = Truth::read(&s.truth_path)?;
    let gains = read_npy_c64(&s.gains_path)?;
    let (npol, nchan) = (2, 48);
    let nct = 16 * nchan;
    assert_eq!(gains.len(), 117 * npol * nct);
    let g = |a: usize, p: usize, c: usize| gains[(a * npol + p) * nct + c];
    for (fi, f) in s.files.iter().enumerate() {
        let sb = truth.files[fi].subband as usize;
        let vis = read_vis(f)?;
        for (bl, &[a1, a2]) in truth.baselines.iter().enumerate() {
            for c in 0..nchan {
                for p in 0..npol {
                    let want =
                        g(a1, p, sb * nchan + c) * g(a2, p, sb * nchan + c).conj() * flux as f32;
                    let got = vis[(bl * nchan + c) * npol + p];
                    assert!(
                        (got - want).norm() < 1e-5,
                        "bl {bl} c {c} p {p}: {got} vs {want}"
                    );
                }
            }
        }
    }
    // smooth bandpass: amplitude within ±20 %, not all 1
    assert!(gains.iter().all(|x| (0.8..1.2).contains(&x.norm())));
    assert!(gains.iter().any(|x| (x.norm() - 1.0).abs() > 0.02));
    Ok(())
}

#[test]
fn gaussian_source_envelope_follows_the_documented_formula() -> TestResult {
    let dir = tempfile::tempdir()?;
    let flux = 1.0;
    let mut cfg = one_integration_at_meridian(dir.path(), flux)?;
    let shape = GaussianShape {
        major_fwhm_arcsec: 40.0,
        minor_fwhm_arcsec: 15.0,
        pa_deg: 30.0,
    };
    cfg.sources[0].shape = Some(shape);
    cfg.subbands = vec![3];
    let s = crate::sim(&cfg)?;
    let truth = Truth::read(&s.truth_path)?;
    let vis = read_vis(&s.files[0])?;
    let sig = |fwhm: f64| (fwhm / 3600.0).to_radians() / (8.0 * std::f64::consts::LN_2).sqrt();
    let (smaj, smin) = (sig(shape.major_fwhm_arcsec), sig(shape.minor_fwhm_arcsec));
    let (sp, cp) = shape.pa_deg.to_radians().sin_cos();
    let mut min_env: f64 = 1.0;
    for (bl, uvw) in truth.uvw_m.iter().enumerate() {
        for (c, f) in truth.freqs_hz[3].iter().enumerate() {
            let (u, v) = (uvw[0] * f / C_M_S, uvw[1] * f / C_M_S);
            let (umaj, umin) = (u * sp + v * cp, u * cp - v * sp);
            let pi2 = std::f64::consts::PI * std::f64::consts::PI;
            let env = (-2.0 * pi2 * (smaj * smaj * umaj * umaj + smin * smin * umin * umin)).exp();
            min_env = min_env.min(env);
            for p in 0..2 {
                let got = vis[(bl * 48 + c) * 2 + p];
                assert!(
                    (f64::from(got.re) - flux * env).abs() < 1e-5 && got.im.abs() < 1e-5,
                    "bl {bl}: {got} vs {env}"
                );
            }
        }
    }
    assert!(
        min_env < 0.5,
        "the longest baselines resolve the source ({min_env})"
    );
    Ok(())
}

#[test]
fn fringe_stopping_matches_an_independent_erfa_model() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cfg = tiny(dir.path());
    cfg.noise_scale = None;
    cfg.unit_gains = true;
    let t_mid = cfg
        .start
        .plus_seconds(cfg.ntimes as f64 * cfg.int_time_s() / 2.0)?;
    let (ra0, dec0) = meridian_icrs(&t_mid, cfg.dec_deg);
    let cosd = dec0.to_radians().cos();
    cfg.sources = vec![
        SourceSpec {
            spectral_index: -0.7,
            ..SourceSpec::point("a", ra0 + 0.6 / cosd, dec0 - 0.3, 3.0)
        },
        SourceSpec {
            spectral_index: 0.4,
            ..SourceSpec::point("b", ra0 - 0.9 / cosd, dec0 + 0.8, 1.5)
        },
    ];
    let s = crate::sim(&cfg)?;
    let out = run_py(
        "fringe_model.py",
        &[&s.truth_path.to_string_lossy(), "1e-3"],
    );
    eprintln!("{out}");
    assert!(out.contains("worst relative error"), "{out}");
    Ok(())
}

#[test]
fn noise_has_the_documented_statistics() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cfg = tiny(dir.path());
    cfg.nants = 24;
    cfg.nchan_per_sb = 48;
    cfg.subbands = vec![5];
    cfg.unit_gains = true;
    cfg.noise_scale = Some(1.0);
    cfg.sources = vec![SourceSpec::point("none", 10.0, 50.0, 0.0)];
    let s = crate::sim(&cfg)?;
    let truth = Truth::read(&s.truth_path)?;
    let noise = truth.noise.ok_or("noise missing from truth")?;
    assert!(
        (noise.sigma_cross_jy - 4.62).abs() < 0.01,
        "{}",
        noise.sigma_cross_jy
    );
    let vis = read_vis(&s.files[0])?;
    let nbls = truth.baselines.len();
    let (mut cross, mut autos) = (Vec::new(), Vec::new());
    for (i, v) in vis.iter().enumerate() {
        let bl = (i / (48 * 2)) % nbls;
        let [a1, a2] = truth.baselines[bl];
        if a1 == a2 {
            autos.push(f64::from(v.re));
            assert_eq!(v.im, 0.0);
        } else {
            cross.push(f64::from(v.re));
            cross.push(f64::from(v.im));
        }
    }
    let (m, sd) = mean_sd(&cross);
    assert!(
        m.abs() < 0.05 && (sd / noise.sigma_cross_jy - 1.0).abs() < 0.03,
        "{m} {sd}"
    );
    let (m, sd) = mean_sd(&autos);
    assert!((m / 11_600.0 - 1.0).abs() < 0.001, "{m}");
    assert!((sd / noise.sigma_auto_jy - 1.0).abs() < 0.1, "{sd}");
    Ok(())
}

#[test]
fn rfi_channels_and_bursts_are_injected_unflagged_and_recorded() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cfg = tiny(dir.path());
    cfg.rfi = true;
    cfg.noise_scale = None;
    cfg.unit_gains = true;
    cfg.zero_nsamples_rows = 3;
    cfg.sources = vec![SourceSpec::point("weak", 10.0, 50.0, 1.0)];
    let s = crate::sim(&cfg)?;
    let truth = Truth::read(&s.truth_path)?;
    assert!(!truth.rfi.channels.is_empty() && !truth.rfi.bursts.is_empty());
    assert_eq!(truth.zero_nsamples.len(), 3);
    let (nbls, nchan) = (truth.baselines.len(), 8);
    for (fi, f) in s.files.iter().enumerate() {
        let sb = truth.files[fi].subband;
        let file = hdf5::File::open(f)?;
        let vis = file.dataset("Data/visdata")?.read_raw::<Complex32>()?;
        let flags = file.dataset("Data/flags")?.read_raw::<bool>()?;
        let nsamples = file.dataset("Data/nsamples")?.read_raw::<f32>()?;
        assert!(flags.iter().all(|x| !x), "the correlator does not flag RFI");
        let zeros = nsamples.iter().filter(|&&x| x == 0.0).count();
        assert_eq!(zeros, 3 * nchan * 2);
        for &[t, bl] in &truth.zero_nsamples {
            assert_eq!(nsamples[((t * nbls + bl) * nchan) * 2], 0.0);
        }
        for (i, v) in vis.iter().enumerate() {
            let c = (i / 2) % nchan;
            let row = i / (2 * nchan);
            let t = row / nbls;
            let rfi_here: f64 = truth
                .rfi
                .channels
                .iter()
                .filter(|r| r.subband == sb && r.channel == c)
                .map(|r| r.amplitude_jy)
                .sum::<f64>()
                + truth
                    .rfi
                    .bursts
                    .iter()
                    .filter(|b| b.time_index == t)
                    .map(|b| b.amplitude_jy)
                    .sum::<f64>();
            if rfi_here > 0.0 {
                assert!(
                    f64::from(v.norm()) > 10.0,
                    "no RFI at {i} of {}",
                    f.display()
                );
            } else {
                assert!(
                    v.norm() < 10.0,
                    "unexpected power at {i} of {}",
                    f.display()
                );
            }
        }
    }
    Ok(())
}

fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (n - 1.0);
    (m, v.sqrt())
}

fn read_npy_c64(path: &Path) -> Result<Vec<Complex32>, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen])?;
    assert!(
        header.contains("'descr': '<c8'") && header.contains("(117, 2, 768)"),
        "{header}"
    );
    Ok(bytes[10 + hlen..]
        .chunks_exact(8)
        .map(|b| {
            Complex32::new(
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            )
        })
        .collect())
}
