//! Counting from the table's stream: the records a stream consumer reads, and the ledger
//! it books counter increments in.
//!
//! - [`StreamRecord`]: one change of one item as DynamoDB Streams delivers it (sequence
//!   number, key, the job before and after), whatever the transport: a Lambda event
//!   ([`crate::counting::images`] converts its images), the Streams API polled locally
//!   ([`streams::StreamPoller`]), or a list in tests ([`memory::MemoryStream`]).
//! - [`CounterLedger`]: where the counters and each stream shard's checkpoint live. A
//!   [`Booking`] adds a batch's increments and moves the checkpoint in one atomic write,
//!   only if the checkpoint is still what the consumer read: DynamoDB
//!   ([`dynamodb::DynamoDbLedger`], one `TransactWriteItems`) or memory
//!   ([`memory::MemoryLedger`]).
//!
//! The use case that joins them is [`crate::application::aggregate`]. Which mode a table
//! counts in is recorded on the table itself ([`mode`]).

pub mod dynamodb;
pub mod images;
pub mod memory;
pub mod mode;
pub mod streams;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::job::Job;
use crate::stats::{Bucket, Counts};
use crate::store::StoreError;

/// Digits of a stored sequence number. DynamoDB Streams' sequence numbers are decimal
/// strings of 21 to 40 digits, growing within a shard; padded to 40 digits with zeros,
/// string order is numeric order, in memory and in a DynamoDB condition alike.
pub const SEQUENCE_DIGITS: usize = 40;

/// A stream record's sequence number, zero-padded to [`SEQUENCE_DIGITS`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// Reads a sequence number as the stream gives it (decimal digits only).
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let digits = text.trim().trim_start_matches('0');
        if text.trim().is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > SEQUENCE_DIGITS {
            return Err(StoreError::Other(format!(
                "stream record sequence number {text:?} is not a decimal number of at most {SEQUENCE_DIGITS} digits"
            )));
        }
        Ok(Self(format!("{digits:0>SEQUENCE_DIGITS$}")))
    }

    /// The padded form, as stored in a checkpoint.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as the stream spells it (no leading zeros), for `GetShardIterator`.
    pub fn unpadded(&self) -> &str {
        let trimmed = self.0.trim_start_matches('0');
        if trimmed.is_empty() { "0" } else { trimmed }
    }
}

impl std::fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.unpadded())
    }
}

/// Key prefix of job items; every other item of the table (counters, checkpoints) is not
/// counted.
pub const JOB_KEY_PREFIX: &str = "JOB#";

/// Whether a table key is a job item's.
pub fn is_job_key(key: &str) -> bool {
    key.starts_with(JOB_KEY_PREFIX)
}

/// One change of one item, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub sequence: SequenceNumber,
    /// The item's partition key (`pk`).
    pub key: String,
    /// The job before the change (`None`: inserted, or not a job item).
    pub old: Option<Job>,
    /// The job after the change (`None`: removed, or not a job item).
    pub new: Option<Job>,
}

/// A batch of records of one stream shard, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The stream shard's id (its checkpoint is its own).
    pub shard_id: String,
    pub records: Vec<StreamRecord>,
}

/// Increments to add and the checkpoint to move, in one atomic write.
#[derive(Debug, Clone, PartialEq)]
pub struct Booking {
    pub shard_id: String,
    /// The checkpoint as read (`None`: this shard has none yet); the write applies only if
    /// it is still this.
    pub expected: Option<SequenceNumber>,
    /// The checkpoint after the write: the last record booked.
    pub through: SequenceNumber,
    /// The counter shard the increments go to.
    pub counter_shard: u32,
    /// Non-zero increments per counter item.
    pub increments: Vec<(Bucket, Counts)>,
    pub now: DateTime<Utc>,
}

/// Where a stream consumer books counters: the counter items and one checkpoint per
/// stream shard.
#[async_trait]
pub trait CounterLedger: Send + Sync {
    /// The last sequence number booked for `shard_id` (strongly consistent).
    async fn checkpoint(&self, shard_id: &str) -> Result<Option<SequenceNumber>, StoreError>;

    /// Adds the increments and moves the checkpoint atomically, if the checkpoint is still
    /// `booking.expected`; [`StoreError::Conflict`] when it is not (nothing written).
    async fn book(&self, booking: &Booking) -> Result<(), StoreError>;
}

/// A source of stream batches that is read by polling (the local consumer; Lambda pushes
/// its batches instead).
#[async_trait]
pub trait StreamSource: Send + Sync {
    /// The next batch of one shard, possibly empty, starting after what was last read.
    async fn next_batch(&mut self) -> Result<Batch, StoreError>;

    /// Reads `shard_id` again from after `after` (`None`: from its oldest record): after a
    /// failed booking the same records are delivered again, as Lambda retries a batch.
    fn rewind(&mut self, shard_id: &str, after: Option<SequenceNumber>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        let small = SequenceNumber::parse("900000000000000000001").unwrap();
        let large = SequenceNumber::parse("1100000000017454423009").unwrap();
        assert!(small < large);
        assert_eq!(large.as_str().len(), SEQUENCE_DIGITS);
        assert_eq!(large.unpadded(), "1100000000017454423009");
        assert_eq!(SequenceNumber::parse("0").unwrap().unpadded(), "0");
        for bad in ["", "12a", "-1", &"9".repeat(41)] {
            assert!(SequenceNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_job_keys_are_counted() {
        assert!(is_job_key("JOB#0190"));
        assert!(!is_job_key("STATS#TOTAL#0"));
        assert!(!is_job_key("STATS#CHECKPOINT#shardId-1"));
    }
}
