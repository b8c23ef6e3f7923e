//! Aggregate stats: the counters, how they are keyed and sharded, and what the API shows.
//!
//! Counters live in a constant number of items: one total per shard, and one per shard
//! per day (UTC). A change adds to one shard (chosen by job id) of the total and of its
//! day; a read fetches every shard of the total and of the last [`DAYS`] days.
//!
//! What a job contributes to the counters is a function of its stored state
//! ([`Counts::of`]): every change's counter increments are the difference between the job's
//! contribution after and before it. Counting inline books that difference in the change's
//! own transaction; counting from the table's stream ([`Counting::Stream`]) books it from the
//! old and new images of each stream record.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::job::{Job, JobStatus};

/// Days of per-day counts shown by `GET /jobs/stats`, today included.
pub const DAYS: u64 = 7;

/// Defines [`Counts`] from one list of counters: the struct, the names they are stored
/// and shown under, and counter-wise addition all follow from it. To add a counter, add a
/// line here; the stores, the change deltas and `GET /jobs/stats` pick it up.
macro_rules! counter_set {
    ($($(#[doc = $doc:literal])* $field:ident),+ $(,)?) => {
        /// Counter values, or the increments a change adds to them.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct Counts {
            $($(#[doc = $doc])* pub $field: i64,)+
        }

        impl Counts {
            /// Every counter as `(name, value)`, in definition order; the name is the
            /// stored attribute name.
            pub fn named(&self) -> Vec<(&'static str, i64)> {
                vec![$((stringify!($field), self.$field)),+]
            }

            /// Counts read counter by counter through `value`, given each counter's name.
            pub fn from_named(mut value: impl FnMut(&'static str) -> i64) -> Self {
                Self { $($field: value(stringify!($field)),)+ }
            }

            /// Adds `other`, counter by counter.
            pub fn add(&mut self, other: &Counts) {
                $(self.$field += other.$field;)+
            }

            /// Subtracts `other`, counter by counter.
            pub fn sub(&mut self, other: &Counts) {
                $(self.$field -= other.$field;)+
            }
        }
    };
}

counter_set! {
    /// Jobs registered (API or schedule).
    submitted,
    /// Jobs whose final state is SUCCEEDED.
    succeeded,
    /// Jobs whose final state is FAILED.
    failed,
    /// Attempts started after a failed attempt.
    retries,
    /// Jobs whose final state is CANCELLED.
    cancelled,
    /// Scheduled runs recorded as SKIPPED by their schedule's overlap policy (never run).
    skipped,
}

impl Counts {
    /// Whether every counter is zero (a change that books nothing).
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// What one stored job contributes to the counters: submitted once, its final status
    /// once, and every attempt after the first as a retry. Every [`crate::job::Change`]'s
    /// `counters` equal `of(after) − of(before)` (a job not stored contributes nothing).
    pub fn of(job: &Job) -> Counts {
        let mut counts = Counts {
            submitted: 1,
            retries: i64::from(job.retries()),
            ..Counts::default()
        };
        match job.status {
            JobStatus::Queued | JobStatus::Running | JobStatus::Retrying => {}
            JobStatus::Succeeded => counts.succeeded = 1,
            JobStatus::Failed => counts.failed = 1,
            JobStatus::Cancelled => counts.cancelled = 1,
            JobStatus::Skipped => counts.skipped = 1,
        }
        counts
    }

    /// The counter increments of a job going from `before` to `after` (`None`: not stored).
    pub fn delta(before: Option<&Job>, after: Option<&Job>) -> Counts {
        let mut delta = after.map(Counts::of).unwrap_or_default();
        if let Some(before) = before {
            delta.sub(&Counts::of(before));
        }
        delta
    }

    /// The UTC day a job change is booked on, from the job as stored before and after it:
    /// the change's time, which is the new record's `updatedAt`; a removed record (a
    /// registration taken back) is booked on the day it was registered, as
    /// [`Job::withdraw`] books it.
    pub fn day_of(before: Option<&Job>, after: Option<&Job>) -> Option<NaiveDate> {
        match (before, after) {
            (_, Some(after)) => Some(after.updated_at.date_naive()),
            (Some(before), None) => Some(before.created_at.date_naive()),
            (None, None) => None,
        }
    }
}

/// Where the counters are booked (`JOBS_COUNTERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Counting {
    /// In each job change's own transaction, with the job write (exact at once; tens of
    /// jobs per second before counter items contend).
    #[default]
    Inline,
    /// By the counter aggregator from the table's stream: a job change is one conditional
    /// write of the job item, and the stats trail the jobs by the aggregator's lag.
    Stream,
}

impl Counting {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "inline" => Some(Self::Inline),
            "stream" => Some(Self::Stream),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inline => "inline",
            Self::Stream => "stream",
        }
    }
}

/// Counts booked on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayStats {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The body of `GET /jobs/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The all-time totals.
    #[serde(flatten)]
    pub total: Counts,
    /// submitted − succeeded − failed − cancelled − skipped: jobs queued, running or waiting for a retry.
    pub in_flight: i64,
    /// The last seven UTC days, newest first.
    pub daily: Vec<DayStats>,
    pub as_of: DateTime<Utc>,
}

impl Stats {
    pub fn new(total: Counts, daily: Vec<DayStats>, as_of: DateTime<Utc>) -> Self {
        Self {
            total,
            in_flight: total.submitted - total.succeeded - total.failed - total.cancelled - total.skipped,
            daily,
            as_of,
        }
    }
}

/// Which counter item: the all-time total or one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Total,
    Day(NaiveDate),
}

/// The shard a job's counter updates go to.
pub fn shard_for(job_id: Uuid, shards: u32) -> u32 {
    (job_id.as_u128() % u128::from(shards.max(1))) as u32
}

/// The days shown, newest first.
pub fn shown_days(now: DateTime<Utc>) -> Vec<NaiveDate> {
    let today = now.date_naive();
    (0..DAYS)
        .filter_map(|back| today.checked_sub_days(Days::new(back)))
        .collect()
}

/// The storage key of a counter item.
pub fn counter_key(bucket: Bucket, shard: u32) -> String {
    match bucket {
        Bucket::Total => format!("STATS#TOTAL#{shard}"),
        Bucket::Day(day) => format!("STATS#DAY#{day}#{shard}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_derived() {
        let s = Stats::new(
            Counts {
                submitted: 10,
                succeeded: 6,
                failed: 1,
                retries: 4,
                cancelled: 1,
                skipped: 1,
            },
            vec![],
            Utc::now(),
        );
        assert_eq!(s.in_flight, 1);
    }

    #[test]
    fn seven_days_newest_first() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let days = shown_days(now);
        assert_eq!(days.len(), 7);
        assert_eq!(days[0].to_string(), "2026-03-02");
        assert_eq!(days[6].to_string(), "2026-02-24");
    }

    #[test]
    fn shards_spread_and_stay_in_range() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let s = shard_for(Uuid::new_v4(), 4);
            assert!(s < 4);
            seen.insert(s);
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(shard_for(Uuid::new_v4(), 1), 0);
    }

    #[test]
    fn keys_name_bucket_and_shard() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(counter_key(Bucket::Total, 3), "STATS#TOTAL#3");
        assert_eq!(counter_key(Bucket::Day(day), 0), "STATS#DAY#2026-01-02#0");
    }
}
