//! The queue and table settings in `settings/queue.json` are shared with the cdk8s chart
//! and the CDK app; these tests check that local provisioning and the worker's defaults agree.

use std::time::Duration;

use crate::provision::Plan;
use job_core::config::Config;

fn settings() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../settings/queue.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn number(settings: &serde_json::Value, pointer: &str) -> u64 {
    settings
        .pointer(pointer)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("settings/queue.json has no whole number at {pointer}"))
}

#[test]
fn provisioning_uses_the_shared_queue_settings() {
    let settings = settings();
    let plan = Plan::named("settings-test");
    assert_eq!(
        plan.visibility_timeout,
        Duration::from_secs(number(&settings, "/visibilityTimeoutSecs"))
    );
    assert_eq!(u64::from(plan.max_receive_count), number(&settings, "/maxReceiveCount"));
}

#[test]
fn the_worker_default_visibility_timeout_is_the_queue_default() {
    let settings = settings();
    let config = Config::from_lookup(|name| match name {
        "JOBS_QUEUE_URL" => Some("http://queue.invalid/q".to_owned()),
        "JOBS_TABLE_NAME" => Some("t".to_owned()),
        _ => None,
    })
    .expect("the minimal configuration is valid");
    assert_eq!(
        config.visibility_timeout,
        Duration::from_secs(number(&settings, "/visibilityTimeoutSecs"))
    );
}

#[test]
fn provisioning_uses_the_shared_table_settings() {
    // provision.rs builds the key schema, the TTL and the dead-letter retention from
    // literals; check they are the shared ones, so the CDK table and queues and the local
    // ones have the same shape.
    let settings = settings();
    let source = include_str!("provision.rs");
    for pointer in ["/table/partitionKey", "/table/timeToLiveAttribute"] {
        let name = settings
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_else(|| panic!("settings/queue.json has no string at {pointer}"));
        assert!(
            source.contains(&format!(".attribute_name(\"{name}\")")),
            "provision.rs does not use the shared name {name} ({pointer})"
        );
    }
    let retention_days = number(&settings, "/deadLetterRetentionDays");
    assert!(
        source.contains(&format!("({retention_days} * 24 * 3600)")),
        "provision.rs does not keep dead letters for the shared {retention_days} days"
    );
}

#[test]
fn the_listing_indexes_are_the_shared_ones() {
    use job_core::listing::{
        PROJECTED, SORT_KEY_ATTR, STATUS_INDEX, STATUS_PARTITION_ATTR, SUBMITTER_INDEX, SUBMITTER_PARTITION_ATTR,
        TIME_INDEX, TIME_PARTITION_ATTR,
    };
    let settings = settings();
    let text = |pointer: &str| {
        settings
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_else(|| panic!("settings/queue.json has no string at {pointer}"))
            .to_owned()
    };
    let base = "/table/listingIndexes";
    assert_eq!(text(&format!("{base}/sortKey")), SORT_KEY_ATTR);
    assert_eq!(text(&format!("{base}/byTime/name")), TIME_INDEX);
    assert_eq!(text(&format!("{base}/byTime/partitionKey")), TIME_PARTITION_ATTR);
    assert_eq!(text(&format!("{base}/byStatus/name")), STATUS_INDEX);
    assert_eq!(text(&format!("{base}/byStatus/partitionKey")), STATUS_PARTITION_ATTR);
    assert_eq!(text(&format!("{base}/bySubmitter/name")), SUBMITTER_INDEX);
    assert_eq!(
        text(&format!("{base}/bySubmitter/partitionKey")),
        SUBMITTER_PARTITION_ATTR
    );
    assert_eq!(
        settings.pointer(&format!("{base}/projected")),
        Some(&serde_json::json!(PROJECTED))
    );
}
