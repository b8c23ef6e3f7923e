//! Lambda for `POST /jobs/schedule`, `GET /jobs/schedules` and `GET`/`DELETE /jobs/schedules/{name}`
//! (also serves locally). Needs `JOBS_SCHEDULER_ROLE_ARN`.

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    lambdas::serve_with_schedules(lambdas::routes::schedules_api).await
}
