//! Creates the queue, dead-letter queue, table and schedule group for a local run (or any
//! account `AWS_ENDPOINT_URL`/credentials point at), then prints the matching
//! `JOBS_*` settings as shell assignments.
//!
//! `provision [PREFIX]` (default `local`): resources `PREFIX-jobs`, `PREFIX-jobs-dlq`, group `PREFIX`.

use job_core::provision::{Plan, provision};

#[tokio::main]
async fn main() -> Result<(), lambdas::BoxError> {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "local".to_owned());
    let sdk = job_core::aws::sdk_config().await;
    let made = provision(&sdk, &Plan::named(&prefix)).await?;
    println!("JOBS_QUEUE_URL={}", made.queue_url);
    println!("JOBS_DLQ_URL={}", made.dlq_url);
    println!("JOBS_TABLE_NAME={}", made.table_name);
    if let Some(group) = made.schedule_group {
        println!("JOBS_SCHEDULE_GROUP={group}");
    }
    Ok(())
}
