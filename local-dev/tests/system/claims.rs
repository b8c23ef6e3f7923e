//! The first claim in one request against the emulator: the conditional `UpdateItem`
//! writes exactly the item that the read-then-put claim writes (every attribute, the
//! listing and open-jobs index keys included), answers the claimed job, and when its
//! condition fails answers the job as found (`ALL_OLD`) or no job.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use job_core::job::{Claim, FirstClaim, FirstClaimed, Job, JobSource, JobStatus};
use job_core::store::JobStore;
use serde_json::json;
use uuid::Uuid;

use super::env;

const LEASE: Duration = Duration::from_secs(30);

async fn raw_item(env: &super::Env, job_id: Uuid) -> HashMap<String, AttributeValue> {
    aws_sdk_dynamodb::Client::new(&env.sdk)
        .get_item()
        .table_name(&env.made.table_name)
        .key("pk", AttributeValue::S(format!("JOB#{job_id}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the job item")
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn first_claim_writes_what_the_read_then_put_claim_writes() {
    // The same job in two tables: claimed in one request in one, read then put in the other.
    let (one_request, read_then_put) = tokio::join!(env(10, LEASE), env(10, LEASE));
    let job = Job::new(
        Uuid::now_v7(),
        "process-data",
        json!({"records": [1, 2]}),
        3,
        JobSource::Api,
        Some("key-1".to_owned()),
        Utc::now(),
    );
    for env in [&one_request, &read_then_put] {
        env.store.apply(&job.register()).await.unwrap();
    }
    let registered = one_request.store.get(job.job_id).await.unwrap().unwrap();
    let now = Utc::now();
    let first = FirstClaim::new(job.job_id, "worker-a", now, LEASE);

    let claimed = match one_request.store.claim_first(&first).await.unwrap() {
        FirstClaimed::Claimed(claimed) => claimed,
        other => panic!("a first claim of a QUEUED job applies: {other:?}"),
    };
    let Claim::Start(change) = registered.claim("worker-a", now, LEASE) else {
        panic!("a QUEUED job is started");
    };
    read_then_put.store.apply(&change).await.unwrap();
    let put = read_then_put.store.get(job.job_id).await.unwrap().unwrap();
    assert_eq!(claimed, put, "the answer is the job as the put claim stored it");
    assert_eq!(claimed.lease.as_ref().map(|l| l.owner.as_str()), Some("worker-a"));
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.version, registered.version + 1);
    assert_eq!(
        raw_item(&one_request, job.job_id).await,
        raw_item(&read_then_put, job.job_id).await,
        "the UpdateItem leaves the item the PutItem writes"
    );

    // Another worker's first claim does not apply: it gets the job as stored, no read.
    let other = FirstClaim::new(job.job_id, "worker-b", Utc::now(), LEASE);
    match one_request.store.claim_first(&other).await.unwrap() {
        FirstClaimed::Found(Some(found)) => {
            assert_eq!(found, claimed, "ALL_OLD is the job as found");
            assert!(!other.is_written_in(&found));
            assert!(first.is_written_in(&found), "a retried first claim finds its own write");
            assert!(matches!(
                found.claim("worker-b", Utc::now(), LEASE),
                Claim::HeldElsewhere
            ));
        }
        other => panic!("a held job is found, not claimed: {other:?}"),
    }
    assert_eq!(
        one_request.store.get(job.job_id).await.unwrap().unwrap(),
        claimed,
        "nothing written"
    );

    let missing = FirstClaim::new(Uuid::now_v7(), "worker-c", Utc::now(), LEASE);
    assert_eq!(
        one_request.store.claim_first(&missing).await.unwrap(),
        FirstClaimed::Found(None)
    );
    assert_eq!(
        one_request.store.get(missing.job_id).await.unwrap(),
        None,
        "no item created"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn first_claim_of_a_handed_back_job_applies_again_and_of_a_cancelled_one_does_not() {
    let env = env(10, LEASE).await;
    let job = Job::new(Uuid::now_v7(), "sleep", json!({}), 3, JobSource::Api, None, Utc::now());
    env.store.apply(&job.register()).await.unwrap();
    let first = FirstClaim::new(job.job_id, "worker-a", Utc::now(), LEASE);
    let FirstClaimed::Claimed(claimed) = env.store.claim_first(&first).await.unwrap() else {
        panic!("claimed");
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    env.store.apply(&claimed.release("worker-a", Utc::now())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = FirstClaim::new(job.job_id, "worker-b", Utc::now(), LEASE);
    let FirstClaimed::Claimed(reclaimed) = env.store.claim_first(&again).await.unwrap() else {
        panic!("a handed-back first attempt is claimed again in one request");
    };
    assert_eq!(reclaimed.attempts, 1, "a hand-back is not an attempt");
    assert_eq!(reclaimed.lease.as_ref().map(|l| l.owner.as_str()), Some("worker-b"));

    let other = Job::new(Uuid::now_v7(), "sleep", json!({}), 3, JobSource::Api, None, Utc::now());
    env.store.apply(&other.register()).await.unwrap();
    let registered = env.store.get(other.job_id).await.unwrap().unwrap();
    let job_core::job::CancelOutcome::Apply(cancel) = registered.cancel("caller", Utc::now()) else {
        panic!("a QUEUED job is cancelled at once");
    };
    env.store.apply(&cancel).await.unwrap();
    let late = FirstClaim::new(other.job_id, "worker-c", Utc::now(), LEASE);
    match env.store.claim_first(&late).await.unwrap() {
        FirstClaimed::Found(Some(found)) => assert_eq!(found.status, JobStatus::Cancelled),
        answer => panic!("a cancelled job is found, not claimed: {answer:?}"),
    }
}
