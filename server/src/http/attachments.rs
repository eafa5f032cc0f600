//! Files: uploads over tus 1.0.0 (`POST /v1/uploads`, then `HEAD` and `PATCH /v1/uploads/{id}`,
//! `DELETE` to give one up), downloads with ranges (`GET /v1/attachments/{hash}`), authorised like
//! a record that references the file, and a collection pass on demand for admins
//! (`POST /v1/attachments/collect`). `docs/attachments.md` describes the protocol.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LOCATION,
    RANGE,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use futures_util::StreamExt;
use serde::Serialize;
use sync_core::attachments::{SHA256_METADATA, TUS_VERSION};
use sync_core::protocol::ErrorBody;
use sync_core::Role;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::error::Error;
use crate::files::collect::{self, Collected};
use crate::files::refs;
use crate::files::store::FileStore;
use crate::files::uploads::{self, Appended, PIECE_BYTES};
use crate::http::extract::Device;
use crate::http::state::AppState;
use crate::http::wire::PathParam;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
/// The body type tus sends bytes in.
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// How long a `PATCH` body may pause before the server keeps what arrived and ends the request.
const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload))
        .routes(routes!(upload_offset, append, cancel_upload))
        .routes(routes!(download))
        .routes(routes!(collect_now))
}

/// A request that names a tus version must name the one spoken (tus: 412 otherwise); one that
/// names none is taken as speaking it.
fn check_tus(headers: &HeaderMap) -> Result<(), Error> {
    match headers.get(TUS_RESUMABLE) {
        Some(v) if v.as_bytes() != TUS_VERSION.as_bytes() => Err(Error::FileRefused {
            code: "tus_version",
            message: format!("this server speaks tus {TUS_VERSION}"),
        }),
        _ => Ok(()),
    }
}

fn header_u64(headers: &HeaderMap, name: &HeaderName, code: &'static str) -> Result<u64, Error> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| Error::bad_request(code, format!("`{name}` must be a number of bytes")))
}

/// The file's hash from `Upload-Metadata` (`key base64value` pairs separated by commas).
fn metadata_hash(headers: &HeaderMap) -> Result<String, Error> {
    let missing = || {
        Error::bad_request(
            "invalid_hash",
            format!("Upload-Metadata must carry `{SHA256_METADATA}`, the file's SHA-256 in hex, base64-encoded"),
        )
    };
    let text = headers
        .get(UPLOAD_METADATA)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let value = text
        .split(',')
        .filter_map(|pair| pair.trim().split_once(' '))
        .find(|(key, _)| *key == SHA256_METADATA)
        .map(|(_, value)| value.trim())
        .ok_or_else(missing)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| missing())?;
    String::from_utf8(bytes).map_err(|_| missing())
}

fn tus_headers(status: StatusCode) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An upload created.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadCreated {
    pub id: Uuid,
    /// Where to send the bytes (`PATCH`) and ask the offset (`HEAD`).
    pub location: String,
    pub offset: u64,
}

/// Starts an upload (tus creation): `Upload-Length` is the file's size, `Upload-Metadata` carries
/// `sha256` (the file's SHA-256 in hex, base64-encoded, as tus encodes metadata values). Answered
/// the same whether or not the server holds the file already: the bytes come first. (The tus
/// headers, `Upload-Length`, `Upload-Metadata`, `Upload-Offset`, `Tus-Resumable` and `Range`, are
/// described in docs/attachments.md rather than as parameters here.)
#[utoipa::path(post, path = "/v1/uploads", tag = "attachments", operation_id = "create_upload",
    responses(
        (status = 201, description = "Created; send the bytes to `Location`", body = UploadCreated,
            headers(("Location" = String, description = "The upload's address"), ("Upload-Offset" = u64, description = "0"))),
        (status = 400, description = "A missing or malformed length or hash (`invalid_upload_length`, `invalid_hash`, `empty_file`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 412, description = "Another tus version (`tus_version`)", body = ErrorBody),
        (status = 413, description = "Larger than a file may be, or past the device's quota (`file_too_large`, `quota_exceeded`)", body = ErrorBody),
        (status = 429, description = "The device has too many uploads in progress (`too_many_uploads`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_upload(
    State(state): State<AppState>,
    Device(who): Device,
    headers: HeaderMap,
) -> Result<Response, Error> {
    check_tus(&headers)?;
    let length = header_u64(&headers, &UPLOAD_LENGTH, "invalid_upload_length")?;
    let hash = metadata_hash(&headers)?;
    let upload = uploads::create(&state.db, &state.file_limits, &who, &hash, length).await?;
    let location = format!("/v1/uploads/{}", upload.id);
    let mut response = (
        StatusCode::CREATED,
        Json(UploadCreated {
            id: upload.id,
            location: location.clone(),
            offset: 0,
        }),
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    h.insert(UPLOAD_OFFSET, HeaderValue::from(0u64));
    h.insert(
        LOCATION,
        HeaderValue::from_str(&location).map_err(|e| Error::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// How many bytes an upload holds (`Upload-Offset`), to resume from after a broken connection.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "attachments", operation_id = "upload_offset",
    params(("id" = Uuid, Path, description = "The upload's id")),
    responses(
        (status = 200, description = "The upload's offset and length",
            headers(("Upload-Offset" = u64, description = "Bytes received"), ("Upload-Length" = u64, description = "The file's size"))),
        (status = 400, description = "The id is not a UUID (`invalid_id`)"),
        (status = 401, description = "No valid token"),
        (status = 404, description = "No such upload of this device: never made, finished, refused or abandoned (`not_found`)"),
        (status = 412, description = "Another tus version (`tus_version`)"),
    ),
    security(("bearer" = [])))]
async fn upload_offset(
    State(state): State<AppState>,
    Device(who): Device,
    headers: HeaderMap,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, Error> {
    check_tus(&headers)?;
    let upload = uploads::find(&state.db.conn, &who, id).await?;
    let mut response = tus_headers(StatusCode::OK);
    let h = response.headers_mut();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(upload.offset));
    h.insert(UPLOAD_LENGTH, HeaderValue::from(upload.length));
    Ok(response)
}

/// Sends bytes of an upload from `Upload-Offset` (which must be the offset the server holds). Each
/// piece is kept as it arrives: a connection that breaks loses only what had not arrived. The
/// request that completes the file has it checked (its SHA-256, its media type from its bytes)
/// and stored; a refused file leaves nothing behind. The body is `application/offset+octet-stream`
/// bytes, from `Upload-Offset`.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "attachments", operation_id = "append_upload",
    params(("id" = Uuid, Path, description = "The upload's id")),
    responses(
        (status = 204, description = "Taken; when `Upload-Offset` equals the length, the file is stored and checked",
            headers(("Upload-Offset" = u64, description = "Bytes received"))),
        (status = 400, description = "A malformed offset or id, or a body that broke off (`invalid_upload_offset`, `invalid_id`, `body_interrupted`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such upload of this device (`not_found`)", body = ErrorBody),
        (status = 408, description = "The body paused too long; what arrived is kept (`body_too_slow`)", body = ErrorBody),
        (status = 409, description = "The upload holds another offset (`offset_mismatch`)", body = ErrorBody),
        (status = 412, description = "Another tus version (`tus_version`)", body = ErrorBody),
        (status = 413, description = "Bytes past the file's length (`beyond_length`)", body = ErrorBody),
        (status = 415, description = "Not `application/offset+octet-stream`, or a file of a media type not taken (`unsupported_media_type`, `media_type_not_allowed`)", body = ErrorBody),
        (status = 422, description = "The bytes do not have the hash the upload was made with (`hash_mismatch`)", body = ErrorBody),
        (status = 503, description = "The server's room for uploads is taken (`server_busy`, with `Retry-After`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn append(
    State(state): State<AppState>,
    Device(who): Device,
    PathParam(id): PathParam<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    check_tus(&headers)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    if content_type != Some(OFFSET_OCTET_STREAM) {
        return Err(Error::UnsupportedMediaType {
            expected: OFFSET_OCTET_STREAM,
        });
    }
    let offset = header_u64(&headers, &UPLOAD_OFFSET, "invalid_upload_offset")?;
    // What the request holds in memory before it stores a piece, within the budget the sync
    // bodies share: uploads cannot take the memory of syncs, nor syncs of uploads.
    let _room = state.body_budget.take(PIECE_BYTES + (64 << 10)).await?;
    let appended = uploads::append(
        &state.db,
        &state.files,
        &who,
        id,
        offset,
        body.into_data_stream().boxed(),
        BODY_IDLE,
    )
    .await?;
    let at = match appended {
        Appended::Partial(at) => at,
        Appended::Complete(stored) => {
            tracing::info!(hash = %stored.hash, size = stored.size, media_type = stored.media_type, "file stored");
            stored.size
        }
    };
    let mut response = tus_headers(StatusCode::NO_CONTENT);
    response
        .headers_mut()
        .insert(UPLOAD_OFFSET, HeaderValue::from(at));
    Ok(response)
}

/// Gives up an upload and what it received (tus termination).
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "attachments", operation_id = "cancel_upload",
    params(("id" = Uuid, Path, description = "The upload's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID (`invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such upload of this device (`not_found`)", body = ErrorBody),
        (status = 412, description = "Another tus version (`tus_version`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn cancel_upload(
    State(state): State<AppState>,
    Device(who): Device,
    headers: HeaderMap,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, Error> {
    check_tus(&headers)?;
    let upload = uploads::find(&state.db.conn, &who, id).await?;
    uploads::discard(&state.db, &state.files, upload.id).await?;
    Ok(tus_headers(StatusCode::NO_CONTENT))
}

/// The one range of `Range` to serve, if it asks for one the file has; None serves the whole file
/// (no `Range`, one that does not parse, or several ranges, which RFC 9110 lets a server ignore).
fn range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, Error> {
    let Some(text) = headers.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Ok(parsed) = http_range_header::parse_range_header(text) else {
        return Ok(None);
    };
    match parsed.validate(size) {
        Ok(ranges) if ranges.len() == 1 => Ok(Some(*ranges[0].start()..ranges[0].end() + 1)),
        Ok(_) => Ok(None),
        Err(_) => Err(Error::FileRefused {
            code: "range_not_satisfiable",
            message: format!("the file has {size} bytes"),
        }),
    }
}

/// A file's bytes, or a range of them (`Range: bytes=...`), to a user who may read a record that
/// references it (or who uploaded it). A file the caller may not read is not found, like one that
/// does not exist.
#[utoipa::path(get, path = "/v1/attachments/{hash}", tag = "attachments", operation_id = "download_attachment",
    params(("hash" = String, Path, description = "The file's SHA-256, 64 lowercase hex digits")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("Content-Type" = String, description = "The media type recognised from the bytes"), ("ETag" = String, description = "The hash, quoted"))),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("Content-Range" = String, description = "`bytes START-END/SIZE`"))),
        (status = 400, description = "Not a hash (`invalid_hash`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such file, or none the caller may read (`not_found`)", body = ErrorBody),
        (status = 416, description = "A range past the file's end (`range_not_satisfiable`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn download(
    State(state): State<AppState>,
    who: Principal,
    PathParam(hash): PathParam<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    if !sync_core::attachments::is_hash(&hash) {
        return Err(Error::bad_request(
            "invalid_hash",
            "a file is named by its SHA-256, 64 lowercase hex digits",
        ));
    }
    let not_found = || Error::NotFound("no such file".into());
    let file = refs::stored(&state.db.conn, &hash)
        .await?
        .ok_or_else(not_found)?;
    if !refs::may_read(&state.db.conn, &who, &file).await? {
        return Err(not_found());
    }
    let range = range(&headers, file.size)?;
    let (status, bytes) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.clone()),
        None => (StatusCode::OK, 0..file.size),
    };
    let key = FileStore::file_key(&hash);
    let stream = state.files.read(&key, bytes.clone()).await?;
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&file.media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(bytes.end - bytes.start));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A file never changes: a client may keep it as long as it likes, but only for this user.
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(
        ETAG,
        HeaderValue::from_str(&format!("\"{hash}\""))
            .map_err(|e| Error::Internal(e.to_string()))?,
    );
    if range.is_some() {
        h.insert(
            CONTENT_RANGE,
            HeaderValue::from_str(&format!(
                "bytes {}-{}/{}",
                bytes.start,
                bytes.end - 1,
                file.size
            ))
            .map_err(|e| Error::Internal(e.to_string()))?,
        );
    }
    Ok(response)
}

/// Runs a collection now, as the server does hourly: files unreferenced for longer than the grace
/// period are deleted, abandoned uploads dropped. Admins only.
#[utoipa::path(post, path = "/v1/attachments/collect", tag = "attachments", operation_id = "collect_attachments",
    responses(
        (status = 200, description = "What was collected", body = Collected),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn collect_now(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Json<Collected>, Error> {
    if who.role != Role::Admin {
        return Err(Error::Forbidden(
            "only admins run the collection of files".into(),
        ));
    }
    Ok(Json(
        collect::collect(&state.db, &state.files, state.file_limits.grace).await?,
    ))
}
