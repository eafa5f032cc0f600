//! Records of the kinds kept to one person of the team (a task's assignee, an agent's visit plan or
//! target), stored before the server kept them to that person, are given their user: each is moved
//! in the feed from the whole territory to that user, so that the territory's other agents' devices
//! evict it as they pull past the move.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::db::entities::document;
use crate::db::{BuildWith, WriteTxn};
use crate::error::Error;
use crate::sync::write::{self, Place};

/// Gives every stored record of a kind kept to one user the user its listing names; returns how
/// many it moved.
pub async fn keep_to_users(txn: &WriteTxn) -> Result<usize, Error> {
    let conn = &**txn;
    let personal: Vec<(&str, &str)> = sync_core::kinds::ALL
        .iter()
        .filter_map(|k| Some((k.name, k.scope.user_field()?)))
        .collect();
    let rows = document::Entity::find()
        .filter(document::Column::Kind.is_in(personal.iter().map(|(kind, _)| *kind)))
        .filter(document::Column::UserId.is_null())
        .all(conn)
        .await?;
    let mut moved = 0;
    for row in rows {
        let Some((_, field)) = personal.iter().find(|(kind, _)| *kind == row.kind) else {
            continue;
        };
        let Some(user) = row
            .listing_fields
            .as_deref()
            .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
            .and_then(|fields| Uuid::parse_str(fields[*field].as_str()?).ok())
        else {
            continue;
        };
        // The move takes a feed position of its own, as a push's would.
        let seq = txn.allocate_seq(1).await?;
        let from = Place {
            territory_id: row.territory_id,
            user_id: None,
        };
        let to = Place {
            territory_id: row.territory_id,
            user_id: Some(user),
        };
        write::record_move(conn, row.id, from, to, seq).await?;
        let stmt = Query::update()
            .table(document::Entity)
            .value(document::Column::UserId, user)
            .value(document::Column::Seq, seq)
            .and_where(Expr::col(document::Column::Id).eq(row.id))
            .to_owned();
        conn.execute(stmt.build_with(conn)).await?;
        moved += 1;
    }
    Ok(moved)
}
