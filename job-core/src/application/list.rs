//! Listing jobs: the request as the API takes it, checked, then one page from the store.

use crate::caller::Caller;
use crate::job::JobStatus;
use crate::listing::{BadCursor, DEFAULT_LIMIT, JobPage, ListQuery, MAX_LIMIT, SourceKind, decode_cursor};
use crate::store::{JobStore, StoreError};

/// `GET /jobs`'s parameters as given; each is checked by [`list_jobs`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListRequest {
    pub status: Option<String>,
    pub task: Option<String>,
    pub source: Option<String>,
    /// A principal, or `me` for the caller's own jobs.
    pub submitted_by: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Why a listing request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("status {0:?} is not a job status; use one of QUEUED, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED")]
    InvalidStatus(String),
    #[error("source {0:?} is not a job source; use api or schedule")]
    InvalidSource(String),
    #[error("limit {0:?} must be a whole number from 1 to {MAX_LIMIT}")]
    InvalidLimit(String),
    #[error("task must not be empty")]
    InvalidTask,
    #[error("submittedBy must be a principal or me, not empty")]
    InvalidSubmitter,
    #[error(transparent)]
    InvalidCursor(#[from] BadCursor),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `submittedBy` value that names the caller itself.
pub const ME: &str = "me";

/// Checks the request and reads one page, newest first; `submittedBy=me` is `caller`'s jobs.
pub async fn list_jobs(store: &dyn JobStore, caller: &Caller, request: ListRequest) -> Result<JobPage, ListError> {
    let mut query = parse(request)?;
    if query.submitted_by.as_deref() == Some(ME) {
        query.submitted_by = Some(caller.principal().to_owned());
    }
    Ok(store.list(&query).await?)
}

fn parse(request: ListRequest) -> Result<ListQuery, ListError> {
    let status = request
        .status
        .map(|s| JobStatus::parse(&s.to_ascii_uppercase()).ok_or(ListError::InvalidStatus(s)))
        .transpose()?;
    let source = request
        .source
        .map(|s| SourceKind::parse(&s.to_ascii_lowercase()).ok_or(ListError::InvalidSource(s)))
        .transpose()?;
    let limit = match request.limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(ListError::InvalidLimit(text)),
        },
    };
    if request.task.as_deref().is_some_and(str::is_empty) {
        return Err(ListError::InvalidTask);
    }
    if request.submitted_by.as_deref().is_some_and(str::is_empty) {
        return Err(ListError::InvalidSubmitter);
    }
    let before = request.cursor.map(|c| decode_cursor(&c)).transpose()?;
    Ok(ListQuery {
        status,
        task: request.task,
        source,
        submitted_by: request.submitted_by,
        limit,
        before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: impl FnOnce(&mut ListRequest)) -> ListRequest {
        let mut r = ListRequest::default();
        f(&mut r);
        r
    }

    #[test]
    fn defaults_and_case_insensitive_filters() {
        let q = parse(ListRequest::default()).unwrap();
        assert_eq!(q.limit, DEFAULT_LIMIT);
        let q = parse(req(|r| {
            r.status = Some("failed".into());
            r.source = Some("Schedule".into());
            r.limit = Some("200".into());
        }))
        .unwrap();
        assert_eq!(q.status, Some(JobStatus::Failed));
        assert_eq!(q.source, Some(SourceKind::Schedule));
        assert_eq!(q.limit, 200);
    }

    #[test]
    fn bad_parameters_are_named() {
        for limit in ["0", "201", "-1", "ten", ""] {
            let err = parse(req(|r| r.limit = Some(limit.into()))).unwrap_err();
            assert!(matches!(err, ListError::InvalidLimit(_)), "{limit}");
            assert!(err.to_string().contains("limit"), "{err}");
        }
        assert!(matches!(
            parse(req(|r| r.status = Some("DONE".into()))),
            Err(ListError::InvalidStatus(_))
        ));
        assert!(matches!(
            parse(req(|r| r.source = Some("cron".into()))),
            Err(ListError::InvalidSource(_))
        ));
        assert!(matches!(
            parse(req(|r| r.submitted_by = Some(String::new()))),
            Err(ListError::InvalidSubmitter)
        ));
        for cursor in ["abc", ""] {
            assert!(matches!(
                parse(req(|r| r.cursor = Some(cursor.into()))),
                Err(ListError::InvalidCursor(_))
            ));
        }
    }
}
