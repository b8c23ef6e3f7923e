//! Creates the queue, dead-letter queue, table and schedule group for a local run (or any
//! account `AWS_ENDPOINT_URL`/credentials point at), then prints the matching
//! `JOBS_*` settings as shell assignments.
//!
//! `provision [PREFIX]` (default `local`): resources `PREFIX-jobs`, `PREFIX-jobs-dlq`, group `PREFIX`.
//! Against an emulator (`AWS_ENDPOINT_URL` set) it also prints a placeholder
//! `JOBS_SCHEDULER_ROLE_ARN`, role `PREFIX-scheduler`: emulators do not check it, and on
//! AWS the CDK app creates the real role. With `JOBS_COUNTERS=stream` the table gets a
//! stream (new and old images) for the counter aggregator.

use local_dev::emulator::is_emulator;
use local_dev::provision::{Plan, emulator_scheduler_role_arn, provision};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "local".to_owned());
    let sdk = job_core::aws::sdk_config().await;
    let counting = match std::env::var("JOBS_COUNTERS") {
        Ok(value) if !value.trim().is_empty() => job_core::stats::Counting::parse(&value)
            .ok_or_else(|| format!("JOBS_COUNTERS={value:?} is invalid: expected inline or stream"))?,
        _ => job_core::stats::Counting::default(),
    };
    let plan = Plan {
        stream: counting == job_core::stats::Counting::Stream,
        ..Plan::named(&prefix)
    };
    let made = provision(&sdk, &plan).await?;
    println!("JOBS_QUEUE_URL={}", made.queue_url);
    println!("JOBS_QUEUE_ARN={}", made.queue_arn);
    println!("JOBS_DLQ_URL={}", made.dlq_url);
    println!("JOBS_TABLE_NAME={}", made.table_name);
    println!("JOBS_COUNTERS={}", counting.as_str());
    if let Some(group) = made.schedule_group {
        println!("JOBS_SCHEDULE_GROUP={group}");
    }
    match emulator_scheduler_role_arn(&made.queue_arn, &prefix) {
        Some(role) if is_emulator() => println!("JOBS_SCHEDULER_ROLE_ARN={role}"),
        _ => eprintln!(
            "provision: set JOBS_SCHEDULER_ROLE_ARN to the role EventBridge Scheduler assumes to send to the queue"
        ),
    }
    Ok(())
}
