//! Who a request acts for: the `Principal` behind its bearer token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::credentials::{authenticate, DeviceReport};
use crate::auth::principal::Principal;
use crate::error::Error;
use crate::http::state::AppState;

impl FromRequestParts<AppState> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Principal, Error> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(Error::Unauthenticated)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(Error::Unauthenticated)?;
        let report = device_report(&parts.headers)?;
        let principal =
            authenticate(&state.db.conn, state.token_ttl, token.trim(), &report).await?;
        tracing::Span::current().record("device", tracing::field::display(principal.device_id));
        Ok(principal)
    }
}

/// The changes a device says wait in its outbox: at most this many.
const MAX_OUTBOX: i64 = 1_000_000_000;

/// The `fieldsync-outbox` (a count) and `fieldsync-app-version` (printable, at most 64 characters)
/// headers; malformed ones are refused, naming the header.
fn device_report(headers: &axum::http::HeaderMap) -> Result<DeviceReport, Error> {
    let text = |name: &'static str| -> Result<Option<&str>, Error> {
        headers
            .get(name)
            .map(|v| {
                v.to_str().map_err(|_| {
                    Error::bad_request("invalid_header", format!("`{name}` is not text"))
                })
            })
            .transpose()
    };
    let outbox = match text("fieldsync-outbox")? {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=MAX_OUTBOX).contains(n))
                .ok_or_else(|| {
                    Error::bad_request(
                        "invalid_header",
                        "`fieldsync-outbox`: expected a count of changes, 0 to 1000000000",
                    )
                })?,
        ),
    };
    let app_version = match text("fieldsync-app-version")? {
        None => None,
        Some(v)
            if !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_graphic() || c == ' ') =>
        {
            Some(v.to_string())
        }
        Some(_) => {
            return Err(Error::bad_request(
                "invalid_header",
                "`fieldsync-app-version`: expected 1 to 64 printable characters",
            ))
        }
    };
    Ok(DeviceReport {
        outbox,
        app_version,
    })
}
