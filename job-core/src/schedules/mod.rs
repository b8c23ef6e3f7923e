//! The schedules port: cron schedules that queue a job at each run.
//!
//! On AWS, EventBridge Scheduler keeps and fires them ([`EventBridgeScheduleStore`]); tests use
//! [`MemoryScheduleStore`]. A schedule's target is the job queue and its target input is
//! a job message ([`crate::message`]) whose `schedule` block carries Scheduler's
//! placeholders for the execution id and the scheduled time; the worker registers the
//! job on first sight, with an id derived from the execution id.
//!
//! Emulators keep schedules but never fire them: the local runner of the `local-dev`
//! crate stands in for that on a local run.

mod copy;
mod eventbridge;
mod history;
mod lease;
mod memory;
mod overlap;

pub use copy::{CopyGuard, EntryPage, ScheduleCopy, ScheduleEntry};
pub use eventbridge::{EventBridgeScheduleStore, QueueArn, SchedulerTarget};
pub use history::{
    MAX_KEPT_CHANGES, MISSED_AFTER, RunRecord, RunState, ScheduleChange, Timing, expected_runs, keep_last, records,
    run_job_id,
};
pub use lease::{CHANGE_LEASE, CHANGE_WRITE_MARGIN, ChangeLease};
pub use memory::MemoryScheduleStore;
pub use overlap::{Overlap, PointerMove, RunPointer};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::cron::{CronError, ScheduleExpression, ScheduleKind, parse_timezone};
use crate::message::{JobMessage, SCHEMA_VERSION, ScheduleRef};

/// What Scheduler puts in place of this text in a target input: the execution's id.
pub const EXECUTION_ID_PLACEHOLDER: &str = "<aws.scheduler.execution-id>";
/// What Scheduler puts in place of this text in a target input: the run's scheduled time.
pub const SCHEDULED_TIME_PLACEHOLDER: &str = "<aws.scheduler.scheduled-time>";

/// A schedule that queues a job at each run.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    /// The expression as the user gave it (Unix cron or EventBridge form).
    pub cron: String,
    /// The EventBridge form given to Scheduler, e.g. `cron(0 7 ? * MON *)`.
    pub expression: String,
    /// IANA time zone the expression is evaluated in.
    pub timezone: String,
    pub task: String,
    pub input: Value,
    /// When the schedule was created; it never runs at or before this time.
    pub created: DateTime<Utc>,
    /// A new id for each creation (in the target input): runs of a schedule re-created
    /// under the same name are other jobs than the old one's.
    pub generation: String,
    /// A disabled schedule keeps its definition but does not run.
    pub enabled: bool,
    /// What a run does while the previous one is not finished (in the target input).
    pub overlap: Overlap,
    /// Who created it (in the target input, so each run's job names them); `None` for a
    /// schedule created before creators were recorded.
    pub created_by: Option<String>,
}

/// Why a schedule call failed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("a schedule named {0:?} already exists")]
    Exists(String),
    #[error("no schedule named {0:?}")]
    NotFound(String),
    /// The service refused the schedule as invalid.
    #[error("the scheduler rejected the schedule: {0}")]
    Rejected(String),
    /// The service could not be reached or is throttling; the call may be retried.
    #[error("scheduler unavailable: {0}")]
    Unavailable(String),
    /// A listing token the service does not take (not one of its pages' tokens, or expired).
    #[error("the listing token is not valid: {0}")]
    BadToken(String),
    /// Anything else (misconfiguration, missing group, a schedule that is not ours).
    #[error("scheduler error: {0}")]
    Other(String),
    /// Refused by the use case before any call: the caller neither created the schedule
    /// nor is an admin.
    #[error(transparent)]
    NotOwner(#[from] crate::caller::NotOwner),
}

/// Where schedules are kept (and, on AWS, fired).
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Creates `schedule`; [`ScheduleError::Exists`] if its name is taken.
    async fn create(&self, schedule: &Schedule) -> Result<(), ScheduleError>;

    /// Reads one schedule.
    async fn get(&self, name: &str) -> Result<Option<Schedule>, ScheduleError>;

    /// Every schedule, sorted by name (one read per schedule: for the local runner, not the API).
    async fn list(&self) -> Result<Vec<Schedule>, ScheduleError>;

    /// One page of at most `limit` (1 to [`MAX_PAGE`]) schedules' entries, from `token` (a
    /// previous page's `next`), in the service's order: one `ListSchedules` call.
    async fn page(&self, limit: u32, token: Option<&str>) -> Result<EntryPage, ScheduleError>;

    /// Replaces the definition of the schedule named `schedule.name` with `schedule`
    /// (expression, time zone, target input, state); [`ScheduleError::NotFound`] if there
    /// is none. Its creation time and generation stay.
    async fn update(&self, schedule: &Schedule) -> Result<(), ScheduleError>;

    /// Deletes a schedule; [`ScheduleError::NotFound`] if there is none by that name.
    async fn delete(&self, name: &str) -> Result<(), ScheduleError>;
}

impl Schedule {
    /// The target input: a job message with Scheduler's placeholders in its `schedule` block.
    pub fn target_input(&self) -> String {
        JobMessage {
            v: SCHEMA_VERSION,
            job_id: None,
            task: self.task.clone(),
            input: self.input.clone(),
            schedule: Some(ScheduleRef {
                name: self.name.clone(),
                generation: Some(self.generation.clone()),
                overlap: (self.overlap != Overlap::Allow).then_some(self.overlap),
                created_by: self.created_by.clone(),
                execution_id: EXECUTION_ID_PLACEHOLDER.to_owned(),
                scheduled_time: SCHEDULED_TIME_PLACEHOLDER.to_owned(),
            }),
        }
        .to_json()
    }

    /// The message one run sends: the target input with the placeholders filled in, as
    /// Scheduler does (the time in RFC 3339 UTC, e.g. `2026-01-05T06:00:00Z`).
    pub fn message_for_run(&self, execution_id: &str, scheduled_time: DateTime<Utc>) -> String {
        fill_placeholders(&self.target_input(), execution_id, scheduled_time)
    }

    /// The time zone, parsed.
    pub fn tz(&self) -> Result<Tz, CronError> {
        parse_timezone(&self.timezone)
    }

    /// The next `n` runs strictly after `after`, none before the creation time.
    ///
    /// Cron runs are evaluated in the schedule's time zone and fall after the creation
    /// time. Rate runs are `created + k × period` for k ≥ 0: Scheduler invokes a rate
    /// schedule without a start date as soon as it is created, then every period.
    pub fn runs_after(&self, after: DateTime<Utc>, n: usize) -> Result<Vec<DateTime<Tz>>, CronError> {
        let expression = ScheduleExpression::parse(&self.expression)?;
        let tz = self.tz()?;
        if expression.kind() == ScheduleKind::Cron {
            return Ok(expression.next_runs(tz, after.max(self.created), n));
        }
        if after < self.created {
            let mut runs = vec![self.created.with_timezone(&tz)];
            runs.extend(expression.next_runs(tz, self.created, n.saturating_sub(1)));
            runs.truncate(n);
            return Ok(runs);
        }
        let Some(first) = expression.next_runs(tz, self.created, 1).first().map(|t| t.to_utc()) else {
            return Ok(Vec::new());
        };
        let period = first - self.created;
        let periods = (after - self.created).num_seconds() / period.num_seconds().max(1);
        let base = i32::try_from(periods)
            .ok()
            .and_then(|k| period.checked_mul(k))
            .and_then(|offset| self.created.checked_add_signed(offset));
        Ok(base.map(|base| expression.next_runs(tz, base, n)).unwrap_or_default())
    }
}

/// Replaces Scheduler's placeholders in a target input.
pub fn fill_placeholders(input: &str, execution_id: &str, scheduled_time: DateTime<Utc>) -> String {
    let time = scheduled_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    input
        .replace(EXECUTION_ID_PLACEHOLDER, execution_id)
        .replace(SCHEDULED_TIME_PLACEHOLDER, &time)
}

/// Valid schedule names: 1 to 64 of `0-9 a-z A-Z - _ .` (EventBridge Scheduler's rule).
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Most entries in one [`ScheduleStore::page`] (`ListSchedules`' `MaxResults` limit).
pub const MAX_PAGE: u32 = 100;

/// How late a run may still be delivered; older runs are dropped (EventBridge's retry
/// policy here, and the local runner's cut-off).
pub const MAX_EVENT_AGE: TimeDelta = TimeDelta::hours(1);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn schedule(cron: &str, timezone: &str, created: &str) -> Schedule {
        let expression = ScheduleExpression::parse(cron).unwrap();
        Schedule {
            created_by: None,
            name: "nightly".into(),
            cron: cron.into(),
            expression: expression.expression().into(),
            timezone: timezone.into(),
            task: "sleep".into(),
            input: json!({"ms": 5}),
            created: at(created),
            generation: "g-1".into(),
            enabled: true,
            overlap: Overlap::Allow,
        }
    }

    fn utc(runs: Vec<DateTime<Tz>>) -> Vec<String> {
        runs.iter()
            .map(|t| t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .collect()
    }

    #[test]
    fn target_input_is_a_job_message_with_placeholders() {
        let s = schedule("0 7 * * MON", "Europe/Berlin", "2026-01-01T00:00:00Z");
        let input = s.target_input();
        assert!(
            input.contains(EXECUTION_ID_PLACEHOLDER) && input.contains(SCHEDULED_TIME_PLACEHOLDER),
            "{input}"
        );
        let message = JobMessage::parse(&s.message_for_run("e-1", at("2026-01-05T06:00:00Z"))).unwrap();
        let schedule = message.schedule.unwrap();
        assert_eq!(
            (schedule.name.as_str(), schedule.execution_id.as_str()),
            ("nightly", "e-1")
        );
        assert_eq!(schedule.scheduled_time, "2026-01-05T06:00:00Z");
        assert_eq!((message.task.as_str(), message.input), ("sleep", json!({"ms": 5})));
    }

    #[test]
    fn cron_runs_are_in_the_time_zone_and_after_creation() {
        let s = schedule("0 7 * * MON", "Europe/Berlin", "2026-01-06T00:00:00Z");
        let runs = s.runs_after(at("2026-01-01T00:00:00Z"), 2).unwrap();
        assert_eq!(utc(runs), ["2026-01-12T06:00:00Z", "2026-01-19T06:00:00Z"]);
        // Summer time: 07:00 in Berlin is 05:00 UTC.
        let runs = s.runs_after(at("2026-07-01T00:00:00Z"), 1).unwrap();
        assert_eq!(utc(runs), ["2026-07-06T05:00:00Z"]);
    }

    #[test]
    fn rate_runs_count_from_creation() {
        let s = schedule("rate(10 minutes)", "UTC", "2026-01-01T00:03:00Z");
        let runs = s.runs_after(at("2026-01-01T00:00:00Z"), 3).unwrap();
        assert_eq!(
            utc(runs),
            ["2026-01-01T00:03:00Z", "2026-01-01T00:13:00Z", "2026-01-01T00:23:00Z"]
        );
        let runs = s.runs_after(at("2026-01-01T00:03:00Z"), 1).unwrap();
        assert_eq!(utc(runs), ["2026-01-01T00:13:00Z"]);
        let runs = s.runs_after(at("2026-01-01T00:23:00Z"), 2).unwrap();
        assert_eq!(utc(runs), ["2026-01-01T00:33:00Z", "2026-01-01T00:43:00Z"]);
        let runs = s.runs_after(at("2026-01-01T00:24:59Z"), 1).unwrap();
        assert_eq!(utc(runs), ["2026-01-01T00:33:00Z"]);
    }

    #[test]
    fn names_follow_eventbridge_rules() {
        for ok in ["a", "job-1", "Nightly_report.v2", &"x".repeat(64)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "with space", "slash/name", "ümlaut", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
