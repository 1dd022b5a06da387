//! Per-stage state (`group_stages`) and one-transaction stage completion.

use rusqlite::{params, Connection, OptionalExtension};

use super::{finite, i64_to_u32, At, SqliteBackend, STAGE_QUEUED};
use crate::error::{QueueError, Result};
use crate::records::{FailOutcome, Failure, RetryPolicy};
use crate::stages::{Product, StageDone, StageRecord, StageStatus};
use crate::types::{GroupId, GroupState};

/// The columns of a `group_stages` row as [`stage_from_row`] reads them.
pub(crate) const STAGE_COLUMNS: &str =
    "stage, status, attempts, started_at, finished_at, duration_s, error, owner";

/// The [`STAGE_COLUMNS`] of `group`'s stage, starting at column `first` of `r`.
pub(crate) fn stage_from_row(
    group: &GroupId,
    r: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<Result<StageRecord>> {
    let stage: String = r.get(first)?;
    let status: String = r.get(first + 1)?;
    let status = match status.parse::<StageStatus>() {
        Ok(s) => s,
        Err(_) => {
            return Ok(Err(QueueError::Corrupt {
                table: "group_stages",
                key: format!("{group}/{stage}"),
                detail: format!("unknown status {status:?}"),
            }))
        }
    };
    Ok(Ok(StageRecord {
        group_id: group.clone(),
        stage,
        status,
        attempts: i64_to_u32(r.get(first + 2)?),
        started_at: r.get(first + 3)?,
        finished_at: r.get(first + 4)?,
        duration_s: r.get(first + 5)?,
        error: r.get(first + 6)?,
        owner: r.get(first + 7)?,
    }))
}

fn check_stage_name(stage: &str) -> Result<()> {
    if stage.is_empty() || stage.len() > 64 || stage.chars().any(char::is_control) {
        return Err(QueueError::InvalidInput {
            what: "stage name (1-64 printable characters)",
            value: stage.to_owned(),
        });
    }
    Ok(())
}

impl SqliteBackend {
    /// See [`crate::Queue::stages`].
    pub fn stages(&self, group: &GroupId) -> Result<Vec<StageRecord>> {
        const OP: &str = "stages";
        self.read(OP, |tx| {
            self.group_state(tx, OP, group)?;
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT {STAGE_COLUMNS} FROM group_stages WHERE group_id = ?1 ORDER BY rowid"
                ))
                .at(self, OP)?;
            let rows = stmt
                .query_map([group.as_str()], |r| stage_from_row(group, r, 0))
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            rows.into_iter().collect()
        })
    }

    /// The group's state; [`QueueError::UnknownGroup`] if absent.
    pub(crate) fn group_state(
        &self,
        tx: &Connection,
        op: &'static str,
        group: &GroupId,
    ) -> Result<GroupState> {
        tx.query_row(
            "SELECT state FROM processing_queue WHERE group_id = ?1",
            [group.as_str()],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .at(self, op)?
        .ok_or_else(|| QueueError::UnknownGroup(group.to_string()))?
        .parse()
    }

    fn mirror_ms_stage(
        &self,
        tx: &Connection,
        op: &'static str,
        group: &GroupId,
        stage: &str,
        status: StageStatus,
    ) -> Result<()> {
        tx.execute(
            "UPDATE ms_index SET stage = ?2, stage_status = ?3 WHERE group_id = ?1",
            params![group.as_str(), stage, status.as_str()],
        )
        .at(self, op)?;
        Ok(())
    }

    /// See [`crate::Queue::begin_stage`].
    pub fn begin_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        const OP: &str = "begin_stage";
        let now = finite("now_unix_s", now_unix_s)?;
        check_stage_name(stage)?;
        self.write(OP, |tx| {
            self.check_held(tx, OP, group, owner)?;
            tx.execute(
                "INSERT INTO group_stages (group_id, stage, status, attempts, started_at, owner) \
                 VALUES (?1, ?2, 'running', 1, ?3, ?4) \
                 ON CONFLICT(group_id, stage) DO UPDATE SET status = 'running', \
                 attempts = attempts + 1, started_at = excluded.started_at, finished_at = NULL, \
                 duration_s = NULL, error = NULL, owner = excluded.owner",
                params![group.as_str(), stage, now, owner],
            )
            .at(self, OP)?;
            tx.execute(
                "UPDATE processing_queue SET processing_stage = ?2, last_update = ?3 WHERE group_id = ?1",
                params![group.as_str(), stage, now],
            )
            .at(self, OP)?;
            self.mirror_ms_stage(tx, OP, group, stage, StageStatus::Running)?;
            tracing::debug!(group_id = %group, stage, owner, "stage begun");
            Ok(())
        })
    }

    /// See [`crate::Queue::finish_stage`].
    pub fn finish_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        done: &StageDone<'_>,
        now_unix_s: f64,
    ) -> Result<()> {
        const OP: &str = "finish_stage";
        let now = finite("now_unix_s", now_unix_s)?;
        let duration = finite("duration_s", done.duration_s)?;
        check_stage_name(stage)?;
        self.write(OP, |tx| {
            self.check_held(tx, OP, group, owner)?;
            for product in done.products {
                self.record_product_in(tx, OP, product, now)?;
            }
            if let Some(perf) = done.performance {
                self.record_performance_in(tx, OP, perf)?;
            }
            tx.execute(
                "INSERT INTO group_stages (group_id, stage, status, attempts, started_at, finished_at, \
                 duration_s, owner) VALUES (?1, ?2, 'done', 1, ?3 - ?4, ?3, ?4, ?5) \
                 ON CONFLICT(group_id, stage) DO UPDATE SET status = 'done', \
                 finished_at = excluded.finished_at, duration_s = excluded.duration_s, error = NULL, \
                 owner = excluded.owner",
                params![group.as_str(), stage, now, duration, owner],
            )
            .at(self, OP)?;
            // Products may have just created the group's ms_index row.
            self.mirror_ms_stage(tx, OP, group, stage, StageStatus::Done)?;
            if done.complete_group {
                self.complete_in(tx, OP, group, now)?;
            } else {
                tx.execute(
                    "UPDATE processing_queue SET last_update = ?2 WHERE group_id = ?1",
                    params![group.as_str(), now],
                )
                .at(self, OP)?;
            }
            tracing::debug!(group_id = %group, stage, duration_s = duration,
                n_products = done.products.len(), "stage done");
            Ok(())
        })
    }

    /// Records one product inside a caller's transaction.
    pub(crate) fn record_product_in(
        &self,
        tx: &Connection,
        op: &'static str,
        product: &Product,
        now: f64,
    ) -> Result<()> {
        match product {
            Product::Ms(rec) => self.record_ms_in(tx, op, rec),
            Product::Image(rec) => self.record_image_in(tx, op, rec).map(drop),
            Product::CalApplied(rec) => self.record_cal_applied_in(tx, op, rec).map(drop),
            Product::CalSolved { set_name, result } => {
                self.finish_solve_in(tx, op, set_name, result, now)
            }
            Product::Photometry(rows) => rows
                .iter()
                .try_for_each(|r| self.record_photometry_in(tx, op, r)),
            Product::Variability(rows) => rows
                .iter()
                .try_for_each(|r| self.upsert_variability_in(tx, op, r)),
            Product::Mosaic {
                mosaic,
                image_paths,
            } => {
                self.upsert_mosaic_in(tx, op, mosaic)?;
                self.set_mosaic_images_in(tx, op, &mosaic.name, image_paths)
            }
        }
    }

    /// See [`crate::Queue::skip_stage`].
    pub fn skip_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<()> {
        const OP: &str = "skip_stage";
        let now = finite("now_unix_s", now_unix_s)?;
        check_stage_name(stage)?;
        self.write(OP, |tx| {
            self.check_held(tx, OP, group, owner)?;
            tx.execute(
                "INSERT INTO group_stages (group_id, stage, status, attempts, finished_at, error, owner) \
                 VALUES (?1, ?2, 'skipped', 0, ?3, ?4, ?5) \
                 ON CONFLICT(group_id, stage) DO UPDATE SET status = 'skipped', \
                 finished_at = excluded.finished_at, duration_s = NULL, error = excluded.error, \
                 owner = excluded.owner",
                params![group.as_str(), stage, now, reason, owner],
            )
            .at(self, OP)?;
            tx.execute(
                "UPDATE processing_queue SET last_update = ?2 WHERE group_id = ?1",
                params![group.as_str(), now],
            )
            .at(self, OP)?;
            tracing::info!(group_id = %group, stage, reason, "stage skipped");
            Ok(())
        })
    }

    /// See [`crate::Queue::fail_stage`].
    pub fn fail_stage(
        &self,
        group: &GroupId,
        stage: &str,
        owner: &str,
        failure: &Failure<'_>,
        retry: &RetryPolicy,
        now_unix_s: f64,
    ) -> Result<FailOutcome> {
        const OP: &str = "fail_stage";
        let now = finite("now_unix_s", now_unix_s)?;
        check_stage_name(stage)?;
        self.write(OP, |tx| {
            self.check_held(tx, OP, group, owner)?;
            tx.execute(
                "INSERT INTO group_stages (group_id, stage, status, attempts, finished_at, error, owner) \
                 VALUES (?1, ?2, 'failed', 1, ?3, ?4 || ': ' || ?5, ?6) \
                 ON CONFLICT(group_id, stage) DO UPDATE SET status = 'failed', \
                 finished_at = excluded.finished_at, duration_s = NULL, error = excluded.error, \
                 owner = excluded.owner",
                params![
                    group.as_str(),
                    stage,
                    now,
                    failure.error,
                    failure.message,
                    owner
                ],
            )
            .at(self, OP)?;
            self.mirror_ms_stage(tx, OP, group, stage, StageStatus::Failed)?;
            self.fail_in(tx, OP, group, owner, failure, retry, now)
        })
    }

    /// See [`crate::Queue::reset_stages`].
    pub fn reset_stages(&self, group: &GroupId, stages: &[&str], now_unix_s: f64) -> Result<()> {
        const OP: &str = "reset_stages";
        let now = finite("now_unix_s", now_unix_s)?;
        for stage in stages {
            check_stage_name(stage)?;
        }
        self.write(OP, |tx| {
            let state = self.group_state(tx, OP, group)?;
            match state {
                GroupState::InProgress => {
                    return Err(QueueError::WrongState {
                        group: group.to_string(),
                        state: state.as_str().to_owned(),
                        op: "reset stages of a group being processed",
                    })
                }
                GroupState::Completed | GroupState::Failed => {
                    tx.execute(
                        "UPDATE processing_queue SET state = 'pending', error = NULL, \
                         error_message = NULL, owner = NULL, next_attempt_at = NULL, \
                         finished_at = NULL, processing_stage = ?3, last_update = ?2 \
                         WHERE group_id = ?1",
                        params![group.as_str(), now, STAGE_QUEUED],
                    )
                    .at(self, OP)?;
                }
                GroupState::Collecting | GroupState::Pending => {}
            }
            for stage in stages {
                tx.execute(
                    "INSERT INTO group_stages (group_id, stage, status, attempts) \
                     VALUES (?1, ?2, 'pending', 0) \
                     ON CONFLICT(group_id, stage) DO UPDATE SET status = 'pending', \
                     started_at = NULL, finished_at = NULL, duration_s = NULL, error = NULL, \
                     owner = NULL",
                    params![group.as_str(), stage],
                )
                .at(self, OP)?;
            }
            tracing::info!(group_id = %group, previous = %state, stages = ?stages, "stages reset");
            Ok(())
        })
    }
}
