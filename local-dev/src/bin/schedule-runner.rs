//! `schedule-runner`: a local stand-in for EventBridge Scheduler's firing. Emulators keep
//! schedules but never fire them; this lists the schedules of `JOBS_SCHEDULE_GROUP` every
//! few seconds and sends each due run to `JOBS_QUEUE_URL`, as Scheduler would (see
//! `local_dev::local_runner`).
//!
//! ```text
//! schedule-runner [--interval SECS]   check every SECS seconds (default 5)
//! ```
//! Never deployed: it refuses to start unless `AWS_ENDPOINT_URL` points at an emulator
//! (on AWS, Scheduler fires the schedules, and a runner would queue every run twice).
//! Exit 0 on SIGTERM/Ctrl-C, 2 on bad arguments or configuration.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use job_core::adapters::AwsAdapters;
use job_core::{Config, shutdown, telemetry};
use local_dev::clock::SystemClock;
use local_dev::emulator::is_emulator;
use local_dev::local_runner::LocalRunner;
use tracing::info;

const USAGE: &str = "usage: schedule-runner [--interval SECS]";

fn parse_args() -> Result<Duration, String> {
    let mut args = std::env::args().skip(1);
    let mut interval = Duration::from_secs(5);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--interval" => {
                let secs = args
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|s| (1..=60).contains(s));
                interval = Duration::from_secs(secs.ok_or("--interval needs a whole number of seconds from 1 to 60")?);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    if !is_emulator() {
        return Err(
            "schedule-runner stands in for EventBridge Scheduler on an emulator only: set AWS_ENDPOINT_URL \
                    to the emulator (on AWS, Scheduler fires the schedules itself)"
                .into(),
        );
    }
    Ok(interval)
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let (interval, config) = match parse_args().and_then(|i| Ok((i, Config::from_env().map_err(|e| e.to_string())?))) {
        Ok(ok) => ok,
        Err(message) => {
            eprintln!("schedule-runner: {message}");
            return ExitCode::from(2);
        }
    };
    let aws = match AwsAdapters::load(config.clone()).await {
        Ok(aws) => aws,
        Err(err) => {
            eprintln!("schedule-runner: {err}");
            return ExitCode::from(2);
        }
    };
    let runner = LocalRunner::new(
        Arc::new(aws.schedule_reader()),
        Arc::new(aws.queue()),
        Arc::new(SystemClock),
    );
    info!(group = %config.schedule_group, queue = %config.queue_url, interval_secs = interval.as_secs(),
          "schedule runner started: firing due schedules into the queue");
    runner.run(interval, shutdown::signal()).await;
    info!("schedule runner stopped");
    ExitCode::SUCCESS
}
