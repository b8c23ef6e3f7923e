//! `data-processor`: the job worker binary.
//!
//! ```text
//! data-processor --once             one message, then exit (a KEDA ScaledJob pod)
//! data-processor [--concurrency N]  receive until SIGTERM/Ctrl-C (local runs; default N = 4)
//! ```
//! Exit 0 when done, 1 on an infrastructure failure (so Kubernetes retries the pod), 2 on
//! bad arguments or configuration.

use std::process::ExitCode;
use std::sync::Arc;

use data_processor::tasks::registry;
use data_processor::{Worker, WorkerSettings};
use job_core::queue::SqsQueue;
use job_core::store::DynamoDbStore;
use job_core::{Config, aws, telemetry};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

enum Mode {
    Once,
    Loop(usize),
}

fn parse_args() -> Result<Mode, String> {
    let mut args = std::env::args().skip(1);
    let mut mode = Mode::Loop(4);
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
    let sdk = aws::sdk_config().await;
    let store = Arc::new(DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.table_name,
        config.stats_shards,
    ));
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.queue_url));
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let worker = Arc::new(Worker::new(
        store,
        queue,
        registry(),
        WorkerSettings::from(&config),
        shutdown,
    ));
    match mode {
        Mode::Once => match worker.run_once().await {
            Ok(outcome) => {
                info!(?outcome, "done");
                ExitCode::SUCCESS
            }
            Err(err) => {
                error!(error = %err, "infrastructure failure");
                ExitCode::FAILURE
            }
        },
        Mode::Loop(concurrency) => {
            info!(concurrency, queue = %config.queue_url, "worker started");
            worker.run(concurrency).await;
            info!("worker stopped");
            ExitCode::SUCCESS
        }
    }
}

async fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    info!("shutdown requested: no new messages; finishing the running attempt");
    token.cancel();
}
