//! Creates the queue, dead-letter queue, table and schedule group if they are absent.
//!
//! Idempotent, and the same calls work against moto, LocalStack or a real account
//! (`AWS_ENDPOINT_URL` decides). On AWS the CDK app owns these resources; this is for
//! local runs and tests.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus, Tag, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;

use job_core::aws::describe;
use job_core::counting::mode::{COUNTING_TAG, table_counting};
use job_core::stats::Counting;
use job_core::store::{OPEN_JOBS_INDEX, OPEN_SHARD_ATTRIBUTE, OPEN_UPDATED_ATTRIBUTE};

/// What to create.
#[derive(Debug, Clone)]
pub struct Plan {
    pub queue_name: String,
    pub dlq_name: String,
    pub table_name: String,
    pub schedule_group: Option<String>,
    /// Default visibility timeout of the job queue.
    pub visibility_timeout: Duration,
    /// Receives after which a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    /// How the table's counters are booked, recorded as its tag `jobs:counting`
    /// ([`job_core::counting::mode`]); `stream` also gives the table a stream (new and old
    /// images) for the counter aggregator. A table's mode is fixed once recorded.
    pub counting: Counting,
}

impl Plan {
    /// Names derived from one prefix: `<p>-jobs`, `<p>-jobs-dlq`, `<p>-jobs`, group `<p>`.
    pub fn named(prefix: &str) -> Self {
        Self {
            queue_name: format!("{prefix}-jobs"),
            dlq_name: format!("{prefix}-jobs-dlq"),
            table_name: format!("{prefix}-jobs"),
            schedule_group: Some(prefix.to_owned()),
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: 10,
            counting: Counting::Inline,
        }
    }
}

/// What exists afterwards.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub table_name: String,
    pub schedule_group: Option<String>,
}

/// A provisioning step that failed, with the service's own words.
#[derive(Debug, thiserror::Error)]
#[error("could not {step}: {detail}")]
pub struct ProvisionError {
    step: String,
    detail: String,
}

fn fail(step: impl Into<String>) -> impl FnOnce(String) -> ProvisionError {
    move |detail| ProvisionError {
        step: step.into(),
        detail,
    }
}

/// Creates or updates everything in `plan`.
pub async fn provision(config: &SdkConfig, plan: &Plan) -> Result<Provisioned, ProvisionError> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let (dlq_url, dlq_arn) = ensure_queue(
        &sqs,
        &plan.dlq_name,
        HashMap::from([(QueueAttributeName::MessageRetentionPeriod, (14 * 24 * 3600).to_string())]),
    )
    .await?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": plan.max_receive_count});
    let (queue_url, queue_arn) = ensure_queue(
        &sqs,
        &plan.queue_name,
        HashMap::from([
            (
                QueueAttributeName::VisibilityTimeout,
                plan.visibility_timeout.as_secs().to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ]),
    )
    .await?;
    ensure_table(&aws_sdk_dynamodb::Client::new(config), &plan.table_name, plan.counting).await?;
    if let Some(group) = &plan.schedule_group {
        ensure_schedule_group(&aws_sdk_scheduler::Client::new(config), group).await?;
    }
    Ok(Provisioned {
        queue_url,
        queue_arn,
        dlq_url,
        dlq_arn,
        table_name: plan.table_name.clone(),
        schedule_group: plan.schedule_group.clone(),
    })
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<(String, String), ProvisionError> {
    let step = || format!("create queue {name}");
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| fail(step())(describe(&e)))?
        .queue_url
        .ok_or_else(|| fail(step())("no queue URL returned".into()))?;
    sqs.set_queue_attributes()
        .queue_url(&url)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| fail(format!("configure queue {name}"))(describe(&e)))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| fail(format!("read queue {name}"))(describe(&e)))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| fail(format!("read queue {name}"))("no QueueArn returned".into()))?;
    Ok((url, arn))
}

/// The listing indexes of `GET /jobs` (`job_core::listing`): by time, by status and by
/// submitter, each sorted by `listSk`, holding the attributes a row shows.
fn listing_indexes() -> Result<(Vec<AttributeDefinition>, Vec<GlobalSecondaryIndex>), String> {
    use job_core::listing::{
        PROJECTED, SORT_KEY_ATTR, STATUS_INDEX, STATUS_PARTITION_ATTR, SUBMITTER_INDEX, SUBMITTER_PARTITION_ATTR,
        TIME_INDEX, TIME_PARTITION_ATTR,
    };
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| e.to_string())
    };
    let index = |index: &str, partition: &str| -> Result<GlobalSecondaryIndex, String> {
        GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(partition, KeyType::Hash)?)
            .key_schema(key(SORT_KEY_ATTR, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::Include)
                    .set_non_key_attributes(Some(PROJECTED.iter().map(|a| (*a).to_owned()).collect()))
                    .build(),
            )
            .build()
            .map_err(|e| e.to_string())
    };
    Ok((
        vec![
            string(TIME_PARTITION_ATTR)?,
            string(STATUS_PARTITION_ATTR)?,
            string(SUBMITTER_PARTITION_ATTR)?,
            string(SORT_KEY_ATTR)?,
        ],
        vec![
            index(TIME_INDEX, TIME_PARTITION_ATTR)?,
            index(STATUS_INDEX, STATUS_PARTITION_ATTR)?,
            index(SUBMITTER_INDEX, SUBMITTER_PARTITION_ATTR)?,
        ],
    ))
}

/// Adds the listing indexes a table made before them lacks, one at a time (DynamoDB
/// builds one index per update).
async fn ensure_listing_indexes(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), ProvisionError> {
    let step = || format!("add the listing indexes to table {name}");
    let (attributes, indexes) = listing_indexes().map_err(fail(step()))?;
    for index in indexes {
        let table = ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| fail(step())(describe(&e)))?
            .table;
        let present = table
            .iter()
            .flat_map(|t| t.global_secondary_indexes())
            .any(|i| i.index_name() == Some(index.index_name()));
        if present {
            continue;
        }
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(index.index_name())
            .set_key_schema(Some(index.key_schema().to_vec()))
            .set_projection(index.projection().cloned())
            .build()
            .map_err(|e| fail(step())(e.to_string()))?;
        ddb.update_table()
            .table_name(name)
            .set_attribute_definitions(Some(attributes.clone()))
            .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
            .send()
            .await
            .map_err(|e| fail(step())(describe(&e)))?;
        wait_active(ddb, name).await?;
    }
    Ok(())
}

async fn wait_active(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), ProvisionError> {
    for _ in 0..120 {
        let table = ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| fail(format!("describe table {name}"))(describe(&e)))?
            .table;
        let active = table.as_ref().is_some_and(|t| {
            t.table_status == Some(TableStatus::Active)
                && t.global_secondary_indexes()
                    .iter()
                    .all(|i| i.index_status() == Some(&aws_sdk_dynamodb::types::IndexStatus::Active))
        });
        if active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(fail(format!("wait for table {name}"))(
        "it did not become ACTIVE".into(),
    ))
}

fn job_stream() -> Result<StreamSpecification, String> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(|e| e.to_string())
}

/// Turns the table's stream on if it is off.
async fn ensure_stream(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), ProvisionError> {
    let step = || format!("enable the stream of {name}");
    let table = ddb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(|e| fail(step())(describe(&e)))?;
    let enabled = table
        .table()
        .and_then(|t| t.stream_specification())
        .is_some_and(|s| s.stream_enabled());
    if !enabled {
        ddb.update_table()
            .table_name(name)
            .stream_specification(job_stream().map_err(fail(step()))?)
            .send()
            .await
            .map_err(|e| fail(step())(describe(&e)))?;
        wait_active(ddb, name).await?;
    }
    Ok(())
}

async fn ensure_table(ddb: &aws_sdk_dynamodb::Client, name: &str, counting: Counting) -> Result<(), ProvisionError> {
    let step = || format!("create table {name}");
    let stream = counting == Counting::Stream;
    let (listing_attributes, listing_indexes) = listing_indexes().map_err(fail(step()))?;
    let mut request = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| fail(step())(e.to_string()))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| fail(step())(e.to_string()))?,
        )
        // The sparse index of open jobs, which the reconciler queries.
        .attribute_definitions(open_jobs_attribute(name, OPEN_SHARD_ATTRIBUTE, ScalarAttributeType::S)?)
        .attribute_definitions(open_jobs_attribute(
            name,
            OPEN_UPDATED_ATTRIBUTE,
            ScalarAttributeType::N,
        )?)
        .global_secondary_indexes(open_jobs_index(name)?);
    // The listing indexes of GET /jobs.
    for attribute in listing_attributes {
        request = request.attribute_definitions(attribute);
    }
    for index in listing_indexes {
        request = request.global_secondary_indexes(index);
    }
    if stream {
        request = request.stream_specification(job_stream().map_err(fail(step()))?);
    }
    let tag = Tag::builder()
        .key(COUNTING_TAG)
        .value(counting.as_str())
        .build()
        .map_err(|e| fail(step())(e.to_string()))?;
    let created = request.tags(tag).send().await;
    if let Err(err) = created {
        let exists = err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception());
        if !exists {
            return Err(fail(step())(describe(&err)));
        }
    }
    wait_active(ddb, name).await?;
    ensure_counting_tag(ddb, name, counting).await?;
    if stream {
        ensure_stream(ddb, name).await?;
    }
    ensure_open_jobs_index(ddb, name).await?;
    ensure_listing_indexes(ddb, name).await?;
    let ttl = ddb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| fail(format!("describe TTL of {name}"))(describe(&e)))?;
    let enabled = ttl
        .time_to_live_description
        .and_then(|d| d.time_to_live_status)
        .is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
    if !enabled {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name("expiresAt")
            .enabled(true)
            .build()
            .map_err(|e| fail(format!("enable TTL on {name}"))(e.to_string()))?;
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| fail(format!("enable TTL on {name}"))(describe(&e)))?;
    }
    Ok(())
}

/// Records `counting` on a table that has no mode yet; refuses to change a recorded one
/// (the counters booked so far were booked that way).
async fn ensure_counting_tag(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    counting: Counting,
) -> Result<(), ProvisionError> {
    let step = || format!("record the counting mode of table {name}");
    match table_counting(ddb, name)
        .await
        .map_err(|e| fail(step())(e.to_string()))?
    {
        Some(recorded) if recorded == counting => Ok(()),
        Some(recorded) => Err(fail(step())(format!(
            "it already counts {} (tag {COUNTING_TAG}), not {}: a table's counting mode is fixed where it is \
             created; ask for {} (JOBS_COUNTERS or --counting), or use another prefix",
            recorded.as_str(),
            counting.as_str(),
            recorded.as_str()
        ))),
        None => {
            let arn = ddb
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| fail(step())(describe(&e)))?
                .table
                .and_then(|t| t.table_arn)
                .ok_or_else(|| fail(step())("DescribeTable returned no table ARN".to_owned()))?;
            let tag = Tag::builder()
                .key(COUNTING_TAG)
                .value(counting.as_str())
                .build()
                .map_err(|e| fail(step())(e.to_string()))?;
            ddb.tag_resource()
                .resource_arn(arn)
                .tags(tag)
                .send()
                .await
                .map_err(|e| fail(step())(describe(&e)))?;
            Ok(())
        }
    }
}

/// A key attribute of the open-jobs index.
fn open_jobs_attribute(
    table: &str,
    name: &str,
    kind: ScalarAttributeType,
) -> Result<AttributeDefinition, ProvisionError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(|e| fail(format!("define the open-jobs index of {table}"))(e.to_string()))
}

/// The sparse index of jobs that are not terminal (keys only: the reconciler reads each job).
fn open_jobs_index(table: &str) -> Result<GlobalSecondaryIndex, ProvisionError> {
    let step = || format!("define the open-jobs index of {table}");
    GlobalSecondaryIndex::builder()
        .index_name(OPEN_JOBS_INDEX)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(OPEN_SHARD_ATTRIBUTE)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| fail(step())(e.to_string()))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(OPEN_UPDATED_ATTRIBUTE)
                .key_type(KeyType::Range)
                .build()
                .map_err(|e| fail(step())(e.to_string()))?,
        )
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .map_err(|e| fail(step())(e.to_string()))
}

/// Adds the open-jobs index to a table created before it existed.
async fn ensure_open_jobs_index(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), ProvisionError> {
    let table = ddb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(|e| fail(format!("describe table {name}"))(describe(&e)))?
        .table;
    let present = table
        .iter()
        .flat_map(|t| t.global_secondary_indexes())
        .any(|i| i.index_name() == Some(OPEN_JOBS_INDEX));
    if present {
        return Ok(());
    }
    let index = open_jobs_index(name)?;
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(OPEN_JOBS_INDEX)
        .set_key_schema(Some(index.key_schema().to_vec()))
        .set_projection(index.projection().cloned())
        .build()
        .map_err(|e| fail(format!("add the open-jobs index to {name}"))(e.to_string()))?;
    ddb.update_table()
        .table_name(name)
        .attribute_definitions(open_jobs_attribute(name, OPEN_SHARD_ATTRIBUTE, ScalarAttributeType::S)?)
        .attribute_definitions(open_jobs_attribute(
            name,
            OPEN_UPDATED_ATTRIBUTE,
            ScalarAttributeType::N,
        )?)
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
        .send()
        .await
        .map_err(|e| fail(format!("add the open-jobs index to {name}"))(describe(&e)))?;
    Ok(())
}

async fn ensure_schedule_group(scheduler: &aws_sdk_scheduler::Client, name: &str) -> Result<(), ProvisionError> {
    let created = scheduler.create_schedule_group().name(name).send().await;
    match created {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_conflict_exception()) => Ok(()),
        Err(err) => Err(fail(format!("create schedule group {name}"))(describe(&err))),
    }
}

/// A scheduler role ARN for an emulator, which does not check it: role `<prefix>-scheduler`
/// in the queue's account and partition. On AWS the CDK app creates the real role.
pub fn emulator_scheduler_role_arn(queue_arn: &str, prefix: &str) -> Option<String> {
    let parts: Vec<&str> = queue_arn.split(':').collect();
    match parts[..] {
        ["arn", partition, "sqs", _region, account, _name] if !account.is_empty() => {
            Some(format!("arn:{partition}:iam::{account}:role/{prefix}-scheduler"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_role_is_in_the_queue_account() {
        let arn = emulator_scheduler_role_arn("arn:aws:sqs:us-east-1:123456789012:local-jobs", "local");
        assert_eq!(arn.as_deref(), Some("arn:aws:iam::123456789012:role/local-scheduler"));
        assert_eq!(emulator_scheduler_role_arn("not-an-arn", "local"), None);
    }
}
