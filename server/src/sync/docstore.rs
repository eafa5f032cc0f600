//! Loading record documents from their stored chunks, with a bounded cache of recently used ones.
//!
//! A document is stored as chunks in `doc_chunks`: a compacted snapshot and the change chunks appended
//! since. A loaded document costs ~20-30 KB of memory against ~0.5 KB on disk, so the cache holds a
//! bounded number of them and memory does not grow with the database.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use automerge::AutoCommit;
use lru::LruCache;
use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::db::BuildWith;
use crate::error::Error;

/// Recently used documents, each with the heads it had when it was cached. Several server processes
/// may share one database, so a cached document is used only if its heads still match the database.
pub struct DocCache {
    docs: Mutex<LruCache<Uuid, (Vec<u8>, AutoCommit)>>,
}

impl DocCache {
    pub fn new(capacity: usize) -> DocCache {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        DocCache {
            docs: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Takes the cached document out if it is at exactly `heads`. The caller owns it while it works and
    /// puts it back with [`DocCache::put`] only once its new state is committed.
    pub fn take(&self, id: Uuid, heads: &[u8]) -> Option<AutoCommit> {
        let mut docs = self.docs.lock().expect("doc cache poisoned");
        match docs.pop(&id) {
            Some((cached_heads, doc)) if cached_heads == heads => Some(doc),
            _ => None,
        }
    }

    pub fn put(&self, id: Uuid, heads: Vec<u8>, doc: AutoCommit) {
        self.docs
            .lock()
            .expect("doc cache poisoned")
            .put(id, (heads, doc));
    }

    pub fn len(&self) -> usize {
        self.docs.lock().expect("doc cache poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every stored chunk of a document, in feed order.
pub async fn load_chunks(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Vec<(i64, Vec<u8>)>, Error> {
    let stmt = Query::select()
        .columns([Alias::new("seq"), Alias::new("data")])
        .from(Alias::new("doc_chunks"))
        .and_where(Expr::col(Alias::new("doc_id")).eq(id))
        .order_by(Alias::new("seq"), Order::Asc)
        .to_owned();
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "seq")?, r.try_get("", "data")?)))
        .collect()
}

/// Loads a document from its chunks. The outer error is a storage failure; the inner one says why
/// the stored chunks do not make a document, which concerns this record alone (`fieldsync-server
/// repair` rebuilds it).
pub async fn load(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Result<AutoCommit, String>, Error> {
    let chunks = load_chunks(conn, id).await?;
    Ok(sync_core::structure::load_chunks(
        chunks.iter().map(|(_, d)| d.as_slice()),
    ))
}

/// Packs heads (sorted 32-byte hashes) into the `documents.heads` column.
pub fn pack_heads(heads: &[automerge::ChangeHash]) -> Vec<u8> {
    let mut sorted: Vec<_> = heads.iter().map(|h| h.0).collect();
    sorted.sort_unstable();
    sorted.concat()
}

/// Unpacks the `documents.heads` column.
pub fn unpack_heads(packed: &[u8]) -> Vec<sync_core::protocol::Hash> {
    packed
        .chunks_exact(32)
        .map(|c| sync_core::protocol::Hash(c.try_into().expect("chunks_exact yields 32 bytes")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_pack_sorted_and_unpack() {
        let (a, b) = (
            automerge::ChangeHash([2; 32]),
            automerge::ChangeHash([1; 32]),
        );
        let packed = pack_heads(&[a, b]);
        assert_eq!(packed.len(), 64);
        assert_eq!(packed, pack_heads(&[b, a]));
        assert_eq!(
            unpack_heads(&packed),
            vec![
                sync_core::protocol::Hash([1; 32]),
                sync_core::protocol::Hash([2; 32])
            ]
        );
    }

    #[test]
    fn the_cache_is_bounded_and_refuses_stale_entries() {
        let cache = DocCache::new(2);
        for i in 0..3u128 {
            cache.put(Uuid::from_u128(i), vec![i as u8], AutoCommit::new());
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.take(Uuid::from_u128(0), &[0]).is_none(), "evicted");
        assert!(
            cache.take(Uuid::from_u128(1), &[9]).is_none(),
            "stale heads"
        );
        assert!(cache.take(Uuid::from_u128(2), &[2]).is_some());
    }
}
