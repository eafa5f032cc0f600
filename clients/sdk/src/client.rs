//! HTTP transport of the wire protocol.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::time::Duration;

use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sync_core::history::History;
use sync_core::protocol::{
    self, DeviceInfo, ErrorBody, ErrorDetail, Limits, LoginRequest, LoginResponse, PullRequest,
    PullResponse, PushRequest, PushResponse, VerifyRequest, VerifyResponse, PROTOCOL_VERSION,
    VERSION_HEADER,
};
use uuid::Uuid;

use crate::Error;

/// A connection to one fieldsync server, logged in or not. Clones share their traffic counters.
#[derive(Clone)]
pub struct Client {
    pub(crate) http: reqwest::Client,
    base: String,
    token: Option<String>,
    traffic: Arc<Traffic>,
    pub(crate) retry: RetryPolicy,
    /// The changes waiting on the device, told the server with each call (`fieldsync-outbox`)
    /// for the managers' sync-health report; `u64::MAX` until the device counted them.
    outbox: Arc<std::sync::atomic::AtomicU64>,
}

/// The device's app and version, told the server with each call (`fieldsync-app-version`).
const APP_VERSION: &str = concat!("fieldsync-sdk/", env!("CARGO_PKG_VERSION"));

/// How a client retries a failed sync call: on network errors, timeouts, 408, 429 and 5xx, with
/// exponential backoff and full jitter (at most `max` between tries), or after the time the
/// server's `Retry-After` asks for, at most `attempts` times in all.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

/// The longest `Retry-After` a client waits for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries: the first failure is returned.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        // A busy server spreads the devices it refused over its queue wait (up to 30 s by
        // default); coming back sooner only adds to its load. The bound keeps a broken header
        // from parking the device for hours.
        if let Some(wait) = retry_after {
            return wait.min(MAX_RETRY_AFTER);
        }
        let ceiling = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// Body bytes of the sync calls sent and received (headers not counted).
#[derive(Debug, Default)]
pub struct Traffic {
    pub up: AtomicU64,
    pub down: AtomicU64,
}

impl Client {
    pub fn new(base_url: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("a default reqwest client builds");
        Client {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            token: None,
            traffic: Arc::default(),
            retry: RetryPolicy::default(),
            outbox: Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
        }
    }

    /// Sets the number of changes waiting on the device, which later calls tell the server.
    pub fn report_outbox(&self, changes: u64) {
        self.outbox
            .store(changes, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Client {
        self.retry = retry;
        self
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sync body bytes sent and received so far: (up, down).
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.traffic.up.load(Ordering::Relaxed),
            self.traffic.down.load(Ordering::Relaxed),
        )
    }

    /// Registers this device with the user's credentials and keeps its token.
    pub async fn login(
        &mut self,
        email: &str,
        password: &str,
        device_name: &str,
    ) -> Result<LoginResponse, Error> {
        self.login_again(email, password, device_name, None, None)
            .await
    }

    /// Logs in a store that was logged in before as `previous_device_id`, with the secret the
    /// server gave that device (see [`LoginRequest::previous_device_id`]).
    pub async fn login_again(
        &mut self,
        email: &str,
        password: &str,
        device_name: &str,
        previous_device_id: Option<Uuid>,
        device_secret: Option<&str>,
    ) -> Result<LoginResponse, Error> {
        let body = LoginRequest {
            email: email.into(),
            password: password.into(),
            device_name: device_name.into(),
            previous_device_id,
            device_secret: device_secret.map(str::to_string),
        };
        let response = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&body)
            .send()
            .await?;
        let login: LoginResponse = json(response).await?;
        self.token = Some(login.token.clone());
        Ok(login)
    }

    pub async fn push(&self, request: &PushRequest) -> Result<PushResponse, Error> {
        self.sync_call("/v1/sync/push", request).await
    }

    pub async fn pull(&self, request: &PullRequest) -> Result<PullResponse, Error> {
        self.sync_call("/v1/sync/pull", request).await
    }

    pub async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, Error> {
        self.sync_call("/v1/sync/verify", request).await
    }

    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, Error> {
        json(
            self.authed(self.http.get(self.url("/v1/devices")))?
                .send()
                .await?,
        )
        .await
    }

    /// Who changed which field of record `id`, newest first: up to `limit` entries numbered
    /// below `before`, of `field` alone if given. Read from the server, which alone knows when it
    /// received each change and whose device made it.
    pub async fn history(
        &self,
        id: Uuid,
        field: Option<&str>,
        before: Option<usize>,
        limit: usize,
    ) -> Result<History, Error> {
        let mut query = vec![("limit", limit.to_string())];
        query.extend(field.map(|f| ("field", f.to_string())));
        query.extend(before.map(|b| ("before", b.to_string())));
        let request = self
            .http
            .get(self.url(&format!("/v1/records/{id}/history")))
            .query(&query);
        json(self.authed(request)?.send().await?).await
    }

    pub async fn revoke_device(&self, id: Uuid) -> Result<(), Error> {
        let response = self
            .authed(self.http.delete(self.url(&format!("/v1/devices/{id}"))))?
            .send()
            .await?;
        check(response).await.map(drop)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn authed(&self, request: RequestBuilder) -> Result<RequestBuilder, Error> {
        let token = self.token.as_ref().ok_or(Error::NotLoggedIn)?;
        let mut request = request
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header("fieldsync-app-version", APP_VERSION);
        let outbox = self.outbox.load(std::sync::atomic::Ordering::Relaxed);
        if outbox != u64::MAX {
            request = request.header("fieldsync-outbox", outbox.to_string());
        }
        Ok(request)
    }

    /// A sync call, retried by the policy. Sync calls are idempotent: a push the server already
    /// stored is answered `already_known`, so retrying after a lost answer is safe.
    async fn sync_call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, Error> {
        let mut attempt = 0;
        loop {
            match self.attempt(path, body).await {
                Ok(resp) => return Ok(resp),
                Err((e, retry_after)) => {
                    attempt += 1;
                    if !e.is_transient() {
                        return Err(e);
                    }
                    if attempt >= self.retry.attempts {
                        return Err(if attempt == 1 {
                            e
                        } else {
                            Error::GaveUp {
                                attempts: attempt,
                                last: Box::new(e),
                            }
                        });
                    }
                    tokio::time::sleep(self.retry.delay(attempt, retry_after)).await;
                }
            }
        }
    }

    /// One try of a sync call; a failure carries the server's `Retry-After`, if it sent one.
    async fn attempt<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, (Error, Option<Duration>)> {
        let (body, encoding) = compressed(protocol::encode(body));
        self.traffic
            .up
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let mut request = self
            .authed(self.http.post(self.url(path)))
            .map_err(|e| (e, None))?;
        if let Some(encoding) = encoding {
            request = request.header(CONTENT_ENCODING, encoding);
        }
        let request = request
            .header(CONTENT_TYPE, protocol::CONTENT_TYPE)
            .header(ACCEPT, protocol::CONTENT_TYPE)
            .header(ACCEPT_ENCODING, "zstd")
            .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
            .body(body);
        let response = request.send().await.map_err(|e| (Error::from(e), None))?;
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let status = response.status();
        let zstd = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes() == b"zstd");
        let received = response.bytes().await.map_err(|e| (Error::from(e), None))?;
        // What crossed the network: the compressed size.
        self.traffic
            .down
            .fetch_add(received.len() as u64, Ordering::Relaxed);
        let decoded;
        let bytes: &[u8] = if zstd {
            decoded = zstd::stream::decode_all(&received[..]).map_err(|e| {
                let e =
                    sync_core::Error::Malformed(format!("a zstd body that does not decode: {e}"));
                (Error::from(e), None)
            })?;
            &decoded
        } else {
            &received
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(bytes).into_owned();
            return Err((server_error(status, text), retry_after));
        }
        let limits = Limits {
            max_message_bytes: usize::MAX,
            ..Limits::default()
        };
        protocol::decode(bytes, &limits).map_err(|e| (Error::from(e), None))
    }
}

/// Bodies from this size on are sent zstd-compressed, when that makes them smaller: a push of
/// offline work shrinks several times, and a field device's uplink is its slowest.
const COMPRESS_FROM: usize = 1024;

/// The body to send and its `Content-Encoding`, if compressed.
fn compressed(body: Vec<u8>) -> (Vec<u8>, Option<&'static str>) {
    if body.len() < COMPRESS_FROM {
        return (body, None);
    }
    // zstd's fastest level: a phone's CPU is not free either.
    match zstd::bulk::compress(&body, 1) {
        Ok(smaller) if smaller.len() < body.len() => (smaller, Some("zstd")),
        _ => (body, None),
    }
}

pub(crate) async fn check(response: Response) -> Result<Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    Err(server_error(status, text))
}

/// The error a failed answer stands for: the server's JSON error, or one made from the status.
fn server_error(status: StatusCode, text: String) -> Error {
    let detail = serde_json::from_str::<ErrorBody>(&text)
        .map(|b| b.error)
        .unwrap_or_else(|_| ErrorDetail {
            code: if status == StatusCode::TOO_MANY_REQUESTS {
                "rate_limited".into()
            } else {
                "http_error".into()
            },
            message: text,
            wipe: false,
        });
    Error::Server {
        status: status.as_u16(),
        detail,
    }
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    Ok(check(response).await?.json().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_s_retry_after_is_waited_for_whole_and_backoff_is_bounded() {
        let policy = RetryPolicy::default();
        let asked = Duration::from_secs(30);
        assert_eq!(policy.delay(1, Some(asked)), asked);
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
        for attempt in 1..40 {
            assert!(policy.delay(attempt, None) <= policy.max);
        }
    }

    #[test]
    fn bodies_are_compressed_only_when_large_enough_and_smaller_for_it() {
        let small = vec![7u8; COMPRESS_FROM - 1];
        assert_eq!(compressed(small.clone()), (small, None));
        let repetitive = b"customer North ".repeat(1_000);
        let (sent, encoding) = compressed(repetitive.clone());
        assert_eq!(encoding, Some("zstd"));
        assert!(sent.len() * 10 < repetitive.len());
        assert_eq!(zstd::decode_all(&sent[..]).unwrap(), repetitive);
        // Random bytes (change hashes, say) do not shrink: they go as they are.
        let random: Vec<u8> = (0..4_096).map(|_| rand::random::<u8>()).collect();
        assert_eq!(compressed(random.clone()), (random, None));
    }
}
