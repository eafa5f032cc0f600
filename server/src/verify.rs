//! Verify: a device compares what it holds with the server, so divergence is detected, not assumed.

use sea_orm::sea_query::{Alias, Query};
use sea_orm::ConnectionTrait;
use sync_core::digest::scope_digest;
use sync_core::protocol::{DocHeads, Hash, VerifyMode, VerifyRequest, VerifyResponse};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::BuildWith;
use crate::docstore::unpack_heads;
use crate::error::Error;
use crate::scope::Principal;

pub async fn verify(
    state: &AppState,
    who: &Principal,
    request: VerifyRequest,
) -> Result<VerifyResponse, Error> {
    request.check(&state.limits)?;
    let conn = &state.db.conn;
    let mut stmt = Query::select()
        .columns([
            Alias::new("id"),
            Alias::new("heads"),
            Alias::new("territory_id"),
            Alias::new("owner_id"),
        ])
        .from(Alias::new("documents"))
        .to_owned();
    stmt.cond_where(who.visible(None));
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut server: Vec<(Uuid, Vec<Hash>)> = Vec::with_capacity(rows.len());
    for r in rows {
        let heads: Vec<u8> = r.try_get("", "heads")?;
        server.push((r.try_get("", "id")?, unpack_heads(&heads)));
    }
    server.sort_unstable_by_key(|(id, _)| *id);
    let digest = scope_digest(server.iter().map(|(id, heads)| (*id, heads.as_slice())));
    let mut response = VerifyResponse {
        in_sync: true,
        scope_digest: digest,
        differing: vec![],
        unknown: vec![],
    };
    match request.mode {
        VerifyMode::Scope => response.in_sync = request.scope_digest == Some(digest),
        VerifyMode::Docs => {
            for doc in &request.docs {
                match server.binary_search_by_key(&doc.id, |(id, _)| *id) {
                    Ok(i) => {
                        let mut device_heads = doc.heads.clone();
                        device_heads.sort_unstable();
                        if device_heads != server[i].1 {
                            response.differing.push(DocHeads {
                                id: doc.id,
                                heads: server[i].1.clone(),
                            });
                        }
                    }
                    Err(_) => response.unknown.push(doc.id),
                }
            }
            response.in_sync = response.differing.is_empty() && response.unknown.is_empty();
        }
    }
    Ok(response)
}
