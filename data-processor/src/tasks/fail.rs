//! `fail`: always fails with a retryable error, to see retries and the FAILED state.

use serde::Deserialize;

use super::{TaskContext, TaskError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The error message to fail with.
    #[serde(default)]
    pub message: Option<String>,
}

pub async fn run(input: Input, ctx: TaskContext) -> Result<(), TaskError> {
    Err(TaskError::retryable(input.message.unwrap_or_else(|| {
        format!("fail: attempt {} fails on purpose", ctx.attempt)
    })))
}
