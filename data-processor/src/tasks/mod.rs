//! Task implementations and the registry that runs them.
//!
//! A task is an async function `run(input: Input, ctx: TaskContext) -> Result<Output, TaskError>`
//! in a file of its own. Its name and `Input` type are part of the task contract
//! ([`job_core::tasks`]), which the API checks requests against (422 before queueing);
//! input that does not fit is a permanent error here too. To add a task, add its
//! definition to the contract, write `src/tasks/<name>.rs` and add one `.implement(...)`
//! line to [`registry`].
//!
//! # Cancellation: the contract for task authors
//!
//! `ctx.cancel` is a [`CancellationToken`] that the worker cancels when the attempt must
//! stop: the attempt timeout (`JOBS_ATTEMPT_TIMEOUT_SECS`) passed, the worker lost the
//! job's lease (another worker may take the job over), or a shutdown's grace period ran out.
//! At that moment the worker also stops polling the task's future, and whatever it returns
//! afterwards is ignored: the attempt's fate is already decided (a timeout is a failed
//! attempt, a lost lease or a shutdown records nothing). So:
//!
//! - async work is stopped for you at its next `.await`; no need to check the token there,
//!   but `tokio::select!` on `ctx.cancel.cancelled()` lets a task clean up first;
//! - blocking or CPU-bound work (`spawn_blocking`, long loops) is NOT stopped by that: check
//!   `ctx.cancel.is_cancelled()` often (every few milliseconds of work) and return;
//!   `process-data` does so between 1 MiB chunks;
//! - side effects outside the job store must be idempotent or guarded: a cancelled attempt
//!   may have done part of its work, and the job may run again.

pub mod fail;
pub mod flaky;
pub mod process_data;
pub mod sleep;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use job_core::tasks::builtin::{FAIL, FLAKY, PROCESS_DATA, SLEEP};
pub use job_core::tasks::{DEFAULT_TASK, ValidationError};
use job_core::tasks::{TaskDef, TaskInput, decode, decode_json};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Every built-in task: an implementation of each task of the contract's catalog.
pub fn registry() -> Registry {
    Registry::default()
        .implement(&PROCESS_DATA, process_data::run)
        .implement(&SLEEP, sleep::run)
        .implement(&FLAKY, flaky::run)
        .implement(&FAIL, fail::run)
}

/// What a task knows about the job it runs for.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub job_id: Uuid,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub max_attempts: u32,
    /// Cancelled when the attempt must stop (timeout, lost lease, shutdown, a cancel
    /// request). The worker also stops polling the task; a task checks it to stop its own
    /// work (a blocking loop, a child process) promptly.
    pub cancel: CancellationToken,
}

/// A failed attempt. Retryable unless `permanent` (bad input, unknown task).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    pub message: String,
    pub permanent: bool,
}

impl TaskError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

type Runner = Arc<dyn Fn(Value, TaskContext) -> BoxFuture<'static, Result<Value, TaskError>> + Send + Sync>;
type Validator = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

struct Implementation {
    description: &'static str,
    run: Runner,
    validate: Validator,
}

/// Named tasks.
#[derive(Default, Clone)]
pub struct Registry {
    tasks: BTreeMap<&'static str, Arc<Implementation>>,
}

impl Registry {
    /// Adds the implementation of a task of the contract: `run` takes the contract's input
    /// type, read and checked by the contract's own [`decode`], exactly as the API does.
    pub fn implement<I, O, F, Fut>(self, def: &TaskDef<I>, run: F) -> Self
    where
        I: TaskInput + Send + 'static,
        O: Serialize + 'static,
        F: Fn(I, TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
    {
        self.add(def.name, def.description, decode::<I>, run)
    }

    /// Adds a task under `name` (tests add tasks outside the contract this way).
    pub fn register<I, O, F, Fut>(self, name: &'static str, description: &'static str, run: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + 'static,
        F: Fn(I, TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
    {
        self.add(name, description, decode_json::<I>, run)
    }

    fn add<I, O, F, Fut>(
        mut self,
        name: &'static str,
        description: &'static str,
        decode: fn(&Value) -> Result<I, String>,
        run: F,
    ) -> Self
    where
        I: Send + 'static,
        O: Serialize + 'static,
        F: Fn(I, TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
    {
        let run = Arc::new(run);
        let runner: Runner = Arc::new(move |input: Value, ctx: TaskContext| {
            let run = Arc::clone(&run);
            Box::pin(async move {
                let input: I = decode(&input).map_err(|e| TaskError::permanent(format!("invalid input: {e}")))?;
                let output = run(input, ctx).await?;
                serde_json::to_value(output).map_err(|e| TaskError::permanent(format!("unserializable output: {e}")))
            })
        });
        let validate: Validator = Arc::new(move |input: &Value| decode(input).map(|_| ()));
        self.tasks.insert(
            name,
            Arc::new(Implementation {
                description,
                run: runner,
                validate,
            }),
        );
        self
    }

    /// Task names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.keys().copied().collect()
    }

    /// `(name, description)` of every task.
    pub fn describe(&self) -> Vec<(&'static str, &'static str)> {
        self.tasks.iter().map(|(name, def)| (*name, def.description)).collect()
    }

    /// Checks that `task` exists and accepts `input`.
    pub fn validate(&self, task: &str, input: &Value) -> Result<(), ValidationError> {
        let def = self.tasks.get(task).ok_or_else(|| ValidationError::UnknownTask {
            task: task.to_owned(),
            known: self.names().into_iter().map(str::to_owned).collect(),
        })?;
        (def.validate)(input).map_err(|reason| ValidationError::InvalidInput {
            task: task.to_owned(),
            reason,
        })
    }

    /// The future of one attempt of `task`; an unknown task is a permanent error.
    pub fn start(
        &self,
        task: &str,
        input: Value,
        ctx: TaskContext,
    ) -> Result<BoxFuture<'static, Result<Value, TaskError>>, TaskError> {
        match self.tasks.get(task) {
            Some(def) => Ok((def.run)(input, ctx)),
            None => Err(TaskError::permanent(
                self.validate(task, &input).unwrap_err().to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(attempt: u32) -> TaskContext {
        TaskContext {
            job_id: Uuid::now_v7(),
            attempt,
            max_attempts: 3,
            cancel: CancellationToken::new(),
        }
    }

    #[test]
    fn every_task_of_the_contract_is_implemented() {
        assert_eq!(registry().describe(), job_core::tasks::catalog().describe());
    }

    #[test]
    fn unknown_task_names_the_known_ones() {
        let err = registry().validate("nope", &Value::Null).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("nope") && text.contains("process-data") && text.contains("sleep"),
            "{text}"
        );
    }

    #[test]
    fn input_is_validated_against_the_task_type() {
        let r = registry();
        assert!(r.validate("process-data", &Value::Null).is_ok());
        assert!(r.validate("sleep", &json!({"ms": 5})).is_ok());
        assert!(matches!(
            r.validate("sleep", &json!({})),
            Err(ValidationError::InvalidInput { .. })
        ));
        assert!(matches!(
            r.validate("sleep", &json!({"ms": "soon"})),
            Err(ValidationError::InvalidInput { .. })
        ));
        assert!(matches!(
            r.validate("sleep", &json!({"ms": 5, "extra": 1})),
            Err(ValidationError::InvalidInput { .. })
        ));
    }

    #[tokio::test]
    async fn bad_input_at_run_time_is_permanent() {
        let err = registry()
            .start("sleep", json!({"ms": -1}), ctx(1))
            .unwrap()
            .await
            .unwrap_err();
        assert!(err.permanent, "{err:?}");
        let err = registry().start("nope", Value::Null, ctx(1)).err().unwrap();
        assert!(err.permanent);
    }

    #[tokio::test]
    async fn builtin_tasks_behave() {
        let r = registry();
        let out = r
            .start("process-data", json!({"kib": 4}), ctx(1))
            .unwrap()
            .await
            .unwrap();
        assert_eq!(out["bytes"], 4096);
        assert_eq!(out["sha256"].as_str().unwrap().len(), 64);
        assert!(
            r.start("flaky", json!({"failAttempts": 1}), ctx(1))
                .unwrap()
                .await
                .is_err()
        );
        assert!(
            r.start("flaky", json!({"failAttempts": 1}), ctx(2))
                .unwrap()
                .await
                .is_ok()
        );
        let err = r.start("fail", Value::Null, ctx(3)).unwrap().await.unwrap_err();
        assert!(!err.permanent);
    }

    #[tokio::test]
    async fn sleep_and_process_data_stop_when_cancelled() {
        let r = registry();
        for (task, input) in [
            ("sleep", json!({"ms": 60_000})),
            ("process-data", json!({"kib": 1_000_000})),
        ] {
            let ctx = ctx(1);
            ctx.cancel.cancel();
            let started = std::time::Instant::now();
            let err = r.start(task, input, ctx).unwrap().await.unwrap_err();
            assert!(err.message.contains("cancelled"), "{task}: {err:?}");
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "{task}");
        }
    }
}
