//! Stream records from item images: whichever way a record arrives (a Lambda event, the
//! Streams API), its key and old and new images become a [`StreamRecord`] here, with the
//! job store's own item reader, and only for job items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;

use super::{SequenceNumber, StreamRecord, is_job_key};
use crate::store::{StoreError, job_from_item};

/// An item as the job store reads it.
pub type Item = HashMap<String, AttributeValue>;

/// A record from its sequence number, the item's key attributes and its images (either
/// image may be absent: an insert has no old one, a removal no new one). A job image that
/// does not read as a job is an error: booking without it would miscount.
pub fn record(sequence: &str, keys: &Item, old: Option<&Item>, new: Option<&Item>) -> Result<StreamRecord, StoreError> {
    let sequence = SequenceNumber::parse(sequence)?;
    let key = match keys.get("pk") {
        Some(AttributeValue::S(key)) => key.clone(),
        _ => {
            return Err(StoreError::Other(format!(
                "stream record {sequence} has no string key pk"
            )));
        }
    };
    let job = |image: Option<&Item>| -> Result<_, StoreError> {
        match image {
            Some(image) if is_job_key(&key) => job_from_item(image)
                .map(Some)
                .map_err(|err| StoreError::Other(format!("stream record {sequence} of {key}: {err}"))),
            _ => Ok(None),
        }
    };
    Ok(StreamRecord {
        old: job(old)?,
        new: job(new)?,
        sequence,
        key,
    })
}

/// An item from the Streams API's attribute values.
pub fn from_stream_item(item: &HashMap<String, StreamValue>) -> Item {
    item.iter().map(|(k, v)| (k.clone(), from_stream_value(v))).collect()
}

fn from_stream_value(value: &StreamValue) -> AttributeValue {
    match value {
        StreamValue::S(v) => AttributeValue::S(v.clone()),
        StreamValue::N(v) => AttributeValue::N(v.clone()),
        StreamValue::B(v) => AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(v.as_ref())),
        StreamValue::Bool(v) => AttributeValue::Bool(*v),
        StreamValue::Null(v) => AttributeValue::Null(*v),
        StreamValue::Ss(v) => AttributeValue::Ss(v.clone()),
        StreamValue::Ns(v) => AttributeValue::Ns(v.clone()),
        StreamValue::Bs(v) => AttributeValue::Bs(
            v.iter()
                .map(|b| aws_sdk_dynamodb::primitives::Blob::new(b.as_ref()))
                .collect(),
        ),
        StreamValue::L(v) => AttributeValue::L(v.iter().map(from_stream_value).collect()),
        StreamValue::M(v) => AttributeValue::M(from_stream_item(v)),
        // A type added to the API later: not one the job store writes.
        _ => AttributeValue::Null(true),
    }
}
