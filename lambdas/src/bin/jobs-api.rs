//! Lambda for `POST /jobs`, `GET /jobs/{id}` and `GET /openapi.json` (also serves locally).

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    lambdas::serve(lambdas::routes::jobs_api).await
}
