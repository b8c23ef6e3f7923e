//! Property test of [`Counts::of`]: for every change the job state machine produces and a
//! store applies (register, withdraw, requeue, claims of every kind, the first claim in one
//! write, success, failure with and without a retry, exhaustion, dead-lettering, cancels,
//! hand-backs, re-runs and their links), the counters the change books equal
//! `Counts::of(after) − Counts::of(before)` of the stored job, and the day it books them on
//! is the day a stream consumer derives from the two records. So counting from the table's
//! stream books exactly what counting inline books.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use job_core::job::{CancelOutcome, Change, Claim, FirstClaim, FirstClaimed, Job, JobSource, JobStatus, Write};
use job_core::retry::RetryPolicy;
use job_core::stats::Counts;
use job_core::store::{JobStore, MemoryStore, StoreError};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

const MAX_ATTEMPTS: u32 = 3;
const LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Step {
    Register,
    /// A scheduled run registered as SKIPPED (its schedule's previous run is unfinished).
    RegisterSkipped,
    Withdraw,
    Requeue,
    /// A claim by the lease's holder (`true`) or by a new worker.
    Claim(bool),
    FirstClaim,
    Succeed,
    Fail(bool),
    Cancel,
    CancelAttempt,
    Release,
    FailDeadLettered,
    Rerun,
    /// Hours and minutes: the clock crosses midnight now and then.
    Advance(u32, u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Register),
        1 => Just(Step::RegisterSkipped),
        1 => Just(Step::Withdraw),
        1 => Just(Step::Requeue),
        3 => any::<bool>().prop_map(Step::Claim),
        2 => Just(Step::FirstClaim),
        2 => Just(Step::Succeed),
        3 => any::<bool>().prop_map(Step::Fail),
        1 => Just(Step::Cancel),
        1 => Just(Step::CancelAttempt),
        1 => Just(Step::Release),
        1 => Just(Step::FailDeadLettered),
        1 => Just(Step::Rerun),
        2 => (0u32..20, 0u32..60).prop_map(|(h, m)| Step::Advance(h, m)),
    ]
}

struct World {
    store: MemoryStore,
    /// The job the steps act on, and the re-runs made of it (acted on in turn).
    ids: Vec<Uuid>,
    current: usize,
    now: DateTime<Utc>,
    workers: u32,
    checked: usize,
}

impl World {
    fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            ids: vec![Uuid::now_v7()],
            current: 0,
            // 23:30 UTC: a few steps later it is the next day.
            now: DateTime::parse_from_rfc3339("2026-03-01T23:30:00Z").unwrap().to_utc(),
            workers: 0,
            checked: 0,
        }
    }

    fn new_owner(&mut self) -> String {
        self.workers += 1;
        format!("worker-{}", self.workers)
    }

    async fn stored(&self) -> Option<Job> {
        self.store.get(self.ids[self.current]).await.unwrap()
    }

    /// Applies `change` to the store; when it applied, checks the identity on the records
    /// before and after it.
    async fn apply(&mut self, change: Change) {
        let id = change.job.job_id;
        let before = self.store.get(id).await.unwrap();
        match self.store.apply(&change).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return,
            Err(err) => panic!("{err}"),
        }
        let after = self.store.get(id).await.unwrap();
        match change.write {
            Write::Put => assert_eq!(after.as_ref(), Some(&change.job)),
            Write::Delete => assert!(after.is_none()),
        }
        assert_eq!(
            Counts::delta(before.as_ref(), after.as_ref()),
            change.counters,
            "counters of {change:?} from {before:?}"
        );
        assert_eq!(
            Counts::day_of(before.as_ref(), after.as_ref()),
            Some(change.at.date_naive()),
            "day of {change:?}"
        );
        self.checked += 1;
    }

    /// The current job as a client submits it.
    fn new_job(&self, now: DateTime<Utc>) -> Job {
        Job::new(
            self.ids[self.current],
            "flaky",
            json!({}),
            MAX_ATTEMPTS,
            JobSource::Api,
            None,
            now,
        )
    }

    async fn run(&mut self, step: Step) {
        self.now += TimeDelta::milliseconds(7);
        let now = self.now;
        let stored = self.stored().await;
        let holder = stored
            .as_ref()
            .and_then(|j| j.lease.as_ref())
            .map(|l| l.owner.clone())
            .unwrap_or_else(|| "nobody".to_owned());
        match (step, stored) {
            (Step::Register, None) => {
                self.apply(self.new_job(now).register()).await;
            }
            (Step::RegisterSkipped, None) => {
                let skipped = self.new_job(now).register_skipped("the previous run is not finished");
                self.apply(skipped).await;
            }
            (Step::Register | Step::RegisterSkipped, Some(_)) => {}
            (_, None) => {}
            // A registration is taken back only as registered (its message could not be
            // sent); the submit use case withdraws the registered record, never a later one, and a
            // run registered SKIPPED sends no message, so it is never withdrawn.
            (Step::Withdraw, Some(job)) if job.version == 1 && job.status == JobStatus::Queued => {
                self.apply(job.withdraw(now)).await
            }
            (Step::Withdraw, Some(_)) => {}
            (Step::Requeue, Some(job)) => self.apply(job.requeue(now)).await,
            (Step::Claim(mine), Some(job)) => {
                let owner = if mine { holder } else { self.new_owner() };
                match job.claim(&owner, now, LEASE) {
                    Claim::Start(change) | Claim::Exhausted(change) | Claim::Cancel(change) => self.apply(change).await,
                    Claim::Finished | Claim::HeldElsewhere => {}
                }
            }
            (Step::FirstClaim, Some(job)) => {
                let owner = self.new_owner();
                let first = FirstClaim::new(job.job_id, &owner, now, LEASE);
                if let FirstClaimed::Claimed(after) = self.store.claim_first(&first).await.unwrap() {
                    // The same write as the claim the state machine computes for that job.
                    let Claim::Start(change) = job.claim(&owner, now, LEASE) else {
                        panic!("a first claim applied where a claim would not start")
                    };
                    assert_eq!(Counts::delta(Some(&job), Some(&after)), change.counters);
                    assert_eq!(after.updated_at.date_naive(), change.at.date_naive());
                    self.checked += 1;
                }
            }
            (Step::Succeed, Some(job)) => self.apply(job.succeed(&holder, json!({"ok": 1}), now)).await,
            (Step::Fail(permanent), Some(job)) => {
                let policy = RetryPolicy {
                    max_attempts: MAX_ATTEMPTS,
                    base_delay: Duration::from_secs(1),
                    max_delay: Duration::from_secs(1),
                };
                let next = policy.after_failure(job.attempts, permanent);
                self.apply(job.attempt_failed(&holder, "boom", next, now)).await
            }
            (Step::Cancel, Some(job)) => {
                if let CancelOutcome::Apply(change) = job.cancel("caller", now) {
                    self.apply(*change).await
                }
            }
            (Step::CancelAttempt, Some(job)) => self.apply(job.cancel_attempt(&holder, now)).await,
            (Step::Release, Some(job)) => self.apply(job.release(&holder, now)).await,
            (Step::FailDeadLettered, Some(job)) => {
                // As the reconciler does: an open job with no attempt left.
                if !job.status.is_terminal() && !job.has_attempts_left() {
                    self.apply(job.fail_dead_lettered(10, now)).await
                }
            }
            (Step::Rerun, Some(job)) => {
                if let Some(rerun) = job.rerun(MAX_ATTEMPTS, "caller", now) {
                    let rerun_id = rerun.job_id;
                    self.apply(rerun.register()).await;
                    self.apply(job.link_rerun(rerun_id, now)).await;
                    self.ids.push(rerun_id);
                    self.current = self.ids.len() - 1;
                }
            }
            (Step::Advance(h, m), Some(_)) => self.now += TimeDelta::hours(h.into()) + TimeDelta::minutes(m.into()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_change_books_the_difference_of_counts_of_its_records(steps in prop::collection::vec(step(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let mut world = World::new();
            for step in steps {
                world.run(step).await;
            }
        });
    }
}

/// The property test above must reach every kind of change; this walk does, in order, and
/// counts the changes it checked (so a walk that checks nothing fails).
#[test]
fn a_walk_through_every_kind_of_change_checks_each() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut world = World::new();
        let walk = [
            Step::Register,
            Step::Withdraw,
            Step::Register,
            Step::Requeue,
            Step::FirstClaim,
            Step::Fail(false),
            Step::Claim(true),
            Step::Release,
            Step::Claim(false),
            Step::Advance(1, 0),
            Step::Claim(false),
            Step::Advance(1, 0),
            Step::Claim(false),
            Step::Rerun,
            Step::FirstClaim,
            Step::Cancel,
            Step::CancelAttempt,
            Step::Rerun,
            Step::Cancel,
            Step::Rerun,
            Step::FirstClaim,
            Step::Advance(1, 0),
            Step::Claim(false),
            Step::Advance(1, 0),
            Step::Claim(false),
            Step::Advance(1, 0),
            Step::FailDeadLettered,
            Step::Rerun,
            Step::Claim(false),
            Step::Succeed,
        ];
        for step in walk {
            world.run(step).await;
        }
        let last = world.stored().await.unwrap();
        assert_eq!(last.status, job_core::JobStatus::Succeeded, "{last:?}");
        assert_eq!(world.checked, 29, "changes checked");
    });
}
