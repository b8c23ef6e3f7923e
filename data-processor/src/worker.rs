//! One message from receipt to deletion.
//!
//! For each message the worker registers a scheduled job on first sight, claims the job
//! (a conditional write that starts the next attempt), runs the task with a timeout and
//! panic capture, records the outcome, waits out retry delays while still holding the
//! message, and deletes the message only after the final state is recorded.
//! Unparseable messages are made visible again so the queue's redrive policy moves them
//! to the dead-letter queue. On shutdown it stops receiving, lets a running attempt finish
//! within the grace period, and otherwise gives the job and its message back.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use job_core::config::Config;
use job_core::job::{Change, Claim, Job, JobSource, JobStatus, id_for_schedule_execution};
use job_core::message::{JobMessage, ScheduleRef};
use job_core::queue::{JobQueue, QueueError, Received};
use job_core::retry::RetryPolicy;
use job_core::store::{JobStore, StoreError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::heartbeat::Heartbeat;
use crate::tasks::{Registry, TaskContext, TaskError};

/// Timing and retry settings of a worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub retry: RetryPolicy,
    pub attempt_timeout: Duration,
    /// Message invisibility and job lease; renewed every third of it.
    pub visibility_timeout: Duration,
    pub shutdown_grace: Duration,
    pub receive_wait: Duration,
}

impl From<&Config> for WorkerSettings {
    fn from(c: &Config) -> Self {
        Self {
            retry: c.retry.clone(),
            attempt_timeout: c.attempt_timeout,
            visibility_timeout: c.visibility_timeout,
            shutdown_grace: c.shutdown_grace,
            receive_wait: c.receive_wait,
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded(Uuid),
    Failed(Uuid),
    /// The job had already ended: the leftover message was deleted.
    Duplicate(Uuid),
    /// Another live worker holds the job: the message was hidden until that worker's
    /// lease would run out, so it comes back (and continues the job) only if that worker
    /// is lost.
    Deferred(Uuid),
    /// Shutdown: the job and its message were given back for the next worker.
    Released(Uuid),
    /// Another worker took the job over (this one's lease had lapsed); nothing recorded.
    LostLease(Uuid),
    /// Not a valid job message, or its job does not exist: left for the dead-letter queue.
    Rejected,
}

/// An infrastructure failure: the worker cannot go on and should exit non-zero.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How one attempt ended.
enum Attempt {
    Done(Value),
    Failed(TaskError),
    /// Shutdown came and the attempt did not finish within the grace period.
    Interrupted,
}

/// Takes messages and runs their jobs.
pub struct Worker {
    store: Arc<dyn JobStore>,
    queue: Arc<dyn JobQueue>,
    tasks: Registry,
    settings: WorkerSettings,
    shutdown: CancellationToken,
}

const MAX_CONFLICTS: u32 = 5;

/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

impl Worker {
    pub fn new(
        store: Arc<dyn JobStore>,
        queue: Arc<dyn JobQueue>,
        tasks: Registry,
        settings: WorkerSettings,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            queue,
            tasks,
            settings,
            shutdown,
        }
    }

    /// Receives at most one message (long polling) and handles it. `None`: no message came.
    pub async fn run_once(&self) -> Result<Option<Outcome>, WorkerError> {
        let received = tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(None),
            r = self.queue.receive(1, self.settings.receive_wait, self.settings.visibility_timeout) => r?,
        };
        match received.into_iter().next() {
            Some(message) => self.handle(message).await.map(Some),
            None => Ok(None),
        }
    }

    /// Runs `concurrency` receive loops until shutdown. Infrastructure errors are logged
    /// and retried with a growing pause.
    pub async fn run(self: Arc<Self>, concurrency: usize) {
        let mut loops = tokio::task::JoinSet::new();
        for slot in 0..concurrency.max(1) {
            let worker = Arc::clone(&self);
            loops.spawn(async move {
                let mut pause = Duration::from_millis(250);
                while !worker.shutdown.is_cancelled() {
                    match worker.run_once().await {
                        Ok(_) => pause = Duration::from_millis(250),
                        Err(err) => {
                            error!(slot, error = %err, "worker loop error; retrying");
                            tokio::select! {
                                _ = worker.shutdown.cancelled() => {}
                                _ = tokio::time::sleep(pause) => {}
                            }
                            pause = (pause * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            });
        }
        while loops.join_next().await.is_some() {}
    }

    /// Handles one received message.
    pub async fn handle(&self, message: Received) -> Result<Outcome, WorkerError> {
        let parsed = match JobMessage::parse(&message.body) {
            Ok(parsed) => parsed,
            Err(err) => {
                warn!(message_id = %message.message_id, receive_count = message.receive_count, error = %err,
                      "unparseable message; leaving it for the dead-letter queue");
                return self.reject(&message).await;
            }
        };
        let job_id = match (&parsed.job_id, &parsed.schedule) {
            (Some(id), _) => *id,
            (None, Some(schedule)) => self.register_scheduled(&parsed, schedule).await?,
            (None, None) => return self.reject(&message).await,
        };
        let owner = Uuid::new_v4().to_string();
        let _heartbeat = Heartbeat::start(
            Arc::clone(&self.queue),
            Arc::clone(&self.store),
            message.receipt_handle.clone(),
            job_id,
            owner.clone(),
            self.settings.visibility_timeout,
        );
        let mut known: Option<Job> = None;
        let mut conflicts = 0;
        loop {
            let job = match known.take() {
                Some(job) => job,
                None => match self.store.get(job_id).await? {
                    Some(job) => job,
                    None => {
                        warn!(%job_id, "message names a job that does not exist; leaving it for the dead-letter queue");
                        return self.reject(&message).await;
                    }
                },
            };
            let now = Utc::now();
            let change = match job.claim(&owner, now, self.settings.visibility_timeout) {
                Claim::Finished => {
                    info!(%job_id, status = job.status.as_str(), "job already finished; deleting the leftover message");
                    self.queue.delete(&message.receipt_handle).await?;
                    return Ok(Outcome::Duplicate(job_id));
                }
                Claim::HeldElsewhere => {
                    // This may be the very message the holder received (SQS can deliver one
                    // twice): deleting it would lose the job if the holder then died.
                    let lease_left = job.lease.as_ref().and_then(|l| (l.expires_at - now).to_std().ok());
                    let hide = (lease_left.unwrap_or_default() + Duration::from_secs(1)).min(MAX_VISIBILITY);
                    info!(%job_id, hidden_for_secs = hide.as_secs(), "another worker holds the job; hiding this message past its lease");
                    self.queue.set_visibility(&message.receipt_handle, hide).await?;
                    return Ok(Outcome::Deferred(job_id));
                }
                Claim::Exhausted(change) | Claim::Start(change) => change,
            };
            match self.store.apply(&change).await {
                Ok(()) => {}
                Err(StoreError::Conflict) if conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    continue;
                }
                Err(StoreError::Conflict) => {
                    warn!(%job_id, "job keeps changing under this worker; giving the message back");
                    self.queue
                        .set_visibility(&message.receipt_handle, Duration::ZERO)
                        .await?;
                    return Ok(Outcome::LostLease(job_id));
                }
                Err(err) => return Err(err.into()),
            }
            let job = change.job;
            if job.status == JobStatus::Failed {
                info!(%job_id, attempts = job.attempts, "job failed: its last attempt was lost");
                self.queue.delete(&message.receipt_handle).await?;
                return Ok(Outcome::Failed(job_id));
            }
            info!(%job_id, task = %job.task, attempt = job.attempts, max_attempts = job.max_attempts, "attempt started");
            match self.attempt(&job, &owner, &message).await? {
                Next::Retry(job) => known = Some(*job),
                Next::Done(outcome) => return Ok(outcome),
            }
        }
    }

    /// Runs the attempt `job.attempts` and records how it ended.
    async fn attempt(&self, job: &Job, owner: &str, message: &Received) -> Result<Next, WorkerError> {
        let result = self.run_task(job).await;
        let now = Utc::now();
        let change = match result {
            Attempt::Interrupted => return self.give_back(job, owner, message, Duration::ZERO).await,
            Attempt::Done(value) => job.succeed(owner, value, now),
            Attempt::Failed(err) => {
                let delay = self.settings.retry.delay_after(job.attempts);
                warn!(job_id = %job.job_id, attempt = job.attempts, permanent = err.permanent, error = %err.message, "attempt failed");
                job.attempt_failed(owner, &err.message, err.permanent, delay, now)
            }
        };
        if !self.record(&change).await? {
            return Ok(Next::Done(Outcome::LostLease(job.job_id)));
        }
        let job = change.job;
        match job.status {
            JobStatus::Succeeded | JobStatus::Failed => {
                self.queue.delete(&message.receipt_handle).await?;
                info!(job_id = %job.job_id, status = job.status.as_str(), attempts = job.attempts, "job finished");
                Ok(Next::Done(if job.status == JobStatus::Succeeded {
                    Outcome::Succeeded(job.job_id)
                } else {
                    Outcome::Failed(job.job_id)
                }))
            }
            _ => {
                let delay = job
                    .next_attempt_at
                    .map(|t| (t - now).to_std().unwrap_or_default())
                    .unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => Ok(Next::Retry(Box::new(job))),
                    _ = self.shutdown.cancelled() => self.give_back(&job, owner, message, delay).await,
                }
            }
        }
    }

    /// Applies a change made by the lease holder; `false` if another worker took the job over.
    async fn record(&self, change: &Change) -> Result<bool, WorkerError> {
        match self.store.apply(change).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => {
                warn!(job_id = %change.job.job_id, "lease lost: another worker took the job over; dropping this outcome");
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Releases the job and makes its message visible again after `after`.
    async fn give_back(
        &self,
        job: &Job,
        owner: &str,
        message: &Received,
        after: Duration,
    ) -> Result<Next, WorkerError> {
        if self.record(&job.release(owner, Utc::now())).await? {
            self.queue.set_visibility(&message.receipt_handle, after).await?;
            info!(job_id = %job.job_id, attempt = job.attempts, "shutting down: job given back to the queue");
        }
        Ok(Next::Done(Outcome::Released(job.job_id)))
    }

    /// Runs the task with the attempt timeout, catching panics; on shutdown waits at most
    /// the grace period.
    async fn run_task(&self, job: &Job) -> Attempt {
        let ctx = TaskContext {
            job_id: job.job_id,
            attempt: job.attempts,
            max_attempts: job.max_attempts,
        };
        let future = match self.tasks.start(&job.task, job.input.clone(), ctx) {
            Ok(future) => future,
            Err(err) => return Attempt::Failed(err),
        };
        let mut handle = tokio::spawn(future);
        let timeout = self.settings.attempt_timeout;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let joined = tokio::select! {
            joined = &mut handle => joined,
            _ = &mut deadline => {
                handle.abort();
                return Attempt::Failed(TaskError::retryable(format!("attempt timed out after {}s", timeout.as_secs_f64())));
            }
            _ = self.shutdown.cancelled() => {
                match tokio::time::timeout(self.settings.shutdown_grace, &mut handle).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        handle.abort();
                        return Attempt::Interrupted;
                    }
                }
            }
        };
        match joined {
            Ok(Ok(value)) => Attempt::Done(value),
            Ok(Err(err)) => Attempt::Failed(err),
            Err(join) if join.is_panic() => Attempt::Failed(TaskError::retryable(format!(
                "task panicked: {}",
                panic_text(join.into_panic())
            ))),
            Err(join) => Attempt::Failed(TaskError::retryable(format!("task stopped: {join}"))),
        }
    }

    async fn register_scheduled(&self, message: &JobMessage, schedule: &ScheduleRef) -> Result<Uuid, WorkerError> {
        let job_id = id_for_schedule_execution(&schedule.name, &schedule.execution_id);
        let source = JobSource::Schedule {
            name: schedule.name.clone(),
            execution_id: schedule.execution_id.clone(),
            scheduled_time: schedule.scheduled_time.clone(),
        };
        let input = message.input.clone();
        let job = Job::new(
            job_id,
            &message.task,
            input,
            self.settings.retry.max_attempts,
            source,
            None,
            Utc::now(),
        );
        match self.store.apply(&job.register()).await {
            Ok(()) => info!(%job_id, schedule = %schedule.name, "scheduled job registered"),
            Err(StoreError::Conflict) => {} // registered on an earlier delivery
            Err(err) => return Err(err.into()),
        }
        Ok(job_id)
    }

    async fn reject(&self, message: &Received) -> Result<Outcome, WorkerError> {
        self.queue
            .set_visibility(&message.receipt_handle, Duration::ZERO)
            .await?;
        Ok(Outcome::Rejected)
    }
}

enum Next {
    Retry(Box<Job>),
    Done(Outcome),
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::registry;
    use chrono::DateTime;
    use job_core::queue::MemoryQueue;
    use job_core::schedules::local_runner::{Fired, LocalRunner, ManualClock};
    use job_core::schedules::{MemoryScheduleStore, Schedule, ScheduleStore};
    use job_core::store::MemoryStore;
    use serde_json::json;

    fn settings() -> WorkerSettings {
        WorkerSettings {
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
            },
            attempt_timeout: Duration::from_secs(10),
            visibility_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(1),
            receive_wait: Duration::ZERO,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// A nightly schedule fired once by the local runner, its message delivered twice.
    async fn fired_twice(queue: &Arc<MemoryQueue>) -> Fired {
        let schedules = Arc::new(MemoryScheduleStore::new());
        let schedule = Schedule {
            name: "nightly".into(),
            cron: "0 2 * * *".into(),
            expression: "cron(0 2 * * ? *)".into(),
            timezone: "Europe/Berlin".into(),
            task: "sleep".into(),
            input: json!({"ms": 1}),
            created: at("2026-01-05T10:00:30Z"),
            enabled: true,
        };
        schedules.create(&schedule).await.unwrap();
        let clock = Arc::new(ManualClock::new(schedule.created));
        let mut runner = LocalRunner::new(schedules, queue.clone(), clock.clone());
        clock.set(at("2026-01-06T01:00:10Z")); // 02:00 in Berlin is 01:00 UTC in winter
        let mut fired = runner.tick().await.unwrap();
        assert_eq!(fired.len(), 1);
        let body = queue.bodies().pop().unwrap();
        queue.send(&body).await.unwrap();
        fired.pop().unwrap()
    }

    async fn assert_one_job_counted_once(store: &MemoryStore, fired: &Fired) -> Uuid {
        let jobs = store.jobs();
        assert_eq!(jobs.len(), 1, "one job registered");
        let job = &jobs[0];
        assert_eq!(job.job_id, id_for_schedule_execution("nightly", &fired.execution_id));
        assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
        assert_eq!(
            job.source,
            JobSource::Schedule {
                name: "nightly".into(),
                execution_id: fired.execution_id.clone(),
                scheduled_time: "2026-01-06T01:00:00Z".into(),
            }
        );
        let stats = store.stats(Utc::now()).await.unwrap();
        assert_eq!(
            (stats.submitted, stats.succeeded, stats.failed, stats.retries),
            (1, 1, 0, 0)
        );
        job.job_id
    }

    #[tokio::test]
    async fn a_scheduled_message_delivered_twice_registers_and_runs_one_job() {
        let (store, queue) = (Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
        let fired = fired_twice(&queue).await;
        let worker = Worker::new(
            store.clone(),
            queue.clone(),
            registry(),
            settings(),
            CancellationToken::new(),
        );
        let first = worker.run_once().await.unwrap();
        let second = worker.run_once().await.unwrap();
        let job_id = assert_one_job_counted_once(&store, &fired).await;
        assert_eq!(first, Some(Outcome::Succeeded(job_id)));
        assert_eq!(second, Some(Outcome::Duplicate(job_id)));
        assert!(queue.bodies().is_empty(), "both copies deleted");
    }

    #[tokio::test]
    async fn two_workers_given_the_same_scheduled_run_at_once_run_it_once() {
        let (store, queue) = (Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
        let fired = fired_twice(&queue).await;
        let worker = || {
            Worker::new(
                store.clone(),
                queue.clone(),
                registry(),
                settings(),
                CancellationToken::new(),
            )
        };
        let (a, b) = (worker(), worker());
        let (x, y) = tokio::join!(a.run_once(), b.run_once());
        let job_id = assert_one_job_counted_once(&store, &fired).await;
        let mut outcomes = vec![x.unwrap().unwrap(), y.unwrap().unwrap()];
        outcomes.sort_by_key(|o| !matches!(o, Outcome::Succeeded(_)));
        assert_eq!(outcomes[0], Outcome::Succeeded(job_id));
        // The other copy found the job finished (deleted) or held by the first (hidden).
        assert!(
            matches!(outcomes[1], Outcome::Duplicate(id) | Outcome::Deferred(id) if id == job_id),
            "{outcomes:?}"
        );
    }
}
