//! Forced photometry of every image, normalisation against stable references, variability
//! statistics, and mosaics of consecutive images of one declination strip.
//!
//! Fluxes stored per measurement (`photometry`): `peak_flux_jy` as the image shows it
//! (attenuated by the primary beam), `int_flux_jy` the intrinsic flux (peak / primary-beam
//! value: a point source's integrated flux, comparable between epochs whatever its place
//! in the beam), and `norm_flux_jy` the intrinsic flux divided by the image's flux scale
//! (the median ratio of up to 20 bright, stable reference sources to their long-term
//! median, with 3σ outlier rejection; 1 when fewer than 3 references are measured).
//! Variability statistics use the normalised fluxes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dsa110_photometry::{
    classify, forced_photometry_files, mosaic_files, pb_path_for, scale_from_references, Flags,
    ForcedOptions, MosaicOptions, Source, VariabilityRules,
};
use dsa110_queue::{
    GroupId, ImageRecord, ImageType, MosaicRecord, MosaicStatus, PhotometryRecord, Product,
    VariabilityRecord,
};

use super::{ensure_dir, ms_record};
use crate::metrics::{self as m, MosaicOutcome, Stage as StageLabel};
use crate::process::now_unix_s;
use crate::runner::{with_retry, DB_GIVE_UP_AFTER};
use crate::stage::{GroupWork, ProductKind, Stage, StageContext, StageError, StageOutput};

/// Photometry settings (`--photometry-catalog`, `--photometry-min-pb`,
/// `--photometry-min-snr`).
#[derive(Clone, Debug)]
pub struct PhotometryParams {
    /// The sources measured on every image.
    pub catalog: Arc<Vec<Source>>,
    /// Where they came from (for the log).
    pub catalog_origin: String,
    /// Forced-photometry options (beam cut-off, edges, blending).
    pub forced: ForcedOptions,
    /// Sources whose median SNR is below this get no variability statistics, and
    /// reference sources need at least 4× this SNR.
    pub min_snr: f64,
    /// The ESE / flare / variable rules.
    pub rules: VariabilityRules,
}

/// Most reference sources per image.
const MAX_REFERENCES: usize = 20;
/// Fewest reference sources for a flux scale.
const MIN_REFERENCES: usize = 3;
/// Epochs a source needs before it can be a reference.
const MIN_REFERENCE_EPOCHS: u32 = 3;

/// Measures the catalogue on the group's image and updates the measured sources'
/// variability statistics.
#[derive(Debug)]
pub struct PhotometryStage {
    params: PhotometryParams,
}

impl PhotometryStage {
    /// A photometry stage.
    pub fn new(params: PhotometryParams) -> Self {
        Self { params }
    }
}

fn phot_err(what: String) -> impl FnOnce(dsa110_photometry::PhotError) -> StageError {
    move |source| StageError::Photometry {
        what,
        source: Box::new(source),
    }
}

impl Stage for PhotometryStage {
    fn name(&self) -> &'static str {
        StageLabel::Photometry.as_str()
    }

    fn metric_label(&self) -> Option<StageLabel> {
        Some(StageLabel::Photometry)
    }

    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::MeasurementSet, ProductKind::Image]
    }

    fn produces(&self) -> &'static [ProductKind] {
        &[]
    }

    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let gid = &work.group.group_id;
        let image = work.image_path.as_deref().ok_or(StageError::MissingInput {
            stage: self.name(),
            needs: ProductKind::Image,
        })?;
        let ms = work.ms(self.name())?;
        let mjd = ms_record(ctx, gid, ms)?
            .mid_mjd
            .ok_or_else(|| StageError::Crashed {
                stage: self.name(),
                reason: format!("{}: ms_index row lacks its time", ms.display()),
            })?;
        let pb_path = pb_path_for(image);
        let pb = pb_path.exists().then_some(pb_path.as_path());
        let meas =
            forced_photometry_files(image, pb, &self.params.catalog, &self.params.forced).map_err(
                phot_err(format!("forced photometry on {}", image.display())),
            )?;
        let catalog_flux: std::collections::HashMap<&str, f64> = self
            .params
            .catalog
            .iter()
            .map(|s| (s.name.as_str(), s.flux_mjy / 1e3))
            .collect();
        // intrinsic fluxes of the sources measured
        let measured: Vec<_> = meas
            .iter()
            .filter(|x| {
                !x.flags.contains(Flags::OFF_IMAGE) && x.flux_jy.is_finite() && x.flux_err_jy > 0.0
            })
            .map(|x| {
                let pb = x.pb.filter(|p| *p > 0.0 && p.is_finite()).unwrap_or(1.0);
                (x, x.flux_jy / pb, x.flux_err_jy / pb)
            })
            .collect();
        // the image's flux scale from stable, bright references
        let mut refs: Vec<(f64, f64)> = Vec::new(); // (snr, ratio)
        for (x, flux, _) in &measured {
            if x.snr < 4.0 * self.params.min_snr || x.flags.0 != 0 {
                continue;
            }
            let Some(v) = with_retry("variability", DB_GIVE_UP_AFTER, || {
                ctx.queue.variability(&x.name)
            })?
            else {
                continue;
            };
            if v.is_candidate || v.n_epochs < MIN_REFERENCE_EPOCHS {
                continue;
            }
            if let Some(med) = v.median_flux_jy.filter(|m| *m > 0.0) {
                refs.push((x.snr, flux / med));
            }
        }
        refs.sort_by(|a, b| b.0.total_cmp(&a.0));
        refs.truncate(MAX_REFERENCES);
        let ratios: Vec<f64> = refs.iter().map(|r| r.1).collect();
        let scale = scale_from_references(&ratios, 3.0, MIN_REFERENCES);
        let (s, s_err) = scale
            .as_ref()
            .map_or((1.0, 0.0), |e| (e.scale, e.scale_err));
        let now = now_unix_s();
        let rows: Vec<PhotometryRecord> = measured
            .iter()
            .map(|(x, flux, err)| {
                let norm = flux / s;
                let norm_err = norm.abs() * ((err / flux).powi(2) + (s_err / s).powi(2)).sqrt();
                PhotometryRecord {
                    id: None,
                    source_id: x.name.clone(),
                    image_path: image.to_path_buf(),
                    group_id: Some(gid.clone()),
                    ra_deg: Some(x.ra_deg),
                    dec_deg: Some(x.dec_deg),
                    catalog_flux_jy: catalog_flux.get(x.name.as_str()).copied(),
                    peak_flux_jy: Some(x.flux_jy),
                    peak_flux_err_jy: Some(x.flux_err_jy),
                    int_flux_jy: Some(*flux),
                    int_flux_err_jy: Some(*err),
                    norm_flux_jy: Some(norm),
                    norm_flux_err_jy: Some(if norm_err.is_finite() { norm_err } else { *err }),
                    local_rms_jy: Some(x.local_rms_jy),
                    snr: Some(x.snr),
                    pb: x.pb,
                    mjd,
                    flags: Some(i64::from(x.flags.0)),
                    created_at: Some(now),
                }
            })
            .collect();
        // variability of every source measured here, with this epoch
        let mut stats = Vec::new();
        for row in &rows {
            let mut history = with_retry("photometry_for_source", DB_GIVE_UP_AFTER, || {
                ctx.queue.photometry_for_source(&row.source_id, None, None)
            })?;
            history.retain(|h| h.image_path != row.image_path);
            history.push(row.clone());
            history.sort_by(|a, b| a.mjd.total_cmp(&b.mjd));
            let mut snrs: Vec<f64> = history.iter().filter_map(|h| h.snr).collect();
            snrs.sort_by(f64::total_cmp);
            let median_snr = snrs.get(snrs.len() / 2).copied().unwrap_or(0.0);
            if median_snr < self.params.min_snr {
                continue;
            }
            let flux: Vec<f64> = history
                .iter()
                .map(|h| h.norm_flux_jy.unwrap_or(f64::NAN))
                .collect();
            let err: Vec<f64> = history
                .iter()
                .map(|h| h.norm_flux_err_jy.unwrap_or(f64::NAN))
                .collect();
            let Some(c) = classify(&flux, &err, &self.params.rules) else {
                continue;
            };
            let st = &c.stats;
            let fin = |v: f64| v.is_finite().then_some(v);
            stats.push(VariabilityRecord {
                source_id: row.source_id.clone(),
                n_epochs: st.n as u32,
                mean_flux_jy: fin(st.mean_flux),
                median_flux_jy: fin(st.median_flux),
                eta: fin(st.eta),
                v: fin(st.v),
                chi2_nu: fin(st.chi2_red),
                max_sigma_dev: fin(st.max_sigma_dev),
                m: fin(st.m),
                vs_max: fin(st.vs_max_abs),
                m_vs: fin(st.m_at_vs_max),
                is_candidate: c.kind.is_some(),
                candidate_reason: (!c.reason.is_empty()).then(|| c.reason.clone()),
                updated_at: now,
            });
        }
        // candidates once this stage's statistics are stored: those of other sources as
        // they stand, plus the updated sources' new verdicts
        let (stored, _) = with_retry("list_variability", DB_GIVE_UP_AFTER, || {
            ctx.queue.list_variability(true, u32::MAX, 0)
        })?;
        let updated: std::collections::HashSet<&str> =
            stats.iter().map(|v| v.source_id.as_str()).collect();
        let candidates_elsewhere = stored
            .iter()
            .filter(|v| !updated.contains(v.source_id.as_str()))
            .count();
        let new_candidates = stats.iter().filter(|v| v.is_candidate).count();
        tracing::info!(
            image = %image.display(),
            catalogue = %self.params.catalog_origin,
            measured = rows.len(),
            off_image = meas.len() - measured.len(),
            references = scale.as_ref().map_or(0, |e| e.n_used),
            flux_scale = s,
            variability_updated = stats.len(),
            candidates = new_candidates,
            "photometry done"
        );
        m::photometry_written(
            rows.len() as u64,
            (candidates_elsewhere + new_candidates) as u64,
        );
        let mut products = vec![Product::Photometry(rows)];
        if !stats.is_empty() {
            products.push(Product::Variability(stats));
        }
        Ok(StageOutput {
            products,
            ..StageOutput::default()
        })
    }
}

/// Mosaic settings (`--mosaic-size`, `--mosaic-overlap`).
#[derive(Clone, Debug)]
pub struct MosaicParams {
    /// Images per mosaic (12).
    pub size: usize,
    /// Images shared with the previous mosaic of the strip (3).
    pub overlap: usize,
    /// Gridding options.
    pub options: MosaicOptions,
}

impl Default for MosaicParams {
    fn default() -> Self {
        Self {
            size: 12,
            overlap: 3,
            options: MosaicOptions::default(),
        }
    }
}

/// Images of one strip considered when planning mosaics (the newest).
const MOSAIC_LOOKBACK: u32 = 2000;

/// After each group, builds the mosaics of its declination strip whose images all exist:
/// mosaic k of a strip combines its images k·(size − overlap) … k·(size − overlap) + size − 1
/// in time order.
#[derive(Debug)]
pub struct MosaicStage {
    params: MosaicParams,
    dir: PathBuf,
}

impl MosaicStage {
    /// A mosaic stage writing under `dir` (`<output>/mosaics`).
    pub fn new(params: MosaicParams, dir: PathBuf) -> Self {
        Self { params, dir }
    }
}

/// The strip of an image: its centre declination to 0.1°.
pub(crate) fn strip_of(rec: &ImageRecord) -> Option<String> {
    rec.center_dec_deg.map(|d| format!("dec{d:+.1}"))
}

impl Stage for MosaicStage {
    fn name(&self) -> &'static str {
        StageLabel::Mosaic.as_str()
    }

    fn metric_label(&self) -> Option<StageLabel> {
        Some(StageLabel::Mosaic)
    }

    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::Image]
    }

    fn produces(&self) -> &'static [ProductKind] {
        &[]
    }

    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let gid: &GroupId = &work.group.group_id;
        let image = work.image_path.as_deref().ok_or(StageError::MissingInput {
            stage: self.name(),
            needs: ProductKind::Image,
        })?;
        let Some(this) = with_retry("image_by_path", DB_GIVE_UP_AFTER, || {
            ctx.queue.image_by_path(image)
        })?
        else {
            return Ok(StageOutput::default());
        };
        let Some(strip) = strip_of(&this) else {
            return Ok(StageOutput::default());
        };
        let (mut images, _) = with_retry("list_images", DB_GIVE_UP_AFTER, || {
            ctx.queue
                .list_images(Some(ImageType::Image), MOSAIC_LOOKBACK, 0)
        })?;
        images.retain(|r| strip_of(r).as_deref() == Some(strip.as_str()) && r.path != this.path);
        images.push(this);
        sort_by_time(&mut images);
        let step = self.params.size.saturating_sub(self.params.overlap).max(1);
        let mut products = Vec::new();
        let mut k = 0;
        while k * step + self.params.size <= images.len() {
            let members = &images[k * step..k * step + self.params.size];
            k += 1;
            // only the mosaics this group's image belongs to are new
            if !members.iter().any(|r| r.path == image) {
                continue;
            }
            let first = members[0]
                .group_id
                .as_ref()
                .map_or_else(|| format!("{k}"), |g| g.as_str().replace(':', ""));
            let name = format!("{strip}_{first}");
            if with_retry("mosaic", DB_GIVE_UP_AFTER, || ctx.queue.mosaic(&name))?
                .is_some_and(|r| r.status == MosaicStatus::Completed)
            {
                continue;
            }
            ensure_dir(&self.dir)?;
            let base = self.dir.join(&name);
            let paths: Vec<PathBuf> = members.iter().map(|r| r.path.clone()).collect();
            let span = (
                members.iter().filter_map(|r| r.mid_mjd).reduce(f64::min),
                members.iter().filter_map(|r| r.mid_mjd).reduce(f64::max),
            );
            let built = mosaic_files(&paths, &base, &self.params.options);
            let (status, noise, error, path) = match built {
                Ok(p) => {
                    m::mosaic_built(MosaicOutcome::Completed);
                    let noise = dsa110_photometry::image_noise(&p.image);
                    tracing::info!(mosaic = %name, images = paths.len(), ?noise, "mosaic written");
                    (MosaicStatus::Completed, noise, None, Some(fits_path(&base)))
                }
                Err(e) if e.is_retryable() => {
                    return Err(StageError::Photometry {
                        what: format!("mosaic {name} of {gid}"),
                        source: Box::new(e),
                    })
                }
                Err(e) => {
                    m::mosaic_built(MosaicOutcome::Failed);
                    let err = StageError::Photometry {
                        what: format!("mosaic {name}"),
                        source: Box::new(e),
                    };
                    let why = crate::error::display_chain(&err);
                    tracing::warn!("{why}");
                    (MosaicStatus::Failed, None, Some(why), None)
                }
            };
            products.push(Product::Mosaic {
                mosaic: MosaicRecord {
                    id: None,
                    name,
                    path,
                    dec_strip_deg: members[0].center_dec_deg,
                    start_mjd: span.0,
                    end_mjd: span.1,
                    n_images: Some(paths.len() as u32),
                    noise_jy: noise,
                    status,
                    error,
                    created_at: Some(now_unix_s()),
                },
                image_paths: paths,
            });
        }
        Ok(StageOutput {
            products,
            ..StageOutput::default()
        })
    }
}

/// Images in time order (mid-time, then path; those without a time last).
pub(crate) fn sort_by_time(images: &mut [ImageRecord]) {
    images.sort_by(|a, b| {
        a.mid_mjd
            .unwrap_or(f64::MAX)
            .total_cmp(&b.mid_mjd.unwrap_or(f64::MAX))
            .then_with(|| a.path.cmp(&b.path))
    });
}

/// The mosaic's FITS file for its base name (`<base>.fits`).
pub(crate) fn fits_path(base: &Path) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".fits");
    PathBuf::from(s)
}
