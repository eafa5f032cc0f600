//! Records for the dashboard and integrations: `GET /v1/records?kind=K` lists one kind within the
//! caller's scope, filtered by field and paged; `GET /v1/records/{id}` shows one record with its
//! parent and the records scoped through it; `POST /v1/records` creates one and `PATCH
//! /v1/records/{id}` writes fields of one, as changes the server makes for the caller through the
//! merge path. Agents see their territories, managers theirs, admins everything; every user sees the
//! company-wide kinds, and only managers and admins write them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use sync_core::protocol::ErrorBody;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::history::{self, Ask};
use crate::crm::privacy::{self, Action, Shown};
use crate::crm::records::{Detail, Listing, Page};
use crate::crm::{edit, records};
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{JsonBody, PathParam, QueryParams};
use sync_core::history::History;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(history))
}

/// A record to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// The kind (`customer`, `visit`, `product`...).
    #[schema(value_type = KindName)]
    pub kind: String,
    /// Field values by name, in their JSON types (money and times as integers, positions as
    /// numbers); the kind's required fields must be there.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Fields to write on a record; `null` unsets one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordEdit {
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The record as it stands after a write: the caller may see it, since they could write it.
pub(super) async fn written(
    state: &AppState,
    who: &Principal,
    id: Uuid,
) -> Result<Json<Detail>, Error> {
    records::get(&state.db.conn, state.db.vault(), who, id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::Internal(format!("record {id} was written and is not there")))
}

/// Creates a record, as a change the server makes for the caller: within the caller's scope (a
/// customer in one of their territories, a visit of a customer they see) and field rights, checked
/// against the kind's schema.
#[utoipa::path(post, path = "/v1/records", tag = "records", operation_id = "create_record",
    request_body = NewRecord,
    responses(
        (status = 201, description = "Created; the record as stored", body = Detail),
        (status = 400, description = "An unknown kind, or fields that are unknown, of the wrong type or invalid (`unknown_kind`, `validation_failed`, `unknown_territory`, `unknown_parent`, `malformed`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A field the caller may not write, a company-wide kind written by an agent, or a place outside the caller's scope (`field_not_writable`, `read_only`, `out_of_scope`)", body = ErrorBody),
        (status = 409, description = "A second settings record (`settings_exist`)", body = ErrorBody),
        (status = 413, description = "The record passes a size cap", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<NewRecord>,
) -> Result<(StatusCode, Json<Detail>), Error> {
    let kind = sync_core::kinds::get(&body.kind)?;
    let id = edit::create(&state.sync, &who, kind, &body.fields).await?;
    Ok((StatusCode::CREATED, written(&state, &who, id).await?))
}

/// Writes fields of a record the caller may see, as a change the server makes for the caller: a
/// manager assigning an owner or a key-account manager, grading a customer, moving it to another of
/// their territories; anyone correcting a field they may write.
#[utoipa::path(patch, path = "/v1/records/{id}", tag = "records", operation_id = "update_record",
    params(("id" = Uuid, Path, description = "The record's id")),
    request_body = RecordEdit,
    responses(
        (status = 200, description = "Written; the record as stored", body = Detail),
        (status = 400, description = "Fields that are unknown, of the wrong type or invalid, or a malformed body or id (`validation_failed`, `unknown_territory`, `malformed`, `invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A field the caller may not write, a company-wide record written by an agent, or a move outside the caller's scope (`field_not_writable`, `read_only`, `out_of_scope`)", body = ErrorBody),
        (status = 404, description = "No such record, or not one the caller may see (`not_found`)", body = ErrorBody),
        (status = 409, description = "The stored record does not load (`record_unloadable`)", body = ErrorBody),
        (status = 413, description = "The record would pass a size cap", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<RecordEdit>,
) -> Result<Json<Detail>, Error> {
    edit::update(&state.sync, &who, id, &body.fields).await?;
    written(&state, &who, id).await
}

/// The name of a record kind: the OpenAPI document lists them, so that clients and API testers know
/// the values `kind` takes.
pub struct KindName;

impl utoipa::PartialSchema for KindName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(sync_core::kinds::ALL.iter().map(|k| k.name)))
            .description(Some("A record kind"))
            .into()
    }
}

impl utoipa::ToSchema for KindName {}

/// Query parameters that are not field filters.
const RESERVED: [&str; 4] = ["kind", "after", "limit", "include_deleted"];

/// A page of the records of one kind the caller may see, oldest first. Every query parameter besides
/// `kind`, `after`, `limit` and `include_deleted` names a field of the kind and the value it must
/// equal, written as on the command line (`status=active`, `credit_limit=5000`, `customer_id=...`);
/// an empty value matches records where the field is unset.
#[utoipa::path(get, path = "/v1/records", tag = "records", operation_id = "list_records",
    params(
        ("kind" = KindName, Query, description = "The kind to list (`customer`, `visit`, ...)"),
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
        state.db.vault(),
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
    privacy::audit(&state.db.conn, &who, Action::Read, Shown::of(&page.records)).await?;
    Ok(Json(page))
}

/// The moment to read a record at.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    /// Read the record as it stood at this moment, by the times the server received its changes:
    /// an RFC 3339 time or milliseconds since the epoch. The record alone is shown then (no
    /// `parent`, no `related`).
    at: Option<String>,
}

/// One record the caller may see: its fields and conflicts, the record that scopes it, and the
/// records scoped through it; or, with `at`, the record as it stood at a past moment.
#[utoipa::path(get, path = "/v1/records/{id}", tag = "records", operation_id = "show_record",
    params(("id" = Uuid, Path, description = "The record's id"), ShowQuery),
    responses(
        (status = 200, description = "The record", body = Detail),
        (status = 400, description = "The id is not a UUID, or `at` is not a time (`invalid_id`, `invalid_parameter`, `invalid_query`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such record, not one the caller may see, or (with `at`) one that did not exist yet (`not_found`)", body = ErrorBody),
        (status = 409, description = "The stored record does not load (`conflict`)", body = ErrorBody),
        (status = 503, description = "With `at`: every slot of heavy reads stayed taken (`server_busy`, with `Retry-After`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    QueryParams(q): QueryParams<ShowQuery>,
) -> Result<Json<Detail>, Error> {
    if let Some(at) = q.at {
        let at = moment(&at)?;
        let _slot = state.report_slot().await?;
        let record = history::at(&state.db.conn, state.db.vault(), &who, id, at).await?;
        privacy::audit(&state.db.conn, &who, Action::Read, Shown::of([&record])).await?;
        return Ok(Json(Detail {
            record,
            parent: None,
            related: Vec::new(),
        }));
    }
    let detail = records::get(&state.db.conn, state.db.vault(), &who, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no record {id}")))?;
    let shown = Shown::of(
        std::iter::once(&detail.record)
            .chain(&detail.parent)
            .chain(&detail.related),
    );
    privacy::audit(&state.db.conn, &who, Action::Read, shown).await?;
    Ok(Json(detail))
}

/// An RFC 3339 time or milliseconds since the epoch, in milliseconds.
fn moment(text: &str) -> Result<i64, Error> {
    text.parse::<i64>()
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.timestamp_millis())
        })
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_parameter",
                format!(
                    "`at`: `{text}` is neither an RFC 3339 time nor milliseconds since the epoch"
                ),
            )
        })
}

/// What part of a record's history to show.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Entries numbered below this: the `next_before` of the previous answer.
    before: Option<usize>,
    /// Entries per answer, 1 to 1,000 [default 100]; an answer also ends before 1 MiB of values.
    limit: Option<usize>,
    /// Only the changes of this field (for items, `lines` or `lines.ITEM`).
    field: Option<String>,
}

/// Who changed which field of a record, from which device, when (the server's receipt time beside
/// the device's own clock), from which value to which, newest first. Concurrent values show as
/// such. Managers and admins read the history of the records they see; agents of their own (ones
/// they created, or whose owner, agent or assignee they are).
#[utoipa::path(get, path = "/v1/records/{id}/history", tag = "records", operation_id = "record_history",
    params(("id" = Uuid, Path, description = "The record's id"), HistoryQuery),
    responses(
        (status = 200, description = "The record's changes, newest first", body = History),
        (status = 400, description = "The id is not a UUID, or a malformed parameter (`invalid_id`, `invalid_query`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such record, or not one whose history the caller may read (`not_found`)", body = ErrorBody),
        (status = 409, description = "The stored record does not load (`conflict`)", body = ErrorBody),
        (status = 503, description = "Every slot of heavy reads (shared with the reports) stayed taken (`server_busy`, with `Retry-After`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn history(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> Result<Json<History>, Error> {
    let _slot = state.report_slot().await?;
    let ask = Ask {
        before: q.before,
        limit: q.limit.unwrap_or(100),
        field: q.field.as_deref(),
    };
    let history = history::history(&state.db.conn, state.db.vault(), &who, id, &ask).await?;
    // A record's history holds the past values of its personal fields.
    let shown = Shown::ids([(id, history.kind.as_str())]);
    privacy::audit(&state.db.conn, &who, Action::Read, shown).await?;
    Ok(Json(history))
}
