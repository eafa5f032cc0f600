//! Checkpoints: how a device notices that the server went back in time.
//!
//! A restore of an older backup silently forgets everything acknowledged after the backup was taken.
//! Nothing stored in the database can reveal that, since it is restored with the rest, so the
//! evidence is kept on both sides, as CouchDB compares replication checkpoints: the server records
//! for each device the highest feed position it has told that device about (a pull's cursor, the
//! position a push wrote), durably before the device hears it, and the device keeps the highest
//! position it heard. The device sends its number with every push and pull; when it is above the
//! server's record, the server lost something the device saw and answers `409 server_restored`,
//! changing nothing. The device then compares its records with the server's and pushes again what the
//! server lacks.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::entities::device;
use crate::db::Db;
use crate::error::Error;

/// The checkpoint the server recorded for a device (0 for a device it does not know).
pub async fn recorded(conn: &impl ConnectionTrait, device_id: Uuid) -> Result<i64, Error> {
    let value: Option<i64> = device::Entity::find_by_id(device_id)
        .select_only()
        .column(device::Column::Checkpoint)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(value.unwrap_or(0))
}

/// Refuses a request whose device has heard of a feed position the server has no record of telling
/// it. The server's record is the one read with the device's row when the request was authenticated.
pub fn check(who: &Principal, claimed: i64) -> Result<(), Error> {
    let server = who.checkpoint;
    if claimed > server {
        tracing::warn!(device = %who.device_id, claimed, server, "the device has seen feed positions this database lost: it was restored from an older backup");
        return Err(Error::ServerRestored {
            device: claimed,
            server,
        });
    }
    Ok(())
}

/// Raises a device's checkpoint to `seq` (never lowers it). A push calls it in its own transaction.
pub async fn record(conn: &impl ConnectionTrait, device_id: Uuid, seq: i64) -> Result<(), Error> {
    if seq > 0 {
        device::Entity::update_many()
            .col_expr(device::Column::Checkpoint, Expr::value(seq))
            .filter(device::Column::Id.eq(device_id))
            .filter(device::Column::Checkpoint.lt(seq))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Records the position a pull page reached, before the page is answered, when it passes what the
/// server had recorded.
pub async fn record_pull(db: &Db, who: &Principal, seq: i64) -> Result<(), Error> {
    if seq > who.checkpoint {
        // One statement, committed on its own: a transaction around it cost each page of a first
        // sync two more round trips to PostgreSQL.
        let _writer = db.lock_writes().await;
        record(&db.conn, who.device_id, seq).await?;
    }
    Ok(())
}

/// Which device row a login uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginDevice {
    /// A new row, with checkpoint 0. `claimed` is the device the store named as its own, which
    /// the database does not know, when the store could not prove it: what it hands in under that
    /// id waits for a manager.
    New { id: Uuid, claimed: Option<Uuid> },
    /// The user's own device logging in again (say, its token expired): the same row with a new
    /// token, keeping its id, actor and checkpoint.
    Again(Uuid),
}

/// The device a user logs in. A store that was logged in before names its previous device. If that
/// device is the user's and not revoked, it logs in again: keeping its checkpoint, logging in again is
/// never mistaken for a restore, and keeping its actor, it can still hand in its own changes should a
/// restore have lost them. The user's password and the device's row prove the store owns it. If the
/// server has no such device, a restore lost it, and with it that proof: the device gets its id back,
/// for the same reasons, only when `proves` accepts the device secret it sent, and starts from 0, so
/// its first sync notices the restore. Device ids are no secret (they are the actors of the changes
/// every colleague pulls), so without the secret it is registered anew, with the id it claimed
/// noted: nobody takes over a device of another, one of another user, or a revoked one.
pub async fn login_device(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    previous: Option<Uuid>,
    proves: impl FnOnce(Uuid) -> bool,
) -> Result<LoginDevice, Error> {
    let fresh = LoginDevice::New {
        id: Uuid::now_v7(),
        claimed: None,
    };
    let Some(previous) = previous.filter(|id| id.get_version_num() == 7) else {
        return Ok(fresh);
    };
    let row: Option<(Uuid, Option<i64>)> = device::Entity::find_by_id(previous)
        .select_only()
        .column(device::Column::UserId)
        .column(device::Column::RevokedAt)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(match row {
        Some((owner, None)) if owner == user_id => LoginDevice::Again(previous),
        Some(_) => fresh,
        None if proves(previous) => {
            tracing::warn!(device = %previous, user = %user_id, "a device this database does not know proved its id: it gets it back");
            LoginDevice::New {
                id: previous,
                claimed: None,
            }
        }
        None => {
            tracing::warn!(device = %previous, user = %user_id, "a device this database does not know could not prove its id: it is registered anew, and what it hands in under that id waits for a manager");
            LoginDevice::New {
                id: Uuid::now_v7(),
                claimed: Some(previous),
            }
        }
    })
}
