//! The DynamoDB ledger: counter items and checkpoints in the job table.
//!
//! A booking is one `TransactWriteItems`: an `ADD` to each counter item of the batch (the
//! total and each day, all in the stream shard's counter shard, the items and key layout
//! of inline counting, so the stats read is unchanged) and a `Put` of the stream shard's
//! checkpoint item `STATS#CHECKPOINT#<shard id>` conditioned on the checkpoint read
//! (`attribute_not_exists(pk)` for a shard's first booking, else `seq = :expected`). A
//! conflict or throttling is retried with the store's [`crate::store::WriteRetry`]; a
//! failed condition is [`StoreError::Conflict`] (the checkpoint moved: the use case reads
//! it again).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::TimeDelta;

use super::{Booking, CounterLedger, SequenceNumber};
use crate::store::DynamoDbStore;
use crate::store::StoreError;
use crate::store::dynamodb::{build_err, counter_update, n, s};

/// Key prefix of checkpoint items.
pub const CHECKPOINT_PREFIX: &str = "STATS#CHECKPOINT#";
/// A checkpoint is kept this long after its last booking: far beyond the stream's 24-hour
/// retention, after which its shard can deliver nothing more.
const CHECKPOINT_RETENTION: TimeDelta = TimeDelta::days(7);

/// The storage key of a stream shard's checkpoint.
pub fn checkpoint_key(shard_id: &str) -> String {
    format!("{CHECKPOINT_PREFIX}{shard_id}")
}

/// Counters and checkpoints in the job table, written through the job store's client,
/// table and retry policy.
#[derive(Clone)]
pub struct DynamoDbLedger {
    store: DynamoDbStore,
}

impl DynamoDbLedger {
    pub fn new(store: DynamoDbStore) -> Self {
        Self { store }
    }

    /// Counter shards the stats read covers (`JOBS_STATS_SHARDS`).
    pub fn counter_shards(&self) -> u32 {
        self.store.shards()
    }

    fn items(&self, booking: &Booking) -> Result<Vec<TransactWriteItem>, StoreError> {
        let table = self.store.table();
        let mut items = Vec::with_capacity(booking.increments.len() + 1);
        for (bucket, counts) in &booking.increments {
            let update = counter_update(table, *bucket, booking.counter_shard, counts)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        let (condition, values) = match &booking.expected {
            None => ("attribute_not_exists(pk)", None),
            Some(expected) => (
                "seq = :expected",
                Some(HashMap::from([(":expected".to_owned(), s(expected.as_str()))])),
            ),
        };
        let expires = (booking.now + CHECKPOINT_RETENTION).timestamp();
        let checkpoint = Put::builder()
            .table_name(table)
            .item("pk", s(checkpoint_key(&booking.shard_id)))
            .item("seq", s(booking.through.as_str()))
            .item("updatedAt", s(booking.now.to_rfc3339()))
            .item("expiresAt", n(expires))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .map_err(build_err)?;
        items.push(TransactWriteItem::builder().put(checkpoint).build());
        if items.len() > 100 {
            return Err(StoreError::Other(format!(
                "a booking of {} counter items is over the 100 items of one transaction",
                items.len() - 1
            )));
        }
        Ok(items)
    }
}

#[async_trait]
impl CounterLedger for DynamoDbLedger {
    async fn checkpoint(&self, shard_id: &str) -> Result<Option<SequenceNumber>, StoreError> {
        let out = self
            .store
            .client()
            .get_item()
            .table_name(self.store.table())
            .key("pk", s(checkpoint_key(shard_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| {
                if crate::aws::is_transient(&err) {
                    StoreError::Unavailable(crate::aws::describe(&err))
                } else {
                    StoreError::Other(crate::aws::describe(&err))
                }
            })?;
        match out.item.as_ref().and_then(|item| item.get("seq")) {
            None => Ok(None),
            Some(AttributeValue::S(seq)) => SequenceNumber::parse(seq).map(Some),
            Some(_) => Err(StoreError::Other(format!(
                "checkpoint {} has a seq that is not a string",
                checkpoint_key(shard_id)
            ))),
        }
    }

    async fn book(&self, booking: &Booking) -> Result<(), StoreError> {
        self.store.transact_items(self.items(booking)?).await
    }
}
