//! `fail`: always fails with a retryable error, to see retries and the FAILED state.

pub use job_core::tasks::builtin::FailInput as Input;

use super::{TaskContext, TaskError};

pub async fn run(input: Input, ctx: TaskContext) -> Result<(), TaskError> {
    Err(TaskError::retryable(input.message.unwrap_or_else(|| {
        format!("fail: attempt {} fails on purpose", ctx.attempt)
    })))
}
