//! Lambda for `GET /jobs/stats` (also serves locally).

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    lambdas::serve(lambdas::routes::stats_api).await
}
