//! The personal data of the people in the CRM: `GET /v1/people/{id}/export`, everything the CRM
//! holds about a contact or a lead, on request; `POST /v1/people/{id}/erase`, their personal
//! values forgotten, on request; `GET /v1/audit/personal-data`, who read, exported or erased
//! personal fields.

use axum::extract::State;
use axum::Json;
use sync_core::protocol::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::erasure::{self, EraseRequest, Erasure};
use crate::crm::privacy::{self, AccessPage, AccessQuery, PersonExport};
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{JsonBody, PathParam, QueryParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_person))
        .routes(routes!(erase_person))
        .routes(routes!(personal_data_accesses))
}

/// Everything the CRM holds about a person (a contact or a lead), as one JSON document: the
/// record, the customer it belongs to, every change of it, the records that name the person, and
/// who read or exported their personal fields. For managers and admins who may see the record;
/// the export is recorded in the audit trail.
#[utoipa::path(get, path = "/v1/people/{id}/export", tag = "privacy", operation_id = "export_person",
    params(("id" = Uuid, Path, description = "The contact's or lead's id")),
    responses(
        (status = 200, description = "The person's data", body = PersonExport),
        (status = 400, description = "The id is not a UUID, or not a contact's or a lead's (`invalid_id`, `not_a_person`)", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such record, or not one the caller may see (`not_found`)", body = ErrorBody),
        (status = 409, description = "The stored record does not load (`conflict`)", body = ErrorBody),
        (status = 503, description = "Every slot of heavy reads stayed taken (`server_busy`, with `Retry-After`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn export_person(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<PersonExport>, Error> {
    // It replays the record's history, as `GET /v1/records/{id}/history` does.
    let _slot = state.report_slot().await?;
    Ok(Json(
        privacy::export(&state.db.conn, state.db.vault(), &who, id).await?,
    ))
}

/// Erases a person (a contact or a lead) on request: their personal fields (name, phone, e-mail)
/// leave the record and every stored past version of it, its projection, and the conflicts raised
/// about them; the record's other fields keep their history. Devices holding the record replace
/// their copy at their next sync and re-base their unsent edits on it. Recorded in the audit
/// trail with the reason, never the values. For managers and admins who may see the record.
#[utoipa::path(post, path = "/v1/people/{id}/erase", tag = "privacy", operation_id = "erase_person",
    params(("id" = Uuid, Path, description = "The contact's or lead's id")),
    request_body = EraseRequest,
    responses(
        (status = 200, description = "Erased", body = Erasure),
        (status = 400, description = "A malformed body or id, no reason, or not a contact's or a lead's id (`malformed`, `invalid_id`, `invalid_reason`, `not_a_person`)", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such record, or not one the caller may see (`not_found`)", body = ErrorBody),
        (status = 409, description = "The stored record does not load (`conflict`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn erase_person(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<EraseRequest>,
) -> Result<Json<Erasure>, Error> {
    let erased = erasure::erase(&state.db, &state.sync.cache, &who, id, &body.reason).await?;
    Ok(Json(erased))
}

/// The audit trail of personal data, newest first: who read (over the API) or exported which
/// person's personal fields, or erased them and why, when, through which device or session; never
/// the values. An admin
/// reads all of it, a manager the accesses to the records she may see.
#[utoipa::path(get, path = "/v1/audit/personal-data", tag = "privacy", operation_id = "personal_data_accesses",
    params(AccessQuery),
    responses(
        (status = 200, description = "A page of the audit trail", body = AccessPage),
        (status = 400, description = "A malformed parameter (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn personal_data_accesses(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<AccessQuery>,
) -> Result<Json<AccessPage>, Error> {
    Ok(Json(privacy::accesses(&state.db.conn, &who, &q).await?))
}
