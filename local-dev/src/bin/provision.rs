//! Creates the queue, dead-letter queue, table and schedule group for a local run (or any
//! account `AWS_ENDPOINT_URL`/credentials point at), then prints the matching
//! `JOBS_*` settings as shell assignments.
//!
//! `provision [PREFIX]` (default `local`): resources `PREFIX-jobs`, `PREFIX-jobs-dlq`, group `PREFIX`.
//! Against an emulator (`AWS_ENDPOINT_URL` set) it also prints a placeholder
//! `JOBS_SCHEDULER_ROLE_ARN`, role `PREFIX-scheduler`: emulators do not check it, and on
//! AWS the CDK app creates the real role.

use local_dev::emulator::is_emulator;
use local_dev::provision::{Plan, emulator_scheduler_role_arn, provision};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "local".to_owned());
    let sdk = job_core::aws::sdk_config().await;
    let made = provision(&sdk, &Plan::named(&prefix)).await?;
    println!("JOBS_QUEUE_URL={}", made.queue_url);
    println!("JOBS_QUEUE_ARN={}", made.queue_arn);
    println!("JOBS_DLQ_URL={}", made.dlq_url);
    println!("JOBS_TABLE_NAME={}", made.table_name);
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
