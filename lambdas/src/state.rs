//! What every handler shares, and how it is built from the environment.

use std::sync::Arc;

use data_processor::tasks::{Registry, registry};
use job_core::config::ConfigError;
use job_core::queue::{JobQueue, SqsQueue};
use job_core::schedules::{QueueArn, ScheduleStore, SchedulerStore, SchedulerTarget};
use job_core::store::{DynamoDbStore, JobStore};
use job_core::{Config, aws};

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Where schedules are kept; `None` when `JOBS_SCHEDULER_ROLE_ARN` is not set.
    pub schedules: Option<Arc<dyn ScheduleStore>>,
    pub tasks: Registry,
    pub max_attempts: u32,
}

/// The variable without which schedules cannot be created.
pub const SCHEDULER_ROLE_VAR: &str = "JOBS_SCHEDULER_ROLE_ARN";

impl AppState {
    /// State over the AWS adapters, configured from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let schedules = config.scheduler_role_arn.clone().map(|role_arn| {
            let queue = match &config.queue_arn {
                Some(arn) => QueueArn::known(arn),
                None => QueueArn::of_queue(sqs.clone(), &config.queue_url),
            };
            let target = SchedulerTarget {
                queue,
                role_arn,
                dead_letter_arn: config.schedule_dlq_arn.clone(),
            };
            let store = SchedulerStore::new(aws_sdk_scheduler::Client::new(&sdk), &config.schedule_group);
            Arc::new(store.with_target(target)) as Arc<dyn ScheduleStore>
        });
        Ok(Self {
            store: Arc::new(DynamoDbStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &config.table_name,
                config.stats_shards,
            )),
            queue: Arc::new(SqsQueue::new(sqs, &config.queue_url)),
            schedules,
            tasks: registry(),
            max_attempts: config.retry.max_attempts,
        })
    }

    /// The schedule store, or the start-up error of a server whose routes need it.
    pub fn require_schedules(&self) -> Result<&Arc<dyn ScheduleStore>, ConfigError> {
        self.schedules.as_ref().ok_or(ConfigError::Missing(SCHEDULER_ROLE_VAR))
    }
}
