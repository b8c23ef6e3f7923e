//! Creating (with the validation rules), reading, listing and deleting schedules.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tracing::info;
use uuid::Uuid;

use crate::cron::{CronError, ScheduleExpression, parse_timezone};
use crate::schedules::{Overlap, Schedule, ScheduleError, ScheduleStore, is_valid_name};
use crate::tasks::{DEFAULT_TASK, TaskCatalog, ValidationError};

/// Longest accepted `cron` text (EventBridge's limit for an expression).
pub const MAX_CRON_LEN: usize = 256;
/// Run times shown for a new or looked-up schedule.
pub const PREVIEW_RUNS: usize = 5;
/// Largest target input EventBridge Scheduler accepts: the job message with the task input.
pub const MAX_TARGET_INPUT_BYTES: usize = 8192;

/// A request for a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateScheduleRequest {
    /// Unix 5-field cron, or EventBridge `cron(6 fields)` or `rate(value unit)`.
    pub cron: String,
    /// Task to run ([`DEFAULT_TASK`] when absent).
    pub task: Option<String>,
    pub input: Value,
    /// IANA time zone (`UTC` when absent).
    pub timezone: Option<String>,
    /// Generated (`job-…`) when absent.
    pub name: Option<String>,
    /// `allow` (when absent), `forbid` or `replace`.
    pub overlap: Option<String>,
}

/// A schedule with its next run times, in its time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRuns {
    pub schedule: Schedule,
    pub next_runs: Vec<DateTime<Tz>>,
}

/// Why a schedule was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateScheduleError {
    #[error("name {0:?} is invalid: use 1 to 64 of the characters 0-9 a-z A-Z - _ .")]
    InvalidName(String),
    #[error("cron is {0} characters long; at most {MAX_CRON_LEN} are allowed")]
    CronTooLong(usize),
    #[error("{0}")]
    InvalidCron(CronError),
    #[error("{0}")]
    InvalidTimezone(CronError),
    /// Unknown task, or input that does not fit it.
    #[error(transparent)]
    Task(#[from] ValidationError),
    #[error("overlap is {0:?}; use one of allow, forbid, replace")]
    InvalidOverlap(String),
    #[error("{expression} has no run after now in {timezone}; it would never fire")]
    NoFutureRuns { expression: String, timezone: String },
    #[error(
        "the schedule's job message would be {0} bytes; schedules carry at most {MAX_TARGET_INPUT_BYTES}: make the input smaller"
    )]
    InputTooLarge(usize),
    #[error(transparent)]
    Schedules(#[from] ScheduleError),
}

/// The next `n` runs after `now`; none for a disabled schedule or one that cannot be evaluated.
pub fn upcoming(schedule: &Schedule, n: usize, now: DateTime<Utc>) -> Vec<DateTime<Tz>> {
    if !schedule.enabled {
        return Vec::new();
    }
    schedule.runs_after(now, n).unwrap_or_default()
}

/// The overlap policy named `text` ([`Overlap::Allow`] when absent).
pub fn parse_overlap(text: Option<&str>) -> Result<Overlap, CreateScheduleError> {
    match text {
        None => Ok(Overlap::Allow),
        Some(text) => Overlap::parse(text).ok_or_else(|| CreateScheduleError::InvalidOverlap(text.to_owned())),
    }
}

fn generated_name() -> String {
    format!("job-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// Checks the request (name, cron, time zone, task and input, that it ever runs, the size
/// of its job message) and creates the schedule; returns it with its next runs.
pub async fn create_schedule(
    schedules: &dyn ScheduleStore,
    tasks: &TaskCatalog,
    request: CreateScheduleRequest,
) -> Result<ScheduleRuns, CreateScheduleError> {
    let name = match request.name {
        Some(name) if is_valid_name(&name) => name,
        Some(name) => return Err(CreateScheduleError::InvalidName(name)),
        None => generated_name(),
    };
    if request.cron.len() > MAX_CRON_LEN {
        return Err(CreateScheduleError::CronTooLong(request.cron.len()));
    }
    let expression = ScheduleExpression::parse(&request.cron).map_err(CreateScheduleError::InvalidCron)?;
    let tz =
        parse_timezone(request.timezone.as_deref().unwrap_or("UTC")).map_err(CreateScheduleError::InvalidTimezone)?;
    let task = request.task.unwrap_or_else(|| DEFAULT_TASK.to_owned());
    tasks.validate(&task, &request.input)?;
    let overlap = parse_overlap(request.overlap.as_deref())?;

    let now = Utc::now();
    let schedule = Schedule {
        name,
        cron: expression.source().to_owned(),
        expression: expression.expression().to_owned(),
        timezone: tz.name().to_owned(),
        task,
        input: request.input,
        created: now,
        generation: Uuid::new_v4().to_string(),
        enabled: true,
        overlap,
    };
    let next_runs = upcoming(&schedule, PREVIEW_RUNS, now);
    if next_runs.is_empty() {
        return Err(CreateScheduleError::NoFutureRuns {
            expression: schedule.expression,
            timezone: schedule.timezone,
        });
    }
    let size = schedule.target_input().len();
    if size > MAX_TARGET_INPUT_BYTES {
        return Err(CreateScheduleError::InputTooLarge(size));
    }
    schedules.create(&schedule).await?;
    info!(schedule = %schedule.name, expression = %schedule.expression, timezone = %schedule.timezone,
          task = %schedule.task, "schedule created");
    Ok(ScheduleRuns { schedule, next_runs })
}

/// The schedule named `name` with its next runs; `None` if there is none (or the name is
/// not a valid schedule name).
pub async fn get_schedule(schedules: &dyn ScheduleStore, name: &str) -> Result<Option<ScheduleRuns>, ScheduleError> {
    if !is_valid_name(name) {
        return Ok(None);
    }
    Ok(schedules.get(name).await?.map(|schedule| {
        let next_runs = upcoming(&schedule, PREVIEW_RUNS, Utc::now());
        ScheduleRuns { schedule, next_runs }
    }))
}

/// Every schedule, sorted by name, each with its next run (if any).
pub async fn list_schedules(schedules: &dyn ScheduleStore) -> Result<Vec<ScheduleRuns>, ScheduleError> {
    let now = Utc::now();
    Ok(schedules
        .list()
        .await?
        .into_iter()
        .map(|schedule| {
            let next_runs = upcoming(&schedule, 1, now);
            ScheduleRuns { schedule, next_runs }
        })
        .collect())
}

/// Deletes the schedule named `name`; [`ScheduleError::NotFound`] if there is none.
/// Jobs it already queued still run.
pub async fn delete_schedule(schedules: &dyn ScheduleStore, name: &str) -> Result<(), ScheduleError> {
    if !is_valid_name(name) {
        return Err(ScheduleError::NotFound(name.to_owned()));
    }
    schedules.delete(name).await?;
    info!(schedule = %name, "schedule deleted");
    Ok(())
}
