//! Read-only summaries the dashboard API needs: pages of groups with their
//! file counts, the files and stages of a page of groups (one query each, not
//! one per group), the raw-file index by time range and conversion figures
//! since a time. Group totals come from `queue_state_counts` (kept exact by
//! triggers, schema v4), not from counting `processing_queue`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::{params, params_from_iter, Connection, Row, Transaction};

use super::stages::{stage_from_row, STAGE_COLUMNS};
use super::{i64_to_u32, At, RawGroup, SqliteBackend, GROUP_COLUMNS};
use crate::error::{QueueError, Result};
use crate::records::{
    ConversionStats, GroupRecord, GroupSummary, Hdf5FileRecord, SubbandFile, WaitingGroups,
};
use crate::stages::StageRecord;
use crate::types::{GroupId, GroupState, SubbandIdx};

/// `GROUP_COLUMNS` of `processing_queue g`, then the group's file and
/// distinct-subband counts (each an index range of `subband_files`' key).
fn summary_columns() -> String {
    let cols = GROUP_COLUMNS
        .split(',')
        .map(|c| format!("g.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{cols}, (SELECT COUNT(*) FROM subband_files f WHERE f.group_id = g.group_id), \
         (SELECT COUNT(DISTINCT f.subband_idx) FROM subband_files f WHERE f.group_id = g.group_id)"
    )
}

fn summary_row(r: &Row<'_>) -> rusqlite::Result<(RawGroup, i64, i64)> {
    let n = GROUP_COLUMNS.split(',').count();
    Ok((RawGroup::from_row(r)?, r.get(n)?, r.get(n + 1)?))
}

fn parse_summaries(rows: Vec<(RawGroup, i64, i64)>) -> Result<Vec<GroupSummary>> {
    rows.into_iter()
        .map(|(g, files, subbands)| {
            Ok(GroupSummary {
                group: g.parse()?,
                file_count: i64_to_u32(files),
                subband_count: i64_to_u32(subbands),
            })
        })
        .collect()
}

/// Groups in `state` (all groups when `None`), from `queue_state_counts`.
pub(super) fn count_in_state(
    q: &SqliteBackend,
    tx: &Connection,
    op: &'static str,
    state: Option<&str>,
) -> Result<u64> {
    let n: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(n), 0) FROM queue_state_counts WHERE ?1 IS NULL OR state = ?1",
        )
        .at(q, op)?
        .query_row([state], |r| r.get(0))
        .at(q, op)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Most ids bound in one statement (SQLite allows 32 766 variables).
const IDS_PER_STATEMENT: usize = 500;

/// Runs `sql` (with `{ids}` standing for the placeholders) over `ids` in
/// chunks and gathers the rows.
fn rows_for_ids<T>(
    q: &SqliteBackend,
    tx: &Transaction<'_>,
    op: &'static str,
    sql: &str,
    ids: &[GroupId],
    mut f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut stmt = tx.prepare_cached(&sql.replace("{ids}", &marks)).at(q, op)?;
        let rows = stmt
            .query_map(params_from_iter(chunk.iter().map(GroupId::as_str)), &mut f)
            .at(q, op)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .at(q, op)?;
        out.extend(rows);
    }
    Ok(out)
}

const HDF5_COLUMNS: &str = "path, filename, group_id, subband_num, timestamp_iso, timestamp_mjd, \
     file_size_bytes, modified_time, indexed_at, stored, ra_deg, dec_deg, obs_date, obs_time";

struct RawHdf5 {
    path: String,
    filename: String,
    group_id: Option<String>,
    subband_num: Option<i64>,
    timestamp_iso: Option<String>,
    timestamp_mjd: Option<f64>,
    file_size_bytes: Option<i64>,
    modified_time: Option<f64>,
    indexed_at: f64,
    stored: bool,
    ra_deg: Option<f64>,
    dec_deg: Option<f64>,
    obs_date: Option<String>,
    obs_time: Option<String>,
}

impl RawHdf5 {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawHdf5 {
            path: r.get(0)?,
            filename: r.get(1)?,
            group_id: r.get(2)?,
            subband_num: r.get(3)?,
            timestamp_iso: r.get(4)?,
            timestamp_mjd: r.get(5)?,
            file_size_bytes: r.get(6)?,
            modified_time: r.get(7)?,
            indexed_at: r.get(8)?,
            stored: r.get(9)?,
            ra_deg: r.get(10)?,
            dec_deg: r.get(11)?,
            obs_date: r.get(12)?,
            obs_time: r.get(13)?,
        })
    }

    fn parse(self) -> Result<Hdf5FileRecord> {
        let corrupt = |detail: String| QueueError::Corrupt {
            table: "hdf5_files",
            key: self.path.clone(),
            detail,
        };
        let group_id = self
            .group_id
            .as_deref()
            .map(|g| GroupId::parse(g).map_err(|_| corrupt(format!("bad group id {g:?}"))))
            .transpose()?;
        let subband = self
            .subband_num
            .map(|n| SubbandIdx::from_i64(n).map_err(|_| corrupt(format!("bad subband {n}"))))
            .transpose()?;
        let file_size_bytes = self
            .file_size_bytes
            .map(|n| u64::try_from(n).map_err(|_| corrupt(format!("negative size {n}"))))
            .transpose()?;
        Ok(Hdf5FileRecord {
            path: PathBuf::from(self.path),
            filename: self.filename,
            group_id,
            subband,
            timestamp_iso: self.timestamp_iso,
            timestamp_mjd: self.timestamp_mjd,
            file_size_bytes,
            modified_time: self.modified_time,
            indexed_at: self.indexed_at,
            stored: self.stored,
            ra_deg: self.ra_deg,
            dec_deg: self.dec_deg,
            obs_date: self.obs_date,
            obs_time: self.obs_time,
        })
    }
}

impl SqliteBackend {
    /// See [`crate::Queue::group_summaries`].
    pub fn group_summaries(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupSummary>, u64)> {
        const OP: &str = "group_summaries";
        let order = if newest_first { "DESC" } else { "ASC" };
        let st = state.map(GroupState::as_str);
        let cols = summary_columns();
        self.read(OP, |tx| {
            let total = count_in_state(self, tx, OP, st)?;
            // Two statements rather than `?1 IS NULL OR state = ?1`, so that each
            // walks an index in `group_id` order and stops after the page.
            let sql = match st {
                Some(_) => format!(
                    "SELECT {cols} FROM processing_queue g WHERE g.state = ?1 \
                     ORDER BY g.group_id {order} LIMIT ?2 OFFSET ?3"
                ),
                None => format!(
                    "SELECT {cols} FROM processing_queue g WHERE ?1 IS NULL \
                     ORDER BY g.group_id {order} LIMIT ?2 OFFSET ?3"
                ),
            };
            let rows = tx
                .prepare_cached(&sql)
                .at(self, OP)?
                .query_map(params![st, limit, offset], summary_row)
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            Ok((parse_summaries(rows)?, total))
        })
    }

    /// See [`crate::Queue::waiting_groups`].
    pub fn waiting_groups(
        &self,
        complete_only: bool,
        received_since_unix_s: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<WaitingGroups> {
        const OP: &str = "waiting_groups";
        // The waiting groups within the arrival filter with their distinct
        // subbands; `subbands >= expected` is GroupSummary::is_complete in SQL.
        // INDEXED BY: `ANALYZE` statistics only know that `state` has a few
        // values over many rows, not that the waiting ones are a handful among
        // 100 000 finished, and with them SQLite would scan the whole table.
        let waiting = format!(
            "WITH w AS (SELECT g.rowid AS rid, g.group_id AS group_id, \
             COALESCE(g.expected_subbands, {n}) AS expected, \
             (SELECT COUNT(DISTINCT f.subband_idx) FROM subband_files f \
              WHERE f.group_id = g.group_id) AS subbands \
             FROM processing_queue g INDEXED BY idx_processing_queue_state_group \
             WHERE g.state IN ('pending', 'collecting') AND (?1 IS NULL OR g.received_at >= ?1))",
            n = crate::types::N_SUBBANDS
        );
        let cols = summary_columns();
        self.read(OP, |tx| {
            let total_waiting = count_in_state(self, tx, OP, Some("pending"))?
                + count_in_state(self, tx, OP, Some("collecting"))?;
            let (total, total_complete): (i64, i64) = tx
                .prepare_cached(&format!(
                    "{waiting} SELECT COALESCE(SUM(?2 = 0 OR subbands >= expected), 0), \
                     COALESCE(SUM(subbands >= expected), 0) FROM w"
                ))
                .at(self, OP)?
                .query_row(params![received_since_unix_s, complete_only], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .at(self, OP)?;
            let rows = tx
                .prepare_cached(&format!(
                    "{waiting} SELECT {cols} FROM w JOIN processing_queue g ON g.group_id = w.group_id \
                     WHERE ?2 = 0 OR w.subbands >= w.expected \
                     ORDER BY w.group_id LIMIT ?3 OFFSET ?4"
                ))
                .at(self, OP)?
                .query_map(
                    params![received_since_unix_s, complete_only, limit, offset],
                    summary_row,
                )
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            Ok(WaitingGroups {
                groups: parse_summaries(rows)?,
                total: u64::try_from(total).unwrap_or(0),
                total_waiting,
                total_complete: u64::try_from(total_complete).unwrap_or(0),
            })
        })
    }

    /// See [`crate::Queue::files_of_groups`].
    pub fn files_of_groups(
        &self,
        groups: &[GroupId],
    ) -> Result<BTreeMap<GroupId, Vec<SubbandFile>>> {
        const OP: &str = "files_of_groups";
        self.read(OP, |tx| {
            let rows = rows_for_ids(
                self,
                tx,
                OP,
                "SELECT group_id, subband_idx, path FROM subband_files \
                 WHERE group_id IN ({ids}) ORDER BY group_id, subband_idx",
                groups,
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )?;
            let mut out: BTreeMap<GroupId, Vec<SubbandFile>> = BTreeMap::new();
            for (gid, sb, path) in rows {
                out.entry(GroupId::parse(&gid)?)
                    .or_default()
                    .push(SubbandFile {
                        subband: SubbandIdx::from_i64(sb)?,
                        path: PathBuf::from(path),
                    });
            }
            Ok(out)
        })
    }

    /// See [`crate::Queue::stages_of_groups`].
    pub fn stages_of_groups(
        &self,
        groups: &[GroupId],
    ) -> Result<BTreeMap<GroupId, Vec<StageRecord>>> {
        const OP: &str = "stages_of_groups";
        self.read(OP, |tx| {
            let rows = rows_for_ids(
                self,
                tx,
                OP,
                &format!(
                    "SELECT group_id, {STAGE_COLUMNS} FROM group_stages \
                     WHERE group_id IN ({{ids}}) ORDER BY group_id, rowid"
                ),
                groups,
                |r| {
                    let gid: String = r.get(0)?;
                    Ok(match GroupId::parse(&gid) {
                        Ok(g) => stage_from_row(&g, r, 1)?,
                        Err(e) => Err(e.into()),
                    })
                },
            )?;
            let mut out: BTreeMap<GroupId, Vec<StageRecord>> = BTreeMap::new();
            for rec in rows {
                let rec = rec?;
                out.entry(rec.group_id.clone()).or_default().push(rec);
            }
            Ok(out)
        })
    }

    /// A page of groups (optionally in one state) by `group_id`, oldest or newest
    /// first, and the total matching. Unlike `list_groups` the state filter is a
    /// plain equality, so SQLite walks the `(state, group_id)` index and stops
    /// after the page (the API's large-queue path).
    pub fn list_groups_ordered(
        &self,
        state: Option<GroupState>,
        newest_first: bool,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<GroupRecord>, u64)> {
        const OP: &str = "list_groups_ordered";
        let order = if newest_first { "DESC" } else { "ASC" };
        self.read(OP, |tx| {
            let (total, rows) = match state {
                Some(st) => {
                    let total = count_in_state(self, tx, OP, Some(st.as_str()))?;
                    let mut stmt = tx
                        .prepare(&format!(
                            "SELECT {GROUP_COLUMNS} FROM processing_queue WHERE state = ?1 \
                             ORDER BY group_id {order} LIMIT ?2 OFFSET ?3"
                        ))
                        .at(self, OP)?;
                    let rows = stmt
                        .query_map(params![st.as_str(), limit, offset], RawGroup::from_row)
                        .at(self, OP)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .at(self, OP)?;
                    (total, rows)
                }
                None => {
                    let total = count_in_state(self, tx, OP, None)?;
                    let mut stmt = tx
                        .prepare(&format!(
                            "SELECT {GROUP_COLUMNS} FROM processing_queue \
                             ORDER BY group_id {order} LIMIT ?1 OFFSET ?2"
                        ))
                        .at(self, OP)?;
                    let rows = stmt
                        .query_map(params![limit, offset], RawGroup::from_row)
                        .at(self, OP)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .at(self, OP)?;
                    (total, rows)
                }
            };
            let groups = rows
                .into_iter()
                .map(RawGroup::parse)
                .collect::<Result<Vec<_>>>()?;
            Ok((groups, total))
        })
    }

    /// A page of the raw-file index whose `timestamp_mjd` lies within
    /// `[start_mjd, end_mjd]` (either bound optional; rows without a timestamp
    /// only when neither bound is given), by timestamp then path, and the total.
    pub fn hdf5_files_between(
        &self,
        start_mjd: Option<f64>,
        end_mjd: Option<f64>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Hdf5FileRecord>, u64)> {
        const OP: &str = "hdf5_files_between";
        const WHERE: &str =
            "(?1 IS NULL OR timestamp_mjd >= ?1) AND (?2 IS NULL OR timestamp_mjd <= ?2)";
        self.read(OP, |tx| {
            let total: i64 = tx
                .query_row(
                    &format!("SELECT COUNT(*) FROM hdf5_files WHERE {WHERE}"),
                    params![start_mjd, end_mjd],
                    |r| r.get(0),
                )
                .at(self, OP)?;
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {HDF5_COLUMNS} FROM hdf5_files WHERE {WHERE} \
                     ORDER BY timestamp_mjd, path LIMIT ?3 OFFSET ?4"
                ))
                .at(self, OP)?;
            let rows = stmt
                .query_map(
                    params![start_mjd, end_mjd, limit, offset],
                    RawHdf5::from_row,
                )
                .at(self, OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .at(self, OP)?;
            let files = rows
                .into_iter()
                .map(RawHdf5::parse)
                .collect::<Result<Vec<_>>>()?;
            Ok((files, u64::try_from(total).unwrap_or(0)))
        })
    }

    /// Groups that reached `completed` / `failed` at or after `since_unix_s`,
    /// and the mean `total_time` of conversions recorded since then.
    pub fn conversion_stats(&self, since_unix_s: f64) -> Result<ConversionStats> {
        const OP: &str = "conversion_stats";
        self.read(OP, |tx| {
            let (completed, failed): (i64, i64) = tx
                .query_row(
                    "SELECT COALESCE(SUM(state = 'completed'), 0), COALESCE(SUM(state = 'failed'), 0) \
                     FROM processing_queue WHERE finished_at >= ?1",
                    [since_unix_s],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .at(self, OP)?;
            let (mean, n): (Option<f64>, i64) = tx
                .query_row(
                    "SELECT AVG(total_time), COUNT(total_time) FROM performance_metrics \
                     WHERE recorded_at >= ?1",
                    [since_unix_s],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .at(self, OP)?;
            Ok(ConversionStats {
                completed_since: u64::try_from(completed).unwrap_or(0),
                failed_since: u64::try_from(failed).unwrap_or(0),
                mean_total_time_s: mean,
                timed_conversions: u64::try_from(n).unwrap_or(0),
            })
        })
    }
}
