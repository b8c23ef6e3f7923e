//! The DynamoDB Streams adapter of [`StreamSource`], for the local counter aggregator:
//! it polls `GetRecords` on every shard of the table's stream (on AWS the Lambda event
//! source mapping does this and pushes the batches instead).
//!
//! A shard is read from after its checkpoint (from its oldest record if it has none),
//! shards are found with `DescribeStream` (again now and then, for children of closed
//! shards), and an expired iterator is asked for again at the same position.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::ProvideErrorMetadata;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use tracing::{info, warn};

use super::images::{from_stream_item, record};
use super::{Batch, CounterLedger, SequenceNumber, StreamSource};
use crate::aws::describe;
use crate::store::StoreError;

/// Where the poller is in one shard.
#[derive(Debug, Default)]
struct ShardState {
    /// The last record delivered (`None`: none yet; read from the oldest).
    after: Option<SequenceNumber>,
    iterator: Option<String>,
    /// The shard closed and was read to its end.
    done: bool,
}

/// Polls a table's stream, shard by shard.
pub struct StreamPoller {
    client: Client,
    stream_arn: String,
    batch_size: i32,
    ledger: Arc<dyn CounterLedger>,
    shards: BTreeMap<String, ShardState>,
    /// The shard read last (they take turns).
    turn: usize,
    polls: u64,
}

/// Polls between two `DescribeStream`s.
const DESCRIBE_EVERY: u64 = 50;

fn unavailable<E, R>(err: aws_sdk_dynamodbstreams::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(describe(&err))
}

impl StreamPoller {
    /// A poller of `stream_arn` reading up to `batch_size` records a call, each shard from
    /// after its checkpoint in `ledger`.
    pub fn new(client: Client, stream_arn: impl Into<String>, batch_size: u32, ledger: Arc<dyn CounterLedger>) -> Self {
        Self {
            client,
            stream_arn: stream_arn.into(),
            batch_size: batch_size.clamp(1, 1000) as i32,
            ledger,
            shards: BTreeMap::new(),
            turn: 0,
            polls: 0,
        }
    }

    /// The stream of `table`, from `DescribeTable`'s `LatestStreamArn`.
    pub async fn stream_arn_of(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<String, StoreError> {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| StoreError::Other(describe(&e)))?;
        out.table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                StoreError::Other(format!(
                    "table {table} has no stream; JOBS_COUNTERS=stream needs one (NEW_AND_OLD_IMAGES)"
                ))
            })
    }

    async fn discover(&mut self) -> Result<(), StoreError> {
        let mut start: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            let Some(description) = out.stream_description() else {
                return Ok(());
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if !self.shards.contains_key(id) {
                    let after = self.ledger.checkpoint(id).await?;
                    info!(aggregator = true, shard = id, after = ?after.as_ref().map(|s| s.to_string()), "reading stream shard");
                    self.shards.insert(
                        id.to_owned(),
                        ShardState {
                            after,
                            ..ShardState::default()
                        },
                    );
                }
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => return Ok(()),
            }
        }
    }

    async fn iterator(&self, shard_id: &str, after: Option<&SequenceNumber>) -> Result<String, StoreError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id);
        let request = match after {
            Some(after) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(after.unpadded()),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = request.send().await.map_err(unavailable)?;
        out.shard_iterator
            .ok_or_else(|| StoreError::Other(format!("GetShardIterator answered no iterator for {shard_id}")))
    }
}

#[async_trait]
impl StreamSource for StreamPoller {
    async fn next_batch(&mut self) -> Result<Batch, StoreError> {
        if self.polls.is_multiple_of(DESCRIBE_EVERY) || self.shards.is_empty() {
            self.discover().await?;
        }
        self.polls += 1;
        let open: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, s)| !s.done)
            .map(|(id, _)| id.clone())
            .collect();
        let Some(shard_id) = open.get(self.turn % open.len().max(1)).cloned() else {
            return Ok(Batch {
                shard_id: String::new(),
                records: Vec::new(),
            });
        };
        self.turn = self.turn.wrapping_add(1);
        let after = self.shards[&shard_id].after.clone();
        let iterator = match self.shards[&shard_id].iterator.clone() {
            Some(iterator) => iterator,
            None => self.iterator(&shard_id, after.as_ref()).await?,
        };
        let sent = self
            .client
            .get_records()
            .shard_iterator(&iterator)
            .limit(self.batch_size)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(err) if err.code() == Some("ExpiredIteratorException") => {
                warn!(aggregator = true, shard = %shard_id, "shard iterator expired; asking for a new one");
                self.shards.get_mut(&shard_id).expect("known shard").iterator = None;
                return Ok(Batch {
                    shard_id,
                    records: Vec::new(),
                });
            }
            Err(err) => return Err(unavailable(err)),
        };
        let mut records = Vec::with_capacity(out.records().len());
        for r in out.records() {
            let Some(data) = r.dynamodb() else { continue };
            let keys = data.keys().map(from_stream_item).unwrap_or_default();
            let old = data.old_image().map(from_stream_item);
            let new = data.new_image().map(from_stream_item);
            let sequence = data.sequence_number().unwrap_or_default();
            records.push(record(sequence, &keys, old.as_ref(), new.as_ref())?);
        }
        let state = self.shards.get_mut(&shard_id).expect("known shard");
        if let Some(last) = records.last() {
            state.after = Some(last.sequence.clone());
        }
        match out.next_shard_iterator {
            Some(next) => state.iterator = Some(next),
            None => {
                info!(aggregator = true, shard = %shard_id, "stream shard closed and read to its end");
                state.done = true;
                state.iterator = None;
            }
        }
        Ok(Batch { shard_id, records })
    }

    fn rewind(&mut self, shard_id: &str, after: Option<SequenceNumber>) {
        if let Some(state) = self.shards.get_mut(shard_id) {
            state.after = after;
            state.iterator = None;
            state.done = false;
        }
    }
}
