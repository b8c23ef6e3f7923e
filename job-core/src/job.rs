//! The job record and its state machine.
//!
//! States: `QUEUED → RUNNING → SUCCEEDED`, `RUNNING → RETRYING → RUNNING`,
//! `RUNNING → FAILED`, `SKIPPED` (a scheduled run its schedule's overlap policy did not
//! let run: registered terminal, never run), and `CANCELLED` from QUEUED, RETRYING or RUNNING: a QUEUED or
//! RETRYING job (and a RUNNING one whose worker was lost) is cancelled at once; a RUNNING
//! one is marked `cancelRequestedAt`, and its worker stops the attempt and records
//! CANCELLED. Every transition is computed here as a [`Change`]: the record
//! after the change, the condition the stored record must meet, and the counter
//! increments that go with it. A store applies a change as one atomic conditional
//! write, so a change is never applied twice and counters never count twice.
//!
//! A worker that runs a job holds a *lease* (owner id + expiry) renewed by its
//! heartbeat. A job whose lease expired lost its worker: the next worker continues with
//! the next attempt number, and the lost attempt counts as a failed one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::retry::AfterFailure;
use crate::stats::Counts;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Cancelled,
    /// A scheduled run not run because its previous run was not finished (overlap `forbid`).
    Skipped,
}

impl JobStatus {
    /// Every status, in life order.
    pub const ALL: [JobStatus; 7] = [
        Self::Queued,
        Self::Running,
        Self::Retrying,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Skipped,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled | Self::Skipped)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Retrying => "RETRYING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Skipped => "SKIPPED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Who registered the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum JobSource {
    /// `POST /jobs`.
    Api,
    /// An EventBridge Scheduler schedule firing.
    #[serde(rename_all = "camelCase")]
    Schedule {
        name: String,
        execution_id: String,
        scheduled_time: String,
    },
}

/// The worker currently responsible for a running or retrying job.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub owner: String,
    pub expires_at: DateTime<Utc>,
}

/// A job as stored and as shown by `GET /jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    #[schema(value_type = String, format = Uuid)]
    pub job_id: Uuid,
    pub task: String,
    /// The task's input; `null` for none.
    #[schema(value_type = Object, nullable)]
    pub input: Value,
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: u32,
    pub max_attempts: u32,
    pub source: JobSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// When a RETRYING job's next attempt is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// What the task returned (any JSON value the task defines).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub result: Option<Value>,
    /// When a message was last sent again for the job (an idempotent replay or the
    /// reconciler); `None` while only the first submission sent one.
    #[serde(skip)]
    pub requeued_at: Option<DateTime<Utc>>,
    /// When a cancel was asked for a RUNNING job; its worker stops the attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// The FAILED or CANCELLED job this one re-runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub rerun_of: Option<Uuid>,
    /// The job that re-runs this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub rerun_by: Option<Uuid>,
    /// Who submitted the job: the API caller (of `POST /jobs`, or of the re-run that made
    /// it) or, for a scheduled run, the schedule's creator. Absent on jobs submitted before
    /// callers were recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// Who asked for the cancel (set with the cancel, also while a running attempt stops).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// Optimistic-concurrency version, bumped by every change.
    #[serde(skip)]
    pub version: u64,
    #[serde(skip)]
    pub lease: Option<Lease>,
}

/// Counter increments that go with a change: the counter set of [`crate::stats::Counts`].
pub type CounterDelta = crate::stats::Counts;

/// What the stored record must look like for a change to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// No record with this id yet.
    Absent,
    /// This version, and the lease held by `owner`.
    HeldBy { version: u64, owner: String },
    /// This version, and no live lease at `now` (never leased, released or expired).
    Free { version: u64, now: DateTime<Utc> },
    /// This version, whoever holds the job: for changes made through the API (cancel,
    /// linking a re-run), which any concurrent change of the job makes fail.
    Version { version: u64 },
}

/// Whether a change writes the record or removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Put,
    Delete,
}

/// One atomic, conditional state change with its counter updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub job: Job,
    pub expect: Expect,
    pub write: Write,
    pub counters: CounterDelta,
    /// When the change happened: the day its counters are booked on.
    pub at: DateTime<Utc>,
}

/// What a worker may do with a job it received a message for.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Start attempt `job.attempts` with this change.
    Start(Change),
    /// The job's worker was lost and it has no attempts left: fail it with this change.
    Exhausted(Change),
    /// The job already ended; the message is a leftover.
    Finished,
    /// Another live worker holds the job; the message is a duplicate.
    HeldElsewhere,
    /// A cancel was asked for while the job's worker was lost: record CANCELLED with this change.
    Cancel(Change),
}

/// The claim of a job's first attempt, made without reading the job first: one
/// conditional write that applies to a QUEUED job with no attempt started, no cancel asked
/// for and no live lease (the common case: a job just submitted), and then writes what
/// [`Job::claim`] writes for such a job. When it does not apply, the store answers the job
/// as it found it, and the worker decides from that with [`Job::claim`].
#[derive(Debug, Clone, PartialEq)]
pub struct FirstClaim {
    pub job_id: Uuid,
    /// The lease owner: a new id for each message received.
    pub owner: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

/// What a store answers to a [`FirstClaim`].
#[derive(Debug, Clone, PartialEq)]
pub enum FirstClaimed {
    /// The claim applied: the job as written, its first attempt started.
    Claimed(Job),
    /// The claim did not apply: the job as the store found it (`None`: no such job).
    Found(Option<Job>),
}

impl FirstClaim {
    pub fn new(job_id: Uuid, owner: &str, now: DateTime<Utc>, lease_for: Duration) -> Self {
        Self {
            job_id,
            owner: owner.to_owned(),
            now,
            lease_until: now + lease_for,
        }
    }

    /// Whether the claim applies to `job` as stored (the store's condition).
    pub fn applies_to(&self, job: &Job) -> bool {
        job.job_id == self.job_id
            && job.status == JobStatus::Queued
            && job.attempts == 0
            && job.cancel_requested_at.is_none()
            && job.lease.as_ref().is_none_or(|l| l.expires_at < self.now)
    }

    /// `job` after the claim: what [`Job::claim`] makes of it (attempt 1 RUNNING, leased
    /// to the owner, the version bumped, `updatedAt` now).
    pub fn applied_to(&self, job: &Job) -> Job {
        let mut claimed = job.next(self.now);
        claimed.status = JobStatus::Running;
        claimed.attempts = 1;
        claimed.started_at = job.started_at.or(Some(self.now));
        claimed.next_attempt_at = None;
        claimed.lease = Some(Lease {
            owner: self.owner.clone(),
            expires_at: self.lease_until,
        });
        claimed
    }

    /// Whether `found` is this claim's own write: after its answer was lost and the retried
    /// write found its condition failed. Only this claim leases a job to its owner (a new
    /// id per message received), and the lease is renewed only by that owner.
    pub fn is_written_in(&self, found: &Job) -> bool {
        found.job_id == self.job_id
            && found.status == JobStatus::Running
            && found.attempts == 1
            && found.lease.as_ref().is_some_and(|l| l.owner == self.owner)
    }
}

/// What a cancel request does to a job.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// Apply this change: CANCELLED at once (QUEUED, RETRYING, or RUNNING without a live
    /// worker), or the cancel request marked on a RUNNING job.
    Apply(Box<Change>),
    /// The cancel was already asked for; its worker is stopping the attempt.
    AlreadyRequested,
    /// The job already ended with this status.
    Finished(JobStatus),
}

impl Job {
    /// A new QUEUED job.
    pub fn new(
        job_id: Uuid,
        task: impl Into<String>,
        input: Value,
        max_attempts: u32,
        source: JobSource,
        idempotency_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            job_id,
            task: task.into(),
            input,
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts,
            source,
            idempotency_key,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            next_attempt_at: None,
            last_error: None,
            result: None,
            requeued_at: None,
            cancel_requested_at: None,
            rerun_of: None,
            rerun_by: None,
            submitted_by: None,
            cancelled_by: None,
            version: 0,
            lease: None,
        }
    }

    /// This job, submitted by `principal`.
    pub fn submitted_by(mut self, principal: impl Into<String>) -> Self {
        self.submitted_by = Some(principal.into());
        self
    }

    /// Attempts after the first.
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }

    fn lease_live(&self, now: DateTime<Utc>) -> bool {
        self.lease.as_ref().is_some_and(|l| l.expires_at > now)
    }

    fn held_by(&self, owner: &str) -> bool {
        self.lease.as_ref().is_some_and(|l| l.owner == owner)
    }

    fn next(&self, now: DateTime<Utc>) -> Job {
        let mut job = self.clone();
        job.version = self.version + 1;
        job.updated_at = now;
        job
    }

    /// The change from this job to `job` under `expect`, with the counters it books:
    /// [`Counts::delta`] of the two, so no transition writes its counters by hand.
    fn change(&self, job: Job, expect: Expect, now: DateTime<Utc>) -> Change {
        Change {
            counters: Counts::delta(Some(self), Some(&job)),
            job,
            expect,
            write: Write::Put,
            at: now,
        }
    }

    /// The first write of `job` (this job, as registered): it enters the counters.
    fn registration(&self, job: Job) -> Change {
        Change {
            counters: Counts::delta(None, Some(&job)),
            job,
            expect: Expect::Absent,
            write: Write::Put,
            at: self.created_at,
        }
    }

    /// Registers the job: QUEUED, counted as submitted.
    pub fn register(&self) -> Change {
        let mut job = self.clone();
        job.version = 1;
        self.registration(job)
    }

    /// Registers the job as SKIPPED (a scheduled run its overlap policy does not let run):
    /// terminal at once, counted as submitted and skipped, never run; `why` says why.
    pub fn register_skipped(&self, why: &str) -> Change {
        let mut job = self.clone();
        job.version = 1;
        job.status = JobStatus::Skipped;
        job.finished_at = Some(self.created_at);
        job.last_error = Some(why.to_owned());
        self.registration(job)
    }

    /// Takes back a registration whose message could not be sent.
    pub fn withdraw(&self, now: DateTime<Utc>) -> Change {
        let expect = Expect::Free {
            version: self.version,
            now,
        };
        Change {
            job: self.clone(),
            expect,
            write: Write::Delete,
            counters: Counts::delta(Some(self), None),
            at: self.created_at,
        }
    }

    /// Marks the job as sent again at `now` (by an idempotent replay or the reconciler),
    /// if nobody changed or holds it meanwhile: whoever applies this change sends the
    /// message, so concurrent re-senders send one message, and a withdraw of the
    /// first submission (which expects the registered version) can no longer apply.
    pub fn requeue(&self, now: DateTime<Utc>) -> Change {
        let mut job = self.next(now);
        job.requeued_at = Some(now);
        let expect = Expect::Free {
            version: self.version,
            now,
        };
        self.change(job, expect, now)
    }

    /// Whether the job is open and made no progress for `stale_after`: no live lease,
    /// and no change since. Such a job may have lost its message; the reconciler sends
    /// it again.
    pub fn is_stale(&self, now: DateTime<Utc>, stale_after: Duration) -> bool {
        !self.status.is_terminal() && !self.lease_live(now) && self.updated_at + stale_after < now
    }

    /// Whether another attempt may start: the job is open and, if RUNNING, the running
    /// attempt is not its last (a RUNNING job without a live lease lost that attempt).
    pub fn has_attempts_left(&self) -> bool {
        !self.status.is_terminal() && (self.status != JobStatus::Running || self.attempts < self.max_attempts)
    }

    /// Fails a job whose message was dead-lettered after `receives` receives while no
    /// attempt was left (its last attempt was lost), if nobody changed or holds it.
    pub fn fail_dead_lettered(&self, receives: u32, now: DateTime<Utc>) -> Change {
        let mut job = self.next(now);
        job.status = JobStatus::Failed;
        job.finished_at = Some(now);
        job.lease = None;
        job.next_attempt_at = None;
        job.last_error = Some(format!(
            "attempt {} was lost and its message was dead-lettered after {receives} receives; no attempts are left",
            self.attempts
        ));
        let expect = Expect::Free {
            version: self.version,
            now,
        };
        self.change(job, expect, now)
    }

    /// What worker `owner` may do with this job at `now`, leasing it for `lease_for`.
    pub fn claim(&self, owner: &str, now: DateTime<Utc>, lease_for: Duration) -> Claim {
        if self.status.is_terminal() {
            return Claim::Finished;
        }
        let mine = self.held_by(owner);
        if self.lease_live(now) && !mine {
            return Claim::HeldElsewhere;
        }
        let expect = if mine {
            Expect::HeldBy {
                version: self.version,
                owner: owner.to_owned(),
            }
        } else {
            Expect::Free {
                version: self.version,
                now,
            }
        };
        if self.cancel_requested_at.is_some() {
            // Asked to stop while its worker was lost (or between attempts): no new attempt.
            return Claim::Cancel(self.cancelled(expect, "cancelled before its next attempt", now));
        }
        if self.status == JobStatus::Running && !mine && self.attempts >= self.max_attempts {
            // The last attempt's worker was lost: no attempt is left.
            let mut job = self.next(now);
            job.status = JobStatus::Failed;
            job.finished_at = Some(now);
            job.lease = None;
            job.next_attempt_at = None;
            job.last_error = Some(format!(
                "attempt {} was lost (its worker stopped before recording an outcome) and no attempts are left",
                self.attempts
            ));
            return Claim::Exhausted(self.change(job, expect, now));
        }
        let mut job = self.next(now);
        if self.status == JobStatus::Running && !mine {
            job.last_error = Some(format!(
                "attempt {} was lost (its worker stopped before recording an outcome)",
                self.attempts
            ));
        }
        job.status = JobStatus::Running;
        job.attempts = self.attempts + 1;
        job.started_at = job.started_at.or(Some(now));
        job.next_attempt_at = None;
        job.lease = Some(Lease {
            owner: owner.to_owned(),
            expires_at: now + lease_for,
        });
        Claim::Start(self.change(job, expect, now))
    }

    /// The running attempt succeeded.
    pub fn succeed(&self, owner: &str, result: Value, now: DateTime<Utc>) -> Change {
        let mut job = self.next(now);
        job.status = JobStatus::Succeeded;
        job.finished_at = Some(now);
        job.result = Some(bounded_result(result));
        job.lease = None;
        let expect = Expect::HeldBy {
            version: self.version,
            owner: owner.to_owned(),
        };
        self.change(job, expect, now)
    }

    /// The running attempt failed; `next` is the retry decision
    /// (`RetryPolicy::after_failure` in [`crate::retry`]): RETRYING until the next attempt is
    /// due, or FAILED.
    pub fn attempt_failed(&self, owner: &str, error: &str, next: AfterFailure, now: DateTime<Utc>) -> Change {
        let mut job = self.next(now);
        job.last_error = Some(bounded_error(&format!("attempt {}: {error}", self.attempts)));
        let expect = Expect::HeldBy {
            version: self.version,
            owner: owner.to_owned(),
        };
        match next {
            AfterFailure::RetryIn(delay) => {
                job.status = JobStatus::Retrying;
                job.next_attempt_at = Some(now + delay);
                self.change(job, expect, now)
            }
            AfterFailure::Fail => {
                job.status = JobStatus::Failed;
                job.finished_at = Some(now);
                job.lease = None;
                job.next_attempt_at = None;
                self.change(job, expect, now)
            }
        }
    }

    /// The job as CANCELLED, counted once, under `expect`.
    fn cancelled(&self, expect: Expect, why: &str, now: DateTime<Utc>) -> Change {
        let mut job = self.next(now);
        job.status = JobStatus::Cancelled;
        job.finished_at = Some(now);
        job.lease = None;
        job.next_attempt_at = None;
        job.last_error = Some(why.to_owned());
        self.change(job, expect, now)
    }

    /// A cancel request by `by` at `now`: what it does depends on the state (see
    /// [`CancelOutcome`]); the change records `cancelledBy`.
    pub fn cancel(&self, by: &str, now: DateTime<Utc>) -> CancelOutcome {
        match self.cancel_unrecorded(now) {
            CancelOutcome::Apply(mut change) => {
                change.job.cancelled_by = Some(by.to_owned());
                CancelOutcome::Apply(change)
            }
            other => other,
        }
    }

    fn cancel_unrecorded(&self, now: DateTime<Utc>) -> CancelOutcome {
        let expect = Expect::Version { version: self.version };
        match self.status {
            s if s.is_terminal() => CancelOutcome::Finished(s),
            JobStatus::Running if self.lease_live(now) => {
                if self.cancel_requested_at.is_some() {
                    return CancelOutcome::AlreadyRequested;
                }
                let mut job = self.next(now);
                job.cancel_requested_at = Some(now);
                CancelOutcome::Apply(Box::new(self.change(job, expect, now)))
            }
            JobStatus::Running => CancelOutcome::Apply(Box::new(self.cancelled(
                expect,
                &format!("cancelled; attempt {} had lost its worker", self.attempts),
                now,
            ))),
            _ => CancelOutcome::Apply(Box::new(self.cancelled(
                expect,
                "cancelled before it ran to the end",
                now,
            ))),
        }
    }

    /// The worker `owner` stopped the running attempt because a cancel was asked for.
    pub fn cancel_attempt(&self, owner: &str, now: DateTime<Utc>) -> Change {
        let expect = Expect::HeldBy {
            version: self.version,
            owner: owner.to_owned(),
        };
        self.cancelled(expect, &format!("cancelled during attempt {}", self.attempts), now)
    }

    /// A new QUEUED job, submitted by `by`, that runs this FAILED or CANCELLED job's task
    /// and input again; `None` for any other state. Its id is derived from this job's, so one job is re-run
    /// at most once however often it is asked.
    pub fn rerun(&self, max_attempts: u32, by: &str, now: DateTime<Utc>) -> Option<Job> {
        if !matches!(self.status, JobStatus::Failed | JobStatus::Cancelled) {
            return None;
        }
        let mut job = Job::new(
            id_for_rerun(self.job_id),
            self.task.clone(),
            self.input.clone(),
            max_attempts,
            JobSource::Api,
            None,
            now,
        );
        job.rerun_of = Some(self.job_id);
        job.submitted_by = Some(by.to_owned());
        Some(job)
    }

    /// Records on this (source) job that `rerun` re-runs it.
    pub fn link_rerun(&self, rerun: Uuid, now: DateTime<Utc>) -> Change {
        let mut job = self.next(now);
        job.rerun_by = Some(rerun);
        let expect = Expect::Version { version: self.version };
        self.change(job, expect, now)
    }

    /// Gives the job up (worker shutting down) so the next worker may take it at once.
    ///
    /// A hand-back is not an attempt: an attempt interrupted while RUNNING is taken back,
    /// so the next worker starts the same attempt number again, and the retry its start
    /// counted (if it was not the first) is taken back with it. A job given back while
    /// waiting out a retry delay keeps its attempts: the one before the delay did fail.
    pub fn release(&self, owner: &str, now: DateTime<Utc>) -> Change {
        let mut job = self.next(now);
        if let Some(lease) = job.lease.as_mut() {
            lease.expires_at = now;
        }
        if self.status == JobStatus::Running {
            job.attempts = self.attempts.saturating_sub(1);
            if job.attempts == 0 {
                job.status = JobStatus::Queued;
                job.started_at = None;
            } else {
                job.status = JobStatus::Retrying;
                job.next_attempt_at = Some(now);
            }
        }
        let expect = Expect::HeldBy {
            version: self.version,
            owner: owner.to_owned(),
        };
        self.change(job, expect, now)
    }
}

/// Largest task result stored, as JSON text. With the input (at most 64 KiB, the API's body
/// limit) and the error text, a job item stays far below DynamoDB's 400 KB item limit.
pub const MAX_RESULT_BYTES: usize = 128 * 1024;
/// Largest error text stored.
pub const MAX_ERROR_BYTES: usize = 8 * 1024;

/// A result over [`MAX_RESULT_BYTES`] is not stored: in its place, an object that says so
/// and how large it was (`{"truncated": true, "bytes": n, "message": ...}`). Tasks with
/// large outputs should write them elsewhere (S3) and return where.
pub fn bounded_result(result: Value) -> Value {
    let bytes = serde_json::to_string(&result).map(|t| t.len()).unwrap_or(usize::MAX);
    if bytes <= MAX_RESULT_BYTES {
        return result;
    }
    serde_json::json!({
        "truncated": true,
        "bytes": bytes,
        "message": format!("the task's result was {bytes} bytes of JSON; at most {MAX_RESULT_BYTES} are stored, so it was dropped"),
    })
}

/// An error text over [`MAX_ERROR_BYTES`] keeps its beginning (cut at a character
/// boundary) and says how much was cut.
pub fn bounded_error(text: &str) -> String {
    if text.len() <= MAX_ERROR_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_BYTES - 64;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes cut)", &text[..end], text.len() - end)
}

/// The job id for a request with an idempotency key from `principal`: the same key from
/// the same caller gives the same id; another caller's same key, another id (keys are
/// per caller, so no caller can take or learn of another's job by guessing its key).
pub fn id_for_idempotency_key(principal: &str, key: &str) -> Uuid {
    // The principal's length first: no two (principal, key) pairs give the same text.
    Uuid::new_v5(
        &NAMESPACE,
        format!("idempotency:{}:{principal}:{key}", principal.len()).as_bytes(),
    )
}

/// The job id of the re-run of job `source`: asking again gives the same id.
pub fn id_for_rerun(source: Uuid) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("rerun:{source}").as_bytes())
}

/// The job id of one run of a schedule: its name, its generation (which creation of that
/// name) and its scheduled time. Not Scheduler's execution id, which is new for each
/// attempted invocation: a redelivery and a Scheduler retry of one run give the same id.
/// A time in RFC 3339 is read as an instant, so its spelling does not matter.
pub fn id_for_scheduled_run(schedule: &str, generation: Option<&str>, scheduled_time: &str) -> Uuid {
    let time = DateTime::parse_from_rfc3339(scheduled_time)
        .map(|t| t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|_| scheduled_time.to_owned());
    let generation = generation.unwrap_or_default();
    Uuid::new_v5(
        &NAMESPACE,
        format!("schedule-run:{schedule}:{generation}:{time}").as_bytes(),
    )
}

const NAMESPACE: Uuid = Uuid::from_u128(0x6a0b_5e2c_3f41_4d7e_9b1a_0c2d_4e6f_8a10);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryPolicy;
    use serde_json::json;

    const LEASE: Duration = Duration::from_secs(30);

    /// The retry decision for `job`'s running attempt, with retries after `delay`.
    fn decide(job: &Job, permanent: bool, delay: Duration) -> AfterFailure {
        RetryPolicy {
            max_attempts: job.max_attempts,
            base_delay: delay,
            max_delay: delay,
        }
        .after_failure(job.attempts, permanent)
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn queued(max_attempts: u32) -> Job {
        let job = Job::new(
            Uuid::now_v7(),
            "flaky",
            json!({}),
            max_attempts,
            JobSource::Api,
            None,
            t(0),
        );
        job.register().job
    }

    fn start(job: &Job, owner: &str, at: DateTime<Utc>) -> Change {
        match job.claim(owner, at, LEASE) {
            Claim::Start(change) => change,
            other => panic!("expected Start, got {other:?}"),
        }
    }

    #[test]
    fn first_claim_writes_what_claim_writes_for_a_queued_job() {
        let fresh = queued(3);
        // Given back before its first attempt finished: QUEUED again, the lease expired.
        let handed_back = start(&fresh, "w0", t(1)).job.release("w0", t(2)).job;
        assert_eq!(handed_back.status, JobStatus::Queued);
        for job in [fresh, handed_back] {
            let first = FirstClaim::new(job.job_id, "w1", t(5), LEASE);
            assert!(first.applies_to(&job));
            let change = start(&job, "w1", t(5));
            assert_eq!(change.counters, CounterDelta::default(), "a first claim counts nothing");
            assert_eq!(first.applied_to(&job), change.job);
            assert!(first.is_written_in(&change.job));
            assert!(!FirstClaim::new(job.job_id, "w2", t(5), LEASE).is_written_in(&change.job));
        }
    }

    #[test]
    fn first_claim_does_not_apply_where_claim_decides_otherwise() {
        let job = queued(3);
        let first = |at| FirstClaim::new(job.job_id, "w2", at, LEASE);
        let running = start(&job, "w1", t(1)).job;
        assert!(!first(t(2)).applies_to(&running), "held elsewhere");
        assert!(!first(t(100)).applies_to(&running), "a lost attempt: claim counts it");
        let retrying = running
            .attempt_failed("w1", "boom", decide(&running, false, Duration::ZERO), t(3))
            .job;
        assert_eq!(retrying.status, JobStatus::Retrying);
        assert!(!first(t(100)).applies_to(&retrying), "a retry is counted");
        let mut cancel_asked = job.clone();
        cancel_asked.cancel_requested_at = Some(t(1));
        assert!(!first(t(2)).applies_to(&cancel_asked));
        let done = running.succeed("w1", json!(1), t(3)).job;
        assert!(!first(t(100)).applies_to(&done));
        let mut leased = job.clone();
        leased.lease = Some(Lease {
            owner: "w9".into(),
            expires_at: t(10),
        });
        assert!(!first(t(2)).applies_to(&leased), "a live lease");
        assert!(first(t(11)).applies_to(&leased), "an expired one");
        assert!(
            !FirstClaim::new(Uuid::now_v7(), "w2", t(2), LEASE).applies_to(&job),
            "another job"
        );
    }

    #[test]
    fn register_counts_submitted_and_expects_absence() {
        let job = Job::new(Uuid::now_v7(), "sleep", json!({}), 3, JobSource::Api, None, t(0));
        let change = job.register();
        assert_eq!(change.expect, Expect::Absent);
        assert_eq!(change.counters.submitted, 1);
        assert_eq!(change.job.status, JobStatus::Queued);
        assert_eq!(change.job.version, 1);
    }

    #[test]
    fn happy_path_queued_running_succeeded() {
        let job = queued(3);
        let started = start(&job, "w1", t(1));
        assert_eq!(started.job.status, JobStatus::Running);
        assert_eq!(started.job.attempts, 1);
        assert_eq!(started.counters, CounterDelta::default(), "a first attempt is no retry");
        assert_eq!(started.expect, Expect::Free { version: 1, now: t(1) });
        let done = started.job.succeed("w1", json!({"ok": true}), t(2));
        assert_eq!(done.job.status, JobStatus::Succeeded);
        assert_eq!(done.counters.succeeded, 1);
        assert_eq!(
            done.expect,
            Expect::HeldBy {
                version: 2,
                owner: "w1".into()
            }
        );
        assert!(done.job.lease.is_none());
        assert_eq!(done.job.claim("w2", t(3), LEASE), Claim::Finished);
    }

    #[test]
    fn retryable_failure_retries_then_fails_after_max_attempts() {
        let mut job = queued(3);
        let mut retries = 0;
        for attempt in 1..=3 {
            let started = start(&job, "w1", t(attempt));
            assert_eq!(started.job.attempts, attempt as u32);
            retries += started.counters.retries;
            let next = decide(&started.job, false, Duration::from_secs(1));
            let failed = started.job.attempt_failed("w1", "boom", next, t(attempt));
            job = failed.job;
            if attempt < 3 {
                assert_eq!(job.status, JobStatus::Retrying);
                assert_eq!(failed.counters, CounterDelta::default());
                assert!(job.next_attempt_at.is_some());
            } else {
                assert_eq!(job.status, JobStatus::Failed);
                assert_eq!(failed.counters.failed, 1);
            }
        }
        assert_eq!(retries, 2);
        assert_eq!(job.last_error.as_deref(), Some("attempt 3: boom"));
    }

    #[test]
    fn permanent_failure_fails_at_once() {
        let started = start(&queued(3), "w1", t(1));
        let next = decide(&started.job, true, Duration::ZERO);
        let failed = started.job.attempt_failed("w1", "bad input", next, t(2));
        assert_eq!(failed.job.status, JobStatus::Failed);
        assert_eq!(failed.job.attempts, 1);
        assert_eq!(failed.counters.failed, 1);
    }

    #[test]
    fn live_lease_of_another_worker_means_duplicate() {
        let running = start(&queued(3), "w1", t(1)).job;
        assert_eq!(running.claim("w2", t(5), LEASE), Claim::HeldElsewhere);
    }

    #[test]
    fn expired_lease_continues_with_next_attempt_and_counts_a_retry() {
        let running = start(&queued(3), "w1", t(1)).job;
        let change = start(&running, "w2", t(100));
        assert_eq!(change.job.attempts, 2);
        assert_eq!(change.counters.retries, 1);
        assert_eq!(
            change.expect,
            Expect::Free {
                version: 2,
                now: t(100)
            }
        );
        assert!(change.job.last_error.unwrap().contains("attempt 1 was lost"));
    }

    #[test]
    fn lost_last_attempt_fails_the_job() {
        let mut job = queued(2);
        job = start(&job, "w1", t(1)).job;
        job = job
            .attempt_failed("w1", "x", decide(&job, false, Duration::ZERO), t(2))
            .job;
        job = start(&job, "w1", t(3)).job; // attempt 2 of 2, then the worker dies
        match job.claim("w2", t(100), LEASE) {
            Claim::Exhausted(change) => {
                assert_eq!(change.job.status, JobStatus::Failed);
                assert_eq!(change.counters.failed, 1);
                assert_eq!(change.job.attempts, 2);
            }
            other => panic!("expected Exhausted, got {other:?}"),
        }
    }

    #[test]
    fn a_hand_back_is_not_an_attempt() {
        let running = start(&queued(3), "w1", t(1)).job;
        let released = running.release("w1", t(2));
        assert_eq!(released.job.status, JobStatus::Queued);
        assert_eq!(released.job.attempts, 0);
        assert_eq!(released.counters, CounterDelta::default());
        let change = start(&released.job, "w2", t(2));
        assert_eq!(change.job.attempts, 1, "the same attempt number again");
        assert_eq!(change.counters.retries, 0, "no retry counted");

        // Three hand-backs in a row of a second attempt: still attempt 2, one retry in all.
        let mut job = change.job;
        job = job
            .attempt_failed("w2", "x", decide(&job, false, Duration::ZERO), t(3))
            .job;
        let mut retries = 0;
        for (i, owner) in ["w3", "w4", "w5"].into_iter().enumerate() {
            let started = start(&job, owner, t(100 + i as i64));
            assert_eq!(started.job.attempts, 2);
            retries += started.counters.retries;
            let back = started.job.release(owner, t(100 + i as i64));
            assert_eq!(back.job.status, JobStatus::Retrying);
            assert_eq!(back.job.attempts, 1);
            retries += back.counters.retries;
            job = back.job;
        }
        let last = start(&job, "w6", t(110));
        assert_eq!(last.job.attempts, 2);
        assert_eq!(
            retries + last.counters.retries,
            1,
            "one retry for attempt 2, however often it was handed back"
        );
    }

    #[test]
    fn a_job_given_back_between_attempts_keeps_them() {
        let running = start(&queued(3), "w1", t(1)).job;
        let retrying = running
            .attempt_failed("w1", "x", decide(&running, false, Duration::from_secs(5)), t(2))
            .job;
        let back = retrying.release("w1", t(3));
        assert_eq!(back.job.attempts, 1);
        assert_eq!(back.counters, CounterDelta::default());
        assert_eq!(start(&back.job, "w2", t(8)).job.attempts, 2);
    }

    #[test]
    fn holder_continues_after_retry_delay() {
        let running = start(&queued(3), "w1", t(1)).job;
        let retrying = running
            .attempt_failed("w1", "x", decide(&running, false, Duration::from_secs(1)), t(2))
            .job;
        let change = start(&retrying, "w1", t(3));
        assert_eq!(
            change.expect,
            Expect::HeldBy {
                version: 3,
                owner: "w1".into()
            }
        );
        assert_eq!(change.counters.retries, 1);
        assert!(change.job.next_attempt_at.is_none());
    }

    #[test]
    fn a_requeue_blocks_the_withdraw_of_the_first_submission() {
        let job = queued(3);
        let requeued = job.requeue(t(1));
        assert_eq!(requeued.expect, Expect::Free { version: 1, now: t(1) });
        assert_eq!(requeued.job.requeued_at, Some(t(1)));
        assert_eq!(requeued.job.version, 2);
        assert_eq!(requeued.counters, CounterDelta::default());
        // The withdraw expects version 1: a store refuses it once the requeue applied.
        assert_eq!(job.withdraw(t(2)).expect, Expect::Free { version: 1, now: t(2) });
    }

    #[test]
    fn a_skipped_registration_is_terminal_counted_once_and_never_claimed() {
        let job = queued(3);
        let fresh = Job {
            version: 0,
            ..job.clone()
        };
        let change = fresh.register_skipped("previous run still RUNNING");
        assert_eq!(change.expect, Expect::Absent);
        assert_eq!((change.counters.submitted, change.counters.skipped), (1, 1));
        assert_eq!(
            change.counters.cancelled + change.counters.failed + change.counters.succeeded,
            0
        );
        assert_eq!(change.job.status, JobStatus::Skipped);
        assert!(change.job.status.is_terminal() && change.job.finished_at.is_some());
        assert_eq!(change.job.attempts, 0);
        assert_eq!(change.job.claim("w1", t(1), LEASE), Claim::Finished);
        assert_eq!(
            change.job.cancel("alice", t(1)),
            CancelOutcome::Finished(JobStatus::Skipped)
        );
        assert!(
            change.job.rerun(3, "alice", t(1)).is_none(),
            "a skipped run is not re-run"
        );
        assert!(!FirstClaim::new(job.job_id, "w1", t(1), LEASE).applies_to(&change.job));
    }

    #[test]
    fn withdraw_undoes_the_submitted_count() {
        let job = queued(3);
        let change = job.withdraw(t(1));
        assert_eq!(change.write, Write::Delete);
        assert_eq!(change.counters.submitted, -1);
    }

    #[test]
    fn ids_are_stable_for_keys_and_scheduled_runs() {
        assert_eq!(id_for_idempotency_key("p", "a"), id_for_idempotency_key("p", "a"));
        assert_ne!(id_for_idempotency_key("p", "a"), id_for_idempotency_key("p", "b"));
        assert_ne!(
            id_for_idempotency_key("alice", "order-1"),
            id_for_idempotency_key("bob", "order-1"),
            "keys are per caller"
        );
        assert_ne!(id_for_idempotency_key("a:b", "c"), id_for_idempotency_key("a", "b:c"));
        let run = |g, t| id_for_scheduled_run("s", Some(g), t);
        assert_eq!(run("g1", "2026-01-05T06:00:00Z"), run("g1", "2026-01-05T06:00:00Z"));
        assert_eq!(
            run("g1", "2026-01-05T06:00:00Z"),
            run("g1", "2026-01-05T07:00:00+01:00"),
            "the same instant"
        );
        assert_ne!(run("g1", "2026-01-05T06:00:00Z"), run("g1", "2026-01-05T06:01:00Z"));
        assert_ne!(
            run("g1", "2026-01-05T06:00:00Z"),
            run("g2", "2026-01-05T06:00:00Z"),
            "a re-created schedule"
        );
    }

    #[test]
    fn oversized_results_and_errors_are_bounded_and_say_so() {
        let started = start(&queued(3), "w1", t(1)).job;
        let huge = json!({"blob": "x".repeat(MAX_RESULT_BYTES)});
        let done = started.succeed("w1", huge, t(2)).job;
        let result = done.result.unwrap();
        assert_eq!(result["truncated"], true, "{result}");
        assert!(result["bytes"].as_u64().unwrap() > MAX_RESULT_BYTES as u64);
        let small = started.succeed("w1", json!({"ok": 1}), t(2)).job;
        assert_eq!(small.result, Some(json!({"ok": 1})));

        let next = decide(&started, false, Duration::ZERO);
        let failed = started
            .attempt_failed("w1", &"é".repeat(MAX_ERROR_BYTES), next, t(2))
            .job;
        let error = failed.last_error.unwrap();
        assert!(error.len() <= MAX_ERROR_BYTES, "{}", error.len());
        assert!(
            error.starts_with("attempt 1: é") && error.ends_with("more bytes cut)"),
            "{}",
            &error[error.len() - 40..]
        );
    }

    #[test]
    fn queued_and_retrying_jobs_cancel_at_once_and_count_once() {
        let job = queued(3);
        let CancelOutcome::Apply(change) = job.cancel("alice", t(1)) else {
            panic!("expected a change")
        };
        assert_eq!(change.job.status, JobStatus::Cancelled);
        assert_eq!(change.counters.cancelled, 1);
        assert_eq!(change.expect, Expect::Version { version: 1 });
        assert_eq!(
            change.job.cancel("alice", t(2)),
            CancelOutcome::Finished(JobStatus::Cancelled)
        );

        let running = start(&queued(3), "w1", t(1)).job;
        let retrying = running
            .attempt_failed("w1", "x", decide(&running, false, Duration::from_secs(5)), t(2))
            .job;
        let CancelOutcome::Apply(change) = retrying.cancel("alice", t(3)) else {
            panic!("expected a change")
        };
        assert_eq!(change.job.status, JobStatus::Cancelled);
        assert!(change.job.lease.is_none(), "the holder's next write must fail");
    }

    #[test]
    fn running_job_is_marked_and_its_worker_records_cancelled() {
        let running = start(&queued(3), "w1", t(1)).job;
        let CancelOutcome::Apply(mark) = running.cancel("alice", t(2)) else {
            panic!("expected a change")
        };
        assert_eq!(mark.job.status, JobStatus::Running);
        assert_eq!(mark.job.cancel_requested_at, Some(t(2)));
        assert!(mark.counters.is_zero());
        assert_eq!(mark.job.cancel("alice", t(3)), CancelOutcome::AlreadyRequested);
        let done = mark.job.cancel_attempt("w1", t(4));
        assert_eq!(done.job.status, JobStatus::Cancelled);
        assert_eq!(
            done.job.cancelled_by.as_deref(),
            Some("alice"),
            "who asked stays on record"
        );
        assert_eq!(done.counters.cancelled, 1);
        assert!(matches!(done.expect, Expect::HeldBy { version: 3, .. }));
    }

    #[test]
    fn a_requested_cancel_wins_over_the_next_claim_and_a_lost_worker() {
        let running = start(&queued(3), "w1", t(1)).job;
        let CancelOutcome::Apply(mark) = running.cancel("alice", t(2)) else {
            panic!("expected a change")
        };
        // w1 is lost; the next worker cancels instead of starting attempt 2.
        match mark.job.claim("w2", t(100), LEASE) {
            Claim::Cancel(change) => {
                assert_eq!(change.job.status, JobStatus::Cancelled);
                assert_eq!(change.counters.cancelled, 1);
                assert_eq!(change.job.attempts, 1);
            }
            other => panic!("expected Cancel, got {other:?}"),
        }
        // Without a live lease a cancel does not wait for anyone.
        let CancelOutcome::Apply(change) = running.cancel("alice", t(100)) else {
            panic!("expected a change")
        };
        assert_eq!(change.job.status, JobStatus::Cancelled);
    }

    #[test]
    fn only_failed_or_cancelled_jobs_rerun_under_a_stable_linked_id() {
        let job = queued(3);
        assert!(job.rerun(3, "alice", t(1)).is_none());
        let CancelOutcome::Apply(cancelled) = job.cancel("alice", t(1)) else {
            panic!("expected a change")
        };
        let rerun = cancelled.job.rerun(3, "alice", t(2)).unwrap();
        assert_eq!(rerun.job_id, id_for_rerun(job.job_id));
        assert_eq!(rerun.rerun_of, Some(job.job_id));
        assert_eq!((rerun.task.as_str(), &rerun.input), (job.task.as_str(), &job.input));
        assert_eq!(rerun.status, JobStatus::Queued);
        let linked = cancelled.job.link_rerun(rerun.job_id, t(3));
        assert_eq!(linked.job.rerun_by, Some(rerun.job_id));
        assert_eq!(linked.job.status, JobStatus::Cancelled);
        assert!(linked.counters.is_zero());
    }

    #[test]
    fn status_round_trips_through_text() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobStatus::parse("nope"), None);
    }
}
