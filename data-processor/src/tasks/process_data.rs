//! `process-data`, the default task: real CPU work, a SHA-256 over generated data.

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use job_core::tasks::builtin::ProcessDataInput as Input;

use super::{TaskContext, TaskError};

const MAX_KIB: u32 = 1024 * 1024;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub bytes: u64,
    pub sha256: String,
}

pub async fn run(input: Input, ctx: TaskContext) -> Result<Output, TaskError> {
    if input.kib > MAX_KIB {
        return Err(TaskError::permanent(format!("kib must be at most {MAX_KIB}")));
    }
    let cancel = ctx.cancel.clone();
    tokio::task::spawn_blocking(move || hash_generated(input.kib, input.seed, &cancel))
        .await
        .map_err(|e| TaskError::retryable(format!("hashing stopped: {e}")))?
        .ok_or_else(|| TaskError::retryable("process-data cancelled"))
}

/// The hash, or `None` if `cancel` fired (checked between 1 MiB chunks).
fn hash_generated(kib: u32, seed: u64, cancel: &tokio_util::sync::CancellationToken) -> Option<Output> {
    let mut hasher = Sha256::new();
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut block = [0u8; 1024];
    for i in 0..kib {
        if i % 1024 == 0 && cancel.is_cancelled() {
            return None;
        }
        for chunk in block.chunks_exact_mut(8) {
            // xorshift64: cheap, deterministic filler.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(block);
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(Output {
        bytes: u64::from(kib) * 1024,
        sha256,
    })
}
