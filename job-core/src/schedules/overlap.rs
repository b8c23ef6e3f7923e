//! What a schedule does when a run comes due while its previous run is not finished
//! (Kubernetes CronJob's `concurrencyPolicy`, Temporal's overlap policy), and the pointer
//! that enforces it.
//!
//! Under `forbid` and `replace` every schedule (generation) keeps one small record in the
//! job table: the last run it *admitted* (let run). A run is admitted by one
//! transaction that registers its job (condition: no job with its id yet) and moves the
//! pointer from the run it saw there to itself (condition: the pointer still names that
//! run). So:
//! - a duplicate delivery of a run finds its job registered (the first condition) and
//!   takes the outcome recorded for it: one outcome per run, counted once;
//! - two different runs racing both saw the same pointer; only one moves it, the other
//!   reads again, finds the winner unfinished and is SKIPPED (`forbid`) or cancels it
//!   (`replace`): never two admitted runs from one pointer;
//! - the pointer only moves forward in scheduled time: a run delivered after a later run
//!   was admitted is SKIPPED as superseded.
//!
//! Finding the previous run costs two reads (the pointer, then its job), never a scan.
//! Under `allow` nothing of this happens: a run registers in one write as before.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A schedule's overlap policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// Every run runs, whatever the previous one does.
    #[default]
    Allow,
    /// A run whose previous run is not finished is recorded as SKIPPED and never runs.
    Forbid,
    /// The previous run, if not finished, is cancelled; then the new one runs.
    Replace,
}

impl Overlap {
    pub const ALL: [Overlap; 3] = [Self::Allow, Self::Forbid, Self::Replace];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Forbid => "forbid",
            Self::Replace => "replace",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last run a schedule generation admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPointer {
    pub run_id: Uuid,
    pub scheduled_time: DateTime<Utc>,
}

/// Moving a schedule generation's pointer, in the same transaction as a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerMove {
    pub schedule: String,
    pub generation: String,
    /// The run the pointer named when it was read; `None`: there was no pointer.
    pub from: Option<Uuid>,
    pub to: RunPointer,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_and_default_to_allow() {
        for o in Overlap::ALL {
            assert_eq!(Overlap::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{o}\""));
        }
        assert_eq!(Overlap::parse("Forbid"), None);
        assert_eq!(Overlap::default(), Overlap::Allow);
    }
}
