//! `GET /jobs/stats`: counters, read from a constant number of items.

use axum::Json;
use axum::extract::State;
use job_core::application::stats::read_stats;
use job_core::stats::Stats;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Aggregate stats: submitted, succeeded, failed, retries, in flight, and per day.
#[utoipa::path(
    get, path = "/jobs/stats", tag = "stats", operation_id = "getStats",
    responses(
        (status = 200, description = "the counters", body = Stats),
        (status = 503, description = "store unavailable; retry", body = ErrorBody,
         headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn get(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(read_stats(&*state.store).await?))
}
