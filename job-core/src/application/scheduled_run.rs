//! Registering the job of a scheduled run, under its schedule's overlap policy.
//!
//! The job id is derived from the schedule, its generation and the run's scheduled time
//! ([`id_for_scheduled_run`]), so a redelivered run and a Scheduler retry of it (with a
//! new execution id) find it registered and count once. Under `allow` that registration
//! is the whole story (one write). Under `forbid` and `replace` the run is admitted
//! through its schedule's run pointer ([`crate::schedules::Overlap`] says why that is
//! exact): the pointer names the last run admitted; if that run is not finished, the new
//! one is SKIPPED (`forbid`) or the old one is cancelled (`replace`, through
//! [`cancel_job`]: CANCELLED when queued or retrying, a cooperative cancel when running).

use chrono::{DateTime, Utc};
use tracing::{info, warn};
use uuid::Uuid;

use super::cancel::{CancelError, cancel_job};
use crate::caller::{Caller, UNKNOWN_CREATOR};
use crate::job::{Job, JobSource, id_for_scheduled_run};
use crate::message::{JobMessage, ScheduleRef};
use crate::schedules::{Overlap, PointerMove, RunPointer};
use crate::store::{JobStore, StoreError};

/// Rounds before giving up; a round is lost only to another run of the same schedule
/// moving the pointer, so more than two means something keeps racing.
const MAX_ROUNDS: u32 = 8;

/// The line logged for every registration of a scheduled run, QUEUED or SKIPPED (the
/// `submitted` counter counts both), its `outcome` saying which.
pub use crate::log_lines::SCHEDULED_REGISTERED_MESSAGE;

/// What registering a scheduled run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Registered QUEUED now: this delivery registered the run.
    Queued,
    /// Registered SKIPPED now, for this reason.
    Skipped(String),
    /// An earlier (or concurrent) delivery of the same run had registered it.
    Already,
}

/// Registers the job of a scheduled run on first sight and returns its id (for a run
/// recorded SKIPPED too: the worker finds it finished and drops the message).
pub async fn register_scheduled_run(
    store: &dyn JobStore,
    message: &JobMessage,
    schedule: &ScheduleRef,
    max_attempts: u32,
) -> Result<Uuid, StoreError> {
    let (job_id, registered) = register_run(store, message, schedule, max_attempts).await?;
    match registered {
        Registered::Queued => {
            info!(%job_id, schedule = %schedule.name, outcome = "queued", "{SCHEDULED_REGISTERED_MESSAGE}")
        }
        Registered::Skipped(why) => {
            info!(%job_id, schedule = %schedule.name, outcome = "skipped", %why, "{SCHEDULED_REGISTERED_MESSAGE}")
        }
        Registered::Already => {}
    }
    Ok(job_id)
}

/// [`register_scheduled_run`], saying what it did.
pub async fn register_run(
    store: &dyn JobStore,
    message: &JobMessage,
    schedule: &ScheduleRef,
    max_attempts: u32,
) -> Result<(Uuid, Registered), StoreError> {
    let job_id = id_for_scheduled_run(&schedule.name, schedule.generation.as_deref(), &schedule.scheduled_time);
    let source = JobSource::Schedule {
        name: schedule.name.clone(),
        execution_id: schedule.execution_id.clone(),
        scheduled_time: schedule.scheduled_time.clone(),
    };
    let job = Job::new(
        job_id,
        &message.task,
        message.input.clone(),
        max_attempts,
        source,
        None,
        Utc::now(),
    )
    .submitted_by(schedule.created_by.as_deref().unwrap_or(UNKNOWN_CREATOR));
    let policy = schedule.overlap.unwrap_or_default();
    let scheduled = DateTime::parse_from_rfc3339(&schedule.scheduled_time).map(|t| t.to_utc());
    let registered = match (policy, scheduled) {
        (Overlap::Allow, _) => register_allowed(store, &job).await?,
        (_, Err(_)) => {
            warn!(%job_id, schedule = %schedule.name, scheduled_time = %schedule.scheduled_time,
                  "scheduled time is no RFC 3339 time; registering the run without its overlap policy");
            register_allowed(store, &job).await?
        }
        (policy, Ok(scheduled)) => admit(store, &job, schedule, policy, scheduled).await?,
    };
    Ok((job_id, registered))
}

async fn register_allowed(store: &dyn JobStore, job: &Job) -> Result<Registered, StoreError> {
    match store.apply(&job.register()).await {
        Ok(()) => Ok(Registered::Queued),
        Err(StoreError::Conflict) => Ok(Registered::Already),
        Err(err) => Err(err),
    }
}

/// What to do with a run, decided from the pointer and the run it names.
enum Decision {
    Run,
    Skip(String),
    Already,
}

async fn admit(
    store: &dyn JobStore,
    job: &Job,
    run: &ScheduleRef,
    policy: Overlap,
    scheduled: DateTime<Utc>,
) -> Result<Registered, StoreError> {
    let generation = run.generation.as_deref().unwrap_or_default();
    for _ in 0..MAX_ROUNDS {
        let pointer = store.run_pointer(&run.name, generation).await?;
        let decision = decide(store, pointer.as_ref(), job, policy, scheduled).await?;
        let written = match &decision {
            Decision::Already => return Ok(Registered::Already),
            Decision::Skip(why) => store.apply(&job.register_skipped(why)).await,
            Decision::Run => {
                let pointer = PointerMove {
                    schedule: run.name.clone(),
                    generation: generation.to_owned(),
                    from: pointer.map(|p| p.run_id),
                    to: RunPointer {
                        run_id: job.job_id,
                        scheduled_time: scheduled,
                    },
                };
                store.apply_moving_pointer(&job.register(), &pointer).await
            }
        };
        match written {
            Ok(()) => {
                return Ok(match decision {
                    Decision::Skip(why) => Registered::Skipped(why),
                    _ => Registered::Queued,
                });
            }
            // Registered by another delivery of this run, whatever it decided: its outcome stands.
            Err(StoreError::Conflict) if store.get(job.job_id).await?.is_some() => return Ok(Registered::Already),
            // Another run moved the pointer meanwhile: decide again from where it points now.
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Unavailable(format!(
        "runs of schedule {:?} kept racing for its run pointer; try again",
        run.name
    )))
}

async fn decide(
    store: &dyn JobStore,
    pointer: Option<&RunPointer>,
    job: &Job,
    policy: Overlap,
    scheduled: DateTime<Utc>,
) -> Result<Decision, StoreError> {
    let Some(pointer) = pointer else {
        return Ok(Decision::Run);
    };
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if pointer.run_id == job.job_id {
        return Ok(Decision::Already);
    }
    if pointer.scheduled_time >= scheduled {
        return Ok(Decision::Skip(format!(
            "skipped: a later run of this schedule (scheduled {}, job {}) was already admitted",
            at(pointer.scheduled_time),
            pointer.run_id
        )));
    }
    let Some(previous) = store.get(pointer.run_id).await? else {
        return Ok(Decision::Run);
    };
    if previous.status.is_terminal() {
        return Ok(Decision::Run);
    }
    if policy == Overlap::Forbid {
        return Ok(Decision::Skip(format!(
            "skipped (overlap forbid): the previous run (scheduled {}, job {}) was {}",
            at(pointer.scheduled_time),
            previous.job_id,
            previous.status.as_str()
        )));
    }
    // The schedule's overlap policy cancels, on the schedule's behalf (`cancelledBy`).
    let schedule = match &job.source {
        JobSource::Schedule { name, .. } => name.as_str(),
        JobSource::Api => "",
    };
    let policy_caller = Caller::admin(format!("schedule:{schedule}"));
    match cancel_job(store, &policy_caller, &previous.job_id.to_string()).await {
        Ok(_) | Err(CancelError::Finished { .. }) | Err(CancelError::NotFound(_)) | Err(CancelError::NotOwner(_)) => {
            info!(job_id = %previous.job_id, replaced_by = %job.job_id, "previous run cancelled (overlap replace)");
            Ok(Decision::Run)
        }
        Err(CancelError::Store(err)) => Err(err),
    }
}

#[cfg(test)]
mod tests;
