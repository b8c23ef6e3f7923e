//! `GET /jobs`: jobs newest first, filtered, one page at a time; the HTTP side of
//! `job_core::application::list`.

use std::collections::HashMap;

use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use job_core::Caller;
use job_core::application::list::{self as use_case, ListRequest};
use job_core::listing::JobSummary;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The query parameters `GET /jobs` knows.
const PARAMETERS: [&str; 6] = ["status", "task", "source", "submittedBy", "limit", "cursor"];

/// The body of `GET /jobs`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<JobSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page. A page may hold fewer
    /// than `limit` jobs and still have a next one (filters that match rarely).
    pub next_cursor: Option<String>,
}

/// List jobs, newest first.
#[utoipa::path(
    get, path = "/jobs", tag = "jobs", operation_id = "listJobs",
    params(
        ("status" = Option<String>, Query, description = "only jobs in this state",
         example = "FAILED", pattern = "^(QUEUED|RUNNING|RETRYING|SUCCEEDED|FAILED|CANCELLED)$"),
        ("task" = Option<String>, Query, description = "only jobs of this task", min_length = 1),
        ("source" = Option<String>, Query, description = "only jobs registered this way", pattern = "^(api|schedule)$"),
        ("submittedBy" = Option<String>, Query, description = "only jobs this principal submitted (`me`: the caller's own), read through the submitter index",
         example = "me", min_length = 1),
        ("limit" = Option<u32>, Query, description = "jobs per page, 1 to 200 (default 50)", minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page, unchanged",
         pattern = "^[0-8][0-9]{18}-[0-9a-f]{32}$"),
    ),
    responses(
        (status = 200, description = "one page of jobs", body = JobList),
        (status = 400, description = "unknown parameter, unknown task, bad status, source, submittedBy or limit, or a cursor this API did not return", body = ErrorBody),
        (status = 503, description = "store unavailable; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<JobList>, ApiError> {
    let Query(mut params) =
        query.map_err(|e| ApiError::bad_request("invalid_request", format!("bad query string: {e}")))?;
    if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("unknown query parameter {unknown:?}; known: {}", PARAMETERS.join(", ")),
        ));
    }
    if let Some(task) = params.get("task").filter(|t| !t.is_empty())
        && !state.tasks.names().contains(&task.as_str())
    {
        // Checked here, before any read: a task no worker runs has no jobs to page through.
        return Err(ApiError::bad_request(
            "invalid_task",
            format!(
                "task {task:?} is not a known task; use one of {}",
                state.tasks.names().join(", ")
            ),
        ));
    }
    let request = ListRequest {
        status: params.remove("status"),
        task: params.remove("task"),
        source: params.remove("source"),
        submitted_by: params.remove("submittedBy"),
        limit: params.remove("limit"),
        cursor: params.remove("cursor"),
    };
    let page = use_case::list_jobs(&*state.store, &caller, request).await?;
    Ok(Json(JobList {
        jobs: page.jobs,
        next_cursor: page.next,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_cursor_pattern_is_the_one_checked() {
        let doc = serde_json::to_value(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
        let params = doc["paths"]["/jobs"]["get"]["parameters"].as_array().unwrap();
        let cursor = params.iter().find(|p| p["name"] == "cursor").unwrap();
        assert_eq!(cursor["schema"]["pattern"], job_core::listing::CURSOR_PATTERN);
    }
}
