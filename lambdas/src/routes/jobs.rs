//! `POST /jobs` (submit) and `GET /jobs/{id}` (look up).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use data_processor::tasks::{DEFAULT_TASK, ValidationError};
use job_core::job::{Job, JobSource, JobStatus, id_for_idempotency_key};
use job_core::message::JobMessage;
use job_core::store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, object_or_null};
use crate::state::AppState;

/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// The body of `POST /jobs`; every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubmitJob {
    /// Task to run (default `process-data`).
    pub task: Option<String>,
    /// The task's input, whose fields the task defines; absent or `null` for none.
    #[serde(default, deserialize_with = "object_or_null")]
    #[schema(value_type = Option<Object>)]
    pub input: Value,
    /// Requests with the same key create one job; a retry returns it. 1 to 128 characters,
    /// no control characters.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub idempotency_key: Option<String>,
}

/// The body of a `202` from `POST /jobs`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    #[schema(value_type = String, format = Uuid)]
    pub job_id: Uuid,
    pub status: JobStatus,
}

/// Queue a job.
#[utoipa::path(
    post, path = "/jobs", tag = "jobs", operation_id = "submitJob",
    request_body(content = Option<SubmitJob>, description = "optional; an empty body or `null` runs the default task"),
    responses(
        (status = 202, description = "queued (or, for a repeated idempotency key, the existing job)", body = Submitted,
         headers(("Location" = String, description = "the job's URL")),
         links(("getJob" = (operation_id = "getJob", parameters(("id" = "$response.body#/jobId")),
                            description = "the job just queued")))),
        (status = 400, description = "malformed JSON, unknown field or task, bad idempotency key", body = ErrorBody),
        (status = 409, description = "idempotency key already used for a different request", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "input does not fit the task", body = ErrorBody),
        (status = 503, description = "store or queue unavailable; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Option<SubmitJob>>,
) -> Result<Response, ApiError> {
    // An empty body and `null` both mean "no options".
    let request = body.flatten().unwrap_or_default();
    let task = request.task.unwrap_or_else(|| DEFAULT_TASK.to_owned());
    check_task(&state, &task, &request.input)?;
    let key = request.idempotency_key.map(validate_key).transpose()?;
    let job_id = key.as_deref().map(id_for_idempotency_key).unwrap_or_else(Uuid::now_v7);
    let job = Job::new(
        job_id,
        task,
        request.input,
        state.max_attempts,
        JobSource::Api,
        key,
        Utc::now(),
    );
    let message = JobMessage::for_job(job.job_id, &job.task, &job.input).to_json();

    let registered = job.register();
    match state.store.apply(&registered).await {
        Ok(()) => {
            if let Err(err) = state.queue.send(&message).await {
                // Take the registration back so the job is neither lost nor counted.
                if let Err(undo) = state.store.apply(&registered.job.withdraw(Utc::now())).await {
                    error!(%job_id, error = %undo, "could not withdraw a job whose message was not sent");
                }
                return Err(err.into());
            }
            info!(%job_id, task = %job.task, "job queued");
            Ok(accepted(job_id, JobStatus::Queued))
        }
        Err(StoreError::Conflict) => replay(&state, &job, &message).await,
        Err(err) => Err(err.into()),
    }
}

/// A repeated idempotency key: the same request gets the existing job back.
async fn replay(state: &AppState, job: &Job, message: &str) -> Result<Response, ApiError> {
    let existing = state.store.get(job.job_id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the job changed concurrently; try again",
        )
    })?;
    if existing.task != job.task || existing.input != job.input {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            format!(
                "idempotencyKey {:?} was already used for a different request (job {})",
                job.idempotency_key.as_deref().unwrap_or_default(),
                existing.job_id
            ),
        ));
    }
    if existing.status == JobStatus::Queued && existing.attempts == 0 {
        // The first request may have failed to send its message; sending again is safe
        // because workers skip messages for jobs already taken or finished.
        state.queue.send(message).await?;
    }
    Ok(accepted(existing.job_id, existing.status))
}

/// Checks that `task` exists and accepts `input`: 400 `unknown_task`, 422 `invalid_input`.
pub(crate) fn check_task(state: &AppState, task: &str, input: &Value) -> Result<(), ApiError> {
    state.tasks.validate(task, input).map_err(|e| match e {
        ValidationError::UnknownTask { .. } => ApiError::bad_request("unknown_task", e.to_string()),
        ValidationError::InvalidInput { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.to_string())
        }
    })
}

fn validate_key(key: String) -> Result<String, ApiError> {
    let len = key.chars().count();
    if len == 0 || len > MAX_IDEMPOTENCY_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!("idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters without control characters"),
        ));
    }
    Ok(key)
}

fn accepted(job_id: Uuid, status: JobStatus) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/jobs/{job_id}")) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::ACCEPTED, headers, Json(Submitted { job_id, status })).into_response()
}

/// Look up a job.
#[utoipa::path(
    get, path = "/jobs/{id}", tag = "jobs", operation_id = "getJob",
    params(("id" = String, Path, description = "job id")),
    responses(
        (status = 200, description = "the job", body = Job),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 503, description = "store unavailable; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    let not_found = || ApiError::not_found(format!("job {id:?} not found"));
    let job_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    state.store.get(job_id).await?.map(Json).ok_or_else(not_found)
}
