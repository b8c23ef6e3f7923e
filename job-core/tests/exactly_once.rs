//! Property test of the exactly-once invariants: random interleavings of submissions
//! (repeated ones included), first claims in one write, duplicate deliveries decided on
//! stale answers, outcomes, worker crashes, shutdown hand-backs, lease expiries,
//! conflicting writes and answers lost after a write (first claims' too), cancels,
//! all against the in-memory store through the state machine's own changes.
//! After every step: `submitted = succeeded + failed + cancelled + not terminal`,
//! `retries = Σ (attempts − 1)`, the counters equal the jobs' states, no job has more
//! attempts than allowed, and no two workers run one job at once. And the counters the
//! stream aggregator books from the store's stream (delivered in batches, redelivered from
//! the start now and then, with bookings whose answer is lost) equal the inline ones,
//! total and per day.

use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::application::aggregate::{AggregateError, aggregate};
use job_core::counting::Batch;
use job_core::counting::memory::MemoryLedger;
use job_core::job::CancelOutcome;
use job_core::job::{Change, Claim, FirstClaim, FirstClaimed, Job, JobSource, JobStatus};
use job_core::retry::RetryPolicy;
use job_core::store::faulty::{Fault, FaultyStore};
use job_core::store::{JobStore, MemoryStore, StoreError, is_written_by};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

const JOBS: usize = 2;
const WORKERS: usize = 3;
const MAX_ATTEMPTS: u32 = 3;
const LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Step {
    /// Submit job k (again, if already submitted: the same id, as an idempotency key gives).
    Submit(usize),
    /// Worker w receives a message of job k (it may act on it later).
    Receive(usize, usize),
    /// Worker w claims: a message just received with a first claim (one conditional write
    /// answering the job as found when it does not apply), else from what that answer
    /// said (a conflict if the job changed meanwhile).
    Claim(usize),
    /// Worker w's running attempt ends: success or a failure (permanent or not).
    Finish(usize, bool, bool),
    /// Worker w dies: it forgets everything; its lease runs out in time.
    Crash(usize),
    /// Worker w shuts down and gives its job back.
    Release(usize),
    /// The clock moves on (leases expire).
    Advance(u64),
    /// The next write's answer is lost after it was applied.
    LoseNextAnswer,
    /// A cancel of job k is asked for through the API.
    Cancel(usize),
    /// The stream aggregator's next booking loses its answer.
    LoseNextBooking,
    /// The stream is delivered again from its start (a consumer's iterator reset).
    Redeliver,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0..JOBS).prop_map(Step::Submit),
        4 => (0..WORKERS, 0..JOBS).prop_map(|(w, k)| Step::Receive(w, k)),
        4 => (0..WORKERS).prop_map(Step::Claim),
        3 => (0..WORKERS, any::<bool>(), any::<bool>()).prop_map(|(w, ok, permanent)| Step::Finish(w, ok, permanent)),
        1 => (0..WORKERS).prop_map(Step::Crash),
        1 => (0..WORKERS).prop_map(Step::Release),
        2 => (0u64..40).prop_map(Step::Advance),
        1 => Just(Step::LoseNextAnswer),
        1 => (0..JOBS).prop_map(Step::Cancel),
        1 => Just(Step::LoseNextBooking),
        1 => Just(Step::Redeliver),
    ]
}

#[derive(Default, Clone)]
struct WorkerState {
    /// Who holds the job for this message: a new id for each message received, as the
    /// worker makes one (a restarted worker is someone else).
    owner: String,
    /// The job of the message it received and has not claimed yet.
    received: Option<Uuid>,
    /// What a first claim that did not apply found (it may act on it later).
    read: Option<Job>,
    /// The job it runs an attempt of (as it last wrote it).
    running: Option<Job>,
}

struct World {
    store: FaultyStore<MemoryStore>,
    ids: Vec<Uuid>,
    submitted: Vec<bool>,
    workers: Vec<WorkerState>,
    now: DateTime<Utc>,
    receipts: usize,
    /// The stream aggregator's ledger, and how far into the stream it has read.
    ledger: MemoryLedger,
    streamed: usize,
}

impl World {
    fn new() -> Self {
        Self {
            store: FaultyStore::new(MemoryStore::new()),
            ids: (0..JOBS).map(|_| Uuid::now_v7()).collect(),
            submitted: vec![false; JOBS],
            workers: vec![WorkerState::default(); WORKERS],
            // Half an hour before midnight UTC: days change in many runs.
            now: DateTime::from_timestamp(1_800_000_000 - 1_800_000_000 % 86_400 + 86_400 - 1_800, 0).unwrap(),
            receipts: 0,
            ledger: MemoryLedger::new(),
            streamed: 0,
        }
    }

    /// Applies a change as the worker does: a lost answer is checked against the record.
    async fn apply(&self, change: &Change) -> bool {
        match self.store.apply(change).await {
            Ok(()) => true,
            Err(StoreError::Conflict) => false,
            Err(StoreError::Unavailable(_)) => {
                let stored = self.store.get(change.job.job_id).await.unwrap();
                is_written_by(stored.as_ref(), change)
            }
            Err(err) => panic!("{err}"),
        }
    }

    async fn run(&mut self, step: Step) {
        self.now += chrono::TimeDelta::milliseconds(1);
        match step {
            Step::Submit(k) => {
                let job = Job::new(
                    self.ids[k],
                    "flaky",
                    json!({}),
                    MAX_ATTEMPTS,
                    JobSource::Api,
                    None,
                    self.now,
                );
                if self.apply(&job.register()).await {
                    assert!(!self.submitted[k], "a job registered twice");
                    self.submitted[k] = true;
                }
            }
            Step::Receive(w, k) => {
                if self.workers[w].running.is_none() {
                    self.receipts += 1;
                    self.workers[w].owner = format!("worker-{w}-message-{}", self.receipts);
                    self.workers[w].received = Some(self.ids[k]);
                    self.workers[w].read = None;
                }
            }
            Step::Claim(w) => {
                if let Some(job_id) = self.workers[w].received.take() {
                    let first = FirstClaim::new(job_id, &self.workers[w].owner, self.now, LEASE);
                    // While the answer is lost, the SDK sends the same request again.
                    let mut answer = self.store.claim_first(&first).await;
                    while let Err(StoreError::Unavailable(_)) = answer {
                        answer = self.store.claim_first(&first).await;
                    }
                    match answer.unwrap() {
                        FirstClaimed::Claimed(job) => self.workers[w].running = Some(job),
                        FirstClaimed::Found(Some(job)) if first.is_written_in(&job) => {
                            self.workers[w].running = Some(job)
                        }
                        FirstClaimed::Found(found) => self.workers[w].read = found,
                    }
                    return;
                }
                let Some(read) = self.workers[w].read.take() else {
                    return;
                };
                match read.claim(&self.workers[w].owner, self.now, LEASE) {
                    Claim::Start(change) => {
                        if self.apply(&change).await {
                            self.workers[w].running = Some(change.job);
                        }
                    }
                    Claim::Exhausted(change) | Claim::Cancel(change) => {
                        self.apply(&change).await;
                    }
                    Claim::Finished | Claim::HeldElsewhere => {}
                }
            }
            Step::Finish(w, ok, permanent) => {
                let Some(job) = self.workers[w].running.take() else {
                    return;
                };
                let owner = self.workers[w].owner.clone();
                // A worker whose lease ran out has stopped its attempt by now.
                if job.lease.as_ref().is_none_or(|l| l.expires_at <= self.now) {
                    return;
                }
                let change = if ok {
                    job.succeed(&owner, json!({"ok": true}), self.now)
                } else {
                    let next = RetryPolicy {
                        max_attempts: MAX_ATTEMPTS,
                        base_delay: Duration::ZERO,
                        max_delay: Duration::ZERO,
                    }
                    .after_failure(job.attempts, permanent);
                    job.attempt_failed(&owner, "boom", next, self.now)
                };
                if self.apply(&change).await && change.job.status == JobStatus::Retrying {
                    // It keeps the job and claims the next attempt when it next acts.
                    self.workers[w].read = Some(change.job);
                }
            }
            Step::Crash(w) => self.workers[w] = WorkerState::default(),
            Step::Release(w) => {
                if let Some(job) = self.workers[w].running.take() {
                    let owner = self.workers[w].owner.clone();
                    self.apply(&job.release(&owner, self.now)).await;
                }
                self.workers[w].read = None;
                self.workers[w].received = None;
            }
            Step::Advance(secs) => self.now += chrono::TimeDelta::seconds(secs as i64),
            Step::LoseNextAnswer => {
                self.store.on_apply(|_| true, Fault::LoseResponse, 1);
                self.store.on_first_claim(Fault::LoseResponse, 1);
            }
            Step::Cancel(k) => {
                if let Some(job) = self.store.get(self.ids[k]).await.unwrap()
                    && let CancelOutcome::Apply(change) = job.cancel("caller", self.now)
                {
                    self.apply(&change).await;
                }
            }
            Step::LoseNextBooking => self.ledger.lose_next_answers(1),
            Step::Redeliver => self.streamed = 0,
        }
    }

    /// Delivers the stream's new records to the aggregator in batches of 3; a batch whose
    /// booking failed is delivered again, as Lambda retries it.
    async fn aggregate(&mut self) {
        let records = self.store.inner().stream_records();
        while self.streamed < records.len() {
            let end = (self.streamed + 3).min(records.len());
            let batch = Batch {
                shard_id: "shard-1".into(),
                records: records[self.streamed..end].to_vec(),
            };
            match aggregate(&self.ledger, &batch, 4, self.now).await {
                Ok(_) => self.streamed = end,
                Err(AggregateError::Store(StoreError::Unavailable(_))) => {}
                Err(err) => panic!("{err}"),
            }
        }
    }

    async fn check(&mut self) {
        let jobs = self.store.inner().jobs();
        let all = self.store.stats(self.now).await.unwrap();
        self.aggregate().await;
        assert_eq!(
            self.ledger.total(),
            all.total,
            "the stream's counts equal the inline ones"
        );
        for day in &all.daily {
            assert_eq!(
                self.ledger.day(day.date),
                day.counts,
                "the stream's counts of {}",
                day.date
            );
        }
        let stats = all.total;
        let count = |s: JobStatus| jobs.iter().filter(|j| j.status == s).count() as i64;
        let not_terminal = jobs.iter().filter(|j| !j.status.is_terminal()).count() as i64;
        assert_eq!(stats.submitted, jobs.len() as i64, "submitted counts every job once");
        assert_eq!(
            stats.submitted,
            stats.succeeded + stats.failed + stats.cancelled + not_terminal
        );
        assert_eq!(stats.succeeded, count(JobStatus::Succeeded));
        assert_eq!(stats.failed, count(JobStatus::Failed));
        assert_eq!(stats.cancelled, count(JobStatus::Cancelled));
        let retries: i64 = jobs.iter().map(|j| i64::from(j.retries())).sum();
        assert_eq!(stats.retries, retries, "retries = Σ (attempts − 1)");
        assert!(jobs.iter().all(|j| j.attempts <= MAX_ATTEMPTS));
        // Never two attempts at once: at most one worker runs a job under a live lease,
        // and it is the lease's owner.
        for job in &jobs {
            let runners: Vec<usize> = (0..WORKERS)
                .filter(|w| {
                    self.workers[*w].running.as_ref().is_some_and(|r| {
                        r.job_id == job.job_id && r.lease.as_ref().is_some_and(|l| l.expires_at > self.now)
                    })
                })
                .collect();
            assert!(runners.len() <= 1, "two live attempts of one job: {runners:?}");
            if let Some(w) = runners.first() {
                assert_eq!(job.lease.as_ref().map(|l| &l.owner), Some(&self.workers[*w].owner));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn counters_stay_exact_and_attempts_exclusive_under_any_interleaving(steps in prop::collection::vec(step(), 1..80)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let mut world = World::new();
            for step in steps {
                world.run(step).await;
                world.check().await;
            }
        });
    }
}
