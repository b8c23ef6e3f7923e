//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Job API",
        description = "Queue jobs that run as containers, schedule them with cron, read their state and aggregate stats."
    ),
    paths(
        crate::routes::jobs::submit,
        crate::routes::jobs::get,
        crate::routes::stats::get,
        crate::routes::schedules::create,
        crate::routes::schedules::list,
        crate::routes::schedules::get,
        crate::routes::schedules::delete,
    ),
    tags((name = "jobs"), (name = "stats"), (name = "schedules"))
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
