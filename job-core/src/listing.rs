//! Listing jobs newest first: the query, the opaque cursor, the rows, and how the listing
//! index is keyed and its shards merged.
//!
//! Every job carries a sort key `<createdAt>#<jobId>` (fixed-width UTC time with
//! nanoseconds, so text order is time order, and unique). The listing index is
//! write-sharded: a job goes to one of [`SHARDS`] partitions chosen by its id
//! (`JOBS#<shard>` in the time index, `<STATUS>#<shard>` in the status index), so at
//! 1,000 jobs/s no partition takes more than a fraction of the writes. A page reads every
//! shard newest first below the cursor and merges them ([`merge`]).
//!
//! The cursor is one position, the sort key of the last row returned (as
//! `<creation time in ns>-<id>`): the next page is every shard's rows strictly below it. Jobs submitted while a client pages land above
//! the cursor, so paging to the end sees no duplicates and no gaps.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::job::{Job, JobStatus};

/// Partitions of the listing index. Readers query all of them; raising it later is safe
/// (new shards start empty), lowering it hides the jobs of the dropped shards.
pub const SHARDS: u32 = 8;

/// The index of every job by time: partition [`TIME_PARTITION_ATTR`], sort [`SORT_KEY_ATTR`].
pub const TIME_INDEX: &str = "jobs-by-time";
/// The index of every job by status and time: partition [`STATUS_PARTITION_ATTR`], sort [`SORT_KEY_ATTR`].
pub const STATUS_INDEX: &str = "jobs-by-status";
/// The index of every job by submitter and time: partition [`SUBMITTER_PARTITION_ATTR`],
/// sort [`SORT_KEY_ATTR`]. Jobs submitted before callers were recorded are not in it.
pub const SUBMITTER_INDEX: &str = "jobs-by-submitter";
pub const TIME_PARTITION_ATTR: &str = "listPk";
pub const STATUS_PARTITION_ATTR: &str = "statusPk";
pub const SUBMITTER_PARTITION_ATTR: &str = "submitterPk";
pub const SORT_KEY_ATTR: &str = "listSk";
/// The job attributes both indexes hold besides their keys: what a row shows. Attributes
/// that change on every heartbeat (the lease) are left out, so a heartbeat writes no index,
/// and the error is projected as its first [`ERROR_SUMMARY_CHARS`] characters
/// ([`ERROR_SUMMARY_ATTR`]), so a page of failed jobs reads a few KiB, not 8 KiB a row.
pub const PROJECTED: [&str; 12] = [
    "jobId",
    "task",
    "status",
    "attempts",
    "maxAttempts",
    "sourceType",
    "createdAt",
    "finishedAt",
    ERROR_SUMMARY_ATTR,
    "cancelRequestedAt",
    "rerunOf",
    "submittedBy",
];

/// The item attribute holding the start of the job's last error, for the listing.
pub const ERROR_SUMMARY_ATTR: &str = "errorSummary";
/// How many characters of the last error a listing row shows (the job's own read has all).
pub const ERROR_SUMMARY_CHARS: usize = 256;

/// The start of an error as a listing row shows it: at most [`ERROR_SUMMARY_CHARS`]
/// characters, ending in `…` when cut.
pub fn error_summary(error: &str) -> String {
    match error.char_indices().nth(ERROR_SUMMARY_CHARS) {
        None => error.to_owned(),
        Some(_) => {
            let (end, _) = error
                .char_indices()
                .nth(ERROR_SUMMARY_CHARS - 1)
                .expect("shorter than the cut");
            format!("{}…", &error[..end])
        }
    }
}

/// Rows per page when the request names no limit.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most rows per page.
pub const MAX_LIMIT: u32 = 200;

/// How a job was registered, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Api,
    Schedule,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Api, Self::Schedule].into_iter().find(|s| s.as_str() == text)
    }

    pub fn of(job: &Job) -> Self {
        match job.source {
            crate::job::JobSource::Api => Self::Api,
            crate::job::JobSource::Schedule { .. } => Self::Schedule,
        }
    }
}

/// One page's request: filters, size and where to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub status: Option<JobStatus>,
    pub task: Option<String>,
    pub source: Option<SourceKind>,
    /// Only jobs this principal submitted (read from the submitter index).
    pub submitted_by: Option<String>,
    pub limit: u32,
    /// Rows strictly older than this sort key (from the cursor); `None` = from the newest.
    pub before: Option<String>,
}

impl ListQuery {
    /// Whether `row` passes the filters.
    pub fn admits(&self, row: &JobSummary) -> bool {
        self.status.is_none_or(|s| s == row.status)
            && self.task.as_ref().is_none_or(|t| t == &row.task)
            && self.source.is_none_or(|s| s == row.source)
            && self
                .submitted_by
                .as_ref()
                .is_none_or(|p| Some(p) == row.submitted_by.as_ref())
    }
}

/// A job as a row of the listing (the attributes the listing index holds).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    #[schema(value_type = String, format = Uuid)]
    pub job_id: Uuid,
    pub task: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub source: SourceKind,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The start of the last error (at most 256 characters, ending in `…` when cut);
    /// `GET /jobs/{id}` has all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A cancel was asked for and the worker is stopping the attempt.
    pub cancel_requested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub rerun_of: Option<Uuid>,
    /// Who submitted the job (see `Job::submitted_by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// The index position; not shown.
    #[serde(skip)]
    pub sort_key: String,
}

impl From<&Job> for JobSummary {
    fn from(job: &Job) -> Self {
        Self {
            job_id: job.job_id,
            task: job.task.clone(),
            status: job.status,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            source: SourceKind::of(job),
            created_at: job.created_at,
            finished_at: job.finished_at,
            last_error: job.last_error.as_deref().map(error_summary),
            cancel_requested: job.cancel_requested_at.is_some(),
            rerun_of: job.rerun_of,
            submitted_by: job.submitted_by.clone(),
            sort_key: sort_key(job),
        }
    }
}

/// One page of rows, newest first, and the cursor of the next page (`None`: the end).
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<JobSummary>,
    pub next: Option<String>,
}

/// The listing position of a job: `<createdAt, UTC, nanoseconds>#<jobId>`.
pub fn sort_key(job: &Job) -> String {
    format!(
        "{}#{}",
        job.created_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
        job.job_id
    )
}

/// The listing shard of a job.
pub fn shard_of(job_id: Uuid) -> u32 {
    // The low bits of a v7 id are random; of a v5 id, hash output.
    (job_id.as_u128() % u128::from(SHARDS)) as u32
}

/// The time index's partition for shard `shard`.
pub fn time_partition(shard: u32) -> String {
    format!("JOBS#{shard}")
}

/// The submitter index's partition for `principal` and shard `shard`.
pub fn submitter_partition(principal: &str, shard: u32) -> String {
    format!("{shard}#{principal}")
}

/// The status index's partition for `status` and shard `shard`.
pub fn status_partition(status: JobStatus, shard: u32) -> String {
    format!("{}#{shard}", status.as_str())
}

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not one this API returned (use the nextCursor of a previous page, unchanged)")]
pub struct BadCursor;

/// The shape of every cursor (documented in the API): any text of this shape is a valid
/// position, so a cursor is either usable or refused as malformed, never half-understood.
pub const CURSOR_PATTERN: &str = "^[0-8][0-9]{18}-[0-9a-f]{32}$";

/// The cursor that continues below `sort_key`: the job's creation time in nanoseconds
/// since the epoch and its id, `<19 digits>-<32 hex>`. Clients treat it as opaque.
pub fn encode_cursor(sort_key: &str) -> String {
    let (time, id) = sort_key.split_once('#').expect("a sort key has a time and an id");
    let nanos = DateTime::parse_from_rfc3339(time)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .expect("a sort key's time is RFC 3339 within the nanosecond range");
    let id = Uuid::parse_str(id).expect("a sort key ends in a job id");
    format!("{nanos:019}-{}", id.simple())
}

/// The sort key a cursor continues below; refuses anything not of [`CURSOR_PATTERN`].
pub fn decode_cursor(cursor: &str) -> Result<String, BadCursor> {
    let (nanos, id) = cursor.split_once('-').ok_or(BadCursor)?;
    let shaped = nanos.len() == 19
        && nanos.bytes().all(|b| b.is_ascii_digit())
        && !nanos.starts_with('9')
        && id.len() == 32
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !shaped {
        return Err(BadCursor);
    }
    let nanos: i64 = nanos.parse().map_err(|_| BadCursor)?;
    let id = Uuid::parse_str(id).map_err(|_| BadCursor)?;
    let time = DateTime::from_timestamp_nanos(nanos);
    Ok(format!("{}#{id}", time.to_rfc3339_opts(SecondsFormat::Nanos, true)))
}

/// What one shard gave for a page: rows that pass the filters, newest first, and whether
/// it has more below them.
#[derive(Debug, Clone, Default)]
pub struct ShardRead {
    pub rows: Vec<JobSummary>,
    /// The sort key of the last item the shard evaluated, if it has more below it.
    pub more_below: Option<String>,
}

/// Merges the shards' reads into one page of at most `limit` rows, newest first.
///
/// A row may be returned only if no unread row is newer: every shard that has more below
/// its last evaluated key `f` holds unread rows older than `f` only, so rows at or above
/// the highest such `f` are safe. Unfiltered, each shard reads `limit` rows, and the
/// page is always full (or the end). With filters a shard may stop before it found
/// `limit` matches; the page is then shorter, and the cursor continues at that bound.
pub fn merge(reads: Vec<ShardRead>, limit: usize) -> JobPage {
    let bound = reads.iter().filter_map(|r| r.more_below.clone()).max();
    let mut rows: Vec<JobSummary> = reads.into_iter().flat_map(|r| r.rows).collect();
    rows.sort_by(|a, b| b.sort_key.cmp(&a.sort_key));
    rows.dedup_by(|a, b| a.sort_key == b.sort_key);
    if let Some(bound) = &bound {
        rows.retain(|r| &r.sort_key >= bound);
    }
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| encode_cursor(&r.sort_key));
        return JobPage { jobs: rows, next };
    }
    // Everything at or above the bound was evaluated in every shard.
    let next = match (&bound, rows.last()) {
        (None, _) => None,
        (Some(_), Some(last)) if rows.len() == limit => Some(encode_cursor(&last.sort_key)),
        (Some(bound), _) => Some(encode_cursor(bound)),
    };
    JobPage { jobs: rows, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobSource;
    use serde_json::json;

    fn row(secs: i64, status: JobStatus) -> JobSummary {
        let created = DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap();
        let mut job = Job::new(Uuid::now_v7(), "sleep", json!({}), 3, JobSource::Api, None, created);
        job.status = status;
        JobSummary::from(&job)
    }

    #[test]
    fn an_error_summary_keeps_short_errors_and_cuts_long_ones_at_a_character() {
        assert_eq!(error_summary("boom"), "boom");
        let exact = "é".repeat(ERROR_SUMMARY_CHARS);
        assert_eq!(error_summary(&exact), exact);
        let long = format!("{}tail", "é".repeat(ERROR_SUMMARY_CHARS));
        let cut = error_summary(&long);
        assert_eq!(cut.chars().count(), ERROR_SUMMARY_CHARS);
        assert!(cut.ends_with("é…"), "{cut}");
        let mut job = Job::new(Uuid::now_v7(), "sleep", json!({}), 3, JobSource::Api, None, Utc::now());
        job.last_error = Some("x".repeat(8 * 1024));
        let shown = JobSummary::from(&job).last_error.unwrap();
        assert_eq!(shown.chars().count(), ERROR_SUMMARY_CHARS);
    }

    #[test]
    fn sort_keys_order_by_time_then_id() {
        let a = row(1, JobStatus::Queued);
        let b = row(2, JobStatus::Queued);
        assert!(b.sort_key > a.sort_key);
        assert!(
            a.sort_key.starts_with("2027-01-15T08:00:01.000000000Z#"),
            "{}",
            a.sort_key
        );
    }

    #[test]
    fn cursor_round_trips_and_refuses_anything_else() {
        let key = row(1, JobStatus::Queued).sort_key;
        assert_eq!(decode_cursor(&encode_cursor(&key)), Ok(key.clone()));
        let cursor = encode_cursor(&key);
        assert!(cursor.len() == 52 && cursor.as_bytes()[19] == b'-', "{cursor}");
        for bad in [
            "",
            "x",
            "%%%",
            "9223372036854775807-0123456789abcdef0123456789abcdef",
            "1800000000000000000-0123456789ABCDEF0123456789ABCDEF",
            "180000000000000000-0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(decode_cursor(bad), Err(BadCursor), "{bad}");
        }
        // Any text of the documented shape is a position.
        assert!(decode_cursor("0000000000000000000-00000000000000000000000000000000").is_ok());
        assert!(decode_cursor("8999999999999999999-ffffffffffffffffffffffffffffffff").is_ok());
    }

    #[test]
    fn merge_interleaves_shards_and_continues_below_the_last_row() {
        let (a, b, c, d) = (
            row(4, JobStatus::Queued),
            row(3, JobStatus::Queued),
            row(2, JobStatus::Queued),
            row(1, JobStatus::Queued),
        );
        let reads = vec![
            ShardRead {
                rows: vec![a.clone(), c.clone()],
                more_below: Some(c.sort_key.clone()),
            },
            ShardRead {
                rows: vec![b.clone(), d.clone()],
                more_below: None,
            },
        ];
        let page = merge(reads, 2);
        assert_eq!(page.jobs, vec![a, b.clone()]);
        assert_eq!(decode_cursor(&page.next.unwrap()), Ok(b.sort_key));
    }

    #[test]
    fn merge_never_returns_a_row_an_unfinished_shard_could_precede() {
        let (new, mid, old) = (
            row(3, JobStatus::Failed),
            row(2, JobStatus::Failed),
            row(1, JobStatus::Failed),
        );
        // Shard 0 stopped (filtered) at `mid` without finding a match; shard 1 is done.
        let reads = vec![
            ShardRead {
                rows: vec![],
                more_below: Some(mid.sort_key.clone()),
            },
            ShardRead {
                rows: vec![new.clone(), old],
                more_below: None,
            },
        ];
        let page = merge(reads, 10);
        assert_eq!(page.jobs, vec![new]);
        assert_eq!(decode_cursor(&page.next.unwrap()), Ok(mid.sort_key));
    }

    #[test]
    fn merge_of_finished_shards_is_the_end() {
        let page = merge(
            vec![ShardRead {
                rows: vec![row(1, JobStatus::Queued)],
                more_below: None,
            }],
            5,
        );
        assert_eq!(page.jobs.len(), 1);
        assert_eq!(page.next, None);
    }

    #[test]
    fn filters_admit_matching_rows_only() {
        let failed = row(1, JobStatus::Failed);
        let query = ListQuery {
            status: Some(JobStatus::Failed),
            task: Some("sleep".into()),
            source: Some(SourceKind::Api),
            submitted_by: None,
            limit: 10,
            before: None,
        };
        assert!(query.admits(&failed));
        let mine = JobSummary {
            submitted_by: Some("alice".into()),
            ..failed.clone()
        };
        let alice = ListQuery {
            submitted_by: Some("alice".into()),
            ..query.clone()
        };
        assert!(
            alice.admits(&mine) && !alice.admits(&failed),
            "another's (or nobody's) job is not alice's"
        );
        assert!(!query.admits(&row(1, JobStatus::Queued)));
        assert!(
            !ListQuery {
                task: Some("fail".into()),
                ..query.clone()
            }
            .admits(&failed)
        );
        assert!(
            !ListQuery {
                source: Some(SourceKind::Schedule),
                ..query
            }
            .admits(&failed)
        );
    }
}
