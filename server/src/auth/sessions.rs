//! The dashboard's sign-ins. A browser holds a random token in an HttpOnly cookie; the server keeps
//! its hash with when the session began and was last used. A session ends when it idles past its
//! limit, at its absolute lifetime, at sign-out, or when its user is removed. Its CSRF token is a tag
//! of the session's id under the server key: nothing more to store, and useless without the cookie.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::auth::credentials::{new_token, token_hash};
use crate::db::{now_ms, BuildWith};
use crate::error::Error;
use crate::keys::{KeyRing, Purpose};

const TABLE: &str = "web_sessions";

/// The cookie that carries a session's token.
pub const COOKIE: &str = "fieldsync_session";

/// A session lives at most this long however busy it is: a stolen cookie stops working within a
/// working day.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How stale `last_seen_at` may get before a request refreshes it: a write per page view would
/// queue behind devices' pushes on SQLite's one writer, for a clock that counts in minutes.
const SEEN_GRANULARITY_MS: i64 = 60_000;

/// A live session.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// Starts a session for `user_id` and returns it with the token its cookie carries. Sessions that
/// expired (anyone's) are deleted on the way, so the table holds live sessions and a few more.
pub async fn open(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    idle: Duration,
) -> Result<(Session, String), Error> {
    let now = now_ms();
    let expired = Query::delete()
        .from_table(Alias::new(TABLE))
        .cond_where(
            sea_orm::sea_query::Cond::any()
                .add(col("last_seen_at").lte(now.saturating_sub(ms(idle))))
                .add(col("created_at").lte(now.saturating_sub(ms(LIFETIME)))),
        )
        .to_owned();
    conn.execute(expired.build_with(conn)).await?;
    let token = new_token();
    let session = Session {
        id: Uuid::new_v4(),
        user_id,
    };
    let insert = Query::insert()
        .into_table(Alias::new(TABLE))
        .columns(["token_hash", "id", "user_id", "created_at", "last_seen_at"].map(Alias::new))
        .values_panic([
            token_hash(&token).into(),
            session.id.into(),
            user_id.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    conn.execute(insert.build_with(conn)).await?;
    Ok((session, token))
}

/// The live session behind `token`, refreshing its idle clock; None for an unknown, idle or
/// too old one (which is deleted).
pub async fn find(
    conn: &impl ConnectionTrait,
    token: &str,
    idle: Duration,
) -> Result<Option<Session>, Error> {
    let hash = token_hash(token);
    let select = Query::select()
        .columns(["id", "user_id", "created_at", "last_seen_at"].map(Alias::new))
        .from(Alias::new(TABLE))
        .and_where(col("token_hash").eq(hash.clone()))
        .to_owned();
    let Some(row) = conn.query_one(select.build_with(conn)).await? else {
        return Ok(None);
    };
    let session = Session {
        id: row.try_get("", "id")?,
        user_id: row.try_get("", "user_id")?,
    };
    let created: i64 = row.try_get("", "created_at")?;
    let seen: i64 = row.try_get("", "last_seen_at")?;
    let now = now_ms();
    if now.saturating_sub(seen) >= ms(idle) || now.saturating_sub(created) >= ms(LIFETIME) {
        close(conn, session.id).await?;
        return Ok(None);
    }
    if now.saturating_sub(seen) >= SEEN_GRANULARITY_MS {
        let touch = Query::update()
            .table(Alias::new(TABLE))
            .value(Alias::new("last_seen_at"), now)
            .and_where(col("token_hash").eq(hash))
            .to_owned();
        conn.execute(touch.build_with(conn)).await?;
    }
    Ok(Some(session))
}

/// Ends a session.
pub async fn close(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), Error> {
    let delete = Query::delete()
        .from_table(Alias::new(TABLE))
        .and_where(col("id").eq(id))
        .to_owned();
    conn.execute(delete.build_with(conn)).await?;
    Ok(())
}

/// The CSRF token of a session: the dashboard sends it in `x-csrf-token` with every request that
/// changes something. A page of another site can make the browser send the cookie (SameSite aside),
/// but it cannot read this token.
pub fn csrf_token(keys: &KeyRing, session: Uuid) -> String {
    hex::encode(keys.tag(Purpose::Csrf, &[session.as_bytes()]))
}

/// Whether `given` is the CSRF token of `session`, compared in constant time.
pub fn csrf_matches(keys: &KeyRing, session: Uuid, given: &str) -> bool {
    hex::decode(given.trim())
        .is_ok_and(|tag| keys.verify(Purpose::Csrf, &[session.as_bytes()], &tag))
}

/// The session token in a `Cookie` header, if it names one.
pub fn token_in(cookie_header: &str) -> Option<&str> {
    // One cookie of a known name and a hex value: a cookie crate would parse what this needs no more
    // safely.
    cookie_header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then_some(value)
    })
}

/// The `Set-Cookie` value that gives the browser `token`; `Secure` when the dashboard is served over
/// HTTPS (browsers do not send a Secure cookie over plain HTTP, even to localhost in some of them).
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(
            token_in("a=1; fieldsync_session=fst_ab; b=2"),
            Some("fst_ab")
        );
        assert_eq!(token_in("fieldsync_session="), None);
        assert_eq!(token_in("xfieldsync_session=1"), None);
        assert_eq!(token_in(""), None);
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyRing::open(&dir.path().join("k")).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let token = csrf_token(&keys, a);
        assert!(csrf_matches(&keys, a, &token));
        assert!(!csrf_matches(&keys, b, &token));
        assert!(!csrf_matches(&keys, a, "00"));
        assert!(!csrf_matches(&keys, a, "not hex"));
    }
}
