//! The client's retries against a scripted server: transient failures (5xx, 429 with Retry-After, a
//! dropped connection) are retried with backoff, anything else is not, and retries end with a clear
//! error after the bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_sdk::{Client, Error, RetryPolicy};
use sync_core::protocol::{self, PullRequest, PullResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the scripted server does for one request.
#[derive(Clone)]
enum Answer {
    Status(u16, &'static str),
    Drop,
    Page,
}

/// Serves `script` in order (repeating the last answer), counting requests.
async fn scripted(script: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let answer = script[n.min(script.len() - 1)].clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                let response = match answer {
                    Answer::Drop => return,
                    Answer::Status(code, extra) => {
                        let body =
                            format!(r#"{{"error":{{"code":"busy","message":"status {code}"}}}}"#);
                        format!("HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}", body.len()).into_bytes()
                    }
                    Answer::Page => {
                        let body = protocol::encode(&PullResponse {
                            docs: vec![],
                            evict: vec![],
                            cursor: vec![1].into(),
                            more: false,
                            seq: 0,
                        });
                        let mut r = format!("HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", protocol::CONTENT_TYPE, body.len()).into_bytes();
                        r.extend(body);
                        r
                    }
                };
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, count)
}

fn client(url: &str, attempts: u32) -> Client {
    Client::new(url)
        .with_token("fst_test")
        .with_retry(RetryPolicy {
            attempts,
            base: Duration::from_millis(10),
            max: Duration::from_secs(3),
        })
}

#[tokio::test]
async fn transient_failures_are_retried_until_an_answer() {
    let (url, count) = scripted(vec![
        Answer::Status(503, ""),
        Answer::Drop,
        Answer::Status(500, ""),
        // A body the server read too slowly: nothing changed, and the link may be better now.
        Answer::Status(408, ""),
        Answer::Page,
    ])
    .await;
    let page = client(&url, 6).pull(&PullRequest::default()).await.unwrap();
    assert!(!page.more);
    assert_eq!(count.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_the_server_asks_for() {
    let (url, count) = scripted(vec![
        Answer::Status(429, "retry-after: 1\r\n"),
        Answer::Page,
    ])
    .await;
    let start = Instant::now();
    client(&url, 3).pull(&PullRequest::default()).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "waited only {:?}",
        start.elapsed()
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retries_end_with_a_clear_error_after_the_bound() {
    let (url, count) = scripted(vec![Answer::Status(503, "")]).await;
    let err = client(&url, 3)
        .pull(&PullRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GaveUp { attempts: 3, .. }), "{err}");
    assert!(err.to_string().contains("gave up after 3 attempts"));
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn refusals_are_not_retried() {
    let (url, count) = scripted(vec![Answer::Status(400, "")]).await;
    let err = client(&url, 5)
        .pull(&PullRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("busy"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}
