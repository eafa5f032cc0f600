//! `GET /v1/exports/{kind}`: every record of a kind within the caller's scope, as CSV (the kinds
//! `import` takes in the form it reads) or JSON lines: the dashboard's list downloads. Streamed a
//! page of records at a time, so a large export holds one page in memory.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use sync_core::protocol::ErrorBody;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::Principal;
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{PathParam, QueryParams};
use crate::transfer::export::{self, Format};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_kind))
}

#[derive(Deserialize, IntoParams)]
pub struct ExportParams {
    /// `csv` or `jsonl` [default: csv].
    pub format: Option<String>,
}

/// Names the personal fields an export left empty for its reader.
const MASKED: header::HeaderName = header::HeaderName::from_static("fieldsync-masked");

/// Pages of the export on their way to the client: a slow reader holds the export back rather than
/// letting it pile up in memory.
const PAGES_AHEAD: usize = 2;

/// Exports the records of a kind the caller sees, live ones only, as CSV or JSON lines. People's
/// personal fields (a contact's or a lead's name, phone and e-mail; a customer's tax id) go to the
/// agents who work with their customers and those agents' managers, and are audited; an admin
/// gets them empty, named in the `Fieldsync-Masked` header.
#[utoipa::path(get, path = "/v1/exports/{kind}", tag = "records", operation_id = "export_kind",
    params(("kind" = String, Path, description = "A kind (`customer`) or its table (`customers`)"), ExportParams),
    responses(
        (status = 200, description = "The records", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"))),
        (status = 400, description = "A format other than csv or jsonl (`invalid_parameter`)", body = ErrorBody),
        (status = 401, description = "No valid token or session", body = ErrorBody),
        (status = 404, description = "No such kind", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn export_kind(
    State(state): State<AppState>,
    who: Principal,
    PathParam(kind): PathParam<String>,
    QueryParams(params): QueryParams<ExportParams>,
) -> Result<Response, Error> {
    let kind =
        export::kind_named(&kind).ok_or_else(|| Error::NotFound(format!("no kind {kind}")))?;
    let (format, content_type, extension) = match params.format.as_deref() {
        None | Some("csv") => (Format::Csv, "text/csv; charset=utf-8", "csv"),
        Some("jsonl") => (Format::Jsonl, "application/x-ndjson", "jsonl"),
        Some(_) => {
            return Err(Error::bad_request(
                "invalid_parameter",
                "`format`: expected csv or jsonl",
            ))
        }
    };
    // People's personal fields are for the agents who work with their customers and those agents'
    // managers; an admin, who works with none, gets them empty.
    let mask = who.sees_all() && kind.personal_fields().next().is_some();
    if !mask {
        crate::crm::privacy::audit_bulk(&state.db.conn, &who, kind, extension).await?;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Error>>(PAGES_AHEAD);
    let visible = Some(who.visible(None));
    let mut export = export::Export::new(&state.db.conn, kind, format, visible, mask).await?;
    let db = state.db.clone();
    tokio::spawn(async move {
        loop {
            let piece = match export.next(&db.conn, db.vault()).await {
                Ok(Some(bytes)) => Ok(Bytes::from(bytes)),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(kind = kind.name, error = %e, "an export stopped");
                    Err(e)
                }
            };
            let failed = piece.is_err();
            // The client went away: stop reading pages for no one.
            if tx.send(piece).await.is_err() || failed {
                break;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|item| (item.map_err(std::io::Error::other), rx))
    })
    // Polled again after its end by the layers above (compression): a fused stream stays ended.
    .fuse();
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"{}.{extension}\"", kind.table);
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if mask {
        let masked: Vec<&str> = kind.personal_fields().collect();
        if let Ok(v) = HeaderValue::from_str(&masked.join(",")) {
            h.insert(MASKED, v);
        }
    }
    Ok(response)
}
