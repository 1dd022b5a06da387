//! `dsa110-tools photometry IMAGE.fits --catalog FILE [--format csv|json] [--pb PB.fits]`:
//! forced photometry at the catalogue's positions
//! (`dsa110_photometry::forced_photometry_files`: restoring-beam matched
//! filter at the fixed position, neighbours within 1.5 beams fitted together,
//! errors from the local noise).
//!
//! The catalogue is the NVSS-like CSV `name,ra_deg,dec_deg,flux_mjy[,…]`; a
//! bad row stops the command with an error naming the file, line and field.
//! One row per catalogue source whose position falls on the image (sources
//! off the image are counted on stderr, and listed with `--all`). Fluxes are
//! as the image shows them: on `X-image.fits` apparent (not primary-beam
//! corrected) fluxes. `pb` is the primary-beam value at the source, read from
//! `X-pb.fits` beside `X-image.fits` (or `--pb`); the photometry crate has no
//! beam model of its own, so without that file the column is empty.
//!
//! CSV columns: `name,ra_deg,dec_deg,x_pix,y_pix,peak_flux_jy,peak_flux_err_jy,
//! bkg_jy,local_rms_jy,snr,pb,n_group,flags` (pixels 0-based; flags as names
//! joined by `|`).
//!
//! Exit status: 0 measured; 2 missing image/catalogue/pb, bad catalogue row,
//! image without a restoring beam, or a library error.

use std::path::PathBuf;

use anyhow::{Context, Result};
use dsa110_photometry::{
    forced_photometry_files, measurements_csv, pb_path_for, read_catalog, BadRowPolicy, Flags,
    ForcedOptions,
};
use serde_json::json;

use crate::science::{num, path_json, print_json, print_text, require_file, Outcome};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CSV with a header line.
    Csv,
    /// One JSON document.
    Json,
}

/// Arguments of `photometry`.
#[derive(Debug, clap::Args)]
pub struct PhotometryArgs {
    /// The image (`X-image.fits`; needs BMAJ/BMIN/BPA).
    pub image: PathBuf,
    /// Source catalogue CSV (`name,ra_deg,dec_deg,flux_mjy`, header required).
    #[arg(long)]
    pub catalog: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Primary-beam image (default: `X-pb.fits` beside `X-image.fits`, if present).
    #[arg(long)]
    pub pb: Option<PathBuf>,
    /// Also list catalogue sources that fall outside the image (flagged `off_image`).
    #[arg(long)]
    pub all: bool,
}

/// `photometry`.
pub fn run(args: &PhotometryArgs) -> Result<Outcome> {
    require_file(&args.image, "image")?;
    require_file(&args.catalog, "catalogue")?;
    let pb = match &args.pb {
        Some(p) => {
            require_file(p, "primary-beam image")?;
            Some(p.clone())
        }
        None => Some(pb_path_for(&args.image)).filter(|p| p.is_file()),
    };
    let catalog = read_catalog(&args.catalog, BadRowPolicy::Error)?;
    let all = forced_photometry_files(
        &args.image,
        pb.as_deref(),
        &catalog.sources,
        &ForcedOptions::default(),
    )
    .with_context(|| format!("forced photometry on {}", args.image.display()))?;
    let n_catalog = all.len();
    let rows: Vec<_> = all
        .into_iter()
        .filter(|m| args.all || !m.flags.contains(Flags::OFF_IMAGE))
        .collect();
    let n_off = rows.len().abs_diff(n_catalog);
    if n_off > 0 {
        tracing::info!(
            "{n_off} of {n_catalog} catalogue sources fall outside {} (not listed)",
            args.image.display()
        );
    }
    match args.format {
        Format::Csv => print_text(&measurements_csv(&rows)),
        Format::Json => {
            let ms: Vec<_> = rows
                .iter()
                .map(|m| {
                    json!({
                        "name": m.name,
                        "ra_deg": m.ra_deg,
                        "dec_deg": m.dec_deg,
                        "x_pix": num(m.x_pix),
                        "y_pix": num(m.y_pix),
                        "peak_flux_jy": num(m.flux_jy),
                        "peak_flux_err_jy": num(m.flux_err_jy),
                        "bkg_jy": num(m.bkg_jy),
                        "local_rms_jy": num(m.local_rms_jy),
                        "snr": num(m.snr),
                        "pb": m.pb.map(num),
                        "n_group": m.n_group,
                        "flags": m.flags.names(),
                        "flag_bits": m.flags.0,
                    })
                })
                .collect();
            print_json(&json!({
                "image": path_json(&args.image),
                "pb_image": pb.as_deref().map(path_json),
                "catalog": path_json(&args.catalog),
                "n_catalog": n_catalog,
                "n_listed": rows.len(),
                "measurements": ms,
            }));
        }
    }
    Ok(Outcome::Ok)
}
