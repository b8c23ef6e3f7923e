//! `sleep`: waits, for trying out concurrency, heartbeats and shutdown.

use std::time::Duration;

use serde::Serialize;

pub use job_core::tasks::builtin::SleepInput as Input;

use super::{TaskContext, TaskError};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub slept_ms: u64,
}

pub async fn run(input: Input, ctx: TaskContext) -> Result<Output, TaskError> {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(input.ms)) => Ok(Output { slept_ms: input.ms }),
        _ = ctx.cancel.cancelled() => Err(TaskError::retryable("sleep cancelled")),
    }
}
