//! A local stand-in for EventBridge Scheduler's firing, because emulators keep schedules
//! but never fire them. It is never part of a deployment: on AWS, Scheduler fires the
//! schedules and a runner would queue every run twice (the `schedule-runner` binary
//! refuses to start without `AWS_ENDPOINT_URL`).
//!
//! Every tick it lists the schedules and, for each enabled one, sends every run that fell
//! due since its last tick to the job queue: the schedule's target input with the
//! placeholders filled in as Scheduler fills them, with an execution id derived from the
//! schedule and the scheduled time. Runs before the runner started or before the
//! schedule was created never fire (a rate schedule fires when it is created, as on AWS),
//! each scheduled time fires once per runner, and a run older than [`MAX_EVENT_AGE`] (the
//! delivery cut-off of the AWS schedules) is dropped.
//! Should two runners fire the same run, the execution ids are equal and the worker
//! registers one job. A paused (disabled) schedule fires nothing, and on resume fires only
//! runs due after it was seen paused; an updated schedule fires by its new expression
//! from then on; the overlap policy travels in the message and the worker enforces it,
//! as on AWS.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tracing::{info, warn};
use uuid::Uuid;

use job_core::queue::{JobQueue, QueueError};
use job_core::schedules::{MAX_EVENT_AGE, Schedule, ScheduleError, ScheduleStore};

use crate::clock::Clock;

/// One run sent to the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub schedule: String,
    pub scheduled_time: DateTime<Utc>,
    pub execution_id: String,
}

/// Why a tick stopped early; the next tick continues where it left off.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Schedules(#[from] ScheduleError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Runs looked at per schedule and step while catching up.
const BATCH: usize = 64;

/// A schedule incarnation: deleting and re-creating a name starts afresh.
type Key = (String, DateTime<Utc>);

/// Fires due schedules into the job queue.
pub struct LocalRunner {
    schedules: Arc<dyn ScheduleStore>,
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    started: DateTime<Utc>,
    /// The last scheduled time sent (or dropped) per schedule.
    done_until: HashMap<Key, DateTime<Utc>>,
}

impl LocalRunner {
    /// A runner that fires runs due after `clock.now()`.
    pub fn new(schedules: Arc<dyn ScheduleStore>, queue: Arc<dyn JobQueue>, clock: Arc<dyn Clock>) -> Self {
        let started = clock.now();
        Self {
            schedules,
            queue,
            clock,
            started,
            done_until: HashMap::new(),
        }
    }

    /// Sends every run due now that was not sent yet; returns what it sent.
    pub async fn tick(&mut self) -> Result<Vec<Fired>, RunnerError> {
        let now = self.clock.now();
        let schedules = self.schedules.list().await?;
        let live: HashSet<Key> = schedules.iter().map(|s| (s.name.clone(), s.created)).collect();
        self.done_until.retain(|key, _| live.contains(key));
        let mut fired = Vec::new();
        for schedule in &schedules {
            if schedule.enabled {
                self.fire_due(schedule, now, &mut fired).await?;
            } else {
                // Paused: its runs until now are not due, then or on resume (as on AWS).
                self.done_until.insert((schedule.name.clone(), schedule.created), now);
            }
        }
        Ok(fired)
    }

    async fn fire_due(
        &mut self,
        schedule: &Schedule,
        now: DateTime<Utc>,
        fired: &mut Vec<Fired>,
    ) -> Result<(), RunnerError> {
        let key = (schedule.name.clone(), schedule.created);
        loop {
            let from = self
                .done_until
                .get(&key)
                .copied()
                .unwrap_or(self.started)
                .max(self.started);
            let runs = match schedule.runs_after(from, BATCH) {
                Ok(runs) => runs,
                Err(err) => {
                    warn!(schedule = %schedule.name, expression = %schedule.expression, error = %err, "cannot evaluate schedule; skipping it");
                    return Ok(());
                }
            };
            let due: Vec<DateTime<Utc>> = runs.iter().map(|t| t.to_utc()).take_while(|t| *t <= now).collect();
            for &time in &due {
                if now - time > MAX_EVENT_AGE {
                    warn!(schedule = %schedule.name, scheduled_time = %time, "run is over an hour late; dropping it");
                } else {
                    let execution_id = execution_id(schedule, time);
                    self.queue.send(&schedule.message_for_run(&execution_id, time)).await?;
                    info!(schedule = %schedule.name, scheduled_time = %time, %execution_id, "schedule fired");
                    fired.push(Fired {
                        schedule: schedule.name.clone(),
                        scheduled_time: time,
                        execution_id,
                    });
                }
                self.done_until.insert(key.clone(), time);
            }
            if due.len() < BATCH {
                return Ok(());
            }
        }
    }

    /// Ticks every `every` until `shutdown` completes; errors are logged and retried.
    pub async fn run(mut self, every: Duration, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            // A tick's AWS calls end by their timeouts; shutdown need not wait for them.
            tokio::select! {
                _ = &mut shutdown => return,
                ticked = self.tick() => if let Err(err) = ticked {
                    warn!(error = %err, "schedule runner tick failed; trying again next tick");
                }
            }
        }
    }
}

/// The execution id of one run: the same schedule and scheduled time give the same id.
pub fn execution_id(schedule: &Schedule, scheduled_time: DateTime<Utc>) -> String {
    let created = schedule.created.to_rfc3339_opts(SecondsFormat::Micros, true);
    let time = scheduled_time.to_rfc3339_opts(SecondsFormat::Secs, true);
    Uuid::new_v5(&NAMESPACE, format!("{}|{created}|{time}", schedule.name).as_bytes()).to_string()
}

const NAMESPACE: Uuid = Uuid::from_u128(0x3c1d_7a52_9e04_4b8f_a6d2_51f0_c8e3_7b19);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use job_core::cron::ScheduleExpression;
    use job_core::message::JobMessage;
    use job_core::queue::MemoryQueue;
    use job_core::schedules::MemoryScheduleStore;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn schedule(name: &str, cron: &str, created: &str) -> Schedule {
        Schedule {
            created_by: None,
            name: name.into(),
            cron: cron.into(),
            expression: ScheduleExpression::parse(cron).unwrap().expression().into(),
            timezone: "UTC".into(),
            task: "sleep".into(),
            input: json!({"ms": 1}),
            created: at(created),
            generation: format!("g-{created}"),
            enabled: true,
            overlap: Default::default(),
        }
    }

    struct Setup {
        store: Arc<MemoryScheduleStore>,
        queue: Arc<MemoryQueue>,
        clock: Arc<ManualClock>,
        runner: LocalRunner,
    }

    fn setup(start: &str) -> Setup {
        let store = Arc::new(MemoryScheduleStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let clock = Arc::new(ManualClock::new(at(start)));
        let runner = LocalRunner::new(store.clone(), queue.clone(), clock.clone());
        Setup {
            store,
            queue,
            clock,
            runner,
        }
    }

    fn times(fired: &[Fired]) -> Vec<String> {
        fired
            .iter()
            .map(|f| f.scheduled_time.to_rfc3339_opts(SecondsFormat::Secs, true))
            .collect()
    }

    #[tokio::test]
    async fn a_due_schedule_fires_once_per_scheduled_time() {
        let mut s = setup("2026-01-05T10:00:10Z");
        s.store
            .create(&schedule("every-minute", "* * * * *", "2026-01-05T10:00:30Z"))
            .await
            .unwrap();
        assert!(s.runner.tick().await.unwrap().is_empty(), "nothing due yet");
        s.clock.set(at("2026-01-05T10:01:05Z"));
        let fired = s.runner.tick().await.unwrap();
        assert_eq!(times(&fired), ["2026-01-05T10:01:00Z"]);
        assert!(
            s.runner.tick().await.unwrap().is_empty(),
            "the same time never fires twice"
        );
        s.clock.set(at("2026-01-05T10:03:30Z"));
        let fired = s.runner.tick().await.unwrap();
        assert_eq!(times(&fired), ["2026-01-05T10:02:00Z", "2026-01-05T10:03:00Z"]);

        let bodies = s.queue.bodies();
        assert_eq!(bodies.len(), 3);
        let message = JobMessage::parse(&bodies[0]).unwrap();
        let run = message.schedule.unwrap();
        assert_eq!(run.name, "every-minute");
        assert_eq!(run.scheduled_time, "2026-01-05T10:01:00Z");
        assert_eq!(
            run.execution_id,
            fired_id(&s.store, "every-minute", "2026-01-05T10:01:00Z").await
        );
        assert_eq!((message.task.as_str(), message.input), ("sleep", json!({"ms": 1})));
    }

    async fn fired_id(store: &MemoryScheduleStore, name: &str, time: &str) -> String {
        execution_id(&store.get(name).await.unwrap().unwrap(), at(time))
    }

    #[tokio::test]
    async fn nothing_fires_before_creation_or_before_the_runner_started() {
        let mut s = setup("2026-01-05T10:00:00Z");
        // Created long before the runner started: its earlier runs are not caught up.
        s.store
            .create(&schedule("old", "*/10 * * * *", "2026-01-01T00:00:00Z"))
            .await
            .unwrap();
        // Created after the runner started: runs from its creation on.
        s.store
            .create(&schedule("new", "* * * * *", "2026-01-05T10:05:30Z"))
            .await
            .unwrap();
        s.clock.set(at("2026-01-05T10:06:00Z"));
        let fired = s.runner.tick().await.unwrap();
        assert_eq!(summary(&fired), ["new 2026-01-05T10:06:00Z"]);
        s.clock.set(at("2026-01-05T10:10:00Z"));
        let fired = s.runner.tick().await.unwrap();
        assert_eq!(
            summary(&fired),
            [
                "new 2026-01-05T10:07:00Z",
                "new 2026-01-05T10:08:00Z",
                "new 2026-01-05T10:09:00Z",
                "new 2026-01-05T10:10:00Z",
                "old 2026-01-05T10:10:00Z",
            ]
        );
    }

    fn summary(fired: &[Fired]) -> Vec<String> {
        fired
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.schedule,
                    f.scheduled_time.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn disabled_deleted_and_stale_runs_do_not_fire() {
        let mut s = setup("2026-01-05T10:00:00Z");
        let mut off = schedule("off", "* * * * *", "2026-01-05T09:00:00Z");
        off.enabled = false;
        s.store.create(&off).await.unwrap();
        s.store
            .create(&schedule("gone", "* * * * *", "2026-01-05T09:00:00Z"))
            .await
            .unwrap();
        s.store.delete("gone").await.unwrap();
        s.clock.set(at("2026-01-05T10:05:00Z"));
        assert!(s.runner.tick().await.unwrap().is_empty());

        // A runner that was suspended for three hours drops runs over an hour late.
        s.store
            .create(&schedule("hourly", "0 * * * *", "2026-01-05T09:00:00Z"))
            .await
            .unwrap();
        s.clock.set(at("2026-01-05T13:30:00Z"));
        let fired = s.runner.tick().await.unwrap();
        assert_eq!(times(&fired), ["2026-01-05T13:00:00Z"]);
    }

    #[tokio::test]
    async fn a_paused_schedule_fires_nothing_and_on_resume_only_what_falls_due_after() {
        let mut s = setup("2026-01-05T10:00:00Z");
        s.store
            .create(&schedule("m", "* * * * *", "2026-01-05T09:00:00Z"))
            .await
            .unwrap();
        s.clock.set(at("2026-01-05T10:01:00Z"));
        assert_eq!(times(&s.runner.tick().await.unwrap()), ["2026-01-05T10:01:00Z"]);
        let mut paused = s.store.get("m").await.unwrap().unwrap();
        paused.enabled = false;
        s.store.update(&paused).await.unwrap();
        s.clock.set(at("2026-01-05T10:05:30Z"));
        assert!(s.runner.tick().await.unwrap().is_empty(), "paused");
        let resumed = Schedule {
            enabled: true,
            cron: "*/2 * * * *".into(),
            expression: ScheduleExpression::parse("*/2 * * * *").unwrap().expression().into(),
            ..paused
        };
        s.store.update(&resumed).await.unwrap();
        s.clock.set(at("2026-01-05T10:08:00Z"));
        assert_eq!(
            times(&s.runner.tick().await.unwrap()),
            ["2026-01-05T10:06:00Z", "2026-01-05T10:08:00Z"],
            "none of the paused minutes, and the new expression"
        );
    }

    #[tokio::test]
    async fn a_rate_schedule_fires_when_created_then_every_period() {
        let mut s = setup("2026-01-05T10:00:00Z");
        s.store
            .create(&schedule("rate", "rate(5 minutes)", "2026-01-05T10:02:30Z"))
            .await
            .unwrap();
        s.clock.set(at("2026-01-05T10:02:31Z"));
        assert_eq!(times(&s.runner.tick().await.unwrap()), ["2026-01-05T10:02:30Z"]);
        s.clock.set(at("2026-01-05T10:12:30Z"));
        let fired = s.runner.tick().await.unwrap();
        assert_eq!(times(&fired), ["2026-01-05T10:07:30Z", "2026-01-05T10:12:30Z"]);
    }

    #[tokio::test]
    async fn a_recreated_schedule_gets_new_execution_ids() {
        let first = schedule("n", "* * * * *", "2026-01-05T10:00:00Z");
        let second = schedule("n", "* * * * *", "2026-01-05T10:00:30Z");
        let time = at("2026-01-05T10:01:00Z");
        assert_eq!(execution_id(&first, time), execution_id(&first.clone(), time));
        assert_ne!(execution_id(&first, time), execution_id(&second, time));
        assert_ne!(
            execution_id(&first, time),
            execution_id(&first, at("2026-01-05T10:02:00Z"))
        );
    }
}
