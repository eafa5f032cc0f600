//! The sync endpoints: push, pull and verify. Each call counts against its device's rate limit and
//! waits for one of the process's sync slots before its body is read; push and pull feed the sync
//! metrics.

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use base64::Engine;
use rand::Rng;
use serde::Deserialize;
use sync_core::protocol::{
    ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse, VerifyRequest, VerifyResponse,
};
use tokio::sync::OwnedSemaphorePermit;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::Principal;
use crate::db::positions;
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{Format, QueryParams, Reply, Wire};
use crate::sync::author::Author;
use crate::sync::{checkpoint, feed, push, verify};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push))
        .routes(routes!(pull_get, pull_post))
        .routes(routes!(verify))
}

/// An authenticated sync call within its device's rate, holding one of the process's sync slots
/// (`Settings::sync_in_flight`) until its handler returns. As an extractor it runs before the body is
/// read, so calls that wait for a slot hold only their connection, not their bodies and parsed
/// changes: a whole fleet syncing at once costs connections, not memory (BENCHMARKS.md, "Memory").
/// It authenticates first, so a caller without a token cannot take a slot.
struct SyncCall {
    who: Principal,
    slot: OwnedSemaphorePermit,
}

impl FromRequestParts<AppState> for SyncCall {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<SyncCall, Error> {
        let who = Principal::from_request_parts(parts, state).await?;
        throttle(state, &who)?;
        let slot = tokio::time::timeout(
            state.sync_queue_wait,
            state.sync_slots.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            state.metrics.rate_limited("sync_busy");
            tracing::warn!(device = %who.device_id, "sync refused: no slot came free in time");
            Error::Busy {
                retry_after: busy_retry_after(state.sync_queue_wait),
            }
        })?
        .map_err(|_| Error::Internal("the sync slots were closed".into()))?;
        Ok(SyncCall { who, slot })
    }
}

/// When a device refused for want of a slot should come back: at a random point between one second
/// and the queue wait, so that the devices refused together do not all return together.
fn busy_retry_after(queue_wait: Duration) -> Duration {
    let most = queue_wait.as_secs().max(1);
    Duration::from_secs(rand::thread_rng().gen_range(1..=most))
}

/// Refuses the call when the device used up its sync rate.
fn throttle(state: &AppState, who: &Principal) -> Result<(), Error> {
    state
        .guards
        .sync_devices
        .take(&who.device_id)
        .map_err(|retry_after| {
            state.metrics.rate_limited("device_sync");
            tracing::warn!(device = %who.device_id, ?retry_after, "sync refused: the device is over its rate limit");
            Error::RateLimited {
                code: "rate_limited",
                message: "this device syncs too often; wait before syncing again".into(),
                retry_after,
            }
        })
}

/// Merges a device's changes. The body is MessagePack (`application/vnd.fieldsync.v1+msgpack`) or JSON.
#[utoipa::path(post, path = "/v1/sync/push", tag = "sync",
    params(("fieldsync-protocol" = Option<u16>, Header, description = "The protocol version (1)")),
    request_body(description = "The documents' new changes",
        content((PushRequest = "application/vnd.fieldsync.v1+msgpack"), (PushRequest = "application/json"))),
    responses(
        (status = 200, description = "One result per document, in order",
            content((PushResponse = "application/vnd.fieldsync.v1+msgpack"), (PushResponse = "application/json"))),
        (status = 400, description = "Malformed body or unsupported protocol version", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "The database was restored from an older backup than the device's checkpoint (`server_restored`); nothing changed", body = ErrorBody),
        (status = 413, description = "Body or a change too large", body = ErrorBody),
        (status = 415, description = "Neither MessagePack nor JSON", body = ErrorBody),
        (status = 429, description = "The device syncs too often (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(docs = req.docs.len()))]
async fn push(
    State(state): State<AppState>,
    SyncCall { who, slot: _slot }: SyncCall,
    format: Format,
    Wire(req): Wire<PushRequest>,
) -> Result<Reply<PushResponse>, Error> {
    let changes: Vec<usize> = req.docs.iter().map(|d| d.changes.len()).collect();
    let response = push::push(&state.sync, &Author::Device(who), req).await?;
    state.metrics.pushed(&changes, &response);
    Ok(Reply(format, response))
}

/// `GET /v1/sync/pull?cursor=...&limit=...`, the cursor in unpadded base64url.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PullQuery {
    /// The cursor of the last page, unpadded base64url; absent on the first pull.
    cursor: Option<String>,
    /// The most document updates in this page.
    limit: Option<u32>,
    /// The device's checkpoint (`PullRequest.checkpoint`).
    checkpoint: Option<i64>,
}

/// Answers one page of the feed and records how far behind the device was.
async fn pull(state: &AppState, who: &Principal, req: PullRequest) -> Result<PullResponse, Error> {
    let head = positions::committed_seq(&state.db.conn).await?;
    let at = req.cursor.as_ref().map_or(0, |c| feed::cursor_position(c));
    checkpoint::check(who, req.checkpoint)?;
    let response = feed::pull(&state.db, &state.sync.read_ahead, &state.keys, who, req).await?;
    checkpoint::record_pull(&state.db, who, response.seq).await?;
    state.metrics.pulled(head - at, response.docs.len());
    Ok(response)
}

/// One page of the feed, the cursor in the query string.
#[utoipa::path(get, path = "/v1/sync/pull", tag = "sync",
    params(PullQuery, ("fieldsync-protocol" = Option<u16>, Header, description = "The protocol version (1)")),
    responses(
        (status = 200, description = "A page of document updates",
            content((PullResponse = "application/vnd.fieldsync.v1+msgpack"), (PullResponse = "application/json"))),
        (status = 400, description = "Invalid cursor or query, or unsupported protocol version", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "The database was restored from an older backup than the device's checkpoint (`server_restored`); nothing changed", body = ErrorBody),
        (status = 429, description = "The device syncs too often (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
async fn pull_get(
    State(state): State<AppState>,
    SyncCall { who, slot: _slot }: SyncCall,
    format: Format,
    QueryParams(q): QueryParams<PullQuery>,
) -> Result<Reply<PullResponse>, Error> {
    let cursor = match q.cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(serde_bytes::ByteBuf::from(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| Error::bad_request("invalid_cursor", "the cursor is not base64url"))?,
        )),
        None => None,
    };
    let request = PullRequest {
        cursor,
        limit: q.limit,
        checkpoint: q.checkpoint.unwrap_or(0),
    };
    Ok(Reply(format, pull(&state, &who, request).await?))
}

/// One page of the feed, the cursor in the body.
#[utoipa::path(post, path = "/v1/sync/pull", tag = "sync",
    params(("fieldsync-protocol" = Option<u16>, Header, description = "The protocol version (1)")),
    request_body(description = "The cursor of the last page",
        content((PullRequest = "application/vnd.fieldsync.v1+msgpack"), (PullRequest = "application/json"))),
    responses(
        (status = 200, description = "A page of document updates",
            content((PullResponse = "application/vnd.fieldsync.v1+msgpack"), (PullResponse = "application/json"))),
        (status = 400, description = "Malformed body, invalid cursor or unsupported protocol version", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "The database was restored from an older backup than the device's checkpoint (`server_restored`); nothing changed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Neither MessagePack nor JSON", body = ErrorBody),
        (status = 429, description = "The device syncs too often (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
async fn pull_post(
    State(state): State<AppState>,
    SyncCall { who, slot: _slot }: SyncCall,
    format: Format,
    Wire(req): Wire<PullRequest>,
) -> Result<Reply<PullResponse>, Error> {
    Ok(Reply(format, pull(&state, &who, req).await?))
}

/// Compares the device's view with the server's: one digest of the scope, or the heads of documents.
#[utoipa::path(post, path = "/v1/sync/verify", tag = "sync",
    params(("fieldsync-protocol" = Option<u16>, Header, description = "The protocol version (1)")),
    request_body(description = "What to compare",
        content((VerifyRequest = "application/vnd.fieldsync.v1+msgpack"), (VerifyRequest = "application/json"))),
    responses(
        (status = 200, description = "The comparison",
            content((VerifyResponse = "application/vnd.fieldsync.v1+msgpack"), (VerifyResponse = "application/json"))),
        (status = 400, description = "Malformed body or unsupported protocol version", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Neither MessagePack nor JSON", body = ErrorBody),
        (status = 429, description = "The device syncs too often (`rate_limited`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
async fn verify(
    State(state): State<AppState>,
    SyncCall { who, slot: _slot }: SyncCall,
    format: Format,
    Wire(req): Wire<VerifyRequest>,
) -> Result<Reply<VerifyResponse>, Error> {
    Ok(Reply(format, verify::verify(&state.sync, &who, req).await?))
}
