//! One message's handling: a scheduled run registered on first sight, the job claimed,
//! run and recorded, and the message's [`Fate`] carried out in one place.

use super::*;

impl Worker {
    /// [`Self::handle`] for a message asked for at `asked_at`; deleted through `deleter`
    /// when there is one, else at once.
    pub(super) async fn handle_received(
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
    pub(super) async fn settle(
        &self,
        message: &Received,
        fate: Fate,
        deleter: Option<&BatchDeleter>,
    ) -> Result<(), QueueError> {
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
    pub(super) async fn decide(
        &self,
        message: &Received,
        asked_at: chrono::DateTime<Utc>,
    ) -> Result<Decided, WorkerError> {
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
    pub(super) async fn run_job(
        &self,
        job_id: Uuid,
        owner: &str,
        heartbeat: &Heartbeat,
    ) -> Result<Decided, WorkerError> {
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

    /// The attempt was stopped because the lease could not be renewed: record CANCELLED if
    /// a cancel was asked for and the job is still this worker's, else leave the job (and
    /// its message) to whoever holds it now, recording nothing.
    pub(super) async fn stopped(&self, job_id: Uuid, owner: &str) -> Result<Decided, WorkerError> {
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
    pub(super) async fn record(&self, change: &Change) -> Result<Recorded, WorkerError> {
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
}
