//! Cancelling a job: at once when nothing runs it, cooperatively when a worker does.

use chrono::Utc;
use tracing::info;

use crate::caller::{Caller, NotOwner};
use crate::job::{CancelOutcome, Job, JobStatus};
use crate::store::{JobStore, StoreError};

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancelled {
    /// The job is CANCELLED.
    Done(Job),
    /// The job is RUNNING; its worker was asked to stop and records CANCELLED within one
    /// heartbeat.
    Requested(Job),
}

/// Why a job was not cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("job {0:?} not found")]
    NotFound(String),
    #[error("job {job_id} already finished: it is {}", status.as_str())]
    Finished { job_id: String, status: JobStatus },
    #[error(transparent)]
    NotOwner(#[from] NotOwner),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Attempts before giving up on a job that keeps changing under the request.
const MAX_CONFLICTS: u32 = 8;

/// Cancels job `id` for `caller`, who must have submitted it or be an admin (else
/// [`CancelError::NotOwner`], and nothing changes). Each try is one conditional write on the job's version, so a cancel
/// racing a worker's outcome ends in exactly one terminal state: whichever write lands
/// first wins, and the loser re-reads and decides again.
pub async fn cancel_job(store: &dyn JobStore, caller: &Caller, id: &str) -> Result<Cancelled, CancelError> {
    let not_found = || CancelError::NotFound(id.to_owned());
    let job_id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
    for _ in 0..MAX_CONFLICTS {
        let job = store.get(job_id).await?.ok_or_else(not_found)?;
        if !caller.may_change(job.submitted_by.as_deref()) {
            return Err(NotOwner {
                what: format!("job {job_id}"),
                action: "cancel",
            }
            .into());
        }
        let change = match job.cancel(caller.principal(), Utc::now()) {
            CancelOutcome::Finished(status) => {
                return Err(CancelError::Finished {
                    job_id: id.to_owned(),
                    status,
                });
            }
            CancelOutcome::AlreadyRequested => return Ok(Cancelled::Requested(job)),
            CancelOutcome::Apply(change) => change,
        };
        match store.apply(&change).await {
            Ok(()) => {
                let job = change.job;
                info!(%job_id, status = job.status.as_str(), by = %caller, "cancel applied");
                return Ok(if job.status == JobStatus::Cancelled {
                    Cancelled::Done(job)
                } else {
                    Cancelled::Requested(job)
                });
            }
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(StoreError::Unavailable("the job kept changing; try again".to_owned()).into())
}
