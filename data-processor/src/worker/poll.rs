//! Where messages come from: `--once` asks for one; loop mode keeps one long poll
//! asking for as many messages as slots are free, and runs each in a slot of its own.

use super::*;

impl Worker {
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
    pub(super) async fn free_slots(
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
    pub(super) async fn handle_in_slot(
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
}
