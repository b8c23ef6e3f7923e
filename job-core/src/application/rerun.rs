//! Re-running a FAILED or CANCELLED job as a new job linked both ways.

use chrono::Utc;

use crate::application::jobs::{Accepted, SubmitError, queue_job};
use crate::caller::{Caller, NotOwner};
use crate::job::JobStatus;
use crate::queue::JobQueue;
use crate::store::{JobStore, StoreError};

/// Why a job was not re-run.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    #[error("job {0:?} not found")]
    NotFound(String),
    #[error("job {job_id} is {}; only FAILED or CANCELLED jobs can be re-run", status.as_str())]
    NotRerunnable { job_id: String, status: JobStatus },
    #[error(transparent)]
    NotOwner(#[from] NotOwner),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

impl From<StoreError> for RerunError {
    fn from(err: StoreError) -> Self {
        Self::Submit(err.into())
    }
}

const MAX_CONFLICTS: u32 = 8;

/// Queues the re-run of job `id` for `caller` (same task and input, `rerunOf` set,
/// submitted by `caller`, who must have submitted the source or be an admin) and records
/// `rerunBy` on the source. The re-run's id is derived from the source's, so asking again
/// (after a lost response, or a failure between the two writes) returns the same job and
/// completes the link.
pub async fn rerun_job(
    store: &dyn JobStore,
    queue: &dyn JobQueue,
    max_attempts: u32,
    caller: &Caller,
    id: &str,
) -> Result<Accepted, RerunError> {
    let not_found = || RerunError::NotFound(id.to_owned());
    let job_id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
    let source = store.get(job_id).await?.ok_or_else(not_found)?;
    if !caller.may_change(source.submitted_by.as_deref()) {
        return Err(NotOwner {
            what: format!("job {job_id}"),
            action: "re-run",
        }
        .into());
    }
    let rerun = source
        .rerun(max_attempts, caller.principal(), Utc::now())
        .ok_or_else(|| RerunError::NotRerunnable {
            job_id: id.to_owned(),
            status: source.status,
        })?;
    let accepted = queue_job(store, queue, &rerun).await?;
    let mut source = source;
    for _ in 0..MAX_CONFLICTS {
        if source.rerun_by == Some(accepted.job_id) {
            return Ok(accepted);
        }
        match store.apply(&source.link_rerun(accepted.job_id, Utc::now())).await {
            Ok(()) => return Ok(accepted),
            Err(StoreError::Conflict) => source = store.get(job_id).await?.ok_or_else(not_found)?,
            Err(err) => return Err(err.into()),
        }
    }
    Err(StoreError::Unavailable("the job kept changing; try again".to_owned()).into())
}
