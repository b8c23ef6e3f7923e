//! `make console API=https://…`: the status page on `JOBS_CONSOLE_ADDR` (default
//! `127.0.0.1:8080`), its API calls forwarded to the deployed API signed with SigV4.

use std::process::ExitCode;

use aws_config::BehaviorVersion;
use local_dev::console::{Guard, Upstream, router};

#[tokio::main]
async fn main() -> ExitCode {
    job_core::telemetry::init();
    let Some(api) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("API").ok())
        .filter(|a| !a.is_empty())
    else {
        eprintln!(
            "usage: make console API=https://<id>.execute-api.<region>.amazonaws.com/ (the stack's ApiUrl output)"
        );
        return ExitCode::from(2);
    };
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let Some(credentials) = sdk.credentials_provider() else {
        eprintln!("error: no AWS credentials provider is configured");
        return ExitCode::from(2);
    };
    let region = std::env::var("AWS_REGION")
        .ok()
        .or_else(|| sdk.region().map(|r| r.to_string()));
    let upstream = match Upstream::new(&api, region, credentials) {
        Ok(upstream) => upstream,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = upstream.check_credentials().await {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    let addr = std::env::var("JOBS_CONSOLE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        eprintln!("error: JOBS_CONSOLE_ADDR={addr:?} is not an address like 127.0.0.1:8080");
        return ExitCode::from(2);
    };
    if let Err(err) = Guard::with_secret(addr, String::new()) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {addr}: {err} (set JOBS_CONSOLE_ADDR)");
            return ExitCode::from(2);
        }
    };
    // The port may have been 0: the guard knows the address actually bound.
    let guard = match listener
        .local_addr()
        .map_err(|e| e.to_string())
        .and_then(|a| Guard::new(a).map_err(|e| e.to_string()))
    {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    println!(
        "console: {} -> {api}\n  (signed with your AWS credentials; the URL carries this run's secret: open it, share it with no one; Ctrl-C stops)",
        guard.url()
    );
    let serve = axum::serve(listener, router(upstream, guard)).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    match serve.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
