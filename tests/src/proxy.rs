//! A fault-injecting HTTP proxy between a device and a server, for network fault tests.
//!
//! It forwards one request per connection (it adds `connection: close` both ways, so a client never
//! reuses a connection whose fate it cannot know) and applies the next queued [`Fault`] to each new
//! connection; with none queued it passes the request through.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward the request and its answer.
    Pass,
    /// Forward the headers and half the body, then cut both sides.
    DropMidBody,
    /// Hold the request without forwarding it, then cut the client off.
    Stall(Duration),
    /// Send the request to the server twice at once; the client gets the second answer.
    Duplicate,
    /// Forward the request, read the server's whole answer (it committed), and cut the client off
    /// without it.
    LoseResponse,
}

/// What the proxy did: each fault applied, with the status lines the server answered.
#[derive(Debug, Default, Clone)]
pub struct Log {
    pub applied: Vec<(Fault, Vec<String>)>,
}

pub struct FaultProxy {
    pub url: String,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies to the server at `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let faults: Arc<Mutex<VecDeque<Fault>>> = Arc::default();
        let log: Arc<Mutex<Log>> = Arc::default();
        let (queue, record) = (faults.clone(), log.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = queue.lock().unwrap().pop_front().unwrap_or(Fault::Pass);
                let (upstream, record) = (upstream.clone(), record.clone());
                tokio::spawn(async move {
                    if let Ok(statuses) = handle(client, &upstream, fault).await {
                        if fault != Fault::Pass {
                            record.lock().unwrap().applied.push((fault, statuses));
                        }
                    }
                });
            }
        });
        FaultProxy {
            url,
            faults,
            log,
            task,
        }
    }

    /// Queues faults for the next connections, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.lock().unwrap().extend(faults);
    }

    /// Faults queued but not yet applied.
    pub fn pending(&self) -> usize {
        self.faults.lock().unwrap().len()
    }

    pub fn log(&self) -> Log {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (headers and a `content-length` body); returns it with `connection: close`.
async fn read_request(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let mut rewritten: String = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    rewritten.push_str("connection: close\r\n\r\n");
    Ok((rewritten.into_bytes(), body))
}

/// Sends a request upstream and reads the whole answer (the server closes after it).
async fn exchange(upstream: &str, head: &[u8], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(head).await?;
    server.write_all(body).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    Ok(answer)
}

fn status_line(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

async fn handle(
    mut client: TcpStream,
    upstream: &str,
    fault: Fault,
) -> std::io::Result<Vec<String>> {
    let (head, body) = read_request(&mut client).await?;
    match fault {
        Fault::Pass => {
            let answer = exchange(upstream, &head, &body).await?;
            client.write_all(&answer).await?;
            Ok(vec![status_line(&answer)])
        }
        Fault::DropMidBody => {
            let mut server = TcpStream::connect(upstream).await?;
            server.write_all(&head).await?;
            server.write_all(&body[..body.len() / 2]).await?;
            Ok(vec![])
        }
        Fault::Stall(wait) => {
            tokio::time::sleep(wait).await;
            Ok(vec![])
        }
        Fault::Duplicate => {
            let (first, second) = tokio::join!(
                exchange(upstream, &head, &body),
                exchange(upstream, &head, &body)
            );
            let (first, second) = (first?, second?);
            client.write_all(&second).await?;
            Ok(vec![status_line(&first), status_line(&second)])
        }
        Fault::LoseResponse => {
            let answer = exchange(upstream, &head, &body).await?;
            Ok(vec![status_line(&answer)])
        }
    }
}
