//! The local HTTP server: every route on `JOBS_API_ADDR` (default `127.0.0.1:3000`).

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    lambdas::serve(lambdas::routes::all).await
}
