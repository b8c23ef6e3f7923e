//! The table's counting mode: a property of the table, not of each process.
//!
//! Where the table is created (the CDK app, `provision`) its mode is recorded as the table
//! tag [`COUNTING_TAG`] (`stream` or `inline`). Every process reads it at start
//! ([`table_counting`], two requests: `DescribeTable` for the table's ARN, then
//! `ListTagsOfResource`) and follows it ([`resolve`]); a process whose `JOBS_COUNTERS`
//! names the other mode refuses to start, so two processes can never book one change
//! twice (inline in the transaction, and again from the stream) or not at all.

use aws_sdk_dynamodb::Client;

use crate::aws::describe;
use crate::stats::Counting;

/// The table tag that records how the table's counters are booked.
pub const COUNTING_TAG: &str = "jobs:counting";

/// Why a process cannot know, or disagrees with, the table's counting mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountingModeError {
    #[error(
        "JOBS_COUNTERS={configured} but table {table} counts {recorded} (its tag {COUNTING_TAG}): a process counting \
         otherwise than its table would book changes twice or not at all; unset JOBS_COUNTERS to follow the table"
    )]
    Mismatch {
        table: String,
        configured: &'static str,
        recorded: &'static str,
    },
    #[error(
        "table {table} has no {COUNTING_TAG} tag, so its counting mode is unknown: create it with `provision` or \
         the CDK app (both record it), or tag it {COUNTING_TAG}=stream or inline"
    )]
    Untagged { table: String },
    #[error(
        "table {table} counts inline (its tag {COUNTING_TAG}): the counter aggregator books only a table that counts \
         from its stream, and here would count every change a second time"
    )]
    NotStreamCounted { table: String },
    #[error("table {table} has tag {COUNTING_TAG}={value:?}: expected stream or inline")]
    Invalid { table: String, value: String },
    #[error("could not read the counting mode of table {table}: {detail}")]
    Unreadable { table: String, detail: String },
}

/// The counting mode recorded on `table`, `None` if the table has no [`COUNTING_TAG`].
pub async fn table_counting(client: &Client, table: &str) -> Result<Option<Counting>, CountingModeError> {
    let unreadable = |detail: String| CountingModeError::Unreadable {
        table: table.to_owned(),
        detail,
    };
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| unreadable(describe(&e)))?;
    let arn = described
        .table
        .and_then(|t| t.table_arn)
        .ok_or_else(|| unreadable("DescribeTable returned no table ARN".to_owned()))?;
    let mut token = None;
    loop {
        let page = client
            .list_tags_of_resource()
            .resource_arn(&arn)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| unreadable(describe(&e)))?;
        if let Some(tag) = page.tags().iter().find(|t| t.key() == COUNTING_TAG) {
            return Counting::parse(tag.value())
                .map(Some)
                .ok_or_else(|| CountingModeError::Invalid {
                    table: table.to_owned(),
                    value: tag.value().to_owned(),
                });
        }
        token = page.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// The mode a process counts in: the table's; a configured mode must agree with it.
/// A table without the tag is only usable by a process that names its mode.
pub fn resolve(
    table: &str,
    configured: Option<Counting>,
    recorded: Option<Counting>,
) -> Result<Counting, CountingModeError> {
    match (configured, recorded) {
        (Some(configured), Some(recorded)) if configured != recorded => Err(CountingModeError::Mismatch {
            table: table.to_owned(),
            configured: configured.as_str(),
            recorded: recorded.as_str(),
        }),
        (_, Some(recorded)) => Ok(recorded),
        (Some(configured), None) => Ok(configured),
        (None, None) => Err(CountingModeError::Untagged {
            table: table.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_decides_and_a_disagreeing_process_is_refused() {
        use Counting::{Inline, Stream};
        assert_eq!(resolve("t", None, Some(Stream)), Ok(Stream));
        assert_eq!(resolve("t", Some(Inline), Some(Inline)), Ok(Inline));
        assert_eq!(resolve("t", Some(Stream), None), Ok(Stream));
        let refused = resolve("jobs", Some(Inline), Some(Stream)).unwrap_err().to_string();
        assert!(
            refused.contains("JOBS_COUNTERS=inline")
                && refused.contains("counts stream")
                && refused.contains(COUNTING_TAG),
            "{refused}"
        );
        let unknown = resolve("jobs", None, None).unwrap_err().to_string();
        assert!(
            unknown.contains("no jobs:counting tag") && unknown.contains("provision"),
            "{unknown}"
        );
    }
}
