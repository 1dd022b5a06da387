//! `dsa110-tools image MS --out NAME [--size N] [--scale 3asec] [--weight briggs 0]
//! [--niter N] [--threshold JY] [--auto-threshold S] [--auto-mask S] [--column DATA|CORRECTED_DATA]
//! [--baseline-averaging WL]`:
//! a Stokes I image of a Measurement Set (`dsa110_imaging::image`), written
//! as WSClean names its products: `NAME-image.fits`, `-residual.fits`,
//! `-model.fits`, `-psf.fits`, `-pb.fits`, `-image-pb.fits` and the preview
//! `NAME-image.png`; a JSON summary (beam, rms, peak and where it is,
//! dynamic range, timings, product paths) on stdout.
//!
//! `--scale` reads like WSClean's `-scale` (`3asec`, `0.5amin`, `0.001deg`,
//! `200masec`; a plain number is in degrees, as WSClean takes it).
//! `--weight` reads like WSClean's: `briggs 0`, `briggs -0.5` (two words, or one quoted), `natural`,
//! `uniform`. Without `--column` the
//! column is CORRECTED_DATA when the MS has one, else DATA (as WSClean
//! chooses); asking for a column the MS lacks is an error.
//!
//! Exit status: 0 imaged; 2 bad arguments, missing MS or column, all data
//! flagged, unwritable output, or a library error.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dsa110_calibration::msio::ms_writer::MsTable;
use dsa110_imaging::ms::{read_ms_stokes_i, VisColumn};
use dsa110_imaging::{image, ImagingParams, Weighting};
use serde_json::json;

use crate::science::{num, path_json, print_json, require_ms, Outcome};

/// The visibility column to image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Column {
    /// DATA.
    #[value(name = "DATA", alias = "data")]
    Data,
    /// CORRECTED_DATA.
    #[value(name = "CORRECTED_DATA", alias = "corrected_data", alias = "corrected")]
    CorrectedData,
}

/// Arguments of `image`.
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// The Measurement Set.
    pub ms: PathBuf,
    /// Products are written as `NAME-image.fits`, `NAME-residual.fits`, … (the
    /// directory must exist).
    #[arg(long, value_name = "NAME")]
    pub out: PathBuf,
    /// Image side in pixels (even).
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Pixel size: `3asec`, `0.5amin`, `0.001deg`, `200masec`; a plain number is in
    /// degrees, as WSClean's -scale.
    #[arg(long, default_value = "3asec", value_parser = parse_scale_arcsec)]
    pub scale: f64,
    /// Weighting: `briggs R` (R in [-2, 2]; two words as in WSClean, or one quoted), `natural` or `uniform`.
    #[arg(long, default_value = "briggs 0", value_parser = parse_weight, allow_hyphen_values = true)]
    pub weight: Weighting,
    /// Most CLEAN minor iterations (0 = dirty image only).
    #[arg(long, default_value_t = 100_000)]
    pub niter: usize,
    /// Absolute CLEAN threshold (Jy/beam).
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f64,
    /// CLEAN loop gain: the fraction of the peak taken per minor iteration (as WSClean's -gain).
    #[arg(long, default_value_t = 0.1)]
    pub gain: f64,
    /// Major-cycle gain: each minor cycle cleans the peak down by this fraction
    /// before the next major cycle (as WSClean's -mgain).
    #[arg(long, default_value_t = 0.8)]
    pub mgain: f64,
    /// CLEAN threshold in units of the residual's robust rms.
    #[arg(long, default_value_t = 1.0)]
    pub auto_threshold: f64,
    /// Clean without a mask to this many sigma, then only inside the mask so found.
    #[arg(long)]
    pub auto_mask: Option<f64>,
    /// Column to image (default: CORRECTED_DATA if present, else DATA).
    #[arg(long, value_enum)]
    pub column: Option<Column>,
    /// Do not write the PNG preview.
    #[arg(long)]
    pub no_png: bool,
    /// Baseline-dependent averaging (wavelengths, as WSClean's -baseline-averaging
    /// but along frequency): each baseline's channels averaged in odd bins whose
    /// uv extent stays within this; a source `l` rad from the centre loses at
    /// most (π·WL·l)²/6 of its flux. 0 = none.
    #[arg(long, value_name = "WL", default_value_t = 0.0)]
    pub baseline_averaging: f64,
    /// Gridding accuracy of the major cycles' residual images (the dirty image,
    /// the PSF and the model's degrids keep 1e-4): the error is relative to the
    /// residual gridded, a few σ once the bright sources are subtracted, so
    /// 1e-3 makes each major cycle ≈ 12 % cheaper for a thousandth of σ (it
    /// may change how many major cycles CLEAN takes, either way).
    #[arg(long, value_name = "EPS", default_value_t = 1e-4)]
    pub residual_eps: f64,
    /// Image-plane (Clark) rounds while the residual is bright: a major cycle's
    /// minor cycles may go on, predicted with the whole PSF, down to this
    /// fraction of the first peak. 0 = off (WSClean's behaviour).
    #[arg(long, value_name = "F", default_value_t = 0.03)]
    pub image_plane_depth: f64,
    /// The major cycles predict the model with the primary beam's drift through
    /// the group (a drift scan) in this many chunks of integrations; 0 or 1:
    /// with the group's mean beam only.
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub beam_drift_chunks: usize,
    /// Grid oversampling σ (1.2–4): the uv grid is σ times the image's side, and
    /// the kernel support is the least that keeps the accuracy ε at that σ.
    /// Default: chosen per image and data by the gridder's cost model.
    #[arg(long, value_name = "SIGMA", value_parser = parse_oversampling)]
    pub grid_oversampling: Option<f64>,
}

/// `--grid-oversampling`: a number in the gridder's range
/// ([`dsa110_imaging::SIGMA_RANGE`]).
fn parse_oversampling(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|e| format!("not a number ({e})"))?;
    let range = dsa110_imaging::SIGMA_RANGE;
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "the grid oversampling must be in [{}, {}]",
            range.start(),
            range.end()
        ))
    }
}

/// Parse a pixel scale like WSClean's `-scale` (a plain number in degrees); returns arcsec.
pub fn parse_scale_arcsec(s: &str) -> Result<f64, String> {
    let t = s.trim().to_ascii_lowercase();
    let units: [(&str, f64); 7] = [
        ("masec", 1e-3),
        ("arcsec", 1.0),
        ("asec", 1.0),
        ("arcmin", 60.0),
        ("amin", 60.0),
        ("deg", 3600.0),
        ("\"", 1.0),
    ];
    let (number, factor) = units
        .iter()
        .find_map(|(u, f)| t.strip_suffix(u).map(|n| (n.trim(), *f)))
        .unwrap_or((t.as_str(), 3600.0));
    let v: f64 = number.parse().map_err(|_| {
        format!(
            "{s:?} is not a pixel scale (e.g. 3asec, 0.5amin, 0.001deg; a plain number is degrees)"
        )
    })?;
    let arcsec = v * factor;
    if !(arcsec.is_finite() && arcsec > 0.0) {
        return Err(format!("pixel scale {s:?} must be positive"));
    }
    Ok(arcsec)
}

/// Parse a weighting like WSClean: `briggs R`, `natural`, `uniform`.
pub fn parse_weight(s: &str) -> Result<Weighting, String> {
    s.parse()
}

/// WSClean writes `-weight briggs 0` as two words; so may our users
/// (`--weight briggs 0`). Joins the word after `--weight briggs` into one
/// value, `briggs 0`, before the arguments are parsed; every other argument is
/// left as it is (a quoted `"briggs 0"` already is one value).
pub fn join_briggs_robust(argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::with_capacity(argv.len());
    let mut it = argv.into_iter().peekable();
    while let Some(a) = it.next() {
        let is_weight = a == "--weight";
        out.push(a);
        if !is_weight {
            continue;
        }
        let Some(next) = it.next() else { break };
        let briggs = next
            .to_str()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("briggs"));
        let robust = it
            .peek()
            .and_then(|r| r.to_str())
            .is_some_and(|r| r.trim().parse::<f64>().is_ok());
        if briggs && robust {
            let r = it.next().unwrap_or_default();
            let mut joined = next;
            joined.push(" ");
            joined.push(r);
            out.push(joined);
        } else {
            out.push(next);
        }
    }
    out
}

/// `image`.
pub fn run(args: &ImageArgs) -> Result<Outcome> {
    let ms = &args.ms;
    require_ms(ms)?;
    for (name, v) in [
        ("--threshold", args.threshold),
        ("--auto-threshold", args.auto_threshold),
        ("--baseline-averaging", args.baseline_averaging),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{name} {v} must be a finite number >= 0");
        }
    }
    if let Some(m) = args.auto_mask {
        if !(m.is_finite() && m > 0.0) {
            bail!("--auto-mask {m} must be positive");
        }
    }
    let column = match args.column {
        Some(Column::Data) => VisColumn::Data,
        Some(Column::CorrectedData) => VisColumn::Corrected,
        None => {
            let mut t = MsTable::open(ms)
                .with_context(|| format!("cannot open Measurement Set {}", ms.display()))?;
            if t.has_column("CORRECTED_DATA")
                .with_context(|| format!("listing the columns of {}", ms.display()))?
            {
                VisColumn::Corrected
            } else {
                VisColumn::Data
            }
        }
    };
    let mut p = ImagingParams {
        size: args.size,
        scale_arcsec: args.scale,
        weighting: args.weight,
        write_png: !args.no_png,
        baseline_averaging_wl: args.baseline_averaging,
        ..ImagingParams::default()
    };
    p.residual_eps = Some(args.residual_eps);
    p.sigma = args.grid_oversampling;
    p.clean.niter = args.niter;
    p.clean.threshold_jy = args.threshold;
    p.clean.gain = args.gain;
    p.clean.mgain = args.mgain;
    p.clean.image_plane_depth = args.image_plane_depth;
    p.beam_drift_chunks = args.beam_drift_chunks;
    p.clean.auto_threshold_sigma = (args.auto_threshold > 0.0).then_some(args.auto_threshold);
    p.clean.auto_mask_sigma = args.auto_mask;

    let t = Instant::now();
    let mut vis = read_ms_stokes_i(ms, column)?;
    let read_s = t.elapsed().as_secs_f64();
    let report = image(&mut vis, &p, &args.out)
        .with_context(|| format!("imaging {} into {}-*", ms.display(), args.out.display()))?;

    // where the peak is (from the restored image as written)
    let image_path = dsa110_imaging::product_path(&args.out, "image", "fits");
    let img = dsa110_fits::read_image(&image_path)
        .with_context(|| format!("reading back {}", image_path.display()))?;
    let peak = img
        .data
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, v)| (i % img.nx, i / img.nx, f64::from(*v)));
    let peak_json = match peak {
        Some((x, y, v)) => {
            let world = img.meta.wcs.pixel_to_world(x as f64, y as f64);
            json!({
                "x_pix": x, "y_pix": y, "value_jy": num(v),
                "ra_deg": world.map(|w| w.0), "dec_deg": world.map(|w| w.1),
            })
        }
        None => serde_json::Value::Null,
    };
    let products: serde_json::Map<String, serde_json::Value> = report
        .products
        .iter()
        .map(|(k, p)| (k.clone(), path_json(p)))
        .collect();
    let mut timings = serde_json::to_value(&report.timings)?;
    if let Some(m) = timings.as_object_mut() {
        m.insert("read_s".into(), json!(read_s));
        m.insert("averaging_s".into(), json!(report.averaging_s));
    }
    print_json(&json!({
        "ms": path_json(ms),
        "column": column.name(),
        "size": report.size,
        "scale_arcsec": report.scale_arcsec,
        "weight": p.weighting.describe(),
        "beam": report.beam,
        "rms_jy": num(report.rms_jy),
        "peak_jy": num(report.peak_jy),
        "peak": peak_json,
        "dynamic_range": num(report.dynamic_range),
        "freq_hz": report.freq_hz,
        "bandwidth_hz": report.bandwidth_hz,
        "n_vis": report.n_vis,
        "n_vis_read": report.n_vis_read,
        "baseline_averaging_wl": report.baseline_averaging_wl,
        "n_dropped": report.n_dropped,
        "n_wplanes": report.n_wplanes,
        "n_iter": report.n_iter,
        "n_major": report.n_major,
        "stop_level_jy": num(report.stop_level_jy),
        "clean_stop": report.clean_stop.as_str(),
        "timings": timings,
        "products": products,
    }));
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn scales_read_like_wsclean_with_plain_degrees() {
        let check = |s: &str, want: f64| {
            let got = parse_scale_arcsec(s).unwrap();
            assert!((got - want).abs() < 1e-9 * want, "{s}: {got} != {want}");
        };
        check("3asec", 3.0);
        check("0.5amin", 30.0);
        check("0.001deg", 3.6);
        check("200masec", 0.2);
        check("0.001", 3.6);
        check(" 4arcsec ", 4.0);
        check("1ARCMIN", 60.0);
        for bad in ["", "asec", "-3asec", "0", "3 parsecs", "nan", "inf"] {
            assert!(parse_scale_arcsec(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn briggs_and_its_robustness_may_be_two_words_as_in_wsclean() {
        let argv = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            join_briggs_robust(argv(&["t", "image", "--weight", "briggs", "-0.5", "x.ms"])),
            argv(&["t", "image", "--weight", "briggs -0.5", "x.ms"])
        );
        // one word, a quoted pair, and a positional after a one-word weighting stay
        for v in [
            &["t", "image", "--weight", "natural", "0.5"][..],
            &["t", "image", "--weight", "briggs 0", "x.ms"][..],
            &["t", "image", "--weight", "briggs", "x.ms"][..],
            &["t", "image", "x.ms", "--weight"][..],
        ] {
            assert_eq!(join_briggs_robust(argv(v)), argv(v));
        }
    }

    #[test]
    fn weights_read_like_wsclean() {
        assert_eq!(
            parse_weight("briggs 0").unwrap(),
            Weighting::Briggs { robust: 0.0 }
        );
        assert_eq!(
            parse_weight("Briggs  -0.5").unwrap(),
            Weighting::Briggs { robust: -0.5 }
        );
        assert_eq!(parse_weight("natural").unwrap(), Weighting::Natural);
        assert_eq!(parse_weight(" uniform ").unwrap(), Weighting::Uniform);
        for bad in [
            "briggs",
            "briggs x",
            "briggs 3",
            "robust 0",
            "natural 1",
            "",
        ] {
            assert!(parse_weight(bad).is_err(), "{bad:?} accepted");
        }
    }
}
