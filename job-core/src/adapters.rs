//! The AWS adapters of the three ports, built from [`Config`] in one place: every binary
//! (the API Lambdas, the worker, the local tools) gets its store, queue and schedules here.
//! Loading them reads the table's counting mode ([`crate::counting::mode`]), so every
//! process counts as its table does.

use aws_config::SdkConfig;

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tracing::warn;

use crate::config::{Config, ConfigError};
use crate::counting::mode::{CountingModeError, resolve, table_counting};
use crate::queue::SqsQueue;
use crate::schedules::{EventBridgeScheduleStore, QueueArn, SchedulerTarget};
use crate::stats::Counting;
use crate::store::DynamoDbStore;

/// How long a process keeps trying to read its table's counting mode at start.
pub const COUNTING_READ_PATIENCE: Duration = Duration::from_secs(120);

/// The SDK configuration and settings the adapters are made from.
#[derive(Clone)]
pub struct AwsAdapters {
    pub sdk: SdkConfig,
    pub config: Config,
    /// The table's counting mode, which the store books in.
    pub counting: Counting,
}

impl AwsAdapters {
    /// Loads the SDK configuration from the environment ([`crate::aws::sdk_config`]) and
    /// reads the table's counting mode; refuses a `JOBS_COUNTERS` that names another.
    pub async fn load(config: Config) -> Result<Self, ConfigError> {
        let sdk = crate::aws::sdk_config_with(config.aws_timeouts).await;
        Self::load_with(sdk, config).await
    }

    /// [`Self::load`] with a given SDK configuration. A table that cannot be read (a
    /// network down, throttling) is read again with growing pauses for up to
    /// [`COUNTING_READ_PATIENCE`], so a process started during an outage starts once it
    /// ends; a mode that disagrees, or none recorded, is refused at once.
    pub async fn load_with(sdk: SdkConfig, config: Config) -> Result<Self, ConfigError> {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let read = || table_counting(&ddb, &config.table_name);
        let recorded = read
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_total_delay(Some(COUNTING_READ_PATIENCE))
                    .without_max_times()
                    .with_jitter(),
            )
            .when(|e| matches!(e, CountingModeError::Unreadable { .. }))
            .notify(|e, pause| warn!(error = %e, ?pause, "reading the table's counting mode again"))
            .await?;
        let counting = resolve(&config.table_name, config.counting, recorded)?;
        Ok(Self { sdk, config, counting })
    }

    /// The DynamoDB job store (`JOBS_TABLE_NAME`, `JOBS_STATS_SHARDS`), counting as the table does.
    pub fn store(&self) -> DynamoDbStore {
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.config.table_name,
            self.config.stats_shards,
        )
        .with_counting(self.counting)
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
