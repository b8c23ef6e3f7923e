//! The change lease of a schedule: what makes two `PATCH`es of one schedule take turns.
//!
//! Scheduler has no conditional update, so a change is a read-modify-write of the whole
//! definition, and of two changes sent at once the later write would silently drop the
//! earlier one's fields. A change therefore first takes the schedule's lease, one item in
//! the job table (`SCHEDULE#<name>#CHANGING`, a conditional put: no lease, or one whose
//! time is over), and gives it back when done; a change that finds the lease held answers
//! `409` and changes nothing. A change that crashed holding it blocks others until
//! [`CHANGE_LEASE`] is over.
//!
//! The lease is a time bound, not a fence (Scheduler takes no token): it is sound because
//! a change writes to Scheduler only while at least [`CHANGE_WRITE_MARGIN`] of its lease
//! remains, more than one Scheduler call may take (on AWS the API's Lambda ends after
//! 10 s, its AWS calls after 4 s), so the next holder's read comes after the write.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// How long a change may hold a schedule's lease.
pub const CHANGE_LEASE: TimeDelta = TimeDelta::seconds(60);
/// Least time left on the lease for a change to still write to Scheduler.
pub const CHANGE_WRITE_MARGIN: TimeDelta = TimeDelta::seconds(30);

/// One change's hold on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeLease {
    pub schedule: String,
    /// Who holds it: a new id for each change.
    pub holder: Uuid,
    pub until: DateTime<Utc>,
}

impl ChangeLease {
    /// A new change's lease on `schedule`, from `now`.
    pub fn new(schedule: &str, now: DateTime<Utc>) -> Self {
        Self {
            schedule: schedule.to_owned(),
            holder: Uuid::new_v4(),
            until: now + CHANGE_LEASE,
        }
    }

    /// Whether a change holding it may still write to Scheduler at `now`.
    pub fn may_write(&self, now: DateTime<Utc>) -> bool {
        self.until - now >= CHANGE_WRITE_MARGIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_writes_only_with_the_margin_left() {
        let now = Utc::now();
        let lease = ChangeLease::new("nightly", now);
        assert!(lease.may_write(now));
        assert!(lease.may_write(now + CHANGE_LEASE - CHANGE_WRITE_MARGIN));
        assert!(!lease.may_write(now + CHANGE_LEASE - CHANGE_WRITE_MARGIN + TimeDelta::seconds(1)));
        assert_ne!(
            ChangeLease::new("nightly", now).holder,
            lease.holder,
            "one holder per change"
        );
    }
}
