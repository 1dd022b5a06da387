//! Calibration in the daemon: solve a set on a calibrator transit ([`CalSolveStage`]) and
//! apply the nearest valid set to every group ([`CalApplyStage`]), with the registry
//! (`caltables`, `calibration_applied`, `ms_index.cal_applied`) and the fence.
//!
//! The fence: a solve registers its set as `solving` (with its reference time, the
//! calibrator's transit) *before* it starts; a group that reaches the apply step while a
//! set within the validity window is `solving` waits for it (polling, up to
//! `--cal-fence-timeout`), then takes the nearest `active` set within ±validity. A set
//! that fails (error or QA) is `failed` with the reason and never applied; a set whose
//! tables turn out unreadable when applied is marked `failed` too, so no later group
//! tries it again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dsa110_calibration::{
    antenna_by_name, apply_tables, group_transits, solution_overview, solve_ms, write_tables,
    CalError, Catalog, MsSolve, SolveParams,
};
use dsa110_queue::{
    CalAppliedRecord, CalSet, CaltableType, GroupId, PlannedCaltable, Product, SolveResult,
    SolveStart,
};

use super::{ensure_dir, jd_to_mjd, ms_record, remove_if_exists, ScienceStatus, FENCE_POLL};
use crate::error::display_chain;
use crate::metrics::{self as m, CalOutcome, SolveOutcome, Stage as StageLabel};
use crate::process::{mjd_to_unix_s, now_unix_s};
use crate::runner::{with_retry, DB_GIVE_UP_AFTER};
use crate::stage::{GroupWork, ProductKind, Stage, StageContext, StageError, StageOutput};
use crate::temporaries::temporary_path;

/// Writes [`solution_overview`] of `solve` (antenna names and receptors from the MS) as
/// JSON at `path`, through a temporary name.
fn write_overview(ms: &Path, solve: &MsSolve, path: &Path) -> Result<(), String> {
    let table = dsa110_ms_writer::MsTable::open(ms).map_err(|e| {
        format!(
            "reading the antennas of {}: {}",
            ms.display(),
            display_chain(&e)
        )
    })?;
    let meta = table.meta();
    let names: Vec<String> = meta.antennas.iter().map(|a| a.name.clone()).collect();
    // parallel hands in data order (AIPS codes: −1 RR, −2 LL, −5 XX, −6 YY)
    let receptors: Vec<&str> = meta
        .pols
        .iter()
        .filter_map(|p| match p {
            -1 => Some("R"),
            -2 => Some("L"),
            -5 => Some("X"),
            -6 => Some("Y"),
            _ => None,
        })
        .collect();
    let overview = solution_overview(&solve.solutions, &names, &receptors);
    let json = serde_json::to_vec(&overview).map_err(|e| format!("encoding: {e}"))?;
    let tmp = tmp_for(path);
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("writing {}: {e}", path.display())
        })
}

/// Calibration settings (`--enable-calibration-solving`, `--calibrator-catalog`,
/// `--refant`, `--cal-validity-hours`, `--cal-fence-timeout`).
#[derive(Clone, Debug)]
pub struct CalibrationParams {
    /// Solve sets on calibrator transits.
    pub solving: bool,
    /// The calibrators (built-in, or the CSV that replaces them).
    pub catalog: Arc<Catalog>,
    /// Reference antenna by name (or ANTENNA row); automatic when `None`.
    pub refant: Option<String>,
    /// A set applies to groups within this many hours of its transit, before or after.
    pub validity_h: f64,
    /// Longest wait for a set that is being solved.
    pub fence_timeout: Duration,
    /// Solver parameters (CASA defaults) and QA thresholds.
    pub solve: SolveParams,
}

impl Default for CalibrationParams {
    fn default() -> Self {
        Self {
            solving: false,
            catalog: Arc::new(Catalog::built_in()),
            refant: None,
            validity_h: 12.0,
            fence_timeout: Duration::from_secs(600),
            solve: SolveParams::default(),
        }
    }
}

fn cal_err(what: String) -> impl FnOnce(CalError) -> StageError {
    move |source| StageError::Calibration {
        what,
        source: Box::new(source),
    }
}

/// Solves B and G on a group in which a calibrator transits; registers the set.
#[derive(Debug)]
pub struct CalSolveStage {
    params: Arc<CalibrationParams>,
    dir: PathBuf,
}

impl CalSolveStage {
    /// A solve stage writing its tables under `dir` (`<output>/caltables`).
    pub fn new(params: Arc<CalibrationParams>, dir: PathBuf) -> Self {
        Self { params, dir }
    }

    /// Solve, check QA, write the tables at their final paths (each through a temporary
    /// name). `Ok(Err(reason))`: the set failed QA (tables written, for inspection).
    fn solve_and_write(
        &self,
        ms: &Path,
        calibrator: &str,
        bcal: &Path,
        gcal: &Path,
    ) -> Result<Result<SolveOutcomeInfo, String>, StageError> {
        let what = || format!("solving on {} ({calibrator})", ms.display());
        let mut params = self.params.solve.clone();
        if let Some(name) = &self.params.refant {
            params.refant = Some(antenna_by_name(ms, name).map_err(cal_err(what()))?);
        }
        // only the calibrator chosen at registration is modelled
        let catalog = Catalog {
            sources: self
                .params
                .catalog
                .sources
                .iter()
                .filter(|c| c.name == calibrator)
                .cloned()
                .collect(),
        };
        let solve = solve_ms(ms, &catalog, &params).map_err(cal_err(what()))?;
        let (tb, tg) = (tmp_for(bcal), tmp_for(gcal));
        remove_if_exists(&tb)?;
        remove_if_exists(&tg)?;
        write_tables(&solve, ms, &tb, &tg)
            .map_err(cal_err(format!("writing the tables of {}", ms.display())))?;
        for (tmp, fin) in [(&tb, bcal), (&tg, gcal)] {
            // a table of an earlier attempt of this set is replaced
            remove_if_exists(fin)?;
            std::fs::rename(tmp, fin).map_err(|source| StageError::Io {
                op: "rename into place",
                path: fin.to_path_buf(),
                source,
            })?;
        }
        // the dashboard's solution plots; the tables are the product, so a failure here
        // is logged, not fatal
        let overview = dsa110_queue::solution_overview_path(bcal);
        if let Err(e) = write_overview(ms, &solve, &overview) {
            tracing::warn!(path = %overview.display(), "cannot write the solutions' overview: {e}");
        }
        let qa = &solve.solutions.qa;
        let info = SolveOutcomeInfo {
            refant: solve.solutions.refant,
            median_snr_g: qa.median_snr_g,
            qa_json: serde_json::to_string(&solve.summary()).unwrap_or_default(),
        };
        if qa.passed {
            Ok(Ok(info))
        } else {
            Ok(Err(format!(
                "QA failed: {} (median SNR G {:.1}, B {:.1}; flagged G {:.3}, B {:.3})",
                qa.failures.join("; "),
                qa.median_snr_g,
                qa.median_snr_b,
                qa.flagged_fraction_g,
                qa.flagged_fraction_b
            )))
        }
    }
}

struct SolveOutcomeInfo {
    refant: u32,
    median_snr_g: f64,
    qa_json: String,
}

fn tmp_for(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    temporary_path(dir, &name)
}

impl Stage for CalSolveStage {
    fn name(&self) -> &'static str {
        StageLabel::CalibrationSolve.as_str()
    }

    fn metric_label(&self) -> Option<StageLabel> {
        Some(StageLabel::CalibrationSolve)
    }

    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::MeasurementSet]
    }

    fn produces(&self) -> &'static [ProductKind] {
        &[]
    }

    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let ms = work.ms(self.name())?;
        let gid = &work.group.group_id;
        let rec = ms_record(ctx, gid, ms)?;
        let (Some(start), Some(end), Some(ra), Some(dec)) =
            (rec.start_mjd, rec.end_mjd, rec.ra_deg, rec.dec_deg)
        else {
            return Err(StageError::Crashed {
                stage: self.name(),
                reason: format!(
                    "{}: ms_index row lacks its time span or phase centre",
                    ms.display()
                ),
            });
        };
        let mjd0 = dsa110_astro::constants::MJD_OFFSET;
        let (transits, _) = group_transits(
            &self.params.catalog,
            ra.to_radians(),
            dec.to_radians(),
            start + mjd0,
            end + mjd0,
        )
        .map_err(cal_err(format!(
            "finding calibrator transits in {}",
            ms.display()
        )))?;
        let names: Vec<&str> = transits
            .iter()
            .map(|t| t.calibrator.name.as_str())
            .collect();
        with_retry("set_calibrators", DB_GIVE_UP_AFTER, || {
            ctx.queue.set_calibrators(
                gid,
                !names.is_empty(),
                (!names.is_empty()).then(|| names.join(",")).as_deref(),
            )
        })?;
        let Some(transit) = transits.first() else {
            tracing::info!(ms = %ms.display(), "no calibrator transits the beam; nothing to solve");
            return Ok(StageOutput::default());
        };
        let cal = transit.calibrator.name.clone();
        ensure_dir(&self.dir)?;
        let stem = format!("{gid}_{cal}");
        let bcal = self.dir.join(format!("{stem}.bcal"));
        let gcal = self.dir.join(format!("{stem}.gcal"));
        let set_name = stem.clone();
        let transit_mjd = jd_to_mjd(transit.transit_jd_utc);
        let params_json = serde_json::to_string(&self.params.solve).ok();
        let refant = self.params.refant.clone();
        let planned = [
            PlannedCaltable {
                path: bcal.clone(),
                table_type: CaltableType::B,
                order_index: 0,
            },
            PlannedCaltable {
                path: gcal.clone(),
                table_type: CaltableType::G,
                order_index: 1,
            },
        ];
        with_retry("begin_solve", DB_GIVE_UP_AFTER, || {
            ctx.queue.begin_solve(
                &SolveStart {
                    set_name: &set_name,
                    calibrator: Some(&cal),
                    refant: refant.as_deref(),
                    group_id: Some(gid),
                    mid_mjd: transit_mjd,
                    params_json: params_json.as_deref(),
                    tables: &planned,
                },
                now_unix_s(),
            )
        })?;
        tracing::info!(
            set = %set_name,
            calibrator = %cal,
            offset_deg = transit.min_offset_rad.to_degrees(),
            "solving a calibration set"
        );
        crate::runner::fault_sleep("calibration_solve.solving");
        let fail = |reason: &str, snr: Option<f64>| -> Result<(), StageError> {
            with_retry("fail_solve", DB_GIVE_UP_AFTER, || {
                ctx.queue.fail_solve(&set_name, reason, now_unix_s())
            })?;
            m::calibration_solved(SolveOutcome::Failed, snr, None);
            Ok(())
        };
        match self.solve_and_write(ms, &cal, &bcal, &gcal) {
            Ok(Ok(info)) => {
                let v = self.params.validity_h / 24.0;
                m::calibration_solved(
                    SolveOutcome::Active,
                    Some(info.median_snr_g),
                    Some(mjd_to_unix_s(transit_mjd)),
                );
                tracing::info!(set = %set_name, refant = info.refant, median_snr_g = info.median_snr_g, "calibration set passed QA");
                Ok(StageOutput {
                    products: vec![Product::CalSolved {
                        set_name,
                        result: SolveResult {
                            valid_start_mjd: transit_mjd - v,
                            valid_end_mjd: transit_mjd + v,
                            refant: Some(info.refant.to_string()),
                            qa_json: Some(info.qa_json),
                        },
                    }],
                    ..StageOutput::default()
                })
            }
            Ok(Err(reason)) => {
                // the set is recorded failed, never applied; the group goes on
                fail(&reason, None)?;
                tracing::warn!(set = %set_name, "{reason}");
                Ok(StageOutput::default())
            }
            Err(err) => {
                let retryable = err.is_retryable();
                let reason = display_chain(&err);
                fail(&reason, None)?;
                let _ = remove_if_exists(&tmp_for(&bcal));
                let _ = remove_if_exists(&tmp_for(&gcal));
                if retryable {
                    Err(err)
                } else {
                    tracing::warn!(set = %set_name, "calibration solve failed: {reason}");
                    Ok(StageOutput::default())
                }
            }
        }
    }
}

/// Applies the nearest valid set (±validity) to the group's MS, after the fence.
#[derive(Debug)]
pub struct CalApplyStage {
    params: Arc<CalibrationParams>,
    status: Arc<ScienceStatus>,
}

impl CalApplyStage {
    /// An apply stage reporting to `status` (`/health`).
    pub fn new(params: Arc<CalibrationParams>, status: Arc<ScienceStatus>) -> Self {
        Self { params, status }
    }

    /// Waits while a set near `mjd` is being solved (up to the fence timeout), then
    /// returns the nearest valid set.
    fn fenced_set(&self, ctx: &StageContext, mjd: f64) -> Result<Option<CalSet>, StageError> {
        let started = Instant::now();
        let mut told = false;
        loop {
            let solving = with_retry("solving_sets_near", DB_GIVE_UP_AFTER, || {
                ctx.queue.solving_sets_near(mjd, self.params.validity_h)
            })?;
            if solving.is_empty() {
                break;
            }
            if started.elapsed() >= self.params.fence_timeout {
                tracing::warn!(
                    sets = ?solving.iter().map(|s| &s.set_name).collect::<Vec<_>>(),
                    waited_s = started.elapsed().as_secs_f64(),
                    "calibration fence timed out; taking the nearest valid set without them"
                );
                break;
            }
            if !told {
                tracing::info!(
                    sets = ?solving.iter().map(|s| &s.set_name).collect::<Vec<_>>(),
                    "waiting for a calibration solve in progress (fence)"
                );
                told = true;
            }
            std::thread::sleep(FENCE_POLL);
        }
        Ok(with_retry("nearest_valid_set", DB_GIVE_UP_AFTER, || {
            ctx.queue.nearest_valid_set(mjd, self.params.validity_h)
        })?)
    }
}

impl Stage for CalApplyStage {
    fn name(&self) -> &'static str {
        StageLabel::CalibrationApply.as_str()
    }

    fn metric_label(&self) -> Option<StageLabel> {
        Some(StageLabel::CalibrationApply)
    }

    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::MeasurementSet]
    }

    fn produces(&self) -> &'static [ProductKind] {
        &[]
    }

    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let ms = work.ms(self.name())?;
        let gid = &work.group.group_id;
        let rec = ms_record(ctx, gid, ms)?;
        let mjd = rec
            .mid_mjd
            .or(rec.start_mjd)
            .ok_or_else(|| StageError::Crashed {
                stage: self.name(),
                reason: format!("{}: ms_index row lacks its time", ms.display()),
            })?;
        let set = self.fenced_set(ctx, mjd)?;
        let uncalibrated = |set_name: Option<String>, paths: Vec<PathBuf>, why: String| {
            tracing::warn!(ms = %ms.display(), "group left uncalibrated: {why}");
            m::group_calibration(CalOutcome::Uncalibrated);
            if self.params.solving {
                // an operator who turned solving on expects calibrated groups
                self.status.note_calibration(gid, Some(why.clone()));
            }
            Ok(output(applied_record(
                ms,
                gid,
                set_name,
                paths,
                false,
                Some(why),
            )))
        };
        let Some(set) = set else {
            return uncalibrated(
                None,
                Vec::new(),
                format!(
                    "no valid calibration set within ±{} h of MJD {mjd:.5}",
                    self.params.validity_h
                ),
            );
        };
        let paths: Vec<PathBuf> = set.tables.iter().map(|t| t.path.clone()).collect();
        // CORRECTED_DATA is as large as DATA (most of the MS): reserve it before casacore
        // writes, so that a full disk is an error with the OS's message, not an abort
        if let (Some(size), Some(dir), Some(name)) = (rec.size_bytes, ms.parent(), ms.file_name()) {
            crate::temporaries::reserve_space(dir, &name.to_string_lossy(), size / 10 * 7)
                .map_err(|source| StageError::Io {
                    op: "reserving space for CORRECTED_DATA in",
                    path: ms.to_path_buf(),
                    source,
                })?;
        }
        // a set whose tables are gone cannot be applied, now or later: retired from use
        let missing: Vec<String> = paths
            .iter()
            .filter(|p| !p.join("table.dat").is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            let why = format!(
                "calibration set {}: table(s) missing or not a table: {}",
                set.set_name,
                missing.join(", ")
            );
            with_retry("fail_solve", DB_GIVE_UP_AFTER, || {
                ctx.queue.fail_solve(
                    &set.set_name,
                    &format!("cannot be applied: {why}"),
                    now_unix_s(),
                )
            })?;
            return uncalibrated(Some(set.set_name), paths, why);
        }
        // one apply at a time in this process: workers applying the same set would open
        // its tables concurrently, and casacore's table locks then fail one of them
        let applied = {
            let _one = APPLY_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
            apply_tables(ms, &paths)
        };
        match applied {
            Ok(report) => {
                tracing::info!(
                    ms = %ms.display(),
                    set = %set.set_name,
                    corrected = report.n_corrected,
                    newly_flagged = report.n_newly_flagged,
                    "calibration applied"
                );
                m::group_calibration(CalOutcome::Applied);
                self.status.note_calibration(gid, None);
                if let Some(t) = set.mid_mjd {
                    m::set_newest_valid_cal_set(mjd_to_unix_s(t).max(0.0));
                }
                Ok(output(applied_record(
                    ms,
                    gid,
                    Some(set.set_name),
                    paths,
                    true,
                    None,
                )))
            }
            // I/O and casacore errors (a lock, a busy disk) are worth another attempt, a
            // couple of times; after that the set is taken as unreadable (below)
            Err(e) if e.is_retryable() && work.group.retry_count < APPLY_ATTEMPTS => {
                Err(StageError::Calibration {
                    what: format!("applying {} to {}", set.set_name, ms.display()),
                    source: Box::new(e),
                })
            }
            Err(e) => {
                // tables that do not fit the data (windows, antennas, shapes): the set is
                // retired from use (failed, with the reason), the group goes on
                // uncalibrated
                let err = StageError::Calibration {
                    what: format!("applying {} to {}", set.set_name, ms.display()),
                    source: Box::new(e),
                };
                let why = display_chain(&err);
                with_retry("fail_solve", DB_GIVE_UP_AFTER, || {
                    ctx.queue.fail_solve(
                        &set.set_name,
                        &format!("cannot be applied: {why}"),
                        now_unix_s(),
                    )
                })?;
                uncalibrated(Some(set.set_name), paths, why)
            }
        }
    }
}

/// Attempts of a group at applying a set before a retryable failure counts as the set's.
const APPLY_ATTEMPTS: u32 = 2;

/// Serialises applications within the process (see [`CalApplyStage`]).
static APPLY_LOCK: Mutex<()> = Mutex::new(());

fn applied_record(
    ms: &Path,
    gid: &GroupId,
    set_name: Option<String>,
    caltable_paths: Vec<PathBuf>,
    success: bool,
    error: Option<String>,
) -> CalAppliedRecord {
    CalAppliedRecord {
        id: None,
        ms_path: ms.to_path_buf(),
        group_id: Some(gid.clone()),
        set_name,
        caltable_paths,
        applied_at: now_unix_s(),
        success,
        error,
    }
}

fn output(rec: CalAppliedRecord) -> StageOutput {
    StageOutput {
        products: vec![Product::CalApplied(rec)],
        ..StageOutput::default()
    }
}
