//! The counter aggregator's use case: book one batch of stream records exactly once.
//!
//! A job item's stream record carries the job before and after the change; its counter
//! increments are `Counts::of(after) − Counts::of(before)` ([`Counts::delta`]), booked on
//! the change's UTC day ([`Counts::day_of`]), the same increments and day the change books
//! when counting inline (`job-core/tests/counts_of.rs` proves it for every change).
//! Records of other items (counters, checkpoints) are not counted.
//!
//! Exactly once: each stream shard has a checkpoint, the sequence number of the last record
//! booked. A batch reads it, drops the records at or below it (delivered before), sums the
//! rest per counter item (the total and each day), and books the sums together with the
//! new checkpoint in one atomic write that applies only if the checkpoint is still what it
//! read ([`Booking::expected`]). So a batch delivered twice books nothing the second time,
//! a batch that overlaps an earlier one books only its new records, and a booking whose
//! answer was lost and is sent again finds the checkpoint moved, reads it again, and sees
//! its records booked. This holds when each record is delivered in order within its shard
//! (what DynamoDB Streams guarantees: every change of an item appears once, in order, in
//! one shard; a shard's children start after it closes, and each child has its own
//! checkpoint item).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::info;
use uuid::Uuid;

use crate::counting::{Batch, Booking, CounterLedger, is_job_key};
use crate::stats::{Bucket, Counts, shard_for};
use crate::store::StoreError;

/// How often a booking is tried again after the checkpoint moved under it (each time the
/// checkpoint is read again: a lost answer's retry needs one).
const CHECKPOINT_READS: usize = 5;

/// What became of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregated {
    /// Booked in one write: the records counted (new job records) and the increments.
    Booked {
        records: usize,
        increments: Vec<(Bucket, Counts)>,
    },
    /// Every record was booked before (a redelivery, or a retried booking that had applied).
    AlreadyBooked,
    /// Nothing to count: no new job record changed a counter (claims, heartbeats, and the
    /// aggregator's own writes). No write is made, so the aggregator's writes never feed
    /// themselves; the checkpoint moves with the next booking.
    NothingToCount,
}

/// Why a batch could not be booked; the batch is to be delivered again.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error("stream records out of order in shard {shard}: {later} after {earlier}")]
    OutOfOrder {
        shard: String,
        earlier: String,
        later: String,
    },
    #[error("the checkpoint of shard {0} kept moving while booking; is a second consumer reading it?")]
    CheckpointRace(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The counter shard a stream shard's bookings go to: a stable hash of its id, so that the
/// stats read (every shard) stays the same in both counting modes, and stream shards
/// spread over the counter items.
pub fn counter_shard_for(stream_shard: &str, shards: u32) -> u32 {
    shard_for(Uuid::new_v5(&Uuid::NAMESPACE_OID, stream_shard.as_bytes()), shards)
}

/// Books `batch` in `ledger` exactly once (see the module documentation).
pub async fn aggregate(
    ledger: &dyn CounterLedger,
    batch: &Batch,
    counter_shards: u32,
    now: DateTime<Utc>,
) -> Result<Aggregated, AggregateError> {
    for pair in batch.records.windows(2) {
        if pair[1].sequence <= pair[0].sequence {
            return Err(AggregateError::OutOfOrder {
                shard: batch.shard_id.clone(),
                earlier: pair[0].sequence.to_string(),
                later: pair[1].sequence.to_string(),
            });
        }
    }
    let Some(last) = batch.records.last() else {
        return Ok(Aggregated::NothingToCount);
    };
    for _ in 0..CHECKPOINT_READS {
        let checkpoint = ledger.checkpoint(&batch.shard_id).await?;
        if checkpoint.as_ref().is_some_and(|c| &last.sequence <= c) {
            return Ok(Aggregated::AlreadyBooked);
        }
        let fresh: Vec<_> = batch
            .records
            .iter()
            .filter(|r| checkpoint.as_ref().is_none_or(|c| &r.sequence > c))
            .filter(|r| is_job_key(&r.key))
            .collect();
        let mut sums: BTreeMap<BucketKey, Counts> = BTreeMap::new();
        for record in &fresh {
            let delta = Counts::delta(record.old.as_ref(), record.new.as_ref());
            let Some(day) = Counts::day_of(record.old.as_ref(), record.new.as_ref()) else {
                continue;
            };
            if delta.is_zero() {
                continue;
            }
            sums.entry(BucketKey::Total).or_default().add(&delta);
            sums.entry(BucketKey::Day(day)).or_default().add(&delta);
        }
        let increments: Vec<(Bucket, Counts)> = sums
            .into_iter()
            .filter(|(_, c)| !c.is_zero())
            .map(|(k, c)| (k.bucket(), c))
            .collect();
        if increments.is_empty() {
            return Ok(Aggregated::NothingToCount);
        }
        let booking = Booking {
            shard_id: batch.shard_id.clone(),
            expected: checkpoint,
            through: last.sequence.clone(),
            counter_shard: counter_shard_for(&batch.shard_id, counter_shards),
            increments,
            now,
        };
        match ledger.book(&booking).await {
            Ok(()) => {
                info!(aggregator = true, shard = %batch.shard_id, through = %booking.through,
                      records = fresh.len(), "counters booked");
                return Ok(Aggregated::Booked {
                    records: fresh.len(),
                    increments: booking.increments,
                });
            }
            // The checkpoint moved since it was read: a lost answer's own booking, or
            // another delivery of these records. Read it again.
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(AggregateError::CheckpointRace(batch.shard_id.clone()))
}

/// A [`Bucket`] with an order, so the increments come out the same way every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BucketKey {
    Total,
    Day(chrono::NaiveDate),
}

impl BucketKey {
    fn bucket(self) -> Bucket {
        match self {
            Self::Total => Bucket::Total,
            Self::Day(day) => Bucket::Day(day),
        }
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
