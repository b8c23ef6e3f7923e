//! One message from receipt to deletion.
//!
//! For each message the worker registers a scheduled job on first sight, claims the job
//! (a conditional write that starts the next attempt), runs the task with a timeout and
//! panic capture, records the outcome, waits out retry delays while still holding the
//! message, and deletes the message only after the final state is recorded.
//! Unparseable messages are made visible again so the queue's redrive policy moves them
//! to the dead-letter queue. On shutdown it stops receiving, lets a running attempt finish
//! within the grace period, and otherwise gives the job and its message back.
//!
//! A cancel asked for while the job runs reaches the worker through its heartbeat (the
//! store refuses to extend the lease): the attempt's cancellation token fires, the task
//! stops, and the worker records CANCELLED and deletes the message. If the cancel lands
//! between the end of the task and the recording of its outcome, the outcome's write
//! fails on the job's version and the worker records CANCELLED instead: one terminal
//! state, counted once.
//!
//! In loop mode ([`Worker::run`]) one long poll feeds every slot of the process, asking
//! for as many messages as slots are free, and finished messages are deleted in batches;
//! `--once` ([`Worker::run_once`]) receives exactly one and deletes it on its own.
//!
//! Handling a message decides its [`Fate`] once (delete, hide for a while, release, or
//! leave it); [`Worker::handle`] carries it out in one place, after the heartbeat stopped.
//! Whether a failed attempt is retried is decided by the retry policy
//! (`RetryPolicy::after_failure`).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use job_core::application::jobs::register_scheduled_run;
use job_core::config::Config;
use job_core::job::{Change, Claim, FirstClaim, FirstClaimed, Job, JobStatus};
use job_core::log_lines::{ATTEMPT_STARTED_MESSAGE, JOB_FINISHED_MESSAGE, LAST_ATTEMPT_LOST_MESSAGE};
use job_core::message::JobMessage;
use job_core::queue::{JobQueue, MAX_BATCH, QueueError, Received};
use job_core::retry::RetryPolicy;
use job_core::store::{JobStore, StoreError, is_written_by};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::deleter::{self, BatchDeleter};
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
    /// Loop mode: after a poll that brought fewer messages than free slots while other
    /// jobs of the process run, the next poll waits this long first, so that messages
    /// arriving meanwhile share it. Zero: never.
    pub receive_gather: Duration,
}

impl From<&Config> for WorkerSettings {
    fn from(c: &Config) -> Self {
        Self {
            retry: c.retry.clone(),
            attempt_timeout: c.attempt_timeout,
            visibility_timeout: c.visibility_timeout,
            shutdown_grace: c.shutdown_grace,
            receive_wait: c.receive_wait,
            receive_gather: c.receive_gather,
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded(Uuid),
    Failed(Uuid),
    /// A cancel was asked for: the attempt was stopped (or none started) and CANCELLED recorded.
    Cancelled(Uuid),
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

/// What becomes of a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Its job is done with (final state recorded, or the job had ended): delete it.
    Delete,
    /// Keep it invisible this long, then let it come back: past another worker's lease, or
    /// until a retry that a shutdown interrupted is due.
    Hide(Duration),
    /// Make it visible at once: for the next worker, or for the queue's redrive policy.
    Release,
    /// Leave it as it is: another worker took the job over, and the message comes back
    /// when its visibility timeout runs out.
    Leave,
}

impl Fate {
    /// Visible again after `after`: at once when it is zero.
    fn visible_after(after: Duration) -> Self {
        if after.is_zero() {
            Self::Release
        } else {
            Self::Hide(after)
        }
    }
}

/// How handling a message ended, and what becomes of the message.
type Decided = (Outcome, Fate);

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
    /// The lease was lost (or a cancel was asked for): the attempt was stopped and its
    /// result must not be recorded.
    LeaseLost,
}

/// How recording a change by the lease holder went.
enum Recorded {
    Applied,
    /// A cancel was asked for in the meantime: CANCELLED was recorded instead.
    Cancelled,
    /// Another worker took the job over, or it ended otherwise: nothing recorded.
    Lost,
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

/// Further tries of recording a change while the store is unavailable: 4, from 200 ms
/// doubling to 2 s, jittered.
const RECORD_RETRY: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(200))
    .with_max_delay(Duration::from_secs(2))
    .with_max_times(4)
    .with_jitter();

/// How long a poll may wait for more free slots while the queue has a backlog.
const RECEIVE_LINGER: Duration = Duration::from_millis(200);

/// The first pause after an infrastructure error, doubling up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(10);

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
    /// The `--once` mode: exactly one message is asked for, and deleted on its own.
    pub async fn run_once(&self) -> Result<Option<Outcome>, WorkerError> {
        // The message's visibility timeout starts after this: the lease's clock starts here.
        let asked_at = Utc::now();
        let received = tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(None),
            r = self.queue.receive(1, self.settings.receive_wait, self.settings.visibility_timeout) => r?,
        };
        match received.into_iter().next() {
            Some(message) => self.handle_received(message, asked_at, None).await.map(Some),
            None => Ok(None),
        }
    }

    /// Runs up to `concurrency` messages at once until shutdown, fed by one long poll.
    ///
    /// The poll asks for as many messages as there are free slots (at most
    /// [`MAX_BATCH`]), so every message received starts at once: none waits for a slot
    /// while its visibility timeout runs, and none waits behind a slow job. When the last
    /// poll came back full (a backlog), the next one waits up to [`RECEIVE_LINGER`] for
    /// more slots to free up before it asks, so that it takes a fuller batch; the messages
    /// wait in the queue meanwhile, free for any other worker. When it came back with some
    /// messages but fewer than asked for while other jobs of the process still run (jobs
    /// arrive about as fast as they are taken), the next poll waits
    /// [`WorkerSettings::receive_gather`] first, so that the messages arriving meanwhile
    /// share one poll instead of each having its own; the messages received start at once.
    /// Never after an empty poll, and never when the process runs only the message just
    /// received (one job at a time: the next job is not delayed). An idle
    /// process makes one poll per wait period, whatever its concurrency. Finished
    /// messages are deleted in batches ([`BatchDeleter`]). On shutdown the poll stops,
    /// the running messages end as in [`Self::run_once`] (within the grace period, or
    /// given back), and the deletes still waiting are made.
    ///
    /// Infrastructure errors are logged and retried with a growing pause: a failed poll
    /// pauses the poll, a message whose handling failed keeps its slot for the pause.
    pub async fn run(self: Arc<Self>, concurrency: usize) {
        let concurrency = concurrency.max(1);
        let deleter = Arc::new(BatchDeleter::start(
            Arc::clone(&self.queue),
            deleter::linger_for(self.settings.visibility_timeout),
        ));
        let slots = Arc::new(Semaphore::new(concurrency));
        let failures = Arc::new(AtomicU32::new(0));
        let mut running = tokio::task::JoinSet::new();
        let mut poll_pause = FIRST_PAUSE;
        let batch = concurrency.min(MAX_BATCH);
        // Whether the last poll came back full: the queue likely holds more.
        let mut backlog = false;
        // Whether the last poll brought some messages but fewer than asked for.
        let mut partial = false;
        loop {
            // Jobs arrive as they are taken: let a few more arrive, so that they share a
            // poll; only while more than one job runs, so one job at a time never waits.
            if partial && running.len() > 1 && !self.settings.receive_gather.is_zero() {
                tokio::select! {
                    _ = self.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(self.settings.receive_gather) => {}
                }
            }
            let Some(mut permits) = self.free_slots(&slots, batch, backlog).await else {
                break;
            };
            let asked_at = Utc::now();
            let asked = permits.len() as u32;
            let received = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                r = self.queue.receive(asked, self.settings.receive_wait, self.settings.visibility_timeout) => r,
            };
            match received {
                Ok(messages) => {
                    poll_pause = FIRST_PAUSE;
                    backlog = messages.len() >= asked as usize;
                    partial = !messages.is_empty() && !backlog;
                    for message in messages {
                        let Some(permit) = permits.pop() else {
                            warn!(message_id = %message.message_id, asked, "the queue answered more messages than asked for; giving this one back");
                            if let Err(err) = self.queue.set_visibility(&message.receipt_handle, Duration::ZERO).await {
                                warn!(error = %err, "could not give the message back; it reappears after its visibility timeout");
                            }
                            continue;
                        };
                        running.spawn(Arc::clone(&self).handle_in_slot(
                            message,
                            asked_at,
                            permit,
                            Arc::clone(&deleter),
                            Arc::clone(&failures),
                        ));
                    }
                }
                Err(err) => {
                    drop(permits);
                    backlog = false;
                    partial = false;
                    error!(error = %err, pause_ms = poll_pause.as_millis() as u64, "receive failed; retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => {}
                        _ = tokio::time::sleep(poll_pause) => {}
                    }
                    poll_pause = (poll_pause * 2).min(MAX_PAUSE);
                }
            }
            while let Some(ended) = running.try_join_next() {
                log_panic(ended);
            }
        }
        while let Some(ended) = running.join_next().await {
            log_panic(ended);
        }
        match Arc::try_unwrap(deleter) {
            Ok(deleter) => deleter.close().await,
            Err(_) => warn!("the batch deleter is still shared at shutdown; its last deletes are left"),
        }
    }

    /// Waits for a free slot, then takes every other free one, up to `batch`; after a full
    /// poll (`backlog`), waits up to [`RECEIVE_LINGER`] for more. `None`: shutdown.
    async fn free_slots(
        &self,
        slots: &Arc<Semaphore>,
        batch: usize,
        backlog: bool,
    ) -> Option<Vec<OwnedSemaphorePermit>> {
        let first = tokio::select! {
            _ = self.shutdown.cancelled() => return None,
            permit = Arc::clone(slots).acquire_owned() => permit.expect("the slots are never closed"),
        };
        let mut permits = vec![first];
        while permits.len() < batch {
            match Arc::clone(slots).try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        // A backlog waits in the queue anyway: let a few more slots free up, so that one
        // poll takes a fuller batch.
        if backlog && permits.len() < batch {
            let until = tokio::time::Instant::now() + RECEIVE_LINGER;
            while permits.len() < batch {
                tokio::select! {
                    _ = self.shutdown.cancelled() => break,
                    _ = tokio::time::sleep_until(until) => break,
                    permit = Arc::clone(slots).acquire_owned() => permits.push(permit.expect("the slots are never closed")),
                }
            }
        }
        Some(permits)
    }

    /// Handles one message in the slot `permit` holds; after an infrastructure error the
    /// slot pauses, longer after each error in a row (`failures`, shared by the slots).
    async fn handle_in_slot(
        self: Arc<Self>,
        message: Received,
        asked_at: chrono::DateTime<Utc>,
        permit: OwnedSemaphorePermit,
        deleter: Arc<BatchDeleter>,
        failures: Arc<AtomicU32>,
    ) {
        let _slot = permit;
        match self.handle_received(message, asked_at, Some(&deleter)).await {
            Ok(_) => failures.store(0, Ordering::Relaxed),
            Err(err) => {
                let failed = failures.fetch_add(1, Ordering::Relaxed);
                let pause = (FIRST_PAUSE * 2u32.saturating_pow(failed.min(6))).min(MAX_PAUSE);
                error!(error = %err, pause_ms = pause.as_millis() as u64, "worker error; this slot pauses");
                tokio::select! {
                    _ = self.shutdown.cancelled() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }

    /// Handles one received message: decides its fate, then carries it out.
    pub async fn handle(&self, message: Received) -> Result<Outcome, WorkerError> {
        self.handle_received(message, Utc::now(), None).await
    }

    /// [`Self::handle`] for a message asked for at `asked_at`; deleted through `deleter`
    /// when there is one, else at once.
    async fn handle_received(
        &self,
        message: Received,
        asked_at: chrono::DateTime<Utc>,
        deleter: Option<&BatchDeleter>,
    ) -> Result<Outcome, WorkerError> {
        let (outcome, fate) = self.decide(&message, asked_at).await?;
        self.settle(&message, fate, deleter).await?;
        Ok(outcome)
    }

    /// The only place a message is deleted or its visibility changed (the heartbeat aside).
    async fn settle(&self, message: &Received, fate: Fate, deleter: Option<&BatchDeleter>) -> Result<(), QueueError> {
        let receipt = &message.receipt_handle;
        match (fate, deleter) {
            (Fate::Delete, Some(deleter)) => {
                deleter.delete(receipt);
                Ok(())
            }
            (Fate::Delete, None) => self.queue.delete(receipt).await,
            (Fate::Hide(duration), _) => self.queue.set_visibility(receipt, duration).await,
            (Fate::Release, _) => self.queue.set_visibility(receipt, Duration::ZERO).await,
            (Fate::Leave, _) => Ok(()),
        }
    }

    /// Reads the message, registers a scheduled run, and runs the job while a heartbeat
    /// keeps the message hidden and the lease alive.
    async fn decide(&self, message: &Received, asked_at: chrono::DateTime<Utc>) -> Result<Decided, WorkerError> {
        let parsed = match JobMessage::parse(&message.body) {
            Ok(parsed) => parsed,
            Err(err) => {
                warn!(message_id = %message.message_id, receive_count = message.receive_count, error = %err,
                      "unparseable message; leaving it for the dead-letter queue");
                return Ok((Outcome::Rejected, Fate::Release));
            }
        };
        let job_id = match (&parsed.job_id, &parsed.schedule) {
            (Some(id), _) => *id,
            (None, Some(schedule)) => {
                register_scheduled_run(&*self.store, &parsed, schedule, self.settings.retry.max_attempts).await?
            }
            (None, None) => return Ok((Outcome::Rejected, Fate::Release)),
        };
        let owner = Uuid::new_v4().to_string();
        let heartbeat = Heartbeat::start(
            Arc::clone(&self.queue),
            Arc::clone(&self.store),
            message.receipt_handle.clone(),
            job_id,
            owner.clone(),
            self.settings.visibility_timeout,
            asked_at,
        );
        self.run_job(job_id, &owner, &heartbeat).await
    }

    /// Claims the job and runs attempts until it ends, is given back or is lost.
    ///
    /// The common case costs one request: the first claim of a QUEUED job is one
    /// conditional write that answers the job as it found it when it did not apply
    /// ([`FirstClaim`]); from that answer the worker decides as from a read.
    async fn run_job(&self, job_id: Uuid, owner: &str, heartbeat: &Heartbeat) -> Result<Decided, WorkerError> {
        let first = FirstClaim::new(job_id, owner, Utc::now(), heartbeat.lease_for());
        // The job this worker holds and is to run, else what it knows of the job.
        let (mut claimed, mut known) = match self.store.claim_first(&first).await? {
            FirstClaimed::Claimed(job) => (Some(job), None),
            FirstClaimed::Found(Some(job)) if first.is_written_in(&job) => {
                info!(%job_id, "the first claim had been applied on an earlier try");
                (Some(job), None)
            }
            FirstClaimed::Found(Some(job)) => (None, Some(job)),
            FirstClaimed::Found(None) => {
                warn!(%job_id, "message names a job that does not exist; leaving it for the dead-letter queue");
                return Ok((Outcome::Rejected, Fate::Release));
            }
        };
        let mut conflicts = 0;
        loop {
            let job = match claimed.take() {
                Some(job) => job,
                None => {
                    let job = match known.take() {
                        Some(job) => job,
                        None => match self.store.get(job_id).await? {
                            Some(job) => job,
                            None => {
                                warn!(%job_id, "message names a job that does not exist; leaving it for the dead-letter queue");
                                return Ok((Outcome::Rejected, Fate::Release));
                            }
                        },
                    };
                    let change = match claim(&job, owner, heartbeat.lease_for()) {
                        Ok(change) => change,
                        Err(decided) => return Ok(decided),
                    };
                    match self.store.apply(&change).await {
                        Ok(()) => change.job,
                        Err(StoreError::Conflict) if conflicts < MAX_CONFLICTS => {
                            conflicts += 1;
                            continue;
                        }
                        Err(StoreError::Conflict) => {
                            warn!(%job_id, "job keeps changing under this worker; giving the message back");
                            return Ok((Outcome::LostLease(job_id), Fate::Release));
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
            };
            match self.run_claimed(job, owner, heartbeat).await? {
                Next::Retry(job) => known = Some(*job),
                Next::Done(decided) => return Ok(decided),
            }
        }
    }

    /// Runs the job just claimed (or ends it, when the claim recorded FAILED or CANCELLED).
    async fn run_claimed(&self, job: Job, owner: &str, heartbeat: &Heartbeat) -> Result<Next, WorkerError> {
        let job_id = job.job_id;
        if let Some(lease) = &job.lease {
            heartbeat.held(lease.expires_at);
        }
        if job.status == JobStatus::Failed {
            info!(%job_id, attempts = job.attempts, "{LAST_ATTEMPT_LOST_MESSAGE}");
            return Ok(Next::Done((Outcome::Failed(job_id), Fate::Delete)));
        }
        if job.status == JobStatus::Cancelled {
            info!(%job_id, attempts = job.attempts, "job cancelled before its next attempt");
            return Ok(Next::Done((Outcome::Cancelled(job_id), Fate::Delete)));
        }
        info!(%job_id, task = %job.task, attempt = job.attempts, max_attempts = job.max_attempts, "{ATTEMPT_STARTED_MESSAGE}");
        self.attempt(&job, owner, heartbeat).await
    }

    /// Runs the attempt `job.attempts` and records how it ended.
    async fn attempt(&self, job: &Job, owner: &str, heartbeat: &Heartbeat) -> Result<Next, WorkerError> {
        let result = self.run_task(job, &heartbeat.lost()).await;
        let now = Utc::now();
        let change = match result {
            Attempt::Interrupted => return self.give_back(job, owner, Duration::ZERO).await,
            Attempt::LeaseLost => return self.stopped(job.job_id, owner).await.map(Next::Done),
            Attempt::Done(value) => job.succeed(owner, value, now),
            Attempt::Failed(err) => {
                warn!(job_id = %job.job_id, attempt = job.attempts, permanent = err.permanent, error = %err.message, "attempt failed");
                let next = self
                    .settings
                    .retry
                    .limited_to(job.max_attempts)
                    .after_failure(job.attempts, err.permanent);
                job.attempt_failed(owner, &err.message, next, now)
            }
        };
        match self.record(&change).await? {
            Recorded::Applied => {}
            Recorded::Cancelled => return Ok(Next::Done((Outcome::Cancelled(job.job_id), Fate::Delete))),
            Recorded::Lost => return Ok(Next::Done((Outcome::LostLease(job.job_id), Fate::Leave))),
        }
        let job = change.job;
        match job.status {
            JobStatus::Succeeded | JobStatus::Failed => {
                info!(job_id = %job.job_id, status = job.status.as_str(), attempts = job.attempts, "{JOB_FINISHED_MESSAGE}");
                let outcome = if job.status == JobStatus::Succeeded {
                    Outcome::Succeeded(job.job_id)
                } else {
                    Outcome::Failed(job.job_id)
                };
                Ok(Next::Done((outcome, Fate::Delete)))
            }
            _ => {
                let delay = job
                    .next_attempt_at
                    .map(|t| (t - now).to_std().unwrap_or_default())
                    .unwrap_or_default();
                let lost = heartbeat.lost();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => Ok(Next::Retry(Box::new(job))),
                    _ = self.shutdown.cancelled() => self.give_back(&job, owner, delay).await,
                    // Cancelled or taken over while waiting: the store says which.
                    _ = lost.cancelled() => self.stopped(job.job_id, owner).await.map(Next::Done),
                }
            }
        }
    }

    /// The attempt was stopped because the lease could not be renewed: record CANCELLED if
    /// a cancel was asked for and the job is still this worker's, else leave the job (and
    /// its message) to whoever holds it now, recording nothing.
    async fn stopped(&self, job_id: Uuid, owner: &str) -> Result<Decided, WorkerError> {
        for _ in 0..MAX_CONFLICTS {
            let Some(current) = self.store.get(job_id).await? else {
                break;
            };
            if current.status.is_terminal() {
                return Ok((Outcome::Duplicate(job_id), Fate::Delete));
            }
            let mine = current.lease.as_ref().is_some_and(|l| l.owner == owner);
            if !mine || current.cancel_requested_at.is_none() {
                break;
            }
            match self.store.apply(&current.cancel_attempt(owner, Utc::now())).await {
                Ok(()) => {
                    info!(%job_id, attempt = current.attempts, "attempt stopped: job cancelled");
                    return Ok((Outcome::Cancelled(job_id), Fate::Delete));
                }
                Err(StoreError::Conflict) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        warn!(%job_id, "lease lost: attempt stopped, nothing recorded; leaving the job to its new holder");
        Ok((Outcome::LostLease(job_id), Fate::Leave))
    }

    /// Applies a change made by the lease holder. If its condition fails because a cancel
    /// was asked for in the meantime, records CANCELLED instead.
    ///
    /// An outcome is worth a whole attempt, so a store that stays unavailable past its own
    /// retries is tried again a few times more ([`RECORD_RETRY`]); and a failed condition
    /// is checked against the stored record, since it may be this very write, applied on
    /// an earlier try whose answer was lost.
    async fn record(&self, change: &Change) -> Result<Recorded, WorkerError> {
        let job_id = change.job.job_id;
        let apply = || async { self.store.apply(change).await };
        let applied = apply
            .retry(RECORD_RETRY)
            .sleep(tokio::time::sleep)
            .when(|err| matches!(err, StoreError::Unavailable(_)))
            .notify(|err, after| warn!(%job_id, error = %err, retry_in_ms = after.as_millis() as u64, "could not record; retrying"))
            .await;
        match applied {
            Ok(()) => Ok(Recorded::Applied),
            Err(StoreError::Conflict) => {
                let stored = self.store.get(job_id).await?;
                if is_written_by(stored.as_ref(), change) {
                    info!(%job_id, "the write had been applied on an earlier try");
                    return Ok(Recorded::Applied);
                }
                let owner = match &change.expect {
                    job_core::job::Expect::HeldBy { owner, .. } => owner.as_str(),
                    _ => return Ok(Recorded::Lost),
                };
                match self.stopped(job_id, owner).await? {
                    (Outcome::Cancelled(_), _) => Ok(Recorded::Cancelled),
                    _ => {
                        warn!(%job_id, "lease lost: another worker took the job over; dropping this outcome");
                        Ok(Recorded::Lost)
                    }
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Releases the job; its message is to become visible again after `after`.
    async fn give_back(&self, job: &Job, owner: &str, after: Duration) -> Result<Next, WorkerError> {
        match self.record(&job.release(owner, Utc::now())).await? {
            Recorded::Applied => {
                info!(job_id = %job.job_id, attempt = job.attempts, "shutting down: job given back to the queue");
                Ok(Next::Done((Outcome::Released(job.job_id), Fate::visible_after(after))))
            }
            Recorded::Cancelled => Ok(Next::Done((Outcome::Cancelled(job.job_id), Fate::Delete))),
            Recorded::Lost => Ok(Next::Done((Outcome::Released(job.job_id), Fate::Leave))),
        }
    }

    /// Runs the task with the attempt timeout, catching panics; on shutdown waits at most
    /// the grace period; stops at once when the lease is `lost`. Whatever stops the
    /// attempt cancels the task's token (`TaskContext::cancel`), so the work itself stops,
    /// and no longer polls the task.
    async fn run_task(&self, job: &Job, lost: &CancellationToken) -> Attempt {
        let cancel = CancellationToken::new();
        let _cancel_on_exit = cancel.clone().drop_guard();
        let ctx = TaskContext {
            job_id: job.job_id,
            attempt: job.attempts,
            max_attempts: job.max_attempts,
            cancel: cancel.clone(),
        };
        let future = match self.tasks.start(&job.task, job.input.clone(), ctx) {
            Ok(future) => future,
            Err(err) => return Attempt::Failed(err),
        };
        let mut handle = tokio::spawn(future);
        let stop = |handle: &tokio::task::JoinHandle<_>| {
            cancel.cancel();
            handle.abort();
        };
        let timeout = self.settings.attempt_timeout;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let joined = tokio::select! {
            joined = &mut handle => joined,
            _ = &mut deadline => {
                stop(&handle);
                return Attempt::Failed(TaskError::retryable(format!("attempt timed out after {}s", timeout.as_secs_f64())));
            }
            _ = lost.cancelled() => {
                stop(&handle);
                return Attempt::LeaseLost;
            }
            _ = self.shutdown.cancelled() => {
                let grace = tokio::time::timeout(self.settings.shutdown_grace, &mut handle);
                tokio::select! {
                    joined = grace => match joined {
                        Ok(joined) => joined,
                        Err(_) => {
                            stop(&handle);
                            return Attempt::Interrupted;
                        }
                    },
                    _ = lost.cancelled() => {
                        stop(&handle);
                        return Attempt::LeaseLost;
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
}

/// What worker `owner` may do with `job`: the change that starts (or, for a lost last
/// attempt, fails) it, or what becomes of the message when it may do nothing.
fn claim(job: &Job, owner: &str, lease_for: Duration) -> Result<Change, Decided> {
    let job_id = job.job_id;
    let now = Utc::now();
    match job.claim(owner, now, lease_for) {
        Claim::Finished => {
            info!(%job_id, status = job.status.as_str(), "job already finished; deleting the leftover message");
            Err((Outcome::Duplicate(job_id), Fate::Delete))
        }
        Claim::HeldElsewhere => {
            // This may be the very message the holder received (SQS can deliver one
            // twice): deleting it would lose the job if the holder then died.
            let lease_left = job.lease.as_ref().and_then(|l| (l.expires_at - now).to_std().ok());
            let hide = (lease_left.unwrap_or_default() + Duration::from_secs(1)).min(MAX_VISIBILITY);
            info!(%job_id, hidden_for_secs = hide.as_secs(), "another worker holds the job; hiding this message past its lease");
            Err((Outcome::Deferred(job_id), Fate::Hide(hide)))
        }
        Claim::Exhausted(change) | Claim::Start(change) | Claim::Cancel(change) => Ok(change),
    }
}

enum Next {
    Retry(Box<Job>),
    Done(Decided),
}

/// Logs a message handler that panicked (its message reappears after its visibility timeout).
fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(err) = ended {
        error!(error = %err, "a message handler stopped abnormally; its message reappears after its visibility timeout");
    }
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}
