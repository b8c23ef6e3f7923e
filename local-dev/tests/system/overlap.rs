//! Overlap policies against the emulator: scheduled runs registered by the real worker on
//! DynamoDB (the run pointer's transaction), delivered twice, racing, and replacing a
//! running job.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use data_processor::Outcome;
use data_processor::tasks::registry;
use job_core::application::scheduled_run::{Registered, register_run};
use job_core::application::schedules::seed_run_pointer;
use job_core::cron::ScheduleExpression;
use job_core::job::{JobStatus, id_for_scheduled_run};
use job_core::message::JobMessage;
use job_core::queue::JobQueue;
use job_core::schedules::{Overlap, RunPointer, Schedule};
use job_core::store::faulty::FaultyStore;
use job_core::store::{DynamoDbStore, JobStore};
use serde_json::json;
use uuid::Uuid;

use super::{Env, env, settings};

fn hourly(overlap: Overlap, ms: u64) -> Schedule {
    let cron = "0 * * * *";
    Schedule {
        created_by: None,
        name: "hourly".into(),
        cron: cron.into(),
        expression: ScheduleExpression::parse(cron).unwrap().expression().into(),
        timezone: "UTC".into(),
        task: "sleep".into(),
        input: json!({"ms": ms}),
        created: Utc::now() - TimeDelta::days(1),
        generation: Uuid::new_v4().to_string(),
        enabled: true,
        overlap,
    }
}

/// The `k`-th hourly run from a fixed hour.
fn hour(k: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T06:00:00Z").unwrap().to_utc() + TimeDelta::hours(k)
}

impl Env {
    /// Sends run `k` of `schedule` as Scheduler does, `copies` times; returns its job id.
    async fn fire(&self, schedule: &Schedule, k: i64, copies: usize) -> Uuid {
        for copy in 0..copies {
            let body = schedule.message_for_run(&format!("exec-{k}-{copy}"), hour(k));
            self.queue.send(&body).await.unwrap();
        }
        let time = hour(k).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let id = id_for_scheduled_run(&schedule.name, Some(&schedule.generation), &time);
        self.jobs.lock().unwrap().push(id);
        id
    }

    /// Another store on the same table (what another worker has).
    fn second_store(&self) -> DynamoDbStore {
        DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.made.table_name, 3)
    }

    /// Polls until job `id` is registered and RUNNING.
    async fn wait_running(&self, id: Uuid) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.store.get(id).await.unwrap().map(|j| j.status) != Some(JobStatus::Running) {
            assert!(std::time::Instant::now() < deadline, "job {id} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `worker.run_once` until scheduled job `id` is registered and finished.
    async fn drain_run(&self, worker: &data_processor::Worker, id: Uuid) -> JobStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            match self.store.get(id).await.unwrap() {
                Some(job) if job.status.is_terminal() => return job.status,
                job => assert!(std::time::Instant::now() < deadline, "job {id} did not finish: {job:?}"),
            }
            worker.run_once().await.expect("worker infrastructure error");
        }
    }

    async fn status_of(&self, id: Uuid) -> JobStatus {
        self.store.get(id).await.unwrap().expect("registered").status
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn forbid_skips_runs_while_one_runs_even_delivered_twice_then_runs_the_next() {
    let env = env(5, Duration::from_secs(6)).await;
    let worker = Arc::new(env.worker(registry(), settings(Duration::from_secs(6))));
    let schedule = hourly(Overlap::Forbid, 2_500);

    let first = env.fire(&schedule, 0, 1).await;
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await }
    });
    env.wait_running(first).await;

    let second = env.fire(&schedule, 1, 2).await;
    let other = env.worker(registry(), settings(Duration::from_secs(6)));
    for _ in 0..2 {
        let outcome = other.run_once().await.unwrap();
        assert_eq!(outcome, Some(Outcome::Duplicate(second)), "a skipped run is never run");
    }
    let skipped = env.store.get(second).await.unwrap().unwrap();
    assert_eq!((skipped.status, skipped.attempts), (JobStatus::Skipped, 0));
    assert!(
        skipped.last_error.as_deref().unwrap_or_default().contains("RUNNING"),
        "{skipped:?}"
    );

    assert_eq!(running.await.unwrap().unwrap(), Some(Outcome::Succeeded(first)));
    let third = env.fire(&schedule, 2, 1).await;
    assert_eq!(env.drain_run(&other, third).await, JobStatus::Succeeded);
    assert!(env.queue_is_empty().await);

    let stats = env.stats().await;
    assert_eq!(
        (stats["submitted"].as_i64(), stats["skipped"].as_i64()),
        (Some(3), Some(1)),
        "{stats}"
    );
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_run_started_under_allow_is_the_previous_run_once_forbid_is_turned_on() {
    let env = env(5, Duration::from_secs(6)).await;
    let worker = Arc::new(env.worker(registry(), settings(Duration::from_secs(6))));
    let allow = Schedule {
        created: hour(-3),
        ..hourly(Overlap::Allow, 2_500)
    };
    let first = env.fire(&allow, 0, 1).await;
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await }
    });
    env.wait_running(first).await;
    let other = env.second_store();
    assert_eq!(
        other.run_pointer("hourly", &allow.generation).await.unwrap(),
        None,
        "allow keeps none"
    );

    // What PATCH does before turning forbid on, half an hour after the run started.
    seed_run_pointer(&allow, &*env.store, hour(0) + TimeDelta::minutes(30))
        .await
        .unwrap();
    let pointer = other.run_pointer("hourly", &allow.generation).await.unwrap();
    assert_eq!(pointer.map(|p| (p.run_id, p.scheduled_time)), Some((first, hour(0))));
    let earlier = RunPointer {
        run_id: Uuid::new_v4(),
        scheduled_time: hour(-1),
    };
    assert!(
        !other
            .seed_run_pointer("hourly", &allow.generation, &earlier)
            .await
            .unwrap(),
        "never back"
    );

    let forbid = Schedule {
        overlap: Overlap::Forbid,
        ..allow.clone()
    };
    let second = env.fire(&forbid, 1, 2).await;
    let other_worker = env.worker(registry(), settings(Duration::from_secs(6)));
    for _ in 0..2 {
        let outcome = other_worker.run_once().await.unwrap();
        assert_eq!(outcome, Some(Outcome::Duplicate(second)), "skipped, never run");
    }
    let skipped = env.store.get(second).await.unwrap().unwrap();
    assert_eq!(skipped.status, JobStatus::Skipped, "{skipped:?}");
    assert!(
        skipped
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains(&first.to_string()),
        "{skipped:?}"
    );

    assert_eq!(running.await.unwrap().unwrap(), Some(Outcome::Succeeded(first)));
    let third = env.fire(&forbid, 2, 1).await;
    assert_eq!(env.drain_run(&other_worker, third).await, JobStatus::Succeeded);
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn racing_runs_and_racing_duplicates_on_dynamodb_have_one_outcome_each() {
    let env = env(5, Duration::from_secs(30)).await;
    for round in 0..3 {
        // Two different runs, both deciding from the same (empty) pointer.
        let schedule = hourly(Overlap::Forbid, 1);
        let racing = Arc::new(FaultyStore::new(env.second_store()));
        racing.lockstep_pointer_reads(2);
        let register = |k: i64| {
            let (store, schedule) = (racing.clone(), schedule.clone());
            tokio::spawn(async move {
                let message = JobMessage::parse(&schedule.message_for_run("e", hour(k))).unwrap();
                let run = message.schedule.clone().unwrap();
                register_run(&*store, &message, &run, 3).await.unwrap()
            })
        };
        let (a, b) = (register(round * 2), register(round * 2 + 1));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        env.jobs.lock().unwrap().extend([a.0, b.0]);
        let mut statuses = [env.status_of(a.0).await, env.status_of(b.0).await];
        statuses.sort_by_key(|s| s.as_str());
        assert_eq!(
            statuses,
            [JobStatus::Queued, JobStatus::Skipped],
            "round {round}: {a:?} {b:?}"
        );

        // Four deliveries of one run of a replace schedule, at once.
        let schedule = hourly(Overlap::Replace, 1);
        let racing = Arc::new(FaultyStore::new(env.second_store()));
        racing.lockstep_pointer_reads(4);
        let deliveries: Vec<_> = (0..4)
            .map(|i| {
                let (store, schedule) = (racing.clone(), schedule.clone());
                tokio::spawn(async move {
                    let message = JobMessage::parse(&schedule.message_for_run(&format!("e{i}"), hour(0))).unwrap();
                    let run = message.schedule.clone().unwrap();
                    register_run(&*store, &message, &run, 3).await.unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for delivery in deliveries {
            outcomes.push(delivery.await.unwrap());
        }
        let queued = outcomes.iter().filter(|(_, o)| *o == Registered::Queued).count();
        assert_eq!(queued, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().all(|(id, _)| *id == outcomes[0].0));
        env.jobs.lock().unwrap().push(outcomes[0].0);
    }
    let stats = env.stats().await;
    assert_eq!(
        (stats["submitted"].as_i64(), stats["skipped"].as_i64()),
        (Some(9), Some(3)),
        "{stats}"
    );
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn replace_stops_the_running_run_and_runs_the_new_one() {
    let visibility = Duration::from_secs(6);
    let env = env(5, visibility).await;
    let worker = Arc::new(env.worker(registry(), settings(visibility)));
    let schedule = hourly(Overlap::Replace, 60_000);

    let first = env.fire(&schedule, 0, 1).await;
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await }
    });
    env.wait_running(first).await;

    let short = Schedule {
        input: json!({"ms": 1}),
        ..schedule.clone()
    };
    let second = env.fire(&short, 1, 1).await;
    let other = env.worker(registry(), settings(visibility));
    assert_eq!(env.drain_run(&other, second).await, JobStatus::Succeeded);
    // The replaced run's worker saw the cancel at its next heartbeat and recorded it.
    assert_eq!(running.await.unwrap().unwrap(), Some(Outcome::Cancelled(first)));
    assert_eq!(env.status_of(first).await, JobStatus::Cancelled);
    let stats = env.stats().await;
    assert_eq!(
        (
            stats["submitted"].as_i64(),
            stats["cancelled"].as_i64(),
            stats["succeeded"].as_i64()
        ),
        (Some(2), Some(1), Some(1)),
        "{stats}"
    );
    env.assert_invariants().await;
}
