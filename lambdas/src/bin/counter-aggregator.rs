//! The counter aggregator: a Lambda on the job table's stream in AWS, a local process
//! polling the stream elsewhere.

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    lambdas::counter_aggregator::run().await
}
