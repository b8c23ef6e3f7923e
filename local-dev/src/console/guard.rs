//! The console's guard: only its own user, in their own browser tab, may drive it.
//!
//! Checked for every request, in this order, before anything is served or forwarded:
//! 1. `Host` must be the console's own loopback address (`127.0.0.1:<port>`, or
//!    `localhost:<port>`): a name of another site rebound to 127.0.0.1 is refused (`421`).
//! 2. A state-changing method (anything but GET, HEAD, OPTIONS) needs `Origin` equal to
//!    the console's own, or, without `Origin`, `Sec-Fetch-Site: same-origin` (`403`).
//! 3. This run's secret: `GET /?secret=<secret>` (the URL the console prints) sets it as
//!    an `HttpOnly; SameSite=Strict` cookie and redirects to `/`; every other request must
//!    carry that cookie (`401`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error;

/// The cookie that holds the secret.
pub const COOKIE: &str = "jobs_console";

/// What a request must show to be served.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `Host` values of the console itself.
    hosts: Vec<String>,
    secret: String,
}

impl Guard {
    /// For a console listening on `addr` (a loopback address) with a fresh random secret.
    pub fn new(addr: SocketAddr) -> Result<Self, super::ConsoleError> {
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        Self::with_secret(addr, secret)
    }

    /// For a console listening on `addr` with the given secret (tests).
    pub fn with_secret(addr: SocketAddr, secret: String) -> Result<Self, super::ConsoleError> {
        if !addr.ip().is_loopback() {
            return Err(super::ConsoleError::NotLoopback(addr.to_string()));
        }
        let port = addr.port();
        Ok(Self {
            hosts: vec![addr.to_string(), format!("localhost:{port}")],
            secret,
        })
    }

    /// The URL to open: the console's address with this run's secret.
    pub fn url(&self) -> String {
        format!("http://{}/?secret={}", self.hosts[0], self.secret)
    }

    fn refusal(&self, request: &Request) -> Option<Response> {
        let headers = request.headers();
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !self.hosts.iter().any(|own| own.eq_ignore_ascii_case(host)) {
            return Some(error(
                StatusCode::MISDIRECTED_REQUEST,
                "foreign_host",
                format!(
                    "the console answers requests for {} only, not for Host {host:?}",
                    self.hosts[0]
                ),
            ));
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) && !self.same_origin(headers) {
            return Some(error(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "the console takes changes from its own page only (Origin or Sec-Fetch-Site is not its own)",
            ));
        }
        None
    }

    fn same_origin(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            Some(origin) => self
                .hosts
                .iter()
                .any(|own| origin.eq_ignore_ascii_case(&format!("http://{own}"))),
            None => headers.get("sec-fetch-site").is_some_and(|s| s == "same-origin"),
        }
    }

    fn has_secret(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == COOKIE && same_bytes(value.as_bytes(), self.secret.as_bytes()))
    }
}

/// Compares in time independent of where the inputs differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The layer: refuses what the guard refuses, turns the printed URL into the cookie.
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if let Some(refused) = guard.refusal(&request) {
        return refused;
    }
    let offered = request
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("secret="));
    if let Some(offered) = offered {
        if request.uri().path() != "/" || !same_bytes(offered.as_bytes(), guard.secret.as_bytes()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "bad_secret",
                "that is not this console's URL; open the one it printed",
            );
        }
        let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", guard.secret);
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    if !guard.has_secret(request.headers()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "no_secret",
            "open the URL `make console` printed: it carries this run's secret",
        );
    }
    next.run(request).await
}
