//! The sync endpoints: push, pull and verify. Each call counts against its device's rate limit and
//! its device's and user's bounds on calls in progress, has its body read under a deadline, and
//! then waits for one of the process's sync slots; push and pull feed the sync metrics.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use base64::Engine;
use serde::Deserialize;
use sync_core::protocol::{
    ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse, VerifyRequest, VerifyResponse,
};
use tokio::sync::OwnedSemaphorePermit;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::Principal;
use crate::budget::busy_retry_after;
use crate::crm::rules;
use crate::db::positions;
use crate::error::Error;
use crate::http::admission::Place;
use crate::http::extract::Device;
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

/// An authenticated sync call within its device's rate and within the calls its device and its
/// user may have in progress at once (`admission`). As an extractor it runs before the body is read,
/// so a caller without a token, or over its bounds, costs nothing more.
struct SyncCall {
    who: Principal,
    places: [Place; 2],
}

impl FromRequestParts<AppState> for SyncCall {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<SyncCall, Error> {
        let Device(who) = Device::from_request_parts(parts, state).await?;
        throttle(state, &who)?;
        let places = state
            .sync_calls
            .admit(who.device_id, who.user_id)
            .inspect_err(|_| state.metrics.rate_limited("sync_concurrency"))?;
        Ok(SyncCall { who, places })
    }
}

/// One of the process's sync slots (`Settings::sync_in_flight`), taken once the call's body is in
/// and held until its handler returns: what the server works on at once (parsed changes, merges,
/// pages being built) is bounded by the slots, and a call waiting for one holds only its body
/// (BENCHMARKS.md, "Memory").
async fn sync_slot(state: &AppState, who: &Principal) -> Result<OwnedSemaphorePermit, Error> {
    tokio::time::timeout(
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
    .map_err(|_| Error::Internal("the sync slots were closed".into()))
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
        (status = 408, description = "The body arrived too slowly (`body_too_slow`); nothing changed", body = ErrorBody),
        (status = 413, description = "Body or a change too large", body = ErrorBody),
        (status = 415, description = "Neither MessagePack nor JSON", body = ErrorBody),
        (status = 429, description = "The device syncs too often (`rate_limited`), or it or its user has too many sync calls in progress (`too_many_syncs`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(docs = req.docs.len()))]
async fn push(
    State(state): State<AppState>,
    SyncCall { who, places }: SyncCall,
    format: Format,
    Wire(req, _budget): Wire<PushRequest>,
) -> Result<Reply<PushResponse>, Error> {
    let _slot = sync_slot(&state, &who).await?;
    let changes: Vec<usize> = req.docs.iter().map(|d| d.changes.len()).collect();
    let by = rules::Pusher {
        user_id: who.user_id,
        role: who.role,
        purpose: None,
    };
    let (response, pushed) = push::push_written(&state.sync, &Author::Device(who), req, by).await?;
    // Within the sync slot: a device that pushes faster than the rules run waits for them.
    rules::after_push(&state.sync, pushed).await;
    state.metrics.pushed(&changes, &response);
    Ok(Reply(format, response, places))
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
    let response = feed::pull(
        &state.db,
        &state.sync.read_ahead,
        &state.sync.unloadable,
        &state.keys,
        who,
        req,
    )
    .await?;
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
        (status = 429, description = "The device syncs too often (`rate_limited`), or it or its user has too many sync calls in progress (`too_many_syncs`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
async fn pull_get(
    State(state): State<AppState>,
    SyncCall { who, places }: SyncCall,
    format: Format,
    QueryParams(q): QueryParams<PullQuery>,
) -> Result<Reply<PullResponse>, Error> {
    let _slot = sync_slot(&state, &who).await?;
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
    Ok(Reply(format, pull(&state, &who, request).await?, places))
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
        (status = 408, description = "The body arrived too slowly (`body_too_slow`); nothing changed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Neither MessagePack nor JSON", body = ErrorBody),
        (status = 429, description = "The device syncs too often (`rate_limited`), or it or its user has too many sync calls in progress (`too_many_syncs`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
async fn pull_post(
    State(state): State<AppState>,
    SyncCall { who, places }: SyncCall,
    format: Format,
    Wire(req, _budget): Wire<PullRequest>,
) -> Result<Reply<PullResponse>, Error> {
    let _slot = sync_slot(&state, &who).await?;
    Ok(Reply(format, pull(&state, &who, req).await?, places))
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
        (status = 408, description = "The body arrived too slowly (`body_too_slow`); nothing changed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Neither MessagePack nor JSON", body = ErrorBody),
        (status = 429, description = "The device syncs too often (`rate_limited`), or it or its user has too many sync calls in progress (`too_many_syncs`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every sync slot stayed taken for the queue wait (`server_busy`); nothing changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = [])))]
async fn verify(
    State(state): State<AppState>,
    SyncCall { who, places }: SyncCall,
    format: Format,
    Wire(req, _budget): Wire<VerifyRequest>,
) -> Result<Reply<VerifyResponse>, Error> {
    let _slot = sync_slot(&state, &who).await?;
    Ok(Reply(
        format,
        verify::verify(&state.sync, &who, req).await?,
        places,
    ))
}
