//! The reconciler: every job reaches a terminal state in bounded time, whatever crashed,
//! hung or was lost.
//!
//! One [`reconcile`] pass does two things:
//! - **Stale jobs.** Jobs that are not terminal and made no progress for longer than
//!   `stale_after` (the visibility timeout plus a margin: no live lease, no change) are
//!   read from the sparse open-jobs index (never a scan), marked ([`Job::requeue`], a
//!   conditional write, so two reconcilers never both act) and their message is sent
//!   again. This finishes submissions whose API process died between registration and
//!   send, and jobs whose message was lost or dead-lettered. Workers ignore duplicates
//!   safely (a job already taken or finished is not run twice).
//! - **The dead-letter queue.** A dead-lettered message of a job with attempts left is
//!   sent back to the job queue; one whose job lost its last attempt is recorded FAILED
//!   with a reason saying so; one whose job already ended is deleted. Messages that are
//!   not job messages, or name no job, stay for an operator (looked at again after
//!   [`OPERATOR_RECHECK`]).
//!
//! Every action is logged (`reconciler` and an `action` field) and counted once in the
//! returned [`Report`], after it took effect.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::job::{Job, id_for_scheduled_run};
use crate::message::JobMessage;
use crate::queue::{JobQueue, QueueError, Received};
use crate::store::{JobStore, StoreError};

/// How long a dead-lettered message left for an operator stays hidden from the reconciler.
pub const OPERATOR_RECHECK: Duration = Duration::from_secs(3600);

/// What a pass may do.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// A job with no live lease and no change for this long is sent again.
    pub stale_after: Duration,
    /// At most this many stale jobs per pass.
    pub max_jobs: usize,
    /// At most this many dead-lettered messages per pass.
    pub max_dead_letters: usize,
}

impl ReconcileSettings {
    /// `stale_after` = the visibility timeout plus [`Self::MARGIN`].
    pub fn for_visibility(visibility: Duration) -> Self {
        Self {
            stale_after: visibility + Self::MARGIN,
            max_jobs: 500,
            max_dead_letters: 500,
        }
    }

    /// Added to the visibility timeout before a job counts as stale: longer than a
    /// heartbeat's period and a retry's delay, so a live worker always shows progress first.
    pub const MARGIN: Duration = Duration::from_secs(30);
}

/// What one pass did: each action counted once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Stale jobs whose message was sent again.
    pub requeued: u32,
    /// Dead-lettered messages sent back to the job queue (their jobs had attempts left).
    pub redriven: u32,
    /// Jobs recorded FAILED because their message was dead-lettered with no attempt left.
    pub failed: u32,
    /// Dead-lettered messages of jobs that had already ended, deleted.
    pub leftovers_deleted: u32,
    /// Dead-lettered messages left for an operator (not job messages, or no such job).
    pub left_for_operator: u32,
    /// Jobs or messages skipped because a call failed; the next pass tries again.
    pub errors: u32,
}

impl Report {
    /// Whether the pass did anything.
    pub fn acted(&self) -> bool {
        self.requeued + self.redriven + self.failed + self.leftovers_deleted > 0
    }
}

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// One pass over stale jobs and, if `dead_letters` is given, the dead-letter queue.
pub async fn reconcile(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    dead_letters: Option<&dyn JobQueue>,
    settings: &ReconcileSettings,
    now: DateTime<Utc>,
) -> Result<Report, ReconcileError> {
    let mut report = Report::default();
    requeue_stale(store, queue, settings, now, &mut report).await?;
    if let Some(dlq) = dead_letters {
        drain_dead_letters(store, queue, dlq, settings, &mut report).await?;
    }
    Ok(report)
}

async fn requeue_stale(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    settings: &ReconcileSettings,
    now: DateTime<Utc>,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    let cutoff = now - settings.stale_after;
    for job_id in store.open_jobs_updated_before(cutoff, settings.max_jobs).await? {
        // The index lags the table: decide on the job as it is now.
        let job = match store.get(job_id).await {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(err) => {
                warn!(reconciler = true, %job_id, error = %err, "could not read a stale job");
                report.errors += 1;
                continue;
            }
        };
        if !job.is_stale(now, settings.stale_after) {
            continue;
        }
        match store.apply(&job.requeue(now)).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => continue, // it moved, or another reconciler took it
            Err(err) => {
                warn!(reconciler = true, %job_id, error = %err, "could not mark a stale job");
                report.errors += 1;
                continue;
            }
        }
        match queue.send(&message_for(&job)).await {
            Ok(()) => {
                info!(reconciler = true, action = "requeued", %job_id, status = job.status.as_str(),
                      attempts = job.attempts, idle_secs = (now - job.updated_at).num_seconds(),
                      "stale job sent to the queue again");
                report.requeued += 1;
            }
            Err(err) => {
                // Marked but maybe not sent: it is stale again after `stale_after`.
                warn!(reconciler = true, %job_id, error = %err, "could not send a stale job again");
                report.errors += 1;
            }
        }
    }
    Ok(())
}

fn message_for(job: &Job) -> String {
    JobMessage::for_job(job.job_id, &job.task, &job.input).to_json()
}

async fn drain_dead_letters(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    dlq: &dyn JobQueue,
    settings: &ReconcileSettings,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    let mut seen = 0;
    while seen < settings.max_dead_letters {
        let batch = dlq.receive(10, Duration::ZERO, settings.stale_after).await?;
        if batch.is_empty() {
            break;
        }
        seen += batch.len();
        for message in batch {
            if let Err(err) = dead_letter(store, queue, dlq, &message, report).await {
                warn!(reconciler = true, message_id = %message.message_id, error = %err,
                      "could not resolve a dead-lettered message; it comes back for the next pass");
                report.errors += 1;
            }
        }
    }
    Ok(())
}

/// Resolves one dead-lettered message.
async fn dead_letter(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    dlq: &dyn JobQueue,
    message: &Received,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    let message_id = &message.message_id;
    let parsed = match JobMessage::parse(&message.body) {
        Ok(parsed) => parsed,
        Err(err) => return leave_for_operator(dlq, message, &format!("not a job message: {err}"), report).await,
    };
    let job_id = match (&parsed.job_id, &parsed.schedule) {
        (Some(id), _) => *id,
        (None, Some(schedule)) => {
            id_for_scheduled_run(&schedule.name, schedule.generation.as_deref(), &schedule.scheduled_time)
        }
        (None, None) => return leave_for_operator(dlq, message, "names no job", report).await,
    };
    let Some(job) = store.get(job_id).await? else {
        if parsed.schedule.is_some() {
            // A scheduled run never registered: the worker registers it on first sight.
            return redrive(queue, dlq, message, job_id, report).await;
        }
        return leave_for_operator(dlq, message, "its job does not exist", report).await;
    };
    if job.status.is_terminal() {
        dlq.delete(&message.receipt_handle).await?;
        info!(reconciler = true, action = "leftover_deleted", %job_id, %message_id, status = job.status.as_str(),
              "dead-lettered message of a job that had ended, deleted");
        report.leftovers_deleted += 1;
        return Ok(());
    }
    if job.has_attempts_left() {
        return redrive(queue, dlq, message, job_id, report).await;
    }
    // RUNNING on its last attempt: failed only once that attempt is surely lost.
    match store
        .apply(&job.fail_dead_lettered(message.receive_count, Utc::now()))
        .await
    {
        Ok(()) => {
            dlq.delete(&message.receipt_handle).await?;
            info!(reconciler = true, action = "failed", %job_id, %message_id, attempts = job.attempts,
                  "job failed: its last attempt was lost and its message dead-lettered");
            report.failed += 1;
            Ok(())
        }
        // A worker still holds the last attempt, or the job moved: look again next pass.
        Err(StoreError::Conflict) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

async fn redrive(
    queue: &dyn JobQueue,
    dlq: &dyn JobQueue,
    message: &Received,
    job_id: uuid::Uuid,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    queue.send(&message.body).await?;
    dlq.delete(&message.receipt_handle).await?;
    info!(reconciler = true, action = "redriven", %job_id, message_id = %message.message_id,
          receives = message.receive_count, "dead-lettered message of a job with attempts left sent back");
    report.redriven += 1;
    Ok(())
}

async fn leave_for_operator(
    dlq: &dyn JobQueue,
    message: &Received,
    why: &str,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    dlq.set_visibility(&message.receipt_handle, OPERATOR_RECHECK).await?;
    warn!(reconciler = true, action = "left_for_operator", message_id = %message.message_id, reason = why,
          "dead-lettered message left for an operator");
    report.left_for_operator += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Claim, JobSource, JobStatus};
    use crate::queue::MemoryQueue;
    use crate::store::MemoryStore;
    use serde_json::json;

    const VIS: Duration = Duration::from_secs(30);

    fn settings() -> ReconcileSettings {
        ReconcileSettings::for_visibility(VIS)
    }

    async fn registered(store: &MemoryStore, at: DateTime<Utc>, max_attempts: u32) -> Job {
        let job = Job::new(
            uuid::Uuid::now_v7(),
            "sleep",
            json!({"ms": 1}),
            max_attempts,
            JobSource::Api,
            None,
            at,
        );
        let change = job.register();
        store.apply(&change).await.unwrap();
        change.job
    }

    async fn started(store: &MemoryStore, job: &Job, at: DateTime<Utc>) -> Job {
        let Claim::Start(change) = job.claim("w", at, VIS) else {
            panic!("not startable")
        };
        store.apply(&change).await.unwrap();
        change.job
    }

    #[tokio::test]
    async fn a_registered_job_whose_message_never_went_is_sent_once() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::new());
        let t0 = Utc::now() - chrono::Duration::minutes(5);
        let orphan = registered(&store, t0, 3).await;
        let fresh = registered(&store, Utc::now(), 3).await;
        let report = reconcile(&store, &queue, None, &settings(), Utc::now()).await.unwrap();
        assert_eq!(report.requeued, 1, "{report:?}");
        let bodies = queue.bodies();
        assert_eq!(bodies.len(), 1);
        assert_eq!(JobMessage::parse(&bodies[0]).unwrap().job_id, Some(orphan.job_id));
        assert!(!bodies[0].contains(&fresh.job_id.to_string()));
        // Marked: the next pass right after does nothing.
        let again = reconcile(&store, &queue, None, &settings(), Utc::now()).await.unwrap();
        assert_eq!(again, Report::default());
        assert_eq!(queue.bodies().len(), 1);
    }

    #[tokio::test]
    async fn a_running_job_with_a_live_lease_is_left_alone_and_a_lost_one_is_requeued() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::new());
        let now = Utc::now();
        let long_ago = now - chrono::Duration::minutes(10);
        let a = registered(&store, long_ago, 3).await;
        let a = started(&store, &a, long_ago).await; // its lease ran out long ago
        let b = registered(&store, long_ago, 3).await;
        let b = started(&store, &b, long_ago).await;
        store.extend_lease(b.job_id, "w", now + VIS).await.unwrap(); // a heartbeat keeps it
        let report = reconcile(&store, &queue, None, &settings(), now).await.unwrap();
        assert_eq!(report.requeued, 1);
        assert!(queue.bodies()[0].contains(&a.job_id.to_string()));
    }

    #[tokio::test]
    async fn dead_letters_are_sent_back_failed_deleted_or_left() {
        let (store, queue, dlq) = (MemoryStore::new(), MemoryQueue::new(), MemoryQueue::new());
        let now = Utc::now();
        let past = now - chrono::Duration::minutes(10);
        // Attempts left (QUEUED): back to the queue.
        let queued = registered(&store, now, 3).await;
        // Last attempt lost (RUNNING, 1 of 1, lease expired): FAILED.
        let last = registered(&store, past, 1).await;
        let last = started(&store, &last, past).await;
        // Already ended: the message is a leftover.
        let done = registered(&store, now, 3).await;
        let done = started(&store, &done, now).await;
        store.apply(&done.succeed("w", json!(1), now)).await.unwrap();
        for job in [&queued, &last, &done] {
            dlq.send(&message_for(job)).await.unwrap();
        }
        dlq.send("not json").await.unwrap();
        dlq.send(&message_for(&Job::new(
            uuid::Uuid::now_v7(),
            "sleep",
            json!({}),
            3,
            JobSource::Api,
            None,
            now,
        )))
        .await
        .unwrap();

        let report = reconcile(&store, &queue, Some(&dlq), &settings(), now).await.unwrap();
        assert_eq!(
            (
                report.redriven,
                report.failed,
                report.leftovers_deleted,
                report.left_for_operator
            ),
            (1, 1, 1, 2),
            "{report:?}"
        );
        // The lost job was stale too: the first half of the pass sent it again.
        assert_eq!(report.requeued, 1, "{report:?}");
        assert_eq!(queue.bodies(), vec![message_for(&last), message_for(&queued)]);
        let failed = store.get(last.job_id).await.unwrap().unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert!(
            failed.last_error.unwrap().contains("dead-lettered"),
            "the reason says so"
        );
        let stats = store.stats(now).await.unwrap();
        assert_eq!(stats.total.failed, 1, "counted once");
        // The two left for an operator are hidden, not deleted; the rest are gone.
        assert_eq!(dlq.bodies().len(), 2);
        let again = reconcile(&store, &queue, Some(&dlq), &settings(), now).await.unwrap();
        assert_eq!(again, Report::default(), "nothing is done twice");
    }
}
