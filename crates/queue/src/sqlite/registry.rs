//! The product registry on SQLite: images, calibration tables and the fence,
//! calibration applications, photometry, variability, mosaics and jobs.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::{params, Connection, OptionalExtension, Params, Row};

use super::{finite, i64_to_u32, path_text, At, SqliteBackend};
use crate::error::{QueueError, Result};
use crate::products::{
    CalAppliedRecord, CalSet, CalStatus, CaltableRecord, ImageRecord, ImageType, JobOutcome,
    JobRecord, JobState, MosaicRecord, MosaicStatus, MsStatus, NewJob, PhotometryRecord,
    RecoveredJob, SolveResult, SolveStart, SourceSummary, VariabilityRecord,
};
use crate::types::GroupId;

/// A row mapper: database errors outside, parse errors inside.
type RowResult<T> = rusqlite::Result<Result<T>>;

fn corrupt(table: &'static str, key: impl Display, detail: impl Display) -> QueueError {
    QueueError::Corrupt {
        table,
        key: key.to_string(),
        detail: detail.to_string(),
    }
}

fn parse_text<T: FromStr>(table: &'static str, key: impl Display, s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| corrupt(table, key, format_args!("unexpected value {s:?}")))
}

fn parse_gid(table: &'static str, key: impl Display, s: Option<String>) -> Result<Option<GroupId>> {
    s.map(|g| {
        GroupId::parse(&g).map_err(|_| corrupt(table, key, format_args!("bad group id {g:?}")))
    })
    .transpose()
}

fn opt_path(p: Option<&PathBuf>) -> Result<Option<String>> {
    p.map(|p| path_text(p)).transpose()
}

fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.map(i64_to_u32)
}

fn window_days(window_h: f64) -> Result<f64> {
    if window_h.is_finite() && window_h >= 0.0 {
        Ok(window_h / 24.0)
    } else {
        Err(QueueError::InvalidInput {
            what: "window_h (finite, >= 0)",
            value: window_h.to_string(),
        })
    }
}

fn non_empty(what: &'static str, s: &str) -> Result<()> {
    if s.trim().is_empty() {
        Err(QueueError::InvalidInput {
            what,
            value: s.to_owned(),
        })
    } else {
        Ok(())
    }
}

const IMAGE_COLUMNS: &str = "id, path, ms_path, group_id, created_at, type, beam_major_arcsec, \
     beam_minor_arcsec, beam_pa_deg, noise_jy, dynamic_range, pbcor, center_ra_deg, center_dec_deg, \
     imsize_x, imsize_y, cellsize_arcsec, freq_ghz, bandwidth_mhz, integration_sec, mid_mjd";

const SOURCE_COLUMNS: &str = "source_id, n_measurements, ra_deg, dec_deg, first_mjd, last_mjd";

fn source_row(r: &Row<'_>) -> RowResult<SourceSummary> {
    Ok(Ok(SourceSummary {
        source_id: r.get(0)?,
        n_measurements: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        ra_deg: r.get(2)?,
        dec_deg: r.get(3)?,
        first_mjd: r.get(4)?,
        last_mjd: r.get(5)?,
    }))
}

fn image_row(r: &Row<'_>) -> RowResult<ImageRecord> {
    let path: String = r.get(1)?;
    let group: Option<String> = r.get(3)?;
    let kind: String = r.get(5)?;
    let rec = ImageRecord {
        id: Some(r.get(0)?),
        path: PathBuf::from(&path),
        ms_path: r.get::<_, Option<String>>(2)?.map(PathBuf::from),
        group_id: None,
        created_at: r.get(4)?,
        image_type: ImageType::Image,
        beam_major_arcsec: r.get(6)?,
        beam_minor_arcsec: r.get(7)?,
        beam_pa_deg: r.get(8)?,
        noise_jy: r.get(9)?,
        dynamic_range: r.get(10)?,
        pbcor: r.get::<_, Option<i64>>(11)?.map(|v| v != 0),
        center_ra_deg: r.get(12)?,
        center_dec_deg: r.get(13)?,
        imsize_x: opt_u32(r.get(14)?),
        imsize_y: opt_u32(r.get(15)?),
        cellsize_arcsec: r.get(16)?,
        freq_ghz: r.get(17)?,
        bandwidth_mhz: r.get(18)?,
        integration_sec: r.get(19)?,
        mid_mjd: r.get(20)?,
    };
    Ok((|| -> Result<_> {
        Ok(ImageRecord {
            group_id: parse_gid("images", &path, group)?,
            image_type: parse_text("images", &path, &kind)?,
            ..rec
        })
    })())
}

const CALTABLE_COLUMNS: &str = "id, set_name, path, table_type, order_index, calibrator, refant, \
     group_id, created_at, mid_mjd, valid_start_mjd, valid_end_mjd, status, params_json, qa_json, error";

fn caltable_row(r: &Row<'_>) -> RowResult<CaltableRecord> {
    let path: String = r.get(2)?;
    let kind: String = r.get(3)?;
    let group: Option<String> = r.get(7)?;
    let status: String = r.get(12)?;
    let rec = CaltableRecord {
        id: Some(r.get(0)?),
        set_name: r.get(1)?,
        path: PathBuf::from(&path),
        table_type: crate::products::CaltableType::B,
        order_index: i64_to_u32(r.get(4)?),
        calibrator: r.get(5)?,
        refant: r.get(6)?,
        group_id: None,
        created_at: r.get(8)?,
        mid_mjd: r.get(9)?,
        valid_start_mjd: r.get(10)?,
        valid_end_mjd: r.get(11)?,
        status: CalStatus::Solving,
        params_json: r.get(13)?,
        qa_json: r.get(14)?,
        error: r.get(15)?,
    };
    Ok((|| -> Result<_> {
        Ok(CaltableRecord {
            table_type: parse_text("caltables", &path, &kind)?,
            group_id: parse_gid("caltables", &path, group)?,
            status: parse_text("caltables", &path, &status)?,
            ..rec
        })
    })())
}

const CAL_APPLIED_COLUMNS: &str =
    "id, ms_path, group_id, set_name, caltable_paths, applied_at, success, error";

fn cal_applied_row(r: &Row<'_>) -> RowResult<CalAppliedRecord> {
    let id: i64 = r.get(0)?;
    let group: Option<String> = r.get(2)?;
    let paths: Option<String> = r.get(4)?;
    let rec = CalAppliedRecord {
        id: Some(id),
        ms_path: PathBuf::from(r.get::<_, String>(1)?),
        group_id: None,
        set_name: r.get(3)?,
        caltable_paths: Vec::new(),
        applied_at: r.get(5)?,
        success: r.get::<_, i64>(6)? != 0,
        error: r.get(7)?,
    };
    Ok((|| -> Result<_> {
        let caltable_paths = match paths.as_deref() {
            None | Some("") => Vec::new(),
            Some(text) => serde_json::from_str::<Vec<String>>(text)
                .map_err(|e| {
                    corrupt(
                        "calibration_applied",
                        id,
                        format_args!("caltable_paths: {e}"),
                    )
                })?
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        };
        Ok(CalAppliedRecord {
            group_id: parse_gid("calibration_applied", id, group)?,
            caltable_paths,
            ..rec
        })
    })())
}

const PHOTOMETRY_COLUMNS: &str = "id, source_id, image_path, group_id, ra_deg, dec_deg, \
     catalog_flux_jy, peak_flux_jy, peak_flux_err_jy, int_flux_jy, int_flux_err_jy, norm_flux_jy, \
     norm_flux_err_jy, local_rms_jy, snr, pb, mjd, flags, created_at";

fn photometry_row(r: &Row<'_>) -> RowResult<PhotometryRecord> {
    let id: i64 = r.get(0)?;
    let group: Option<String> = r.get(3)?;
    let rec = PhotometryRecord {
        id: Some(id),
        source_id: r.get(1)?,
        image_path: PathBuf::from(r.get::<_, String>(2)?),
        group_id: None,
        ra_deg: r.get(4)?,
        dec_deg: r.get(5)?,
        catalog_flux_jy: r.get(6)?,
        peak_flux_jy: r.get(7)?,
        peak_flux_err_jy: r.get(8)?,
        int_flux_jy: r.get(9)?,
        int_flux_err_jy: r.get(10)?,
        norm_flux_jy: r.get(11)?,
        norm_flux_err_jy: r.get(12)?,
        local_rms_jy: r.get(13)?,
        snr: r.get(14)?,
        pb: r.get(15)?,
        mjd: r.get(16)?,
        flags: r.get(17)?,
        created_at: r.get(18)?,
    };
    Ok(parse_gid("photometry", id, group).map(|group_id| PhotometryRecord { group_id, ..rec }))
}

const VARIABILITY_COLUMNS: &str = "source_id, n_epochs, mean_flux_jy, median_flux_jy, eta, v, \
     chi2_nu, max_sigma_dev, m, vs_max, m_vs, is_candidate, candidate_reason, updated_at";

fn variability_row(r: &Row<'_>) -> RowResult<VariabilityRecord> {
    Ok(Ok(VariabilityRecord {
        source_id: r.get(0)?,
        n_epochs: i64_to_u32(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
        mean_flux_jy: r.get(2)?,
        median_flux_jy: r.get(3)?,
        eta: r.get(4)?,
        v: r.get(5)?,
        chi2_nu: r.get(6)?,
        max_sigma_dev: r.get(7)?,
        m: r.get(8)?,
        vs_max: r.get(9)?,
        m_vs: r.get(10)?,
        is_candidate: r.get::<_, Option<i64>>(11)?.unwrap_or(0) != 0,
        candidate_reason: r.get(12)?,
        updated_at: r.get::<_, Option<f64>>(13)?.unwrap_or(0.0),
    }))
}

const MOSAIC_COLUMNS: &str =
    "id, name, path, dec_strip_deg, start_mjd, end_mjd, n_images, noise_jy, status, error, created_at";

fn mosaic_row(r: &Row<'_>) -> RowResult<MosaicRecord> {
    let name: String = r.get(1)?;
    let status: String = r.get(8)?;
    let rec = MosaicRecord {
        id: Some(r.get(0)?),
        name: name.clone(),
        path: r.get::<_, Option<String>>(2)?.map(PathBuf::from),
        dec_strip_deg: r.get(3)?,
        start_mjd: r.get(4)?,
        end_mjd: r.get(5)?,
        n_images: opt_u32(r.get(6)?),
        noise_jy: r.get(7)?,
        status: MosaicStatus::Planned,
        error: r.get(9)?,
        created_at: r.get(10)?,
    };
    Ok(parse_text("mosaics", &name, &status).map(|status| MosaicRecord { status, ..rec }))
}

const JOB_COLUMNS: &str = "id, kind, state, group_ids, params_json, result_json, error, \
     created_at, started_at, finished_at, requested_by, owner, heartbeat_at";

fn job_row(r: &Row<'_>) -> RowResult<JobRecord> {
    let id: i64 = r.get(0)?;
    let state: String = r.get(2)?;
    let groups: String = r.get(3)?;
    let rec = JobRecord {
        id,
        kind: r.get(1)?,
        state: JobState::Queued,
        group_ids: Vec::new(),
        params_json: r.get(4)?,
        result_json: r.get(5)?,
        error: r.get(6)?,
        created_at: r.get(7)?,
        started_at: r.get(8)?,
        finished_at: r.get(9)?,
        requested_by: r.get(10)?,
        owner: r.get(11)?,
        heartbeat_at: r.get(12)?,
    };
    Ok((|| -> Result<_> {
        let ids: Vec<String> = serde_json::from_str(&groups)
            .map_err(|e| corrupt("jobs", id, format_args!("group_ids: {e}")))?;
        let group_ids = ids
            .iter()
            .map(|g| {
                GroupId::parse(g)
                    .map_err(|_| corrupt("jobs", id, format_args!("bad group id {g:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(JobRecord {
            state: parse_text("jobs", id, &state)?,
            group_ids,
            ..rec
        })
    })())
}

impl SqliteBackend {
    fn query_all<T, P: Params>(
        &self,
        tx: &Connection,
        op: &'static str,
        sql: &str,
        params: P,
        f: impl FnMut(&Row<'_>) -> RowResult<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = tx.prepare_cached(sql).at(self, op)?;
        let rows = stmt
            .query_map(params, f)
            .at(self, op)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .at(self, op)?;
        rows.into_iter().collect()
    }

    fn query_one<T, P: Params>(
        &self,
        tx: &Connection,
        op: &'static str,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> RowResult<T>,
    ) -> Result<Option<T>> {
        tx.query_row(sql, params, f)
            .optional()
            .at(self, op)?
            .transpose()
    }

    fn count(
        &self,
        tx: &Connection,
        op: &'static str,
        sql: &str,
        params: impl Params,
    ) -> Result<u64> {
        let n: i64 = tx.query_row(sql, params, |r| r.get(0)).at(self, op)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    // ---------------------------------------------------------------- images

    pub(crate) fn record_image_in(
        &self,
        tx: &Connection,
        op: &'static str,
        rec: &ImageRecord,
    ) -> Result<i64> {
        let path = path_text(&rec.path)?;
        let ms_path = opt_path(rec.ms_path.as_ref())?;
        let created_at = finite("created_at", rec.created_at)?;
        tx.query_row(
            "INSERT INTO images (path, ms_path, group_id, created_at, type, beam_major_arcsec, \
             beam_minor_arcsec, beam_pa_deg, noise_jy, dynamic_range, pbcor, center_ra_deg, \
             center_dec_deg, imsize_x, imsize_y, cellsize_arcsec, freq_ghz, bandwidth_mhz, \
             integration_sec, mid_mjd) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
             ON CONFLICT(path) DO UPDATE SET ms_path = excluded.ms_path, group_id = excluded.group_id, \
             created_at = excluded.created_at, type = excluded.type, \
             beam_major_arcsec = excluded.beam_major_arcsec, beam_minor_arcsec = excluded.beam_minor_arcsec, \
             beam_pa_deg = excluded.beam_pa_deg, noise_jy = excluded.noise_jy, \
             dynamic_range = excluded.dynamic_range, pbcor = excluded.pbcor, \
             center_ra_deg = excluded.center_ra_deg, center_dec_deg = excluded.center_dec_deg, \
             imsize_x = excluded.imsize_x, imsize_y = excluded.imsize_y, \
             cellsize_arcsec = excluded.cellsize_arcsec, freq_ghz = excluded.freq_ghz, \
             bandwidth_mhz = excluded.bandwidth_mhz, integration_sec = excluded.integration_sec, \
             mid_mjd = excluded.mid_mjd \
             RETURNING id",
            params![
                path,
                ms_path,
                rec.group_id.as_ref().map(GroupId::as_str),
                created_at,
                rec.image_type.as_str(),
                rec.beam_major_arcsec,
                rec.beam_minor_arcsec,
                rec.beam_pa_deg,
                rec.noise_jy,
                rec.dynamic_range,
                rec.pbcor,
                rec.center_ra_deg,
                rec.center_dec_deg,
                rec.imsize_x,
                rec.imsize_y,
                rec.cellsize_arcsec,
                rec.freq_ghz,
                rec.bandwidth_mhz,
                rec.integration_sec,
                rec.mid_mjd
            ],
            |r| r.get(0),
        )
        .at(self, op)
    }

    /// See [`crate::Queue::record_image`].
    pub fn record_image(&self, rec: &ImageRecord) -> Result<i64> {
        const OP: &str = "record_image";
        self.write(OP, |tx| self.record_image_in(tx, OP, rec))
    }

    /// See [`crate::Queue::image`].
    pub fn image(&self, id: i64) -> Result<Option<ImageRecord>> {
        const OP: &str = "image";
        self.read(OP, |tx| {
            self.query_one(
                tx,
                OP,
                &format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?1"),
                [id],
                image_row,
            )
        })
    }

    /// See [`crate::Queue::image_by_path`].
    pub fn image_by_path(&self, path: &Path) -> Result<Option<ImageRecord>> {
        const OP: &str = "image_by_path";
        let p = path_text(path)?;
        self.read(OP, |tx| {
            self.query_one(
                tx,
                OP,
                &format!("SELECT {IMAGE_COLUMNS} FROM images WHERE path = ?1"),
                [&p],
                image_row,
            )
        })
    }

    /// See [`crate::Queue::images_for_group`].
    pub fn images_for_group(&self, group: &GroupId) -> Result<Vec<ImageRecord>> {
        const OP: &str = "images_for_group";
        self.read(OP, |tx| {
            self.query_all(
                tx,
                OP,
                &format!("SELECT {IMAGE_COLUMNS} FROM images WHERE group_id = ?1 ORDER BY path"),
                [group.as_str()],
                image_row,
            )
        })
    }

    /// See [`crate::Queue::list_images`].
    pub fn list_images(
        &self,
        image_type: Option<ImageType>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<ImageRecord>, u64)> {
        const OP: &str = "list_images";
        let t = image_type.map(ImageType::as_str);
        self.read(OP, |tx| {
            let total = self.count(
                tx,
                OP,
                "SELECT COUNT(*) FROM images WHERE ?1 IS NULL OR type = ?1",
                [t],
            )?;
            let rows = self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {IMAGE_COLUMNS} FROM images WHERE ?1 IS NULL OR type = ?1 \
                     ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
                ),
                params![t, limit, offset],
                image_row,
            )?;
            Ok((rows, total))
        })
    }

    // ----------------------------------------------------------- calibration

    fn set_statuses(
        &self,
        tx: &Connection,
        op: &'static str,
        set_name: &str,
    ) -> Result<Vec<CalStatus>> {
        let rows = self.query_all(
            tx,
            op,
            "SELECT DISTINCT status FROM caltables WHERE set_name = ?1",
            [set_name],
            |r| {
                let s: String = r.get(0)?;
                Ok(parse_text("caltables", set_name, &s))
            },
        )?;
        Ok(rows)
    }

    /// Fails unless every table of the set is in one of `allowed`.
    fn require_set_status(
        &self,
        tx: &Connection,
        op: &'static str,
        set_name: &str,
        allowed: &[CalStatus],
        what_op: &'static str,
    ) -> Result<()> {
        let statuses = self.set_statuses(tx, op, set_name)?;
        if statuses.is_empty() {
            return Err(QueueError::NotFound {
                what: "calibration set",
                key: set_name.to_owned(),
            });
        }
        if let Some(bad) = statuses.iter().find(|s| !allowed.contains(s)) {
            return Err(QueueError::WrongStatus {
                what: "calibration set",
                key: set_name.to_owned(),
                status: bad.as_str().to_owned(),
                op: what_op,
            });
        }
        Ok(())
    }

    /// See [`crate::Queue::begin_solve`].
    pub fn begin_solve(&self, start: &SolveStart<'_>, now_unix_s: f64) -> Result<()> {
        const OP: &str = "begin_solve";
        let now = finite("now_unix_s", now_unix_s)?;
        let mid = finite("mid_mjd", start.mid_mjd)?;
        non_empty("calibration set name", start.set_name)?;
        if start.tables.is_empty() {
            return Err(QueueError::InvalidInput {
                what: "planned calibration tables (at least one)",
                value: start.set_name.to_owned(),
            });
        }
        let paths = start
            .tables
            .iter()
            .map(|t| path_text(&t.path))
            .collect::<Result<Vec<_>>>()?;
        self.write(OP, |tx| {
            let statuses = self.set_statuses(tx, OP, start.set_name)?;
            if let Some(bad) = statuses
                .iter()
                .find(|s| matches!(s, CalStatus::Active | CalStatus::Retired))
            {
                return Err(QueueError::WrongStatus {
                    what: "calibration set",
                    key: start.set_name.to_owned(),
                    status: bad.as_str().to_owned(),
                    op: "begin a new solve under the same name",
                });
            }
            tx.execute("DELETE FROM caltables WHERE set_name = ?1", [start.set_name])
                .at(self, OP)?;
            for (t, path) in start.tables.iter().zip(&paths) {
                tx.execute(
                    "INSERT INTO caltables (set_name, path, table_type, order_index, calibrator, refant, \
                     group_id, created_at, mid_mjd, status, params_json) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'solving', ?10)",
                    params![
                        start.set_name,
                        path,
                        t.table_type.as_str(),
                        t.order_index,
                        start.calibrator,
                        start.refant,
                        start.group_id.map(GroupId::as_str),
                        now,
                        mid,
                        start.params_json
                    ],
                )
                .at(self, OP)?;
            }
            tracing::info!(set = start.set_name, mid_mjd = mid, n_tables = paths.len(),
                "calibration solve begun");
            Ok(())
        })
    }

    pub(crate) fn finish_solve_in(
        &self,
        tx: &Connection,
        op: &'static str,
        set_name: &str,
        result: &SolveResult,
        _now: f64,
    ) -> Result<()> {
        let start = finite("valid_start_mjd", result.valid_start_mjd)?;
        let end = finite("valid_end_mjd", result.valid_end_mjd)?;
        if end < start {
            return Err(QueueError::InvalidInput {
                what: "validity window (end before start)",
                value: format!("{start} .. {end}"),
            });
        }
        self.require_set_status(tx, op, set_name, &[CalStatus::Solving], "finish a solve")?;
        tx.execute(
            "UPDATE caltables SET status = 'active', valid_start_mjd = ?2, valid_end_mjd = ?3, \
             refant = COALESCE(?4, refant), qa_json = ?5, error = NULL WHERE set_name = ?1",
            params![set_name, start, end, result.refant, result.qa_json],
        )
        .at(self, op)?;
        tracing::info!(
            set = set_name,
            valid_start_mjd = start,
            valid_end_mjd = end,
            "calibration set active"
        );
        Ok(())
    }

    /// See [`crate::Queue::finish_solve`].
    pub fn finish_solve(
        &self,
        set_name: &str,
        result: &SolveResult,
        now_unix_s: f64,
    ) -> Result<()> {
        const OP: &str = "finish_solve";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| self.finish_solve_in(tx, OP, set_name, result, now))
    }

    /// See [`crate::Queue::fail_solve`].
    pub fn fail_solve(&self, set_name: &str, reason: &str, now_unix_s: f64) -> Result<()> {
        const OP: &str = "fail_solve";
        finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            self.require_set_status(
                tx,
                OP,
                set_name,
                &[CalStatus::Solving, CalStatus::Active, CalStatus::Failed],
                "mark failed",
            )?;
            tx.execute(
                "UPDATE caltables SET status = 'failed', error = ?2 WHERE set_name = ?1",
                params![set_name, reason],
            )
            .at(self, OP)?;
            tracing::warn!(set = set_name, reason, "calibration set failed");
            Ok(())
        })
    }

    /// See [`crate::Queue::retire_cal_set`].
    pub fn retire_cal_set(&self, set_name: &str, now_unix_s: f64) -> Result<()> {
        const OP: &str = "retire_cal_set";
        finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            self.require_set_status(tx, OP, set_name, &[CalStatus::Active], "retire")?;
            tx.execute(
                "UPDATE caltables SET status = 'retired' WHERE set_name = ?1",
                [set_name],
            )
            .at(self, OP)?;
            Ok(())
        })
    }

    fn cal_set_in(
        &self,
        tx: &Connection,
        op: &'static str,
        set_name: &str,
    ) -> Result<Option<CalSet>> {
        let tables = self.query_all(
            tx,
            op,
            &format!(
                "SELECT {CALTABLE_COLUMNS} FROM caltables WHERE set_name = ?1 ORDER BY order_index, id"
            ),
            [set_name],
            caltable_row,
        )?;
        let Some(first) = tables.first() else {
            return Ok(None);
        };
        Ok(Some(CalSet {
            set_name: set_name.to_owned(),
            status: first.status,
            calibrator: first.calibrator.clone(),
            refant: first.refant.clone(),
            group_id: first.group_id.clone(),
            created_at: first.created_at,
            mid_mjd: first.mid_mjd,
            valid_start_mjd: first.valid_start_mjd,
            valid_end_mjd: first.valid_end_mjd,
            error: first.error.clone(),
            tables,
        }))
    }

    /// Sets in `status` whose reference time is within `window_d` days of
    /// `mjd`, nearest first.
    fn sets_near(
        &self,
        op: &'static str,
        status: CalStatus,
        mjd: f64,
        window_h: f64,
    ) -> Result<Vec<CalSet>> {
        let mjd = finite("mjd", mjd)?;
        let window_d = window_days(window_h)?;
        self.read(op, |tx| {
            let names = self.query_all(
                tx,
                op,
                "SELECT set_name, MIN(ABS(COALESCE(mid_mjd, (valid_start_mjd + valid_end_mjd) / 2.0) - ?1)) AS d \
                 FROM caltables WHERE status = ?2 GROUP BY set_name \
                 HAVING d IS NOT NULL AND d <= ?3 ORDER BY d, set_name",
                params![mjd, status.as_str(), window_d],
                |r| Ok(Ok(r.get::<_, String>(0)?)),
            )?;
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                if let Some(set) = self.cal_set_in(tx, op, &name)? {
                    out.push(set);
                }
            }
            Ok(out)
        })
    }

    /// See [`crate::Queue::solving_sets_near`].
    pub fn solving_sets_near(&self, mjd: f64, window_h: f64) -> Result<Vec<CalSet>> {
        self.sets_near("solving_sets_near", CalStatus::Solving, mjd, window_h)
    }

    /// See [`crate::Queue::nearest_valid_set`].
    pub fn nearest_valid_set(&self, mjd: f64, window_h: f64) -> Result<Option<CalSet>> {
        Ok(self
            .sets_near("nearest_valid_set", CalStatus::Active, mjd, window_h)?
            .into_iter()
            .next())
    }

    /// See [`crate::Queue::cal_set`].
    pub fn cal_set(&self, set_name: &str) -> Result<Option<CalSet>> {
        const OP: &str = "cal_set";
        self.read(OP, |tx| self.cal_set_in(tx, OP, set_name))
    }

    /// See [`crate::Queue::list_cal_sets`].
    pub fn list_cal_sets(
        &self,
        status: Option<CalStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<CalSet>, u64)> {
        const OP: &str = "list_cal_sets";
        let st = status.map(CalStatus::as_str);
        self.read(OP, |tx| {
            let total = self.count(
                tx,
                OP,
                "SELECT COUNT(DISTINCT set_name) FROM caltables WHERE ?1 IS NULL OR status = ?1",
                [st],
            )?;
            let names = self.query_all(
                tx,
                OP,
                "SELECT set_name FROM caltables WHERE ?1 IS NULL OR status = ?1 GROUP BY set_name \
                 ORDER BY MAX(COALESCE(mid_mjd, valid_start_mjd)) DESC, MAX(created_at) DESC, set_name \
                 LIMIT ?2 OFFSET ?3",
                params![st, limit, offset],
                |r| Ok(Ok(r.get::<_, String>(0)?)),
            )?;
            let mut sets = Vec::with_capacity(names.len());
            for name in names {
                if let Some(set) = self.cal_set_in(tx, OP, &name)? {
                    sets.push(set);
                }
            }
            Ok((sets, total))
        })
    }

    pub(crate) fn record_cal_applied_in(
        &self,
        tx: &Connection,
        op: &'static str,
        rec: &CalAppliedRecord,
    ) -> Result<i64> {
        let ms_path = path_text(&rec.ms_path)?;
        let applied_at = finite("applied_at", rec.applied_at)?;
        let paths = rec
            .caltable_paths
            .iter()
            .map(|p| path_text(p))
            .collect::<Result<Vec<_>>>()?;
        let paths_json = serde_json::to_string(&paths).map_err(|e| QueueError::InvalidInput {
            what: "caltable paths",
            value: e.to_string(),
        })?;
        let id: i64 = tx
            .query_row(
                "INSERT INTO calibration_applied (ms_path, group_id, set_name, caltable_paths, \
                 applied_at, success, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                params![
                    ms_path,
                    rec.group_id.as_ref().map(GroupId::as_str),
                    rec.set_name,
                    paths_json,
                    applied_at,
                    rec.success,
                    rec.error
                ],
                |r| r.get(0),
            )
            .at(self, op)?;
        tx.execute(
            "UPDATE ms_index SET cal_applied = ?2 WHERE path = ?1",
            params![ms_path, rec.success],
        )
        .at(self, op)?;
        Ok(id)
    }

    /// See [`crate::Queue::record_cal_applied`].
    pub fn record_cal_applied(&self, rec: &CalAppliedRecord) -> Result<i64> {
        const OP: &str = "record_cal_applied";
        self.write(OP, |tx| self.record_cal_applied_in(tx, OP, rec))
    }

    /// See [`crate::Queue::cal_applied_for_ms`].
    pub fn cal_applied_for_ms(&self, ms_path: &Path) -> Result<Vec<CalAppliedRecord>> {
        const OP: &str = "cal_applied_for_ms";
        let p = path_text(ms_path)?;
        self.read(OP, |tx| {
            self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {CAL_APPLIED_COLUMNS} FROM calibration_applied WHERE ms_path = ?1 \
                     ORDER BY applied_at, id"
                ),
                [&p],
                cal_applied_row,
            )
        })
    }

    /// See [`crate::Queue::cal_applied_for_group`].
    pub fn cal_applied_for_group(&self, group: &GroupId) -> Result<Vec<CalAppliedRecord>> {
        const OP: &str = "cal_applied_for_group";
        self.read(OP, |tx| {
            self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {CAL_APPLIED_COLUMNS} FROM calibration_applied WHERE group_id = ?1 \
                     ORDER BY applied_at, id"
                ),
                [group.as_str()],
                cal_applied_row,
            )
        })
    }

    fn update_ms(
        &self,
        op: &'static str,
        ms_path: &Path,
        set: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<()> {
        let p = path_text(ms_path)?;
        self.write(op, |tx| {
            let mut all: Vec<&dyn rusqlite::ToSql> = vec![&p];
            all.extend_from_slice(values);
            let n = tx
                .execute(
                    &format!("UPDATE ms_index SET {set} WHERE path = ?1"),
                    all.as_slice(),
                )
                .at(self, op)?;
            if n == 0 {
                return Err(QueueError::NotFound {
                    what: "measurement set",
                    key: p.clone(),
                });
            }
            Ok(())
        })
    }

    /// See [`crate::Queue::set_ms_cal_applied`].
    pub fn set_ms_cal_applied(&self, ms_path: &Path, cal_applied: Option<bool>) -> Result<()> {
        self.update_ms(
            "set_ms_cal_applied",
            ms_path,
            "cal_applied = ?2",
            &[&cal_applied],
        )
    }

    /// See [`crate::Queue::set_ms_stage`].
    pub fn set_ms_stage(
        &self,
        ms_path: &Path,
        stage: Option<&str>,
        stage_status: Option<&str>,
    ) -> Result<()> {
        self.update_ms(
            "set_ms_stage",
            ms_path,
            "stage = ?2, stage_status = ?3",
            &[&stage, &stage_status],
        )
    }

    /// See [`crate::Queue::ms_status`].
    pub fn ms_status(&self, ms_path: &Path) -> Result<Option<MsStatus>> {
        const OP: &str = "ms_status";
        let p = path_text(ms_path)?;
        self.read(OP, |tx| {
            self.query_one(
                tx,
                OP,
                "SELECT cal_applied, stage, stage_status FROM ms_index WHERE path = ?1",
                [&p],
                |r| {
                    Ok(Ok(MsStatus {
                        cal_applied: r.get::<_, Option<i64>>(0)?.map(|v| v != 0),
                        stage: r.get(1)?,
                        stage_status: r.get(2)?,
                    }))
                },
            )
        })
    }

    // ------------------------------------------------------------ photometry

    pub(crate) fn record_photometry_in(
        &self,
        tx: &Connection,
        op: &'static str,
        rec: &PhotometryRecord,
    ) -> Result<()> {
        let image = path_text(&rec.image_path)?;
        let mjd = finite("photometry mjd", rec.mjd)?;
        non_empty("photometry source_id", &rec.source_id)?;
        tx.prepare_cached(
            "INSERT INTO photometry (source_id, image_path, group_id, ra_deg, dec_deg, catalog_flux_jy, \
             peak_flux_jy, peak_flux_err_jy, int_flux_jy, int_flux_err_jy, norm_flux_jy, \
             norm_flux_err_jy, local_rms_jy, snr, pb, mjd, flags, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
             ON CONFLICT(source_id, image_path) DO UPDATE SET group_id = excluded.group_id, \
             ra_deg = excluded.ra_deg, dec_deg = excluded.dec_deg, \
             catalog_flux_jy = excluded.catalog_flux_jy, peak_flux_jy = excluded.peak_flux_jy, \
             peak_flux_err_jy = excluded.peak_flux_err_jy, int_flux_jy = excluded.int_flux_jy, \
             int_flux_err_jy = excluded.int_flux_err_jy, norm_flux_jy = excluded.norm_flux_jy, \
             norm_flux_err_jy = excluded.norm_flux_err_jy, local_rms_jy = excluded.local_rms_jy, \
             snr = excluded.snr, pb = excluded.pb, mjd = excluded.mjd, flags = excluded.flags, \
             created_at = excluded.created_at",
        )
        .at(self, op)?
        .execute(params![
            rec.source_id,
            image,
            rec.group_id.as_ref().map(GroupId::as_str),
            rec.ra_deg,
            rec.dec_deg,
            rec.catalog_flux_jy,
            rec.peak_flux_jy,
            rec.peak_flux_err_jy,
            rec.int_flux_jy,
            rec.int_flux_err_jy,
            rec.norm_flux_jy,
            rec.norm_flux_err_jy,
            rec.local_rms_jy,
            rec.snr,
            rec.pb,
            mjd,
            rec.flags,
            rec.created_at
        ])
        .at(self, op)?;
        Ok(())
    }

    /// See [`crate::Queue::record_photometry`].
    pub fn record_photometry(&self, rows: &[PhotometryRecord]) -> Result<()> {
        const OP: &str = "record_photometry";
        self.write(OP, |tx| {
            rows.iter()
                .try_for_each(|r| self.record_photometry_in(tx, OP, r))
        })
    }

    /// See [`crate::Queue::photometry_for_source`].
    pub fn photometry_for_source(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<Vec<PhotometryRecord>> {
        const OP: &str = "photometry_for_source";
        self.read(OP, |tx| {
            self.source_photometry_in(tx, OP, source_id, start_mjd, end_mjd)
        })
    }

    /// A source's measurements in time order, optionally within [start, end] (MJD).
    fn source_photometry_in(
        &self,
        tx: &Connection,
        op: &'static str,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<Vec<PhotometryRecord>> {
        self.query_all(
            tx,
            op,
            &format!(
                "SELECT {PHOTOMETRY_COLUMNS} FROM photometry WHERE source_id = ?1 \
                 AND (?2 IS NULL OR mjd >= ?2) AND (?3 IS NULL OR mjd <= ?3) ORDER BY mjd, id"
            ),
            params![source_id, start_mjd, end_mjd],
            photometry_row,
        )
    }

    /// See [`crate::Queue::photometry_generation`].
    pub fn photometry_generation(&self, source_id: &str) -> Result<u64> {
        const OP: &str = "photometry_generation";
        self.read(OP, |tx| self.generation_in(tx, OP, source_id))
    }

    fn generation_in(&self, tx: &Connection, op: &'static str, source_id: &str) -> Result<u64> {
        let n: Option<i64> = tx
            .prepare_cached("SELECT n FROM photometry_source_generation WHERE source_id = ?1")
            .at(self, op)?
            .query_row([source_id], |r| r.get(0))
            .optional()
            .at(self, op)?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    /// See [`crate::Queue::photometry_snapshot`].
    pub fn photometry_snapshot(
        &self,
        source_id: &str,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
    ) -> Result<(u64, Vec<PhotometryRecord>)> {
        const OP: &str = "photometry_snapshot";
        self.read(OP, |tx| {
            let generation = self.generation_in(tx, OP, source_id)?;
            let rows = self.source_photometry_in(tx, OP, source_id, start_mjd, end_mjd)?;
            Ok((generation, rows))
        })
    }

    /// See [`crate::Queue::photometry_for_image`].
    pub fn photometry_for_image(&self, image_path: &Path) -> Result<Vec<PhotometryRecord>> {
        const OP: &str = "photometry_for_image";
        let p = path_text(image_path)?;
        self.read(OP, |tx| {
            self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {PHOTOMETRY_COLUMNS} FROM photometry WHERE image_path = ?1 ORDER BY source_id"
                ),
                [&p],
                photometry_row,
            )
        })
    }

    /// See [`crate::Queue::list_sources`]. Reads `photometry_sources`, one row
    /// per source kept by triggers on `photometry` (schema v4), instead of
    /// grouping every photometry row.
    pub fn list_sources(
        &self,
        search: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<SourceSummary>, u64)> {
        const OP: &str = "list_sources";
        self.read(OP, |tx| {
            let filter = "?1 IS NULL OR instr(lower(source_id), lower(?1)) > 0";
            let total = self.count(
                tx,
                OP,
                &format!("SELECT COUNT(*) FROM photometry_sources WHERE {filter}"),
                [search],
            )?;
            let rows = self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {SOURCE_COLUMNS} FROM photometry_sources WHERE {filter} \
                     ORDER BY source_id LIMIT ?2 OFFSET ?3"
                ),
                params![search, limit, offset],
                source_row,
            )?;
            Ok((rows, total))
        })
    }

    /// See [`crate::Queue::source_summary`].
    pub fn source_summary(&self, source_id: &str) -> Result<Option<SourceSummary>> {
        const OP: &str = "source_summary";
        self.read(OP, |tx| {
            Ok(self
                .query_all(
                    tx,
                    OP,
                    &format!(
                        "SELECT {SOURCE_COLUMNS} FROM photometry_sources WHERE source_id = ?1"
                    ),
                    [source_id],
                    source_row,
                )?
                .pop())
        })
    }

    pub(crate) fn upsert_variability_in(
        &self,
        tx: &Connection,
        op: &'static str,
        rec: &VariabilityRecord,
    ) -> Result<()> {
        non_empty("variability source_id", &rec.source_id)?;
        tx.prepare_cached(
            "INSERT INTO variability_stats (source_id, n_epochs, mean_flux_jy, median_flux_jy, eta, v, \
             chi2_nu, max_sigma_dev, m, vs_max, m_vs, is_candidate, candidate_reason, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             ON CONFLICT(source_id) DO UPDATE SET n_epochs = excluded.n_epochs, \
             mean_flux_jy = excluded.mean_flux_jy, median_flux_jy = excluded.median_flux_jy, \
             eta = excluded.eta, v = excluded.v, chi2_nu = excluded.chi2_nu, \
             max_sigma_dev = excluded.max_sigma_dev, m = excluded.m, vs_max = excluded.vs_max, \
             m_vs = excluded.m_vs, is_candidate = excluded.is_candidate, \
             candidate_reason = excluded.candidate_reason, updated_at = excluded.updated_at",
        )
        .at(self, op)?
        .execute(params![
            rec.source_id,
            rec.n_epochs,
            rec.mean_flux_jy,
            rec.median_flux_jy,
            rec.eta,
            rec.v,
            rec.chi2_nu,
            rec.max_sigma_dev,
            rec.m,
            rec.vs_max,
            rec.m_vs,
            rec.is_candidate,
            rec.candidate_reason,
            rec.updated_at
        ])
        .at(self, op)?;
        Ok(())
    }

    /// See [`crate::Queue::upsert_variability`].
    pub fn upsert_variability(&self, rows: &[VariabilityRecord]) -> Result<()> {
        const OP: &str = "upsert_variability";
        self.write(OP, |tx| {
            rows.iter()
                .try_for_each(|r| self.upsert_variability_in(tx, OP, r))
        })
    }

    /// See [`crate::Queue::variability`].
    pub fn variability(&self, source_id: &str) -> Result<Option<VariabilityRecord>> {
        const OP: &str = "variability";
        self.read(OP, |tx| {
            self.query_one(
                tx,
                OP,
                &format!(
                    "SELECT {VARIABILITY_COLUMNS} FROM variability_stats WHERE source_id = ?1"
                ),
                [source_id],
                variability_row,
            )
        })
    }

    /// See [`crate::Queue::list_variability`].
    pub fn list_variability(
        &self,
        candidates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<VariabilityRecord>, u64)> {
        const OP: &str = "list_variability";
        self.read(OP, |tx| {
            let filter = "?1 = 0 OR is_candidate = 1";
            let total = self.count(
                tx,
                OP,
                &format!("SELECT COUNT(*) FROM variability_stats WHERE {filter}"),
                [candidates_only],
            )?;
            let rows = self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {VARIABILITY_COLUMNS} FROM variability_stats WHERE {filter} \
                     ORDER BY source_id LIMIT ?2 OFFSET ?3"
                ),
                params![candidates_only, limit, offset],
                variability_row,
            )?;
            Ok((rows, total))
        })
    }

    // --------------------------------------------------------------- mosaics

    pub(crate) fn upsert_mosaic_in(
        &self,
        tx: &Connection,
        op: &'static str,
        rec: &MosaicRecord,
    ) -> Result<i64> {
        non_empty("mosaic name", &rec.name)?;
        let path = opt_path(rec.path.as_ref())?;
        tx.query_row(
            "INSERT INTO mosaics (name, path, dec_strip_deg, start_mjd, end_mjd, n_images, noise_jy, \
             status, error, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT(name) DO UPDATE SET path = excluded.path, \
             dec_strip_deg = excluded.dec_strip_deg, start_mjd = excluded.start_mjd, \
             end_mjd = excluded.end_mjd, n_images = excluded.n_images, noise_jy = excluded.noise_jy, \
             status = excluded.status, error = excluded.error, \
             created_at = COALESCE(excluded.created_at, created_at) RETURNING id",
            params![
                rec.name,
                path,
                rec.dec_strip_deg,
                rec.start_mjd,
                rec.end_mjd,
                rec.n_images,
                rec.noise_jy,
                rec.status.as_str(),
                rec.error,
                rec.created_at
            ],
            |r| r.get(0),
        )
        .at(self, op)
    }

    /// See [`crate::Queue::upsert_mosaic`].
    pub fn upsert_mosaic(&self, rec: &MosaicRecord) -> Result<i64> {
        const OP: &str = "upsert_mosaic";
        self.write(OP, |tx| self.upsert_mosaic_in(tx, OP, rec))
    }

    fn mosaic_id(&self, tx: &Connection, op: &'static str, name: &str) -> Result<i64> {
        tx.query_row("SELECT id FROM mosaics WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .at(self, op)?
        .ok_or_else(|| QueueError::NotFound {
            what: "mosaic",
            key: name.to_owned(),
        })
    }

    pub(crate) fn set_mosaic_images_in(
        &self,
        tx: &Connection,
        op: &'static str,
        name: &str,
        image_paths: &[PathBuf],
    ) -> Result<()> {
        let paths = image_paths
            .iter()
            .map(|p| path_text(p))
            .collect::<Result<Vec<_>>>()?;
        let id = self.mosaic_id(tx, op, name)?;
        tx.execute("DELETE FROM mosaic_images WHERE mosaic_id = ?1", [id])
            .at(self, op)?;
        for p in &paths {
            tx.execute(
                "INSERT OR IGNORE INTO mosaic_images (mosaic_id, image_path) VALUES (?1, ?2)",
                params![id, p],
            )
            .at(self, op)?;
        }
        Ok(())
    }

    /// See [`crate::Queue::set_mosaic_images`].
    pub fn set_mosaic_images(&self, name: &str, image_paths: &[PathBuf]) -> Result<()> {
        const OP: &str = "set_mosaic_images";
        self.write(OP, |tx| {
            self.set_mosaic_images_in(tx, OP, name, image_paths)
        })
    }

    /// See [`crate::Queue::mosaic`].
    pub fn mosaic(&self, name: &str) -> Result<Option<MosaicRecord>> {
        const OP: &str = "mosaic";
        self.read(OP, |tx| {
            self.query_one(
                tx,
                OP,
                &format!("SELECT {MOSAIC_COLUMNS} FROM mosaics WHERE name = ?1"),
                [name],
                mosaic_row,
            )
        })
    }

    /// See [`crate::Queue::mosaic_by_id`].
    pub fn mosaic_by_id(&self, id: i64) -> Result<Option<MosaicRecord>> {
        const OP: &str = "mosaic_by_id";
        self.read(OP, |tx| {
            self.query_one(
                tx,
                OP,
                &format!("SELECT {MOSAIC_COLUMNS} FROM mosaics WHERE id = ?1"),
                [id],
                mosaic_row,
            )
        })
    }

    /// See [`crate::Queue::mosaic_images`].
    pub fn mosaic_images(&self, name: &str) -> Result<Vec<PathBuf>> {
        const OP: &str = "mosaic_images";
        self.read(OP, |tx| {
            let id = self.mosaic_id(tx, OP, name)?;
            self.query_all(
                tx,
                OP,
                "SELECT image_path FROM mosaic_images WHERE mosaic_id = ?1 ORDER BY image_path",
                [id],
                |r| Ok(Ok(PathBuf::from(r.get::<_, String>(0)?))),
            )
        })
    }

    /// See [`crate::Queue::list_mosaics`].
    pub fn list_mosaics(
        &self,
        status: Option<MosaicStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<MosaicRecord>, u64)> {
        const OP: &str = "list_mosaics";
        let st = status.map(MosaicStatus::as_str);
        self.read(OP, |tx| {
            let total = self.count(
                tx,
                OP,
                "SELECT COUNT(*) FROM mosaics WHERE ?1 IS NULL OR status = ?1",
                [st],
            )?;
            let rows = self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {MOSAIC_COLUMNS} FROM mosaics WHERE ?1 IS NULL OR status = ?1 \
                     ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
                ),
                params![st, limit, offset],
                mosaic_row,
            )?;
            Ok((rows, total))
        })
    }

    // ------------------------------------------------------------------ jobs

    fn job_in(&self, tx: &Connection, op: &'static str, id: i64) -> Result<Option<JobRecord>> {
        self.query_one(
            tx,
            op,
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
            [id],
            job_row,
        )
    }

    fn job_state(&self, tx: &Connection, op: &'static str, id: i64) -> Result<JobState> {
        let s: String = tx
            .query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .at(self, op)?
            .ok_or_else(|| QueueError::NotFound {
                what: "job",
                key: id.to_string(),
            })?;
        parse_text("jobs", id, &s)
    }

    /// See [`crate::Queue::create_job`].
    pub fn create_job(&self, job: &NewJob<'_>, now_unix_s: f64) -> Result<i64> {
        const OP: &str = "create_job";
        let now = finite("now_unix_s", now_unix_s)?;
        non_empty("job kind", job.kind)?;
        let ids: Vec<&str> = job.group_ids.iter().map(GroupId::as_str).collect();
        let ids_json = serde_json::to_string(&ids).map_err(|e| QueueError::InvalidInput {
            what: "job group ids",
            value: e.to_string(),
        })?;
        self.write(OP, |tx| {
            let id: i64 = tx
                .query_row(
                    "INSERT INTO jobs (kind, state, group_ids, params_json, created_at, requested_by) \
                     VALUES (?1, 'queued', ?2, ?3, ?4, ?5) RETURNING id",
                    params![job.kind, ids_json, job.params_json, now, job.requested_by],
                    |r| r.get(0),
                )
                .at(self, OP)?;
            tracing::info!(job_id = id, kind = job.kind, n_groups = ids.len(), "job created");
            Ok(id)
        })
    }

    /// See [`crate::Queue::job`].
    pub fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        const OP: &str = "job";
        self.read(OP, |tx| self.job_in(tx, OP, id))
    }

    /// See [`crate::Queue::list_jobs`].
    pub fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<JobRecord>, u64)> {
        const OP: &str = "list_jobs";
        let st = state.map(JobState::as_str);
        self.read(OP, |tx| {
            let total = self.count(
                tx,
                OP,
                "SELECT COUNT(*) FROM jobs WHERE ?1 IS NULL OR state = ?1",
                [st],
            )?;
            let rows = self.query_all(
                tx,
                OP,
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE ?1 IS NULL OR state = ?1 \
                     ORDER BY id DESC LIMIT ?2 OFFSET ?3"
                ),
                params![st, limit, offset],
                job_row,
            )?;
            Ok((rows, total))
        })
    }

    /// See [`crate::Queue::cancel_job`].
    pub fn cancel_job(&self, id: i64, now_unix_s: f64) -> Result<JobRecord> {
        const OP: &str = "cancel_job";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let state = self.job_state(tx, OP, id)?;
            if state != JobState::Queued {
                return Err(QueueError::WrongStatus {
                    what: "job",
                    key: id.to_string(),
                    status: state.as_str().to_owned(),
                    op: "cancel (only queued jobs can be cancelled)",
                });
            }
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?2 WHERE id = ?1",
                params![id, now],
            )
            .at(self, OP)?;
            self.job_in(tx, OP, id)?
                .ok_or_else(|| QueueError::NotFound {
                    what: "job",
                    key: id.to_string(),
                })
        })
    }

    /// See [`crate::Queue::claim_next_job`].
    pub fn claim_next_job(
        &self,
        kinds: &[&str],
        owner: &str,
        now_unix_s: f64,
    ) -> Result<Option<JobRecord>> {
        const OP: &str = "claim_next_job";
        let now = finite("now_unix_s", now_unix_s)?;
        let kinds_json = if kinds.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(kinds).map_err(|e| QueueError::InvalidInput {
                    what: "job kinds",
                    value: e.to_string(),
                })?,
            )
        };
        self.write(OP, |tx| {
            let id: Option<i64> = tx
                .query_row(
                    "UPDATE jobs SET state = 'running', started_at = ?2, owner = ?3, heartbeat_at = ?2, \
                     error = NULL WHERE state = 'queued' AND id = ( \
                         SELECT id FROM jobs WHERE state = 'queued' \
                         AND (?1 IS NULL OR kind IN (SELECT value FROM json_each(?1))) \
                         ORDER BY id LIMIT 1) \
                     RETURNING id",
                    params![kinds_json, now, owner],
                    |r| r.get(0),
                )
                .optional()
                .at(self, OP)?;
            match id {
                Some(id) => {
                    tracing::info!(job_id = id, owner, "job claimed");
                    self.job_in(tx, OP, id)
                }
                None => Ok(None),
            }
        })
    }

    /// See [`crate::Queue::finish_job`].
    pub fn finish_job(&self, id: i64, outcome: &JobOutcome<'_>, now_unix_s: f64) -> Result<()> {
        const OP: &str = "finish_job";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let state = self.job_state(tx, OP, id)?;
            if state != JobState::Running {
                return Err(QueueError::WrongStatus {
                    what: "job",
                    key: id.to_string(),
                    status: state.as_str().to_owned(),
                    op: "finish (not running)",
                });
            }
            let new_state = if outcome.success {
                JobState::Completed
            } else {
                JobState::Failed
            };
            tx.execute(
                "UPDATE jobs SET state = ?2, result_json = ?3, error = ?4, finished_at = ?5, \
                 owner = NULL, heartbeat_at = NULL WHERE id = ?1",
                params![
                    id,
                    new_state.as_str(),
                    outcome.result_json,
                    outcome.error,
                    now
                ],
            )
            .at(self, OP)?;
            tracing::info!(job_id = id, state = %new_state, "job finished");
            Ok(())
        })
    }
    /// See [`crate::Queue::job_heartbeat`].
    pub fn job_heartbeat(&self, id: i64, owner: &str, now_unix_s: f64) -> Result<bool> {
        const OP: &str = "job_heartbeat";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "UPDATE jobs SET heartbeat_at = ?3 WHERE id = ?1 AND state = 'running' AND owner = ?2",
                    params![id, owner, now],
                )
                .at(self, OP)?;
            Ok(n == 1)
        })
    }

    /// See [`crate::Queue::release_job`].
    pub fn release_job(&self, id: i64, owner: &str) -> Result<bool> {
        const OP: &str = "release_job";
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "UPDATE jobs SET state = 'queued', started_at = NULL, owner = NULL, heartbeat_at = NULL \
                     WHERE id = ?1 AND state = 'running' AND owner = ?2",
                    params![id, owner],
                )
                .at(self, OP)?;
            if n == 1 {
                tracing::info!(job_id = id, owner, "job released (queued again)");
            }
            Ok(n == 1)
        })
    }

    /// See [`crate::Queue::recover_jobs`].
    pub fn recover_jobs(
        &self,
        is_owner_alive: impl Fn(&str) -> bool,
        stale_after_s: f64,
        now_unix_s: f64,
    ) -> Result<Vec<RecoveredJob>> {
        const OP: &str = "recover_jobs";
        let now = finite("now_unix_s", now_unix_s)?;
        self.write(OP, |tx| {
            let rows = self.query_all(
                tx,
                OP,
                "SELECT id, kind, owner, heartbeat_at, started_at FROM jobs \
                 WHERE state = 'running' ORDER BY id",
                [],
                |r| {
                    Ok(Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<f64>>(3)?,
                        r.get::<_, Option<f64>>(4)?,
                    )))
                },
            )?;
            let mut out = Vec::new();
            for (id, kind, owner, heartbeat, started) in rows {
                let reason = match (&owner, heartbeat.or(started)) {
                    (None, _) => "taken by a process that recorded no owner".to_string(),
                    (Some(o), _) if !is_owner_alive(o) => format!("its owner {o} stopped"),
                    (Some(o), Some(t)) if now - t > stale_after_s => {
                        format!("no heartbeat from its owner {o} for {:.0} s", now - t)
                    }
                    (Some(o), None) => format!("its owner {o} never sent a heartbeat"),
                    _ => continue,
                };
                let message = format!("queued again: {reason} while it was running");
                tx.execute(
                    "UPDATE jobs SET state = 'queued', started_at = NULL, owner = NULL, \
                     heartbeat_at = NULL, error = ?2 WHERE id = ?1 AND state = 'running'",
                    params![id, message],
                )
                .at(self, OP)?;
                tracing::warn!(job_id = id, kind = %kind, "{message}");
                out.push(RecoveredJob {
                    id,
                    kind,
                    owner,
                    reason: message,
                });
            }
            Ok(out)
        })
    }
}
