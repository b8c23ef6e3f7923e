//! The reconciler: a Lambda on a `rate()` schedule in AWS, a local process elsewhere.

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    lambdas::reconciler::run().await
}
