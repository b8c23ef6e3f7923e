//! The task contract: which tasks exist, the input each accepts, and the default task.
//!
//! This is what the API needs to refuse a job before it is queued (400 for an unknown
//! task, 422 for input that does not fit it), without linking the task implementations:
//! those live in the worker (`data-processor`), which implements every [`TaskDef`] here
//! with a function taking the same `Input` type, so API and worker decode input alike.
//!
//! To add a task: define its `Input` type and its [`TaskDef`] in [`builtin`], add it to
//! [`catalog`], then implement it in the worker.

pub mod builtin;

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The task run when a request names none.
pub const DEFAULT_TASK: &str = builtin::PROCESS_DATA.name;

/// A task's name and description, typed by the input it accepts.
pub struct TaskDef<I> {
    pub name: &'static str,
    pub description: &'static str,
    input: PhantomData<fn() -> I>,
}

impl<I> TaskDef<I> {
    pub const fn new(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            description,
            input: PhantomData,
        }
    }
}

/// Why a task name or input was refused before running.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("unknown task {task:?}; known tasks: {}", known.join(", "))]
    UnknownTask { task: String, known: Vec<String> },
    #[error("invalid input for task {task:?}: {reason}")]
    InvalidInput { task: String, reason: String },
}

/// A task's input type: how it is read (serde) and the checks its values must pass
/// beyond their types (limits). The API and the worker both read input through
/// [`decode`], so a request the API accepts is one the worker runs.
pub trait TaskInput: DeserializeOwned {
    /// Refuses values the task cannot run with; the message names the field.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Reads and checks a task's input; no input (`null`) reads as `{}` so optional fields
/// take defaults.
pub fn decode<I: TaskInput>(input: &Value) -> Result<I, String> {
    let value: I = decode_json(input)?;
    value.validate()?;
    Ok(value)
}

/// Reads any serde type as task input, without [`TaskInput::validate`] (for tasks outside
/// the contract, in tests).
pub fn decode_json<I: DeserializeOwned>(input: &Value) -> Result<I, String> {
    let input = if input.is_null() {
        Value::Object(Default::default())
    } else {
        input.clone()
    };
    serde_json::from_value(input).map_err(|e| e.to_string())
}

type Check = fn(&Value) -> Result<(), String>;

#[derive(Clone, Copy)]
struct Entry {
    description: &'static str,
    check: Check,
}

/// Known tasks and how to check their input.
#[derive(Default, Clone)]
pub struct TaskCatalog {
    tasks: BTreeMap<&'static str, Entry>,
}

fn check<I: TaskInput>(input: &Value) -> Result<(), String> {
    decode::<I>(input).map(|_| ())
}

impl TaskCatalog {
    /// Adds a task.
    pub fn with<I: TaskInput + 'static>(mut self, def: &TaskDef<I>) -> Self {
        self.tasks.insert(
            def.name,
            Entry {
                description: def.description,
                check: check::<I>,
            },
        );
        self
    }

    /// Task names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.keys().copied().collect()
    }

    /// `(name, description)` of every task, sorted by name.
    pub fn describe(&self) -> Vec<(&'static str, &'static str)> {
        self.tasks.iter().map(|(name, e)| (*name, e.description)).collect()
    }

    /// Checks that `task` exists and accepts `input`.
    pub fn validate(&self, task: &str, input: &Value) -> Result<(), ValidationError> {
        let entry = self.tasks.get(task).ok_or_else(|| ValidationError::UnknownTask {
            task: task.to_owned(),
            known: self.names().into_iter().map(str::to_owned).collect(),
        })?;
        (entry.check)(input).map_err(|reason| ValidationError::InvalidInput {
            task: task.to_owned(),
            reason,
        })
    }
}

/// Every built-in task.
pub fn catalog() -> TaskCatalog {
    use builtin::*;
    TaskCatalog::default()
        .with(&PROCESS_DATA)
        .with(&SLEEP)
        .with(&FLAKY)
        .with(&FAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_task_is_in_the_catalog() {
        assert!(catalog().validate(DEFAULT_TASK, &Value::Null).is_ok());
    }

    #[test]
    fn unknown_task_names_the_known_ones() {
        let err = catalog().validate("nope", &Value::Null).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("fail, flaky, process-data, sleep"), "{text}");
    }

    #[test]
    fn input_is_checked_against_the_task_type() {
        let c = catalog();
        assert!(c.validate("sleep", &json!({"ms": 5})).is_ok());
        assert!(matches!(
            c.validate("sleep", &json!({"ms": "soon"})),
            Err(ValidationError::InvalidInput { .. })
        ));
        assert!(matches!(
            c.validate("process-data", &json!({"kib": 1, "extra": 1})),
            Err(ValidationError::InvalidInput { .. })
        ));
    }

    #[test]
    fn limits_of_the_input_type_are_part_of_the_contract() {
        let c = catalog();
        assert!(c.validate("process-data", &json!({"kib": builtin::MAX_KIB})).is_ok());
        let err = c
            .validate("process-data", &json!({"kib": builtin::MAX_KIB + 1}))
            .unwrap_err();
        assert!(
            matches!(&err, ValidationError::InvalidInput { reason, .. } if reason.contains("kib")),
            "{err}"
        );
    }
}
