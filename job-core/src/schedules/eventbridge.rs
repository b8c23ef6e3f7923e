//! EventBridge Scheduler schedule store.
//!
//! Each schedule lives in the project's schedule group. Its target is the job queue
//! (SQS `SendMessage`), its input a job message with Scheduler's placeholders, and its
//! description a small JSON object that keeps the cron as the user gave it, so a listing
//! shows what was asked for next to the converted expression.
//!
//! Delivery settings:
//! - no flexible time window: a run is due at its scheduled time;
//! - retry policy: at most 10 retries within an hour ([`MAX_EVENT_AGE`]). Scheduler's
//!   default (185 retries over 24 hours) would queue a run a day late; a job an hour or
//!   more behind its time is better dropped (into the dead-letter queue, when one is
//!   configured) than run out of turn, and an hour rides out throttling and short outages;
//! - dead-letter queue `JOBS_SCHEDULE_DLQ_ARN`, when set, for deliveries that still fail.

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleState, Target,
};
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tracing::warn;
use uuid::Uuid;

use super::{EntryPage, MAX_EVENT_AGE, Schedule, ScheduleEntry, ScheduleError, ScheduleStore};
use crate::aws::{describe, is_transient};
use crate::message::JobMessage;

/// Delivery attempts after the first, within [`MAX_EVENT_AGE`].
const MAX_RETRY_ATTEMPTS: i32 = 10;
/// `GetSchedule` calls in flight at once while listing.
const LIST_CONCURRENCY: usize = 8;

/// The job queue's ARN: given, or looked up once from its URL (SQS `GetQueueAttributes`).
pub struct QueueArn {
    arn: OnceCell<String>,
    lookup: Option<(aws_sdk_sqs::Client, String)>,
}

impl QueueArn {
    /// A known ARN (`JOBS_QUEUE_ARN`).
    pub fn known(arn: impl Into<String>) -> Self {
        Self {
            arn: OnceCell::new_with(Some(arn.into())),
            lookup: None,
        }
    }

    /// The ARN of the queue at `queue_url`, asked for on first use.
    pub fn of_queue(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            arn: OnceCell::new(),
            lookup: Some((sqs, queue_url.into())),
        }
    }

    async fn get(&self) -> Result<&str, ScheduleError> {
        let arn = self
            .arn
            .get_or_try_init(|| async {
                let Some((sqs, url)) = &self.lookup else {
                    return Err(ScheduleError::Other("no queue ARN configured".into()));
                };
                let out = sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .map_err(|e| {
                        let detail = format!("cannot read the ARN of queue {url}: {}", describe(&e));
                        if is_transient(&e) {
                            ScheduleError::Unavailable(detail)
                        } else {
                            ScheduleError::Other(detail)
                        }
                    })?;
                out.attributes
                    .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
                    .ok_or_else(|| ScheduleError::Other(format!("queue {url} reported no QueueArn")))
            })
            .await?;
        Ok(arn)
    }
}

/// Where and as whom schedules deliver: needed to create schedules, not to read them.
pub struct SchedulerTarget {
    pub queue: QueueArn,
    /// The role Scheduler assumes to send to the queue (`JOBS_SCHEDULER_ROLE_ARN`).
    pub role_arn: String,
    /// Dead-letter queue for deliveries that fail (`JOBS_SCHEDULE_DLQ_ARN`).
    pub dead_letter_arn: Option<String>,
}

/// The EventBridge Scheduler adapter of [`ScheduleStore`].
pub struct EventBridgeScheduleStore {
    client: Client,
    group: String,
    target: Option<SchedulerTarget>,
}

/// What the schedule's description holds.
#[derive(Serialize, Deserialize)]
struct Description {
    cron: String,
}

impl EventBridgeScheduleStore {
    /// Schedules of `group`, readable and deletable; [`Self::with_target`] makes them creatable.
    pub fn new(client: Client, group: impl Into<String>) -> Self {
        Self {
            client,
            group: group.into(),
            target: None,
        }
    }

    /// Where created schedules deliver.
    pub fn with_target(mut self, target: SchedulerTarget) -> Self {
        self.target = Some(target);
        self
    }

    fn group_missing(&self) -> ScheduleError {
        ScheduleError::Other(format!(
            "schedule group {:?} does not exist (set JOBS_SCHEDULE_GROUP, or create the group)",
            self.group
        ))
    }

    /// A schedule read back from Scheduler; `Err` names what makes it no job schedule.
    fn parse_schedule(&self, out: GetScheduleOutput) -> Result<Schedule, String> {
        let name = out.name.unwrap_or_default();
        let expression = out.schedule_expression.ok_or("it has no schedule expression")?;
        let input = out.target.and_then(|t| t.input).ok_or("its target has no input")?;
        let message: JobMessage =
            serde_json::from_str(&input).map_err(|e| format!("its target input is not a job message: {e}"))?;
        let Some(target) = message.schedule.as_ref().filter(|s| s.name == name) else {
            return Err("its target input names another schedule".into());
        };
        let generation = target.generation.clone().unwrap_or_default();
        let overlap = target.overlap.unwrap_or_default();
        let created_by = target.created_by.clone();
        let cron = out
            .description
            .and_then(|d| serde_json::from_str::<Description>(&d).ok())
            .map_or_else(|| expression.clone(), |d| d.cron);
        let created = out
            .creation_date
            .and_then(|d| DateTime::from_timestamp(d.secs(), d.subsec_nanos()))
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        Ok(Schedule {
            name,
            cron,
            expression,
            timezone: out.schedule_expression_timezone.unwrap_or_else(|| "UTC".to_owned()),
            task: message.task,
            input: message.input,
            created,
            generation,
            enabled: out.state.is_none_or(|s| s == ScheduleState::Enabled),
            overlap,
            created_by,
        })
    }

    async fn fetch(&self, name: &str) -> Result<Option<GetScheduleOutput>, ScheduleError> {
        match self
            .client
            .get_schedule()
            .group_name(&self.group)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(map_err(err)),
        }
    }

    async fn names(&self) -> Result<Vec<String>, ScheduleError> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_schedules()
                .group_name(&self.group)
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| match err.as_service_error() {
                    Some(e) if e.is_resource_not_found_exception() => self.group_missing(),
                    _ => map_err(err),
                })?;
            // Filtered again: some emulators match the group name loosely.
            names.extend(
                page.schedules
                    .into_iter()
                    .filter(|s| s.group_name.as_deref() == Some(self.group.as_str()))
                    .filter_map(|s| s.name),
            );
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(names),
            }
        }
    }
}

/// The schedule's description: what the API shows of it that Scheduler does not keep.
fn description(schedule: &Schedule) -> Result<String, ScheduleError> {
    serde_json::to_string(&Description {
        cron: schedule.cron.clone(),
    })
    .map_err(|e| ScheduleError::Other(e.to_string()))
}

fn state(enabled: bool) -> ScheduleState {
    if enabled {
        ScheduleState::Enabled
    } else {
        ScheduleState::Disabled
    }
}

/// Runs fire at their scheduled time, not within a window.
fn no_time_window() -> Result<FlexibleTimeWindow, ScheduleError> {
    FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|e| ScheduleError::Other(e.to_string()))
}

fn map_err<E>(err: SdkError<E, aws_sdk_scheduler::config::http::HttpResponse>) -> ScheduleError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_transient(&err) {
        ScheduleError::Unavailable(describe(&err))
    } else if err.as_service_error().and_then(|e| e.code()) == Some("ValidationException") {
        ScheduleError::Rejected(describe(&err))
    } else {
        ScheduleError::Other(describe(&err))
    }
}

#[async_trait]
impl ScheduleStore for EventBridgeScheduleStore {
    async fn create(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let target = self.target.as_ref().ok_or_else(|| {
            ScheduleError::Other("schedules cannot be created: JOBS_SCHEDULER_ROLE_ARN is not set".into())
        })?;
        let retry = RetryPolicy::builder()
            .maximum_event_age_in_seconds(MAX_EVENT_AGE.num_seconds() as i32)
            .maximum_retry_attempts(MAX_RETRY_ATTEMPTS)
            .build();
        let delivery = Target::builder()
            .arn(target.queue.get().await?)
            .role_arn(&target.role_arn)
            .input(schedule.target_input())
            .retry_policy(retry)
            .set_dead_letter_config(
                target
                    .dead_letter_arn
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(|e| ScheduleError::Other(e.to_string()))?;
        let window = no_time_window()?;
        let created = self
            .client
            .create_schedule()
            .group_name(&self.group)
            .name(&schedule.name)
            .description(description(schedule)?)
            .schedule_expression(&schedule.expression)
            .schedule_expression_timezone(&schedule.timezone)
            .state(state(schedule.enabled))
            .flexible_time_window(window)
            .target(delivery)
            // One token per request: the SDK's own retries of it create one schedule.
            .client_token(Uuid::new_v4().to_string())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err) => Err(match err.as_service_error() {
                Some(e) if e.is_conflict_exception() => ScheduleError::Exists(schedule.name.clone()),
                Some(e) if e.is_resource_not_found_exception() => self.group_missing(),
                _ => map_err(err),
            }),
        }
    }

    async fn page(&self, limit: u32, token: Option<&str>) -> Result<EntryPage, ScheduleError> {
        let page = self
            .client
            .list_schedules()
            .group_name(&self.group)
            .max_results(limit.clamp(1, super::MAX_PAGE) as i32)
            .set_next_token(token.map(str::to_owned))
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(e) if e.is_resource_not_found_exception() => self.group_missing(),
                Some(e)
                    if token.is_some()
                        && e.code()
                            .is_some_and(|c| c.contains("Validation") || c.contains("Token")) =>
                {
                    ScheduleError::BadToken(describe(&err))
                }
                _ => map_err(err),
            })?;
        let entries = page
            .schedules
            .into_iter()
            .filter(|s| s.group_name.as_deref() == Some(self.group.as_str()))
            .filter_map(|s| {
                let modified = s.last_modification_date.or(s.creation_date)?;
                Some(ScheduleEntry {
                    name: s.name?,
                    enabled: s.state.is_none_or(|state| state == ScheduleState::Enabled),
                    modified: DateTime::from_timestamp(modified.secs(), modified.subsec_nanos())?,
                })
            })
            .collect();
        Ok(EntryPage {
            entries,
            next: page.next_token.filter(|t| !t.is_empty()),
        })
    }

    async fn get(&self, name: &str) -> Result<Option<Schedule>, ScheduleError> {
        match self.fetch(name).await? {
            None => Ok(None),
            Some(out) => self.parse_schedule(out).map(Some).map_err(|reason| {
                ScheduleError::Other(format!(
                    "schedule {name:?} in group {:?} is not a job schedule: {reason}",
                    self.group
                ))
            }),
        }
    }

    async fn list(&self) -> Result<Vec<Schedule>, ScheduleError> {
        let names = self.names().await?;
        let mut schedules = Vec::with_capacity(names.len());
        for chunk in names.chunks(LIST_CONCURRENCY) {
            let mut reads = tokio::task::JoinSet::new();
            for name in chunk {
                let (client, group, name) = (self.client.clone(), self.group.clone(), name.clone());
                reads.spawn(async move {
                    let store = EventBridgeScheduleStore::new(client, group);
                    (store.fetch(&name).await, name)
                });
            }
            while let Some(joined) = reads.join_next().await {
                let (fetched, name) = joined.map_err(|e| ScheduleError::Other(e.to_string()))?;
                // A schedule deleted since the listing is simply gone.
                let Some(out) = fetched? else { continue };
                match self.parse_schedule(out) {
                    Ok(schedule) => schedules.push(schedule),
                    Err(reason) => {
                        warn!(schedule = %name, group = %self.group, %reason, "skipping a schedule that is not a job schedule")
                    }
                }
            }
        }
        schedules.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(schedules)
    }

    /// `UpdateSchedule` replaces the whole definition: the one held is read first and
    /// written back with the new expression, time zone, state, description and target
    /// input, keeping its target's queue, role, retry policy and dead-letter queue.
    /// (Scheduler has no conditional update: of two concurrent updates the last wins.)
    async fn update(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let held = self
            .fetch(&schedule.name)
            .await?
            .ok_or_else(|| ScheduleError::NotFound(schedule.name.clone()))?;
        let mut target = held
            .target
            .ok_or_else(|| ScheduleError::Other(format!("schedule {:?} has no target", schedule.name)))?;
        target.input = Some(schedule.target_input());
        let window = match held.flexible_time_window {
            Some(window) => window,
            None => no_time_window()?,
        };
        let updated = self
            .client
            .update_schedule()
            .group_name(&self.group)
            .name(&schedule.name)
            .description(description(schedule)?)
            .schedule_expression(&schedule.expression)
            .schedule_expression_timezone(&schedule.timezone)
            .state(state(schedule.enabled))
            .flexible_time_window(window)
            .target(target)
            .set_start_date(held.start_date)
            .set_end_date(held.end_date)
            .set_kms_key_arn(held.kms_key_arn)
            .set_action_after_completion(held.action_after_completion)
            .client_token(Uuid::new_v4().to_string())
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(err) => Err(match err.as_service_error() {
                Some(e) if e.is_resource_not_found_exception() => ScheduleError::NotFound(schedule.name.clone()),
                _ => map_err(err),
            }),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
        let deleted = self
            .client
            .delete_schedule()
            .group_name(&self.group)
            .name(name)
            .client_token(Uuid::new_v4().to_string())
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Err(ScheduleError::NotFound(name.to_owned()))
            }
            Err(err) => Err(map_err(err)),
        }
    }
}
