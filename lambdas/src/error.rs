//! API errors: a status, a stable machine-readable code and a message that names the problem;
//! and how each domain error of the use cases maps to one.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use job_core::application::cancel::CancelError;
use job_core::application::jobs::SubmitError;
use job_core::application::list::ListError;
use job_core::application::rerun::RerunError;
use job_core::application::schedules::{CreateScheduleError, HistoryError};
use job_core::caller::NotOwner;
use job_core::queue::QueueError;
use job_core::schedules::ScheduleError;
use job_core::store::StoreError;
use job_core::tasks::ValidationError;
use serde::Serialize;
use tracing::error;
use utoipa::ToSchema;

/// An error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `malformed_json`, `unknown_task`, `not_found`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    fn unavailable(detail: &dyn std::fmt::Display) -> Self {
        error!(error = %detail, "backend unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "backend_unavailable",
            "a backing service is unavailable; try again shortly",
        )
    }

    fn internal(detail: &dyn std::fmt::Display) -> Self {
        error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<NotOwner> for ApiError {
    fn from(err: NotOwner) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", err.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::unavailable(&err),
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the job changed concurrently; try again",
            ),
            StoreError::Other(_) => Self::internal(&err),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Unavailable(_) | QueueError::NotSent(_) => Self::unavailable(&err),
            QueueError::Other(_) => Self::internal(&err),
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(err: ScheduleError) -> Self {
        match err {
            ScheduleError::Exists(name) => Self::conflict(
                "schedule_exists",
                format!("a schedule named {name:?} already exists; pick another name or delete it first"),
            ),
            ScheduleError::NotFound(name) => Self::not_found(format!("schedule {name:?} not found")),
            ScheduleError::Rejected(detail) => Self::bad_request(
                "schedule_rejected",
                format!("the scheduler rejected the schedule: {detail}"),
            ),
            ScheduleError::Unavailable(_) => Self::unavailable(&err),
            ScheduleError::BadToken(_) => Self::bad_request(
                "invalid_cursor",
                "cursor is not one this API gave out, or has expired; list from the first page again",
            ),
            ScheduleError::NotOwner(e) => e.into(),
            ScheduleError::Other(_) => Self::internal(&err),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        match err {
            ValidationError::UnknownTask { .. } => Self::bad_request("unknown_task", err.to_string()),
            ValidationError::InvalidInput { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", err.to_string())
            }
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(err: SubmitError) -> Self {
        match err {
            SubmitError::Task(e) => e.into(),
            SubmitError::InvalidIdempotencyKey => Self::bad_request("invalid_idempotency_key", err.to_string()),
            SubmitError::IdempotencyKeyReused { .. } => Self::conflict("idempotency_key_reused", err.to_string()),
            SubmitError::IdempotencyKeyTaken { .. } => Self::conflict("idempotency_key_taken", err.to_string()),
            SubmitError::Store(e) => e.into(),
            SubmitError::Queue(e) => e.into(),
        }
    }
}

impl From<CreateScheduleError> for ApiError {
    fn from(err: CreateScheduleError) -> Self {
        let message = err.to_string();
        match err {
            CreateScheduleError::Task(e) => e.into(),
            CreateScheduleError::Schedules(e) => e.into(),
            CreateScheduleError::InvalidName(_) => Self::bad_request("invalid_name", message),
            CreateScheduleError::CronTooLong(_) | CreateScheduleError::InvalidCron(_) => {
                Self::bad_request("invalid_cron", message)
            }
            CreateScheduleError::InvalidTimezone(_) => Self::bad_request("invalid_timezone", message),
            CreateScheduleError::NoFutureRuns { .. } => Self::bad_request("no_future_runs", message),
            CreateScheduleError::InputTooLarge(_) => Self::bad_request("input_too_large", message),
            CreateScheduleError::ChangeNotLogged(_)
            | CreateScheduleError::PreviousRunUnread(_)
            | CreateScheduleError::Lease(_) => Self::unavailable(&err),
            CreateScheduleError::Busy(_) => Self::new(StatusCode::CONFLICT, "schedule_busy", message),
            CreateScheduleError::LimitReached(_) => Self::new(StatusCode::CONFLICT, "schedule_limit_reached", message),
            CreateScheduleError::InvalidOverlap(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_overlap", message)
            }
        }
    }
}

impl From<HistoryError> for ApiError {
    fn from(err: HistoryError) -> Self {
        match err {
            HistoryError::InvalidRuns(_) => Self::bad_request("invalid_runs", err.to_string()),
            HistoryError::Schedules(e) => e.into(),
            HistoryError::Store(e) => e.into(),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(err: ListError) -> Self {
        let message = err.to_string();
        match err {
            ListError::InvalidStatus(_) => Self::bad_request("invalid_status", message),
            ListError::InvalidSource(_) => Self::bad_request("invalid_source", message),
            ListError::InvalidLimit(_) => Self::bad_request("invalid_limit", message),
            ListError::InvalidTask => Self::bad_request("invalid_request", message),
            ListError::InvalidCursor(_) => Self::bad_request("invalid_cursor", message),
            ListError::InvalidSubmitter => Self::bad_request("invalid_submitter", message),
            ListError::Store(e) => e.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(err: CancelError) -> Self {
        let message = err.to_string();
        match err {
            CancelError::NotFound(_) => Self::not_found(message),
            CancelError::Finished { .. } => Self::conflict("job_finished", message),
            CancelError::NotOwner(e) => e.into(),
            CancelError::Store(e) => e.into(),
        }
    }
}

impl From<RerunError> for ApiError {
    fn from(err: RerunError) -> Self {
        let message = err.to_string();
        match err {
            RerunError::NotFound(_) => Self::not_found(message),
            RerunError::NotRerunnable { .. } => Self::conflict("not_rerunnable", message),
            RerunError::NotOwner(e) => e.into(),
            RerunError::Submit(e) => e.into(),
        }
    }
}
