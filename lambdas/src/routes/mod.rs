//! Route groups. Each Lambda binary serves one group ([`jobs_api`], [`stats_api`],
//! [`schedules_api`]), so each function gets only the permissions its routes need; the
//! local server serves them all ([`all`]). The handlers in [`jobs`], [`stats`] and
//! [`schedules`] parse a request, call a use case of `job_core::application` and map
//! its result or error to a response.

pub mod actions;
pub mod console;
pub mod jobs;
pub mod listing;
pub mod schedules;
pub mod stats;

use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::{get, patch, post};

use crate::error::ApiError;
use crate::state::AppState;

fn job_routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", post(jobs::submit).get(listing::list))
        .route("/jobs/{id}", get(jobs::get))
        .route("/jobs/{id}/cancel", post(actions::cancel))
        .route("/jobs/{id}/rerun", post(actions::rerun))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/", get(console::page))
        .route("/console.css", get(console::style))
        .route("/console.js", get(console::script))
}

fn stats_routes() -> Router<AppState> {
    Router::new().route("/jobs/stats", get(stats::get))
}

fn schedule_routes() -> Router<AppState> {
    Router::new()
        .route("/jobs/schedule", post(schedules::create))
        .route("/jobs/schedules", get(schedules::list))
        .route("/jobs/schedules/{name}", get(schedules::get).delete(schedules::delete))
        .route("/jobs/schedules/{name}", patch(schedules::update))
}

/// `POST /jobs`, `GET /jobs`, `GET /jobs/{id}`, `POST /jobs/{id}/cancel`,
/// `POST /jobs/{id}/rerun`, `GET /openapi.json` and the status page (`GET /` and its
/// style and script): the `jobs-api` Lambda.
pub fn jobs_api(state: AppState) -> Router {
    finish(job_routes(), state)
}

/// `GET /jobs/stats`: the `stats-api` Lambda.
pub fn stats_api(state: AppState) -> Router {
    finish(stats_routes(), state)
}

/// `POST /jobs/schedule`, `GET /jobs/schedules`, `GET`, `PATCH` and `DELETE
/// /jobs/schedules/{name}`: the `schedules-api` Lambda.
pub fn schedules_api(state: AppState) -> Router {
    finish(schedule_routes(), state)
}

/// Every route: the local server (`local-api`).
pub fn all(state: AppState) -> Router {
    finish(job_routes().merge(stats_routes()).merge(schedule_routes()), state)
}

fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::caller::authorize,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod caller_tests;
#[cfg(test)]
mod lambda_event_tests;
#[cfg(test)]
mod operate_tests;
#[cfg(test)]
mod schedule_tests;
#[cfg(test)]
mod tests;
