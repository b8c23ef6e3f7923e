//! Submitting jobs, registering scheduled runs, and looking jobs up.

use chrono::Utc;
use serde_json::Value;
use tracing::{error, info};
use uuid::Uuid;

use crate::job::{Job, JobSource, JobStatus, id_for_idempotency_key, id_for_scheduled_run};
use crate::message::{JobMessage, ScheduleRef};
use crate::queue::{JobQueue, QueueError};
use crate::store::{JobStore, StoreError};
use crate::tasks::{DEFAULT_TASK, TaskCatalog, ValidationError};

/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// A request to run a job; every field is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmitRequest {
    /// Task to run ([`DEFAULT_TASK`] when absent).
    pub task: Option<String>,
    pub input: Value,
    /// Requests with the same key create one job.
    pub idempotency_key: Option<String>,
}

/// A job that is queued (or, for a repeated idempotency key, the job the key created).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub job_id: Uuid,
    pub status: JobStatus,
}

/// Why a job was not submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Unknown task, or input that does not fit it.
    #[error(transparent)]
    Task(#[from] ValidationError),
    #[error("idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters without control characters")]
    InvalidIdempotencyKey,
    #[error("idempotencyKey {key:?} was already used for a different request (job {job_id})")]
    IdempotencyKeyReused { key: String, job_id: Uuid },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Submits a job: checks task and input against the contract, derives the job id from the
/// idempotency key (if any), then [`queue_job`].
pub async fn submit(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    tasks: &TaskCatalog,
    max_attempts: u32,
    request: SubmitRequest,
) -> Result<Accepted, SubmitError> {
    let task = request.task.unwrap_or_else(|| DEFAULT_TASK.to_owned());
    tasks.validate(&task, &request.input)?;
    let key = request.idempotency_key.map(check_idempotency_key).transpose()?;
    let job_id = key.as_deref().map(id_for_idempotency_key).unwrap_or_else(Uuid::now_v7);
    let job = Job::new(
        job_id,
        task,
        request.input,
        max_attempts,
        JobSource::Api,
        key,
        Utc::now(),
    );
    queue_job(store, queue, &job).await
}

fn check_idempotency_key(key: String) -> Result<String, SubmitError> {
    let len = key.chars().count();
    if len == 0 || len > MAX_IDEMPOTENCY_KEY_LEN || key.chars().any(char::is_control) {
        return Err(SubmitError::InvalidIdempotencyKey);
    }
    Ok(key)
}

/// Registers a new QUEUED `job` and sends its message. If the message cannot be sent,
/// the registration is taken back, so the job is neither lost nor counted. If a job with
/// its id exists (a repeated idempotency key), the existing job is the answer.
pub async fn queue_job(store: &dyn JobStore, queue: &dyn JobQueue, job: &Job) -> Result<Accepted, SubmitError> {
    let job_id = job.job_id;
    let message = JobMessage::for_job(job_id, &job.task, &job.input).to_json();
    let registered = job.register();
    match store.apply(&registered).await {
        Ok(()) => {
            if let Err(err) = queue.send(&message).await {
                if let Err(undo) = store.apply(&registered.job.withdraw(Utc::now())).await {
                    error!(%job_id, error = %undo, "could not withdraw a job whose message was not sent");
                }
                return Err(err.into());
            }
            info!(%job_id, task = %job.task, "job queued");
            Ok(Accepted {
                job_id,
                status: JobStatus::Queued,
            })
        }
        Err(StoreError::Conflict) => replay(store, queue, job, &message).await,
        Err(err) => Err(err.into()),
    }
}

/// A repeated idempotency key: the same request gets the existing job back.
async fn replay(store: &dyn JobStore, queue: &dyn JobQueue, job: &Job, message: &str) -> Result<Accepted, SubmitError> {
    let existing = store.get(job.job_id).await?.ok_or(StoreError::Conflict)?;
    if existing.task != job.task || existing.input != job.input {
        return Err(SubmitError::IdempotencyKeyReused {
            key: job.idempotency_key.clone().unwrap_or_default(),
            job_id: existing.job_id,
        });
    }
    if existing.status == JobStatus::Queued && existing.attempts == 0 {
        // The first request may have failed to send its message; sending again is safe
        // because workers skip messages for jobs already taken or finished.
        queue.send(message).await?;
    }
    Ok(Accepted {
        job_id: existing.job_id,
        status: existing.status,
    })
}

/// Registers the job of a scheduled run on first sight, under an id derived from the
/// schedule, its generation and the run's scheduled time: a redelivered run, and a
/// Scheduler retry of it (with a new execution id), find it registered and count once.
pub async fn register_scheduled_run(
    store: &dyn JobStore,
    message: &JobMessage,
    schedule: &ScheduleRef,
    max_attempts: u32,
) -> Result<Uuid, StoreError> {
    let job_id = id_for_scheduled_run(&schedule.name, schedule.generation.as_deref(), &schedule.scheduled_time);
    let source = JobSource::Schedule {
        name: schedule.name.clone(),
        execution_id: schedule.execution_id.clone(),
        scheduled_time: schedule.scheduled_time.clone(),
    };
    let job = Job::new(
        job_id,
        &message.task,
        message.input.clone(),
        max_attempts,
        source,
        None,
        Utc::now(),
    );
    match store.apply(&job.register()).await {
        Ok(()) => info!(%job_id, schedule = %schedule.name, "scheduled job registered"),
        Err(StoreError::Conflict) => {} // registered on an earlier delivery
        Err(err) => return Err(err),
    }
    Ok(job_id)
}

/// The job with id `id`; `None` if there is none or `id` is no job id.
pub async fn find_job(store: &dyn JobStore, id: &str) -> Result<Option<Job>, StoreError> {
    match Uuid::parse_str(id) {
        Ok(job_id) => store.get(job_id).await,
        Err(_) => Ok(None),
    }
}
