//! Performance measurements (run with `cargo test -p dsa110-photometry --test it -- --ignored --nocapture`).
//! Data: white noise + point sources (the noise structure does not change the cost).

use std::time::Instant;

use dsa110_fits::{FitsImage, ImageMeta, SinWcs};
use dsa110_photometry::{forced_photometry, mosaic_files, ForcedOptions, MosaicOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::mosaic::pb_of;
use crate::sim::{add_sources, catalog_of, random_sources, test_beam};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) used by this process so far.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit(')').next()?.split_whitespace().collect::<Vec<_>>();
            Some((rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn white_image(n: usize, w: SinWcs, seed: u64) -> FitsImage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f32> = (0..n * n)
        .map(|_| rng.random_range(-1.7e-3..1.7e-3))
        .collect();
    let mut meta = ImageMeta::new(w);
    meta.beam = Some(test_beam());
    meta.freq_hz = 1.405e9;
    FitsImage {
        nx: n,
        ny: n,
        data,
        meta,
    }
}

#[test]
#[ignore = "performance measurement (4096² image)"]
fn perf_forced_photometry_1000_sources_4096() {
    let n = 4096;
    let w = SinWcs::centered(150.0, 40.0, n, n, 3.0 / 3600.0);
    let mut img = white_image(n, w, 1);
    let src = random_sources(
        1000,
        n,
        n,
        &w,
        20.0,
        12.0,
        &|_, rng| rng.random_range(0.005..0.5),
        2,
    );
    add_sources(&mut img.data, n, n, &test_beam(), &w, &src, &|_, _| 1.0);
    let cat = catalog_of(&src);
    let _ = forced_photometry("warm", &img, None, &cat[..10], &ForcedOptions::default()).unwrap();
    let t = Instant::now();
    let c0 = cpu_s();
    let m = forced_photometry("perf", &img, None, &cat, &ForcedOptions::default()).unwrap();
    let dt = t.elapsed().as_secs_f64();
    let cpu = cpu_s() - c0;
    let maps = dsa110_photometry::background_maps(
        &img.data,
        n,
        n,
        &dsa110_photometry::BkgOptions::for_beam(17.0 / 3.0),
    )
    .unwrap();
    let t2 = Instant::now();
    let _ = dsa110_photometry::forced_photometry_with_maps(
        "perf",
        &img,
        &maps,
        None,
        &cat,
        &ForcedOptions::default(),
    )
    .unwrap();
    let dt2 = t2.elapsed().as_secs_f64();
    for (b, st, sa) in [(136, 68, 2), (136, 68, 4), (136, 136, 2)] {
        let t3 = Instant::now();
        let _ = dsa110_photometry::background_maps(
            &img.data,
            n,
            n,
            &dsa110_photometry::BkgOptions {
                box_px: b,
                step_px: st,
                sample_stride: sa,
                min_finite_frac: 0.3,
            },
        )
        .unwrap();
        eprintln!(
            "  maps box {b} step {st} stride {sa}: {:.3} s",
            t3.elapsed().as_secs_f64()
        );
    }
    // The same image and catalogue through photutils (fixed-PSF fit), timed inside Python.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("perf-image.fits");
    dsa110_fits::write_image(&p, &img).unwrap();
    let catp = dir.path().join("cat.csv");
    dsa110_photometry::write_catalog(&catp, &cat).unwrap();
    let py = std::env::var_os("DSA110_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/interop-venv/bin/python")
        });
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(crate::photutils::SCRIPT)
        .args([p.to_str().unwrap(), "0.001", catp.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let t_pu = stderr
        .lines()
        .find_map(|l| l.strip_prefix("TIME "))
        .unwrap_or("?")
        .to_string();
    eprintln!("photutils 3.0.0 PSFPhotometry (fixed positions and shape, no background/noise maps): {t_pu} s for the same 1000 sources");
    eprintln!(
        "forced photometry: 1000 sources on 4096²: {dt:.3} s total, {cpu:.2} CPU-s (background+noise maps {:.3} s, fits {dt2:.3} s); {} measured; peak RSS {:.0} MB; threads {}",
        dt - dt2,
        m.iter().filter(|r| r.flux_jy.is_finite()).count(),
        peak_rss_mb(),
        rayon::current_num_threads()
    );
}

#[test]
#[ignore = "performance measurement (12 × 4096² mosaic)"]
fn perf_mosaic_12_images_4096() {
    let n = 4096;
    let dir = tempfile::tempdir().unwrap();
    let w0 = SinWcs::centered(100.0, 30.0, n, n, 3.0 / 3600.0);
    let base = white_image(n, w0, 3);
    let mut pb = base.clone();
    for y in 0..n {
        for x in 0..n {
            let (ra, dec) = w0.pixel_to_world(x as f64, y as f64).unwrap();
            pb.data[y * n + x] = pb_of(&w0, ra, dec) as f32;
        }
    }
    pb.meta.beam = None;
    let mut paths = Vec::new();
    for i in 0..12 {
        let w = SinWcs::centered(100.0 + 1.25 * i as f64, 30.0, n, n, 3.0 / 3600.0);
        let mut img = base.clone();
        img.meta.wcs = w;
        let mut p = pb.clone();
        p.meta.wcs = w;
        let path = dir.path().join(format!("g{i:02}-image.fits"));
        dsa110_fits::write_image(&path, &img).unwrap();
        dsa110_fits::write_image(dir.path().join(format!("g{i:02}-pb.fits")), &p).unwrap();
        paths.push(path);
    }
    drop(base);
    drop(pb);
    // Step by step first (timing breakdown), then the whole `mosaic_files` call.
    let opts = MosaicOptions::default();
    let t = Instant::now();
    let geo: Vec<_> = paths
        .iter()
        .map(|p| {
            let (nx, ny, m) = dsa110_fits::read_image_header(p).unwrap();
            (m.wcs, nx, ny)
        })
        .collect();
    let grid = dsa110_photometry::MosaicGrid::covering(&geo, &opts).unwrap();
    let mut acc = dsa110_photometry::MosaicAccumulator::new(grid, opts);
    let (mut t_read, mut t_add, mut cpu_add) = (0.0, 0.0, 0.0);
    for p in &paths {
        let t0 = Instant::now();
        let img = dsa110_fits::read_image(p).unwrap();
        let pb = dsa110_fits::read_image(dsa110_photometry::pb_path_for(p)).unwrap();
        let t1 = Instant::now();
        let c1 = cpu_s();
        acc.add("x", &img, &pb, None).unwrap();
        t_read += (t1 - t0).as_secs_f64();
        t_add += t1.elapsed().as_secs_f64();
        cpu_add += cpu_s() - c1;
    }
    let t2 = Instant::now();
    let prods0 = acc.finish();
    let t_finish = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    dsa110_fits::write_image(dir.path().join("s.fits"), &prods0.image).unwrap();
    let t_write1 = t3.elapsed().as_secs_f64();
    let t4 = Instant::now();
    dsa110_fits::write_png_preview(
        dir.path().join("s.png"),
        &prods0.image.data,
        prods0.image.nx,
        prods0.image.ny,
        dsa110_fits::Stretch::default(),
    )
    .unwrap();
    let t_png = t4.elapsed().as_secs_f64();
    eprintln!("breakdown: read 24 FITS {t_read:.1} s, reproject+accumulate {t_add:.1} s ({cpu_add:.1} CPU-s), finish {t_finish:.1} s, write one mosaic FITS {t_write1:.1} s, PNG {t_png:.1} s; step-by-step total {:.1} s", t.elapsed().as_secs_f64());
    drop(prods0);
    let t = Instant::now();
    let c0 = cpu_s();
    let prods = mosaic_files(&paths, &dir.path().join("m"), &opts).unwrap();
    let dt = t.elapsed().as_secs_f64();
    eprintln!(
        "mosaic: 12 × 4096² → {}×{} in {dt:.1} s wall, {:.1} CPU-s (reading 24 FITS, reprojecting, writing 3 FITS + PNG); peak RSS {:.0} MB; threads {}",
        prods.image.nx,
        prods.image.ny,
        cpu_s() - c0,
        peak_rss_mb(),
        rayon::current_num_threads()
    );
}
