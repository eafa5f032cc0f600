//! The one error type of the server, and its single mapping to HTTP.
//!
//! **Architecture invariant:** a client never sees database or internal error text. Storage and internal
//! errors are logged with the request's id and answered with a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sync_core::protocol::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong e-mail or password")]
    BadCredentials,
    #[error("this device was revoked; delete its local data")]
    DeviceRevoked,
    #[error("this device's token expired; log in again")]
    TokenExpired,
    /// Too many requests from one account, address or device; `retry_after` says when to try again.
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
    /// Every sync slot stayed taken for as long as a call may wait for one.
    #[error(
        "the server is busy with other devices' syncs; try again after the Retry-After seconds"
    )]
    Busy { retry_after: std::time::Duration },
    #[error("{0}")]
    Forbidden(String),
    /// Refused for a reason the client acts on (`csrf_required`, `use_the_app`, `device_only`).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is larger than this endpoint accepts")]
    PayloadTooLarge,
    /// The body arrived slower than the server waits for (`http::admission::BODY_MIN_RATE`).
    #[error("the request body arrived too slowly; send it again")]
    SlowBody,
    #[error("expected a body of type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("{0}")]
    Conflict(String),
    /// A file or an upload refused (too large, over quota, not the hash it claimed, not an allowed
    /// media type, sent from the wrong offset); `code` says which.
    #[error("{message}")]
    FileRefused { code: &'static str, message: String },
    /// The device has heard of feed positions up to `device`, but the server's record of what it told
    /// the device stops at `server`: the database was restored from an older backup.
    #[error("this server's database was restored from a backup older than what this device has seen (device checkpoint {device}, server's record {server}); compare records and push again what the server lacks")]
    ServerRestored { device: i64, server: i64 },
    #[error(transparent)]
    Core(#[from] sync_core::Error),
    /// A write through the merge path (a record endpoint's) that the path refused for its record,
    /// with the reason a device's push would get for it.
    #[error("{}", .0.message)]
    Refused(sync_core::protocol::Reason),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("storage error: {0}")]
    Storage(String),
    /// The server key file could not be read or written (`keys`); a start-up failure, never a
    /// request's.
    #[error("key file {0}")]
    KeyFile(String),
    /// The certificate or key of `--tls-cert` / `--tls-key` does not load.
    #[error("TLS: {0}")]
    Tls(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Error {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated
            | Error::BadCredentials
            | Error::DeviceRevoked
            | Error::TokenExpired => StatusCode::UNAUTHORIZED,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Forbidden(_) | Error::Denied { .. } => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::SlowBody => StatusCode::REQUEST_TIMEOUT,
            Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Conflict(_) | Error::ServerRestored { .. } => StatusCode::CONFLICT,
            Error::FileRefused { code, .. } => match *code {
                "file_too_large" | "quota_exceeded" | "beyond_length" => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                "too_many_uploads" => StatusCode::TOO_MANY_REQUESTS,
                "media_type_not_allowed" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "hash_mismatch" => StatusCode::UNPROCESSABLE_ENTITY,
                "offset_mismatch" => StatusCode::CONFLICT,
                "range_not_satisfiable" => StatusCode::RANGE_NOT_SATISFIABLE,
                "tus_version" => StatusCode::PRECONDITION_FAILED,
                _ => StatusCode::BAD_REQUEST,
            },
            Error::Core(e) => match e {
                sync_core::Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                sync_core::Error::FieldNotWritable { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            },
            Error::Refused(reason) => match reason.code.as_str() {
                "field_not_writable" | "read_only" | "out_of_scope" => StatusCode::FORBIDDEN,
                "document_too_large" | "too_many_operations" => StatusCode::PAYLOAD_TOO_LARGE,
                "record_unloadable" | "settings_exist" | "status_not_allowed"
                | "invalid_status" | "already_resolved" | "duplicate_code" | "order_locked" => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::BAD_REQUEST,
            },
            Error::Db(_)
            | Error::Storage(_)
            | Error::KeyFile(_)
            | Error::Tls(_)
            | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A failure inside the server, whose text stays in the log. A busy server (also a 5xx) is not
    /// one: it says so, and the device learns that it may retry.
    fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Db(_)
                | Error::Storage(_)
                | Error::KeyFile(_)
                | Error::Tls(_)
                | Error::Internal(_)
        )
    }

    /// The stable machine-readable code clients act on.
    pub fn code(&self) -> &str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::BadCredentials => "bad_credentials",
            Error::DeviceRevoked => "device_revoked",
            Error::TokenExpired => "token_expired",
            Error::RateLimited { code, .. } => code,
            Error::Busy { .. } => "server_busy",
            Error::Forbidden(_) => "forbidden",
            Error::Denied { code, .. } => code,
            Error::NotFound(_) => "not_found",
            Error::BadRequest { code, .. } => code,
            Error::PayloadTooLarge => "payload_too_large",
            Error::SlowBody => "body_too_slow",
            Error::UnsupportedMediaType { .. } => "unsupported_media_type",
            Error::Conflict(_) => "conflict",
            Error::FileRefused { code, .. } => code,
            Error::ServerRestored { .. } => "server_restored",
            Error::Core(e) => e.code(),
            Error::Refused(reason) => &reason.code,
            Error::Db(_)
            | Error::Storage(_)
            | Error::KeyFile(_)
            | Error::Tls(_)
            | Error::Internal(_) => "internal",
        }
    }
}

/// A failed read on the rusqlite path (`sqlite_read`), a database error like any other.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Db(sea_orm::DbErr::Query(sea_orm::RuntimeErr::Internal(
            format!("SQLite: {e}"),
        )))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if self.is_internal() {
            tracing::error!(error = %self, "request failed");
            "internal server error; the request changed nothing and may be retried".to_string()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
                wipe: matches!(self, Error::DeviceRevoked),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Error::RateLimited { retry_after, .. } | Error::Busy { retry_after } = &self {
            // Whole seconds, rounded up, so a client that waits that long finds a token.
            let secs = retry_after.as_millis().div_ceil(1000).max(1);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs as u64),
            );
        }
        response
    }
}
