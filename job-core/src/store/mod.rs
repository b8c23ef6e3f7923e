//! The job store port: job records and counters, changed only through [`Change`]s.

pub(crate) mod dynamodb;
pub mod faulty;
mod memory;

pub use dynamodb::{
    DynamoDbStore, OPEN_JOBS_INDEX, OPEN_JOBS_SHARDS, OPEN_SHARD_ATTRIBUTE, OPEN_UPDATED_ATTRIBUTE, WriteRetry,
    job_from_item,
};
pub use memory::MemoryStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::job::{Change, FirstClaim, FirstClaimed, Job, Write};
use crate::listing::{JobPage, ListQuery};
use crate::schedules::{ChangeLease, CopyGuard, PointerMove, RunPointer, ScheduleChange, ScheduleCopy};
use crate::stats::Stats;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stored record did not meet the change's condition; nothing was written.
    #[error("the job changed concurrently")]
    Conflict,
    /// The backend could not be reached or is throttling; the call may be retried.
    #[error("job store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (misconfiguration, corrupt item).
    #[error("job store error: {0}")]
    Other(String),
}

/// Where jobs and counters are kept.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Reads a job (strongly consistent).
    async fn get(&self, job_id: Uuid) -> Result<Option<Job>, StoreError>;

    /// Applies one change and its counter updates atomically, if its condition holds.
    async fn apply(&self, change: &Change) -> Result<(), StoreError>;

    /// The run a schedule generation last admitted under an overlap policy
    /// ([`crate::schedules::Overlap`]); `None` before its first (strongly consistent).
    async fn run_pointer(&self, schedule: &str, generation: &str) -> Result<Option<RunPointer>, StoreError>;

    /// Applies `change` (a scheduled run's registration) and moves its schedule's run
    /// pointer as one atomic write: `Conflict` if the change's condition fails or the
    /// pointer no longer names `pointer.from`; nothing is written then.
    async fn apply_moving_pointer(&self, change: &Change, pointer: &PointerMove) -> Result<(), StoreError>;

    /// Points a schedule generation's run pointer at `to`, a run registered while the
    /// schedule ran under `allow` (which keeps no pointer), unless the pointer already
    /// names a run scheduled at or after `to`. Returns whether it moved. One conditional
    /// write; a run racing to move the pointer from where it was read then finds it moved.
    async fn seed_run_pointer(&self, schedule: &str, generation: &str, to: &RunPointer) -> Result<bool, StoreError>;

    /// Takes `lease` on its schedule ([`crate::schedules::ChangeLease`]): `Conflict` if
    /// another holder's lease runs past `now`.
    async fn take_change_lease(&self, lease: &ChangeLease, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Gives `lease` back; nothing happens if it is no longer its holder's.
    async fn give_back_change_lease(&self, lease: &ChangeLease) -> Result<(), StoreError>;

    /// Appends `change` to the change log of a schedule generation.
    async fn append_schedule_change(
        &self,
        schedule: &str,
        generation: &str,
        change: &ScheduleChange,
    ) -> Result<(), StoreError>;

    /// The change log of a schedule generation, oldest first (empty if never changed).
    async fn schedule_changes(&self, schedule: &str, generation: &str) -> Result<Vec<ScheduleChange>, StoreError>;

    /// Reads many jobs in as few requests as the backend allows (DynamoDB: one
    /// `BatchGetItem` per 100 ids); missing ids are left out.
    async fn get_many(&self, job_ids: &[Uuid]) -> Result<Vec<Job>, StoreError>;

    /// The stored copies of these schedules' definitions (`SCHEDULE#<name>`); names without
    /// one are left out. One `BatchGetItem` per 100 names.
    async fn schedule_copies(&self, names: &[String]) -> Result<Vec<ScheduleCopy>, StoreError>;

    /// Writes a schedule's copy where `guard` allows it; [`StoreError::Conflict`] where not.
    async fn put_schedule_copy(&self, copy: &ScheduleCopy, guard: CopyGuard) -> Result<(), StoreError>;

    /// Removes a schedule's copy (none there is fine).
    async fn delete_schedule_copy(&self, name: &str) -> Result<(), StoreError>;

    /// Claims a job's first attempt in one conditional write, without reading it first
    /// ([`FirstClaim`]): the job as written when the claim applied, else the job as found.
    async fn claim_first(&self, claim: &FirstClaim) -> Result<FirstClaimed, StoreError>;

    /// Extends the lease of `owner` on a job it holds. `Conflict` when the job is not
    /// (or no longer) held by `owner`, or a cancel was asked for: either way the attempt
    /// is to stop.
    async fn extend_lease(&self, job_id: Uuid, owner: &str, until: DateTime<Utc>) -> Result<(), StoreError>;

    /// Ids of jobs that are not terminal and last changed before `cutoff`, at most
    /// `limit` of them (read from an index, never a scan; possibly a moment behind).
    async fn open_jobs_updated_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError>;

    /// Reads the counters: a constant number of items, never a scan.
    async fn stats(&self, now: DateTime<Utc>) -> Result<Stats, StoreError>;

    /// One page of jobs, newest first, through the listing index: never a scan.
    async fn list(&self, query: &ListQuery) -> Result<JobPage, StoreError>;
}

/// Whether `stored` is the record `change` writes: after an answer was lost (a timeout
/// or a 5xx after the commit) and the retried write found its condition failed, this tells
/// "my write happened" from "someone else's did". Every change bumps the version and
/// stamps `updated_at` with its own clock reading, so no other change leaves the same pair.
pub fn is_written_by(stored: Option<&Job>, change: &Change) -> bool {
    match (change.write, stored) {
        (Write::Put, Some(stored)) => {
            stored.version == change.job.version
                && stored.updated_at == change.job.updated_at
                && stored.status == change.job.status
                && stored.attempts == change.job.attempts
        }
        (Write::Delete, None) => true,
        _ => false,
    }
}
