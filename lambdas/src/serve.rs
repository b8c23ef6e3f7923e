//! Runs a router on AWS Lambda (when `AWS_LAMBDA_RUNTIME_API` is set) or on a local socket
//! (`JOBS_API_ADDR`, default `127.0.0.1:3000`).

use axum::Router;
use job_core::config::ConfigError;
use tracing::info;

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
    let addr = std::env::var("JOBS_API_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (set JOBS_API_ADDR to change it): {e}"))?;
    info!(addr = %listener.local_addr()?, "API listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(job_core::shutdown::signal())
        .await?;
    Ok(())
}

/// A configuration error at start-up, printed as its message (`main` prints errors with `Debug`).
struct StartupError(ConfigError);

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
