//! One attempt: the task run with its timeout and panic capture under the lease, its
//! outcome recorded, a retry's delay waited out while the message is held, or the job
//! given back on shutdown.

use super::*;

impl Worker {
    /// Runs the job just claimed (or ends it, when the claim recorded FAILED or CANCELLED).
    pub(super) async fn run_claimed(&self, job: Job, owner: &str, heartbeat: &Heartbeat) -> Result<Next, WorkerError> {
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
    pub(super) async fn attempt(&self, job: &Job, owner: &str, heartbeat: &Heartbeat) -> Result<Next, WorkerError> {
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

    /// Releases the job; its message is to become visible again after `after`.
    pub(super) async fn give_back(&self, job: &Job, owner: &str, after: Duration) -> Result<Next, WorkerError> {
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
    pub(super) async fn run_task(&self, job: &Job, lost: &CancellationToken) -> Attempt {
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
