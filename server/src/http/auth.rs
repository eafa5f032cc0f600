//! Login: a user's e-mail and password register a new device (or log in again the one the store
//! names, see `checkpoint::login_device`) and return its token, actor and device secret.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sync_core::protocol::{ErrorBody, LoginRequest, LoginResponse, PROTOCOL_VERSION};

use crate::auth::credentials::{
    device_secret, hashing, new_token, proves_device, register_device, role_of, token_hash,
    verify_password,
};
use crate::auth::users::find_by_email;
use crate::db::entities::{device, territory, user, user_territory};
use crate::db::now_ms;
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::JsonBody;
use crate::sync::checkpoint::{self, LoginDevice};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

/// The address of the client's end of the connection, when the server was started with connection
/// info (`serve` always is). Proxy headers such as `X-Forwarded-For` are not trusted: any client can
/// write them.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientAddr, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// No real address is longer; anything longer (or with control characters) is not looked up at all.
const MAX_EMAIL_CHARS: usize = 320;

fn plausible_email(email: &str) -> bool {
    email.chars().count() <= MAX_EMAIL_CHARS && !email.chars().any(char::is_control)
}

fn too_many(state: &AppState, limit: &str, retry_after: std::time::Duration) -> Error {
    state.metrics.rate_limited(limit);
    tracing::warn!(limit, "login refused: too many failed attempts");
    Error::RateLimited {
        code: "too_many_login_attempts",
        message: "too many failed logins; wait before trying again".into(),
        retry_after,
    }
}

/// Verified against when the e-mail is unknown, so a wrong e-mail costs as much time as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::auth::credentials::hash_password("no such user").unwrap_or_default()
});

/// Logs a device in: registers it and returns its bearer token.
///
/// Failed attempts are limited per e-mail address and per client address; past the limit every
/// attempt, right or wrong, is refused with 429 and `Retry-After` until the bucket refills.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "The device is registered", body = LoginResponse),
        (status = 400, description = "Malformed body or invalid device name", body = ErrorBody),
        (status = 401, description = "Wrong e-mail or password (`bad_credentials`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many failed logins (`too_many_login_attempts`); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
#[tracing::instrument(skip_all, fields(email = %req.email))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, Error> {
    let device_name = req.device_name.trim().to_string();
    if device_name.is_empty()
        || device_name.chars().count() > 100
        || device_name.chars().any(char::is_control)
    {
        return Err(Error::bad_request(
            "invalid_device_name",
            "a device name has 1 to 100 characters and no control characters",
        ));
    }
    let user = check_password(&state, addr, &req.email, req.password).await?;
    let role = role_of(&user)?;
    let token = new_token();
    let proves = |previous| {
        req.device_secret
            .as_deref()
            .is_some_and(|secret| proves_device(&state.keys, previous, user.id, secret))
    };
    let device_id =
        match checkpoint::login_device(&state.db.conn, user.id, req.previous_device_id, proves)
            .await?
        {
            LoginDevice::Again(device_id) => {
                // A new token, and its lifetime counts from now; the old token stops working.
                device::Entity::update_many()
                    .col_expr(device::Column::TokenHash, Expr::value(token_hash(&token)))
                    .col_expr(device::Column::Name, Expr::value(device_name))
                    .col_expr(device::Column::CreatedAt, Expr::value(now_ms()))
                    .filter(device::Column::Id.eq(device_id))
                    .exec(&state.db.conn)
                    .await?;
                tracing::info!(%device_id, user = %user.id, "device logged in again");
                device_id
            }
            LoginDevice::New { id, claimed } => {
                register_device(&state.db.conn, id, user.id, device_name, &token, claimed).await?;
                tracing::info!(device_id = %id, user = %user.id, ?claimed, "device registered");
                id
            }
        };
    let territories = territory::Entity::find()
        .inner_join(user_territory::Entity)
        .filter(user_territory::Column::UserId.eq(user.id))
        .order_by_asc(territory::Column::Name)
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    Ok(Json(LoginResponse {
        territories,
        device_id,
        token,
        actor_id: hex::encode(device_id.as_bytes()),
        user_id: user.id,
        role,
        protocol_version: PROTOCOL_VERSION,
        device_secret: device_secret(&state.keys, device_id, user.id),
    }))
}

/// The user whose e-mail and password these are, within the login limits: failed attempts are
/// limited per e-mail address and per client address, and past the limit every attempt, right or
/// wrong, is refused with 429 and `Retry-After` until the bucket refills. Devices and the dashboard
/// share the limits, so a guesser gains nothing by switching.
pub async fn check_password(
    state: &AppState,
    addr: Option<IpAddr>,
    email: &str,
    password: String,
) -> Result<user::Model, Error> {
    let account = email.trim().to_lowercase();
    let (guards, conn) = (&state.guards, &state.db.conn);
    let addr = addr.map(|ip| ip.to_string());
    // Every attempt takes a token up front, so concurrent guesses cannot all slip past the limit; a
    // successful login gives its tokens back.
    if let Err(wait) = guards.login_accounts.take(conn, &account).await? {
        return Err(too_many(state, "login_account", wait));
    }
    if let Some(ip) = &addr {
        if let Err(wait) = guards.login_addrs.take(conn, ip).await? {
            guards.login_accounts.refund(conn, &account).await?;
            return Err(too_many(state, "login_addr", wait));
        }
    }
    let user = if plausible_email(&account) {
        find_by_email(&state.db, &account).await?
    } else {
        None
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // The dummy hash is made, the first time, on the hashing thread too: it is a whole argon2 hash.
    let ok = hashing(move || {
        verify_password(
            &password,
            hash.as_deref().unwrap_or_else(|| DUMMY_HASH.as_str()),
        )
    })
    .await?;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(Error::BadCredentials),
    };
    // Only failures use up the buckets: a team logging in its devices is never throttled.
    guards.login_accounts.refund(conn, &account).await?;
    if let Some(ip) = &addr {
        guards.login_addrs.refund(conn, ip).await?;
    }
    Ok(user)
}
