//! A store that fails on purpose, for tests of what the use cases do when AWS misbehaves:
//! it wraps another store and, for chosen changes (and first claims), refuses them or loses the answer of a
//! write that did happen (a response lost after DynamoDB committed), and can refuse lease
//! extensions (a throttled or unreachable table under a running job) and writes of schedule copies. It can also hold
//! the first reads of a schedule's run pointer until a given number of callers made one,
//! so racing registrations all decide from the same pointer before any of them writes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Barrier;
use uuid::Uuid;

use super::{JobStore, StoreError};
use crate::job::{Change, FirstClaim, FirstClaimed, Job};
use crate::listing::{JobPage, ListQuery};
use crate::schedules::{ChangeLease, CopyGuard, PointerMove, RunPointer, ScheduleChange, ScheduleCopy};
use crate::stats::Stats;

/// What a faulty call does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writes nothing and answers `Unavailable` (throttling or contention past the retries).
    Refuse,
    /// Writes, then answers `Unavailable` (the response was lost after the commit).
    LoseResponse,
}

type Matcher = Box<dyn Fn(&Change) -> bool + Send + Sync>;

struct Rule {
    matches: Matcher,
    fault: Fault,
    left: usize,
}

/// A [`JobStore`] around `inner` that injects [`Fault`]s.
pub struct FaultyStore<S> {
    inner: S,
    rules: Mutex<Vec<Rule>>,
    refuse_leases: AtomicBool,
    refuse_copies: AtomicBool,
    /// Faults for the next first claims, in order.
    first_claims: Mutex<Vec<Fault>>,
    injected: AtomicUsize,
    /// Pointer reads still to hold at the barrier.
    lockstep: Mutex<Option<(Arc<Barrier>, usize)>>,
}

impl<S: JobStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rules: Mutex::new(Vec::new()),
            refuse_leases: AtomicBool::new(false),
            refuse_copies: AtomicBool::new(false),
            first_claims: Mutex::new(Vec::new()),
            injected: AtomicUsize::new(0),
            lockstep: Mutex::new(None),
        }
    }

    /// The next `parties` run pointer reads each wait, after reading, until all of them read.
    pub fn lockstep_pointer_reads(&self, parties: usize) {
        *self.lockstep.lock().unwrap() = Some((Arc::new(Barrier::new(parties)), parties));
    }

    /// The next `times` changes that `matches` accepts get `fault`.
    pub fn on_apply(&self, matches: impl Fn(&Change) -> bool + Send + Sync + 'static, fault: Fault, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            matches: Box::new(matches),
            fault,
            left: times,
        });
    }

    /// The next `times` first claims ([`JobStore::claim_first`]) get `fault`.
    pub fn on_first_claim(&self, fault: Fault, times: usize) {
        self.first_claims
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(fault, times));
    }

    /// While `refuse` holds, every lease extension answers `Unavailable`.
    pub fn refuse_lease_extensions(&self, refuse: bool) {
        self.refuse_leases.store(refuse, Ordering::SeqCst);
    }

    /// While `refuse` holds, every write of a schedule's copy answers `Unavailable`.
    pub fn refuse_copy_writes(&self, refuse: bool) {
        self.refuse_copies.store(refuse, Ordering::SeqCst);
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn fault_for(&self, change: &Change) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| r.left > 0 && (r.matches)(change))?;
        rule.left -= 1;
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(rule.fault)
    }
}

fn injected(what: &str) -> StoreError {
    StoreError::Unavailable(format!("injected fault: {what}"))
}

#[async_trait]
impl<S: JobStore> JobStore for FaultyStore<S> {
    async fn get(&self, job_id: Uuid) -> Result<Option<Job>, StoreError> {
        self.inner.get(job_id).await
    }

    async fn apply(&self, change: &Change) -> Result<(), StoreError> {
        match self.fault_for(change) {
            None => self.inner.apply(change).await,
            Some(Fault::Refuse) => Err(injected("write refused")),
            Some(Fault::LoseResponse) => {
                self.inner.apply(change).await?;
                Err(injected("response lost after the write"))
            }
        }
    }

    async fn run_pointer(&self, schedule: &str, generation: &str) -> Result<Option<RunPointer>, StoreError> {
        let read = self.inner.run_pointer(schedule, generation).await;
        let barrier = match &mut *self.lockstep.lock().unwrap() {
            Some((barrier, left)) if *left > 0 => {
                *left -= 1;
                Some(barrier.clone())
            }
            _ => None,
        };
        if let Some(barrier) = barrier {
            barrier.wait().await;
        }
        read
    }

    /// Faults as [`Self::on_apply`] rules say for `change`.
    async fn apply_moving_pointer(&self, change: &Change, pointer: &PointerMove) -> Result<(), StoreError> {
        match self.fault_for(change) {
            None => self.inner.apply_moving_pointer(change, pointer).await,
            Some(Fault::Refuse) => Err(injected("write refused")),
            Some(Fault::LoseResponse) => {
                self.inner.apply_moving_pointer(change, pointer).await?;
                Err(injected("response lost after the write"))
            }
        }
    }

    async fn seed_run_pointer(&self, schedule: &str, generation: &str, to: &RunPointer) -> Result<bool, StoreError> {
        self.inner.seed_run_pointer(schedule, generation, to).await
    }

    async fn take_change_lease(&self, lease: &ChangeLease, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.take_change_lease(lease, now).await
    }

    async fn give_back_change_lease(&self, lease: &ChangeLease) -> Result<(), StoreError> {
        self.inner.give_back_change_lease(lease).await
    }

    async fn append_schedule_change(
        &self,
        schedule: &str,
        generation: &str,
        change: &ScheduleChange,
    ) -> Result<(), StoreError> {
        self.inner.append_schedule_change(schedule, generation, change).await
    }

    async fn schedule_changes(&self, schedule: &str, generation: &str) -> Result<Vec<ScheduleChange>, StoreError> {
        self.inner.schedule_changes(schedule, generation).await
    }

    async fn get_many(&self, job_ids: &[Uuid]) -> Result<Vec<Job>, StoreError> {
        self.inner.get_many(job_ids).await
    }

    async fn schedule_copies(&self, names: &[String]) -> Result<Vec<ScheduleCopy>, StoreError> {
        self.inner.schedule_copies(names).await
    }

    async fn put_schedule_copy(&self, copy: &ScheduleCopy, guard: CopyGuard) -> Result<(), StoreError> {
        if self.refuse_copies.load(Ordering::SeqCst) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(injected("schedule copy write refused"));
        }
        self.inner.put_schedule_copy(copy, guard).await
    }

    async fn delete_schedule_copy(&self, name: &str) -> Result<(), StoreError> {
        self.inner.delete_schedule_copy(name).await
    }

    async fn claim_first(&self, claim: &FirstClaim) -> Result<FirstClaimed, StoreError> {
        let fault = {
            let mut faults = self.first_claims.lock().unwrap();
            (!faults.is_empty()).then(|| faults.remove(0))
        };
        if fault.is_some() {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            None => self.inner.claim_first(claim).await,
            Some(Fault::Refuse) => Err(injected("first claim refused")),
            Some(Fault::LoseResponse) => {
                self.inner.claim_first(claim).await?;
                Err(injected("response lost after the first claim"))
            }
        }
    }

    async fn extend_lease(&self, job_id: Uuid, owner: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        if self.refuse_leases.load(Ordering::SeqCst) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(injected("lease extension refused"));
        }
        self.inner.extend_lease(job_id, owner, until).await
    }

    async fn open_jobs_updated_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.inner.open_jobs_updated_before(cutoff, limit).await
    }

    async fn list(&self, query: &ListQuery) -> Result<JobPage, StoreError> {
        self.inner.list(query).await
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<Stats, StoreError> {
        self.inner.stats(now).await
    }
}
