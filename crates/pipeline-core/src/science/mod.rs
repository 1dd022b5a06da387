//! The science stages after conversion (feature `science`): thin adapters over the L1
//! science crates, each behind the [`Stage`] trait so that the runner gives them the same
//! per-stage state, timing, metrics, retries and one-transaction bookkeeping as the
//! conversion.
//!
//! Order per group: conversion → [`FlaggingStage`] (RFI) → [`CalSolveStage`] (only with
//! `--enable-calibration-solving`, and only does work when a calibrator transits) →
//! [`CalApplyStage`] (the nearest valid set, behind the fence) → [`ImagingStage`] (on by
//! default) → [`PhotometryStage`] (with `--enable-photometry`) → [`MosaicStage`] (with
//! photometry, unless `--no-mosaics`).
//!
//! What each stage does when it has nothing to work with is part of its contract and
//! is recorded, never faked: no calibrator → no solve (the group's `has_calibrator` is 0);
//! no valid set → the group goes on uncalibrated (`ms_index.cal_applied = 0`, a
//! `calibration_applied` row saying why, a metric and a `/health` warning); a mosaic
//! waits until its images exist.

mod calibration;
mod flagging;
mod imaging;
pub(crate) mod photometry;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use calibration::{CalApplyStage, CalSolveStage, CalibrationParams};
pub use flagging::FlaggingStage;
pub use imaging::ImagingStage;
pub use photometry::{MosaicParams, MosaicStage, PhotometryParams, PhotometryStage};

use dsa110_calibration::{Catalog, SolveParams};
use dsa110_imaging::{ImagingParams, Weighting};
use dsa110_photometry::{
    read_catalog, BadRowPolicy, ForcedOptions, MosaicOptions, Source, VariabilityRules,
};
use dsa110_queue::{GroupId, MsRecord};

use crate::config::{bad, seconds, ScienceConfig};
use crate::error::{display_chain, PipelineError};
use crate::runner::{with_retry, DB_GIVE_UP_AFTER};
use crate::stage::{Stage, StageContext, StageError};

/// Everything the science stages need, checked (see [`crate::config`]).
#[derive(Clone, Debug)]
pub struct ScienceParams {
    /// Where products go (`caltables/`, `images/`, `mosaics/` under it).
    pub output_dir: PathBuf,
    /// Run the RFI flagger (off with `--no-flagging`).
    pub flagging: bool,
    /// Calibration: solving (optional) and applying.
    pub calibration: CalibrationParams,
    /// Imaging (`None` with `--no-imaging`).
    pub imaging: Option<dsa110_imaging::ImagingParams>,
    /// Photometry (`None` unless `--enable-photometry`).
    pub photometry: Option<PhotometryParams>,
    /// Mosaics (`None` with `--no-mosaics` or without photometry).
    pub mosaics: Option<MosaicParams>,
}

impl ScienceParams {
    /// Checks the options (errors name the option; catalogue errors name the file and
    /// row) and loads the catalogues.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the option.
    pub fn from_config(c: &ScienceConfig, output_dir: &Path) -> Result<Self, PipelineError> {
        let positive = |option: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(bad(option, format!("{v} is not a positive number")))
            }
        };
        // an option where 0 means off
        let off_or_positive = |option: &'static str, v: f64| {
            if v == 0.0 {
                Ok(None)
            } else {
                positive(option, v).map(Some)
            }
        };
        let catalog = match &c.calibrator_catalog {
            Some(p) => {
                Catalog::from_csv(p).map_err(|e| bad("--calibrator-catalog", display_chain(&e)))?
            }
            None => Catalog::built_in(),
        };
        if let Some(r) = &c.refant {
            if r.trim().is_empty() {
                return Err(bad("--refant", "an empty antenna name"));
            }
        }
        let calibration = CalibrationParams {
            solving: c.enable_calibration_solving,
            catalog: Arc::new(catalog),
            refant: c.refant.clone(),
            validity_h: positive("--cal-validity-hours", c.cal_validity_hours)?,
            fence_timeout: Duration::from_secs_f64(seconds(
                "--cal-fence-timeout",
                c.cal_fence_timeout_s,
                0.0,
            )?),
            solve: SolveParams::default(),
        };
        if c.enable_photometry && c.no_imaging {
            return Err(bad(
                "--enable-photometry",
                "photometry measures the images: it cannot run with --no-imaging",
            ));
        }
        let imaging = if c.no_imaging {
            None
        } else {
            let mut p = ImagingParams::default();
            if !(16..=16_384).contains(&c.image_size) || c.image_size % 2 != 0 {
                return Err(bad(
                    "--image-size",
                    format!(
                        "{} is not an even number of pixels in 16..=16384",
                        c.image_size
                    ),
                ));
            }
            p.size = c.image_size;
            p.scale_arcsec = positive("--image-scale", c.image_scale_arcsec)?;
            p.weighting = c
                .image_weight
                .parse::<Weighting>()
                .map_err(|why| bad("--image-weight", format!("{:?}: {why}", c.image_weight)))?;
            p.clean.niter = c.image_niter;
            if !(c.image_threshold_jy.is_finite() && c.image_threshold_jy >= 0.0) {
                return Err(bad(
                    "--image-threshold",
                    format!("{} is not a non-negative flux in Jy", c.image_threshold_jy),
                ));
            }
            p.clean.threshold_jy = c.image_threshold_jy;
            p.clean.auto_threshold_sigma =
                off_or_positive("--image-auto-threshold", c.image_auto_threshold)?;
            p.clean.auto_mask_sigma = off_or_positive("--image-auto-mask", c.image_auto_mask)?;
            let bda = c.image_baseline_averaging_wl;
            if !(bda.is_finite() && bda >= 0.0) {
                return Err(bad(
                    "--image-baseline-averaging",
                    format!("{bda} is not a number of wavelengths >= 0"),
                ));
            }
            p.baseline_averaging_wl = bda;
            let depth = c.image_plane_depth;
            if !(0.0..1.0).contains(&depth) {
                return Err(bad(
                    "--image-plane-depth",
                    format!("{depth} is not a fraction of the peak in [0, 1)"),
                ));
            }
            p.clean.image_plane_depth = depth;
            let chunks = c.image_beam_drift_chunks;
            if chunks > dsa110_imaging::MAX_DRIFT_CHUNKS {
                return Err(bad(
                    "--image-beam-drift-chunks",
                    format!(
                        "{chunks} chunks: at most {}",
                        dsa110_imaging::MAX_DRIFT_CHUNKS
                    ),
                ));
            }
            p.beam_drift_chunks = chunks;
            Some(p)
        };
        let photometry = if c.enable_photometry {
            let (sources, origin) = match &c.photometry_catalog {
                Some(p) => {
                    let cat = read_catalog(p, BadRowPolicy::Error)
                        .map_err(|e| bad("--photometry-catalog", display_chain(&e)))?;
                    (cat.sources, p.display().to_string())
                }
                None => {
                    tracing::warn!(
                        "no --photometry-catalog: photometry measures only the calibrators \
                         of the calibrator catalogue; give an NVSS-like CSV \
                         (name,ra_deg,dec_deg,flux_mjy) for the field's sources"
                    );
                    let sources = calibration
                        .catalog
                        .sources
                        .iter()
                        .map(|cal| Source {
                            name: cal.name.clone(),
                            ra_deg: cal.ra_deg,
                            dec_deg: cal.dec_deg,
                            flux_mjy: cal.flux_jy * 1e3,
                            extra: Vec::new(),
                        })
                        .collect();
                    (sources, "the calibrator catalogue".to_owned())
                }
            };
            let min_pb = c.photometry_min_pb;
            if !(min_pb.is_finite() && (0.0..1.0).contains(&min_pb)) {
                return Err(bad(
                    "--photometry-min-pb",
                    format!("{min_pb} is not in [0, 1)"),
                ));
            }
            let forced = ForcedOptions {
                min_pb,
                ..ForcedOptions::default()
            };
            Some(PhotometryParams {
                catalog: Arc::new(sources),
                catalog_origin: origin,
                forced,
                min_snr: positive("--photometry-min-snr", c.photometry_min_snr)?,
                rules: VariabilityRules::default(),
            })
        } else {
            None
        };
        let mosaics = if photometry.is_some() && !c.no_mosaics {
            if c.mosaic_size < 2 {
                return Err(bad(
                    "--mosaic-size",
                    format!("{} is fewer than 2 images", c.mosaic_size),
                ));
            }
            if c.mosaic_overlap >= c.mosaic_size {
                return Err(bad(
                    "--mosaic-overlap",
                    format!(
                        "{} is not below --mosaic-size ({})",
                        c.mosaic_overlap, c.mosaic_size
                    ),
                ));
            }
            Some(MosaicParams {
                size: c.mosaic_size,
                overlap: c.mosaic_overlap,
                options: MosaicOptions::default(),
            })
        } else {
            None
        };
        Ok(Self {
            output_dir: output_dir.to_path_buf(),
            flagging: !c.no_flagging,
            calibration,
            imaging,
            photometry,
            mosaics,
        })
    }

    /// The stages these parameters turn on, in order.
    pub fn stages(&self, status: &Arc<ScienceStatus>) -> Vec<Arc<dyn Stage>> {
        let mut out: Vec<Arc<dyn Stage>> = Vec::new();
        if self.flagging {
            out.push(Arc::new(FlaggingStage::default()));
        }
        let cal = Arc::new(self.calibration.clone());
        if cal.solving {
            out.push(Arc::new(CalSolveStage::new(
                Arc::clone(&cal),
                self.output_dir.join("caltables"),
            )));
        }
        out.push(Arc::new(CalApplyStage::new(cal, Arc::clone(status))));
        if let Some(p) = &self.imaging {
            out.push(Arc::new(ImagingStage::new(
                p.clone(),
                self.output_dir.join("images"),
            )));
            if let Some(ph) = &self.photometry {
                out.push(Arc::new(PhotometryStage::new(ph.clone())));
                if let Some(mp) = &self.mosaics {
                    out.push(Arc::new(MosaicStage::new(
                        mp.clone(),
                        self.output_dir.join("mosaics"),
                    )));
                }
            }
        }
        out
    }
}

/// What the science stages tell `/health` (shared with the monitoring server).
#[derive(Debug, Default)]
pub struct ScienceStatus {
    last_calibration: Mutex<Option<(GroupId, Option<String>)>>,
}

impl ScienceStatus {
    /// Records the calibration outcome of the last group: `None` = applied, `Some(why)` =
    /// it went on uncalibrated.
    pub fn note_calibration(&self, group: &GroupId, uncalibrated_because: Option<String>) {
        *self
            .last_calibration
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((group.clone(), uncalibrated_because));
    }

    /// Warnings for `/health`: the last group was not calibrated, and why.
    pub fn warnings(&self) -> Vec<String> {
        match &*self
            .last_calibration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Some((gid, Some(why))) => {
                vec![format!("the last group ({gid}) is uncalibrated: {why}")]
            }
            _ => Vec::new(),
        }
    }
}

/// The `ms_index` row of the group's MS (times and phase centre).
fn ms_record(ctx: &StageContext, gid: &GroupId, ms: &Path) -> Result<MsRecord, StageError> {
    let recs = with_retry("ms_for_group", DB_GIVE_UP_AFTER, || {
        ctx.queue.ms_for_group(gid)
    })?;
    recs.into_iter()
        .find(|r| r.path == ms)
        .ok_or_else(|| StageError::Crashed {
            stage: "science",
            reason: format!("{} has no ms_index row", ms.display()),
        })
}

/// Creates `dir` (and parents), naming it on failure.
fn ensure_dir(dir: &Path) -> Result<(), StageError> {
    std::fs::create_dir_all(dir).map_err(|source| StageError::Io {
        op: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Removes a file or directory tree if it exists (a leftover of an earlier attempt).
fn remove_if_exists(path: &Path) -> Result<(), StageError> {
    let res = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    res.map_err(|source| StageError::Io {
        op: "remove",
        path: path.to_path_buf(),
        source,
    })
}

/// Poll period of the calibration fence.
const FENCE_POLL: Duration = Duration::from_millis(500);

/// MJD (UTC) of a Julian Date.
fn jd_to_mjd(jd: f64) -> f64 {
    jd - dsa110_astro::constants::MJD_OFFSET
}
