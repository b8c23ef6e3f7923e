//! In-memory job store, with the same conditional semantics as the DynamoDB one. It
//! counts inline, and also keeps the stream DynamoDB would give its table (every write of
//! a job item, with the job before and after), so tests can count from the stream too.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{JobStore, StoreError};
use crate::counting::{SequenceNumber, StreamRecord};
use crate::job::{Change, Expect, FirstClaim, FirstClaimed, Job, Write};
use crate::listing::{JobPage, JobSummary, ListQuery, encode_cursor};
use crate::schedules::{ChangeLease, CopyGuard, PointerMove, RunPointer, ScheduleChange, ScheduleCopy};
use crate::stats::{Counts, DayStats, Stats, shown_days};

#[derive(Default)]
struct State {
    jobs: HashMap<Uuid, Job>,
    pointers: HashMap<(String, String), RunPointer>,
    changes: HashMap<(String, String), Vec<ScheduleChange>>,
    leases: HashMap<String, ChangeLease>,
    copies: HashMap<String, ScheduleCopy>,
    total: Counts,
    days: HashMap<NaiveDate, Counts>,
    stream: Vec<StreamRecord>,
}

impl State {
    /// Records a write of job `id` in the stream: the job before and after it.
    fn streamed(&mut self, id: Uuid, old: Option<Job>) {
        let new = self.jobs.get(&id).cloned();
        let sequence = SequenceNumber::parse(&(self.stream.len() + 1).to_string()).expect("a number");
        self.stream.push(StreamRecord {
            sequence,
            key: format!("{}{id}", crate::counting::JOB_KEY_PREFIX),
            old,
            new,
        });
    }
}

/// A store in process memory, for tests and for trying the API without AWS.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every job, for invariant checks in tests.
    pub fn jobs(&self) -> Vec<Job> {
        self.state.lock().unwrap().jobs.values().cloned().collect()
    }

    /// The table's stream so far: one record per write of a job item, in order.
    pub fn stream_records(&self) -> Vec<StreamRecord> {
        self.state.lock().unwrap().stream.clone()
    }
}

fn condition_holds(expect: &Expect, current: Option<&Job>) -> bool {
    match (expect, current) {
        (Expect::Absent, None) => true,
        (Expect::HeldBy { version, owner }, Some(job)) => {
            job.version == *version && job.lease.as_ref().is_some_and(|l| &l.owner == owner)
        }
        (Expect::Free { version, now }, Some(job)) => {
            job.version == *version && job.lease.as_ref().is_none_or(|l| l.expires_at < *now)
        }
        (Expect::Version { version }, Some(job)) => job.version == *version,
        _ => false,
    }
}

/// Applies `change` if its condition holds, with its counters.
fn apply_locked(state: &mut State, change: &Change) -> Result<(), StoreError> {
    if !condition_holds(&change.expect, state.jobs.get(&change.job.job_id)) {
        return Err(StoreError::Conflict);
    }
    let old = match change.write {
        Write::Put => state.jobs.insert(change.job.job_id, change.job.clone()),
        Write::Delete => state.jobs.remove(&change.job.job_id),
    };
    state.streamed(change.job.job_id, old);
    state.total.add(&change.counters);
    state
        .days
        .entry(change.at.date_naive())
        .or_default()
        .add(&change.counters);
    Ok(())
}

#[async_trait]
impl JobStore for MemoryStore {
    async fn get(&self, job_id: Uuid) -> Result<Option<Job>, StoreError> {
        Ok(self.state.lock().unwrap().jobs.get(&job_id).cloned())
    }

    async fn apply(&self, change: &Change) -> Result<(), StoreError> {
        apply_locked(&mut self.state.lock().unwrap(), change)
    }

    async fn run_pointer(&self, schedule: &str, generation: &str) -> Result<Option<RunPointer>, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .pointers
            .get(&(schedule.to_owned(), generation.to_owned()))
            .cloned())
    }

    async fn apply_moving_pointer(&self, change: &Change, pointer: &PointerMove) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let key = (pointer.schedule.clone(), pointer.generation.clone());
        if state.pointers.get(&key).map(|p| p.run_id) != pointer.from {
            return Err(StoreError::Conflict);
        }
        apply_locked(&mut state, change)?;
        state.pointers.insert(key, pointer.to.clone());
        Ok(())
    }

    async fn seed_run_pointer(&self, schedule: &str, generation: &str, to: &RunPointer) -> Result<bool, StoreError> {
        let mut state = self.state.lock().unwrap();
        let key = (schedule.to_owned(), generation.to_owned());
        if state
            .pointers
            .get(&key)
            .is_some_and(|p| p.scheduled_time >= to.scheduled_time)
        {
            return Ok(false);
        }
        state.pointers.insert(key, to.clone());
        Ok(true)
    }

    async fn take_change_lease(&self, lease: &ChangeLease, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        if let Some(held) = state.leases.get(&lease.schedule)
            && held.holder != lease.holder
            && held.until > now
        {
            return Err(StoreError::Conflict);
        }
        state.leases.insert(lease.schedule.clone(), lease.clone());
        Ok(())
    }

    async fn give_back_change_lease(&self, lease: &ChangeLease) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        if state
            .leases
            .get(&lease.schedule)
            .is_some_and(|held| held.holder == lease.holder)
        {
            state.leases.remove(&lease.schedule);
        }
        Ok(())
    }

    async fn append_schedule_change(
        &self,
        schedule: &str,
        generation: &str,
        change: &ScheduleChange,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let key = (schedule.to_owned(), generation.to_owned());
        let log = state.changes.entry(key).or_default();
        *log = crate::schedules::keep_last(std::mem::take(log), change.clone());
        Ok(())
    }

    async fn schedule_changes(&self, schedule: &str, generation: &str) -> Result<Vec<ScheduleChange>, StoreError> {
        let state = self.state.lock().unwrap();
        let key = (schedule.to_owned(), generation.to_owned());
        Ok(state.changes.get(&key).cloned().unwrap_or_default())
    }

    async fn schedule_copies(&self, names: &[String]) -> Result<Vec<ScheduleCopy>, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(names.iter().filter_map(|n| state.copies.get(n).cloned()).collect())
    }

    async fn put_schedule_copy(&self, copy: &ScheduleCopy, guard: CopyGuard) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let held = state.copies.get(&copy.schedule.name).map(|c| c.written_at);
        if let CopyGuard::Over(seen) = guard
            && held != seen
        {
            return Err(StoreError::Conflict);
        }
        state.copies.insert(copy.schedule.name.clone(), copy.clone());
        Ok(())
    }

    async fn delete_schedule_copy(&self, name: &str) -> Result<(), StoreError> {
        self.state.lock().unwrap().copies.remove(name);
        Ok(())
    }

    async fn get_many(&self, job_ids: &[Uuid]) -> Result<Vec<Job>, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(job_ids.iter().filter_map(|id| state.jobs.get(id).cloned()).collect())
    }

    async fn claim_first(&self, claim: &FirstClaim) -> Result<FirstClaimed, StoreError> {
        let mut state = self.state.lock().unwrap();
        match state.jobs.get(&claim.job_id) {
            Some(job) if claim.applies_to(job) => {
                let claimed = claim.applied_to(job);
                let old = state.jobs.insert(claim.job_id, claimed.clone());
                state.streamed(claim.job_id, old);
                Ok(FirstClaimed::Claimed(claimed))
            }
            found => Ok(FirstClaimed::Found(found.cloned())),
        }
    }

    async fn extend_lease(&self, job_id: Uuid, owner: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let old = state.jobs.get(&job_id).cloned();
        let lease = state
            .jobs
            .get_mut(&job_id)
            .filter(|j| j.cancel_requested_at.is_none())
            .and_then(|j| j.lease.as_mut())
            .filter(|l| l.owner == owner);
        match lease {
            Some(lease) => {
                lease.expires_at = until;
                state.streamed(job_id, old);
                Ok(())
            }
            None => Err(StoreError::Conflict),
        }
    }

    async fn open_jobs_updated_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .jobs
            .values()
            .filter(|j| !j.status.is_terminal() && j.updated_at < cutoff)
            .map(|j| j.job_id)
            .take(limit)
            .collect())
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<Stats, StoreError> {
        let state = self.state.lock().unwrap();
        let daily = shown_days(now)
            .into_iter()
            .map(|date| DayStats {
                date,
                counts: state.days.get(&date).copied().unwrap_or_default(),
            })
            .collect();
        Ok(Stats::new(state.total, daily, now))
    }

    async fn list(&self, query: &ListQuery) -> Result<JobPage, StoreError> {
        let state = self.state.lock().unwrap();
        let mut rows: Vec<JobSummary> = state
            .jobs
            .values()
            .map(JobSummary::from)
            .filter(|r| query.admits(r))
            .filter(|r| query.before.as_ref().is_none_or(|b| &r.sort_key < b))
            .collect();
        rows.sort_by(|a, b| b.sort_key.cmp(&a.sort_key));
        let limit = (query.limit as usize).max(1);
        let next = (rows.len() > limit).then(|| encode_cursor(&rows[limit - 1].sort_key));
        rows.truncate(limit);
        Ok(JobPage { jobs: rows, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Claim, JobSource};
    use crate::stats::Counts;
    use serde_json::json;
    use std::time::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn day(stats: &Stats, date: &str) -> Counts {
        stats.daily.iter().find(|d| d.date.to_string() == date).unwrap().counts
    }

    /// The clock is the changes' own times: submitted before midnight UTC, failed once
    /// and retried across it, succeeded after it.
    #[tokio::test]
    async fn a_job_across_midnight_counts_each_event_on_the_utc_day_it_happened() {
        let store = MemoryStore::new();
        let job = Job::new(
            Uuid::now_v7(),
            "flaky",
            json!({}),
            3,
            JobSource::Api,
            None,
            at("2026-03-01T23:59:58Z"),
        );
        let registered = job.register();
        store.apply(&registered).await.unwrap();
        let start = |job: &Job, now: &str| match job.claim("w1", at(now), Duration::from_secs(30)) {
            Claim::Start(change) => change,
            other => panic!("{other:?}"),
        };
        let first = start(&registered.job, "2026-03-01T23:59:59Z");
        store.apply(&first).await.unwrap();
        let next = crate::retry::RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
        .after_failure(1, false);
        let failed = first
            .job
            .attempt_failed("w1", "boom", next, at("2026-03-01T23:59:59.500Z"));
        store.apply(&failed).await.unwrap();
        let second = start(&failed.job, "2026-03-02T00:00:00.100Z");
        store.apply(&second).await.unwrap();
        let done = second.job.succeed("w1", json!({}), at("2026-03-02T00:00:01Z"));
        store.apply(&done).await.unwrap();

        let stats = store.stats(at("2026-03-02T12:00:00Z")).await.unwrap();
        let booked = |c: Counts| (c.submitted, c.succeeded, c.failed, c.retries);
        assert_eq!(booked(day(&stats, "2026-03-01")), (1, 0, 0, 0));
        assert_eq!(booked(day(&stats, "2026-03-02")), (0, 1, 0, 1));
        assert_eq!(booked(stats.total), (1, 1, 0, 1));
        assert_eq!(stats.in_flight, 0);
        // A day later the first day is still shown, one place further back.
        let later = store.stats(at("2026-03-03T00:00:00Z")).await.unwrap();
        assert_eq!(later.daily[2].date.to_string(), "2026-03-01");
        assert_eq!(booked(later.daily[2].counts), (1, 0, 0, 0));
    }
}
