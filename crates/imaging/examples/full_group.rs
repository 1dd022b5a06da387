//! Full-scale imaging benchmark: 96 antennas (the real station layout), 24
//! integrations × 768 channels, 20 sources across the primary beam plus
//! thermal noise at the real SEFD; 4096² × 3″, Briggs 0, auto-threshold.
//!
//! `cargo run -p dsa110-imaging --example full_group -- OUT_DIR [SIZE] [AUTO_THRESHOLD] [NITER]`
//! prints the report as JSON (run under `/usr/bin/time -v` for peak RSS).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::f64::consts::PI;
use std::path::PathBuf;
use std::time::Instant;

use dsa110_astro::{airy_power, read_station_csv};
use dsa110_imaging::{image, CleanParams, ImagingParams, ImagingVis, Weighting};
use num_complex::{Complex32, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

const C_M_S: f64 = 299_792_458.0;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let out_dir = PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "target/bench-image".into()),
    );
    let size: usize = args.get(2).map_or(4096, |s| s.parse().unwrap());
    let auto_thr: f64 = args.get(3).map_or(1.0, |s| s.parse().unwrap());
    let niter: usize = args.get(4).map_or(100_000, |s| s.parse().unwrap());
    std::fs::create_dir_all(&out_dir).unwrap();

    let t = Instant::now();
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/stations/DSA110_Station_Coordinates.csv");
    let stations = read_station_csv(&csv).unwrap();
    let lat0 = stations[0].site.lat_rad;
    let lon0 = stations[0].site.lon_rad;
    let h0 = stations[0].site.height_m;
    // 96 antennas: all outriggers, and the arms without every 5th station
    let chosen: Vec<_> = stations
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 102 || i % 5 != 4)
        .map(|(_, s)| s)
        .take(96)
        .collect();
    let r_earth = 6_371_000.0;
    let enu: Vec<[f64; 3]> = chosen
        .iter()
        .map(|s| {
            [
                (s.site.lon_rad - lon0) * r_earth * lat0.cos(),
                (s.site.lat_rad - lat0) * r_earth,
                s.site.height_m - h0,
            ]
        })
        .collect();
    let dec = 54.57f64.to_radians();
    let int_s = 12.884_902;
    let ntimes = 24;
    let nchan = 768;
    let freqs: Vec<f64> = (0..nchan)
        .map(|c| 1_311_250_000.0 + 122_070.312_5 + c as f64 * 244_140.625)
        .collect();
    let df = 244_140.625;
    // sources: 20 across the primary beam, apparent fluxes from the Airy beam
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let srcs: Vec<(f64, f64, f64)> = (0..20)
        .map(|_| {
            let r = 1.3f64.to_radians() * rng.random_range(0.0f64..1.0).sqrt();
            let a = rng.random_range(0.0..2.0 * PI);
            (r * a.cos(), r * a.sin(), rng.random_range(0.02..0.5))
        })
        .collect();
    let lat = 37.2339f64.to_radians();
    let mut rows: Vec<[f64; 3]> = Vec::new();
    for k in 0..ntimes {
        let ha = (k as f64 - 11.5) * int_s / 86_400.0 * 2.0 * PI * 1.0027;
        for i in 0..enu.len() {
            for j in i + 1..enu.len() {
                let (e, n, u) = (
                    enu[j][0] - enu[i][0],
                    enu[j][1] - enu[i][1],
                    enu[j][2] - enu[i][2],
                );
                let x = -lat.sin() * n + lat.cos() * u;
                let y = e;
                let z = lat.cos() * n + lat.sin() * u;
                let (sh, ch) = ha.sin_cos();
                let (sd, cd) = dec.sin_cos();
                rows.push([
                    sh * x + ch * y,
                    -sd * ch * x + sd * sh * y + cd * z,
                    cd * ch * x - cd * sh * y + sd * z,
                ]);
            }
        }
    }
    let nrows = rows.len();
    // Stokes I noise per real/imag part: SEFD/√(2Δν Δt) per pol, /√2 for (XX+YY)/2
    let sigma_pol = 11_600.0 / (2.0 * df * int_s).sqrt();
    let sigma_i = sigma_pol / 2f64.sqrt() / 2f64.sqrt();
    let mut vis = vec![Complex32::new(0.0, 0.0); nrows * nchan];
    vis.par_chunks_mut(nchan).enumerate().for_each(|(r, out)| {
        let b = rows[r];
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + r as u64);
        let normal = rand_distr::Normal::new(0.0, sigma_i).unwrap();
        for &(l, m, flux) in &srcs {
            let nm1 = -(l * l + m * m) / (1.0 + (1.0 - l * l - m * m).sqrt());
            let d = b[0] * l + b[1] * m + b[2] * nm1;
            let theta = (l * l + m * m).sqrt().asin();
            let apparent = flux * airy_power(theta, freqs[nchan / 2], 4.65);
            let p0 = Complex64::from_polar(1.0, 2.0 * PI * d * freqs[0] / C_M_S);
            let step = Complex64::from_polar(1.0, 2.0 * PI * d * df / C_M_S);
            let mut ph = p0;
            for o in out.iter_mut() {
                let v = ph * apparent;
                *o += Complex32::new(v.re as f32, v.im as f32);
                ph *= step;
            }
        }
        for o in out.iter_mut() {
            let re: f64 = rng.sample(normal);
            let im: f64 = rng.sample(normal);
            *o += Complex32::new(re as f32, im as f32);
        }
    });
    let w_i = (1.0 / (sigma_i * sigma_i)) as f32;
    let mut v = ImagingVis {
        uvw_m: rows,
        freq_hz: freqs,
        chan_width_hz: df,
        vis,
        weight: vec![w_i; nrows * nchan],
        ..Default::default()
    };
    v.obs.phase_centre_ra_deg = 150.0;
    v.obs.phase_centre_dec_deg = 54.57;
    v.obs.pointing_ra_deg = 150.0;
    v.obs.pointing_dec_deg = 54.57;
    v.obs.date_obs = "2025-10-05T12:00:00.000".into();
    let t_sim = t.elapsed().as_secs_f64();
    eprintln!(
        "simulated {} rows × {} channels = {} visibilities in {t_sim:.1} s",
        nrows,
        nchan,
        nrows * nchan
    );

    let p = ImagingParams {
        size,
        scale_arcsec: 3.0 * 4096.0 / size as f64,
        weighting: Weighting::Briggs { robust: 0.0 },
        clean: CleanParams {
            niter,
            auto_threshold_sigma: Some(auto_thr),
            ..Default::default()
        },
        ..Default::default()
    };
    let rep = image(&mut v, &p, &out_dir.join("full")).unwrap();
    println!("{}", serde_json::to_string_pretty(&rep).unwrap());
}
