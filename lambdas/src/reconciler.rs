//! Runs the reconciler ([`job_core::application::reconcile`]): on AWS Lambda one pass per
//! invocation (an EventBridge Scheduler `rate()` schedule invokes it; the event's content
//! is ignored), elsewhere a pass every `JOBS_RECONCILE_INTERVAL_SECS` until SIGTERM/Ctrl-C
//! (the local process of `make run`).
//!
//! Needs `JOBS_QUEUE_URL`, `JOBS_TABLE_NAME` and `JOBS_DLQ_URL`; a job counts as stale after
//! `JOBS_VISIBILITY_TIMEOUT_SECS` plus [`ReconcileSettings::MARGIN`] without progress.
//! Each pass also counts the missed runs of the schedules of `JOBS_SCHEDULE_GROUP` and logs
//! the count (the `MissedScheduledRuns` metric of the CDK app).

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use job_core::adapters::AwsAdapters;
use job_core::application::reconcile::{ReconcileSettings, Report, reconcile};
use job_core::application::schedules::{MISSED_RUNS_MESSAGE, missed_runs};
use job_core::config::{Config, ConfigError};
use job_core::queue::{JobQueue, SqsQueue};
use job_core::schedules::EventBridgeScheduleStore;
use job_core::store::{DynamoDbStore, JobStore};
use lambda_http::{LambdaEvent, service_fn};
use serde_json::Value;
use tracing::{info, warn};

use crate::BoxError;
use crate::serve::StartupError;

/// The reconciler's adapters and settings: one [`Reconciler::pass`] is one invocation.
pub struct Reconciler {
    store: DynamoDbStore,
    queue: SqsQueue,
    dlq: SqsQueue,
    /// The schedules of `JOBS_SCHEDULE_GROUP`, whose missed runs each pass counts.
    schedules: EventBridgeScheduleStore,
    settings: ReconcileSettings,
    /// `JOBS_MISSED_RUN_GRACE_SECS`.
    missed_run_grace: TimeDelta,
}

impl Reconciler {
    /// The reconciler over `aws`; needs the dead-letter queue (`JOBS_DLQ_URL`).
    pub fn from_adapters(aws: &AwsAdapters) -> Result<Self, ConfigError> {
        let dlq = aws.dead_letter_queue().ok_or(ConfigError::Missing("JOBS_DLQ_URL"))?;
        Ok(Self {
            store: aws.store(),
            queue: aws.queue(),
            dlq,
            schedules: aws.schedule_reader(),
            settings: ReconcileSettings::for_visibility(aws.config.visibility_timeout),
            missed_run_grace: aws.config.missed_run_grace,
        })
    }

    /// One pass: stale jobs sent again, the dead-letter queue resolved, missed runs counted.
    pub async fn pass(&self) -> Result<Report, BoxError> {
        let report = reconcile(
            &self.store as &dyn JobStore,
            &self.queue as &dyn JobQueue,
            Some(&self.dlq as &dyn JobQueue),
            &self.settings,
            Utc::now(),
        )
        .await?;
        if report.acted() || report.errors > 0 || report.left_for_operator > 0 {
            info!(
                reconciler = true,
                requeued = report.requeued,
                redriven = report.redriven,
                failed = report.failed,
                leftovers_deleted = report.leftovers_deleted,
                left_for_operator = report.left_for_operator,
                errors = report.errors,
                "reconciler pass"
            );
        }
        self.count_missed_runs().await;
        Ok(report)
    }

    /// Logs the number of missed scheduled runs every pass (zero too, so an alarm on it
    /// clears); the CDK app turns the line into the `MissedScheduledRuns` metric. A failure
    /// here is logged and does not fail the pass.
    async fn count_missed_runs(&self) {
        match missed_runs(&self.schedules, &self.store, Utc::now(), self.missed_run_grace).await {
            Ok(missed) => info!(
                reconciler = true,
                missed = missed.total,
                schedules = ?missed.by_schedule,
                "{MISSED_RUNS_MESSAGE}"
            ),
            Err(err) => warn!(reconciler = true, error = %err, "could not count missed scheduled runs"),
        }
    }
}

/// Builds the reconciler from the environment and runs it until shutdown (or, on
/// Lambda, serves invocations).
pub async fn run() -> Result<(), BoxError> {
    job_core::telemetry::init();
    let config = Config::from_env().map_err(StartupError)?;
    let aws = AwsAdapters::load(config.clone()).await.map_err(StartupError)?;
    let reconciler = Arc::new(Reconciler::from_adapters(&aws).map_err(StartupError)?);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_http::lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
            let reconciler = Arc::clone(&reconciler);
            async move { reconciler.pass().await }
        }))
        .await;
    }
    info!(
        interval_secs = config.reconcile_interval.as_secs(),
        stale_after_secs = reconciler.settings.stale_after.as_secs(),
        "reconciler started"
    );
    let mut ticker = tokio::time::interval(config.reconcile_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = job_core::shutdown::signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        tokio::select! {
            _ = &mut shutdown => break,
            passed = reconciler.pass() => if let Err(err) = passed {
                warn!(reconciler = true, error = %err, "reconciler pass failed; trying again next interval");
            }
        }
    }
    info!("reconciler stopped");
    Ok(())
}
