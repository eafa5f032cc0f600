//! `POST /v1/imports/{what}`: the dashboard's import of a CSV file of customers, contacts, products,
//! payments or price lists, the same as `fieldsync-server import`: the whole file is planned first, nothing is
//! written unless every row passes, and `dry_run` only says what would happen.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use sync_core::protocol::ErrorBody;
use sync_core::Role;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::Principal;
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{PathParam, QueryParams, RawBody};
use crate::transfer::plan::{self, RowError};
use crate::transfer::write::{self, Written};
use crate::transfer::{columns, sheet};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import))
}

#[derive(Deserialize, IntoParams)]
pub struct ImportParams {
    /// `true`: only say what would be created and updated, and which rows are in error.
    pub dry_run: Option<bool>,
}

/// What an import did, or would do.
#[derive(Serialize, ToSchema)]
pub struct ImportAnswer {
    /// Rows of the file (blank lines aside).
    pub rows: usize,
    pub to_create: usize,
    pub to_update: usize,
    pub unchanged: usize,
    /// How many rows are in error; the first thousand are listed.
    pub error_count: usize,
    pub errors: Vec<RowError>,
    /// Headers that name no field: their cells were not imported.
    pub ignored_columns: Vec<String>,
    /// Whether anything was written: false for a dry run or a file with rows in error.
    pub imported: bool,
    /// What was written, when it was.
    pub written: Option<Written>,
}

/// Imports a CSV file (UTF-8 with or without a byte-order mark, comma- or semicolon-separated,
/// columns matched by name and common synonyms) as records the server writes for the caller,
/// within their scope. Rows are matched on the customer's number, a product's sku or a contact's
/// customer and e-mail (or an export's `id`), so importing a file again updates instead of
/// duplicating.
#[utoipa::path(post, path = "/v1/imports/{what}", tag = "records", operation_id = "import_file",
    params(("what" = String, Path, description = "`customers`, `contacts`, `products`, `payments`, `price-lists`, `orders` or `leads`"), ImportParams),
    request_body(description = "The CSV file, sent as it is (`text/csv`; any media type is read as CSV)",
        content((String = "text/csv"), (String = "text/plain"))),
    responses(
        (status = 200, description = "What was imported, or would be; rows in error are listed and then nothing is written", body = ImportAnswer),
        (status = 400, description = "A file that does not read (`invalid_file`), or that lacks the column its rows are matched on", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`); no CSRF token with a session (`csrf_required`)", body = ErrorBody),
        (status = 404, description = "Not a kind that can be imported", body = ErrorBody),
        (status = 408, description = "The file arrived too slowly (`body_too_slow`)", body = ErrorBody),
        (status = 413, description = "Larger than 32 MiB", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn import(
    State(state): State<AppState>,
    who: Principal,
    PathParam(what): PathParam<String>,
    QueryParams(params): QueryParams<ImportParams>,
    RawBody(body): RawBody,
) -> Result<Json<ImportAnswer>, Error> {
    if who.role < Role::Manager {
        return Err(Error::Forbidden("managers and admins import".into()));
    }
    let target = columns::target(&what)
        .ok_or_else(|| Error::NotFound(format!("{what} cannot be imported")))?;
    let sheet = sheet::read(&body)?;
    drop(body);
    let plan = plan::plan(&state.db.conn, state.db.vault(), &who, target, &sheet).await?;
    let mut answer = ImportAnswer {
        rows: sheet.rows.len(),
        to_create: plan.creates.len(),
        to_update: plan.updates.len(),
        unchanged: plan.unchanged,
        error_count: plan.errors.len(),
        errors: plan
            .errors
            .iter()
            .take(plan::MAX_LISTED_ERRORS)
            .cloned()
            .collect(),
        ignored_columns: plan.ignored.clone(),
        imported: false,
        written: None,
    };
    drop(sheet);
    if plan.errors.is_empty() && !params.dry_run.unwrap_or(false) {
        tracing::info!(user = %who.user_id, what, rows = answer.rows, "importing");
        answer.written = Some(write::apply(&state.sync, &who, plan, |_| {}).await?);
        answer.imported = true;
    }
    Ok(Json(answer))
}
