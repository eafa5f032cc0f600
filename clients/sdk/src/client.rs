//! HTTP transport of the wire protocol.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
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
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    traffic: Arc<Traffic>,
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
        }
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
        let body = LoginRequest {
            email: email.into(),
            password: password.into(),
            device_name: device_name.into(),
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

    pub async fn revoke_device(&self, id: Uuid) -> Result<(), Error> {
        let response = self
            .authed(self.http.delete(self.url(&format!("/v1/devices/{id}"))))?
            .send()
            .await?;
        check(response).await.map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, request: RequestBuilder) -> Result<RequestBuilder, Error> {
        let token = self.token.as_ref().ok_or(Error::NotLoggedIn)?;
        Ok(request.header(AUTHORIZATION, format!("Bearer {token}")))
    }

    async fn sync_call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, Error> {
        let body = protocol::encode(body);
        self.traffic
            .up
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let request = self
            .authed(self.http.post(self.url(path)))?
            .header(CONTENT_TYPE, protocol::CONTENT_TYPE)
            .header(ACCEPT, protocol::CONTENT_TYPE)
            .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
            .body(body);
        let response = check(request.send().await?).await?;
        let bytes = response.bytes().await?;
        self.traffic
            .down
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(protocol::decode(
            &bytes,
            &Limits {
                max_message_bytes: usize::MAX,
                ..Limits::default()
            },
        )?)
    }
}

async fn check(response: Response) -> Result<Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
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
    Err(Error::Server {
        status: status.as_u16(),
        detail,
    })
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    Ok(check(response).await?.json().await?)
}
