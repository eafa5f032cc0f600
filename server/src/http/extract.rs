//! Who a request acts for: the `Principal` behind a device's bearer token or a dashboard
//! session's cookie, and the `Device` behind a bearer token alone.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sync_core::Role;

use crate::auth::credentials::{authenticate, session_principal, DeviceReport};
use crate::auth::principal::Principal;
use crate::auth::sessions;
use crate::error::Error;
use crate::http::state::AppState;

impl FromRequestParts<AppState> for Principal {
    type Rejection = Error;

    /// A device's bearer token, else a dashboard session's cookie.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Principal, Error> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Device::from_request_parts(parts, state).await?.0);
        }
        let token = session_token(&parts.headers).ok_or(Error::Unauthenticated)?;
        let conn = &state.db.conn;
        let session = sessions::find(conn, token, state.sessions.idle)
            .await?
            .ok_or(Error::Unauthenticated)?;
        // The cookie rides along with any request the browser makes, a form on another site's page
        // included (SameSite aside): what changes something must also carry what only the
        // dashboard's own page can read.
        if !parts.method.is_safe() {
            require_csrf(&state.keys, session.id, &parts.headers)?;
        }
        let principal = session_principal(conn, session.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        refuse_agents(principal.role)?;
        Ok(principal)
    }
}

/// The session token of the request's cookies, if one names it.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(sessions::token_in)
}

/// The header that carries a dashboard session's CSRF token.
const CSRF_HEADER: &str = "x-csrf-token";

/// Refuses a request of `session` that does not carry the session's CSRF token.
pub fn require_csrf(
    keys: &crate::keys::KeyRing,
    session: uuid::Uuid,
    headers: &axum::http::HeaderMap,
) -> Result<(), Error> {
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sessions::csrf_matches(keys, session, given) {
        return Ok(());
    }
    Err(Error::Denied {
        code: "csrf_required",
        message: "a change made with the dashboard's session needs its `x-csrf-token` header"
            .into(),
    })
}

/// The dashboard is the managers' and admins'; an agent signs in on the app. Checked on every
/// request, so a user made an agent after signing in is refused from then on.
pub fn refuse_agents(role: Role) -> Result<(), Error> {
    if role == Role::Agent {
        return Err(Error::Denied {
            code: "use_the_app",
            message: "the dashboard is for managers and admins; agents use the fieldsync app"
                .into(),
        });
    }
    Ok(())
}

/// A request made by a device with its bearer token: what only a device can do (sync, uploads)
/// takes this, so a dashboard session can never act as one.
pub struct Device(pub Principal);

impl FromRequestParts<AppState> for Device {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Device, Error> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(Error::Unauthenticated)?;
        let token = header
            .to_str()
            .ok()
            .and_then(bearer)
            .ok_or(Error::Unauthenticated)?;
        let report = device_report(&parts.headers)?;
        let principal = authenticate(&state.db.conn, state.token_ttl, token, &report).await?;
        tracing::Span::current().record("device", tracing::field::display(principal.device_id));
        Ok(Device(principal))
    }
}

/// The token of an `Authorization: Bearer TOKEN` header. The scheme's name is case-insensitive
/// (RFC 9110, 11.1), and any white space around the token is not part of it.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
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

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_needs_a_token() {
        assert_eq!(bearer("Bearer fst_1"), Some("fst_1"));
        assert_eq!(bearer("bearer fst_1"), Some("fst_1"));
        assert_eq!(bearer("BEARER  fst_1 "), Some("fst_1"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerfst_1"), None);
    }
}
