//! `data-processor`: the job worker binary.
//!
//! ```text
//! data-processor --once             one message, then exit (a KEDA ScaledJob pod)
//! data-processor [--concurrency N]  receive until SIGTERM/Ctrl-C (local runs; default N = 10)
//! ```
//! Exit 0 when done, 1 on an infrastructure failure (so Kubernetes retries the pod), 2 on
//! bad arguments or configuration.
//!
//! After SIGTERM the process ends within `JOBS_SHUTDOWN_GRACE_SECS` plus
//! [`SHUTDOWN_MARGIN`], whatever AWS does: if giving the job back does not finish in that
//! time (the network hangs), it exits anyway and the job's lease runs out as after a crash.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use data_processor::tasks::registry;
use data_processor::{Worker, WorkerSettings};
use job_core::adapters::AwsAdapters;
use job_core::{Config, shutdown, telemetry};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// How long after the shutdown grace the worker may still take to give a job back; below
/// the pod's termination grace margin (`TERMINATION_GRACE_MARGIN_SECS` in the chart).
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(3);

/// Jobs a loop-mode process runs at once: one long poll can take a full batch (10).
const DEFAULT_CONCURRENCY: usize = 10;

enum Mode {
    Once,
    Loop(usize),
}

fn parse_args() -> Result<Mode, String> {
    let mut args = std::env::args().skip(1);
    let mut mode = Mode::Loop(DEFAULT_CONCURRENCY);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => mode = Mode::Once,
            "--concurrency" => {
                let n = args.next().and_then(|v| v.parse().ok()).filter(|n: &usize| *n > 0);
                mode = Mode::Loop(n.ok_or("--concurrency needs a positive number")?);
            }
            "-h" | "--help" => return Err("usage: data-processor [--once | --concurrency N]".into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: data-processor [--once | --concurrency N]"
                ));
            }
        }
    }
    Ok(mode)
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let (mode, config) = match parse_args().and_then(|m| Ok((m, Config::from_env().map_err(|e| e.to_string())?))) {
        Ok(ok) => ok,
        Err(message) => {
            eprintln!("data-processor: {message}");
            return ExitCode::from(2);
        }
    };
    let aws = match AwsAdapters::load(config.clone()).await {
        Ok(aws) => aws,
        Err(err) => {
            eprintln!("data-processor: {err}");
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let deadline = hard_deadline(shutdown.clone(), config.shutdown_grace + SHUTDOWN_MARGIN);
    let worker = Arc::new(Worker::new(
        Arc::new(aws.store()),
        Arc::new(aws.queue()),
        registry(),
        WorkerSettings::from(&config),
        shutdown,
    ));
    match mode {
        Mode::Once => match bounded(worker.run_once(), deadline).await {
            None => ExitCode::SUCCESS,
            Some(Ok(outcome)) => {
                info!(?outcome, "done");
                ExitCode::SUCCESS
            }
            Some(Err(err)) => {
                error!(error = %err, "infrastructure failure");
                ExitCode::FAILURE
            }
        },
        Mode::Loop(concurrency) => {
            info!(concurrency, queue = %config.queue_url, "worker started");
            if bounded(worker.run(concurrency), deadline).await.is_some() {
                info!("worker stopped");
            }
            ExitCode::SUCCESS
        }
    }
}

async fn cancel_on_signal(token: CancellationToken) {
    shutdown::signal().await;
    info!("shutdown requested: no new messages; finishing the running attempt");
    token.cancel();
}

/// Completes `bound` after shutdown was requested.
async fn hard_deadline(shutdown: CancellationToken, bound: Duration) {
    shutdown.cancelled().await;
    tokio::time::sleep(bound).await;
}

/// `work`'s result, or `None` when `deadline` came first (logged).
async fn bounded<T>(work: impl Future<Output = T>, deadline: impl Future<Output = ()>) -> Option<T> {
    tokio::select! {
        out = work => Some(out),
        () = deadline => {
            warn!("shutdown grace and margin are over and AWS has not answered; exiting without giving the job back (its lease runs out)");
            None
        }
    }
}
