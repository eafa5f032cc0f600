//! Who a request acts for: the `Principal` behind its bearer token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::credentials::authenticate;
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
        let principal = authenticate(&state.db.conn, state.token_ttl, token.trim()).await?;
        tracing::Span::current().record("device", tracing::field::display(principal.device_id));
        Ok(principal)
    }
}
