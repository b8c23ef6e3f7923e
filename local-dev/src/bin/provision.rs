//! Creates the queue, dead-letter queue, table and schedule group for a local run (or any
//! account `AWS_ENDPOINT_URL`/credentials point at), then prints the matching
//! `JOBS_*` settings as shell assignments.
//!
//! `provision [--counting stream|inline] [PREFIX]` (default `local`): resources `PREFIX-jobs`,
//! `PREFIX-jobs-dlq`, group `PREFIX`. The table's counting mode is recorded on it (tag
//! `jobs:counting`) when it is created: `--counting`, else `JOBS_COUNTERS`, else the mode an
//! existing table already has, else `stream` (as the CDK app deploys). A `stream` table
//! gets a stream (new and old images) for the counter aggregator. The printed
//! `JOBS_COUNTERS` is the table's mode. Against an emulator (`AWS_ENDPOINT_URL` set) it
//! also prints a placeholder `JOBS_SCHEDULER_ROLE_ARN`, role `PREFIX-scheduler`: emulators
//! do not check it, and on AWS the CDK app creates the real role.

use std::process::ExitCode;

use job_core::counting::mode::{COUNTING_TAG, table_counting};
use job_core::stats::Counting;
use local_dev::emulator::is_emulator;
use local_dev::provision::{Plan, emulator_scheduler_role_arn, provision};

const USAGE: &str = "usage: provision [--counting stream|inline] [PREFIX]
  Creates PREFIX-jobs (queue and table), PREFIX-jobs-dlq and schedule group PREFIX (default
  PREFIX: local) where AWS_ENDPOINT_URL and the AWS credentials point, and prints their
  JOBS_* settings. --counting (else JOBS_COUNTERS, else an existing table's mode, else
  stream) is recorded on a new table as its tag jobs:counting and cannot change later.";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Args {
    Help,
    Provision { prefix: String, counting: Option<Counting> },
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut prefix = None;
    let mut counting = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Args::Help),
            "--counting" => {
                let value = args.next().ok_or("--counting needs a value: stream or inline")?;
                counting = Some(parse_counting("--counting", &value)?);
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            name => {
                if prefix.is_some() {
                    return Err(format!("one PREFIX only, got a second: {name}"));
                }
                let valid = !name.is_empty()
                    && name.len() <= 64
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !valid {
                    return Err(format!(
                        "PREFIX {name:?} must be 1 to 64 letters, digits, hyphens or underscores (it names queues and a table)"
                    ));
                }
                prefix = Some(name.to_owned());
            }
        }
    }
    Ok(Args::Provision {
        prefix: prefix.unwrap_or_else(|| "local".to_owned()),
        counting,
    })
}

fn parse_counting(source: &str, value: &str) -> Result<Counting, String> {
    Counting::parse(value).ok_or_else(|| format!("{source}={value:?} is invalid: expected stream or inline"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (prefix, asked) = match parse_args(std::env::args().skip(1)) {
        Ok(Args::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Args::Provision { prefix, counting }) => (prefix, counting),
        Err(message) => {
            eprintln!("provision: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&prefix, asked).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("provision: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(prefix: &str, asked: Option<Counting>) -> Result<(), String> {
    let sdk = job_core::aws::sdk_config().await;
    let asked = match asked {
        Some(counting) => Some(counting),
        None => match std::env::var("JOBS_COUNTERS") {
            Ok(value) if !value.trim().is_empty() => Some(parse_counting("JOBS_COUNTERS", &value)?),
            _ => None,
        },
    };
    let plan = Plan::named(prefix);
    let counting = match asked {
        Some(counting) => counting,
        // A table that exists keeps its mode; a new one counts from the stream.
        None => table_counting(&aws_sdk_dynamodb::Client::new(&sdk), &plan.table_name)
            .await
            .ok()
            .flatten()
            .unwrap_or(Counting::Stream),
    };
    let plan = Plan { counting, ..plan };
    let made = provision(&sdk, &plan).await.map_err(|e| e.to_string())?;
    println!("JOBS_QUEUE_URL={}", made.queue_url);
    println!("JOBS_QUEUE_ARN={}", made.queue_arn);
    println!("JOBS_DLQ_URL={}", made.dlq_url);
    println!("JOBS_TABLE_NAME={}", made.table_name);
    println!("JOBS_COUNTERS={}", counting.as_str());
    eprintln!(
        "provision: table {} counts {} (its tag {COUNTING_TAG}); every process follows it",
        made.table_name,
        counting.as_str()
    );
    if let Some(group) = made.schedule_group {
        println!("JOBS_SCHEDULE_GROUP={group}");
    }
    match emulator_scheduler_role_arn(&made.queue_arn, prefix) {
        Some(role) if is_emulator() => println!("JOBS_SCHEDULER_ROLE_ARN={role}"),
        _ => eprintln!(
            "provision: set JOBS_SCHEDULER_ROLE_ARN to the role EventBridge Scheduler assumes to send to the queue"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn help_is_help_and_never_a_prefix() {
        assert_eq!(parse(&["--help"]), Ok(Args::Help));
        assert_eq!(parse(&["-h"]), Ok(Args::Help));
        assert_eq!(parse(&["demo", "--help"]), Ok(Args::Help));
        assert!(parse(&["--halp"]).unwrap_err().contains("unknown option --halp"));
        assert!(parse(&["a b"]).unwrap_err().contains("PREFIX"));
        assert!(parse(&["one", "two"]).unwrap_err().contains("one PREFIX only"));
    }

    #[test]
    fn prefix_and_counting() {
        assert_eq!(
            parse(&[]),
            Ok(Args::Provision {
                prefix: "local".into(),
                counting: None
            })
        );
        assert_eq!(
            parse(&["--counting", "inline", "demo"]),
            Ok(Args::Provision {
                prefix: "demo".into(),
                counting: Some(Counting::Inline)
            })
        );
        assert!(
            parse(&["--counting", "later"])
                .unwrap_err()
                .contains("expected stream or inline")
        );
        assert!(parse(&["--counting"]).unwrap_err().contains("needs a value"));
    }
}
