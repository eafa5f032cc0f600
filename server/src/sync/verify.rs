//! Verify: a device compares what it holds with the server, so divergence is detected, not assumed.

use futures_util::TryStreamExt;
use sea_orm::sea_query::{Alias, Order, Query};
use sea_orm::{ConnectionTrait, DbBackend, StreamTrait};
use sync_core::digest::OrderedScopeDigest;
use sync_core::protocol::{DocHeads, Hash, VerifyMode, VerifyRequest, VerifyResponse};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::sqlite_read;
use crate::db::BuildWith;
use crate::error::Error;
use crate::sync::docstore::unpack_heads;
use crate::sync::engine::SyncEngine;

pub async fn verify(
    engine: &SyncEngine,
    who: &Principal,
    request: VerifyRequest,
) -> Result<VerifyResponse, Error> {
    request.check(&engine.limits)?;
    let conn = &engine.db.conn;
    // Every visible document's heads, in id order, streamed: a scope can hold millions of records,
    // so its heads are never held at once (BENCHMARKS.md, "Memory").
    let stmt = Query::select()
        .columns([Alias::new("id"), Alias::new("heads")])
        .from(Alias::new("documents"))
        .cond_where(who.visible(None))
        .order_by(Alias::new("id"), Order::Asc)
        .to_owned();
    let mut wanted = match request.mode {
        VerifyMode::Scope => vec![],
        VerifyMode::Docs => request.docs,
    };
    wanted.sort_by_key(|d| d.id);
    wanted.dedup_by_key(|d| d.id);
    let mut comparison = Comparison {
        found: vec![false; wanted.len()],
        wanted,
        digest: OrderedScopeDigest::default(),
        differing: vec![],
    };
    if conn.get_database_backend() == DbBackend::Sqlite {
        comparison = sqlite_read::fold(conn, &stmt, comparison, |c, row| {
            let heads: Vec<u8> = row.get(1)?;
            c.see(row.get(0)?, &heads);
            Ok(true)
        })
        .await?;
    } else {
        let mut rows = conn.stream(stmt.build_with(conn)).await?;
        while let Some(row) = rows.try_next().await? {
            let heads: Vec<u8> = row.try_get("", "heads")?;
            comparison.see(row.try_get("", "id")?, &heads);
        }
    }
    Ok(comparison.finish(request.mode, request.scope_digest))
}

/// A device's documents compared with the server's, which pass by one at a time in id order.
struct Comparison {
    /// The documents the device asked about, sorted by id.
    wanted: Vec<DocHeads>,
    found: Vec<bool>,
    digest: OrderedScopeDigest,
    differing: Vec<DocHeads>,
}

impl Comparison {
    fn see(&mut self, id: Uuid, packed_heads: &[u8]) {
        let heads = unpack_heads(packed_heads);
        self.digest.add(id, &heads);
        if let Ok(i) = self.wanted.binary_search_by_key(&id, |d| d.id) {
            self.found[i] = true;
            let mut device_heads = self.wanted[i].heads.clone();
            device_heads.sort_unstable();
            if device_heads != heads {
                self.differing.push(DocHeads { id, heads });
            }
        }
    }

    fn finish(self, mode: VerifyMode, device_digest: Option<Hash>) -> VerifyResponse {
        let scope_digest = self.digest.finish();
        let unknown: Vec<Uuid> = self
            .wanted
            .iter()
            .zip(&self.found)
            .filter(|(_, found)| !**found)
            .map(|(d, _)| d.id)
            .collect();
        let in_sync = match mode {
            VerifyMode::Scope => device_digest == Some(scope_digest),
            VerifyMode::Docs => self.differing.is_empty() && unknown.is_empty(),
        };
        VerifyResponse {
            in_sync,
            scope_digest,
            differing: self.differing,
            unknown,
        }
    }
}
