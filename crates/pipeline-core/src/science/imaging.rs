//! Imaging of every group: Stokes I, MFS, w-corrected, CLEANed; WSClean-named FITS
//! products, a PNG preview, and one `images` row per product.

use std::path::PathBuf;

use dsa110_imaging::ms::{read_ms_stokes_i, VisColumn};
use dsa110_imaging::{image, ImagingParams};
use dsa110_queue::{ImageRecord, ImageType, Product};

use super::{ensure_dir, ms_record};
use crate::metrics::{self as m, Stage as StageLabel};
use crate::process::now_unix_s;
use crate::runner::{with_retry, DB_GIVE_UP_AFTER};
use crate::stage::{GroupWork, ProductKind, Stage, StageContext, StageError, StageOutput};

/// Images the group's MS: CORRECTED_DATA when calibration was applied, else DATA.
#[derive(Debug)]
pub struct ImagingStage {
    params: ImagingParams,
    dir: PathBuf,
}

impl ImagingStage {
    /// An imaging stage writing `<dir>/<group_id>-image.fits` etc.
    pub fn new(params: ImagingParams, dir: PathBuf) -> Self {
        Self { params, dir }
    }
}

impl Stage for ImagingStage {
    fn name(&self) -> &'static str {
        StageLabel::Imaging.as_str()
    }

    fn metric_label(&self) -> Option<StageLabel> {
        Some(StageLabel::Imaging)
    }

    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::MeasurementSet]
    }

    fn produces(&self) -> &'static [ProductKind] {
        &[ProductKind::Image]
    }

    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let ms = work.ms(self.name())?;
        let gid = &work.group.group_id;
        let rec = ms_record(ctx, gid, ms)?;
        let calibrated = with_retry("ms_status", DB_GIVE_UP_AFTER, || ctx.queue.ms_status(ms))?
            .and_then(|s| s.cal_applied)
            .unwrap_or(false);
        let column = if calibrated {
            VisColumn::Corrected
        } else {
            VisColumn::Data
        };
        let imaging_err = |source| StageError::Imaging {
            ms: ms.to_path_buf(),
            source: Box::new(source),
        };
        let mut vis = read_ms_stokes_i(ms, column).map_err(imaging_err)?;
        ensure_dir(&self.dir)?;
        let out_name = self.dir.join(gid.as_str());
        let report = image(&mut vis, &self.params, &out_name).map_err(imaging_err)?;
        m::image_qa(report.rms_jy, report.dynamic_range);
        tracing::info!(
            ms = %ms.display(),
            column = column.name(),
            rms_jy = report.rms_jy,
            peak_jy = report.peak_jy,
            dynamic_range = report.dynamic_range,
            bmaj_arcsec = report.beam.bmaj_arcsec,
            bmin_arcsec = report.beam.bmin_arcsec,
            iterations = report.n_iter,
            major_cycles = report.n_major,
            clean_stop = report.clean_stop.as_str(),
            seconds = report.timings.total_s,
            "group imaged"
        );
        let now = now_unix_s();
        let obs = &vis.obs;
        let products = report
            .products
            .iter()
            .filter_map(|(kind, path)| {
                let image_type = kind.parse::<ImageType>().ok()?;
                Some(Product::Image(ImageRecord {
                    id: None,
                    path: path.clone(),
                    ms_path: Some(ms.to_path_buf()),
                    group_id: Some(gid.clone()),
                    created_at: now,
                    image_type,
                    beam_major_arcsec: Some(report.beam.bmaj_arcsec),
                    beam_minor_arcsec: Some(report.beam.bmin_arcsec),
                    beam_pa_deg: Some(report.beam.bpa_deg),
                    noise_jy: Some(report.rms_jy),
                    dynamic_range: Some(report.dynamic_range),
                    pbcor: Some(image_type == ImageType::ImagePb),
                    center_ra_deg: Some(obs.phase_centre_ra_deg.rem_euclid(360.0)),
                    center_dec_deg: Some(obs.phase_centre_dec_deg),
                    imsize_x: Some(report.size as u32),
                    imsize_y: Some(report.size as u32),
                    cellsize_arcsec: Some(report.scale_arcsec),
                    freq_ghz: Some(report.freq_hz / 1e9),
                    bandwidth_mhz: Some(report.bandwidth_hz / 1e6),
                    integration_sec: Some(obs.integration_s),
                    mid_mjd: rec.mid_mjd,
                }))
            })
            .collect();
        with_retry("set_ms_stage", DB_GIVE_UP_AFTER, || {
            ctx.queue.set_ms_stage(ms, Some(self.name()), Some("done"))
        })?;
        Ok(StageOutput {
            products,
            ..StageOutput::default()
        })
    }
}
