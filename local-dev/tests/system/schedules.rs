//! The schedules against the local AWS emulator: the EventBridge Scheduler adapter
//! (create, read back, list, conflict, delete) and the local runner firing a due schedule
//! into a real SQS queue once per scheduled time.

use super::emulator;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_scheduler::types::FlexibleTimeWindowMode;
use chrono::{DurationRound, TimeDelta, Utc};
use job_core::cron::ScheduleExpression;
use job_core::message::JobMessage;
use job_core::queue::{JobQueue, SqsQueue};
use job_core::schedules::{
    EventBridgeScheduleStore, Overlap, QueueArn, Schedule, ScheduleError, ScheduleStore, SchedulerTarget,
};
use local_dev::clock::ManualClock;
use local_dev::local_runner::LocalRunner;
use local_dev::provision::{Plan, emulator_scheduler_role_arn, provision};
use serde_json::{Value, json};

/// The schedule as Scheduler holds it, read with Scheduler's own client.
async fn held_by_scheduler(
    scheduler: &aws_sdk_scheduler::Client,
    group: &str,
    name: &str,
) -> aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput {
    scheduler
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
        .expect("GetSchedule")
}

fn schedule(name: &str, cron: &str, timezone: &str) -> Schedule {
    let expression = ScheduleExpression::parse(cron).expect("a valid cron");
    Schedule {
        created_by: None,
        name: name.to_owned(),
        cron: cron.to_owned(),
        expression: expression.expression().to_owned(),
        timezone: timezone.to_owned(),
        task: "sleep".to_owned(),
        input: json!({"ms": 1}),
        created: Utc::now(),
        generation: uuid::Uuid::new_v4().to_string(),
        enabled: true,
        overlap: Default::default(),
    }
}

/// Provisions `prefix`'s queue, table and schedule group, then checks the Scheduler adapter
/// and the local runner against them. Panics on the first mismatch.
pub async fn create_get_list_delete_against_emulator(sdk: &SdkConfig, prefix: &str) {
    let made = provision(sdk, &Plan::named(prefix))
        .await
        .expect("provisioning against the emulator");
    let group = made.schedule_group.clone().expect("a schedule group");
    let role = emulator_scheduler_role_arn(&made.queue_arn, prefix).expect("a role ARN from the queue ARN");
    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let store = EventBridgeScheduleStore::new(scheduler.clone(), &group).with_target(SchedulerTarget {
        // Looked up from the URL, as when JOBS_QUEUE_ARN is not set.
        queue: QueueArn::of_queue(sqs.clone(), &made.queue_url),
        role_arn: role.clone(),
        dead_letter_arn: Some(made.dlq_arn.clone()),
    });

    // Create: what Scheduler holds.
    let weekly = schedule("weekly", "0 7 * * MON", "Europe/Berlin");
    store.create(&weekly).await.expect("create");
    let held = held_by_scheduler(&scheduler, &group, "weekly").await;
    assert_eq!(held.schedule_expression(), Some("cron(0 7 ? * MON *)"));
    assert_eq!(held.schedule_expression_timezone(), Some("Europe/Berlin"));
    assert_eq!(
        held.flexible_time_window().map(|w| w.mode()),
        Some(&FlexibleTimeWindowMode::Off)
    );
    let description: Value = serde_json::from_str(held.description().expect("a description")).unwrap();
    assert_eq!(description, json!({"cron": "0 7 * * MON"}));
    let target = held.target().expect("a target");
    assert_eq!(target.arn(), made.queue_arn, "the target is the job queue");
    assert_eq!(target.role_arn(), role);
    let retry = target.retry_policy().expect("a retry policy");
    assert_eq!(
        (retry.maximum_event_age_in_seconds(), retry.maximum_retry_attempts()),
        (Some(3600), Some(10))
    );
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(made.dlq_arn.as_str())
    );
    let input: Value = serde_json::from_str(target.input().expect("an input")).unwrap();
    assert_eq!(
        input,
        json!({"v": 1, "task": "sleep", "input": {"ms": 1}, "schedule": {
            "name": "weekly",
            "generation": weekly.generation,
            "executionId": "<aws.scheduler.execution-id>",
            "scheduledTime": "<aws.scheduler.scheduled-time>",
        }})
    );

    // Read back, list, conflict, delete.
    let read = store.get("weekly").await.expect("get").expect("the schedule");
    assert_eq!(
        Schedule {
            created: weekly.created,
            ..read.clone()
        },
        weekly
    );
    assert!(
        (read.created - weekly.created).abs() < TimeDelta::minutes(1),
        "created {}",
        read.created
    );
    let err = store
        .create(&weekly)
        .await
        .expect_err("a second schedule with the same name");
    assert!(matches!(&err, ScheduleError::Exists(name) if name == "weekly"), "{err}");
    let daily = Schedule {
        overlap: Overlap::Forbid,
        ..schedule("daily", "30 6 * * *", "UTC")
    };
    store.create(&daily).await.expect("create daily");
    let read = store.get("daily").await.expect("get daily").expect("daily");
    assert_eq!(read.overlap, Overlap::Forbid, "the policy travels in the target input");
    let names: Vec<String> = store.list().await.expect("list").into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["daily", "weekly"]);
    store.delete("weekly").await.expect("delete");
    assert!(store.get("weekly").await.expect("get after delete").is_none());
    let err = store.delete("weekly").await.expect_err("deleting twice");
    assert!(
        matches!(&err, ScheduleError::NotFound(name) if name == "weekly"),
        "{err}"
    );
    store.delete("daily").await.expect("delete daily");
    assert!(store.list().await.expect("list").is_empty());

    // The local runner fires a due schedule into the real queue once per scheduled time.
    store
        .create(&schedule("every-minute", "* * * * *", "UTC"))
        .await
        .expect("create every-minute");
    let created = store.get("every-minute").await.unwrap().expect("every-minute").created;
    let clock = Arc::new(ManualClock::new(created));
    let queue = Arc::new(SqsQueue::new(sqs, &made.queue_url));
    let reader = Arc::new(EventBridgeScheduleStore::new(scheduler, &group));
    let mut runner = LocalRunner::new(reader, queue.clone(), clock.clone());
    let first = created.duration_trunc(TimeDelta::minutes(1)).unwrap() + TimeDelta::minutes(1);
    clock.set(first + TimeDelta::minutes(1));
    let fired = runner.tick().await.expect("tick");
    let times: Vec<_> = fired.iter().map(|f| f.scheduled_time).collect();
    assert_eq!(times, [first, first + TimeDelta::minutes(1)]);
    assert!(
        runner.tick().await.expect("second tick").is_empty(),
        "no run fires twice"
    );

    let mut bodies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while bodies.len() < 2 && Instant::now() < deadline {
        for message in queue
            .receive(10, Duration::from_secs(1), Duration::from_secs(30))
            .await
            .expect("receive")
        {
            queue.delete(&message.receipt_handle).await.expect("delete message");
            bodies.push(message.body);
        }
    }
    assert!(
        queue
            .receive(10, Duration::from_secs(1), Duration::from_secs(30))
            .await
            .expect("receive")
            .is_empty()
    );
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    for body in &bodies {
        assert!(!body.contains("<aws.scheduler."), "placeholders filled in: {body}");
        let message = JobMessage::parse(body).expect("a job message");
        let run = message.schedule.expect("a schedule block");
        assert_eq!((run.name.as_str(), message.task.as_str()), ("every-minute", "sleep"));
        let sent = fired
            .iter()
            .find(|f| f.execution_id == run.execution_id)
            .expect("a fired run");
        assert_eq!(
            run.scheduled_time,
            sent.scheduled_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    store.delete("every-minute").await.expect("delete every-minute");
}

/// `PATCH`'s use case against the emulator: the update through the Scheduler adapter, read
/// back with the raw Scheduler client, and the change log in the real table.
pub async fn update_pause_resume_against_emulator(sdk: &SdkConfig, prefix: &str) {
    use aws_sdk_scheduler::types::ScheduleState;
    use job_core::application::schedules::{
        CreateScheduleError, CreateScheduleRequest, UpdateScheduleRequest, create_schedule, update_schedule,
    };
    use job_core::schedules::{CHANGE_LEASE, ChangeLease};
    use job_core::store::{DynamoDbStore, JobStore, StoreError};

    let made = provision(sdk, &Plan::named(prefix))
        .await
        .expect("provisioning against the emulator");
    let group = made.schedule_group.clone().expect("a schedule group");
    let role = emulator_scheduler_role_arn(&made.queue_arn, prefix).expect("a role ARN from the queue ARN");
    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    let store = EventBridgeScheduleStore::new(scheduler.clone(), &group).with_target(SchedulerTarget {
        queue: QueueArn::known(&made.queue_arn),
        role_arn: role.clone(),
        dead_letter_arn: Some(made.dlq_arn.clone()),
    });
    let jobs = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(sdk), &made.table_name, 3);
    let tasks = job_core::tasks::catalog();
    let created = create_schedule(
        &store,
        &jobs,
        &tasks,
        &job_core::Caller::new("test"),
        CreateScheduleRequest {
            cron: "0 7 * * MON".into(),
            task: Some("sleep".into()),
            input: json!({"ms": 5}),
            timezone: Some("Europe/Berlin".into()),
            name: Some("weekly".into()),
            overlap: None,
        },
        100,
    )
    .await
    .expect("create");
    let generation = created.schedule.generation.clone();

    let change = UpdateScheduleRequest {
        cron: Some("30 6 * * MON-FRI".into()),
        timezone: Some("America/New_York".into()),
        overlap: Some("forbid".into()),
        enabled: Some(false),
        ..Default::default()
    };
    let updated = update_schedule(&store, &jobs, &tasks, &job_core::Caller::new("test"), "weekly", change)
        .await
        .expect("update");
    assert!(updated.next_runs.is_empty(), "paused");

    // What Scheduler holds now, read with its own client.
    let held = held_by_scheduler(&scheduler, &group, "weekly").await;
    assert_eq!(held.schedule_expression(), Some("cron(30 6 ? * MON-FRI *)"));
    assert_eq!(held.schedule_expression_timezone(), Some("America/New_York"));
    assert_eq!(held.state(), Some(&ScheduleState::Disabled));
    let description: Value = serde_json::from_str(held.description().unwrap()).unwrap();
    assert_eq!(description, json!({"cron": "30 6 * * MON-FRI"}));
    let target = held.target().expect("a target");
    assert_eq!(
        (target.arn(), target.role_arn()),
        (made.queue_arn.as_str(), role.as_str()),
        "kept"
    );
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(made.dlq_arn.as_str()),
        "kept"
    );
    assert_eq!(
        target.retry_policy().and_then(|r| r.maximum_event_age_in_seconds()),
        Some(3600),
        "kept"
    );
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(input["schedule"]["overlap"], "forbid", "{input}");
    assert_eq!(
        input["schedule"]["generation"],
        generation.as_str(),
        "the same schedule's runs"
    );
    assert_eq!((&input["task"], &input["input"]), (&json!("sleep"), &json!({"ms": 5})));

    // Resume.
    let resumed = update_schedule(
        &store,
        &jobs,
        &tasks,
        &job_core::Caller::new("test"),
        "weekly",
        UpdateScheduleRequest {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("resume");
    assert_eq!(resumed.next_runs.len(), 5);
    let held = held_by_scheduler(&scheduler, &group, "weekly").await;
    assert_eq!(held.state(), Some(&ScheduleState::Enabled));
    assert_eq!(held.schedule_expression(), Some("cron(30 6 ? * MON-FRI *)"), "kept");

    // The change log in the table.
    let changes = jobs.schedule_changes("weekly", &generation).await.expect("change log");
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0].fields, ["cron", "timezone", "overlap", "enabled"]);
    assert!(changes[0].paused() && changes[1].resumed());
    assert_eq!(changes[0].before.expression, "cron(0 7 ? * MON *)");

    // An absent schedule is NotFound and logs nothing.
    let err = update_schedule(
        &store,
        &jobs,
        &tasks,
        &job_core::Caller::new("test"),
        "absent",
        UpdateScheduleRequest {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .expect_err("no such schedule");
    assert!(
        matches!(err, CreateScheduleError::Schedules(ScheduleError::NotFound(_))),
        "{err}"
    );
    let absent = Schedule {
        name: "absent".into(),
        ..created.schedule.clone()
    };
    let err = store.update(&absent).await.expect_err("the adapter too");
    assert!(matches!(err, ScheduleError::NotFound(_)), "{err}");

    // The change lease in the real table: while another change holds it, a change is
    // Busy and Scheduler keeps what it held; given back (or run out), changes go through.
    let other_jobs = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(sdk), &made.table_name, 3);
    let other = ChangeLease::new("weekly", Utc::now());
    other_jobs.take_change_lease(&other, Utc::now()).await.expect("take");
    let rival = ChangeLease::new("weekly", Utc::now());
    assert!(
        matches!(
            jobs.take_change_lease(&rival, Utc::now()).await,
            Err(StoreError::Conflict)
        ),
        "one holder at a time"
    );
    let pause = || UpdateScheduleRequest {
        enabled: Some(false),
        ..Default::default()
    };
    let err = update_schedule(&store, &jobs, &tasks, &job_core::Caller::new("test"), "weekly", pause())
        .await
        .expect_err("busy");
    assert!(matches!(err, CreateScheduleError::Busy(_)), "{err}");
    let held = held_by_scheduler(&scheduler, &group, "weekly").await;
    assert_eq!(held.state(), Some(&ScheduleState::Enabled), "unchanged");
    jobs.give_back_change_lease(&rival)
        .await
        .expect("a give-back of no lease is a no-op");
    other_jobs.give_back_change_lease(&other).await.expect("give back");
    update_schedule(&store, &jobs, &tasks, &job_core::Caller::new("test"), "weekly", pause())
        .await
        .expect("after the give-back");
    let crashed = ChangeLease::new("weekly", Utc::now() - CHANGE_LEASE - TimeDelta::seconds(1));
    other_jobs
        .take_change_lease(&crashed, crashed.until - TimeDelta::seconds(1))
        .await
        .expect("take, back then");
    let resume = UpdateScheduleRequest {
        enabled: Some(true),
        ..Default::default()
    };
    update_schedule(&store, &jobs, &tasks, &job_core::Caller::new("test"), "weekly", resume)
        .await
        .expect("a lease run out blocks nobody");
    let held = held_by_scheduler(&scheduler, &group, "weekly").await;
    assert_eq!(held.state(), Some(&ScheduleState::Enabled));
    let changes = jobs.schedule_changes("weekly", &generation).await.expect("change log");
    assert_eq!(changes.len(), 4, "{changes:?}");
    store.delete("weekly").await.expect("delete");
    // A schedule changed without end keeps its last changes, within the item size limit.
    for _ in 0..job_core::schedules::MAX_KEPT_CHANGES {
        jobs.append_schedule_change("weekly", &generation, &changes[1])
            .await
            .expect("append");
    }
    let kept = jobs.schedule_changes("weekly", &generation).await.expect("change log");
    assert_eq!(kept.len(), job_core::schedules::MAX_KEPT_CHANGES);
    assert!(kept.iter().all(|c| c == &changes[1]), "the oldest two dropped");
}

/// `GET /jobs/schedules`' use case against the emulator: pages from `ListSchedules` and the
/// copies in the real table, the limit counted from Scheduler, and copies that are missing
/// or behind Scheduler read again and written anew.
pub async fn paged_from_copies_against_emulator(sdk: &SdkConfig, prefix: &str) {
    use job_core::application::schedules::{
        CreateScheduleError, CreateScheduleRequest, create_schedule, list_schedules_page,
    };
    use job_core::store::{DynamoDbStore, JobStore};

    let made = provision(sdk, &Plan::named(prefix))
        .await
        .expect("provisioning against the emulator");
    let group = made.schedule_group.clone().expect("a schedule group");
    let role = emulator_scheduler_role_arn(&made.queue_arn, prefix).expect("a role ARN from the queue ARN");
    let store =
        EventBridgeScheduleStore::new(aws_sdk_scheduler::Client::new(sdk), &group).with_target(SchedulerTarget {
            queue: QueueArn::known(&made.queue_arn),
            role_arn: role,
            dead_letter_arn: None,
        });
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let jobs = DynamoDbStore::new(dynamodb.clone(), &made.table_name, 3);
    let tasks = job_core::tasks::catalog();
    let request = |name: &str| CreateScheduleRequest {
        cron: "0 7 * * MON".into(),
        task: Some("sleep".into()),
        input: json!({"ms": 5}),
        timezone: None,
        name: Some(name.into()),
        overlap: None,
    };
    for name in ["a", "b", "c"] {
        create_schedule(&store, &jobs, &tasks, &job_core::Caller::new("test"), request(name), 3)
            .await
            .expect("create");
    }
    let refused = create_schedule(&store, &jobs, &tasks, &job_core::Caller::new("test"), request("d"), 3).await;
    assert!(
        matches!(refused, Err(CreateScheduleError::LimitReached(3))),
        "{refused:?}"
    );

    let first = list_schedules_page(&store, &jobs, 2, None).await.expect("first page");
    assert_eq!(first.schedules.len(), 2);
    let next = first.next.clone().expect("a second page");
    let second = list_schedules_page(&store, &jobs, 2, Some(&next))
        .await
        .expect("second page");
    assert_eq!((second.schedules.len(), second.next.as_deref()), (1, None));
    let mut names: Vec<String> = first
        .schedules
        .iter()
        .chain(&second.schedules)
        .map(|s| s.schedule.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
    let copies = jobs.schedule_copies(&names).await.expect("copies");
    assert_eq!(copies.len(), 3, "each create wrote its copy");

    // b's copy lost, c changed in Scheduler behind its copy's back.
    dynamodb
        .delete_item()
        .table_name(&made.table_name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("SCHEDULE#b".into()))
        .send()
        .await
        .expect("delete b's copy");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut c = store.get("c").await.expect("read c").expect("c");
    c.task = "process-data".into();
    c.input = json!({});
    store.update(&c).await.expect("update c in Scheduler only");

    let page = list_schedules_page(&store, &jobs, 10, None).await.expect("a page");
    let mut shown: Vec<(String, String)> = page
        .schedules
        .iter()
        .map(|s| (s.schedule.name.clone(), s.schedule.task.clone()))
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        [
            ("a".into(), "sleep".into()),
            ("b".into(), "sleep".into()),
            ("c".into(), "process-data".into())
        ]
    );
    let copies = jobs.schedule_copies(&names).await.expect("copies");
    let c_copy = copies.iter().find(|k| k.schedule.name == "c").expect("c's copy");
    assert_eq!(
        (copies.len(), c_copy.schedule.task.as_str()),
        (3, "process-data"),
        "written anew"
    );

    let bad = list_schedules_page(&store, &jobs, 2, Some("not-a-token")).await;
    assert!(matches!(bad, Err(ScheduleError::BadToken(_))), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn schedules_are_created_listed_deleted_and_fired_locally() {
    let (sdk, prefix) = emulator().await;
    create_get_list_delete_against_emulator(&sdk, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn schedules_are_updated_paused_and_resumed_on_the_emulator() {
    let (sdk, prefix) = emulator().await;
    update_pause_resume_against_emulator(&sdk, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn schedules_are_paged_from_their_copies_on_the_emulator() {
    let (sdk, prefix) = emulator().await;
    paged_from_copies_against_emulator(&sdk, &prefix).await;
}
