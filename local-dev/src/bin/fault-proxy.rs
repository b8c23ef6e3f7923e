//! `fault-proxy`: the fault-injecting proxy for the emulator (`local_dev::fault_proxy`).
//!
//! ```text
//! fault-proxy --upstream http://127.0.0.1:4566 [--listen 127.0.0.1:0] [--control 127.0.0.1:0]
//! ```
//! Prints `PROXY_URL=...` and `CONTROL_URL=...` once listening; stops on SIGTERM/Ctrl-C.
//! Exit 2 on bad arguments.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use local_dev::fault_proxy::{FaultProxy, control_router};

const USAGE: &str = "usage: fault-proxy --upstream URL [--listen ADDR] [--control ADDR]";

struct Args {
    upstream: String,
    listen: SocketAddr,
    control: SocketAddr,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut upstream, mut listen, mut control) = (None, "127.0.0.1:0".to_owned(), "127.0.0.1:0".to_owned());
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value; {USAGE}"));
        match arg.as_str() {
            "--upstream" => upstream = Some(value()?),
            "--listen" => listen = value()?,
            "--control" => control = value()?,
            _ => return Err(format!("unknown argument {arg:?}; {USAGE}")),
        }
    }
    let addr = |text: &str| {
        text.parse::<SocketAddr>()
            .map_err(|e| format!("{text:?} is no address: {e}"))
    };
    Ok(Args {
        upstream: upstream.ok_or(format!("--upstream is required; {USAGE}"))?,
        listen: addr(&listen)?,
        control: addr(&control)?,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    job_core::telemetry::init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("fault-proxy: {message}");
            return ExitCode::from(2);
        }
    };
    let started = async {
        let proxy = Arc::new(FaultProxy::start(args.listen, &args.upstream).await?);
        let control = tokio::net::TcpListener::bind(args.control).await?;
        Ok::<_, std::io::Error>((proxy, control))
    };
    let (proxy, control) = match started.await {
        Ok(ok) => ok,
        Err(err) => {
            eprintln!("fault-proxy: cannot listen: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("PROXY_URL={}", proxy.url());
    match control.local_addr() {
        Ok(addr) => println!("CONTROL_URL=http://{addr}"),
        Err(err) => eprintln!("fault-proxy: {err}"),
    }
    let served = axum::serve(control, control_router(proxy))
        .with_graceful_shutdown(job_core::shutdown::signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fault-proxy: {err}");
            ExitCode::FAILURE
        }
    }
}
