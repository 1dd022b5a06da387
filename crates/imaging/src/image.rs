//! The top level: [`image`] runs weighting → PSF → dirty → CLEAN → restore →
//! primary beam → products, and returns an [`ImagingReport`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use dsa110_fits::{Beam, FitsImage, ImageMeta, SinWcs, Stretch};
use serde::{Deserialize, Serialize};

use crate::bda::average_channels;
use crate::beam::{fit_psf, restore_into, BeamShape};
use crate::clean::{clean, robust_rms, CleanParams, CleanStop, Gridders};
use crate::drift::BeamDrift;
use crate::pb::{ang_dist, pb_image, BandBeam};
use crate::{imaging_weights, GridConfig, Gridder, ImagingError, ImagingVis, Weighting};

/// Imaging parameters (defaults: 4096 × 3″, Briggs 0, auto-threshold 1σ).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImagingParams {
    /// Image side (pixels, even).
    pub size: usize,
    /// Pixel size (arcsec).
    pub scale_arcsec: f64,
    /// Weighting.
    pub weighting: Weighting,
    /// CLEAN parameters.
    pub clean: CleanParams,
    /// Gridding accuracy ε (the PSF, the dirty image and every degrid of the
    /// model).
    pub eps: f64,
    /// Gridding accuracy of the residual images of the major cycles (the final
    /// one included); `None` (the default): `eps`. A gridding error is relative
    /// to what is gridded, and a major cycle grids the residual visibilities:
    /// once the bright sources are subtracted (by degrids at `eps`), an error
    /// of 1e-3 of a residual peaking at a few σ is a thousandth of σ, and the
    /// narrower kernel makes each major cycle ≈ 12 % cheaper on a full group.
    /// Not the default: on the full-scale target group of `cargo xtask bench
    /// chain` the changed residual sent CLEAN down a path of one more major
    /// cycle (8, the last diverged and undone, against 7): slower to the end
    /// (see the README). The model is always subtracted at `eps`: its errors
    /// would stay in the residual visibilities.
    #[serde(default)]
    pub residual_eps: Option<f64>,
    /// Grid oversampling σ; `None` (the default): the gridder chooses it in
    /// [1.5, 2] by its cost model, with the kernel support that keeps ε.
    pub sigma: Option<f64>,
    /// w-term correction on/off.
    pub wcorr: bool,
    /// Primary-beam cut-off: the pb-corrected image is NaN where pb < this.
    pub pb_cutoff: f64,
    /// Dish diameter (m).
    pub dish_diameter_m: f64,
    /// Also write `<name>-dirty.fits`.
    pub write_dirty: bool,
    /// Write the PNG preview `<name>-image.png`.
    pub write_png: bool,
    /// Refuse images whose working set would exceed this (MB).
    pub max_memory_mb: u64,
    /// Baseline-dependent averaging: each baseline's channels averaged in bins
    /// whose uv extent stays within this many wavelengths (0 = none; see
    /// [`crate::bda`]). A source at `l` rad from the phase centre loses at most
    /// `(π·extent·l)²/6` of its flux.
    #[serde(default)]
    pub baseline_averaging_wl: f64,
    /// The major cycles predict the model with the primary beam's drift through
    /// the group in this many chunks of integrations (see [`crate::drift`]);
    /// 0 or 1: with the group's mean beam only. At most [`crate::MAX_DRIFT_CHUNKS`].
    #[serde(default)]
    pub beam_drift_chunks: usize,
}

impl Default for ImagingParams {
    fn default() -> Self {
        Self {
            size: 4096,
            scale_arcsec: 3.0,
            weighting: Weighting::Briggs { robust: 0.0 },
            clean: CleanParams::default(),
            eps: 1e-4,
            residual_eps: None,
            sigma: None,
            wcorr: true,
            pb_cutoff: 0.1,
            dish_diameter_m: 4.65,
            write_dirty: false,
            write_png: true,
            max_memory_mb: 16_000,
            baseline_averaging_wl: 0.0,
            beam_drift_chunks: 4,
        }
    }
}

/// Where the data were taken and what they point at (for the WCS and headers).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ObsInfo {
    /// Phase centre (image centre), J2000/ICRS right ascension (deg).
    pub phase_centre_ra_deg: f64,
    /// Phase centre declination (deg).
    pub phase_centre_dec_deg: f64,
    /// Pointing (primary-beam centre) right ascension (deg).
    pub pointing_ra_deg: f64,
    /// Pointing declination (deg).
    pub pointing_dec_deg: f64,
    /// DATE-OBS (ISO 8601, UTC), start of the observation.
    pub date_obs: String,
    /// Total integration time (s).
    pub integration_s: f64,
    /// OBJECT.
    pub object: String,
    /// Pointings over the observation (ra_deg, dec_deg, weight) for a drift
    /// scan; empty means the single pointing above.
    pub pointings: Vec<(f64, f64, f64)>,
    /// Per visibility row: the index in `pointings` of its integration (empty
    /// when unknown: the model is then predicted without the beam's drift).
    pub row_pointing: Vec<u32>,
}

/// Seconds spent per stage.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Weighting.
    pub weighting_s: f64,
    /// PSF and dirty image (gridded in one pass).
    pub psf_dirty_s: f64,
    /// CLEAN incl. major cycles.
    pub clean_s: f64,
    /// Beam fit, restore, primary beam.
    pub restore_s: f64,
    /// Writing products.
    pub write_s: f64,
    /// Everything.
    pub total_s: f64,
}

/// What [`image`] reports (serialisable to JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImagingReport {
    /// Restoring beam.
    pub beam: BeamShape,
    /// Robust rms of the residual (Jy/beam).
    pub rms_jy: f64,
    /// Peak of the restored image (Jy/beam).
    pub peak_jy: f64,
    /// Peak / rms.
    pub dynamic_range: f64,
    /// Image side (pixels).
    pub size: usize,
    /// Pixel size (arcsec).
    pub scale_arcsec: f64,
    /// Centre frequency (Hz).
    pub freq_hz: f64,
    /// Bandwidth (Hz).
    pub bandwidth_hz: f64,
    /// Unflagged visibilities imaged (after baseline-dependent averaging).
    pub n_vis: usize,
    /// Unflagged visibilities read, before baseline-dependent averaging.
    #[serde(default)]
    pub n_vis_read: usize,
    /// The baseline-dependent averaging's uv extent (wavelengths; 0 = none).
    #[serde(default)]
    pub baseline_averaging_wl: f64,
    /// Seconds spent averaging.
    #[serde(default)]
    pub averaging_s: f64,
    /// Unflagged visibilities outside the uv grid (not imaged).
    pub n_dropped: usize,
    /// w-planes used.
    pub n_wplanes: usize,
    /// Grid oversampling σ used (given or chosen).
    #[serde(default)]
    pub grid_sigma: f64,
    /// Oversampled grid side.
    #[serde(default)]
    pub grid_size: usize,
    /// Kernel support (cells).
    #[serde(default)]
    pub kernel_support: usize,
    /// The w-kernel's support (w-planes a visibility reaches) and oversampling.
    #[serde(default)]
    pub w_kernel_support: usize,
    #[serde(default)]
    pub w_sigma: f64,
    /// Minor iterations.
    pub n_iter: usize,
    /// Major cycles.
    pub n_major: usize,
    /// CLEAN's final stopping level (Jy/beam).
    pub stop_level_jy: f64,
    /// Why CLEAN stopped.
    pub clean_stop: CleanStop,
    /// Timings.
    pub timings: Timings,
    /// Products written, by type (`image`, `residual`, `model`, `psf`, `dirty`,
    /// `pb`, `image-pb`, `png`).
    pub products: Vec<(String, PathBuf)>,
}

/// In-memory result of imaging, before writing.
#[derive(Debug)]
pub struct ImagingProducts {
    /// Image side.
    pub n: usize,
    /// Restored image (Jy/beam).
    pub image: Vec<f64>,
    /// Residual (Jy/beam).
    pub residual: Vec<f64>,
    /// Model (Jy/pixel).
    pub model: Vec<f64>,
    /// PSF (peak 1).
    pub psf: Vec<f64>,
    /// Dirty image (Jy/beam).
    pub dirty: Option<Vec<f64>>,
    /// Primary beam.
    pub pb: Vec<f64>,
    /// pb-corrected image (NaN below the cut-off).
    pub image_pb: Vec<f64>,
    /// The report (products empty until written).
    pub report: ImagingReport,
}

fn estimate_memory_mb(vis: &ImagingVis, p: &ImagingParams) -> u64 {
    let n = p.size as u64;
    let nu = (p.size as f64 * p.sigma.unwrap_or(2.0)).ceil() as u64;
    let nvis = vis.vis.len() as u64;
    let bytes = nu * nu * 8 + 9 * n * n * 8 + nvis * (8 + 4);
    bytes / 1_000_000 + 1
}

fn check_params(p: &ImagingParams) -> Result<(), ImagingError> {
    let bad = |name, value: String, reason: &str| {
        Err(ImagingError::InvalidParam {
            name,
            value,
            reason: reason.into(),
        })
    };
    if p.size < 16 || p.size % 2 != 0 {
        return bad("size", p.size.to_string(), "must be even and ≥ 16");
    }
    if !(p.scale_arcsec > 0.0 && p.scale_arcsec.is_finite()) {
        return bad("scale_arcsec", p.scale_arcsec.to_string(), "must be > 0");
    }
    if !(p.clean.gain > 0.0 && p.clean.gain <= 1.0) {
        return bad("gain", p.clean.gain.to_string(), "must be in (0, 1]");
    }
    if !(p.clean.mgain > 0.0 && p.clean.mgain <= 1.0) {
        return bad("mgain", p.clean.mgain.to_string(), "must be in (0, 1]");
    }
    // the accuracies the kernel design covers
    let eps_range = 1e-7..0.1;
    for (name, e) in [("eps", Some(p.eps)), ("residual_eps", p.residual_eps)] {
        if let Some(e) = e.filter(|e| !eps_range.contains(e)) {
            return bad(name, e.to_string(), "must be in [1e-7, 0.1)");
        }
    }
    if !(0.0..1.0).contains(&p.clean.image_plane_depth) {
        return bad(
            "image_plane_depth",
            p.clean.image_plane_depth.to_string(),
            "must be in [0, 1)",
        );
    }
    if p.beam_drift_chunks > crate::MAX_DRIFT_CHUNKS {
        return bad(
            "beam_drift_chunks",
            p.beam_drift_chunks.to_string(),
            &format!("at most {}", crate::MAX_DRIFT_CHUNKS),
        );
    }
    if !(0.0..1.0).contains(&p.pb_cutoff) {
        return bad("pb_cutoff", p.pb_cutoff.to_string(), "must be in [0, 1)");
    }
    if !(p.baseline_averaging_wl >= 0.0 && p.baseline_averaging_wl.is_finite()) {
        return bad(
            "baseline_averaging",
            p.baseline_averaging_wl.to_string(),
            "must be a finite number of wavelengths ≥ 0",
        );
    }
    Ok(())
}

/// Compute every product in memory (no files written). CLEAN works on
/// `vis.vis` in place: on return it holds the residual visibilities (of the
/// averaged data when `p.baseline_averaging_wl` > 0: the averaging is done in
/// place too, so the visibilities are never held twice).
pub fn compute(vis: &mut ImagingVis, p: &ImagingParams) -> Result<ImagingProducts, ImagingError> {
    let t_all = Instant::now();
    check_params(p)?;
    vis.validate()?;
    let need = estimate_memory_mb(vis, p);
    if need > p.max_memory_mb {
        return Err(ImagingError::TooLarge {
            npix: p.size,
            needed_mb: need,
            limit_mb: p.max_memory_mb,
        });
    }
    let n = p.size;
    let cell_rad = (p.scale_arcsec / 3600.0).to_radians();
    let mut tm = Timings::default();

    let t = Instant::now();
    let avg = average_channels(vis, p.baseline_averaging_wl)?;
    let averaging_s = t.elapsed().as_secs_f64();
    if p.baseline_averaging_wl > 0.0 {
        tracing::info!(
            before = avg.before,
            after = avg.after,
            extent_wl = p.baseline_averaging_wl,
            "imaging: baseline-dependent averaging in {averaging_s:.1} s"
        );
    }

    let t = Instant::now();
    let wt = imaging_weights(vis, p.weighting, n, cell_rad)?;
    let sumw: f64 = wt.iter().map(|w| *w as f64).sum();
    let n_vis = wt.iter().filter(|w| **w > 0.0).count();
    if sumw.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(ImagingError::AllFlagged { nvis: wt.len() });
    }
    tm.weighting_s = t.elapsed().as_secs_f64();

    let cfg = GridConfig {
        npix: n,
        cell_rad,
        eps: p.eps,
        sigma: p.sigma,
        wcorr: p.wcorr,
        w_sigma: None,
    };
    let g = Gridder::new(&cfg, vis)?;
    tracing::info!(
        n_vis,
        grid = g.grid_size(),
        sigma = g.sigma(),
        support = g.support(),
        w_support = g.w_kernel().0,
        w_sigma = g.w_kernel().1,
        w_planes = g.nplanes(),
        dropped = g.n_dropped,
        "imaging: weights done in {:.1} s",
        tm.weighting_s
    );

    // the PSF and the dirty image in one pass over the visibilities
    let t = Instant::now();
    let [mut psf, mut dirty] = g.grid_images(vis, [None, Some(&vis.vis)], &wt);
    let psf_peak = psf[(n / 2) * n + n / 2];
    let norm = if psf_peak > 0.0 { psf_peak } else { sumw };
    psf.iter_mut().for_each(|x| *x /= norm);
    dirty.iter_mut().for_each(|x| *x /= norm);
    tm.psf_dirty_s = t.elapsed().as_secs_f64();
    tracing::info!("imaging: PSF and dirty image in {:.1} s", tm.psf_dirty_s);

    let t = Instant::now();
    let keep_dirty = if p.write_dirty {
        Some(dirty.clone())
    } else {
        None
    };
    // the major cycles' residual gridder, when it may be coarser than `g`
    let g_resid = match p.residual_eps {
        Some(re) if re > p.eps && p.clean.niter > 0 => {
            let gr = Gridder::new(
                &GridConfig {
                    eps: re,
                    ..cfg.clone()
                },
                vis,
            )?;
            tracing::info!(
                eps = re,
                grid = gr.grid_size(),
                sigma = gr.sigma(),
                support = gr.support(),
                w_planes = gr.nplanes(),
                "imaging: the major cycles grid the residual with a coarser kernel"
            );
            Some(gr)
        }
        _ => None,
    };
    // the pointings through the group and the phase centre (rad), for the
    // primary beam and its drift
    let o = &vis.obs;
    let centre = (
        o.phase_centre_ra_deg.to_radians(),
        o.phase_centre_dec_deg.to_radians(),
    );
    let pointings: Vec<(f64, f64, f64)> = if o.pointings.is_empty() {
        vec![(
            o.pointing_ra_deg.to_radians(),
            o.pointing_dec_deg.to_radians(),
            1.0,
        )]
    } else {
        o.pointings
            .iter()
            .map(|&(r, d, w)| (r.to_radians(), d.to_radians(), w))
            .collect()
    };
    let band = band_beam(vis, &wt, p, (n, cell_rad, centre), &pointings);
    let drift = BeamDrift::new(
        vis,
        &pointings,
        band.clone(),
        (n, cell_rad, centre),
        p.beam_drift_chunks,
    );
    if let Some(d) = &drift {
        tracing::info!(
            chunks = d.nchunks(),
            "imaging: the major cycles predict the model with the beam's drift"
        );
    }
    let gridders = Gridders {
        model: &g,
        residual: g_resid.as_ref().unwrap_or(&g),
        drift: drift.as_ref(),
    };
    let cr = clean(&gridders, vis, &wt, norm, n, dirty, &psf, &p.clean);
    tm.clean_s = t.elapsed().as_secs_f64();
    tracing::info!(
        iterations = cr.n_iter,
        major_cycles = cr.n_major,
        stopped_by = cr.stopped_by.as_str(),
        "imaging: CLEAN in {:.1} s",
        tm.clean_s
    );

    let t = Instant::now();
    let beam = fit_psf(&psf, n, p.scale_arcsec).unwrap_or(BeamShape {
        bmaj_arcsec: p.scale_arcsec,
        bmin_arcsec: p.scale_arcsec,
        bpa_deg: 0.0,
    });
    let mut image = cr.residual.clone();
    restore_into(&mut image, &cr.model, n, &beam, p.scale_arcsec);
    let nchan = vis.nchan();
    let pb = pb_image(&band, n, cell_rad, centre, &pointings);
    let image_pb: Vec<f64> = image
        .iter()
        .zip(&pb)
        .map(|(i, b)| {
            if *b >= p.pb_cutoff && *b > 0.0 {
                i / b
            } else {
                f64::NAN
            }
        })
        .collect();
    let rms = robust_rms(&cr.residual);
    let peak = image.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    tm.restore_s = t.elapsed().as_secs_f64();

    let fmin = vis.freq_hz[0];
    let fmax = vis.freq_hz[nchan - 1];
    tm.total_s = t_all.elapsed().as_secs_f64();
    let report = ImagingReport {
        beam,
        rms_jy: rms,
        peak_jy: peak,
        dynamic_range: if rms > 0.0 { peak / rms } else { f64::INFINITY },
        size: n,
        scale_arcsec: p.scale_arcsec,
        freq_hz: 0.5 * (fmin + fmax),
        bandwidth_hz: fmax - fmin + vis.chan_width_hz.abs(),
        n_vis,
        n_vis_read: avg.before,
        baseline_averaging_wl: p.baseline_averaging_wl,
        averaging_s,
        n_dropped: g.n_dropped,
        n_wplanes: g.nplanes(),
        grid_sigma: g.sigma(),
        grid_size: g.grid_size(),
        kernel_support: g.support(),
        w_kernel_support: g.w_kernel().0,
        w_sigma: g.w_kernel().1,
        n_iter: cr.n_iter,
        n_major: cr.n_major,
        stop_level_jy: cr.stop_level_jy,
        clean_stop: cr.stopped_by,
        timings: tm,
        products: Vec::new(),
    };
    Ok(ImagingProducts {
        n,
        image,
        residual: cr.residual,
        model: cr.model,
        psf,
        dirty: keep_dirty,
        pb,
        image_pb,
        report,
    })
}

/// The primary beam, band-averaged with the channels' imaging weights `wt`,
/// tabulated out to the corner of the image (side `n`, pixel `cell_rad`,
/// centred on `centre`) farthest from any of `pointings` (rad).
fn band_beam(
    vis: &ImagingVis,
    wt: &[f32],
    p: &ImagingParams,
    (n, cell_rad, centre): (usize, f64, (f64, f64)),
    pointings: &[(f64, f64, f64)],
) -> BandBeam {
    let nchan = vis.nchan();
    let mut chan_w = vec![0.0f64; nchan];
    for (i, w) in wt.iter().enumerate() {
        chan_w[i % nchan] += *w as f64;
    }
    let max_off = pointings
        .iter()
        .map(|&(r, d, _)| ang_dist(centre.0, centre.1, r, d))
        .fold(0.0, f64::max);
    let theta_max = max_off + 1.5 * n as f64 * cell_rad;
    BandBeam::new(&vis.freq_hz, &chan_w, p.dish_diameter_m, theta_max)
}

/// Check that `out_name`'s directory exists and is writable (before any work).
fn check_writable(out_name: &Path) -> Result<(), ImagingError> {
    let dir = match out_name.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let probe = dir.join(format!(".dsa110-imaging-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|source| ImagingError::Write {
        path: out_name.to_path_buf(),
        source,
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Path of a product: `<out_name>-<kind>.fits`.
pub fn product_path(out_name: &Path, kind: &str, ext: &str) -> PathBuf {
    let mut s = out_name.as_os_str().to_os_string();
    s.push(format!("-{kind}.{ext}"));
    PathBuf::from(s)
}

/// Image `vis` and write the products `<out_name>-image.fits`, `-residual.fits`,
/// `-model.fits`, `-psf.fits`, (`-dirty.fits`), `-pb.fits`, `-image-pb.fits` and
/// `-image.png`. Every FITS file appears atomically at its final path. As in
/// [`compute`], `vis.vis` holds the residual visibilities on return.
pub fn image(
    vis: &mut ImagingVis,
    p: &ImagingParams,
    out_name: &Path,
) -> Result<ImagingReport, ImagingError> {
    let t_all = Instant::now();
    check_params(p)?;
    check_writable(out_name)?;
    let prod = compute(vis, p)?;
    let t = Instant::now();
    let mut report = prod.report.clone();
    let n = prod.n;
    let o = &vis.obs;
    let wcs = SinWcs::centered(
        o.phase_centre_ra_deg.rem_euclid(360.0),
        o.phase_centre_dec_deg,
        n,
        n,
        p.scale_arcsec / 3600.0,
    );
    let beam = Beam {
        bmaj_deg: report.beam.bmaj_arcsec / 3600.0,
        bmin_deg: report.beam.bmin_arcsec / 3600.0,
        bpa_deg: report.beam.bpa_deg,
    };
    let history = vec![
        format!("dsa110-imaging {}", env!("CARGO_PKG_VERSION")),
        format!(
            "size {} scale {}asec weight {} niter {} gain {} mgain {}",
            p.size,
            p.scale_arcsec,
            p.weighting.describe(),
            p.clean.niter,
            p.clean.gain,
            p.clean.mgain
        ),
        format!(
            "threshold {} Jy auto-threshold {:?} auto-mask {:?} eps {} sigma {} wcorr {}",
            p.clean.threshold_jy,
            p.clean.auto_threshold_sigma,
            p.clean.auto_mask_sigma,
            p.eps,
            report.grid_sigma,
            p.wcorr
        ),
        format!(
            "grid {} support {} w-planes {} (w-kernel support {} sigma {}) baseline-averaging {} wavelengths",
            report.grid_size,
            report.kernel_support,
            report.n_wplanes,
            report.w_kernel_support,
            report.w_sigma,
            p.baseline_averaging_wl
        ),
        format!(
            "pb-cutoff {} dish {} m; iterations {} major cycles {} w-planes {}",
            p.pb_cutoff, p.dish_diameter_m, report.n_iter, report.n_major, report.n_wplanes
        ),
        format!("CLEAN stopped by {}", report.clean_stop.as_str()),
        format!(
            "major cycles grid the residual at eps {}",
            p.residual_eps.map_or(p.eps, |re| re.max(p.eps))
        ),
    ];
    let meta = |bunit: &str, with_beam: bool| {
        let mut m = ImageMeta::new(wcs);
        m.freq_hz = report.freq_hz;
        m.bandwidth_hz = report.bandwidth_hz;
        m.beam = if with_beam { Some(beam) } else { None };
        m.bunit = bunit.into();
        m.date_obs = o.date_obs.clone();
        m.object = o.object.clone();
        m.history = history.clone();
        m
    };
    let mut jobs: Vec<(&str, &Vec<f64>, &str, bool)> = vec![
        ("image", &prod.image, "JY/BEAM", true),
        ("residual", &prod.residual, "JY/BEAM", true),
        ("model", &prod.model, "JY/PIXEL", true),
        ("psf", &prod.psf, "JY/BEAM", true),
        ("pb", &prod.pb, "", false),
        ("image-pb", &prod.image_pb, "JY/BEAM", true),
    ];
    if let Some(d) = &prod.dirty {
        jobs.push(("dirty", d, "JY/BEAM", true));
    }
    for (kind, data, bunit, with_beam) in jobs {
        let path = product_path(out_name, kind, "fits");
        let img = FitsImage {
            nx: n,
            ny: n,
            data: data.iter().map(|x| *x as f32).collect(),
            meta: meta(bunit, with_beam),
        };
        dsa110_fits::write_image(&path, &img).map_err(|e| ImagingError::Fits {
            path: path.clone(),
            source: Box::new(e),
        })?;
        report.products.push((kind.to_string(), path));
    }
    if p.write_png {
        let path = product_path(out_name, "image", "png");
        let data: Vec<f32> = prod.image.iter().map(|x| *x as f32).collect();
        dsa110_fits::write_png_preview(&path, &data, n, n, Stretch::default()).map_err(|e| {
            ImagingError::Fits {
                path: path.clone(),
                source: Box::new(e),
            }
        })?;
        report.products.push(("png".to_string(), path));
    }
    report.timings.write_s = t.elapsed().as_secs_f64();
    report.timings.total_s = t_all.elapsed().as_secs_f64();
    Ok(report)
}
