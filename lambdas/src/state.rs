//! What every handler shares, and how it is built from the environment.

use std::sync::Arc;

use data_processor::tasks::{Registry, registry};
use job_core::queue::{JobQueue, SqsQueue};
use job_core::store::{DynamoDbStore, JobStore};
use job_core::{Config, aws};

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub tasks: Registry,
    pub max_attempts: u32,
}

impl AppState {
    /// State over the AWS adapters, configured from the environment.
    pub async fn from_env() -> Result<Self, job_core::config::ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws::sdk_config().await;
        Ok(Self {
            store: Arc::new(DynamoDbStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &config.table_name,
                config.stats_shards,
            )),
            queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.queue_url)),
            tasks: registry(),
            max_attempts: config.retry.max_attempts,
        })
    }
}
