//! DynamoDB job store.
//!
//! One table, partition key `pk` (string):
//! - `JOB#<id>`: a job record; `version` guards every change, `leaseOwner` and
//!   `leaseExpiresAt` (epoch ms) tell which worker holds it.
//!   Each job also carries the keys of the two listing indexes ([`crate::listing`]):
//!   `listPk` (`JOBS#<shard>`), `statusPk` (`<STATUS>#<shard>`) and `listSk`
//!   (`<createdAt>#<id>`), and `sourceType` for the source filter.
//! - `STATS#TOTAL#<shard>` and `STATS#DAY#<yyyy-mm-dd>#<shard>`: counters, changed with
//!   `ADD`; day items expire through the table's TTL attribute `expiresAt`.
//! - `SCHEDULE#<name>#<generation>`: the run a schedule last admitted under an overlap
//!   policy (`runId`, `scheduledTime`), moved in the transaction that registers the run
//!   ([`crate::schedules::Overlap`]), or pointed at the run still going under `allow` by
//!   a `PATCH` that turns `forbid` or `replace` on. It carries no index keys, so no listing shows it.
//! - `SCHEDULE#<name>#<generation>#CHANGES`: the schedule's change log (`changes`, a list
//!   of JSON strings, appended with `list_append`); no index keys either.
//! - `SCHEDULE#<name>#CHANGING`: the lease of a change under way (`holder`, `heldUntil` in
//!   epoch ms; [`crate::schedules::ChangeLease`]), deleted when it is done, else swept
//!   through `expiresAt` an hour after it ran out.
//!
//! - `SCHEDULE#<name>`: the copy of a schedule's definition that a page of schedules reads
//!   (`writtenAt` in epoch ms; [`crate::schedules::ScheduleCopy`]); no index keys either.
//!
//! - `STATS#CHECKPOINT#<stream shard id>`: the counter aggregator's checkpoint of one
//!   stream shard (`seq`, the last sequence number booked, zero-padded), which expires
//!   through `expiresAt` a week after its last booking ([`crate::counting::dynamodb`]).
//!
//! Counting inline ([`Counting::Inline`]), a change with counter updates is one
//! `TransactWriteItems` (the job write carries the condition); a change without them is one
//! conditional `PutItem`. Counting from the stream ([`Counting::Stream`]), every change is
//! one conditional `PutItem` or `DeleteItem` of the job item alone, and the counter
//! aggregator books the counters from the table's stream. A job's first claim
//! ([`FirstClaim`]) is one conditional `UpdateItem` that sets what the claim changes and
//! answers the job as written (`ALL_NEW`) or, when its condition failed, as found
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`): no read before it.
//!
//! The sparse global secondary index [`OPEN_JOBS_INDEX`] holds only jobs that are not
//! terminal: only they carry its key attributes, `openShard` (partition, one of
//! [`OPEN_JOBS_SHARDS`], so writes spread) and `openUpdatedAt` (sort, epoch ms of the last
//! change). The reconciler queries it for jobs that made no progress for a while, never
//! scanning the table; a job leaves the index when it ends.
//!
//! Real DynamoDB refuses writes the emulator never refuses: a transaction that meets
//! another one on the same item is cancelled with reason `TransactionConflict`, and
//! throttling cancels it with `ThrottlingError` or `ProvisionedThroughputExceeded`; a
//! single-item write that meets a transaction gets `TransactionConflictException`. None of
//! them wrote anything, so every write is retried on them with jittered exponential
//! backoff ([`WriteRetry`]) on top of the SDK's own retries, and only when the retries are
//! exhausted does the caller see [`StoreError::Unavailable`] (the API's 503). A failed
//! condition (`ConditionalCheckFailed`) is [`StoreError::Conflict`], never retried here.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Days, NaiveDate, Utc};
use tracing::warn;
use uuid::Uuid;

use super::{JobStore, StoreError};
use crate::aws::{describe, is_transient};
use crate::job::{Change, Expect, FirstClaim, FirstClaimed, Job, JobSource, JobStatus, Lease, Write};
use crate::listing::{
    self, JobPage, JobSummary, ListQuery, SORT_KEY_ATTR, STATUS_INDEX, STATUS_PARTITION_ATTR, SUBMITTER_INDEX,
    SUBMITTER_PARTITION_ATTR, ShardRead, SourceKind, TIME_INDEX, TIME_PARTITION_ATTR,
};
use crate::schedules::{
    ChangeLease, CopyGuard, Overlap, PointerMove, RunPointer, Schedule, ScheduleChange, ScheduleCopy,
};
use crate::stats::{Bucket, Counting, Counts, DayStats, Stats, counter_key, shard_for, shown_days};

/// The sparse index of jobs that are not terminal (see the module documentation).
pub const OPEN_JOBS_INDEX: &str = "open-jobs";
/// Its partition key attribute (string): the job's shard of the index.
pub const OPEN_SHARD_ATTRIBUTE: &str = "openShard";
/// Its sort key attribute (number): epoch milliseconds of the job's last change.
pub const OPEN_UPDATED_ATTRIBUTE: &str = "openUpdatedAt";
/// Partitions of the open-jobs index; the reconciler queries each.
pub const OPEN_JOBS_SHARDS: u32 = 8;

/// Day counters are kept this long after their day.
const DAY_COUNTER_RETENTION_DAYS: u64 = 35;

/// How often, and how far apart, a write refused for contention or throttling is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteRetry {
    /// Tries after the first.
    pub retries: usize,
    /// Delay before the first retry; it doubles each retry, with full jitter.
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for WriteRetry {
    /// 8 retries from 20 ms, doubling up to 1 s: about 3 s at most before giving up.
    fn default() -> Self {
        Self {
            retries: 8,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl WriteRetry {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.retries)
            .with_jitter()
    }
}

/// The DynamoDB adapter of [`JobStore`].
#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    shards: u32,
    retry: WriteRetry,
    counting: Counting,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>, shards: u32) -> Self {
        Self {
            client,
            table: table.into(),
            shards: shards.max(1),
            retry: WriteRetry::default(),
            counting: Counting::Inline,
        }
    }

    /// The same store counting in another mode (`JOBS_COUNTERS`).
    pub fn with_counting(mut self, counting: Counting) -> Self {
        self.counting = counting;
        self
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// Counter shards (`JOBS_STATS_SHARDS`).
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The same store with another retry policy for refused writes.
    pub fn with_write_retry(mut self, retry: WriteRetry) -> Self {
        self.retry = retry;
        self
    }
}

/// How one write call failed.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// The condition did not hold: nothing was written.
    Conditional,
    /// Contention or throttling: nothing was written, and trying again may succeed.
    Refused(String),
    /// Anything else, already classified.
    Failed(StoreError),
}

impl WriteFailure {
    fn into_store_error(self) -> StoreError {
        match self {
            Self::Conditional => StoreError::Conflict,
            Self::Refused(detail) => StoreError::Unavailable(format!("write still refused after retries: {detail}")),
            Self::Failed(err) => err,
        }
    }
}

/// Cancellation reasons of a `TransactionCanceledException` under which nothing was
/// written and the same transaction may succeed later.
const REFUSED_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// Error codes of single calls under which nothing was written and a retry may succeed
/// (the SDK retries throttling itself first; these are what is left when it gave up).
const REFUSED_CODES: &[&str] = &[
    "TransactionConflictException",
    "TransactionInProgressException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Classifies the failure of a single-item write (`PutItem`, `UpdateItem`).
pub(crate) fn classify_single<E>(err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> WriteFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err.code() {
        Some("ConditionalCheckFailedException") => WriteFailure::Conditional,
        Some(code) if REFUSED_CODES.contains(&code) => WriteFailure::Refused(describe(&err)),
        _ => WriteFailure::Failed(map_err(err)),
    }
}

/// Classifies the failure of a `TransactWriteItems`: by its cancellation reasons when it
/// was cancelled (a failed condition wins over contention: retrying cannot make it hold).
pub(crate) fn classify_transaction(
    err: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> WriteFailure {
    if let SdkError::ServiceError(service) = &err
        && let TransactWriteItemsError::TransactionCanceledException(cancel) = service.err()
    {
        let codes: Vec<&str> = cancel.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
        if codes.contains(&"ConditionalCheckFailed") {
            return WriteFailure::Conditional;
        }
        if let Some(code) = codes.iter().find(|c| REFUSED_REASONS.contains(c)) {
            return WriteFailure::Refused(format!("transaction cancelled: {code}"));
        }
        return WriteFailure::Failed(StoreError::Other(describe(&err)));
    }
    classify_single(err)
}

fn job_key(job_id: Uuid) -> AttributeValue {
    AttributeValue::S(format!("JOB#{job_id}"))
}

/// Keys one `BatchGetItem` may ask for.
const BATCH_GET_MAX_KEYS: usize = 100;

/// A pointer's scheduled time as kept: RFC 3339 UTC to the second.
fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The key of a schedule's change lease (names have no `#`; generations are UUIDs).
fn lease_key(schedule: &str) -> String {
    format!("SCHEDULE#{schedule}#CHANGING")
}

/// The key of a schedule's stored copy.
fn copy_key(schedule: &str) -> String {
    format!("SCHEDULE#{schedule}")
}

fn copy_to_item(copy: &ScheduleCopy) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let c = &copy.schedule;
    let input = serde_json::to_string(&c.input).map_err(|e| StoreError::Other(e.to_string()))?;
    let mut item = HashMap::from([
        ("pk".to_owned(), s(copy_key(&c.name))),
        ("name".to_owned(), s(&c.name)),
        ("cron".to_owned(), s(&c.cron)),
        ("expression".to_owned(), s(&c.expression)),
        ("timezone".to_owned(), s(&c.timezone)),
        ("task".to_owned(), s(&c.task)),
        ("input".to_owned(), s(input)),
        ("createdAt".to_owned(), s(c.created.to_rfc3339())),
        ("generation".to_owned(), s(&c.generation)),
        ("enabled".to_owned(), AttributeValue::Bool(c.enabled)),
        ("overlap".to_owned(), s(c.overlap.as_str())),
        ("writtenAt".to_owned(), n(copy.written_at.timestamp_millis())),
    ]);
    if let Some(by) = &c.created_by {
        item.insert("createdBy".to_owned(), s(by));
    }
    Ok(item)
}

fn copy_from_item(item: &HashMap<String, AttributeValue>) -> Result<ScheduleCopy, StoreError> {
    let r = Reader(item);
    let written_ms: i64 = r.num("writtenAt")?;
    Ok(ScheduleCopy {
        schedule: Schedule {
            name: r.str("name")?,
            cron: r.str("cron")?,
            expression: r.str("expression")?,
            timezone: r.str("timezone")?,
            task: r.str("task")?,
            input: r.opt_json("input")?.unwrap_or_default(),
            created: r.time("createdAt")?,
            generation: r.str("generation")?,
            enabled: item
                .get("enabled")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(true),
            overlap: Overlap::parse(&r.str("overlap")?).ok_or_else(|| corrupt("overlap"))?,
            created_by: r.opt_str("createdBy"),
        },
        written_at: DateTime::from_timestamp_millis(written_ms).ok_or_else(|| corrupt("writtenAt"))?,
    })
}

/// The changes of a change log item, oldest first.
fn changes_from_item(item: &HashMap<String, AttributeValue>) -> Result<Vec<ScheduleChange>, StoreError> {
    let Some(entries) = item.get("changes") else {
        return Ok(Vec::new());
    };
    let entries = entries.as_l().map_err(|_| corrupt("changes"))?;
    entries
        .iter()
        .map(|entry| {
            let text = entry.as_s().map_err(|_| corrupt("changes"))?;
            serde_json::from_str(text).map_err(|_| corrupt("changes"))
        })
        .collect()
}

/// The key of a schedule generation's run pointer.
fn pointer_key(schedule: &str, generation: &str) -> String {
    format!("SCHEDULE#{schedule}#{generation}")
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_item(job: &Job) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_owned(), job_key(job.job_id)),
        ("jobId".to_owned(), s(job.job_id.to_string())),
        ("task".to_owned(), s(&job.task)),
        ("input".to_owned(), s(job.input.to_string())),
        ("status".to_owned(), s(job.status.as_str())),
        ("attempts".to_owned(), n(job.attempts)),
        ("maxAttempts".to_owned(), n(job.max_attempts)),
        (
            "source".to_owned(),
            s(serde_json::to_string(&job.source).expect("source serializes")),
        ),
        ("createdAt".to_owned(), s(job.created_at.to_rfc3339())),
        ("updatedAt".to_owned(), s(job.updated_at.to_rfc3339())),
        ("version".to_owned(), n(job.version)),
        ("sourceType".to_owned(), s(SourceKind::of(job).as_str())),
    ]);
    let shard = listing::shard_of(job.job_id);
    item.insert(TIME_PARTITION_ATTR.to_owned(), s(listing::time_partition(shard)));
    item.insert(
        STATUS_PARTITION_ATTR.to_owned(),
        s(listing::status_partition(job.status, shard)),
    );
    item.insert(SORT_KEY_ATTR.to_owned(), s(listing::sort_key(job)));
    let mut optional = |name: &str, value: Option<AttributeValue>| {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    };
    optional("idempotencyKey", job.idempotency_key.as_ref().map(s));
    optional("startedAt", job.started_at.map(|t| s(t.to_rfc3339())));
    optional("finishedAt", job.finished_at.map(|t| s(t.to_rfc3339())));
    optional("nextAttemptAt", job.next_attempt_at.map(|t| s(t.to_rfc3339())));
    optional("lastError", job.last_error.as_ref().map(s));
    optional(
        listing::ERROR_SUMMARY_ATTR,
        job.last_error.as_deref().map(|e| s(listing::error_summary(e))),
    );
    optional("result", job.result.as_ref().map(|r| s(r.to_string())));
    optional("requeuedAt", job.requeued_at.map(|t| s(t.to_rfc3339())));
    optional("cancelRequestedAt", job.cancel_requested_at.map(|t| s(t.to_rfc3339())));
    optional("rerunOf", job.rerun_of.map(|id| s(id.to_string())));
    optional("rerunBy", job.rerun_by.map(|id| s(id.to_string())));
    optional("submittedBy", job.submitted_by.as_ref().map(s));
    optional("cancelledBy", job.cancelled_by.as_ref().map(s));
    optional(
        SUBMITTER_PARTITION_ATTR,
        job.submitted_by
            .as_deref()
            .map(|by| s(listing::submitter_partition(by, shard))),
    );
    optional("leaseOwner", job.lease.as_ref().map(|l| s(&l.owner)));
    optional(
        "leaseExpiresAt",
        job.lease.as_ref().map(|l| n(l.expires_at.timestamp_millis())),
    );
    if !job.status.is_terminal() {
        item.insert(
            OPEN_SHARD_ATTRIBUTE.to_owned(),
            s(shard_for(job.job_id, OPEN_JOBS_SHARDS).to_string()),
        );
        item.insert(OPEN_UPDATED_ATTRIBUTE.to_owned(), n(job.updated_at.timestamp_millis()));
    }
    item
}

struct Reader<'a>(&'a HashMap<String, AttributeValue>);

impl Reader<'_> {
    fn opt_str(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.as_s().ok()).cloned()
    }
    fn str(&self, name: &str) -> Result<String, StoreError> {
        self.opt_str(name).ok_or_else(|| corrupt(name))
    }
    fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|t| t.parse().ok())
                .map(Some)
                .ok_or_else(|| corrupt(name)),
        }
    }
    fn num<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_num(name)?.ok_or_else(|| corrupt(name))
    }
    fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_str(name)
            .map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| corrupt(name))
            })
            .transpose()
    }
    fn time(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(name)?.ok_or_else(|| corrupt(name))
    }
    fn opt_id(&self, name: &str) -> Result<Option<Uuid>, StoreError> {
        self.opt_str(name)
            .map(|t| t.parse().map_err(|_| corrupt(name)))
            .transpose()
    }
    fn opt_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_str(name)
            .map(|t| serde_json::from_str(&t).map_err(|_| corrupt(name)))
            .transpose()
    }
}

fn corrupt(attribute: &str) -> StoreError {
    StoreError::Other(format!("stored job has a missing or invalid attribute {attribute}"))
}

/// A job from its item (a read, or a stream record's image).
pub fn job_from_item(item: &HashMap<String, AttributeValue>) -> Result<Job, StoreError> {
    let r = Reader(item);
    let lease = match (r.opt_str("leaseOwner"), r.opt_num::<i64>("leaseExpiresAt")?) {
        (Some(owner), Some(ms)) => Some(Lease {
            owner,
            expires_at: DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("leaseExpiresAt"))?,
        }),
        _ => None,
    };
    Ok(Job {
        job_id: r.str("jobId")?.parse().map_err(|_| corrupt("jobId"))?,
        task: r.str("task")?,
        input: r.opt_json("input")?.unwrap_or_default(),
        status: JobStatus::parse(&r.str("status")?).ok_or_else(|| corrupt("status"))?,
        attempts: r.num("attempts")?,
        max_attempts: r.num("maxAttempts")?,
        source: r.opt_json::<JobSource>("source")?.unwrap_or(JobSource::Api),
        idempotency_key: r.opt_str("idempotencyKey"),
        created_at: r.time("createdAt")?,
        updated_at: r.time("updatedAt")?,
        started_at: r.opt_time("startedAt")?,
        finished_at: r.opt_time("finishedAt")?,
        next_attempt_at: r.opt_time("nextAttemptAt")?,
        last_error: r.opt_str("lastError"),
        result: r.opt_json("result")?,
        requeued_at: r.opt_time("requeuedAt")?,
        cancel_requested_at: r.opt_time("cancelRequestedAt")?,
        rerun_of: r.opt_id("rerunOf")?,
        rerun_by: r.opt_id("rerunBy")?,
        submitted_by: r.opt_str("submittedBy"),
        cancelled_by: r.opt_str("cancelledBy"),
        version: r.num("version")?,
        lease,
    })
}

/// A row of the listing from an index item (the projected attributes).
fn summary_from_item(item: &HashMap<String, AttributeValue>) -> Result<JobSummary, StoreError> {
    let r = Reader(item);
    Ok(JobSummary {
        job_id: r.str("jobId")?.parse().map_err(|_| corrupt("jobId"))?,
        task: r.str("task")?,
        status: JobStatus::parse(&r.str("status")?).ok_or_else(|| corrupt("status"))?,
        attempts: r.num("attempts")?,
        max_attempts: r.num("maxAttempts")?,
        source: SourceKind::parse(&r.str("sourceType")?).ok_or_else(|| corrupt("sourceType"))?,
        created_at: r.time("createdAt")?,
        finished_at: r.opt_time("finishedAt")?,
        last_error: r.opt_str(listing::ERROR_SUMMARY_ATTR),
        cancel_requested: r.opt_str("cancelRequestedAt").is_some(),
        rerun_of: r.opt_id("rerunOf")?,
        submitted_by: r.opt_str("submittedBy"),
        sort_key: r.str(SORT_KEY_ATTR)?,
    })
}

/// The condition expression and its values for an [`Expect`].
fn condition(expect: &Expect) -> (String, HashMap<String, AttributeValue>) {
    match expect {
        Expect::Absent => ("attribute_not_exists(pk)".to_owned(), HashMap::new()),
        Expect::HeldBy { version, owner } => (
            "version = :expectedVersion AND leaseOwner = :owner".to_owned(),
            HashMap::from([
                (":expectedVersion".to_owned(), n(version)),
                (":owner".to_owned(), s(owner)),
            ]),
        ),
        Expect::Free { version, now } => (
            "version = :expectedVersion AND (attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt < :now)".to_owned(),
            HashMap::from([
                (":expectedVersion".to_owned(), n(version)),
                (":now".to_owned(), n(now.timestamp_millis())),
            ]),
        ),
        Expect::Version { version } => (
            "version = :expectedVersion".to_owned(),
            HashMap::from([(":expectedVersion".to_owned(), n(version))]),
        ),
    }
}

fn map_err<E>(err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_transient(&err) {
        StoreError::Unavailable(describe(&err))
    } else {
        StoreError::Other(describe(&err))
    }
}

pub(crate) fn build_err(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(err.to_string())
}

/// The `ADD` of `counts` to one counter item (a day item gets its expiry when created).
pub(crate) fn counter_update(table: &str, bucket: Bucket, shard: u32, counts: &Counts) -> Result<Update, StoreError> {
    let counters = counts.named();
    let mut values: HashMap<String, AttributeValue> = counters
        .iter()
        .map(|(name, value)| (format!(":{name}"), n(value)))
        .collect();
    let mut expression = String::new();
    if let Bucket::Day(day) = bucket {
        let expires = day
            .checked_add_days(Days::new(DAY_COUNTER_RETENTION_DAYS))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp())
            .unwrap_or_default();
        values.insert(":expiresAt".to_owned(), n(expires));
        expression.push_str("SET expiresAt = if_not_exists(expiresAt, :expiresAt) ");
    }
    let adds: Vec<String> = counters.iter().map(|(name, _)| format!("{name} :{name}")).collect();
    expression.push_str("ADD ");
    expression.push_str(&adds.join(", "));
    Update::builder()
        .table_name(table)
        .key("pk", s(counter_key(bucket, shard)))
        .update_expression(expression)
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(build_err)
}

impl DynamoDbStore {
    fn counter_update(&self, change: &Change, bucket: Bucket) -> Result<TransactWriteItem, StoreError> {
        let shard = shard_for(change.job.job_id, self.shards);
        let update = counter_update(&self.table, bucket, shard, &change.counters)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn job_write(&self, change: &Change) -> Result<TransactWriteItem, StoreError> {
        let (expression, values) = condition(&change.expect);
        let values = (!values.is_empty()).then_some(values);
        Ok(match change.write {
            Write::Put => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_item(&change.job)))
                        .condition_expression(expression)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
            Write::Delete => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .key("pk", job_key(change.job.job_id))
                        .condition_expression(expression)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
        })
    }

    /// One `TransactWriteItems` of `items`, retried as every write is ([`Self::retrying`]).
    pub(crate) async fn transact_items(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.retrying("TransactWriteItems", || async {
            self.client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(classify_transaction)
        })
        .await
    }

    /// Runs `write` until it succeeds, fails for good, or stays refused past the retries.
    pub(crate) async fn retrying<T, F, Fut>(&self, what: &'static str, write: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, WriteFailure>>,
    {
        write
            .retry(self.retry.backoff())
            .sleep(tokio::time::sleep)
            .when(|failure| matches!(failure, WriteFailure::Refused(_)))
            .notify(|failure, after| {
                warn!(
                    write = what,
                    ?failure,
                    retry_in_ms = after.as_millis() as u64,
                    "write refused; retrying"
                )
            })
            .await
            .map_err(WriteFailure::into_store_error)
    }

    async fn put_alone(&self, change: &Change) -> Result<(), StoreError> {
        let (expression, values) = condition(&change.expect);
        let values = (!values.is_empty()).then_some(values);
        let item = to_item(&change.job);
        self.retrying("PutItem", || async {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(expression.clone())
                .set_expression_attribute_values(values.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(classify_single::<PutItemError>)
        })
        .await
    }

    async fn delete_alone(&self, change: &Change) -> Result<(), StoreError> {
        let (expression, values) = condition(&change.expect);
        let values = (!values.is_empty()).then_some(values);
        self.retrying("DeleteItem", || async {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", job_key(change.job.job_id))
                .condition_expression(expression.clone())
                .set_expression_attribute_values(values.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(classify_single::<DeleteItemError>)
        })
        .await
    }

    async fn transact(&self, change: &Change) -> Result<(), StoreError> {
        let items = vec![
            self.job_write(change)?,
            self.counter_update(change, Bucket::Total)?,
            self.counter_update(change, Bucket::Day(change.at.date_naive()))?,
        ];
        self.transact_items(items).await
    }

    /// The pointer write of a [`PointerMove`]: conditional on the run it was read naming.
    fn pointer_write(&self, pointer: &PointerMove) -> Result<TransactWriteItem, StoreError> {
        let to = &pointer.to;
        let item = HashMap::from([
            ("pk".to_owned(), s(pointer_key(&pointer.schedule, &pointer.generation))),
            ("runId".to_owned(), s(to.run_id.to_string())),
            ("scheduledTime".to_owned(), s(rfc3339(to.scheduled_time))),
        ]);
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match pointer.from {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(from) => put
                .condition_expression("runId = :fromRun")
                .expression_attribute_values(":fromRun", s(from.to_string())),
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_err)?)
            .build())
    }

    async fn batch_get(&self, keys: Vec<String>) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut pending: Vec<HashMap<String, AttributeValue>> = keys
            .into_iter()
            .map(|k| HashMap::from([("pk".to_owned(), s(k))]))
            .collect();
        let mut items = Vec::new();
        for round in 0..5 {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(build_err)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(map_err)?;
            if let Some(found) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                items.extend(found);
            }
            if let Some(left) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                pending = left.keys;
            }
        }
        if pending.is_empty() {
            Ok(items)
        } else {
            Err(StoreError::Unavailable(
                "batch reads were throttled; try again".to_owned(),
            ))
        }
    }
}

/// Rows read per shard query: enough for one page.
const MAX_QUERIES_PER_SHARD: u32 = 4;

impl DynamoDbStore {
    /// One shard's rows for a page: newest first below the cursor, until it found `limit`
    /// matches, ran out, or made [`MAX_QUERIES_PER_SHARD`] queries (a filter that matches
    /// rarely then gives a shorter page with a cursor, never an unbounded read).
    async fn read_shard(&self, query: &ListQuery, shard: u32) -> Result<ShardRead, StoreError> {
        // One caller's jobs come from the submitter index (a status is then a filter).
        let (index, partition_attr, partition) = match (&query.submitted_by, query.status) {
            (Some(principal), _) => (
                SUBMITTER_INDEX,
                SUBMITTER_PARTITION_ATTR,
                listing::submitter_partition(principal, shard),
            ),
            (None, Some(status)) => (
                STATUS_INDEX,
                STATUS_PARTITION_ATTR,
                listing::status_partition(status, shard),
            ),
            (None, None) => (TIME_INDEX, TIME_PARTITION_ATTR, listing::time_partition(shard)),
        };
        let mut key_condition = "#p = :p".to_owned();
        let mut values = HashMap::from([(":p".to_owned(), s(partition))]);
        let mut names = HashMap::from([("#p".to_owned(), partition_attr.to_owned())]);
        if let Some(before) = &query.before {
            key_condition.push_str(" AND #sk < :before");
            names.insert("#sk".to_owned(), SORT_KEY_ATTR.to_owned());
            values.insert(":before".to_owned(), s(before));
        }
        let mut filters = Vec::new();
        if let (Some(_), Some(status)) = (&query.submitted_by, query.status) {
            filters.push("#status = :status");
            names.insert("#status".to_owned(), "status".to_owned());
            values.insert(":status".to_owned(), s(status.as_str()));
        }
        if let Some(task) = &query.task {
            filters.push("#task = :task");
            names.insert("#task".to_owned(), "task".to_owned());
            values.insert(":task".to_owned(), s(task));
        }
        if let Some(source) = query.source {
            filters.push("sourceType = :source");
            values.insert(":source".to_owned(), s(source.as_str()));
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));
        let mut read = ShardRead::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        for _ in 0..MAX_QUERIES_PER_SHARD {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&key_condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(query.limit as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(map_err)?;
            for item in out.items() {
                read.rows.push(summary_from_item(item)?);
            }
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || read.rows.len() >= query.limit as usize {
                break;
            }
        }
        read.more_below = match &start {
            Some(key) => Some(Reader(key).str(SORT_KEY_ATTR)?),
            None => None,
        };
        Ok(read)
    }
}

fn counts_of(item: &HashMap<String, AttributeValue>) -> Counts {
    let r = Reader(item);
    Counts::from_named(|name| r.opt_num::<i64>(name).ok().flatten().unwrap_or(0))
}

#[async_trait]
impl JobStore for DynamoDbStore {
    async fn get(&self, job_id: Uuid) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", job_key(job_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_err)?;
        out.item.as_ref().map(job_from_item).transpose()
    }

    async fn apply(&self, change: &Change) -> Result<(), StoreError> {
        match (self.counting, change.write) {
            (Counting::Stream, Write::Put) => self.put_alone(change).await,
            (Counting::Stream, Write::Delete) => self.delete_alone(change).await,
            (Counting::Inline, Write::Put) if change.counters.is_zero() => self.put_alone(change).await,
            (Counting::Inline, _) => self.transact(change).await,
        }
    }

    async fn run_pointer(&self, schedule: &str, generation: &str) -> Result<Option<RunPointer>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pointer_key(schedule, generation)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_err)?;
        let Some(item) = out.item else { return Ok(None) };
        let r = Reader(&item);
        Ok(Some(RunPointer {
            run_id: r.opt_id("runId")?.ok_or_else(|| corrupt("runId"))?,
            scheduled_time: r.time("scheduledTime")?,
        }))
    }

    async fn apply_moving_pointer(&self, change: &Change, pointer: &PointerMove) -> Result<(), StoreError> {
        let mut items = vec![self.job_write(change)?, self.pointer_write(pointer)?];
        // Counting from the stream, the aggregator books the job's counters.
        if self.counting == Counting::Inline && !change.counters.is_zero() {
            items.push(self.counter_update(change, Bucket::Total)?);
            items.push(self.counter_update(change, Bucket::Day(change.at.date_naive()))?);
        }
        self.transact_items(items).await
    }

    async fn seed_run_pointer(&self, schedule: &str, generation: &str, to: &RunPointer) -> Result<bool, StoreError> {
        // RFC 3339 UTC times to the second compare as text in time order.
        let time = s(rfc3339(to.scheduled_time));
        let put = self
            .retrying("PutItem", || async {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(pointer_key(schedule, generation)))
                    .item("runId", s(to.run_id.to_string()))
                    .item("scheduledTime", time.clone())
                    .condition_expression("attribute_not_exists(pk) OR scheduledTime < :time")
                    .expression_attribute_values(":time", time.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(classify_single::<PutItemError>)
            })
            .await;
        match put {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn take_change_lease(&self, lease: &ChangeLease, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.retrying("PutItem", || async {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(lease_key(&lease.schedule)))
                .item("holder", s(lease.holder.to_string()))
                .item("heldUntil", n(lease.until.timestamp_millis()))
                // Swept by the table's TTL should a holder never give it back.
                .item("expiresAt", n(lease.until.timestamp() + 3_600))
                .condition_expression("attribute_not_exists(pk) OR holder = :holder OR heldUntil <= :now")
                .expression_attribute_values(":holder", s(lease.holder.to_string()))
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .send()
                .await
                .map(|_| ())
                .map_err(classify_single::<PutItemError>)
        })
        .await
    }

    async fn give_back_change_lease(&self, lease: &ChangeLease) -> Result<(), StoreError> {
        let given = self
            .retrying("DeleteItem", || async {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(lease_key(&lease.schedule)))
                    .condition_expression("holder = :holder")
                    .expression_attribute_values(":holder", s(lease.holder.to_string()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(classify_single::<DeleteItemError>)
            })
            .await;
        match given {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Read, appended to, trimmed to the last [`crate::schedules::MAX_KEPT_CHANGES`] and
    /// put back on the condition that no other change was appended meanwhile (`appended`
    /// counts every append; a change runs under the schedule's change lease, so a conflict
    /// is a lease that ran out, and the append is read again).
    async fn append_schedule_change(
        &self,
        schedule: &str,
        generation: &str,
        change: &ScheduleChange,
    ) -> Result<(), StoreError> {
        let key = format!("{}#CHANGES", pointer_key(schedule, generation));
        for _ in 0..3 {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(&key))
                .consistent_read(true)
                .send()
                .await
                .map_err(map_err)?;
            let appended: Option<u64> = out
                .item
                .as_ref()
                .and_then(|item| item.get("appended"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok());
            let kept = match &out.item {
                Some(item) => changes_from_item(item)?,
                None => Vec::new(),
            };
            let changes = crate::schedules::keep_last(kept, change.clone());
            let entries = changes
                .iter()
                .map(|c| serde_json::to_string(c).map(s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(&key))
                .item("changes", AttributeValue::L(entries))
                .item("appended", n(appended.unwrap_or(0) + 1));
            let put = match appended {
                None => put.condition_expression("attribute_not_exists(pk) OR attribute_not_exists(appended)"),
                Some(seen) => put
                    .condition_expression("appended = :seen")
                    .expression_attribute_values(":seen", n(seen)),
            };
            match self
                .retrying("PutItem", || async {
                    put.clone()
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(classify_single::<PutItemError>)
                })
                .await
            {
                Err(StoreError::Conflict) => continue,
                done => return done,
            }
        }
        Err(StoreError::Unavailable(format!(
            "the change log of schedule {schedule:?} kept changing; try again"
        )))
    }

    async fn schedule_changes(&self, schedule: &str, generation: &str) -> Result<Vec<ScheduleChange>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{}#CHANGES", pointer_key(schedule, generation))))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_err)?;
        match out.item {
            Some(item) => changes_from_item(&item),
            None => Ok(Vec::new()),
        }
    }

    async fn schedule_copies(&self, names: &[String]) -> Result<Vec<ScheduleCopy>, StoreError> {
        let mut copies = Vec::with_capacity(names.len());
        for chunk in names.chunks(BATCH_GET_MAX_KEYS) {
            for item in self
                .batch_get(chunk.iter().map(|name| copy_key(name)).collect())
                .await?
            {
                copies.push(copy_from_item(&item)?);
            }
        }
        Ok(copies)
    }

    async fn put_schedule_copy(&self, copy: &ScheduleCopy, guard: CopyGuard) -> Result<(), StoreError> {
        let item = copy_to_item(copy)?;
        self.retrying("PutItem", || async {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()));
            let put = match guard {
                CopyGuard::Any => put,
                CopyGuard::Over(None) => put.condition_expression("attribute_not_exists(pk)"),
                CopyGuard::Over(Some(seen)) => put
                    .condition_expression("writtenAt = :seen")
                    .expression_attribute_values(":seen", n(seen.timestamp_millis())),
            };
            put.send().await.map(|_| ()).map_err(classify_single::<PutItemError>)
        })
        .await
    }

    async fn delete_schedule_copy(&self, name: &str) -> Result<(), StoreError> {
        self.retrying("DeleteItem", || async {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(copy_key(name)))
                .send()
                .await
                .map(|_| ())
                .map_err(classify_single::<DeleteItemError>)
        })
        .await
    }

    async fn get_many(&self, job_ids: &[Uuid]) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::with_capacity(job_ids.len());
        for chunk in job_ids.chunks(BATCH_GET_MAX_KEYS) {
            let keys = chunk.iter().map(|id| format!("JOB#{id}")).collect();
            for item in self.batch_get(keys).await? {
                jobs.push(job_from_item(&item)?);
            }
        }
        Ok(jobs)
    }

    async fn claim_first(&self, claim: &FirstClaim) -> Result<FirstClaimed, StoreError> {
        let now = claim.now;
        let shard = listing::shard_of(claim.job_id);
        let values = HashMap::from([
            (":queued".to_owned(), s(JobStatus::Queued.as_str())),
            (":running".to_owned(), s(JobStatus::Running.as_str())),
            (":zero".to_owned(), n(0)),
            (":one".to_owned(), n(1)),
            (":nowMs".to_owned(), n(now.timestamp_millis())),
            (":now".to_owned(), s(now.to_rfc3339())),
            (":owner".to_owned(), s(&claim.owner)),
            (":until".to_owned(), n(claim.lease_until.timestamp_millis())),
            (
                ":statusPk".to_owned(),
                s(listing::status_partition(JobStatus::Running, shard)),
            ),
        ]);
        let names = HashMap::from([
            ("#status".to_owned(), "status".to_owned()),
            ("#attempts".to_owned(), "attempts".to_owned()),
            ("#version".to_owned(), "version".to_owned()),
            ("#statusPk".to_owned(), STATUS_PARTITION_ATTR.to_owned()),
            ("#openUpdated".to_owned(), OPEN_UPDATED_ATTRIBUTE.to_owned()),
        ]);
        // What `to_item` writes for the claimed job, attribute by attribute.
        let update = "SET #status = :running, #attempts = :one, #version = #version + :one, updatedAt = :now, \
                      startedAt = if_not_exists(startedAt, :now), leaseOwner = :owner, leaseExpiresAt = :until, \
                      #statusPk = :statusPk, #openUpdated = :nowMs REMOVE nextAttemptAt";
        let condition = "#status = :queued AND #attempts = :zero AND attribute_not_exists(cancelRequestedAt) \
                         AND (attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt < :nowMs)";
        self.retrying("UpdateItem", || async {
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", job_key(claim.job_id))
                .update_expression(update)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match sent {
                Ok(out) => match out.attributes.as_ref() {
                    Some(item) => job_from_item(item)
                        .map(FirstClaimed::Claimed)
                        .map_err(WriteFailure::Failed),
                    None => Err(WriteFailure::Failed(StoreError::Other(
                        "UpdateItem answered no attributes for ALL_NEW".to_owned(),
                    ))),
                },
                Err(SdkError::ServiceError(service))
                    if matches!(service.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
                {
                    let UpdateItemError::ConditionalCheckFailedException(failed) = service.err() else {
                        unreachable!("matched above")
                    };
                    // No item: the condition's attributes were missing because the job is.
                    failed
                        .item()
                        .filter(|item| !item.is_empty())
                        .map(job_from_item)
                        .transpose()
                        .map(FirstClaimed::Found)
                        .map_err(WriteFailure::Failed)
                }
                Err(err) => Err(classify_single(err)),
            }
        })
        .await
    }

    async fn extend_lease(&self, job_id: Uuid, owner: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.retrying("UpdateItem", || async {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", job_key(job_id))
                .update_expression("SET leaseExpiresAt = :until")
                .condition_expression("leaseOwner = :owner AND attribute_not_exists(cancelRequestedAt)")
                .expression_attribute_values(":until", n(until.timestamp_millis()))
                .expression_attribute_values(":owner", s(owner))
                .send()
                .await
                .map(|_| ())
                .map_err(classify_single)
        })
        .await
    }

    async fn open_jobs_updated_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let mut ids = Vec::new();
        for shard in 0..OPEN_JOBS_SHARDS {
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            loop {
                if ids.len() >= limit {
                    return Ok(ids);
                }
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(OPEN_JOBS_INDEX)
                    .key_condition_expression("#shard = :shard AND #updated < :cutoff")
                    .expression_attribute_names("#shard", OPEN_SHARD_ATTRIBUTE)
                    .expression_attribute_names("#updated", OPEN_UPDATED_ATTRIBUTE)
                    .expression_attribute_values(":shard", s(shard.to_string()))
                    .expression_attribute_values(":cutoff", n(cutoff.timestamp_millis()))
                    .limit(i32::try_from(limit - ids.len()).unwrap_or(i32::MAX).min(1000))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(map_err)?;
                for item in out.items() {
                    let id = Reader(item)
                        .opt_str("pk")
                        .and_then(|pk| pk.strip_prefix("JOB#").and_then(|id| id.parse::<Uuid>().ok()));
                    ids.extend(id);
                }
                match out.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        Ok(ids)
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<Stats, StoreError> {
        let days = shown_days(now);
        let mut buckets: HashMap<String, Bucket> = HashMap::new();
        for shard in 0..self.shards {
            buckets.insert(counter_key(Bucket::Total, shard), Bucket::Total);
            for day in &days {
                buckets.insert(counter_key(Bucket::Day(*day), shard), Bucket::Day(*day));
            }
        }
        let items = self.batch_get(buckets.keys().cloned().collect()).await?;
        let mut total = Counts::default();
        let mut per_day: HashMap<NaiveDate, Counts> = HashMap::new();
        for item in &items {
            let Some(bucket) = Reader(item).opt_str("pk").and_then(|k| buckets.get(&k).copied()) else {
                continue;
            };
            match bucket {
                Bucket::Total => total.add(&counts_of(item)),
                Bucket::Day(day) => per_day.entry(day).or_default().add(&counts_of(item)),
            }
        }
        let daily = days
            .into_iter()
            .map(|date| DayStats {
                date,
                counts: per_day.get(&date).copied().unwrap_or_default(),
            })
            .collect();
        Ok(Stats::new(total, daily, now))
    }

    async fn list(&self, query: &ListQuery) -> Result<JobPage, StoreError> {
        // The shards are read at once: a page takes one query's latency, not eight.
        let reads =
            futures::future::try_join_all((0..listing::SHARDS).map(|shard| self.read_shard(query, shard))).await?;
        Ok(listing::merge(reads, query.limit as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::infallible_client_fn;

    /// Error bodies as DynamoDB sends them (JSON 1.0 protocol, status 400).
    const CANCELLED_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]"}"#;
    const CANCELLED_THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"},{"Code":"ThrottlingError","Message":"Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly."},{"Code":"None"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, ThrottlingError, None]"}"#;
    const CANCELLED_PROVISIONED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"},{"Code":"None"},{"Code":"ProvisionedThroughputExceeded","Message":"The level of configured provisioned throughput for the table was exceeded."}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ProvisionedThroughputExceeded]"}"#;
    const CANCELLED_CONDITION_AND_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"ConditionalCheckFailed","Message":"The conditional request failed"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, TransactionConflict, None]"}"#;
    const CANCELLED_VALIDATION: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"ValidationError","Message":"Item size has exceeded the maximum allowed size"},{"Code":"None"},{"Code":"None"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [ValidationError, None, None]"}"#;
    const PUT_TRANSACTION_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}"#;
    const PUT_PROVISIONED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}"#;
    const THROTTLING: &str = r#"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"}"#;
    const CONDITION_FAILED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#;
    const OK: &str = "{}";

    /// A store whose DynamoDB answers `answers` in turn (the last one from then on), with
    /// the SDK's own retries off so that each answer is one call; and the operations called.
    fn store_answering(answers: Vec<(u16, &'static str)>) -> (DynamoDbStore, Arc<Mutex<Vec<String>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let next = AtomicUsize::new(0);
        let http = infallible_client_fn(move |request| {
            let target = request
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .trim_start_matches("DynamoDB_20120810.")
                .to_owned();
            seen.lock().unwrap().push(target);
            let (status, body) = answers[next.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1)];
            http::Response::builder()
                .status(status)
                .header("content-type", "application/x-amz-json-1.0")
                .body(body)
                .unwrap()
        });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(http)
            .build();
        let store = DynamoDbStore::new(Client::from_conf(config), "jobs", 4).with_write_retry(WriteRetry {
            retries: 4,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        });
        (store, calls)
    }

    fn registration() -> Change {
        Job::new(
            Uuid::now_v7(),
            "sleep",
            json!({"ms": 1}),
            3,
            JobSource::Api,
            None,
            Utc::now(),
        )
        .register()
    }

    /// A change without counters: one `PutItem`.
    fn claim_change() -> Change {
        match registration().job.claim("w1", Utc::now(), Duration::from_secs(30)) {
            crate::job::Claim::Start(change) => change,
            other => panic!("expected a start, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn counters_are_booked_on_the_utc_day_of_the_change() {
        let (store, bodies) = store_recording_bodies();
        let before = DateTime::parse_from_rfc3339("2026-03-01T23:59:59.900Z")
            .unwrap()
            .to_utc();
        let after = DateTime::parse_from_rfc3339("2026-03-02T00:00:00.100Z")
            .unwrap()
            .to_utc();
        let job = Job::new(
            Uuid::now_v7(),
            "sleep",
            json!({"ms": 1}),
            3,
            JobSource::Api,
            None,
            before,
        );
        let registered = job.register();
        store.apply(&registered).await.unwrap();
        let mut held = registered.job.clone();
        held.lease = Some(Lease {
            owner: "w1".into(),
            expires_at: after,
        });
        store.apply(&held.succeed("w1", json!({}), after)).await.unwrap();
        let bodies = bodies.lock().unwrap();
        assert!(bodies[0].contains("STATS#DAY#2026-03-01#0"), "{}", bodies[0]);
        assert!(bodies[1].contains("STATS#DAY#2026-03-02#0"), "{}", bodies[1]);
        assert!(bodies.iter().all(|b| b.contains("STATS#TOTAL#0")));
    }

    /// A store whose DynamoDB answers every request with success; and the request bodies.
    fn store_recording_bodies() -> (DynamoDbStore, Arc<Mutex<Vec<String>>>) {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        let http = infallible_client_fn(move |request| {
            let body = request.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned());
            seen.lock().unwrap().push(body.unwrap_or_default());
            http::Response::builder()
                .status(200)
                .header("content-type", "application/x-amz-json-1.0")
                .body(OK)
                .unwrap()
        });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(http)
            .build();
        (DynamoDbStore::new(Client::from_conf(config), "jobs", 1), bodies)
    }

    #[tokio::test]
    async fn a_scheduled_run_moving_its_pointer_books_counters_only_when_counting_inline() {
        let registered = registration();
        let pointer = PointerMove {
            schedule: "nightly".into(),
            generation: "g1".into(),
            from: None,
            to: RunPointer {
                run_id: registered.job.job_id,
                scheduled_time: registered.at,
            },
        };
        for (counting, books) in [(Counting::Inline, true), (Counting::Stream, false)] {
            let (store, bodies) = store_recording_bodies();
            let store = store.with_counting(counting);
            store.apply_moving_pointer(&registered, &pointer).await.unwrap();
            let bodies = bodies.lock().unwrap();
            assert_eq!(bodies.len(), 1, "one transaction");
            assert!(bodies[0].contains("SCHEDULE#nightly#g1"), "{}", bodies[0]);
            assert_eq!(bodies[0].contains("STATS#"), books, "{counting:?}: {}", bodies[0]);
        }
    }

    #[tokio::test]
    async fn counting_from_the_stream_a_change_is_one_write_of_the_job_item_alone() {
        let (store, calls) = store_answering(vec![(200, OK)]);
        let store = store.with_counting(Counting::Stream);
        let registered = registration();
        store.apply(&registered).await.unwrap();
        store.apply(&claim_change()).await.unwrap();
        store.apply(&registered.job.withdraw(Utc::now())).await.unwrap();
        assert_eq!(*calls.lock().unwrap(), vec!["PutItem", "PutItem", "DeleteItem"]);
        // A failed condition is still a conflict, and contention is still retried.
        let (store, calls) = store_answering(vec![(400, PUT_TRANSACTION_CONFLICT), (400, CONDITION_FAILED)]);
        let store = store.with_counting(Counting::Stream);
        assert!(matches!(
            store.apply(&registered.job.withdraw(Utc::now())).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(*calls.lock().unwrap(), vec!["DeleteItem"; 2]);
    }

    #[tokio::test]
    async fn cancelled_transactions_from_contention_or_throttling_are_retried_until_applied() {
        for refusal in [CANCELLED_CONFLICT, CANCELLED_THROTTLED, CANCELLED_PROVISIONED] {
            let (store, calls) = store_answering(vec![(400, refusal), (400, refusal), (200, OK)]);
            store.apply(&registration()).await.unwrap();
            assert_eq!(*calls.lock().unwrap(), vec!["TransactWriteItems"; 3], "{refusal}");
        }
    }

    #[tokio::test]
    async fn a_failed_condition_is_a_conflict_and_not_retried_even_beside_contention() {
        for answer in [CANCELLED_CONDITION_AND_CONFLICT] {
            let (store, calls) = store_answering(vec![(400, answer), (200, OK)]);
            assert!(matches!(store.apply(&registration()).await, Err(StoreError::Conflict)));
            assert_eq!(calls.lock().unwrap().len(), 1);
        }
        let (store, calls) = store_answering(vec![(400, CONDITION_FAILED), (200, OK)]);
        assert!(matches!(store.apply(&claim_change()).await, Err(StoreError::Conflict)));
        assert_eq!(*calls.lock().unwrap(), vec!["PutItem"]);
    }

    #[tokio::test]
    async fn contention_that_outlasts_the_retries_is_unavailable() {
        let (store, calls) = store_answering(vec![(400, CANCELLED_CONFLICT)]);
        let err = store.apply(&registration()).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("TransactionConflict")),
            "{err:?}"
        );
        assert_eq!(calls.lock().unwrap().len(), 5, "the first try and 4 retries");
    }

    #[tokio::test]
    async fn a_cancellation_for_another_reason_is_an_error_at_once() {
        let (store, calls) = store_answering(vec![(400, CANCELLED_VALIDATION), (200, OK)]);
        assert!(matches!(store.apply(&registration()).await, Err(StoreError::Other(_))));
        assert_eq!(calls.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn single_writes_are_retried_on_transaction_conflicts_and_throttling() {
        for refusal in [PUT_TRANSACTION_CONFLICT, PUT_PROVISIONED, THROTTLING] {
            let (store, calls) = store_answering(vec![(400, refusal), (200, OK)]);
            store.apply(&claim_change()).await.unwrap();
            assert_eq!(*calls.lock().unwrap(), vec!["PutItem"; 2], "{refusal}");
            let (store, calls) = store_answering(vec![(400, refusal), (200, OK)]);
            store.extend_lease(Uuid::now_v7(), "w1", Utc::now()).await.unwrap();
            assert_eq!(*calls.lock().unwrap(), vec!["UpdateItem"; 2], "{refusal}");
        }
    }

    #[test]
    fn item_round_trip_keeps_every_field() {
        let now = Utc::now();
        let mut job = Job::new(
            Uuid::now_v7(),
            "flaky",
            json!({"failAttempts": 1, "nested": [1, "two"]}),
            3,
            JobSource::Schedule {
                name: "n".into(),
                execution_id: "e".into(),
                scheduled_time: "t".into(),
            },
            Some("key".into()),
            now,
        );
        job.version = 4;
        job.attempts = 2;
        job.status = JobStatus::Retrying;
        job.last_error = Some("boom".into());
        job.result = Some(json!({"r": 1}));
        job.lease = Some(Lease {
            owner: "w".into(),
            expires_at: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap(),
        });
        job.created_at = DateTime::parse_from_rfc3339(&now.to_rfc3339())
            .unwrap()
            .with_timezone(&Utc);
        job.updated_at = job.created_at;
        assert_eq!(job_from_item(&to_item(&job)).unwrap(), job);
    }

    #[test]
    fn corrupt_item_is_an_error_not_a_panic() {
        let mut item = to_item(&Job::new(
            Uuid::now_v7(),
            "t",
            json!(null),
            3,
            JobSource::Api,
            None,
            Utc::now(),
        ));
        item.insert("attempts".into(), s("many"));
        assert!(matches!(job_from_item(&item), Err(StoreError::Other(m)) if m.contains("attempts")));
    }

    #[test]
    fn only_open_jobs_carry_the_open_index_keys() {
        let mut job = Job::new(Uuid::now_v7(), "t", json!(null), 3, JobSource::Api, None, Utc::now());
        for status in [JobStatus::Queued, JobStatus::Running, JobStatus::Retrying] {
            job.status = status;
            let item = to_item(&job);
            assert!(item.contains_key(OPEN_SHARD_ATTRIBUTE) && item.contains_key(OPEN_UPDATED_ATTRIBUTE));
        }
        for status in [JobStatus::Succeeded, JobStatus::Failed] {
            job.status = status;
            let item = to_item(&job);
            assert!(!item.contains_key(OPEN_SHARD_ATTRIBUTE) && !item.contains_key(OPEN_UPDATED_ATTRIBUTE));
        }
    }
}
