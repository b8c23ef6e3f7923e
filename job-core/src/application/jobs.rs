//! Submitting jobs and looking jobs up (scheduled runs: [`super::scheduled_run`]).

use chrono::Utc;
use serde_json::Value;
use tracing::{error, info, warn};
use uuid::Uuid;

pub use super::scheduled_run::register_scheduled_run;
use crate::caller::Caller;
use crate::job::{Job, JobSource, JobStatus, id_for_idempotency_key};
use crate::log_lines::JOB_QUEUED_MESSAGE;
use crate::message::JobMessage;
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
    #[error("idempotencyKey {key:?} cannot be used; choose another")]
    IdempotencyKeyTaken { key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Submits a job for `caller`: checks task and input against the contract, derives the job
/// id from the caller and the idempotency key (if any; keys are per caller), then
/// [`queue_job`].
pub async fn submit(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    tasks: &TaskCatalog,
    max_attempts: u32,
    caller: &Caller,
    request: SubmitRequest,
) -> Result<Accepted, SubmitError> {
    let task = request.task.unwrap_or_else(|| DEFAULT_TASK.to_owned());
    tasks.validate(&task, &request.input)?;
    let key = request.idempotency_key.map(check_idempotency_key).transpose()?;
    let job_id = key
        .as_deref()
        .map(|key| id_for_idempotency_key(caller.principal(), key))
        .unwrap_or_else(Uuid::now_v7);
    let job = Job::new(
        job_id,
        task,
        request.input,
        max_attempts,
        JobSource::Api,
        key,
        Utc::now(),
    )
    .submitted_by(caller.principal());
    queue_job(store, queue, &job).await
}

fn check_idempotency_key(key: String) -> Result<String, SubmitError> {
    let len = key.chars().count();
    if len == 0 || len > MAX_IDEMPOTENCY_KEY_LEN || key.chars().any(char::is_control) {
        return Err(SubmitError::InvalidIdempotencyKey);
    }
    Ok(key)
}

/// Registers a new QUEUED `job` and sends its message.
///
/// The job id is known before anything is written, so no outcome stays unknown:
/// - The registration's outcome is unknown (a timeout, a lost response): the job is read
///   back. Registered: the submission is finished (message sent, `202`). Not there: the
///   registration is tried once more, and fails with `503` only if that fails too.
/// - A job with its id exists (a repeated idempotency key): it is the answer ([`replay`]).
/// - The message may have been sent (the send's outcome is unknown): the job stands and
///   is accepted; if the message was lost after all, the reconciler sends it once the
///   job has made no progress for a while.
/// - The message was certainly not sent ([`QueueError::NotSent`], or a refusal): the
///   registration is taken back (`503`), unless someone else has taken the job on since
///   (a replay re-sent it, a worker started it), in which case it stands and is accepted.
pub async fn queue_job(store: &dyn JobStore, queue: &dyn JobQueue, job: &Job) -> Result<Accepted, SubmitError> {
    let job_id = job.job_id;
    let message = JobMessage::for_job(job_id, &job.task, &job.input).to_json();
    let registered = job.register();
    let mut tries = 0;
    loop {
        tries += 1;
        match store.apply(&registered).await {
            Ok(()) => return send_registered(store, queue, &registered.job, &message).await,
            Err(StoreError::Conflict) => return replay(store, queue, job, &message).await,
            Err(StoreError::Unavailable(reason)) => {
                warn!(%job_id, error = %reason, "registration outcome unknown; reading the job back");
                match store.get(job_id).await {
                    Ok(Some(_)) => {
                        info!(%job_id, "the registration had been written; finishing the submission");
                        return replay(store, queue, job, &message).await;
                    }
                    Ok(None) if tries < 2 => continue,
                    Ok(None) | Err(_) => return Err(StoreError::Unavailable(reason).into()),
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Sends the message of a job just registered; see [`queue_job`] for what a failure does.
async fn send_registered(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    job: &Job,
    message: &str,
) -> Result<Accepted, SubmitError> {
    let job_id = job.job_id;
    let accepted = Accepted {
        job_id,
        status: JobStatus::Queued,
    };
    match queue.send(message).await {
        Ok(()) => {
            info!(%job_id, task = %job.task, "{JOB_QUEUED_MESSAGE}");
            Ok(accepted)
        }
        Err(QueueError::Unavailable(reason)) => {
            warn!(%job_id, error = %reason,
                  "the message may not have been sent; the job stands, and the reconciler sends it if it was lost");
            Ok(accepted)
        }
        Err(err) => match store.apply(&job.withdraw(Utc::now())).await {
            Ok(()) => {
                info!(%job_id, error = %err, "message not sent; registration taken back");
                Err(err.into())
            }
            Err(StoreError::Conflict) => {
                info!(%job_id, "message not sent, but the job was taken on meanwhile; it stands");
                Ok(accepted)
            }
            Err(undo) => {
                error!(%job_id, error = %undo, "could not withdraw a job whose message was not sent; the reconciler will send it");
                Ok(accepted)
            }
        },
    }
}

/// A repeated idempotency key (or a registration found after an unknown outcome): the
/// same request gets the existing job back. A job still QUEUED that nobody re-sent yet
/// gets its message sent once more (its first send may have failed): the replay marks
/// the job first ([`Job::requeue`], a conditional write), so concurrent and later
/// replays send nothing, and the first submission can no longer withdraw it. Duplicate
/// messages are safe: workers skip messages for jobs already taken or finished.
async fn replay(store: &dyn JobStore, queue: &dyn JobQueue, job: &Job, message: &str) -> Result<Accepted, SubmitError> {
    let existing = store.get(job.job_id).await?.ok_or(StoreError::Conflict)?;
    // Ids are derived per caller, so another caller's job here would take a hash
    // collision; it is refused all the same, and the answer names no job.
    if existing.submitted_by != job.submitted_by {
        return Err(SubmitError::IdempotencyKeyTaken {
            key: job.idempotency_key.clone().unwrap_or_default(),
        });
    }
    if existing.task != job.task || existing.input != job.input {
        return Err(SubmitError::IdempotencyKeyReused {
            key: job.idempotency_key.clone().unwrap_or_default(),
            job_id: existing.job_id,
        });
    }
    let job_id = existing.job_id;
    if existing.status == JobStatus::Queued && existing.attempts == 0 && existing.requeued_at.is_none() {
        match store.apply(&existing.requeue(Utc::now())).await {
            Ok(()) => match queue.send(message).await {
                Ok(()) => info!(%job_id, "job message sent again for a replayed submission"),
                Err(err) => warn!(%job_id, error = %err, "could not send the job's message again; the reconciler will"),
            },
            Err(StoreError::Conflict) => {} // re-sent by another replay, or taken by a worker
            Err(err) => {
                warn!(%job_id, error = %err, "could not mark the job for sending again; the reconciler will send it")
            }
        }
    }
    Ok(Accepted {
        job_id,
        status: existing.status,
    })
}

/// The job with id `id`; `None` if there is none or `id` is no job id.
pub async fn find_job(store: &dyn JobStore, id: &str) -> Result<Option<Job>, StoreError> {
    match Uuid::parse_str(id) {
        Ok(job_id) => store.get(job_id).await,
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    //! Submissions whose writes or sends fail in every way AWS lets them fail, through
    //! fault-injecting wrappers of the in-memory adapters.

    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::queue::{MemoryQueue, Received};
    use crate::store::MemoryStore;
    use crate::store::faulty::{Fault, FaultyStore};
    use crate::tasks::catalog;

    fn alice() -> Caller {
        Caller::new("alice")
    }

    /// How the wrapped queue's sends fail.
    #[derive(Clone, Copy, PartialEq)]
    enum SendFault {
        None,
        /// Sent, but the answer is lost.
        SendThenLose,
        /// Certainly not sent.
        Refuse,
    }

    struct FaultyQueue {
        inner: MemoryQueue,
        fault: Mutex<SendFault>,
    }

    impl FaultyQueue {
        fn new(fault: SendFault) -> Self {
            Self {
                inner: MemoryQueue::new(),
                fault: Mutex::new(fault),
            }
        }
        fn messages(&self) -> usize {
            self.inner.bodies().len()
        }
    }

    #[async_trait]
    impl JobQueue for FaultyQueue {
        async fn send(&self, body: &str) -> Result<(), QueueError> {
            let fault = *self.fault.lock().unwrap();
            match fault {
                SendFault::None => self.inner.send(body).await,
                SendFault::SendThenLose => {
                    self.inner.send(body).await?;
                    Err(QueueError::Unavailable("response lost".into()))
                }
                SendFault::Refuse => Err(QueueError::NotSent("connection refused".into())),
            }
        }
        async fn receive(&self, max: u32, wait: Duration, vis: Duration) -> Result<Vec<Received>, QueueError> {
            self.inner.receive(max, wait, vis).await
        }
        async fn set_visibility(&self, receipt: &str, vis: Duration) -> Result<(), QueueError> {
            self.inner.set_visibility(receipt, vis).await
        }
        async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
            self.inner.delete(receipt).await
        }
    }

    fn request(key: Option<&str>) -> SubmitRequest {
        SubmitRequest {
            task: Some("sleep".into()),
            input: json!({"ms": 1}),
            idempotency_key: key.map(str::to_owned),
        }
    }

    async fn submitted(store: &dyn JobStore) -> i64 {
        store.stats(Utc::now()).await.unwrap().total.submitted
    }

    #[tokio::test]
    async fn a_registration_whose_answer_was_lost_is_finished_not_503() {
        let store = FaultyStore::new(MemoryStore::default());
        store.on_apply(|_| true, Fault::LoseResponse, 1);
        let queue = FaultyQueue::new(SendFault::None);
        let accepted = submit(&store, &queue, &catalog(), 3, &alice(), request(None))
            .await
            .unwrap();
        assert_eq!(accepted.status, JobStatus::Queued);
        assert_eq!(queue.messages(), 1, "the message was sent");
        let job = store.get(accepted.job_id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(submitted(&store).await, 1);
    }

    #[tokio::test]
    async fn a_registration_that_did_not_happen_is_tried_again_then_503() {
        let store = FaultyStore::new(MemoryStore::default());
        store.on_apply(|_| true, Fault::Refuse, 1);
        let queue = FaultyQueue::new(SendFault::None);
        let accepted = submit(&store, &queue, &catalog(), 3, &alice(), request(None)).await;
        assert!(accepted.is_ok(), "a second try registers it");
        assert_eq!(queue.messages(), 1);

        let store = FaultyStore::new(MemoryStore::default());
        store.on_apply(|_| true, Fault::Refuse, 2);
        let err = submit(&store, &queue, &catalog(), 3, &alice(), request(None))
            .await
            .unwrap_err();
        assert!(matches!(err, SubmitError::Store(StoreError::Unavailable(_))), "{err:?}");
        assert!(store.inner().jobs().is_empty());
        assert_eq!(submitted(&store).await, 0);
    }

    #[tokio::test]
    async fn a_send_that_may_have_happened_keeps_the_job() {
        let store = FaultyStore::new(MemoryStore::default());
        let queue = FaultyQueue::new(SendFault::SendThenLose);
        let accepted = submit(&store, &queue, &catalog(), 3, &alice(), request(None))
            .await
            .unwrap();
        assert!(store.get(accepted.job_id).await.unwrap().is_some(), "never withdrawn");
        assert_eq!(queue.messages(), 1);
        assert_eq!(submitted(&store).await, 1);
    }

    #[tokio::test]
    async fn a_send_that_certainly_failed_withdraws_the_job_and_is_503() {
        let store = FaultyStore::new(MemoryStore::default());
        let queue = FaultyQueue::new(SendFault::Refuse);
        let err = submit(&store, &queue, &catalog(), 3, &alice(), request(None))
            .await
            .unwrap_err();
        assert!(matches!(err, SubmitError::Queue(QueueError::NotSent(_))), "{err:?}");
        assert!(store.inner().jobs().is_empty());
        assert_eq!(submitted(&store).await, 0);
    }

    #[tokio::test]
    async fn a_withdraw_never_removes_a_job_a_replay_sent() {
        let store = FaultyStore::new(MemoryStore::default());
        let queue = FaultyQueue::new(SendFault::Refuse);
        // The first request registers; its send is refused. Before it withdraws, a replay
        // of the same key comes in while the queue is back, marks the job and sends it.
        let job_id = id_for_idempotency_key("alice", "k");
        let job = Job::new(
            job_id,
            "sleep",
            json!({"ms": 1}),
            3,
            JobSource::Api,
            Some("k".into()),
            Utc::now(),
        )
        .submitted_by("alice");
        store.apply(&job.register()).await.unwrap();
        *queue.fault.lock().unwrap() = SendFault::None;
        let replayed = submit(&store, &queue, &catalog(), 3, &alice(), request(Some("k")))
            .await
            .unwrap();
        assert_eq!(replayed.job_id, job_id);
        assert_eq!(queue.messages(), 1);
        // The first request's withdraw expects the registered version: it cannot apply.
        let registered = job.register().job;
        let undo = store.apply(&registered.withdraw(Utc::now())).await;
        assert!(matches!(undo, Err(StoreError::Conflict)), "{undo:?}");
        assert!(store.get(job_id).await.unwrap().is_some());
        assert_eq!(submitted(&store).await, 1);
    }

    #[tokio::test]
    async fn replays_of_a_key_do_not_multiply_messages() {
        let store = FaultyStore::new(MemoryStore::default());
        let queue = FaultyQueue::new(SendFault::None);
        for _ in 0..6 {
            submit(&store, &queue, &catalog(), 3, &alice(), request(Some("same")))
                .await
                .unwrap();
        }
        assert!(
            queue.messages() <= 2,
            "the first send and at most one re-send, not one per replay: {}",
            queue.messages()
        );
        assert_eq!(submitted(&store).await, 1);
    }

    #[tokio::test]
    async fn one_key_from_two_callers_makes_two_jobs_and_names_none_of_the_other() {
        let store = FaultyStore::new(MemoryStore::default());
        let queue = FaultyQueue::new(SendFault::None);
        let bob = Caller::new("bob");
        let first = submit(&store, &queue, &catalog(), 3, &alice(), request(Some("order-123")))
            .await
            .unwrap();
        let other = submit(&store, &queue, &catalog(), 3, &bob, request(Some("order-123")))
            .await
            .unwrap();
        assert_ne!(first.job_id, other.job_id, "keys are per caller");
        let again = submit(&store, &queue, &catalog(), 3, &alice(), request(Some("order-123")))
            .await
            .unwrap();
        assert_eq!(
            again.job_id, first.job_id,
            "a replay by the same caller returns its own job"
        );
        // The same key with another request: the 409 names the caller's own job only.
        let changed = SubmitRequest {
            input: json!({"ms": 2}),
            ..request(Some("order-123"))
        };
        let err = submit(&store, &queue, &catalog(), 3, &bob, changed).await.unwrap_err();
        let SubmitError::IdempotencyKeyReused { job_id, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(job_id, other.job_id);
        let by = |id| {
            store
                .inner()
                .jobs()
                .into_iter()
                .find(|j| j.job_id == id)
                .unwrap()
                .submitted_by
        };
        assert_eq!(by(first.job_id).as_deref(), Some("alice"));
        assert_eq!(by(other.job_id).as_deref(), Some("bob"));
        assert_eq!(submitted(&store).await, 2);
    }
}
