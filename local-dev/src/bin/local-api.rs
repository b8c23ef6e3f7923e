//! The local HTTP server: every route on `JOBS_API_ADDR` (default `127.0.0.1:3000`).
//! Needs `JOBS_SCHEDULER_ROLE_ARN` for the schedule routes (`provision` prints one).

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    lambdas::serve_with_schedules(lambdas::routes::all).await
}
