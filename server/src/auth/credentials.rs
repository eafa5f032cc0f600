//! Passwords, device tokens, device secrets and the authentication of every request.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use sync_core::Role;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::entities::{device, user, user_territory};
use crate::db::now_ms;
use crate::error::Error;
use crate::keys::{KeyRing, Purpose};

/// Password hashes computed at once. Each argon2 hash holds 19 MiB and a core for tens of
/// milliseconds, so a burst of logins (a team's devices, or a guesser spreading over many e-mails) waits
/// its turn here rather than growing the server's memory by 19 MiB per concurrent login.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
});

/// Runs a password hash or check on a blocking thread, at most one per core at a time.
pub async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Hashes a password with argon2id and a random salt. Slow on purpose; call it through [`hashing`].
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("cannot hash password: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A new bearer token: 256 random bits, hex, with a prefix that makes leaked tokens easy to spot.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("fst_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

const SECRET_PREFIX: &str = "fsd_";

/// The secret of a device of a user: a tag under the server key over both ids, so it proves the
/// device's ownership of its id without any row of the database, and only for that user. Prefixed
/// like tokens, so that a leaked one is easy to spot.
pub fn device_secret(keys: &KeyRing, device_id: Uuid, user_id: Uuid) -> String {
    let tag = keys.tag(
        Purpose::DeviceSecret,
        &[device_id.as_bytes(), user_id.as_bytes()],
    );
    format!("{SECRET_PREFIX}{}", hex::encode(tag))
}

/// Whether `secret` is the secret of `device_id` of `user_id` under any of the server's keys.
pub fn proves_device(keys: &KeyRing, device_id: Uuid, user_id: Uuid, secret: &str) -> bool {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|tag| hex::decode(tag).ok())
        .is_some_and(|tag| {
            keys.verify(
                Purpose::DeviceSecret,
                &[device_id.as_bytes(), user_id.as_bytes()],
                &tag,
            )
        })
}

/// Registers a new device of `user_id` whose bearer token is `token` (only its hash is stored);
/// `claimed` is the device id its store named as its own and could not prove.
pub async fn register_device(
    conn: &impl ConnectionTrait,
    device_id: Uuid,
    user_id: Uuid,
    name: String,
    token: &str,
    claimed: Option<Uuid>,
) -> Result<(), Error> {
    device::ActiveModel {
        id: Set(device_id),
        user_id: Set(user_id),
        name: Set(name),
        token_hash: Set(token_hash(token)),
        created_at: Set(now_ms()),
        last_seen_at: Set(None),
        revoked_at: Set(None),
        checkpoint: Set(0),
        claimed_device_id: Set(claimed),
        outbox: Set(None),
        app_version: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Loads the device behind a bearer token, refusing unknown, revoked and expired ones. Revocation is
/// checked first: a revoked device must hear that it has to wipe its data, even if its token also
/// expired.
pub async fn authenticate(
    conn: &DatabaseConnection,
    token_ttl: Option<Duration>,
    token: &str,
    report: &DeviceReport,
) -> Result<Principal, Error> {
    // The device and its user in one statement: every sync call, each page of a first sync among
    // them, starts here.
    let (device, user) = device::Entity::find()
        .filter(device::Column::TokenHash.eq(token_hash(token)))
        .find_also_related(user::Entity)
        .one(conn)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if device.revoked_at.is_some() {
        return Err(Error::DeviceRevoked);
    }
    if let Some(ttl) = token_ttl {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        if crate::db::now_ms().saturating_sub(device.created_at) >= ttl_ms {
            return Err(Error::TokenExpired);
        }
    }
    mark_seen(conn, &device, report).await;
    let user = user.ok_or(Error::Unauthenticated)?;
    Ok(Principal {
        user_id: user.id,
        role: role_of(&user)?,
        device_id: device.id,
        territories: territories_of(conn, user.id).await?,
        checkpoint: device.checkpoint,
        claimed_device: device.claimed_device_id,
    })
}

/// The principal of a dashboard session of `user_id`: the user's rights, and no device (the nil
/// id), so nothing that needs a device's identity (sync, uploads) can act for it. None when the user
/// no longer exists.
pub async fn session_principal(
    conn: &DatabaseConnection,
    user_id: Uuid,
) -> Result<Option<Principal>, Error> {
    let Some(user) = user::Entity::find_by_id(user_id).one(conn).await? else {
        return Ok(None);
    };
    Ok(Some(Principal {
        user_id: user.id,
        role: role_of(&user)?,
        device_id: Uuid::nil(),
        territories: territories_of(conn, user.id).await?,
        checkpoint: 0,
        claimed_device: None,
    }))
}

pub fn role_of(user: &user::Model) -> Result<Role, Error> {
    Role::parse(&user.role)
        .ok_or_else(|| Error::Internal(format!("user {} has unknown role", user.id)))
}

/// The user's territories, sorted.
async fn territories_of(conn: &DatabaseConnection, user_id: Uuid) -> Result<Vec<Uuid>, Error> {
    let mut territories: Vec<Uuid> = user_territory::Entity::find()
        .select_only()
        .column(user_territory::Column::TerritoryId)
        .filter(user_territory::Column::UserId.eq(user_id))
        .into_tuple()
        .all(conn)
        .await?;
    territories.sort_unstable();
    Ok(territories)
}

/// How stale a device's `last_seen_at` may get before a request refreshes it: a write per request
/// would serialise every pull behind SQLite's one writer, for a figure managers read in minutes.
const SEEN_GRANULARITY_MS: i64 = 60_000;

/// What a device says about itself with a call (the `fieldsync-outbox` and
/// `fieldsync-app-version` headers), for the sync-health report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeviceReport {
    pub outbox: Option<i64>,
    pub app_version: Option<String>,
}

/// Records that the device made a request, and what it reported about itself when that changed.
/// Best effort: a busy database delays the figure, never the request.
async fn mark_seen(conn: &DatabaseConnection, device: &device::Model, report: &DeviceReport) {
    let now = crate::db::now_ms();
    let fresh = device
        .last_seen_at
        .is_some_and(|seen| now.saturating_sub(seen) < SEEN_GRANULARITY_MS);
    // A device's outbox changes once or twice a sync (its push empties it): worth a write, unlike
    // every page of a pull.
    let changed = (report.outbox.is_some() && report.outbox != device.outbox)
        || (report.app_version.is_some() && report.app_version != device.app_version);
    if fresh && !changed {
        return;
    }
    let mut update =
        device::Entity::update_many().col_expr(device::Column::LastSeenAt, Expr::value(now));
    if let Some(outbox) = report.outbox {
        update = update.col_expr(device::Column::Outbox, Expr::value(outbox));
    }
    if let Some(version) = &report.app_version {
        update = update.col_expr(device::Column::AppVersion, Expr::value(version.clone()));
    }
    let updated = update
        .filter(device::Column::Id.eq(device.id))
        .exec(conn)
        .await;
    if let Err(e) = updated {
        tracing::warn!(device = %device.id, error = %e, "could not record when the device was last seen");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_tokens_are_random() {
        let hash = hash_password("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("s3cret", "not a hash"));
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 32);
    }

    #[test]
    fn a_device_secret_proves_one_device_of_one_user() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyRing::open(&dir.path().join("server.key")).unwrap();
        let (device, user) = (Uuid::now_v7(), Uuid::now_v7());
        let secret = device_secret(&keys, device, user);
        assert!(secret.starts_with("fsd_"));
        assert!(proves_device(&keys, device, user, &secret));
        assert!(!proves_device(&keys, Uuid::now_v7(), user, &secret));
        assert!(!proves_device(&keys, device, Uuid::now_v7(), &secret));
        assert!(!proves_device(&keys, device, user, &secret[4..]));
        assert!(!proves_device(&keys, device, user, "fsd_zz"));
        let other = KeyRing::open(&dir.path().join("other.key")).unwrap();
        assert!(!proves_device(&other, device, user, &secret));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_hashing_runs_at_most_one_per_core_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let logins = (0..4 * cores).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            tokio::spawn(hashing(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let ok = verify_password("s3cret", &hash_password("s3cret").unwrap());
                running.fetch_sub(1, Ordering::SeqCst);
                ok
            }))
        });
        for login in logins.collect::<Vec<_>>() {
            assert!(login.await.unwrap().unwrap());
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} at once on {cores} cores"
        );
    }
}
