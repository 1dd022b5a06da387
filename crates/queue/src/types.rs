//! Typed ids: [`GroupState`] here; [`GroupId`], [`SubbandIdx`] and [`N_SUBBANDS`]
//! are the shared vocabulary of `dsa110_astro::ids`, re-exported.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result};

pub use dsa110_astro::ids::{GroupId, SubbandIdx, N_SUBBANDS};

/// A group's place in the state machine:
/// `collecting` → `pending` → `in_progress` → `completed` | `failed`
/// (with `in_progress` → `pending` on retry, release or recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// Waiting for more subband files.
    Collecting,
    /// Ready to be taken by a worker.
    Pending,
    /// Held by a worker.
    InProgress,
    /// Processed successfully.
    Completed,
    /// Processing failed for good (reason in `error` / `error_message`).
    Failed,
}

impl GroupState {
    /// All states, in pipeline order.
    pub const ALL: [GroupState; 5] = [
        GroupState::Collecting,
        GroupState::Pending,
        GroupState::InProgress,
        GroupState::Completed,
        GroupState::Failed,
    ];

    /// The string stored in `processing_queue.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Collecting => "collecting",
            GroupState::Pending => "pending",
            GroupState::InProgress => "in_progress",
            GroupState::Completed => "completed",
            GroupState::Failed => "failed",
        }
    }

    /// Whether new subband files may still join the group.
    pub fn is_open(self) -> bool {
        matches!(self, GroupState::Collecting | GroupState::Pending)
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GroupState {
    type Err = QueueError;
    fn from_str(s: &str) -> Result<Self> {
        GroupState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| QueueError::InvalidState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_state_strings() {
        for st in GroupState::ALL {
            assert_eq!(st.as_str().parse::<GroupState>().unwrap(), st);
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
        }
        assert!(matches!(
            "running".parse::<GroupState>(),
            Err(QueueError::InvalidState(_))
        ));
    }
}
