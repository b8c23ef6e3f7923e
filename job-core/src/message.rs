//! The queue message schema, version 1.
//!
//! A message names the job to run. Messages sent by the API carry the `jobId` of a job
//! already registered; messages sent by EventBridge Scheduler carry a `schedule` block
//! instead, with the execution id and scheduled time Scheduler fills in, and the worker
//! registers the job on first sight.
//!
//! ```json
//! {"v":1,"jobId":"0193…","task":"process-data","input":{}}
//! {"v":1,"task":"sleep","input":{"ms":100},
//!  "schedule":{"name":"nightly","generation":"5f0c…","executionId":"<aws.scheduler.execution-id>","scheduledTime":"<aws.scheduler.scheduled-time>"}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::schedules::Overlap;

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A job message as it travels through the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobMessage {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    pub task: String,
    #[serde(default)]
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleRef>,
}

/// The schedule run a scheduled message comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRef {
    pub name: String,
    /// Which schedule of that name: a new id each time a schedule is created, so a schedule
    /// deleted and created again under the same name never shares a run with the old one.
    /// Absent in messages of schedules created before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// The schedule's overlap policy; absent: `allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
    /// Who created the schedule: its runs are submitted on their behalf (`submittedBy`).
    /// Absent in messages of schedules created before creators were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Scheduler's id of this invocation attempt: a Scheduler retry of the same run
    /// carries a new one, so it does not identify the run.
    pub execution_id: String,
    pub scheduled_time: String,
}

/// Why a message body is not a valid job message.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("message is not valid JSON for schema v{SCHEMA_VERSION}: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message schema version {0} is not supported (expected {SCHEMA_VERSION})")]
    Version(u32),
    #[error("message must carry exactly one of jobId and schedule")]
    Target,
}

impl JobMessage {
    /// A message for a job registered by the API.
    pub fn for_job(job_id: Uuid, task: &str, input: &Value) -> Self {
        Self {
            v: SCHEMA_VERSION,
            job_id: Some(job_id),
            task: task.to_owned(),
            input: input.clone(),
            schedule: None,
        }
    }

    /// Parses and checks a message body.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let msg: Self = serde_json::from_str(body)?;
        if msg.v != SCHEMA_VERSION {
            return Err(MessageError::Version(msg.v));
        }
        if msg.job_id.is_some() == msg.schedule.is_some() {
            return Err(MessageError::Target);
        }
        Ok(msg)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job message always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let msg = JobMessage::for_job(Uuid::now_v7(), "sleep", &json!({"ms": 5}));
        assert_eq!(JobMessage::parse(&msg.to_json()).unwrap(), msg);
    }

    #[test]
    fn scheduled_message_parses() {
        let body = r#"{"v":1,"task":"sleep","input":{"ms":1},"schedule":{"name":"n","executionId":"e","scheduledTime":"2026-01-01T00:00:00Z"}}"#;
        let msg = JobMessage::parse(body).unwrap();
        assert_eq!(msg.schedule.unwrap().execution_id, "e");
    }

    #[test]
    fn rejects_garbage_wrong_version_and_missing_target() {
        assert!(matches!(JobMessage::parse("not json"), Err(MessageError::Json(_))));
        assert!(matches!(
            JobMessage::parse(r#"{"v":2,"task":"x","jobId":"0193a000-0000-7000-8000-000000000000"}"#),
            Err(MessageError::Version(2))
        ));
        assert!(matches!(
            JobMessage::parse(r#"{"v":1,"task":"x"}"#),
            Err(MessageError::Target)
        ));
    }
}
