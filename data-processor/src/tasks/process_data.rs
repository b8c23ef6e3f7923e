//! `process-data`, the default task: real CPU work, a SHA-256 over generated data, in
//! 1 MiB chunks with a look at the cancellation token between them.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

pub use job_core::tasks::builtin::ProcessDataInput as Input;

use super::{TaskContext, TaskError};

/// KiB hashed between two looks at the cancellation token (about a millisecond of work).
const CHUNK_KIB: u32 = 1024;

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub bytes: u64,
    pub sha256: String,
}

pub async fn run(input: Input, ctx: TaskContext) -> Result<Output, TaskError> {
    // The contract's input type has already refused a `kib` over its limit.
    let cancel = ctx.cancel.clone();
    tokio::task::spawn_blocking(move || hash_generated(input.kib, input.seed, &cancel))
        .await
        .map_err(|e| TaskError::retryable(format!("hashing stopped: {e}")))?
        .ok_or_else(|| TaskError::retryable("process-data: cancelled"))
}

/// The digest, or `None` if `cancel` fired first.
fn hash_generated(kib: u32, seed: u64, cancel: &CancellationToken) -> Option<Output> {
    let mut hasher = Sha256::new();
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut block = [0u8; 1024];
    for done in 0..kib {
        if done % CHUNK_KIB == 0 && cancel.is_cancelled() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use uuid::Uuid;

    fn ctx() -> TaskContext {
        TaskContext {
            job_id: Uuid::now_v7(),
            attempt: 1,
            max_attempts: 3,
            cancel: CancellationToken::new(),
        }
    }

    #[tokio::test]
    async fn a_cancelled_gibibyte_stops_hashing_within_a_chunk() {
        let ctx = ctx();
        let cancel = ctx.cancel.clone();
        let started = Instant::now();
        let run = tokio::spawn(run(
            Input {
                kib: 1024 * 1024,
                seed: 0,
            },
            ctx,
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
        let err = run.await.unwrap().unwrap_err();
        assert!(err.message.contains("cancelled"), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_digest_does_not_depend_on_chunking() {
        let a = hash_generated(2 * CHUNK_KIB + 3, 7, &CancellationToken::new()).unwrap();
        assert_eq!(a.bytes, u64::from(2 * CHUNK_KIB + 3) * 1024);
        assert_eq!(
            a,
            hash_generated(2 * CHUNK_KIB + 3, 7, &CancellationToken::new()).unwrap()
        );
    }
}
