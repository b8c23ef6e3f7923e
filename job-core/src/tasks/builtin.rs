//! The built-in tasks' names, descriptions and input types.

use serde::Deserialize;

use super::{TaskDef, TaskInput};

/// Largest `kib` of `process-data`: 1 GiB.
pub const MAX_KIB: u32 = 1024 * 1024;

/// `process-data`, the default task: a SHA-256 over generated data.
pub const PROCESS_DATA: TaskDef<ProcessDataInput> =
    TaskDef::new("process-data", "hashes `kib` KiB (default 1024) of generated data");
/// `sleep`: waits.
pub const SLEEP: TaskDef<SleepInput> = TaskDef::new("sleep", "waits `ms` milliseconds");
/// `flaky`: fails its first attempts, then succeeds.
pub const FLAKY: TaskDef<FlakyInput> = TaskDef::new("flaky", "fails its first `failAttempts` attempts, then succeeds");
/// `fail`: always fails (retryably).
pub const FAIL: TaskDef<FailInput> = TaskDef::new("fail", "always fails with a retryable error");

/// Input of `process-data`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessDataInput {
    /// KiB of data to hash.
    #[serde(default = "default_kib")]
    pub kib: u32,
    /// Seed of the generated data; the same seed gives the same digest.
    #[serde(default)]
    pub seed: u64,
}

fn default_kib() -> u32 {
    1024
}

impl TaskInput for ProcessDataInput {
    fn validate(&self) -> Result<(), String> {
        if self.kib > MAX_KIB {
            return Err(format!("kib must be at most {MAX_KIB} (1 GiB); got {}", self.kib));
        }
        Ok(())
    }
}

impl TaskInput for SleepInput {}
impl TaskInput for FlakyInput {}
impl TaskInput for FailInput {}

/// Input of `sleep`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepInput {
    /// Milliseconds to wait.
    pub ms: u64,
}

/// Input of `flaky`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FlakyInput {
    /// Attempts that fail before one succeeds.
    #[serde(default = "one")]
    pub fail_attempts: u32,
}

fn one() -> u32 {
    1
}

/// Input of `fail`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailInput {
    /// The error message to fail with.
    #[serde(default)]
    pub message: Option<String>,
}
