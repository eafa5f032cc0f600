//! The dashboard's sign-in: `POST /v1/auth/session` checks a manager's or admin's e-mail and
//! password (within the same limits as a device's login) and sets the session cookie; `GET` says
//! who is signed in, with the session's CSRF token; `DELETE` signs out.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use sync_core::protocol::ErrorBody;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::credentials::role_of;
use crate::auth::sessions::{self, Session};
use crate::db::entities::user;
use crate::error::Error;
use crate::http::auth::{check_password, ClientAddr};
use crate::http::extract::{refuse_agents, require_csrf, session_token};
use crate::http::state::AppState;
use crate::http::wire::JsonBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in, current, sign_out))
}

#[derive(Deserialize, ToSchema)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// Who is signed in, and what the dashboard needs to act for them.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub user_id: Uuid,
    pub email: String,
    pub role: sync_core::Role,
    /// Sent as `x-csrf-token` with every request that changes something.
    pub csrf_token: String,
    /// How long the session may go unused before it ends.
    pub idle_seconds: u64,
    /// The address devices log in at (`--public-url`), when the server knows it.
    pub server_url: Option<String>,
}

fn info(state: &AppState, session: Session, user: &user::Model) -> Result<SessionInfo, Error> {
    Ok(SessionInfo {
        user_id: user.id,
        email: user.email.clone(),
        role: role_of(user)?,
        csrf_token: sessions::csrf_token(&state.keys, session.id),
        idle_seconds: state.sessions.idle.as_secs(),
        server_url: state.public_url.as_ref().map(ToString::to_string),
    })
}

/// The session behind the request's cookie, if it is live.
async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, Error> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    sessions::find(&state.db.conn, token, state.sessions.idle).await
}

/// Signs a manager or an admin in to the dashboard: sets the session cookie (HttpOnly,
/// SameSite=Strict, Secure when served over HTTPS) and returns the session's CSRF token. Agents are
/// refused (`use_the_app`): they work in the app.
#[utoipa::path(post, path = "/v1/auth/session", tag = "auth", operation_id = "sign_in",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; the cookie is set", body = SessionInfo,
            headers(("Set-Cookie" = String, description = "The session cookie"))),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong e-mail or password (`bad_credentials`)", body = ErrorBody),
        (status = 403, description = "An agent (`use_the_app`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many failed logins (`too_many_login_attempts`); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
#[tracing::instrument(skip_all, fields(email = %req.email))]
async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(req): JsonBody<SignIn>,
) -> Result<Response, Error> {
    let user = check_password(&state, addr, &req.email, req.password).await?;
    refuse_agents(role_of(&user)?)?;
    let (session, token) = sessions::open(&state.db.conn, user.id, state.sessions.idle).await?;
    tracing::info!(user = %user.id, session = %session.id, "signed in to the dashboard");
    let body = info(&state, session, &user)?;
    let mut response = Json(body).into_response();
    let cookie = HeaderValue::from_str(&sessions::set_cookie(&token, state.sessions.secure))
        .map_err(|e| Error::Internal(e.to_string()))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Who is signed in with the request's session cookie, and the session's CSRF token (which the
/// page, reloaded, reads again here).
#[utoipa::path(get, path = "/v1/auth/session", tag = "auth", operation_id = "current_session",
    responses(
        (status = 200, description = "The signed-in user", body = SessionInfo),
        (status = 401, description = "No live session (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "The user is now an agent (`use_the_app`)", body = ErrorBody),
    ))]
async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionInfo>, Error> {
    let session = session_of(&state, &headers)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let user = user::Entity::find_by_id(session.user_id)
        .one(&state.db.conn)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let body = info(&state, session, &user)?;
    refuse_agents(body.role)?;
    Ok(Json(body))
}

/// Signs out: the session ends on the server and the cookie is cleared. Needs the session's
/// `x-csrf-token`, so another site cannot sign a manager out.
#[utoipa::path(delete, path = "/v1/auth/session", tag = "auth", operation_id = "sign_out",
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "No live session (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "No or a wrong CSRF token (`csrf_required`)", body = ErrorBody),
    ))]
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    let session = session_of(&state, &headers)
        .await?
        .ok_or(Error::Unauthenticated)?;
    require_csrf(&state.keys, session.id, &headers)?;
    sessions::close(&state.db.conn, session.id).await?;
    tracing::info!(user = %session.user_id, session = %session.id, "signed out of the dashboard");
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = HeaderValue::from_str(&sessions::clear_cookie(state.sessions.secure))
        .map_err(|e| Error::Internal(e.to_string()))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}
