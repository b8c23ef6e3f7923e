//! The AWS adapters of the three ports, built from [`Config`] in one place: every binary
//! (the API Lambdas, the worker, the local tools) gets its store, queue and schedules here.

use aws_config::SdkConfig;

use crate::config::Config;
use crate::queue::SqsQueue;
use crate::schedules::{EventBridgeScheduleStore, QueueArn, SchedulerTarget};
use crate::store::DynamoDbStore;

/// The SDK configuration and settings the adapters are made from.
#[derive(Clone)]
pub struct AwsAdapters {
    pub sdk: SdkConfig,
    pub config: Config,
}

impl AwsAdapters {
    /// Loads the SDK configuration from the environment ([`crate::aws::sdk_config`]).
    pub async fn load(config: Config) -> Self {
        Self {
            sdk: crate::aws::sdk_config_with(config.aws_timeouts).await,
            config,
        }
    }

    /// The DynamoDB job store (`JOBS_TABLE_NAME`, `JOBS_STATS_SHARDS`, `JOBS_COUNTERS`).
    pub fn store(&self) -> DynamoDbStore {
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.config.table_name,
            self.config.stats_shards,
        )
        .with_counting(self.config.counting)
    }

    /// The SQS job queue (`JOBS_QUEUE_URL`).
    pub fn queue(&self) -> SqsQueue {
        SqsQueue::new(aws_sdk_sqs::Client::new(&self.sdk), &self.config.queue_url)
            .with_timeouts(self.config.aws_timeouts)
    }

    /// The job queue's dead-letter queue (`JOBS_DLQ_URL`), if configured.
    pub fn dead_letter_queue(&self) -> Option<SqsQueue> {
        let url = self.config.dlq_url.as_ref()?;
        Some(SqsQueue::new(aws_sdk_sqs::Client::new(&self.sdk), url).with_timeouts(self.config.aws_timeouts))
    }

    /// The schedules of `JOBS_SCHEDULE_GROUP`, to read and delete.
    pub fn schedule_reader(&self) -> EventBridgeScheduleStore {
        EventBridgeScheduleStore::new(aws_sdk_scheduler::Client::new(&self.sdk), &self.config.schedule_group)
    }

    /// The schedules, creatable too: `None` when `JOBS_SCHEDULER_ROLE_ARN` is not set.
    /// Their target is the job queue (`JOBS_QUEUE_ARN`, or looked up from its URL).
    pub fn schedules(&self) -> Option<EventBridgeScheduleStore> {
        let role_arn = self.config.scheduler_role_arn.clone()?;
        let queue = match &self.config.queue_arn {
            Some(arn) => QueueArn::known(arn),
            None => QueueArn::of_queue(aws_sdk_sqs::Client::new(&self.sdk), &self.config.queue_url),
        };
        Some(self.schedule_reader().with_target(SchedulerTarget {
            queue,
            role_arn,
            dead_letter_arn: self.config.schedule_dlq_arn.clone(),
        }))
    }
}
