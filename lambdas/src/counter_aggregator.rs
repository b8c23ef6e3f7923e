//! Runs the counter aggregator ([`job_core::application::aggregate`]) with
//! `JOBS_COUNTERS=stream`.
//!
//! - On AWS Lambda: each invocation is one batch of one stream shard from the DynamoDB
//!   event source mapping, with a tumbling window so that the event names its shard
//!   (`shardId`, the checkpoint's key). The whole batch is one booking: if it fails, the
//!   invocation fails and the mapping delivers the same records again (up to its retry
//!   limit, then to its on-failure destination); the checkpoint makes that redelivery book
//!   nothing twice. No partial batch response is needed.
//! - Elsewhere (the local process of `make run`): polls the table's stream through the
//!   Streams API ([`StreamPoller`]) every `JOBS_AGGREGATOR_POLL_MS` (default 200) when idle,
//!   up to `JOBS_AGGREGATOR_BATCH` records (default 100) a batch; a failed booking reads the
//!   shard again from its checkpoint, as Lambda would deliver the batch again.
//!
//! Needs `JOBS_TABLE_NAME` (and the shared settings of [`Config`]), and
//! `JOBS_STATS_SHARDS` as the API has it, so that the stats read covers its counter shard.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{TimeWindowEvent, TimeWindowEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use job_core::adapters::AwsAdapters;
use job_core::application::aggregate::{Aggregated, aggregate};
use job_core::config::{Config, ConfigError};
use job_core::counting::dynamodb::DynamoDbLedger;
use job_core::counting::images::{Item, record};
use job_core::counting::mode::CountingModeError;
use job_core::counting::streams::StreamPoller;
use job_core::counting::{Batch, CounterLedger, StreamSource};
use job_core::stats::Counting;
use lambda_http::{LambdaEvent, service_fn};
use serde_dynamo::AttributeValue as EventValue;
use tracing::{info, warn};

use crate::BoxError;
use crate::serve::StartupError;

fn from_event_value(value: &EventValue) -> AttributeValue {
    use aws_sdk_dynamodb::primitives::Blob;
    match value {
        EventValue::N(v) => AttributeValue::N(v.clone()),
        EventValue::S(v) => AttributeValue::S(v.clone()),
        EventValue::Bool(v) => AttributeValue::Bool(*v),
        EventValue::B(v) => AttributeValue::B(Blob::new(v.clone())),
        EventValue::Null(v) => AttributeValue::Null(*v),
        EventValue::M(v) => AttributeValue::M(from_event_item(v)),
        EventValue::L(v) => AttributeValue::L(v.iter().map(from_event_value).collect()),
        EventValue::Ss(v) => AttributeValue::Ss(v.clone()),
        EventValue::Ns(v) => AttributeValue::Ns(v.clone()),
        EventValue::Bs(v) => AttributeValue::Bs(v.iter().map(|b| Blob::new(b.clone())).collect()),
    }
}

fn from_event_item(item: &HashMap<String, EventValue>) -> Item {
    item.iter().map(|(k, v)| (k.clone(), from_event_value(v))).collect()
}

/// The batch of a Lambda event: its shard (from the tumbling window's properties) and its
/// records with their images.
pub fn batch_of(event: &TimeWindowEvent) -> Result<Batch, BoxError> {
    let shard_id = event.time_window_properties.shard_id.clone().ok_or(
        "the event names no shardId: the event source mapping needs a tumbling window (TumblingWindowInSeconds)",
    )?;
    let mut records = Vec::with_capacity(event.dynamo_db_event.records.len());
    for r in &event.dynamo_db_event.records {
        let change = &r.change;
        let sequence = change
            .sequence_number
            .as_deref()
            .ok_or("a stream record has no SequenceNumber")?;
        let image = |item: &serde_dynamo::Item| (!item.is_empty()).then(|| from_event_item(item));
        let keys = from_event_item(&change.keys);
        let (old, new) = (image(&change.old_image), image(&change.new_image));
        records.push(record(sequence, &keys, old.as_ref(), new.as_ref())?);
    }
    Ok(Batch { shard_id, records })
}

fn number(var: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    match std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(value) => match value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                var,
                value,
                reason: format!("expected a whole number from {min} to {max}"),
            }),
        },
    }
}

async fn book(ledger: &DynamoDbLedger, batch: &Batch) -> Result<Aggregated, BoxError> {
    Ok(aggregate(ledger, batch, ledger.counter_shards(), Utc::now()).await?)
}

/// Builds the aggregator from the environment and runs it until shutdown (or, on Lambda,
/// serves invocations).
pub async fn run() -> Result<(), BoxError> {
    job_core::telemetry::init();
    let config = Config::from_env().map_err(StartupError)?;
    let aws = AwsAdapters::load(config.clone()).await.map_err(StartupError)?;
    if aws.counting != Counting::Stream {
        let table = config.table_name.clone();
        return Err(StartupError(CountingModeError::NotStreamCounted { table }.into()).into());
    }
    let ledger = DynamoDbLedger::new(aws.store());
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let ledger = Arc::new(ledger);
        return lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<TimeWindowEvent>| {
            let ledger = Arc::clone(&ledger);
            async move {
                let batch = batch_of(&event.payload)?;
                let outcome = book(&ledger, &batch).await?;
                info!(aggregator = true, shard = %batch.shard_id, records = batch.records.len(), ?outcome, "batch done");
                Ok::<_, BoxError>(TimeWindowEventResponse::default())
            }
        }))
        .await;
    }
    let batch_size = number("JOBS_AGGREGATOR_BATCH", 100, 1, 1000).map_err(StartupError)? as u32;
    let idle = Duration::from_millis(number("JOBS_AGGREGATOR_POLL_MS", 200, 10, 60_000).map_err(StartupError)?);
    let ddb = aws_sdk_dynamodb::Client::new(&aws.sdk);
    let stream_arn = StreamPoller::stream_arn_of(&ddb, &config.table_name).await?;
    let mut poller = StreamPoller::new(
        aws_sdk_dynamodbstreams::Client::new(&aws.sdk),
        &stream_arn,
        batch_size,
        Arc::new(ledger.clone()) as Arc<dyn CounterLedger>,
    );
    info!(aggregator = true, stream = %stream_arn, batch_size, "counter aggregator started");
    let shutdown = job_core::shutdown::signal();
    tokio::pin!(shutdown);
    loop {
        let pause = match poller.next_batch().await {
            Ok(batch) if batch.records.is_empty() => idle,
            Ok(batch) => match book(&ledger, &batch).await {
                Ok(_) => Duration::ZERO,
                Err(err) => {
                    warn!(aggregator = true, shard = %batch.shard_id, error = %err,
                          "booking failed; reading the shard again from its checkpoint");
                    match ledger.checkpoint(&batch.shard_id).await {
                        Ok(checkpoint) => poller.rewind(&batch.shard_id, checkpoint),
                        // Unknown: read from the start (the checkpoint still keeps it exact).
                        Err(_) => poller.rewind(&batch.shard_id, None),
                    }
                    Duration::from_secs(1)
                }
            },
            Err(err) => {
                warn!(aggregator = true, error = %err, "reading the stream failed; trying again");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    info!("counter aggregator stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Lambda event as the DynamoDB event source mapping sends it with a tumbling window.
    fn event(shard: Option<&str>) -> TimeWindowEvent {
        let id = "0190b2a4-6a52-7b8e-9d3c-1f2e3d4c5b6a";
        let image = |status: &str, version: u32| {
            serde_json::json!({
                "pk": {"S": format!("JOB#{id}")}, "jobId": {"S": id}, "task": {"S": "sleep"},
                "input": {"S": "{}"}, "status": {"S": status}, "attempts": {"N": "1"},
                "maxAttempts": {"N": "3"}, "source": {"S": "{\"type\":\"api\"}"},
                "createdAt": {"S": "2026-03-01T23:59:59Z"}, "updatedAt": {"S": "2026-03-02T00:00:01Z"},
                "version": {"N": version.to_string()}
            })
        };
        let mut json = serde_json::json!({
            "Records": [
                {"eventID": "1", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
                 "eventSourceARN": "arn:aws:dynamodb:eu-west-1:111122223333:table/jobs/stream/2026-03-01T00:00:00.000",
                 "dynamodb": {"ApproximateCreationDateTime": 1772409601, "SequenceNumber": "4421584500000000017450439091",
                              "SizeBytes": 300, "StreamViewType": "NEW_AND_OLD_IMAGES",
                              "Keys": {"pk": {"S": format!("JOB#{id}")}},
                              "OldImage": image("RUNNING", 2), "NewImage": image("SUCCEEDED", 3)}},
                {"eventID": "2", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
                 "dynamodb": {"ApproximateCreationDateTime": 1772409601, "SequenceNumber": "4421584500000000017450439092",
                              "SizeBytes": 30, "StreamViewType": "NEW_AND_OLD_IMAGES",
                              "Keys": {"pk": {"S": "STATS#TOTAL#0"}},
                              "NewImage": {"pk": {"S": "STATS#TOTAL#0"}, "succeeded": {"N": "1"}}}}
            ],
            "window": {"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T00:00:30Z"},
            "state": {},
            "eventSourceARN": "arn:aws:dynamodb:eu-west-1:111122223333:table/jobs/stream/2026-03-01T00:00:00.000",
            "isFinalInvokeForWindow": false,
            "isWindowTerminatedEarly": false
        });
        if let Some(shard) = shard {
            json["shardId"] = serde_json::json!(shard);
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_lambda_event_becomes_a_batch_of_its_shard_with_job_images_read() {
        let batch = batch_of(&event(Some("shardId-00000001772409600000-abcdef12"))).unwrap();
        assert_eq!(batch.shard_id, "shardId-00000001772409600000-abcdef12");
        assert_eq!(batch.records.len(), 2);
        let job = &batch.records[0];
        assert_eq!(job.old.as_ref().unwrap().status, job_core::JobStatus::Running);
        assert_eq!(job.new.as_ref().unwrap().status, job_core::JobStatus::Succeeded);
        assert_eq!(job.sequence.to_string(), "4421584500000000017450439091");
        // The counter item's record carries no job.
        assert!(batch.records[1].old.is_none() && batch.records[1].new.is_none());
    }

    #[test]
    fn an_event_without_a_shard_id_is_refused_with_the_setting_it_needs() {
        let err = batch_of(&event(None)).unwrap_err().to_string();
        assert!(err.contains("TumblingWindowInSeconds"), "{err}");
    }
}
