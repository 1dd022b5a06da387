//! `dsa110-tools mosaic IMAGE.fits... --out NAME`: a primary-beam-weighted
//! linear mosaic (`dsa110_photometry::mosaic_files`: `Σ pb·I/σ² / Σ pb²/σ²`
//! on a common SIN grid covering the inputs, σ each image's robust noise),
//! which is in primary-beam-corrected flux. Each input is an apparent
//! (uncorrected) `X-image.fits` with its `X-pb.fits` beside it, as
//! `dsa110-tools image` writes them; `X-image-pb.fits` files are refused
//! (they are corrected already and would be corrected twice).
//!
//! Writes `NAME.fits` (Jy/beam, pb-corrected), `NAME-weight.fits`
//! (`Σ pb²/σ²`), `NAME-noise.fits` (`1/√weight`, Jy/beam) and the preview
//! `NAME.png`; prints a JSON summary.
//!
//! Exit status: 0 written; 2 bad arguments, a missing image or primary-beam
//! file, images that do not fit together, or a library error.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dsa110_photometry::{mosaic_files, pb_path_for, MosaicOptions};
use serde_json::json;

use crate::science::{num, path_json, print_json, require_file, with_suffix, Outcome};

/// Arguments of `mosaic`.
#[derive(Debug, clap::Args)]
pub struct MosaicArgs {
    /// The input images (`X-image.fits`, each with `X-pb.fits` beside it).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Output name: writes `NAME.fits`, `NAME-weight.fits`, `NAME-noise.fits`, `NAME.png`.
    #[arg(long, value_name = "NAME")]
    pub out: PathBuf,
}

/// `mosaic`.
pub fn run(args: &MosaicArgs) -> Result<Outcome> {
    for img in &args.images {
        if img.to_string_lossy().ends_with("-image-pb.fits") {
            bail!(
                "{} is already primary-beam corrected: give the apparent X-image.fits \
                 (the mosaic weights by the primary beam itself)",
                img.display()
            );
        }
        require_file(img, "image")?;
        require_file(
            &pb_path_for(img),
            &format!("primary-beam image for {}", img.display()),
        )?;
    }
    let dir = match args.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "the output directory {} of --out {} does not exist",
            dir.display(),
            args.out.display()
        );
    }
    let t = Instant::now();
    let prods = mosaic_files(&args.images, &args.out, &MosaicOptions::default())
        .with_context(|| format!("mosaicking into {}", args.out.display()))?;
    let seconds = t.elapsed().as_secs_f64();
    let finite = |d: &[f32]| {
        d.iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect::<Vec<_>>()
    };
    let img = finite(&prods.image.data);
    let noise = finite(&prods.noise.data);
    let weight = finite(&prods.weight.data);
    let peak = img.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min_noise = noise.iter().copied().fold(f32::INFINITY, f32::min);
    let max_weight = weight.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let w = &prods.image.meta.wcs;
    let n_pix = prods.image.nx * prods.image.ny;
    print_json(&json!({
        "inputs": args.images.iter().map(|p| json!({
            "image": path_json(p), "pb": path_json(&pb_path_for(p)),
        })).collect::<Vec<_>>(),
        "nx": prods.image.nx,
        "ny": prods.image.ny,
        "cell_arcsec": w.cdelt2_deg.abs() * 3600.0,
        "centre_ra_deg": w.crval_ra_deg,
        "centre_dec_deg": w.crval_dec_deg,
        "covered_fraction": if n_pix > 0 { img.len() as f64 / n_pix as f64 } else { 0.0 },
        "peak_jy": num(f64::from(peak)),
        "min_noise_jy": num(f64::from(min_noise)),
        "max_weight": num(f64::from(max_weight)),
        "flux_scale": "primary-beam corrected",
        "products": {
            "image": path_json(&with_suffix(&args.out, ".fits")),
            "weight": path_json(&with_suffix(&args.out, "-weight.fits")),
            "noise": path_json(&with_suffix(&args.out, "-noise.fits")),
            "png": path_json(&with_suffix(&args.out, ".png")),
        },
        "seconds": seconds,
    }));
    Ok(Outcome::Ok)
}
