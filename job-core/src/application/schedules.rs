//! Creating and updating (with the validation rules both share), reading, listing and
//! deleting schedules.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tracing::{info, warn};
use uuid::Uuid;

use crate::caller::{Caller, NotOwner};
use crate::cron::{CronError, ScheduleExpression, parse_timezone};
use crate::schedules::{
    ChangeLease, CopyGuard, MAX_PAGE, Overlap, RunPointer, RunRecord, Schedule, ScheduleChange, ScheduleCopy,
    ScheduleEntry, ScheduleError, ScheduleStore, expected_runs, is_valid_name, records, run_job_id,
};
use crate::store::{JobStore, StoreError};
use crate::tasks::{DEFAULT_TASK, TaskCatalog, ValidationError};

/// Longest accepted `cron` text (EventBridge's limit for an expression).
pub const MAX_CRON_LEN: usize = 256;
/// Run times shown for a new or looked-up schedule.
pub const PREVIEW_RUNS: usize = 5;
/// Largest target input EventBridge Scheduler accepts: the job message with the task input.
pub const MAX_TARGET_INPUT_BYTES: usize = 8192;

/// Schedules a deployment holds at most when `JOBS_MAX_SCHEDULES` is not set.
pub const DEFAULT_MAX_SCHEDULES: usize = 1_000;
/// Schedules per page of a listing when the request names no limit.
pub const DEFAULT_PAGE: u32 = 50;

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
    /// The deployment holds as many schedules as it may (`JOBS_MAX_SCHEDULES`).
    #[error(
        "this deployment holds its limit of {0} schedules (JOBS_MAX_SCHEDULES); delete one, or raise the limit, first"
    )]
    LimitReached(usize),
    /// The schedule was changed, but the change log could not be written: sending the
    /// same change again logs it.
    #[error("the schedule was updated, but its change could not be recorded ({0}); send the same change again")]
    ChangeNotLogged(StoreError),
    /// Turning on `forbid` or `replace`, the run still going under `allow` could not be
    /// looked up; nothing was changed.
    #[error("the schedule's unfinished run could not be looked up ({0}); nothing was changed, try again")]
    PreviousRunUnread(StoreError),
    /// Another change of the same schedule holds its change lease.
    #[error("schedule {0:?} is being changed by another request; read it again and send your change then")]
    Busy(String),
    /// The change lease could not be taken (or ran short); nothing was changed.
    #[error("the schedule's change lease could not be held ({0}); nothing was changed, try again")]
    Lease(StoreError),
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

/// A schedule's definition before the checks: what create and update both validate.
struct Draft {
    name: String,
    cron: String,
    timezone: String,
    task: String,
    input: Value,
    overlap: Overlap,
    enabled: bool,
    created: DateTime<Utc>,
    generation: String,
    created_by: Option<String>,
}

/// The rules every schedule meets, on create and on update alike: cron length and syntax,
/// time zone, task and input, that it ever runs, and the size of its job message.
fn validate(draft: Draft, tasks: &TaskCatalog, now: DateTime<Utc>) -> Result<Schedule, CreateScheduleError> {
    if draft.cron.len() > MAX_CRON_LEN {
        return Err(CreateScheduleError::CronTooLong(draft.cron.len()));
    }
    let expression = ScheduleExpression::parse(&draft.cron).map_err(CreateScheduleError::InvalidCron)?;
    let tz = parse_timezone(&draft.timezone).map_err(CreateScheduleError::InvalidTimezone)?;
    tasks.validate(&draft.task, &draft.input)?;
    let schedule = Schedule {
        name: draft.name,
        cron: expression.source().to_owned(),
        expression: expression.expression().to_owned(),
        timezone: tz.name().to_owned(),
        task: draft.task,
        input: draft.input,
        created: draft.created,
        generation: draft.generation,
        enabled: draft.enabled,
        overlap: draft.overlap,
        created_by: draft.created_by,
    };
    // Whether it ever runs, paused or not: a paused schedule may be resumed.
    if schedule.runs_after(now, 1).map_or(true, |runs| runs.is_empty()) {
        return Err(CreateScheduleError::NoFutureRuns {
            expression: schedule.expression,
            timezone: schedule.timezone,
        });
    }
    let size = schedule.target_input().len();
    if size > MAX_TARGET_INPUT_BYTES {
        return Err(CreateScheduleError::InputTooLarge(size));
    }
    Ok(schedule)
}

/// Checks the request ([`validate`]'s rules and the name) and that fewer than
/// `max_schedules` exist, creates the schedule and writes its copy for listings
/// ([`ScheduleCopy`]); returns it with its next runs.
///
/// The limit is counted from Scheduler's listing (at most `max_schedules / 100 + 1`
/// `ListSchedules` calls), so it never drifts; creations racing each other at the limit
/// may pass it by as many as are in flight.
pub async fn create_schedule(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    tasks: &TaskCatalog,
    caller: &Caller,
    request: CreateScheduleRequest,
    max_schedules: usize,
) -> Result<ScheduleRuns, CreateScheduleError> {
    let name = match request.name {
        Some(name) if is_valid_name(&name) => name,
        Some(name) => return Err(CreateScheduleError::InvalidName(name)),
        None => generated_name(),
    };
    let now = Utc::now();
    let draft = Draft {
        name,
        cron: request.cron,
        timezone: request.timezone.unwrap_or_else(|| "UTC".to_owned()),
        task: request.task.unwrap_or_else(|| DEFAULT_TASK.to_owned()),
        input: request.input,
        overlap: parse_overlap(request.overlap.as_deref())?,
        enabled: true,
        created: now,
        generation: Uuid::new_v4().to_string(),
        created_by: Some(caller.principal().to_owned()),
    };
    let schedule = validate(draft, tasks, now)?;
    let next_runs = upcoming(&schedule, PREVIEW_RUNS, now);
    if count_schedules(schedules, max_schedules).await? >= max_schedules {
        return Err(CreateScheduleError::LimitReached(max_schedules));
    }
    schedules.create(&schedule).await?;
    keep_copy(jobs, &schedule).await;
    info!(schedule = %schedule.name, expression = %schedule.expression, timezone = %schedule.timezone,
          task = %schedule.task, overlap = %schedule.overlap, by = %caller, "schedule created");
    Ok(ScheduleRuns { schedule, next_runs })
}

/// A change to a schedule: each field given replaces the schedule's, the others stay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateScheduleRequest {
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub task: Option<String>,
    pub input: Option<Value>,
    pub overlap: Option<String>,
    /// `false` pauses the schedule, `true` resumes it.
    pub enabled: Option<bool>,
}

/// Changes schedule `name` ([`ScheduleError::NotFound`] if there is none): the existing
/// definition overlaid with the request, checked by the same rules as a new schedule,
/// written back whole (Scheduler's `UpdateSchedule` replaces the definition), then the
/// change recorded with its time in the schedule's change log (`jobs`), so its history
/// can say when it was changed, paused and resumed.
///
/// Only the schedule's creator or an admin may change it ([`ScheduleError::NotOwner`],
/// before anything is written); the change log records who did (`by`).
///
/// All of it under the schedule's change lease ([`ChangeLease`]): a change sent while
/// another one of the same schedule is under way is [`CreateScheduleError::Busy`] and
/// changes nothing, so no change silently undoes another.
pub async fn update_schedule(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    tasks: &TaskCatalog,
    caller: &Caller,
    name: &str,
    request: UpdateScheduleRequest,
) -> Result<ScheduleRuns, CreateScheduleError> {
    if !is_valid_name(name) {
        return Err(CreateScheduleError::Schedules(ScheduleError::NotFound(name.to_owned())));
    }
    let lease = ChangeLease::new(name, Utc::now());
    match jobs.take_change_lease(&lease, Utc::now()).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(CreateScheduleError::Busy(name.to_owned())),
        Err(err) => return Err(CreateScheduleError::Lease(err)),
    }
    let updated = update_holding(schedules, jobs, tasks, caller, &lease, request).await;
    if let Err(err) = jobs.give_back_change_lease(&lease).await {
        warn!(schedule = %name, error = %err, "could not give the change lease back; it runs out by itself");
    }
    updated
}

async fn update_holding(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    tasks: &TaskCatalog,
    caller: &Caller,
    lease: &ChangeLease,
    request: UpdateScheduleRequest,
) -> Result<ScheduleRuns, CreateScheduleError> {
    let name = lease.schedule.as_str();
    let not_found = || CreateScheduleError::Schedules(ScheduleError::NotFound(name.to_owned()));
    let existing = schedules.get(name).await?.ok_or_else(not_found)?;
    if !caller.may_change(existing.created_by.as_deref()) {
        return Err(ScheduleError::from(NotOwner {
            what: format!("schedule {name:?}"),
            action: "change",
        })
        .into());
    }
    let overlap = match request.overlap.as_deref() {
        Some(text) => parse_overlap(Some(text))?,
        None => existing.overlap,
    };
    let now = Utc::now();
    let draft = Draft {
        name: existing.name.clone(),
        cron: request.cron.unwrap_or_else(|| existing.cron.clone()),
        timezone: request.timezone.unwrap_or_else(|| existing.timezone.clone()),
        task: request.task.unwrap_or_else(|| existing.task.clone()),
        input: request.input.unwrap_or_else(|| existing.input.clone()),
        overlap,
        enabled: request.enabled.unwrap_or(existing.enabled),
        created: existing.created,
        generation: existing.generation.clone(),
        created_by: existing.created_by.clone(),
    };
    let schedule = validate(draft, tasks, now)?;
    let change = ScheduleChange {
        by: Some(caller.principal().to_owned()),
        ..ScheduleChange::between(&existing, &schedule, now)
    };
    if !change.fields.is_empty() {
        if existing.overlap == Overlap::Allow && schedule.overlap != Overlap::Allow {
            seed_run_pointer(&existing, jobs, now)
                .await
                .map_err(CreateScheduleError::PreviousRunUnread)?;
        }
        if !lease.may_write(Utc::now()) {
            return Err(CreateScheduleError::Lease(StoreError::Unavailable(
                "reading the schedule took too long to still write it safely".into(),
            )));
        }
        schedules.update(&schedule).await?;
        keep_copy(jobs, &schedule).await;
        jobs.append_schedule_change(&schedule.name, &schedule.generation, &change)
            .await
            .map_err(|err| {
                warn!(schedule = %name, error = %err, "schedule updated, but its change could not be logged");
                CreateScheduleError::ChangeNotLogged(err)
            })?;
        info!(schedule = %name, fields = ?change.fields, enabled = schedule.enabled, by = %caller, "schedule updated");
    }
    let next_runs = upcoming(&schedule, PREVIEW_RUNS, now);
    Ok(ScheduleRuns { schedule, next_runs })
}

/// Runs looked at for an unfinished one when a schedule leaves `allow`.
pub const SEED_LOOK_BACK_RUNS: usize = MAX_HISTORY_RUNS;

/// Under `allow` runs move no run pointer, so when a schedule turns to `forbid` or
/// `replace` its pointer is pointed at the newest run still unfinished among the last
/// [`SEED_LOOK_BACK_RUNS`] expected ones (found by their derived ids, as the history
/// finds them): the first run under the new policy sees it as the previous run. Nothing
/// unfinished: no pointer is needed. Costs the change log, one `BatchGetItem` and at most
/// one conditional write.
///
/// Done before `UpdateSchedule`: a run of the old definition registered between the two
/// (milliseconds), or still queued when the policy changes, stays unknown to the pointer.
pub async fn seed_run_pointer(schedule: &Schedule, jobs: &dyn JobStore, now: DateTime<Utc>) -> Result<(), StoreError> {
    let changes = jobs.schedule_changes(&schedule.name, &schedule.generation).await?;
    let expected = expected_runs(schedule, &changes, now, SEED_LOOK_BACK_RUNS);
    if expected.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = expected.iter().map(|&t| run_job_id(schedule, t)).collect();
    let found = jobs.get_many(&ids).await?;
    // Newest first, as expected.
    let unfinished = expected
        .iter()
        .zip(&ids)
        .find(|(_, id)| found.iter().any(|job| job.job_id == **id && !job.status.is_terminal()));
    let Some((&scheduled_time, &run_id)) = unfinished else {
        return Ok(());
    };
    let to = RunPointer { run_id, scheduled_time };
    let moved = jobs.seed_run_pointer(&schedule.name, &schedule.generation, &to).await?;
    info!(schedule = %schedule.name, %run_id, moved, "run pointer pointed at the unfinished run of allow");
    Ok(())
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

/// Expected runs shown by default in a schedule's history.
pub const HISTORY_RUNS: usize = 10;
/// Most expected runs a history shows (one `BatchGetItem` reads their jobs).
pub const MAX_HISTORY_RUNS: usize = 100;

/// A schedule with its next runs and its history.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleHistory {
    pub schedule: ScheduleRuns,
    /// The last expected runs, newest first, each next to its job (or missed).
    pub runs: Vec<RunRecord>,
    /// Every change, oldest first.
    pub changes: Vec<ScheduleChange>,
}

/// Why a history was not read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("runs is {0}; ask for 1 to {MAX_HISTORY_RUNS}")]
    InvalidRuns(usize),
    #[error(transparent)]
    Schedules(#[from] ScheduleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The schedule named `name` with the last `runs` expected runs before `now` (computed
/// from the expression and time zone in force at each time, none while paused), each next
/// to the job it produced (a run without a job `grace` after its time is `missed`), and
/// its change log. `None` if there is no such schedule.
///
/// Costs three requests for up to 100 runs: `GetSchedule`, the change log (`GetItem`) and
/// the runs' jobs by their derived ids (one `BatchGetItem`).
pub async fn schedule_history(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    name: &str,
    runs: usize,
    now: DateTime<Utc>,
    grace: TimeDelta,
) -> Result<Option<ScheduleHistory>, HistoryError> {
    if !(1..=MAX_HISTORY_RUNS).contains(&runs) {
        return Err(HistoryError::InvalidRuns(runs));
    }
    if !is_valid_name(name) {
        return Ok(None);
    }
    let Some(schedule) = schedules.get(name).await? else {
        return Ok(None);
    };
    history_of(schedule, jobs, runs, now, grace).await.map(Some)
}

/// [`schedule_history`] of a schedule already read: two requests (the change log, the jobs).
pub async fn history_of(
    schedule: Schedule,
    jobs: &dyn JobStore,
    runs: usize,
    now: DateTime<Utc>,
    grace: TimeDelta,
) -> Result<ScheduleHistory, HistoryError> {
    let changes = jobs.schedule_changes(&schedule.name, &schedule.generation).await?;
    let expected = expected_runs(&schedule, &changes, now, runs);
    let ids: Vec<Uuid> = expected.iter().map(|&t| run_job_id(&schedule, t)).collect();
    let found = if ids.is_empty() {
        Vec::new()
    } else {
        jobs.get_many(&ids).await?
    };
    let runs = records(&schedule, &expected, found, now, grace);
    let next_runs = upcoming(&schedule, PREVIEW_RUNS, now);
    Ok(ScheduleHistory {
        schedule: ScheduleRuns { schedule, next_runs },
        runs,
        changes,
    })
}

/// The log message of the missed-runs count.
pub use crate::log_lines::MISSED_RUNS_MESSAGE;

/// Runs flagged missed among each schedule's last [`HISTORY_RUNS`] expected runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissedRuns {
    pub total: usize,
    /// Schedules with at least one, by name.
    pub by_schedule: Vec<(String, usize)>,
}

/// Counts the missed runs of every schedule (a gauge: a missed run counts while it is
/// among its schedule's last [`HISTORY_RUNS`] expected runs), each run given `grace`
/// after its time to get its job. Costs the listing (one
/// `ListSchedules` per 100 schedules and a `GetSchedule` each) and two requests per
/// schedule (its change log and one `BatchGetItem`).
pub async fn missed_runs(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    now: DateTime<Utc>,
    grace: TimeDelta,
) -> Result<MissedRuns, HistoryError> {
    let mut missed = MissedRuns::default();
    for schedule in schedules.list().await? {
        let name = schedule.name.clone();
        let history = history_of(schedule, jobs, HISTORY_RUNS, now, grace).await?;
        let count = history.runs.iter().filter(|r| r.missed()).count();
        if count > 0 {
            missed.total += count;
            missed.by_schedule.push((name, count));
        }
    }
    Ok(missed)
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

/// How many schedules there are, counted up to `up_to` (pages of [`MAX_PAGE`]).
pub async fn count_schedules(schedules: &dyn ScheduleStore, up_to: usize) -> Result<usize, ScheduleError> {
    let mut count = 0;
    let mut token: Option<String> = None;
    loop {
        let page = schedules.page(MAX_PAGE, token.as_deref()).await?;
        count += page.entries.len();
        match page.next {
            Some(next) if count < up_to => token = Some(next),
            _ => return Ok(count),
        }
    }
}

/// One page of schedules, each with its next run, and the token of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulesPage {
    pub schedules: Vec<ScheduleRuns>,
    pub next: Option<String>,
}

/// One page of at most `limit` schedules from `token`: one `ListSchedules` call and one
/// `BatchGetItem` of their copies. A copy older than Scheduler's last change of its
/// schedule, or missing, is read from Scheduler (one `GetSchedule`) and written anew, so a
/// copy write that failed costs one read on the next listing, never a wrong row. A schedule
/// deleted since the listing, or one in the group that is not a job schedule, is left out.
pub async fn list_schedules_page(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    limit: u32,
    token: Option<&str>,
) -> Result<SchedulesPage, ScheduleError> {
    let page = schedules.page(limit, token).await?;
    let names: Vec<String> = page.entries.iter().map(|e| e.name.clone()).collect();
    let copies = jobs
        .schedule_copies(&names)
        .await
        .map_err(|err| ScheduleError::Unavailable(format!("the schedules' copies could not be read: {err}")))?;
    let now = Utc::now();
    let mut listed = Vec::with_capacity(page.entries.len());
    for entry in &page.entries {
        let copy = copies.iter().find(|c| c.schedule.name == entry.name);
        let schedule = match copy.filter(|c| c.is_current(entry)) {
            Some(current) => Schedule {
                enabled: entry.enabled,
                ..current.schedule.clone()
            },
            None => match read_again(schedules, jobs, entry, copy.map(|c| c.written_at)).await? {
                Some(schedule) => schedule,
                None => continue,
            },
        };
        let next_runs = upcoming(&schedule, 1, now);
        listed.push(ScheduleRuns { schedule, next_runs });
    }
    Ok(SchedulesPage {
        schedules: listed,
        next: page.next,
    })
}

/// A schedule whose copy is stale or missing, read from Scheduler; its copy is written
/// as of the listing's modification time, over the stale one only (a copy written
/// meanwhile by a change stays).
async fn read_again(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    entry: &ScheduleEntry,
    stale: Option<DateTime<Utc>>,
) -> Result<Option<Schedule>, ScheduleError> {
    let schedule = match schedules.get(&entry.name).await {
        Ok(Some(schedule)) => schedule,
        Ok(None) => return Ok(None),
        Err(ScheduleError::Other(reason)) => {
            warn!(schedule = %entry.name, %reason, "leaving out a schedule that is not a job schedule");
            return Ok(None);
        }
        Err(err) => return Err(err),
    };
    let copy = ScheduleCopy {
        schedule: schedule.clone(),
        written_at: entry.modified,
    };
    match jobs.put_schedule_copy(&copy, CopyGuard::Over(stale)).await {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(err) => {
            warn!(schedule = %entry.name, error = %err, "could not write the schedule's copy; the next listing reads it again")
        }
    }
    Ok(Some(schedule))
}

/// Writes the copy of a schedule just created or changed; a failure only costs the next
/// listing a read from Scheduler.
async fn keep_copy(jobs: &dyn JobStore, schedule: &Schedule) {
    let copy = ScheduleCopy {
        schedule: schedule.clone(),
        written_at: Utc::now(),
    };
    if let Err(err) = jobs.put_schedule_copy(&copy, CopyGuard::Any).await {
        warn!(schedule = %schedule.name, error = %err, "schedule saved, but not its copy for listings; the next listing reads it from the scheduler");
    }
}

/// Deletes the schedule named `name` for `caller`, its creator or an admin
/// ([`ScheduleError::NotOwner`] otherwise, and nothing is deleted);
/// [`ScheduleError::NotFound`] if there is none. Jobs it already queued still run.
pub async fn delete_schedule(
    schedules: &dyn ScheduleStore,
    jobs: &dyn JobStore,
    caller: &Caller,
    name: &str,
) -> Result<(), ScheduleError> {
    if !is_valid_name(name) {
        return Err(ScheduleError::NotFound(name.to_owned()));
    }
    // Admins skip the read: their delete is one call, as before owners were checked.
    if !caller.is_admin() {
        let existing = schedules
            .get(name)
            .await?
            .ok_or_else(|| ScheduleError::NotFound(name.to_owned()))?;
        if !caller.may_change(existing.created_by.as_deref()) {
            return Err(NotOwner {
                what: format!("schedule {name:?}"),
                action: "delete",
            }
            .into());
        }
    }
    schedules.delete(name).await?;
    // A copy left behind is never read: listings go by Scheduler's names, and a schedule
    // created again under the name writes its own.
    if let Err(err) = jobs.delete_schedule_copy(name).await {
        warn!(schedule = %name, error = %err, "schedule deleted, but not its copy");
    }
    info!(schedule = %name, by = %caller, "schedule deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::application::scheduled_run::{Registered, register_run};
    use crate::job::{FirstClaim, FirstClaimed, Job, JobSource};
    use crate::message::{JobMessage, ScheduleRef};
    use crate::schedules::{CHANGE_LEASE, MISSED_AFTER, MemoryScheduleStore, Timing};
    use crate::store::MemoryStore;
    use crate::tasks::catalog;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn hourly(name: &str) -> Schedule {
        Schedule {
            created_by: None,
            name: name.into(),
            cron: "0 * * * *".into(),
            expression: "cron(0 * * * ? *)".into(),
            timezone: "UTC".into(),
            task: "sleep".into(),
            input: json!({"ms": 1}),
            created: at("2026-01-05T00:30:00Z"),
            generation: format!("g-{name}"),
            enabled: true,
            overlap: Overlap::Allow,
        }
    }

    async fn ran(jobs: &MemoryStore, schedule: &Schedule, time: &str) {
        let time = at(time);
        let job = Job::new(
            run_job_id(schedule, time),
            "sleep",
            json!({}),
            3,
            JobSource::Api,
            None,
            time + TimeDelta::seconds(1),
        );
        jobs.apply(&job.register()).await.unwrap();
    }

    #[tokio::test]
    async fn missed_runs_are_counted_per_schedule_and_a_paused_period_counts_none() {
        let (schedules, jobs) = (MemoryScheduleStore::new(), MemoryStore::new());
        let now = at("2026-01-05T04:30:00Z");
        // Every run ran.
        let fine = hourly("fine");
        schedules.create(&fine).await.unwrap();
        for t in ["01", "02", "03", "04"] {
            ran(&jobs, &fine, &format!("2026-01-05T{t}:00:00Z")).await;
        }
        // 02:00 suppressed on purpose.
        let gap = hourly("gap");
        schedules.create(&gap).await.unwrap();
        for t in ["01", "03", "04"] {
            ran(&jobs, &gap, &format!("2026-01-05T{t}:00:00Z")).await;
        }
        // Paused from 01:30 to 03:30: 02:00 and 03:00 were not expected.
        let paused = hourly("paused");
        schedules.create(&paused).await.unwrap();
        let on = Timing::of(&paused);
        let off = Timing {
            enabled: false,
            ..on.clone()
        };
        for (time, before, after) in [("2026-01-05T01:30:00Z", &on, &off), ("2026-01-05T03:30:00Z", &off, &on)] {
            let change = ScheduleChange {
                by: None,
                at: at(time),
                fields: vec!["enabled".into()],
                before: before.clone(),
                after: after.clone(),
            };
            jobs.append_schedule_change("paused", &paused.generation, &change)
                .await
                .unwrap();
        }
        for t in ["01", "04"] {
            ran(&jobs, &paused, &format!("2026-01-05T{t}:00:00Z")).await;
        }
        let missed = missed_runs(&schedules, &jobs, now, MISSED_AFTER).await.unwrap();
        assert_eq!(
            missed,
            MissedRuns {
                total: 1,
                by_schedule: vec![("gap".into(), 1)]
            }
        );
        let history = schedule_history(&schedules, &jobs, "gap", 10, now, MISSED_AFTER)
            .await
            .unwrap()
            .unwrap();
        let missed_at: Vec<_> = history
            .runs
            .iter()
            .filter(|r| r.missed())
            .map(|r| r.scheduled_for)
            .collect();
        assert_eq!(missed_at, [at("2026-01-05T02:00:00Z")]);
        assert!(matches!(
            schedule_history(&schedules, &jobs, "gap", 0, now, MISSED_AFTER).await,
            Err(HistoryError::InvalidRuns(0))
        ));
        assert!(
            schedule_history(&schedules, &jobs, "absent", 10, now, MISSED_AFTER)
                .await
                .unwrap()
                .is_none()
        );
    }

    /// A run of `schedule` at `time` registered as the worker does, under the policy its message carries.
    async fn deliver(jobs: &MemoryStore, schedule: &Schedule, time: DateTime<Utc>, overlap: Overlap) -> Registered {
        let reference = ScheduleRef {
            created_by: None,
            name: schedule.name.clone(),
            generation: Some(schedule.generation.clone()),
            overlap: (overlap != Overlap::Allow).then_some(overlap),
            execution_id: format!("exec-{time}"),
            scheduled_time: time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let message = JobMessage::parse(&schedule.message_for_run(&reference.execution_id, time)).unwrap();
        register_run(jobs, &message, &reference, 3).await.unwrap().1
    }

    async fn switch_to(overlap: Overlap, run_finished: bool) -> (MemoryStore, Schedule, Registered) {
        let (schedules, jobs) = (MemoryScheduleStore::new(), MemoryStore::new());
        let now = Utc::now();
        let mut schedule = hourly("switch");
        schedule.created = now - TimeDelta::hours(3);
        schedules.create(&schedule).await.unwrap();
        // The latest run, started under allow (it keeps no pointer), still going or done.
        let latest = expected_runs(&schedule, &[], now, 1)[0];
        assert_eq!(
            deliver(&jobs, &schedule, latest, Overlap::Allow).await,
            Registered::Queued
        );
        let id = run_job_id(&schedule, latest);
        let claim = FirstClaim::new(id, "w1", now, std::time::Duration::from_secs(30));
        assert!(matches!(
            jobs.claim_first(&claim).await.unwrap(),
            FirstClaimed::Claimed(_)
        ));
        if run_finished {
            let job = jobs.get(id).await.unwrap().unwrap();
            jobs.apply(&job.succeed("w1", json!(1), now)).await.unwrap();
        }
        assert!(
            jobs.run_pointer("switch", &schedule.generation)
                .await
                .unwrap()
                .is_none()
        );

        let change = UpdateScheduleRequest {
            overlap: Some(overlap.as_str().into()),
            ..Default::default()
        };
        let updated = update_schedule(&schedules, &jobs, &catalog(), &Caller::admin("test"), "switch", change)
            .await
            .unwrap()
            .schedule;
        assert_eq!(updated.overlap, overlap);
        // The next run, delivered under the new policy.
        let next = deliver(&jobs, &updated, latest + TimeDelta::hours(1), overlap).await;
        (jobs, updated, next)
    }

    #[tokio::test]
    async fn a_run_started_under_allow_is_the_previous_run_once_forbid_is_on() {
        let (jobs, schedule, next) = switch_to(Overlap::Forbid, false).await;
        assert!(
            matches!(&next, Registered::Skipped(why) if why.contains("RUNNING")),
            "{next:?}"
        );
        let pointer = jobs.run_pointer("switch", &schedule.generation).await.unwrap().unwrap();
        let latest = expected_runs(&schedule, &[], Utc::now(), 1)[0];
        assert_eq!(pointer.run_id, run_job_id(&schedule, latest));
    }

    #[tokio::test]
    async fn a_run_started_under_allow_is_replaced_once_replace_is_on() {
        let (jobs, schedule, next) = switch_to(Overlap::Replace, false).await;
        assert_eq!(next, Registered::Queued);
        let latest = expected_runs(&schedule, &[], Utc::now(), 1)[0];
        let previous = jobs.get(run_job_id(&schedule, latest)).await.unwrap().unwrap();
        assert!(previous.cancel_requested_at.is_some(), "{previous:?}");
    }

    #[tokio::test]
    async fn a_finished_run_of_allow_leaves_no_pointer_and_the_next_run_runs() {
        let (jobs, schedule, next) = switch_to(Overlap::Forbid, true).await;
        assert_eq!(next, Registered::Queued);
        let pointer = jobs.run_pointer("switch", &schedule.generation).await.unwrap().unwrap();
        assert_ne!(
            pointer.run_id,
            run_job_id(&schedule, expected_runs(&schedule, &[], Utc::now(), 1)[0])
        );
    }

    #[tokio::test]
    async fn a_seed_never_moves_the_pointer_back() {
        let jobs = MemoryStore::new();
        let later = RunPointer {
            run_id: Uuid::from_u128(2),
            scheduled_time: at("2026-01-05T02:00:00Z"),
        };
        let earlier = RunPointer {
            run_id: Uuid::from_u128(1),
            scheduled_time: at("2026-01-05T01:00:00Z"),
        };
        assert!(jobs.seed_run_pointer("s", "g", &earlier).await.unwrap());
        assert!(jobs.seed_run_pointer("s", "g", &later).await.unwrap());
        assert!(!jobs.seed_run_pointer("s", "g", &earlier).await.unwrap());
        assert_eq!(jobs.run_pointer("s", "g").await.unwrap(), Some(later));
    }

    #[tokio::test]
    async fn a_change_while_another_holds_the_lease_is_busy_and_changes_nothing() {
        let (schedules, jobs) = (MemoryScheduleStore::new(), MemoryStore::new());
        let mut schedule = hourly("leased");
        schedule.created = Utc::now() - TimeDelta::hours(1);
        schedules.create(&schedule).await.unwrap();
        let pause = || UpdateScheduleRequest {
            enabled: Some(false),
            ..Default::default()
        };
        let other = ChangeLease::new("leased", Utc::now());
        jobs.take_change_lease(&other, Utc::now()).await.unwrap();
        let err = update_schedule(&schedules, &jobs, &catalog(), &Caller::admin("test"), "leased", pause())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CreateScheduleError::Busy(name) if name == "leased"),
            "{err}"
        );
        assert!(err.to_string().contains("being changed"), "{err}");
        assert!(schedules.get("leased").await.unwrap().unwrap().enabled, "unchanged");
        assert!(
            jobs.schedule_changes("leased", &schedule.generation)
                .await
                .unwrap()
                .is_empty()
        );

        // Given back, the change goes through, and gives the lease back itself.
        jobs.give_back_change_lease(&other).await.unwrap();
        update_schedule(&schedules, &jobs, &catalog(), &Caller::admin("test"), "leased", pause())
            .await
            .unwrap();
        let resume = UpdateScheduleRequest {
            enabled: Some(true),
            ..Default::default()
        };
        update_schedule(&schedules, &jobs, &catalog(), &Caller::admin("test"), "leased", resume)
            .await
            .unwrap();
        assert_eq!(
            jobs.schedule_changes("leased", &schedule.generation)
                .await
                .unwrap()
                .len(),
            2
        );

        // A lease whose time is over (its holder crashed) blocks nobody.
        let crashed = ChangeLease::new("leased", Utc::now() - CHANGE_LEASE - TimeDelta::seconds(1));
        jobs.take_change_lease(&crashed, crashed.until - TimeDelta::seconds(1))
            .await
            .unwrap();
        update_schedule(&schedules, &jobs, &catalog(), &Caller::admin("test"), "leased", pause())
            .await
            .unwrap();
        // The memory store refuses another live holder, and lets a holder renew its own.
        let live = ChangeLease::new("leased", Utc::now());
        jobs.take_change_lease(&live, Utc::now()).await.unwrap();
        jobs.take_change_lease(&live, Utc::now()).await.unwrap();
        let rival = ChangeLease::new("leased", Utc::now());
        assert!(matches!(
            jobs.take_change_lease(&rival, Utc::now()).await,
            Err(StoreError::Conflict)
        ));
    }

    /// Scheduler in memory, counting the reads of single schedules.
    #[derive(Default)]
    struct CountingGets {
        inner: MemoryScheduleStore,
        gets: std::sync::atomic::AtomicUsize,
    }

    impl CountingGets {
        fn gets(&self) -> usize {
            self.gets.swap(0, std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl ScheduleStore for CountingGets {
        async fn create(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
            self.inner.create(schedule).await
        }
        async fn get(&self, name: &str) -> Result<Option<Schedule>, ScheduleError> {
            self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.get(name).await
        }
        async fn list(&self) -> Result<Vec<Schedule>, ScheduleError> {
            self.inner.list().await
        }
        async fn page(&self, limit: u32, token: Option<&str>) -> Result<crate::schedules::EntryPage, ScheduleError> {
            self.inner.page(limit, token).await
        }
        async fn update(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
            self.inner.update(schedule).await
        }
        async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
            self.inner.delete(name).await
        }
    }

    fn request(name: &str) -> CreateScheduleRequest {
        CreateScheduleRequest {
            cron: "0 7 * * MON".into(),
            task: Some("sleep".into()),
            input: json!({"ms": 5}),
            timezone: None,
            name: Some(name.into()),
            overlap: None,
        }
    }

    async fn every_page(schedules: &dyn ScheduleStore, jobs: &dyn JobStore, limit: u32) -> Vec<Vec<Schedule>> {
        let mut pages = Vec::new();
        let mut token = None;
        loop {
            let page = list_schedules_page(schedules, jobs, limit, token.as_deref())
                .await
                .unwrap();
            pages.push(page.schedules.into_iter().map(|s| s.schedule).collect());
            match page.next {
                Some(next) => token = Some(next),
                None => return pages,
            }
        }
    }

    #[tokio::test]
    async fn pages_of_schedules_read_their_copies_not_each_schedule() {
        let (schedules, jobs, tasks) = (CountingGets::default(), MemoryStore::new(), catalog());
        for name in ["a", "b", "c", "d", "e"] {
            create_schedule(&schedules, &jobs, &tasks, &Caller::admin("test"), request(name), 10)
                .await
                .unwrap();
        }
        let pages = every_page(&schedules, &jobs, 2).await;
        let names: Vec<Vec<&str>> = pages
            .iter()
            .map(|p| p.iter().map(|s| s.name.as_str()).collect())
            .collect();
        assert_eq!(names, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
        assert_eq!(pages[0][0].input, json!({"ms": 5}));
        assert_eq!(schedules.gets(), 0, "every copy was current");
    }

    #[tokio::test]
    async fn a_copy_that_was_not_written_or_fell_behind_is_read_again_and_written_anew() {
        let schedules = CountingGets::default();
        let jobs = crate::store::faulty::FaultyStore::new(MemoryStore::new());
        let tasks = catalog();
        jobs.refuse_copy_writes(true);
        create_schedule(&schedules, &jobs, &tasks, &Caller::admin("test"), request("lost"), 10)
            .await
            .unwrap();
        jobs.refuse_copy_writes(false);
        create_schedule(&schedules, &jobs, &tasks, &Caller::admin("test"), request("kept"), 10)
            .await
            .unwrap();
        // Changed behind the copy's back (as an update whose copy write failed).
        let mut changed = schedules.inner.get("kept").await.unwrap().unwrap();
        changed.task = "process-data".into();
        std::thread::sleep(std::time::Duration::from_millis(2));
        schedules.inner.update(&changed).await.unwrap();

        let listed = &every_page(&schedules, &jobs, 10).await[0];
        let shown: Vec<(&str, &str)> = listed.iter().map(|s| (s.name.as_str(), s.task.as_str())).collect();
        assert_eq!(shown, [("kept", "process-data"), ("lost", "sleep")]);
        assert_eq!(
            schedules.gets(),
            2,
            "one read for the missing copy, one for the stale one"
        );
        every_page(&schedules, &jobs, 10).await;
        assert_eq!(schedules.gets(), 0, "both copies were written anew");
    }

    #[tokio::test]
    async fn a_repair_never_replaces_a_copy_written_after_the_listing() {
        let jobs = MemoryStore::new();
        let newer = ScheduleCopy {
            schedule: hourly("s"),
            written_at: at("2026-01-05T02:00:00Z"),
        };
        jobs.put_schedule_copy(&newer, CopyGuard::Any).await.unwrap();
        let older = ScheduleCopy {
            written_at: at("2026-01-05T01:00:00Z"),
            ..newer.clone()
        };
        for seen in [None, Some(at("2026-01-05T01:30:00Z"))] {
            let refused = jobs.put_schedule_copy(&older, CopyGuard::Over(seen)).await;
            assert!(matches!(refused, Err(StoreError::Conflict)), "{seen:?}: {refused:?}");
        }
        let held = jobs.schedule_copies(&["s".to_owned()]).await.unwrap();
        assert_eq!(held, [newer]);
    }

    #[tokio::test]
    async fn the_schedule_limit_refuses_one_more_and_a_deletion_makes_room() {
        let (schedules, jobs, tasks) = (MemoryScheduleStore::new(), MemoryStore::new(), catalog());
        for name in ["one", "two"] {
            create_schedule(&schedules, &jobs, &tasks, &Caller::admin("test"), request(name), 2)
                .await
                .unwrap();
        }
        let refused = create_schedule(&schedules, &jobs, &tasks, &Caller::admin("test"), request("three"), 2).await;
        assert!(
            matches!(refused, Err(CreateScheduleError::LimitReached(2))),
            "{refused:?}"
        );
        assert!(refused.unwrap_err().to_string().contains("JOBS_MAX_SCHEDULES"));
        assert_eq!(schedules.get("three").await.unwrap(), None);
        delete_schedule(&schedules, &jobs, &Caller::admin("test"), "one")
            .await
            .unwrap();
        assert!(
            jobs.schedule_copies(&["one".to_owned()]).await.unwrap().is_empty(),
            "copy deleted too"
        );
        create_schedule(&schedules, &jobs, &tasks, &Caller::admin("test"), request("three"), 2)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn counting_schedules_reads_pages_only_up_to_the_limit() {
        let schedules = MemoryScheduleStore::new();
        for i in 0..250 {
            schedules.create(&hourly(&format!("s{i:03}"))).await.unwrap();
        }
        assert_eq!(count_schedules(&schedules, 1_000).await.unwrap(), 250);
        assert_eq!(
            count_schedules(&schedules, 100).await.unwrap(),
            100,
            "stops after the page that reached it"
        );
    }
}
