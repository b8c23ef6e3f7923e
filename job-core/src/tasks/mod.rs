//! The task contract: which tasks exist, the input each accepts, and the default task.
//!
//! This is what the API needs to refuse a job before it is queued (400 for an unknown
//! task, 422 for input that does not fit it), without linking the task implementations:
//! those live in the worker (`data-processor`), which implements every [`TaskDef`] here
//! with a function taking the same `Input` type, so API and worker decode input alike.
//!
//! To add a task: define its `Input` type (with `ToSchema`: the OpenAPI document shows
//! each task's input schema, limits included) and its [`TaskDef`] in [`builtin`], add it to
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
        integral(input.clone())
    };
    serde_json::from_value(input).map_err(|e| e.to_string())
}

/// `value` with every number that is a whole number written with a fraction (`5.0`, `1e3`)
/// as that whole number: JSON (and JSON Schema's `integer`) does not tell them apart,
/// serde's integer types do.
fn integral(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let whole = f.fract() == 0.0;
            // 2^64: the first whole number past u64.
            if whole && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                Value::from(f as u64)
            } else if whole && f < 0.0 && f >= i64::MIN as f64 {
                Value::from(f as i64)
            } else {
                Value::Number(n)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(integral).collect()),
        Value::Object(fields) => Value::Object(fields.into_iter().map(|(k, v)| (k, integral(v))).collect()),
        other => other,
    }
}

type Check = fn(&Value) -> Result<(), String>;

#[derive(Clone, Copy)]
struct Entry {
    description: &'static str,
    check: Check,
    schema: fn() -> Value,
}

/// The JSON Schema of a task's input type, as the OpenAPI document shows it.
fn schema_of<I: utoipa::ToSchema>() -> Value {
    serde_json::to_value(I::schema()).expect("a schema is plain data")
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
    pub fn with<I: TaskInput + utoipa::ToSchema + 'static>(mut self, def: &TaskDef<I>) -> Self {
        self.tasks.insert(
            def.name,
            Entry {
                description: def.description,
                check: check::<I>,
                schema: schema_of::<I>,
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

    /// `(name, JSON Schema of its input)` of every task, sorted by name.
    pub fn input_schemas(&self) -> Vec<(&'static str, Value)> {
        self.tasks.iter().map(|(name, e)| (*name, (e.schema)())).collect()
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

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_task_shows_its_input_schema_with_limits_and_no_other_fields() {
        let schemas: BTreeMap<_, _> = catalog().input_schemas().into_iter().collect();
        assert_eq!(
            schemas.keys().copied().collect::<Vec<_>>(),
            ["fail", "flaky", "process-data", "sleep"]
        );
        let sleep = &schemas["sleep"];
        assert_eq!(sleep["required"], json!(["ms"]), "{sleep}");
        assert_eq!(
            sleep["properties"]["ms"]["maximum"],
            json!(builtin::MAX_SLEEP_MS),
            "{sleep}"
        );
        assert_eq!(sleep["additionalProperties"], json!(false), "{sleep}");
        let data = &schemas["process-data"];
        assert_eq!(data["properties"]["kib"]["maximum"], json!(builtin::MAX_KIB), "{data}");
        assert_eq!(
            data["properties"]["seed"]["maximum"],
            json!(builtin::MAX_SEED),
            "{data}"
        );
        assert!(data.get("required").is_none_or(|r| r == &json!([])), "{data}");
        assert_eq!(
            schemas["fail"]["properties"]["message"]["maxLength"],
            json!(builtin::MAX_FAIL_MESSAGE_CHARS),
            "{}",
            schemas["fail"]
        );
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_whole_numbers() {
        let tasks = catalog();
        assert_eq!(tasks.validate("sleep", &json!({"ms": 320318.0})), Ok(()));
        assert_eq!(tasks.validate("sleep", &json!({"ms": 1e3})), Ok(()));
        assert!(tasks.validate("sleep", &json!({"ms": 1.5})).is_err());
        assert!(tasks.validate("sleep", &json!({"ms": -1.0})).is_err());
        let decoded: builtin::SleepInput = decode(&json!({"ms": 25.0})).unwrap();
        assert_eq!(decoded.ms, 25);
    }

    #[test]
    fn the_limits_the_schemas_show_are_the_ones_checked() {
        let tasks = catalog();
        for (task, ok, too_much) in [
            (
                "sleep",
                json!({"ms": builtin::MAX_SLEEP_MS}),
                json!({"ms": builtin::MAX_SLEEP_MS + 1}),
            ),
            (
                "process-data",
                json!({"seed": builtin::MAX_SEED}),
                json!({"seed": builtin::MAX_SEED + 1}),
            ),
            ("flaky", json!({"failAttempts": 1000}), json!({"failAttempts": 1001})),
            (
                "fail",
                json!({"message": "é".repeat(builtin::MAX_FAIL_MESSAGE_CHARS)}),
                json!({"message": "é".repeat(builtin::MAX_FAIL_MESSAGE_CHARS + 1)}),
            ),
        ] {
            assert_eq!(tasks.validate(task, &ok), Ok(()), "{task}");
            assert!(tasks.validate(task, &too_much).is_err(), "{task} {too_much}");
        }
    }
}
