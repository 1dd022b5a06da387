//! Per-stage state of a group (`group_stages`) and what a finished stage
//! hands to the queue.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result};
use crate::products::{
    CalAppliedRecord, ImageRecord, MosaicRecord, PhotometryRecord, SolveResult, VariabilityRecord,
};
use crate::records::{MsRecord, PerformanceRecord};
use crate::types::GroupId;

/// Where one stage of one group stands (`group_stages.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Not run yet (or reset to be run again).
    Pending,
    /// A worker is running it.
    Running,
    /// Finished; its products are recorded.
    Done,
    /// Its last attempt failed (reason in `error`).
    Failed,
    /// Deliberately not run (reason in `error`).
    Skipped,
}

impl StageStatus {
    /// All statuses.
    pub const ALL: [StageStatus; 5] = [
        StageStatus::Pending,
        StageStatus::Running,
        StageStatus::Done,
        StageStatus::Failed,
        StageStatus::Skipped,
    ];

    /// The string stored in `group_stages.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Done => "done",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
        }
    }

    /// Whether a runner resuming the group should not run the stage again
    /// (`done` or `skipped`).
    pub fn is_finished(self) -> bool {
        matches!(self, StageStatus::Done | StageStatus::Skipped)
    }
}

impl fmt::Display for StageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StageStatus {
    type Err = QueueError;
    fn from_str(s: &str) -> Result<Self> {
        StageStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| QueueError::InvalidInput {
                what: "stage status (pending|running|done|failed|skipped)",
                value: s.to_owned(),
            })
    }
}

/// One row of `group_stages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The group.
    pub group_id: GroupId,
    /// Stage name (e.g. `convert`, `flag`, `calibrate`).
    pub stage: String,
    /// Its status.
    pub status: StageStatus,
    /// Attempts begun so far.
    pub attempts: u32,
    /// When the last attempt began (Unix s).
    pub started_at: Option<f64>,
    /// When it finished, failed or was skipped (Unix s).
    pub finished_at: Option<f64>,
    /// Duration of the successful attempt, seconds.
    pub duration_s: Option<f64>,
    /// Failure (`kind: message`) or skip reason.
    pub error: Option<String>,
    /// Worker (`host:pid`) of the last attempt.
    pub owner: Option<String>,
}

/// A product recorded by [`crate::Queue::finish_stage`] in the same
/// transaction as the stage's completion.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Product {
    /// A Measurement Set (upsert into `ms_index`, as `record_ms`).
    Ms(MsRecord),
    /// An image product (upsert into `images` by path).
    Image(ImageRecord),
    /// A calibration application (as `record_cal_applied`, including
    /// `ms_index.cal_applied`).
    CalApplied(CalAppliedRecord),
    /// A calibration solve that succeeded (as `finish_solve`).
    CalSolved {
        /// The set begun with `begin_solve`.
        set_name: String,
        /// Validity window and QA.
        result: SolveResult,
    },
    /// Forced-photometry rows (upsert by source and image).
    Photometry(Vec<PhotometryRecord>),
    /// Variability statistics (upsert by source).
    Variability(Vec<VariabilityRecord>),
    /// A mosaic and its member images (upsert by name, membership replaced).
    Mosaic {
        /// The mosaic.
        mosaic: MosaicRecord,
        /// Its images.
        image_paths: Vec<PathBuf>,
    },
}

/// What [`crate::Queue::finish_stage`] records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageDone<'a> {
    /// How long the stage took, seconds.
    pub duration_s: f64,
    /// Products to record.
    pub products: &'a [Product],
    /// Timings to store in `performance_metrics` (the conversion's).
    pub performance: Option<&'a PerformanceRecord>,
    /// Whether this was the group's last stage: the group becomes `completed`.
    pub complete_group: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_status_strings_roundtrip() {
        for st in StageStatus::ALL {
            assert_eq!(st.as_str().parse::<StageStatus>().unwrap(), st);
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
        }
        assert!("in_progress".parse::<StageStatus>().is_err());
        assert!(StageStatus::Done.is_finished() && StageStatus::Skipped.is_finished());
        assert!(!StageStatus::Failed.is_finished() && !StageStatus::Pending.is_finished());
    }
}
