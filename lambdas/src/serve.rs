//! Runs a router on AWS Lambda (when `AWS_LAMBDA_RUNTIME_API` is set) or on a local socket
//! (`JOBS_API_ADDR`, default `127.0.0.1:3000`).
//!
//! The local server reads a request's headers within [`HEADER_READ_TIMEOUT`] or closes the
//! connection, and the body extractor gives a body 10 s (`extract::BODY_READ_TIMEOUT`), so a
//! client that stops sending mid-request never holds a connection for good. (On AWS, API
//! Gateway buffers whole requests before the Lambda sees them.)
//!
//! The local server also limits each route's request rate as API Gateway's stage does
//! ([`crate::throttle`], `settings/throttles.json`); `JOBS_API_THROTTLE=off` turns that off
//! (for load tests that measure the system behind the API).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use job_core::config::ConfigError;
use tokio::net::TcpListener;
use tracing::{debug, info};

use crate::state::AppState;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Builds the state from the environment and serves `routes(state)` until shutdown.
pub async fn serve(routes: fn(AppState) -> Router) -> Result<(), BoxError> {
    run(routes, false).await
}

/// [`serve`] for route groups with the schedule routes: without the scheduler settings
/// (`JOBS_SCHEDULER_ROLE_ARN`) it fails at start-up, naming the variable.
pub async fn serve_with_schedules(routes: fn(AppState) -> Router) -> Result<(), BoxError> {
    run(routes, true).await
}

async fn run(routes: fn(AppState) -> Router, needs_schedules: bool) -> Result<(), BoxError> {
    job_core::telemetry::init();
    let state = AppState::from_env().await.map_err(StartupError::from)?;
    if needs_schedules {
        state.require_schedules().map_err(StartupError::from)?;
    }
    let app = routes(state);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_http::run(app).await;
    }
    let app = match std::env::var("JOBS_API_THROTTLE").as_deref() {
        Err(_) | Ok("on") => crate::throttle::limited(app, &crate::throttle::Throttles::from_settings()),
        Ok("off") => app,
        Ok(other) => return Err(format!("JOBS_API_THROTTLE is {other:?}; expected on or off").into()),
    };
    let addr = std::env::var("JOBS_API_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (set JOBS_API_ADDR to change it): {e}"))?;
    info!(addr = %listener.local_addr()?, "API listening");
    serve_on(listener, app, HEADER_READ_TIMEOUT, job_core::shutdown::signal()).await
}

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (HTTP/1.1) until `shutdown`, closing connections whose request
/// headers do not arrive within `header_timeout`; then lets running requests finish for up
/// to 5 s.
pub async fn serve_on(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    debug!(error = %err, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(err) = served {
                debug!(%peer, error = %err, "connection closed");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        connections.abort_all();
    }
    Ok(())
}

/// A configuration error at start-up, printed as its message (`main` prints errors with `Debug`).
pub(crate) struct StartupError(pub(crate) ConfigError);

impl From<ConfigError> for StartupError {
    fn from(err: ConfigError) -> Self {
        Self(err)
    }
}

impl std::fmt::Debug for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for StartupError {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_disconnected() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_on(listener, app, Duration::from_millis(300), async {
            stopped.await.ok();
        }));

        let mut healthy = tokio::net::TcpStream::connect(addr).await.unwrap();
        healthy
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        healthy.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");

        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // and nothing more
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the connection stayed open");
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    /// A client that writes a whole 2 MiB body before it reads (as Python's urllib does)
    /// reads the 413, and the connection serves its next request.
    #[tokio::test]
    async fn a_client_that_sends_a_whole_large_body_first_reads_the_413() {
        use job_core::queue::MemoryQueue;
        use job_core::store::MemoryStore;
        use std::sync::Arc;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_on(
            listener,
            crate::routes::all(state),
            HEADER_READ_TIMEOUT,
            async {
                stopped.await.ok();
            },
        ));

        let body = vec![b' '; 2 * 1024 * 1024];
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        client.write_all(head.as_bytes()).await.unwrap();
        client.write_all(&body).await.expect("the server reads the whole body");
        client
            .write_all(b"GET /jobs/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_string(&mut answer))
            .await
            .expect("answered")
            .expect("no connection reset");
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("body_too_large"), "{answer}");
        assert_eq!(
            answer.matches("HTTP/1.1 ").count(),
            2,
            "the next request was served: {answer}"
        );

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
