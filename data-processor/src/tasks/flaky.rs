//! `flaky`: fails its first `failAttempts` attempts with a retryable error, then succeeds.

use serde::Serialize;

pub use job_core::tasks::builtin::FlakyInput as Input;

use super::{TaskContext, TaskError};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub succeeded_on_attempt: u32,
}

pub async fn run(input: Input, ctx: TaskContext) -> Result<Output, TaskError> {
    if ctx.attempt <= input.fail_attempts {
        Err(TaskError::retryable(format!(
            "flaky: attempt {} fails on purpose (the first {} do)",
            ctx.attempt, input.fail_attempts
        )))
    } else {
        Ok(Output {
            succeeded_on_attempt: ctx.attempt,
        })
    }
}
