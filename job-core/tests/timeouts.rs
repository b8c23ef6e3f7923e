//! Every AWS call ends by its deadline: against a black hole (a socket that accepts
//! connections and never answers), the DynamoDB and SQS adapters give up within the
//! operation timeout with an "unavailable" error, and the SQS long poll is allowed its
//! wait on top.

use std::time::{Duration, Instant};

use job_core::aws::{AwsTimeouts, sdk_config_with};
use job_core::queue::{JobQueue, QueueError, SqsQueue};
use job_core::store::{DynamoDbStore, JobStore, StoreError};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use uuid::Uuid;

/// Accepts connections, reads whatever comes, never answers.
async fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                std::future::pending::<()>().await;
            });
        }
    });
    format!("http://{addr}")
}

const TIMEOUTS: AwsTimeouts = AwsTimeouts {
    connect: Duration::from_secs(1),
    attempt: Duration::from_millis(500),
    operation: Duration::from_millis(1500),
};

/// Clients of `endpoint` with [`TIMEOUTS`]. The endpoint is set on each client's own
/// configuration, which wins over `AWS_ENDPOINT_URL` (set when `make test` runs this).
async fn clients(endpoint: &str) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    // SAFETY: every test of this file sets the same values.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    let sdk = sdk_config_with(TIMEOUTS).await;
    (
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(endpoint)
                .build(),
        ),
        aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&sdk).endpoint_url(endpoint).build()),
    )
}

#[tokio::test]
async fn calls_into_a_black_hole_end_by_their_deadlines() {
    let endpoint = black_hole().await;
    let (ddb, sqs) = clients(&endpoint).await;
    let store = DynamoDbStore::new(ddb, "t", 1);
    let queue = SqsQueue::new(sqs, format!("{endpoint}/123456789012/q")).with_timeouts(TIMEOUTS);

    let started = Instant::now();
    let got = store.get(Uuid::now_v7()).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "DynamoDB call took {took:?}");

    let started = Instant::now();
    let sent = queue.send("{}").await;
    assert!(matches!(sent, Err(QueueError::Unavailable(_))), "{sent:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "SendMessage took {took:?}");

    // The long poll may wait its 2 s, plus the attempt timeout, and not much more.
    let started = Instant::now();
    let received = queue.receive(1, Duration::from_secs(2), Duration::from_secs(30)).await;
    assert!(matches!(received, Err(QueueError::Unavailable(_))), "{received:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(8),
        "ReceiveMessage took {took:?}"
    );
}

#[tokio::test]
async fn a_send_to_a_refusing_endpoint_certainly_sent_nothing() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let endpoint = format!("http://{closed}");
    let (_, sqs) = clients(&endpoint).await;
    let queue = SqsQueue::new(sqs, format!("{endpoint}/123456789012/q")).with_timeouts(TIMEOUTS);
    let sent = queue.send("{}").await;
    assert!(matches!(sent, Err(QueueError::NotSent(_))), "{sent:?}");
}
