//! Tests of the aggregator's use case with the in-memory stream and ledger.

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::json;

use super::*;
use crate::counting::memory::{MemoryLedger, MemoryStream};
use crate::counting::{SequenceNumber, StreamRecord, StreamSource};
use crate::job::{Claim, Job, JobSource};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn seq(n: u64) -> SequenceNumber {
    SequenceNumber::parse(&(1_100_000_000_000_000_000_000u128 + u128::from(n)).to_string()).unwrap()
}

fn record(n: u64, old: Option<&Job>, new: Option<&Job>) -> StreamRecord {
    let job = old.or(new).unwrap();
    StreamRecord {
        sequence: seq(n),
        key: format!("JOB#{}", job.job_id),
        old: old.cloned(),
        new: new.cloned(),
    }
}

/// A job's life as stream records from `first` on: registered at `submitted`, claimed,
/// succeeded at `finished` (3 records).
fn life(first: u64, submitted: &str, finished: &str) -> Vec<StreamRecord> {
    let job = Job::new(
        Uuid::now_v7(),
        "sleep",
        json!({}),
        3,
        JobSource::Api,
        None,
        at(submitted),
    );
    let registered = job.register().job;
    let Claim::Start(claim) = registered.claim("w", at(submitted), Duration::from_secs(30)) else {
        panic!()
    };
    let done = claim.job.succeed("w", json!({}), at(finished)).job;
    vec![
        record(first, None, Some(&registered)),
        record(first + 1, Some(&registered), Some(&claim.job)),
        record(first + 2, Some(&claim.job), Some(&done)),
    ]
}

fn batch(records: Vec<StreamRecord>) -> Batch {
    Batch {
        shard_id: "shardId-1".into(),
        records,
    }
}

fn counts(submitted: i64, succeeded: i64) -> Counts {
    Counts {
        submitted,
        succeeded,
        ..Counts::default()
    }
}

const NOW: &str = "2026-03-02T12:00:00Z";

#[tokio::test]
async fn a_batch_is_summed_per_counter_item_and_booked_in_one_write() {
    let ledger = MemoryLedger::new();
    let mut records = life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z");
    records.extend(life(4, "2026-03-02T10:00:02Z", "2026-03-02T10:00:03Z"));
    let out = aggregate(&ledger, &batch(records), 4, at(NOW)).await.unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    assert_eq!(
        out,
        Aggregated::Booked {
            records: 6,
            increments: vec![(Bucket::Total, counts(2, 2)), (Bucket::Day(day), counts(2, 2))],
        }
    );
    assert_eq!(ledger.total(), counts(2, 2));
    assert_eq!(ledger.bookings(), 1);
    assert_eq!(
        ledger.counter_shards().keys().copied().collect::<Vec<_>>(),
        vec![counter_shard_for("shardId-1", 4)]
    );
}

#[tokio::test]
async fn a_batch_delivered_twice_is_booked_once() {
    let ledger = MemoryLedger::new();
    let once = batch(life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z"));
    aggregate(&ledger, &once, 4, at(NOW)).await.unwrap();
    let again = aggregate(&ledger, &once, 4, at(NOW)).await.unwrap();
    assert_eq!(again, Aggregated::AlreadyBooked);
    assert_eq!(ledger.total(), counts(1, 1));
    assert_eq!(ledger.bookings(), 1);
}

#[tokio::test]
async fn a_batch_overlapping_a_booked_one_books_only_its_new_records() {
    let ledger = MemoryLedger::new();
    let mut records = life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z");
    records.extend(life(4, "2026-03-02T10:00:02Z", "2026-03-02T10:00:03Z"));
    aggregate(&ledger, &batch(records[..4].to_vec()), 4, at(NOW))
        .await
        .unwrap();
    assert_eq!(ledger.total(), counts(2, 1));
    // Redelivered from the start with the rest: only records 5 and 6 are new.
    let out = aggregate(&ledger, &batch(records.clone()), 4, at(NOW)).await.unwrap();
    assert!(matches!(out, Aggregated::Booked { records: 2, .. }), "{out:?}");
    assert_eq!(ledger.total(), counts(2, 2));
}

#[tokio::test]
async fn a_booking_whose_answer_was_lost_counts_once_when_the_batch_comes_again() {
    let ledger = MemoryLedger::new();
    let records = batch(life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z"));
    ledger.lose_next_answers(1);
    let lost = aggregate(&ledger, &records, 4, at(NOW)).await;
    assert!(
        matches!(lost, Err(AggregateError::Store(StoreError::Unavailable(_)))),
        "{lost:?}"
    );
    // The batch fails, so it is delivered again (Lambda's retry, the poller's rewind).
    let again = aggregate(&ledger, &records, 4, at(NOW)).await.unwrap();
    assert_eq!(again, Aggregated::AlreadyBooked);
    assert_eq!(ledger.total(), counts(1, 1));
}

#[tokio::test]
async fn records_out_of_order_are_refused_and_nothing_is_booked() {
    let ledger = MemoryLedger::new();
    let mut records = life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z");
    records.swap(1, 2);
    let err = aggregate(&ledger, &batch(records), 4, at(NOW)).await.unwrap_err();
    assert!(matches!(err, AggregateError::OutOfOrder { .. }), "{err}");
    assert!(err.to_string().contains("shardId-1"), "{err}");
    assert_eq!(ledger.bookings(), 0);
}

#[tokio::test]
async fn a_batch_older_than_the_checkpoint_is_not_booked_again() {
    let ledger = MemoryLedger::new();
    let first = life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z");
    let second = life(4, "2026-03-02T10:00:02Z", "2026-03-02T10:00:03Z");
    aggregate(&ledger, &batch(second), 4, at(NOW)).await.unwrap();
    // Records before the checkpoint arrive late: they are taken as delivered before.
    let out = aggregate(&ledger, &batch(first), 4, at(NOW)).await.unwrap();
    assert_eq!(out, Aggregated::AlreadyBooked);
    assert_eq!(ledger.total(), counts(1, 1));
}

#[tokio::test]
async fn counter_and_checkpoint_items_are_not_counted_and_not_written_for() {
    let ledger = MemoryLedger::new();
    let mut own = life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z");
    for r in &mut own {
        // The same images under a counter's and a checkpoint's key: not job items.
        r.key = if r.sequence == seq(1) {
            "STATS#TOTAL#0".into()
        } else {
            "STATS#CHECKPOINT#shardId-1".into()
        };
    }
    let out = aggregate(&ledger, &batch(own), 4, at(NOW)).await.unwrap();
    assert_eq!(out, Aggregated::NothingToCount);
    assert_eq!(
        ledger.bookings(),
        0,
        "no write: the aggregator's own records must not feed it"
    );
}

#[tokio::test]
async fn changes_that_count_nothing_make_no_write() {
    let ledger = MemoryLedger::new();
    let records = life(1, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z");
    let out = aggregate(&ledger, &batch(vec![records[1].clone()]), 4, at(NOW))
        .await
        .unwrap();
    assert_eq!(out, Aggregated::NothingToCount);
    assert_eq!(ledger.bookings(), 0);
    assert_eq!(
        aggregate(&ledger, &batch(vec![]), 4, at(NOW)).await.unwrap(),
        Aggregated::NothingToCount
    );
}

#[tokio::test]
async fn a_removed_registration_takes_back_its_submission_on_the_day_it_was_registered() {
    let ledger = MemoryLedger::new();
    let job = Job::new(
        Uuid::now_v7(),
        "sleep",
        json!({}),
        3,
        JobSource::Api,
        None,
        at("2026-03-01T23:59:59.900Z"),
    );
    let registered = job.register().job;
    let records = vec![record(1, None, Some(&registered)), record(2, Some(&registered), None)];
    aggregate(&ledger, &batch(records[..1].to_vec()), 4, at(NOW))
        .await
        .unwrap();
    aggregate(&ledger, &batch(records), 4, at(NOW)).await.unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    assert_eq!(ledger.total(), Counts::default());
    assert_eq!(ledger.day(day), Counts::default());
}

#[tokio::test]
async fn a_job_across_midnight_books_each_change_on_its_own_day() {
    let ledger = MemoryLedger::new();
    let records = life(1, "2026-03-01T23:59:59.900Z", "2026-03-02T00:00:00.100Z");
    aggregate(&ledger, &batch(records), 4, at(NOW)).await.unwrap();
    let before = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let after = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    assert_eq!(ledger.day(before), counts(1, 0));
    assert_eq!(ledger.day(after), counts(0, 1));
    assert_eq!(ledger.total(), counts(1, 1));
}

#[tokio::test]
async fn a_stream_read_again_after_a_rewind_counts_every_record_once() {
    let ledger = MemoryLedger::new();
    let mut stream = MemoryStream::new("shardId-1", 2);
    for k in 0..4 {
        stream.push(life(1 + 3 * k, "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z"));
    }
    let mut rewound = false;
    loop {
        let next = stream.next_batch().await.unwrap();
        if next.records.is_empty() {
            break;
        }
        aggregate(&ledger, &next, 4, at(NOW)).await.unwrap();
        if !rewound && ledger.total().succeeded == 2 {
            // The consumer restarts and reads the shard from its start again.
            stream.rewind("shardId-1", None);
            rewound = true;
        }
    }
    assert!(rewound);
    assert_eq!(ledger.total(), counts(4, 4));
}

#[test]
fn stream_shards_spread_over_the_counter_shards() {
    let used: std::collections::HashSet<u32> = (0..64).map(|k| counter_shard_for(&format!("shardId-{k}"), 4)).collect();
    assert_eq!(used.len(), 4);
    assert_eq!(counter_shard_for("shardId-7", 4), counter_shard_for("shardId-7", 4));
}
