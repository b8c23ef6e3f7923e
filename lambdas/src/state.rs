//! What every handler shares, and how it is built from the environment.

use std::sync::Arc;

use chrono::TimeDelta;

use job_core::Config;
use job_core::adapters::AwsAdapters;
use job_core::application::schedules::DEFAULT_MAX_SCHEDULES;
use job_core::config::ConfigError;
use job_core::queue::JobQueue;
use job_core::retry::RetryPolicy;
use job_core::schedules::{MISSED_AFTER, ScheduleStore};
use job_core::store::JobStore;
use job_core::tasks::{TaskCatalog, catalog};

use crate::caller::CallerSettings;

/// Shared handler state: the ports and the task contract the use cases take.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Where schedules are kept; `None` when `JOBS_SCHEDULER_ROLE_ARN` is not set.
    pub schedules: Option<Arc<dyn ScheduleStore>>,
    pub tasks: TaskCatalog,
    pub max_attempts: u32,
    /// How long after its time a scheduled run may get its job before it is `missed`.
    pub missed_run_grace: TimeDelta,
    /// Most schedules that may exist (`JOBS_MAX_SCHEDULES`).
    pub max_schedules: usize,
    /// How each request's caller is found and who is an admin.
    pub callers: Arc<CallerSettings>,
}

/// The variable without which schedules cannot be created.
pub const SCHEDULER_ROLE_VAR: &str = "JOBS_SCHEDULER_ROLE_ARN";

impl AppState {
    /// State over `store` and `queue` with what an unset environment gives: the task
    /// catalog, the default retry policy's attempts, the default missed-run grace and schedule
    /// limit, no schedule store, and every caller `local` ([`CallerSettings::local`]).
    pub fn new(store: Arc<dyn JobStore>, queue: Arc<dyn JobQueue>) -> Self {
        Self {
            store,
            queue,
            schedules: None,
            tasks: catalog(),
            max_attempts: RetryPolicy::default().max_attempts,
            missed_run_grace: MISSED_AFTER,
            max_schedules: DEFAULT_MAX_SCHEDULES,
            callers: Arc::new(CallerSettings::local()),
        }
    }

    /// State over the AWS adapters, configured from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let callers = CallerSettings::from_env()?;
        Ok(Self {
            callers: Arc::new(callers),
            ..Self::from_adapters(&AwsAdapters::load(Config::from_env()?).await?)
        })
    }

    /// State over the given AWS adapters, every caller `local`.
    pub fn from_adapters(aws: &AwsAdapters) -> Self {
        Self {
            store: Arc::new(aws.store()),
            queue: Arc::new(aws.queue()),
            schedules: aws.schedules().map(|s| Arc::new(s) as Arc<dyn ScheduleStore>),
            tasks: catalog(),
            max_attempts: aws.config.retry.max_attempts,
            missed_run_grace: aws.config.missed_run_grace,
            max_schedules: aws.config.max_schedules,
            callers: Arc::new(CallerSettings::local()),
        }
    }

    /// The schedule store, or the start-up error of a server whose routes need it.
    pub fn require_schedules(&self) -> Result<&Arc<dyn ScheduleStore>, ConfigError> {
        self.schedules.as_ref().ok_or(ConfigError::Missing(SCHEDULER_ROLE_VAR))
    }
}
