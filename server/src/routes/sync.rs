//! The sync endpoints: push, pull and verify.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde::Deserialize;
use sync_core::protocol::{
    PullRequest, PullResponse, PushRequest, PushResponse, VerifyRequest, VerifyResponse,
};

use crate::app::AppState;
use crate::error::Error;
use crate::scope::Principal;
use crate::wire::{Format, Query, Reply, Wire};
use crate::{feed, merge, verify};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sync/push", post(push))
        .route("/v1/sync/pull", get(pull_get).post(pull_post))
        .route("/v1/sync/verify", post(verify))
}

#[tracing::instrument(skip_all, fields(docs = req.docs.len()))]
async fn push(
    State(state): State<AppState>,
    who: Principal,
    format: Format,
    Wire(req): Wire<PushRequest>,
) -> Result<Reply<PushResponse>, Error> {
    let response = merge::push(&state, &who, req).await?;
    Ok(Reply(format, response))
}

/// `GET /v1/sync/pull?cursor=...&limit=...`, the cursor in unpadded base64url.
#[derive(Deserialize)]
struct PullQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn pull_get(
    State(state): State<AppState>,
    who: Principal,
    format: Format,
    Query(q): Query<PullQuery>,
) -> Result<Reply<PullResponse>, Error> {
    let cursor = match q.cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(serde_bytes::ByteBuf::from(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| Error::bad_request("invalid_cursor", "the cursor is not base64url"))?,
        )),
        None => None,
    };
    let response = feed::pull(
        &state,
        &who,
        PullRequest {
            cursor,
            limit: q.limit,
        },
    )
    .await?;
    Ok(Reply(format, response))
}

async fn pull_post(
    State(state): State<AppState>,
    who: Principal,
    format: Format,
    Wire(req): Wire<PullRequest>,
) -> Result<Reply<PullResponse>, Error> {
    let response = feed::pull(&state, &who, req).await?;
    Ok(Reply(format, response))
}

async fn verify(
    State(state): State<AppState>,
    who: Principal,
    format: Format,
    Wire(req): Wire<VerifyRequest>,
) -> Result<Reply<VerifyResponse>, Error> {
    Ok(Reply(format, verify::verify(&state, &who, req).await?))
}
