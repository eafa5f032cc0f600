//! Records for the dashboard and integrations: `GET /v1/records?kind=K` lists one kind within the
//! caller's scope, filtered by field and paged; `GET /v1/records/{id}` shows one record with its
//! parent and the records scoped through it. Agents see their territories, managers theirs, admins
//! everything; every user sees the company-wide kinds.

use axum::extract::State;
use axum::Json;
use sync_core::protocol::ErrorBody;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::records::{self, Detail, Listing, Page};
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{PathParam, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
}

/// Query parameters that are not field filters.
const RESERVED: [&str; 4] = ["kind", "after", "limit", "include_deleted"];

/// A page of the records of one kind the caller may see, oldest first. Every query parameter besides
/// `kind`, `after`, `limit` and `include_deleted` names a field of the kind and the value it must
/// equal, written as on the command line (`status=active`, `credit_limit=5000`, `customer_id=...`);
/// an empty value matches records where the field is unset.
#[utoipa::path(get, path = "/v1/records", tag = "records", operation_id = "list_records",
    params(
        ("kind" = String, Query, description = "The kind to list (`customer`, `visit`, ...)"),
        ("after" = Option<Uuid>, Query, description = "The `next` of the previous page"),
        ("limit" = Option<u64>, Query, description = "Records per page, 1 to 500 [default 100]; a page also ends before 2 MiB of fields"),
        ("include_deleted" = Option<bool>, Query, description = "List deleted records too [default false]"),
    ),
    responses(
        (status = 200, description = "A page of records", body = Page),
        (status = 400, description = "An unknown kind or field, a filter of the wrong type, or a malformed parameter (`unknown_kind`, `unknown_field`, `unfilterable_field`, `invalid_filter`, `invalid_query`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(params): QueryParams<Vec<(String, String)>>,
) -> Result<Json<Page>, Error> {
    let get = |name: &str| {
        let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (_, Some(_)) => Err(Error::bad_request(
                "invalid_query",
                format!("`{name}` is given more than once"),
            )),
            (value, None) => Ok(value),
        }
    };
    let parse = |name: &str, text: &str, what: &str| {
        Error::bad_request("invalid_query", format!("`{name}={text}` is not {what}"))
    };
    let kind =
        get("kind")?.ok_or_else(|| Error::bad_request("invalid_query", "`kind` is required"))?;
    let after = match get("after")? {
        Some(t) => Some(Uuid::parse_str(t).map_err(|_| parse("after", t, "a record id"))?),
        None => None,
    };
    let limit = match get("limit")? {
        Some(t) => t.parse().map_err(|_| parse("limit", t, "a whole number"))?,
        None => 100,
    };
    let include_deleted = match get("include_deleted")? {
        Some(t) => t
            .parse()
            .map_err(|_| parse("include_deleted", t, "true or false"))?,
        None => false,
    };
    let (kind, filters) = records::parse_filters(
        kind,
        params
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )?;
    let page = records::list(
        &state.db.conn,
        &who,
        &Listing {
            kind,
            filters: &filters,
            after,
            limit,
            include_deleted,
        },
    )
    .await?;
    Ok(Json(page))
}

/// One record the caller may see: its fields and conflicts, the record that scopes it, and the
/// records scoped through it.
#[utoipa::path(get, path = "/v1/records/{id}", tag = "records", operation_id = "show_record",
    params(("id" = Uuid, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The record", body = Detail),
        (status = 400, description = "The id is not a UUID (`invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such record, or not one the caller may see (`not_found`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Detail>, Error> {
    records::get(&state.db.conn, &who, id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no record {id}")))
}
