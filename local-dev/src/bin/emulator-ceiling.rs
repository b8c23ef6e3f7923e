//! `emulator-ceiling`: replays the request mix of successful jobs straight at the
//! emulator, as fast as it takes them (`local_dev::ceiling`).
//!
//! ```text
//! emulator-ceiling [--jobs N] [--submitters N] [--concurrency N] [--batch N]
//! ```
//! Reads the queue and table like the worker (`JOBS_QUEUE_URL`, `JOBS_TABLE_NAME`, ...;
//! `AWS_ENDPOINT_URL` must name a local emulator). Prints `CEILING_JOBS=`, `CEILING_MS=`
//! and `CEILING_JOBS_PER_SEC=`. Exit 1 if the replay fails, 2 on bad arguments.

use std::process::ExitCode;
use std::sync::Arc;

use job_core::Config;
use job_core::adapters::AwsAdapters;
use local_dev::ceiling::{Replay, replay};

const USAGE: &str = "usage: emulator-ceiling [--jobs N] [--submitters N] [--concurrency N] [--batch N]";

fn parse_args(visibility: std::time::Duration) -> Result<Replay, String> {
    let mut replay = Replay {
        jobs: 200,
        submitters: 16,
        concurrency: 10,
        batch: 10,
        visibility,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .ok_or(format!("{arg} needs a positive number; {USAGE}"))?;
        match arg.as_str() {
            "--jobs" => replay.jobs = value,
            "--submitters" => replay.submitters = value,
            "--concurrency" => replay.concurrency = value,
            "--batch" => replay.batch = value,
            _ => return Err(format!("unknown argument {arg:?}; {USAGE}")),
        }
    }
    Ok(replay)
}

#[tokio::main]
async fn main() -> ExitCode {
    job_core::telemetry::init();
    let parsed = Config::from_env()
        .map_err(|e| e.to_string())
        .and_then(|config| Ok((parse_args(config.visibility_timeout)?, config)))
        .and_then(|(replay, config)| {
            if local_dev::emulator::is_emulator() {
                Ok((replay, config))
            } else {
                Err("AWS_ENDPOINT_URL must name a local emulator: this replays load, never against AWS".to_owned())
            }
        });
    let (settings, config) = match parsed {
        Ok(ok) => ok,
        Err(message) => {
            eprintln!("emulator-ceiling: {message}");
            return ExitCode::from(2);
        }
    };
    let aws = match AwsAdapters::load(config).await {
        Ok(aws) => aws,
        Err(err) => {
            eprintln!("emulator-ceiling: {err}");
            return ExitCode::from(2);
        }
    };
    match replay(Arc::new(aws.store()), Arc::new(aws.queue()), settings).await {
        Ok(took) => {
            let ms = took.as_secs_f64() * 1000.0;
            println!("CEILING_JOBS={}", settings.jobs);
            println!("CEILING_MS={ms:.0}");
            println!("CEILING_JOBS_PER_SEC={:.1}", settings.jobs as f64 / took.as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("emulator-ceiling: {err}");
            ExitCode::FAILURE
        }
    }
}
