//! `POST /jobs` (submit) and `GET /jobs/{id}` (look up): the HTTP side of
//! `job_core::application::jobs`.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use job_core::Caller;
use job_core::application::jobs::{self as use_case, Accepted, SubmitRequest};
use job_core::job::{Job, JobStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, object_or_null};
use crate::state::AppState;

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
                            description = "the job just queued")),
               ("cancelJob" = (operation_id = "cancelJob", parameters(("id" = "$response.body#/jobId")),
                               description = "cancel the job just queued")))),
        (status = 400, description = "malformed JSON, unknown field or task, bad idempotency key", body = ErrorBody),
        (status = 409, description = "idempotency key already used by this caller for a different request", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "input does not fit the task", body = ErrorBody),
        (status = 503, description = "store or queue unavailable; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<Option<SubmitJob>>,
) -> Result<Response, ApiError> {
    // An empty body and `null` both mean "no options".
    let body = body.flatten().unwrap_or_default();
    let request = SubmitRequest {
        task: body.task,
        input: body.input,
        idempotency_key: body.idempotency_key,
    };
    let accepted = use_case::submit(
        &*state.store,
        &*state.queue,
        &state.tasks,
        state.max_attempts,
        &caller,
        request,
    )
    .await?;
    Ok(accepted_response(accepted))
}

pub(crate) fn accepted_response(Accepted { job_id, status }: Accepted) -> Response {
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
    let job = use_case::find_job(&*state.store, &id).await?;
    job.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("job {id:?} not found")))
}
