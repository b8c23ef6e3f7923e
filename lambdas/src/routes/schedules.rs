//! `POST /jobs/schedule` (create), `GET /jobs/schedules` (list), `GET /jobs/schedules/{name}`
//! (look up, with its run history), `PATCH /jobs/schedules/{name}` (change, pause, resume)
//! and `DELETE /jobs/schedules/{name}` (remove).
//!
//! A schedule queues a job at each run of its cron expression, evaluated in its time zone.
//! Unix 5-field crons are converted to EventBridge's 6-field form; the responses show the
//! cron as given, the converted expression and the next run times. The rules a schedule
//! must meet are in `job_core::application::schedules`; this is the HTTP side.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use job_core::Caller;
use job_core::application::schedules::{self as use_case, CreateScheduleRequest, ScheduleRuns, UpdateScheduleRequest};
use job_core::job::JobStatus;
use job_core::schedules::{MAX_PAGE, Overlap, RunRecord, RunState, Schedule, ScheduleChange, ScheduleStore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, object_or_null};
use crate::state::{AppState, SCHEDULER_ROLE_VAR};

/// The body of `POST /jobs/schedule`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSchedule {
    /// Unix 5-field cron (`0 7 * * MON`), or EventBridge `cron(6 fields)` or `rate(value unit)`.
    #[schema(example = "0 7 * * MON")]
    pub cron: String,
    /// Task to run (default `process-data`).
    pub task: Option<String>,
    /// The task's input, whose fields the task defines; absent or `null` for none.
    #[serde(default, deserialize_with = "object_or_null")]
    #[schema(value_type = Option<Object>)]
    pub input: Value,
    /// IANA time zone the cron is evaluated in (default `UTC`).
    #[schema(example = "Europe/Berlin")]
    pub timezone: Option<String>,
    /// 1 to 64 of `0-9 a-z A-Z - _ .`; generated (`job-…`) when absent.
    #[schema(pattern = "^[0-9A-Za-z._-]{1,64}$")]
    pub name: Option<String>,
    /// What a run does while the previous run of this schedule is not finished:
    /// `allow` (default) runs it anyway, `forbid` records it SKIPPED, `replace` cancels
    /// the previous run and runs the new one.
    #[schema(value_type = Option<Overlap>)]
    pub overlap: Option<String>,
}

/// The body of `PATCH /jobs/schedules/{name}`: each field given replaces the schedule's;
/// the result is checked by the same rules as a new schedule. `task` and `input` come
/// together (the input must fit the task) or not at all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateSchedule {
    #[schema(example = "30 6 * * MON-FRI")]
    pub cron: Option<String>,
    pub task: Option<String>,
    /// The task's new input (an object, or `null` for none).
    #[serde(default, deserialize_with = "present_object_or_null")]
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    #[schema(example = "America/New_York")]
    pub timezone: Option<String>,
    #[schema(value_type = Option<Overlap>)]
    pub overlap: Option<String>,
    /// `false` pauses the schedule (no runs, none flagged missed), `true` resumes it.
    pub enabled: Option<bool>,
}

/// An input that is present: an object or `null` (absent stays `None`).
fn present_object_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    object_or_null(deserializer).map(Some)
}

/// A run time, in the schedule's time zone and in UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunTime {
    /// RFC 3339 with the time zone's offset at that time.
    #[schema(value_type = String, format = DateTime, example = "2026-01-05T07:00:00+01:00")]
    pub local: DateTime<FixedOffset>,
    /// RFC 3339 in UTC.
    #[schema(value_type = String, format = DateTime, example = "2026-01-05T06:00:00Z")]
    pub utc: DateTime<Utc>,
}

impl From<DateTime<Tz>> for RunTime {
    fn from(t: DateTime<Tz>) -> Self {
        Self {
            local: t.fixed_offset(),
            utc: t.to_utc(),
        }
    }
}

/// What every schedule response shows of a schedule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    pub name: String,
    /// The cron as given.
    pub cron: String,
    /// The EventBridge Scheduler expression, e.g. `cron(0 7 ? * MON *)`.
    pub expression: String,
    pub timezone: String,
    pub task: String,
    /// The task's input; `null` for none.
    #[schema(value_type = Object, nullable)]
    pub input: Value,
    pub enabled: bool,
    pub overlap: Overlap,
    /// Who created the schedule (its owner; its runs are submitted as theirs); absent for
    /// a schedule made before creators were recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        Self {
            name: s.name,
            cron: s.cron,
            expression: s.expression,
            timezone: s.timezone,
            task: s.task,
            input: s.input,
            enabled: s.enabled,
            overlap: s.overlap,
            created_by: s.created_by,
        }
    }
}

/// `POST /jobs/schedule` and `GET /jobs/schedules/{name}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDetail {
    #[serde(flatten)]
    pub schedule: ScheduleView,
    /// The next runs (none for a disabled schedule).
    pub next_runs: Vec<RunTime>,
}

/// A schedule in a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSummary {
    #[serde(flatten)]
    pub schedule: ScheduleView,
    /// The next run; `null` if there is none.
    pub next_run: Option<RunTime>,
}

/// The body of `GET /jobs/schedules`: one page.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleList {
    /// In the scheduler's order.
    pub schedules: Vec<ScheduleSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page. A page may hold fewer
    /// than `limit` schedules and still have a next one.
    pub next_cursor: Option<String>,
}

/// The query parameters of `GET /jobs/schedules`.
const LIST_PARAMETERS: [&str; 2] = ["limit", "cursor"];

/// A listing token as a cursor: URL-safe base64, so it passes a query string unchanged.
fn cursor_of(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(token)
}

fn token_of(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "cursor is not one this API gave out; pass nextCursor of the previous page unchanged",
            )
        })
}

fn store(state: &AppState) -> Result<&Arc<dyn ScheduleStore>, ApiError> {
    state.schedules.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "schedules_not_configured",
            format!("schedules are not configured on this server: set {SCHEDULER_ROLE_VAR}"),
        )
    })
}

fn detail(ScheduleRuns { schedule, next_runs }: ScheduleRuns) -> ScheduleDetail {
    ScheduleDetail {
        schedule: schedule.into(),
        next_runs: next_runs.into_iter().map(RunTime::from).collect(),
    }
}

/// Schedule a job with cron syntax.
#[utoipa::path(
    post, path = "/jobs/schedule", tag = "schedules", operation_id = "createSchedule",
    request_body = CreateSchedule,
    responses(
        (status = 201, description = "created", body = ScheduleDetail,
         headers(("Location" = String, description = "the schedule's URL")),
         links(
             ("getSchedule" = (operation_id = "getSchedule", parameters(("name" = "$response.body#/name")),
                               description = "the schedule just created")),
             ("updateSchedule" = (operation_id = "updateSchedule", parameters(("name" = "$response.body#/name")),
                                  description = "change, pause or resume the schedule just created")),
             ("deleteSchedule" = (operation_id = "deleteSchedule", parameters(("name" = "$response.body#/name")),
                                  description = "remove the schedule just created")),
         )),
        (status = 400, description = "malformed JSON, unknown field or task, invalid cron, time zone or name, \
            a cron that restricts both day fields, an expression that never runs, input too large", body = ErrorBody),
        (status = 409, description = "a schedule with this name exists (`schedule_exists`), or the deployment \
            holds its limit of schedules (`schedule_limit_reached`, `JOBS_MAX_SCHEDULES`)", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "input does not fit the task, or overlap is not allow, forbid or replace",
         body = ErrorBody),
        (status = 503, description = "scheduler unavailable or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateSchedule>,
) -> Result<Response, ApiError> {
    let schedules = store(&state)?;
    let body = body.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            r#"the body must be a JSON object with at least "cron", e.g. {"cron":"0 7 * * MON"}"#,
        )
    })?;
    let request = CreateScheduleRequest {
        cron: body.cron,
        task: body.task,
        input: body.input,
        timezone: body.timezone,
        name: body.name,
        overlap: body.overlap,
    };
    let created = use_case::create_schedule(
        &**schedules,
        &*state.store,
        &state.tasks,
        &caller,
        request,
        state.max_schedules,
    )
    .await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/jobs/schedules/{}", created.schedule.name)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(detail(created))).into_response())
}

/// List the schedules, one page at a time.
#[utoipa::path(
    get, path = "/jobs/schedules", tag = "schedules", operation_id = "listSchedules",
    params(
        ("limit" = Option<u32>, Query, description = "schedules per page, 1 to 100 (default 50)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page, unchanged",
         pattern = "^[A-Za-z0-9_-]+$"),
    ),
    responses(
        (status = 200, description = "one page of schedules", body = ScheduleList),
        (status = 400, description = "unknown parameter, bad limit, or a cursor this API did not return", body = ErrorBody),
        (status = 503, description = "scheduler or job table unavailable, or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<ScheduleList>, ApiError> {
    let schedules = store(&state)?;
    let Query(params) =
        query.map_err(|e| ApiError::bad_request("invalid_request", format!("bad query string: {e}")))?;
    if let Some(unknown) = params.keys().find(|k| !LIST_PARAMETERS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "unknown query parameter {unknown:?}; known: {}",
                LIST_PARAMETERS.join(", ")
            ),
        ));
    }
    let limit = match params.get("limit") {
        None => use_case::DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_limit", format!("limit is {text:?}; ask for 1 to {MAX_PAGE}"))
            })?,
    };
    let token = params.get("cursor").map(|c| token_of(c)).transpose()?;
    let page = use_case::list_schedules_page(&**schedules, &*state.store, limit, token.as_deref()).await?;
    let schedules = page
        .schedules
        .into_iter()
        .map(|ScheduleRuns { schedule, next_runs }| ScheduleSummary {
            schedule: schedule.into(),
            next_run: next_runs.into_iter().next().map(RunTime::from),
        })
        .collect();
    Ok(Json(ScheduleList {
        schedules,
        next_cursor: page.next.as_deref().map(cursor_of),
    }))
}

/// One expected run of a schedule, next to the job it produced.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    /// When the run was due, in the time zone in force now and in UTC.
    pub scheduled_for: RunTime,
    /// The run's job id, derived from the schedule and the time (present or not).
    #[schema(value_type = String, format = Uuid)]
    pub job_id: uuid::Uuid,
    /// `registered` (a job exists), `due` (not yet, within the grace period) or `missed`.
    #[schema(value_type = RunState)]
    pub state: String,
    /// The job's status, when one was registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// When the job was registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub registered_at: Option<DateTime<Utc>>,
    /// Milliseconds from the scheduled time to the registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
    pub missed: bool,
}

/// `GET /jobs/schedules/{name}`: the schedule, its next runs and its history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleWithHistory {
    #[serde(flatten)]
    pub detail: ScheduleDetail,
    /// The last expected runs, newest first (none while paused: a pause expects nothing).
    pub runs: Vec<RunView>,
    /// How many of `runs` are missed.
    pub missed: usize,
    /// Every change of the schedule (cron, time zone, task, input, overlap, pause and
    /// resume), oldest first, with its time.
    #[schema(value_type = Vec<ScheduleChange>)]
    pub changes: Vec<ScheduleChange>,
}

fn run_view(record: RunRecord, tz: Option<Tz>) -> RunView {
    let local = |t: DateTime<Utc>| match tz {
        Some(tz) => RunTime::from(t.with_timezone(&tz)),
        None => RunTime {
            local: t.fixed_offset(),
            utc: t,
        },
    };
    RunView {
        scheduled_for: local(record.scheduled_for),
        job_id: record.job_id,
        state: serde_json::to_value(record.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        status: record.job.as_ref().map(|j| j.status),
        registered_at: record.job.as_ref().map(|j| j.created_at),
        delay_ms: record.delay().map(|d| d.num_milliseconds()),
        missed: record.missed(),
    }
}

/// Look up a schedule, with its run history.
#[utoipa::path(
    get, path = "/jobs/schedules/{name}", tag = "schedules", operation_id = "getSchedule",
    params(
        ("name" = String, Path, description = "schedule name"),
        ("runs" = Option<u32>, Query, description = "expected runs shown, 1 to 100 (default 10)",
         minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "the schedule, its next runs and its history", body = ScheduleWithHistory),
        (status = 400, description = "runs is not a number from 1 to 100, or an unknown parameter", body = ErrorBody),
        (status = 404, description = "no such schedule", body = ErrorBody),
        (status = 503, description = "scheduler or job table unavailable, or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<ScheduleWithHistory>, ApiError> {
    let schedules = store(&state)?;
    let Query(params) =
        query.map_err(|e| ApiError::bad_request("invalid_request", format!("bad query string: {e}")))?;
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "runs") {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("unknown query parameter {unknown:?}; known: runs"),
        ));
    }
    let runs = match params.get("runs") {
        None => use_case::HISTORY_RUNS,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=use_case::MAX_HISTORY_RUNS).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_runs",
                    format!("runs is {text:?}; ask for 1 to {}", use_case::MAX_HISTORY_RUNS),
                )
            })?,
    };
    let found = use_case::schedule_history(
        &**schedules,
        &*state.store,
        &name,
        runs,
        Utc::now(),
        state.missed_run_grace,
    )
    .await?;
    let found = found.ok_or_else(|| ApiError::not_found(format!("schedule {name:?} not found")))?;
    let tz = found.schedule.schedule.tz().ok();
    let runs: Vec<RunView> = found.runs.into_iter().map(|r| run_view(r, tz)).collect();
    Ok(Json(ScheduleWithHistory {
        missed: runs.iter().filter(|r| r.missed).count(),
        runs,
        changes: found.changes,
        detail: detail(found.schedule),
    }))
}

/// Change a schedule: its cron, time zone, task, input, overlap policy, or pause and resume it.
#[utoipa::path(
    patch, path = "/jobs/schedules/{name}", tag = "schedules", operation_id = "updateSchedule",
    params(("name" = String, Path, description = "schedule name")),
    request_body = UpdateSchedule,
    responses(
        (status = 200, description = "the schedule as changed, with its next runs", body = ScheduleDetail),
        (status = 400, description = "malformed JSON, unknown field or task, invalid cron or time zone, \
            an expression that never runs, input too large", body = ErrorBody),
        (status = 403, description = "the schedule belongs to another caller (only its creator or an admin may change it); nothing changed", body = ErrorBody),
        (status = 404, description = "no such schedule", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 409, description = "another change of this schedule is under way (`schedule_busy`); \
            nothing was changed: read the schedule again, then send the change", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "input does not fit the task, or overlap is not allow, forbid or replace",
         body = ErrorBody),
        (status = 503, description = "scheduler or job table unavailable, or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UpdateSchedule>,
) -> Result<Json<ScheduleDetail>, ApiError> {
    let schedules = store(&state)?;
    let body = body.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            r#"the body must be a JSON object with the fields to change, e.g. {"enabled":false}"#,
        )
    })?;
    // The input must fit the task: a change names both or neither (as the document says).
    if body.task.is_some() != body.input.is_some() {
        return Err(ApiError::bad_request(
            "invalid_request",
            r#"task and input change together: send both (input null for none), e.g. {"task":"sleep","input":{"ms":5}}, or neither"#,
        ));
    }
    let request = UpdateScheduleRequest {
        cron: body.cron,
        timezone: body.timezone,
        task: body.task,
        input: body.input,
        overlap: body.overlap,
        enabled: body.enabled,
    };
    let updated = use_case::update_schedule(&**schedules, &*state.store, &state.tasks, &caller, &name, request).await?;
    Ok(Json(detail(updated)))
}

/// Remove a schedule. Jobs it already queued still run.
#[utoipa::path(
    delete, path = "/jobs/schedules/{name}", tag = "schedules", operation_id = "deleteSchedule",
    params(("name" = String, Path, description = "schedule name")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the schedule belongs to another caller (only its creator or an admin may delete it); nothing changed", body = ErrorBody),
        (status = 404, description = "no such schedule", body = ErrorBody),
        (status = 503, description = "scheduler unavailable or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    use_case::delete_schedule(&**store(&state)?, &*state.store, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
