//! What the rules after a merge raise and what managers decide: `GET /v1/alerts` and
//! `GET /v1/conflicts` list them within the caller's scope; `POST /v1/alerts/{id}/resolve` and
//! `POST /v1/conflicts/{id}/resolve` close them; `POST /v1/orders/{id}/approve` and `/reject`
//! decide a submitted order. Decisions are managers' and admins'; each is a change of the records
//! concerned, made by the server for the manager through the merge path.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use sync_core::kinds::{ALERT, CONFLICT};
use sync_core::protocol::ErrorBody;
use sync_core::KindSchema;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::actions::{self, Decision};
use crate::crm::records::{self, Detail, Listing, Page};
use crate::error::Error;
use crate::http::records::written;
use crate::http::state::AppState;
use crate::http::wire::{JsonBody, PathParam, QueryParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(list_conflicts))
        .routes(routes!(resolve_alert))
        .routes(routes!(resolve_conflict))
        .routes(routes!(approve_order))
        .routes(routes!(reject_order))
}

/// Filters of a list of alerts or conflicts.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// `open` or `resolved`; both when left out.
    status: Option<String>,
    /// An alert's finding (`credit_limit_exceeded`, ...); alerts only.
    code: Option<String>,
    /// The record concerned.
    record_id: Option<Uuid>,
    /// The customer concerned.
    customer_id: Option<Uuid>,
    /// The `next` of the previous page.
    after: Option<Uuid>,
    /// Per page, 1 to 500 [default 100].
    limit: Option<u64>,
}

async fn page(
    state: &AppState,
    who: &Principal,
    kind: &KindSchema,
    f: Filters,
) -> Result<Page, Error> {
    let record_id = f.record_id.map(|id| id.to_string());
    let customer_id = f.customer_id.map(|id| id.to_string());
    let wanted = [
        ("status", f.status.as_deref()),
        ("code", f.code.as_deref()),
        ("record_id", record_id.as_deref()),
        ("customer_id", customer_id.as_deref()),
    ];
    let (kind, filters) = records::parse_filters(
        kind.name,
        wanted.into_iter().filter_map(|(k, v)| Some((k, v?))),
    )?;
    records::list(
        &state.db.conn,
        state.db.vault(),
        who,
        &Listing {
            kind,
            filters: &filters,
            after: f.after,
            limit: f.limit.unwrap_or(100),
            include_deleted: false,
        },
    )
    .await
}

/// The alerts the caller may see (those about records in their scope), oldest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "decisions", operation_id = "list_alerts",
    params(Filters),
    responses(
        (status = 200, description = "A page of alerts (records of kind `alert`)", body = Page),
        (status = 400, description = "A malformed filter (`invalid_filter`, `invalid_query`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_alerts(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(f): QueryParams<Filters>,
) -> Result<Json<Page>, Error> {
    Ok(Json(page(&state, &who, &ALERT, f).await?))
}

/// The conflicts the caller may see, oldest first: each a field two people wrote at once, with
/// every value (`candidates`, JSON: value, user, device and time, the shown one first).
#[utoipa::path(get, path = "/v1/conflicts", tag = "decisions", operation_id = "list_conflicts",
    params(Filters),
    responses(
        (status = 200, description = "A page of conflicts (records of kind `conflict`)", body = Page),
        (status = 400, description = "A malformed filter, or `code` (`invalid_filter`, `unknown_field`, `invalid_query`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list_conflicts(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(f): QueryParams<Filters>,
) -> Result<Json<Page>, Error> {
    Ok(Json(page(&state, &who, &CONFLICT, f).await?))
}

/// How an alert or a conflict was resolved.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// For an alert, what was done (at most 100 characters); for a conflict, the value that stands,
    /// in the field's JSON type.
    #[schema(value_type = Object)]
    pub outcome: serde_json::Value,
    pub note: Option<String>,
}

/// A decision on a submitted order.
#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OrderDecision {
    pub note: Option<String>,
}

/// Resolves an open alert.
#[utoipa::path(post, path = "/v1/alerts/{id}/resolve", tag = "decisions", operation_id = "resolve_alert",
    params(("id" = Uuid, Path, description = "The alert's id")),
    request_body = Resolution,
    responses(
        (status = 200, description = "Resolved; the alert as stored", body = Detail),
        (status = 400, description = "A malformed body or id, or an outcome that is not a string of at most 100 characters (`malformed`, `invalid_id`, `validation_failed`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager or admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such alert the caller may see (`not_found`)", body = ErrorBody),
        (status = 409, description = "Resolved already (`already_resolved`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn resolve_alert(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<Resolution>,
) -> Result<Json<Detail>, Error> {
    let serde_json::Value::String(outcome) = body.outcome else {
        return Err(Error::bad_request(
            "validation_failed",
            "an alert's outcome is a string",
        ));
    };
    actions::resolve_alert(&state.sync, &who, id, outcome, body.note).await?;
    written(&state, &who, id).await
}

/// Resolves an open conflict: the outcome is written to the record's field, superseding every
/// concurrent value, and devices receive it with their next sync.
#[utoipa::path(post, path = "/v1/conflicts/{id}/resolve", tag = "decisions", operation_id = "resolve_conflict",
    params(("id" = Uuid, Path, description = "The conflict's id")),
    request_body = Resolution,
    responses(
        (status = 200, description = "Resolved; the conflict as stored", body = Detail),
        (status = 400, description = "A malformed body or id, or an outcome the field does not take (`malformed`, `invalid_id`, `validation_failed`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager or admin, or a field the caller may not write (`forbidden`, `field_not_writable`)", body = ErrorBody),
        (status = 404, description = "No such conflict the caller may see (`not_found`)", body = ErrorBody),
        (status = 409, description = "Resolved already (`already_resolved`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn resolve_conflict(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<Resolution>,
) -> Result<Json<Detail>, Error> {
    actions::resolve_conflict(&state.sync, &who, id, body.outcome, body.note).await?;
    written(&state, &who, id).await
}

/// Approves a submitted order (held or not).
#[utoipa::path(post, path = "/v1/orders/{id}/approve", tag = "decisions", operation_id = "approve_order",
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body = OrderDecision,
    responses(
        (status = 200, description = "Approved; the order as stored", body = Detail),
        (status = 400, description = "A malformed body or id (`malformed`, `invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager or admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such order the caller may see (`not_found`)", body = ErrorBody),
        (status = 409, description = "The order is not submitted (`invalid_status`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn approve_order(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<OrderDecision>,
) -> Result<Json<Detail>, Error> {
    actions::decide_order(&state.sync, &who, id, Decision::Approve, body.note).await?;
    written(&state, &who, id).await
}

/// Rejects a submitted order; the agent may revise it as a draft.
#[utoipa::path(post, path = "/v1/orders/{id}/reject", tag = "decisions", operation_id = "reject_order",
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body = OrderDecision,
    responses(
        (status = 200, description = "Rejected; the order as stored", body = Detail),
        (status = 400, description = "A malformed body or id (`malformed`, `invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager or admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such order the caller may see (`not_found`)", body = ErrorBody),
        (status = 409, description = "The order is not submitted (`invalid_status`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn reject_order(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<OrderDecision>,
) -> Result<Json<Detail>, Error> {
    actions::decide_order(&state.sync, &who, id, Decision::Reject, body.note).await?;
    written(&state, &who, id).await
}
