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
//!
//! Here the types and the one place a fate is carried out; [`poll`] receives messages (one,
//! or a long poll feeding every slot), [`handle`] takes one message to its fate, and
//! [`attempt`] runs one attempt and records it; `tests.rs` drives them over the in-memory
//! adapters.

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

mod attempt;
mod handle;
mod poll;
#[cfg(test)]
mod tests;

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

    /// Handles one received message: decides its fate, then carries it out.
    pub async fn handle(&self, message: Received) -> Result<Outcome, WorkerError> {
        self.handle_received(message, Utc::now(), None).await
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
