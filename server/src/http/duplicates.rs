//! Likely duplicate customers: `GET /v1/duplicates` lists the candidates whose two customers the
//! caller sees, `GET /v1/duplicates/{id}` shows one, `POST /v1/duplicates/{id}/dismiss` says the
//! two are different customers, `POST /v1/duplicates/{id}/merge` folds one into the other, and
//! `POST /v1/duplicates/scan` checks every customer again.
//! Managers and admins only; the scan, which reads the whole company, admins only.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use sync_core::protocol::ErrorBody;
use sync_core::Role;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::duplicates::{self, Candidate, CandidatePage, Listing, Scan};
use crate::crm::merge::{self as merging, Merged};
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{JsonBody, PathParam, QueryParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(dismiss))
        .routes(routes!(merge))
        .routes(routes!(scan))
}

/// Filters of the list of candidates.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// `open`, `dismissed` or `merged`; every status when left out.
    status: Option<String>,
    /// Only candidates scoring at least this (0 to 1).
    min_score: Option<f64>,
    /// Only the candidates of this customer.
    customer_id: Option<Uuid>,
    /// The `next` of the previous page.
    after: Option<Uuid>,
    /// Per page, 1 to 500 [default 100].
    limit: Option<u64>,
}

/// The likely duplicate customers whose two customers the caller sees, in the order they were
/// found: each pair with its score, its reasons (`same_phone`, `same_tax_id`, `similar_name` with
/// the distance between the two) and both customers.
#[utoipa::path(get, path = "/v1/duplicates", tag = "duplicates", operation_id = "list_duplicates",
    params(Filters),
    responses(
        (status = 200, description = "A page of candidates", body = CandidatePage),
        (status = 400, description = "A malformed filter (`invalid_query`, `invalid_parameter`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(f): QueryParams<Filters>,
) -> Result<Json<CandidatePage>, Error> {
    if let Some(s) = f.status.as_deref() {
        if !["open", "dismissed", "merged"].contains(&s) {
            return Err(Error::bad_request(
                "invalid_parameter",
                format!("`status`: `{s}` is not open, dismissed or merged"),
            ));
        }
    }
    if let Some(min) = f.min_score {
        if !(0.0..=1.0).contains(&min) {
            return Err(Error::bad_request(
                "invalid_parameter",
                "`min_score`: expected a number from 0 to 1",
            ));
        }
    }
    let listing = Listing {
        status: f.status,
        min_score: f.min_score,
        customer: f.customer_id,
        after: f.after,
        limit: f.limit.unwrap_or(100),
    };
    Ok(Json(
        duplicates::list(&state.db.conn, state.db.vault(), &who, &listing).await?,
    ))
}

/// One candidate whose two customers the caller sees.
#[utoipa::path(get, path = "/v1/duplicates/{id}", tag = "duplicates", operation_id = "show_duplicate",
    params(("id" = Uuid, Path, description = "The candidate's id")),
    responses(
        (status = 200, description = "The candidate", body = Candidate),
        (status = 400, description = "The id is not a UUID (`invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such candidate, or one with a customer the caller does not see (`not_found`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Candidate>, Error> {
    Ok(Json(
        duplicates::get(&state.db.conn, state.db.vault(), &who, id).await?,
    ))
}

/// Says the two customers of an open candidate are different ones: the pair is not raised again.
#[utoipa::path(post, path = "/v1/duplicates/{id}/dismiss", tag = "duplicates", operation_id = "dismiss_duplicate",
    params(("id" = Uuid, Path, description = "The candidate's id")),
    responses(
        (status = 200, description = "Dismissed; the candidate as it now stands", body = Candidate),
        (status = 400, description = "The id is not a UUID (`invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such candidate, or one with a customer the caller does not see (`not_found`)", body = ErrorBody),
        (status = 409, description = "Already dismissed or merged (`conflict`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn dismiss(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Candidate>, Error> {
    Ok(Json(
        duplicates::dismiss(&state.db.conn, state.db.vault(), &who, id).await?,
    ))
}

/// Which customer of a pair survives a merge, and the values it takes where the two differ.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// One of the pair's two customers.
    pub survivor: Uuid,
    /// Field values the survivor takes (a manager's pick where the two differ), in the fields'
    /// JSON types; every other field it lacks it takes from the other customer.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Folds the other customer of an open pair into `survivor`: the survivor takes the picked values
/// and every field it lacks; the other becomes a tombstone naming it (`merged_into`); its contacts,
/// visits, orders, payments, opportunities, tickets, alerts, conflicts and tasks move to the
/// survivor. Every write is a change the server makes for the caller (`merge` in the records'
/// history), which devices receive; a record a device makes offline for the merged-away customer
/// moves to the survivor when it arrives.
#[utoipa::path(post, path = "/v1/duplicates/{id}/merge", tag = "duplicates", operation_id = "merge_duplicate",
    params(("id" = Uuid, Path, description = "The candidate's id")),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "Merged", body = Merged),
        (status = 400, description = "A survivor not of the pair, a field that is unknown, of the wrong type or not the survivor's to take, or a malformed body (`invalid_survivor`, `invalid_field`, `validation_failed`, `malformed`, `invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An agent, or a field the caller may not write (`forbidden`, `field_not_writable`)", body = ErrorBody),
        (status = 404, description = "No such candidate, or one with a customer the caller does not see (`not_found`)", body = ErrorBody),
        (status = 409, description = "Already dismissed or merged (`conflict`), or a record the merge writes refused it (`duplicate_code`...)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn merge(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<MergeRequest>,
) -> Result<Json<Merged>, Error> {
    Ok(Json(
        merging::merge(&state.sync, &who, id, body.survivor, &body.fields).await?,
    ))
}

/// Checks every customer of the company again (customers are checked as they arrive; this is for
/// records that arrived before the check existed, or after a restore). Admins only.
#[utoipa::path(post, path = "/v1/duplicates/scan", tag = "duplicates", operation_id = "scan_duplicates",
    responses(
        (status = 200, description = "How many customers were checked and pairs found", body = Scan),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn scan(State(state): State<AppState>, who: Principal) -> Result<Json<Scan>, Error> {
    if who.role != Role::Admin {
        return Err(Error::Forbidden(
            "only admins scan the whole company for duplicates".into(),
        ));
    }
    Ok(Json(duplicates::scan(&state.db).await?))
}
