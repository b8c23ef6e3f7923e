//! The job table's copy of each schedule's definition, so that a page of schedules costs one
//! `ListSchedules` and one `BatchGetItem`, not one `GetSchedule` per schedule.
//!
//! Scheduler stays the truth: its listing names each schedule with its state and the time
//! of its last change ([`ScheduleEntry`]). A copy written after that change is current; one
//! that is missing (a write that failed, a schedule made elsewhere) or older (an update
//! whose copy write failed) is read again from Scheduler and written anew, guarded so that
//! a newer copy written meanwhile is never replaced by an older one.

use chrono::{DateTime, Utc};

use super::Schedule;

/// A schedule's definition as the job table holds it (`SCHEDULE#<name>`), with when it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleCopy {
    pub schedule: Schedule,
    pub written_at: DateTime<Utc>,
}

/// A schedule as Scheduler's listing names it: no definition, only its state and last change.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleEntry {
    pub name: String,
    pub enabled: bool,
    /// When Scheduler last created or changed it.
    pub modified: DateTime<Utc>,
}

/// One page of Scheduler's listing, and the token of the next (`None`: the last page).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntryPage {
    pub entries: Vec<ScheduleEntry>,
    pub next: Option<String>,
}

/// Which copy a write may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyGuard {
    /// Any (the writer holds the schedule's change, or has just created it).
    Any,
    /// Only the copy written at this time, or none (a repair after a listing found it stale).
    Over(Option<DateTime<Utc>>),
}

impl ScheduleCopy {
    /// Whether the copy shows the schedule as Scheduler last changed it.
    pub fn is_current(&self, entry: &ScheduleEntry) -> bool {
        self.schedule.name == entry.name && self.written_at >= entry.modified
    }
}
