//! JSON request bodies: size limit, content type and parse errors turned into API errors.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest request body accepted, well below the SQS and DynamoDB item limits.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a request body may take to arrive: a body that never ends (a chunked upload
/// left open) gets a 408 instead of holding the connection.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How much of a body over [`MAX_BODY_BYTES`] is still read (and dropped) before the 413
/// goes out: a client that sends its whole body before it reads (Python's `urllib`, most
/// simple clients) then reads the 413 instead of a connection reset. API Gateway takes
/// nothing over 10 MB; a body past this closes the connection.
pub const DRAIN_LIMIT_BYTES: usize = 10 * 1024 * 1024;

/// Why a body was not read.
enum BodyFailure {
    TooLarge,
    Broken,
}

/// The body, if it is at most [`MAX_BODY_BYTES`]; a larger one is read on to its end and
/// dropped as it arrives, up to [`DRAIN_LIMIT_BYTES`].
async fn read_body(mut body: Body) -> Result<Vec<u8>, BodyFailure> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyFailure::Broken)?.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= MAX_BODY_BYTES {
            kept.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT_BYTES {
            return Err(BodyFailure::TooLarge);
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(BodyFailure::TooLarge);
    }
    Ok(kept)
}

/// An optional JSON body: `None` when the body is empty.
///
/// A body must say it is JSON (`application/json` or `application/*+json`); any other
/// content type, or none, is a 415. That is also what keeps a web page out: the types a
/// page may send cross-origin without a CORS preflight (a form's, `text/plain`, or none
/// from a `Blob`) are all refused, so a `no-cors` fetch cannot submit or change anything.
/// `curl -d` sends a form's type: `curl --json` (curl 7.82+) sends JSON's.
pub struct JsonBody<T>(pub Option<T>);

/// How to send JSON, in every 415's message.
pub const HOW_TO_SEND_JSON: &str = "send the body as JSON with the header Content-Type: application/json (curl --json '{...}', or -H 'content-type: application/json')";

fn content_type_ok(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else { return false };
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body exceeds the limit of {MAX_BODY_BYTES} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // A client that waits for `100 Continue` has sent nothing yet: answer at once.
        let waits_to_send = req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if declared.is_some_and(|n| n > MAX_BODY_BYTES && (waits_to_send || n > DRAIN_LIMIT_BYTES)) {
            return Err(too_large());
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_owned());
        let bytes = tokio::time::timeout(BODY_READ_TIMEOUT, read_body(req.into_body()))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        BODY_READ_TIMEOUT.as_secs()
                    ),
                )
            })?
            .map_err(|failure| match failure {
                BodyFailure::TooLarge => too_large(),
                BodyFailure::Broken => ApiError::bad_request("invalid_request", "the request body could not be read"),
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !content_type_ok(content_type.as_deref()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                match content_type {
                    Some(ct) => format!("content type {ct:?} is not JSON; {HOW_TO_SEND_JSON}"),
                    None => format!("the request body has no content type; {HOW_TO_SEND_JSON}"),
                },
            ));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request("malformed_json", format!("request body is not valid JSON: {e}")))?;
        // Every body of this API is an object (or null); serde would also read a struct
        // from an array of its fields, which the document does not allow.
        if !matches!(value, Value::Object(_) | Value::Null) {
            return Err(ApiError::bad_request(
                "invalid_request",
                "request body does not fit the schema: it must be a JSON object",
            ));
        }
        serde_json::from_value(value)
            .map(|v| Self(Some(v)))
            .map_err(|e| ApiError::bad_request("invalid_request", format!("request body does not fit the schema: {e}")))
    }
}

/// `deserialize_with` for a task input: a JSON object or `null`, as the document says;
/// anything else does not fit the schema.
pub fn object_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(deserializer)?.map_or(Value::Null, Value::Object))
}
