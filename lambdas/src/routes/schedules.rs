//! `POST /jobs/schedule` (create), `GET /jobs/schedules` (list), `GET /jobs/schedules/{name}`
//! (look up) and `DELETE /jobs/schedules/{name}` (remove).
//!
//! A schedule queues a job at each run of its cron expression, evaluated in its time zone.
//! Unix 5-field crons are converted to EventBridge's 6-field form; the responses show the
//! cron as given, the converted expression and the next run times.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use data_processor::tasks::DEFAULT_TASK;
use job_core::cron::{ScheduleExpression, parse_timezone};
use job_core::schedules::{Schedule, ScheduleStore, is_valid_name};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, object_or_null};
use crate::routes::jobs::check_task;
use crate::state::{AppState, SCHEDULER_ROLE_VAR};

/// Longest accepted `cron` text (EventBridge's limit for an expression).
pub const MAX_CRON_LEN: usize = 256;
/// Run times shown for a new schedule.
pub const PREVIEW_RUNS: usize = 5;
/// Largest target input EventBridge Scheduler accepts: the job message with the task input.
pub const MAX_TARGET_INPUT_BYTES: usize = 8192;

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

/// The body of `GET /jobs/schedules`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    /// Sorted by name.
    pub schedules: Vec<ScheduleSummary>,
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

/// The next `n` runs after now; none for a disabled schedule or one that cannot be evaluated.
fn upcoming(schedule: &Schedule, n: usize) -> Vec<RunTime> {
    if !schedule.enabled {
        return Vec::new();
    }
    schedule
        .runs_after(Utc::now(), n)
        .map(|runs| runs.into_iter().map(RunTime::from).collect())
        .unwrap_or_default()
}

fn detail(schedule: Schedule, next_runs: Vec<RunTime>) -> ScheduleDetail {
    ScheduleDetail {
        schedule: schedule.into(),
        next_runs,
    }
}

fn generated_name() -> String {
    format!("job-{}", &Uuid::new_v4().simple().to_string()[..12])
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
             ("deleteSchedule" = (operation_id = "deleteSchedule", parameters(("name" = "$response.body#/name")),
                                  description = "remove the schedule just created")),
         )),
        (status = 400, description = "malformed JSON, unknown field or task, invalid cron, time zone or name, \
            a cron that restricts both day fields, an expression that never runs, input too large", body = ErrorBody),
        (status = 409, description = "a schedule with this name exists", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "input does not fit the task", body = ErrorBody),
        (status = 503, description = "scheduler unavailable or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateSchedule>,
) -> Result<Response, ApiError> {
    let schedules = store(&state)?;
    let request = body.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            r#"the body must be a JSON object with at least "cron", e.g. {"cron":"0 7 * * MON"}"#,
        )
    })?;
    let name = match request.name {
        Some(name) if is_valid_name(&name) => name,
        Some(name) => {
            return Err(ApiError::bad_request(
                "invalid_name",
                format!("name {name:?} is invalid: use 1 to 64 of the characters 0-9 a-z A-Z - _ ."),
            ));
        }
        None => generated_name(),
    };
    if request.cron.len() > MAX_CRON_LEN {
        return Err(ApiError::bad_request(
            "invalid_cron",
            format!(
                "cron is {} characters long; at most {MAX_CRON_LEN} are allowed",
                request.cron.len()
            ),
        ));
    }
    let expression =
        ScheduleExpression::parse(&request.cron).map_err(|e| ApiError::bad_request("invalid_cron", e.to_string()))?;
    let tz = parse_timezone(request.timezone.as_deref().unwrap_or("UTC"))
        .map_err(|e| ApiError::bad_request("invalid_timezone", e.to_string()))?;
    let task = request.task.unwrap_or_else(|| DEFAULT_TASK.to_owned());
    check_task(&state, &task, &request.input)?;

    let now = Utc::now();
    let schedule = Schedule {
        name,
        cron: expression.source().to_owned(),
        expression: expression.expression().to_owned(),
        timezone: tz.name().to_owned(),
        task,
        input: request.input,
        created: now,
        enabled: true,
    };
    let next_runs = upcoming(&schedule, PREVIEW_RUNS);
    if next_runs.is_empty() {
        return Err(ApiError::bad_request(
            "no_future_runs",
            format!(
                "{} has no run after now in {}; it would never fire",
                schedule.expression, schedule.timezone
            ),
        ));
    }
    let size = schedule.target_input().len();
    if size > MAX_TARGET_INPUT_BYTES {
        return Err(ApiError::bad_request(
            "input_too_large",
            format!(
                "the schedule's job message would be {size} bytes; schedules carry at most \
                 {MAX_TARGET_INPUT_BYTES}: make the input smaller"
            ),
        ));
    }
    schedules.create(&schedule).await?;
    info!(schedule = %schedule.name, expression = %schedule.expression, timezone = %schedule.timezone,
          task = %schedule.task, "schedule created");

    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/jobs/schedules/{}", schedule.name)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(detail(schedule, next_runs))).into_response())
}

/// List the schedules.
#[utoipa::path(
    get, path = "/jobs/schedules", tag = "schedules", operation_id = "listSchedules",
    responses(
        (status = 200, description = "every schedule, sorted by name", body = ScheduleList),
        (status = 503, description = "scheduler unavailable or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<ScheduleList>, ApiError> {
    let schedules = store(&state)?.list().await?;
    let schedules = schedules
        .into_iter()
        .map(|s| {
            let next_run = upcoming(&s, 1).into_iter().next();
            ScheduleSummary {
                schedule: s.into(),
                next_run,
            }
        })
        .collect();
    Ok(Json(ScheduleList { schedules }))
}

/// Look up a schedule.
#[utoipa::path(
    get, path = "/jobs/schedules/{name}", tag = "schedules", operation_id = "getSchedule",
    params(("name" = String, Path, description = "schedule name")),
    responses(
        (status = 200, description = "the schedule and its next runs", body = ScheduleDetail),
        (status = 404, description = "no such schedule", body = ErrorBody),
        (status = 503, description = "scheduler unavailable or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<ScheduleDetail>, ApiError> {
    let schedules = store(&state)?;
    let not_found = || ApiError::not_found(format!("schedule {name:?} not found"));
    if !is_valid_name(&name) {
        return Err(not_found());
    }
    let schedule = schedules.get(&name).await?.ok_or_else(not_found)?;
    let next_runs = upcoming(&schedule, PREVIEW_RUNS);
    Ok(Json(detail(schedule, next_runs)))
}

/// Remove a schedule. Jobs it already queued still run.
#[utoipa::path(
    delete, path = "/jobs/schedules/{name}", tag = "schedules", operation_id = "deleteSchedule",
    params(("name" = String, Path, description = "schedule name")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such schedule", body = ErrorBody),
        (status = 503, description = "scheduler unavailable or not configured; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    let schedules = store(&state)?;
    if !is_valid_name(&name) {
        return Err(ApiError::not_found(format!("schedule {name:?} not found")));
    }
    schedules.delete(&name).await?;
    info!(schedule = %name, "schedule deleted");
    Ok(StatusCode::NO_CONTENT)
}
