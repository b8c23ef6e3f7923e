//! In-memory stream and ledger, for tests of the aggregator: a stream that delivers what
//! it was given (and again after a rewind), and a ledger with the same conditional
//! semantics as the DynamoDB one that can lose the answer of a booking it made.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::NaiveDate;

use super::{Batch, Booking, CounterLedger, SequenceNumber, StreamRecord, StreamSource};
use crate::stats::{Bucket, Counts};
use crate::store::StoreError;

/// Records of one shard, delivered `batch_size` at a time.
pub struct MemoryStream {
    shard_id: String,
    records: Vec<StreamRecord>,
    /// Index of the next record to deliver.
    next: usize,
    batch_size: usize,
}

impl MemoryStream {
    pub fn new(shard_id: impl Into<String>, batch_size: usize) -> Self {
        Self {
            shard_id: shard_id.into(),
            records: Vec::new(),
            next: 0,
            batch_size: batch_size.max(1),
        }
    }

    /// Appends records to the shard (they must grow in sequence).
    pub fn push(&mut self, records: impl IntoIterator<Item = StreamRecord>) {
        self.records.extend(records);
    }
}

#[async_trait]
impl StreamSource for MemoryStream {
    async fn next_batch(&mut self) -> Result<Batch, StoreError> {
        let end = (self.next + self.batch_size).min(self.records.len());
        let records = self.records[self.next..end].to_vec();
        self.next = end;
        Ok(Batch {
            shard_id: self.shard_id.clone(),
            records,
        })
    }

    fn rewind(&mut self, shard_id: &str, after: Option<SequenceNumber>) {
        if shard_id == self.shard_id {
            self.next = match after {
                None => 0,
                Some(after) => self.records.iter().take_while(|r| r.sequence <= after).count(),
            };
        }
    }
}

#[derive(Default)]
struct Ledger {
    total: Counts,
    days: HashMap<NaiveDate, Counts>,
    /// Per counter shard, how many bookings it took (to check where they go).
    shards: HashMap<u32, usize>,
    checkpoints: HashMap<String, SequenceNumber>,
    lose_answers: usize,
    bookings: usize,
}

/// Counters and checkpoints in process memory.
#[derive(Default)]
pub struct MemoryLedger {
    state: Mutex<Ledger>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `times` bookings are made and then answered `Unavailable`, as when a
    /// `TransactWriteItems` committed and its answer was lost.
    pub fn lose_next_answers(&self, times: usize) {
        self.state.lock().unwrap().lose_answers = times;
    }

    /// The all-time totals booked.
    pub fn total(&self) -> Counts {
        self.state.lock().unwrap().total
    }

    /// What was booked on `day`.
    pub fn day(&self, day: NaiveDate) -> Counts {
        self.state.lock().unwrap().days.get(&day).copied().unwrap_or_default()
    }

    /// Bookings made (each one atomic write).
    pub fn bookings(&self) -> usize {
        self.state.lock().unwrap().bookings
    }

    /// The counter shards booked on, with their number of bookings.
    pub fn counter_shards(&self) -> HashMap<u32, usize> {
        self.state.lock().unwrap().shards.clone()
    }
}

#[async_trait]
impl CounterLedger for MemoryLedger {
    async fn checkpoint(&self, shard_id: &str) -> Result<Option<SequenceNumber>, StoreError> {
        Ok(self.state.lock().unwrap().checkpoints.get(shard_id).cloned())
    }

    async fn book(&self, booking: &Booking) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        if state.checkpoints.get(&booking.shard_id) != booking.expected.as_ref() {
            return Err(StoreError::Conflict);
        }
        for (bucket, counts) in &booking.increments {
            match bucket {
                Bucket::Total => state.total.add(counts),
                Bucket::Day(day) => state.days.entry(*day).or_default().add(counts),
            }
        }
        state
            .checkpoints
            .insert(booking.shard_id.clone(), booking.through.clone());
        *state.shards.entry(booking.counter_shard).or_default() += 1;
        state.bookings += 1;
        if state.lose_answers > 0 {
            state.lose_answers -= 1;
            return Err(StoreError::Unavailable(
                "the answer was lost after the booking".to_owned(),
            ));
        }
        Ok(())
    }
}
