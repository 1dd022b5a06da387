//! Read-only summaries the dashboard API needs: the raw-file index by time
//! range and conversion figures since a time.

use std::path::PathBuf;

use rusqlite::{params, Row};

use super::{At, RawGroup, SqliteBackend, GROUP_COLUMNS};
use crate::error::{QueueError, Result};
use crate::records::{ConversionStats, GroupRecord, Hdf5FileRecord};
use crate::types::{GroupId, GroupState, SubbandIdx};

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
    /// A page of groups (optionally in one state) by `group_id`, oldest or newest
    /// first, and the total matching. Unlike `list_groups` the state filter is a
    /// plain equality, so SQLite uses the state index (the API's large-queue path).
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
                    let total: i64 = tx
                        .query_row(
                            "SELECT COUNT(*) FROM processing_queue WHERE state = ?1",
                            [st.as_str()],
                            |r| r.get(0),
                        )
                        .at(self, OP)?;
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
                    let total: i64 = tx
                        .query_row("SELECT COUNT(*) FROM processing_queue", [], |r| r.get(0))
                        .at(self, OP)?;
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
            Ok((groups, u64::try_from(total).unwrap_or(0)))
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
