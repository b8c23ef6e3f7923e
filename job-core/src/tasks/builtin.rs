//! The built-in tasks' names, descriptions and input types.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{TaskDef, TaskInput};

/// Largest `kib` of `process-data`: 1 GiB.
pub const MAX_KIB: u32 = 1024 * 1024;
/// Largest `seed` of `process-data`: the largest integer every JSON reader keeps exactly.
pub const MAX_SEED: u64 = (1 << 53) - 1;
/// Longest `ms` of `sleep`: an hour (an attempt's own time limit is shorter by default).
pub const MAX_SLEEP_MS: u64 = 3_600_000;
/// Most `failAttempts` of `flaky`.
pub const MAX_FAIL_ATTEMPTS: u32 = 1_000;
/// Longest `message` of `fail`, in characters.
pub const MAX_FAIL_MESSAGE_CHARS: usize = 1_024;

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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessDataInput {
    /// KiB of data to hash (default 1024).
    #[serde(default = "default_kib")]
    #[schema(minimum = 0, maximum = 1048576)]
    pub kib: u32,
    /// Seed of the generated data; the same seed gives the same digest (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9007199254740991_u64)]
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
        if self.seed > MAX_SEED {
            return Err(format!("seed must be at most {MAX_SEED}; got {}", self.seed));
        }
        Ok(())
    }
}

impl TaskInput for SleepInput {
    fn validate(&self) -> Result<(), String> {
        if self.ms > MAX_SLEEP_MS {
            return Err(format!("ms must be at most {MAX_SLEEP_MS} (an hour); got {}", self.ms));
        }
        Ok(())
    }
}

impl TaskInput for FlakyInput {
    fn validate(&self) -> Result<(), String> {
        if self.fail_attempts > MAX_FAIL_ATTEMPTS {
            return Err(format!(
                "failAttempts must be at most {MAX_FAIL_ATTEMPTS}; got {}",
                self.fail_attempts
            ));
        }
        Ok(())
    }
}

impl TaskInput for FailInput {
    fn validate(&self) -> Result<(), String> {
        let chars = self.message.as_deref().map_or(0, |m| m.chars().count());
        if chars > MAX_FAIL_MESSAGE_CHARS {
            return Err(format!(
                "message must be at most {MAX_FAIL_MESSAGE_CHARS} characters; got {chars}"
            ));
        }
        Ok(())
    }
}

/// Input of `sleep`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepInput {
    /// Milliseconds to wait.
    #[schema(minimum = 0, maximum = 3600000)]
    pub ms: u64,
}

/// Input of `flaky`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FlakyInput {
    /// Attempts that fail before one succeeds (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 0, maximum = 1000)]
    pub fail_attempts: u32,
}

fn one() -> u32 {
    1
}

/// Input of `fail`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailInput {
    /// The error message to fail with.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub message: Option<String>,
}
