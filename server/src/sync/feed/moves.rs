//! Records that entered or left a device's view: evictions after a lost territory, backfills after a
//! gained one, and records that moved between territories or users.

use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::ConnectionTrait;
use sync_core::Role;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::{join_documents, BuildWith};
use crate::error::Error;
use crate::sync::feed::cursor::{Backfill, Cursor, Eviction};

/// Records to evict: those in the lost territories (or, for a former admin, all) that the user may
/// not see now, and, on the first page, those that moved out of the lost territories since.
pub(super) async fn evictions(
    conn: &impl ConnectionTrait,
    who: &Principal,
    eviction: &Eviction,
    limit: u64,
) -> Result<Vec<Uuid>, Error> {
    let mut stmt = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("documents"))
        .cond_where(who.visible(None).not())
        .order_by(Alias::new("id"), Order::Asc)
        .limit(limit)
        .to_owned();
    if !eviction.all {
        stmt.and_where(Expr::col(Alias::new("territory_id")).is_in(eviction.territories.clone()));
    }
    if let Some(after) = eviction.after {
        stmt.and_where(Expr::col(Alias::new("id")).gt(after));
    }
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut ids: Vec<Uuid> = rows
        .iter()
        .map(|r| r.try_get("", "id"))
        .collect::<Result<_, _>>()?;
    if eviction.after.is_none() && !eviction.all {
        let moved = moved_from(
            conn,
            &eviction.territories,
            eviction.since,
            who.visible(Some("d")).not(),
        )
        .await?;
        ids.extend(
            moved
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| !ids.contains(id))
                .collect::<Vec<_>>(),
        );
    }
    Ok(ids)
}

/// Records that moved out of `territories` after position `since` and meet `cond` (on `documents d`).
pub(super) async fn moved_from(
    conn: &impl ConnectionTrait,
    territories: &[Uuid],
    since: i64,
    cond: sea_orm::sea_query::Cond,
) -> Result<Vec<(Uuid, String)>, Error> {
    let m = Alias::new("m");
    let mut stmt = Query::select()
        .distinct()
        .column((m.clone(), Alias::new("doc_id")))
        .column((Alias::new("d"), Alias::new("kind")))
        .from_as(Alias::new("scope_moves"), m.clone())
        .and_where(Expr::col((m.clone(), Alias::new("from_territory"))).is_in(territories.to_vec()))
        .and_where(Expr::col((m, Alias::new("seq"))).gt(since))
        .cond_where(cond)
        .to_owned();
    join_documents(&mut stmt, "m", conn.get_database_backend());
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "doc_id")?, r.try_get("", "kind")?)))
        .collect()
}

/// Records to send whole for newly gained territories: those in them now that the user may see, and,
/// on the first page, those that moved out of them after the device's position (the device never
/// received their history).
pub(super) async fn backfill_ids(
    conn: &impl ConnectionTrait,
    who: &Principal,
    backfill: &Backfill,
    limit: u64,
) -> Result<Vec<(Uuid, String)>, Error> {
    let mut stmt = Query::select()
        .columns([Alias::new("id"), Alias::new("kind")])
        .from(Alias::new("documents"))
        .and_where(Expr::col(Alias::new("territory_id")).is_in(backfill.territories.clone()))
        .cond_where(who.visible(None))
        .order_by(Alias::new("id"), Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(after) = backfill.after {
        stmt.and_where(Expr::col(Alias::new("id")).gt(after));
    }
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut ids: Vec<(Uuid, String)> = rows
        .iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "kind")?)))
        .collect::<Result<_, Error>>()?;
    if backfill.after.is_none() {
        for moved in moved_from(
            conn,
            &backfill.territories,
            backfill.upto,
            who.visible(Some("d")),
        )
        .await?
        {
            if !ids.iter().any(|(id, _)| *id == moved.0) {
                ids.push(moved);
            }
        }
    }
    Ok(ids)
}

/// Records that moved between territories or users in `(cursor.seq, upto]`: those that came into the device's
/// view (sent whole, since the device lacks their history) and those that left it (evicted).
pub(super) async fn moves(
    conn: &impl ConnectionTrait,
    who: &Principal,
    cursor: &Cursor,
    upto: i64,
) -> Result<(Vec<(Uuid, String)>, Vec<Uuid>), Error> {
    let (m, d) = (Alias::new("m"), Alias::new("d"));
    let mut stmt = Query::select()
        .column((m.clone(), Alias::new("doc_id")))
        .column((m.clone(), Alias::new("from_territory")))
        .column((m.clone(), Alias::new("from_user")))
        .column((d.clone(), Alias::new("territory_id")))
        .column((d.clone(), Alias::new("user_id")))
        .column((d.clone(), Alias::new("owner_id")))
        .column((d.clone(), Alias::new("kind")))
        .from_as(Alias::new("scope_moves"), m.clone())
        .and_where(Expr::col((m.clone(), Alias::new("seq"))).gt(cursor.seq))
        .and_where(Expr::col((m.clone(), Alias::new("seq"))).lte(upto))
        .order_by((m, Alias::new("seq")), Order::Asc)
        .to_owned();
    join_documents(&mut stmt, "m", conn.get_database_backend());
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut moved_in: Vec<(Uuid, String)> = Vec::new();
    let mut evict: Vec<Uuid> = Vec::new();
    for r in rows {
        let id: Uuid = r.try_get("", "doc_id")?;
        let from: Option<Uuid> = r.try_get("", "from_territory")?;
        let from_user: Option<Uuid> = r.try_get("", "from_user")?;
        let now: Option<Uuid> = r.try_get("", "territory_id")?;
        let user: Option<Uuid> = r.try_get("", "user_id")?;
        let owner: Uuid = r.try_get("", "owner_id")?;
        let held_before = who.sees_all()
            || owner == who.user_id
            || from_user == Some(who.user_id)
            || (from.is_some_and(|t| {
                cursor
                    .territories
                    .as_ref()
                    .is_some_and(|held| held.contains(&t))
            }) && (from_user.is_none() || who.role >= Role::Manager));
        let visible_now = who.can_access(now, owner, user);
        if visible_now && !held_before && !moved_in.iter().any(|(m, _)| *m == id) {
            moved_in.push((id, r.try_get("", "kind")?));
        } else if !visible_now && held_before && !evict.contains(&id) {
            evict.push(id);
        }
    }
    Ok((moved_in, evict))
}
