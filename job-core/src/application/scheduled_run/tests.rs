//! Overlap policies over the in-memory store: one outcome per run under duplicate
//! deliveries and racing runs, counters exact.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::*;
use crate::job::{FirstClaim, FirstClaimed, JobStatus};
use crate::stats::Counts;
use crate::store::MemoryStore;
use crate::store::faulty::FaultyStore;

const LEASE: Duration = Duration::from_secs(30);

fn run(time: &str, overlap: Overlap) -> (JobMessage, ScheduleRef) {
    let schedule = ScheduleRef {
        created_by: None,
        name: "nightly".into(),
        generation: Some("g-1".into()),
        overlap: Some(overlap),
        execution_id: format!("exec-{time}"),
        scheduled_time: time.into(),
    };
    let message = JobMessage {
        v: 1,
        job_id: None,
        task: "sleep".into(),
        input: json!({"ms": 1}),
        schedule: Some(schedule.clone()),
    };
    (message, schedule)
}

async fn register(store: &dyn JobStore, time: &str, overlap: Overlap) -> (Uuid, Registered) {
    let (message, schedule) = run(time, overlap);
    register_run(store, &message, &schedule, 3).await.unwrap()
}

async fn status(store: &dyn JobStore, id: Uuid) -> JobStatus {
    store.get(id).await.unwrap().unwrap().status
}

async fn totals(store: &dyn JobStore) -> Counts {
    store.stats(Utc::now()).await.unwrap().total
}

/// Starts the job's first attempt, as a worker does.
async fn start(store: &dyn JobStore, id: Uuid) {
    let claimed = store
        .claim_first(&FirstClaim::new(id, "w1", Utc::now(), LEASE))
        .await
        .unwrap();
    assert!(matches!(claimed, FirstClaimed::Claimed(_)), "{claimed:?}");
}

async fn succeed(store: &dyn JobStore, id: Uuid) {
    let job = store.get(id).await.unwrap().unwrap();
    store.apply(&job.succeed("w1", json!(1), Utc::now())).await.unwrap();
}

const T1: &str = "2026-01-05T06:00:00Z";
const T2: &str = "2026-01-05T07:00:00Z";
const T3: &str = "2026-01-05T08:00:00Z";
const T4: &str = "2026-01-05T09:00:00Z";

#[tokio::test]
async fn forbid_skips_while_the_admitted_run_is_unfinished_then_runs_again() {
    let store = MemoryStore::new();
    let (first, outcome) = register(&store, T1, Overlap::Forbid).await;
    assert_eq!(outcome, Registered::Queued);
    start(&store, first).await;

    let (second, outcome) = register(&store, T2, Overlap::Forbid).await;
    assert!(
        matches!(&outcome, Registered::Skipped(why) if why.contains("RUNNING")),
        "{outcome:?}"
    );
    assert_eq!(status(&store, second).await, JobStatus::Skipped);
    // The pointer still names the first run: a skipped run does not free the next one.
    let (third, _) = register(&store, T3, Overlap::Forbid).await;
    assert_eq!(status(&store, third).await, JobStatus::Skipped);

    succeed(&store, first).await;
    let (fourth, outcome) = register(&store, T4, Overlap::Forbid).await;
    assert_eq!(outcome, Registered::Queued);
    assert_eq!(status(&store, fourth).await, JobStatus::Queued);
    let pointer = store.run_pointer("nightly", "g-1").await.unwrap().unwrap();
    assert_eq!(pointer.run_id, fourth);

    let counts = totals(&store).await;
    assert_eq!((counts.submitted, counts.skipped, counts.succeeded), (4, 2, 1));
    assert_eq!(
        store.stats(Utc::now()).await.unwrap().in_flight,
        1,
        "only the fourth is open"
    );
}

#[tokio::test]
async fn a_skipped_run_is_never_claimed() {
    let store = MemoryStore::new();
    let (first, _) = register(&store, T1, Overlap::Forbid).await;
    let (second, _) = register(&store, T2, Overlap::Forbid).await;
    assert_eq!(
        status(&store, first).await,
        JobStatus::Queued,
        "queued is unfinished too"
    );
    assert_eq!(status(&store, second).await, JobStatus::Skipped);
    let claimed = store
        .claim_first(&FirstClaim::new(second, "w1", Utc::now(), LEASE))
        .await
        .unwrap();
    assert!(matches!(claimed, FirstClaimed::Found(Some(ref j)) if j.status == JobStatus::Skipped));
    let job = store.get(second).await.unwrap().unwrap();
    assert_eq!(job.claim("w1", Utc::now(), LEASE), crate::job::Claim::Finished);
    assert_eq!(job.attempts, 0);
}

#[tokio::test]
async fn duplicate_deliveries_converge_on_the_first_outcome() {
    let store = MemoryStore::new();
    let (first, _) = register(&store, T1, Overlap::Forbid).await;
    start(&store, first).await;
    let (second, outcome) = register(&store, T2, Overlap::Forbid).await;
    assert!(matches!(outcome, Registered::Skipped(_)));
    // The first run ends; a redelivery of the second must not turn it into a run.
    succeed(&store, first).await;
    let (again, outcome) = register(&store, T2, Overlap::Forbid).await;
    assert_eq!((again, outcome), (second, Registered::Already));
    assert_eq!(status(&store, second).await, JobStatus::Skipped);
    // And a redelivery of an admitted run is that run, not a skip "superseded by itself".
    let (third, outcome) = register(&store, T3, Overlap::Forbid).await;
    assert_eq!(outcome, Registered::Queued);
    assert_eq!(
        register(&store, T3, Overlap::Forbid).await,
        (third, Registered::Already)
    );
    assert_eq!(status(&store, third).await, JobStatus::Queued);
    let counts = totals(&store).await;
    assert_eq!((counts.submitted, counts.skipped), (3, 1));
}

#[tokio::test]
async fn a_run_delivered_after_a_later_one_was_admitted_is_skipped() {
    let store = MemoryStore::new();
    let (later, _) = register(&store, T2, Overlap::Forbid).await;
    succeed_after_start(&store, later).await;
    let (earlier, outcome) = register(&store, T1, Overlap::Replace).await;
    assert!(
        matches!(&outcome, Registered::Skipped(why) if why.contains("later run")),
        "{outcome:?}"
    );
    assert_eq!(status(&store, earlier).await, JobStatus::Skipped);
}

async fn succeed_after_start(store: &dyn JobStore, id: Uuid) {
    start(store, id).await;
    succeed(store, id).await;
}

#[tokio::test]
async fn replace_cancels_a_queued_run_at_once_and_asks_a_running_one_to_stop() {
    let store = MemoryStore::new();
    let (first, _) = register(&store, T1, Overlap::Replace).await;
    let (second, outcome) = register(&store, T2, Overlap::Replace).await;
    assert_eq!(outcome, Registered::Queued);
    assert_eq!(status(&store, first).await, JobStatus::Cancelled);
    assert_eq!(status(&store, second).await, JobStatus::Queued);

    start(&store, second).await;
    let (third, outcome) = register(&store, T3, Overlap::Replace).await;
    assert_eq!(outcome, Registered::Queued);
    let running = store.get(second).await.unwrap().unwrap();
    assert_eq!(running.status, JobStatus::Running, "its worker records CANCELLED");
    assert!(running.cancel_requested_at.is_some());
    assert_eq!(status(&store, third).await, JobStatus::Queued);
    let counts = totals(&store).await;
    assert_eq!((counts.submitted, counts.cancelled, counts.skipped), (3, 1, 0));
}

#[tokio::test]
async fn allow_keeps_no_pointer_and_runs_every_run() {
    let store = MemoryStore::new();
    let (first, _) = register(&store, T1, Overlap::Allow).await;
    start(&store, first).await;
    let (second, outcome) = register(&store, T2, Overlap::Allow).await;
    assert_eq!(outcome, Registered::Queued);
    assert_eq!(status(&store, second).await, JobStatus::Queued);
    assert!(store.run_pointer("nightly", "g-1").await.unwrap().is_none());
}

/// A store whose next `parties` pointer reads wait for each other: every racer decides
/// from the same pointer before any of them writes.
fn lockstep(parties: usize) -> Arc<FaultyStore<MemoryStore>> {
    let store = FaultyStore::new(MemoryStore::new());
    store.lockstep_pointer_reads(parties);
    Arc::new(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_racing_under_forbid_never_both_run() {
    let store = lockstep(2);
    let racers: Vec<_> = [T1, T2]
        .into_iter()
        .map(|time| {
            let store = store.clone();
            tokio::spawn(async move { register(&*store, time, Overlap::Forbid).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap());
    }
    let mut statuses = Vec::new();
    for (id, _) in &outcomes {
        statuses.push(status(&*store, *id).await);
    }
    statuses.sort_by_key(|s| s.as_str());
    assert_eq!(statuses, [JobStatus::Queued, JobStatus::Skipped], "{outcomes:?}");
    let counts = totals(&*store).await;
    assert_eq!((counts.submitted, counts.skipped), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_deliveries_register_one_job_counted_once() {
    for overlap in [Overlap::Forbid, Overlap::Replace] {
        let store = lockstep(6);
        let deliveries: Vec<_> = (0..6)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { register(&*store, T1, overlap).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for delivery in deliveries {
            outcomes.push(delivery.await.unwrap());
        }
        let queued = outcomes.iter().filter(|(_, o)| *o == Registered::Queued).count();
        assert_eq!(queued, 1, "{overlap}: {outcomes:?}");
        assert!(outcomes.iter().all(|(id, _)| *id == outcomes[0].0));
        assert_eq!(store.inner().jobs().len(), 1);
        assert_eq!(totals(&*store).await.submitted, 1, "{overlap}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_racing_under_replace_leave_one_run_open() {
    let store = lockstep(2);
    let (first, _) = register(store.inner(), T1, Overlap::Replace).await;
    let racers: Vec<_> = [T2, T3]
        .into_iter()
        .map(|time| {
            let store = store.clone();
            tokio::spawn(async move { register(&*store, time, Overlap::Replace).await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap();
    }
    assert_eq!(status(store.inner(), first).await, JobStatus::Cancelled);
    let open: Vec<_> = store
        .inner()
        .jobs()
        .into_iter()
        .filter(|j| !j.status.is_terminal())
        .collect();
    assert_eq!(open.len(), 1, "one open run: {open:?}");
    let pointer = store.run_pointer("nightly", "g-1").await.unwrap().unwrap();
    assert_eq!(pointer.run_id, open[0].job_id, "the pointer names the run left open");
}
