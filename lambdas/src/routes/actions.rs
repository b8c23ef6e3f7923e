//! `POST /jobs/{id}/cancel` and `POST /jobs/{id}/rerun`: acting on one job; the HTTP side
//! of `job_core::application::{cancel, rerun}`.
//!
//! Cancel is a `POST` to an action rather than `DELETE /jobs/{id}`: the job is not removed
//! (it stays readable, CANCELLED, with its attempts and counters), a running job is only
//! asked to stop (`202`, the worker records CANCELLED), and a repeated `DELETE` that
//! answers `409` would surprise clients and proxies that treat `DELETE` as removal.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use job_core::Caller;
use job_core::application::cancel::{self, Cancelled};
use job_core::application::rerun;
use job_core::job::Job;

use crate::error::{ApiError, ErrorBody};
use crate::routes::jobs::{Submitted, accepted_response};
use crate::state::AppState;

/// Cancel a job.
#[utoipa::path(
    post, path = "/jobs/{id}/cancel", tag = "jobs", operation_id = "cancelJob",
    params(("id" = String, Path, description = "job id")),
    responses(
        (status = 200, description = "the job, now CANCELLED (it was QUEUED or RETRYING, or its worker was lost)", body = Job,
         links(("rerunJob" = (operation_id = "rerunJob", parameters(("id" = "$response.body#/jobId")),
                              description = "re-run the job just cancelled")))),
        (status = 202, description = "the job is RUNNING: its worker stops the attempt and records CANCELLED within one heartbeat (`cancelRequestedAt` is set)", body = Job),
        (status = 403, description = "the job belongs to another caller (only its submitter or an admin may cancel it); nothing changed", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "the job already finished; the message names its status", body = ErrorBody),
        (status = 503, description = "store unavailable; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(match cancel::cancel_job(&*state.store, &caller, &id).await? {
        Cancelled::Done(job) => (StatusCode::OK, Json(job)).into_response(),
        Cancelled::Requested(job) => (StatusCode::ACCEPTED, Json(job)).into_response(),
    })
}

/// Re-run a FAILED or CANCELLED job as a new job.
#[utoipa::path(
    post, path = "/jobs/{id}/rerun", tag = "jobs", operation_id = "rerunJob",
    params(("id" = String, Path, description = "id of a FAILED or CANCELLED job")),
    responses(
        (status = 202, description = "the re-run, queued with the same task and input (`rerunOf` on it, `rerunBy` on the source; submitted by the caller); asking again returns the same job", body = Submitted,
         headers(("Location" = String, description = "the new job's URL"))),
        (status = 403, description = "the job belongs to another caller (only its submitter or an admin may re-run it); nothing changed", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "the job is not FAILED or CANCELLED", body = ErrorBody),
        (status = 503, description = "store or queue unavailable; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn rerun(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let accepted = rerun::rerun_job(&*state.store, &*state.queue, state.max_attempts, &caller, &id).await?;
    Ok(accepted_response(accepted))
}
