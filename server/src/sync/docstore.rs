//! Loading record documents from their stored chunks, with a cache of recently used ones bounded
//! by bytes.
//!
//! A document is stored as chunks in `doc_chunks`: a compacted snapshot and the change chunks appended
//! since. A document loaded from storage is compact in memory (automerge 0.12 keeps its ops in
//! columns: 1-4 bytes per op, about 16 KB for a small customer), but changes applied to it cost
//! about 265 bytes per op until it is saved and loaded again: a customer whose 20,000-character
//! notes were just applied holds 5 MiB. So the cache weighs each document by an estimate of what it
//! holds (measured; see `weight`), keeps documents up to a total of `--cache-bytes`, and the push
//! path caches a snapshot it wrote in its reloaded, compact form.

use std::sync::Mutex;

use automerge::{AutoCommit, Change, ReadDoc};
use lru::LruCache;
use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::db::BuildWith;
use crate::error::Error;
use crate::seal::{Sealed, Vault};

/// What a document holds beyond its ops, loaded or made by applying changes: its change graph,
/// actors, indexes (measured: 12 KB loaded, 17 KB applied, for a customer of 11 ops).
const LOADED_BASE: usize = 16 * 1024;
/// Per op of a document loaded from storage (measured 1.7-3 bytes).
const LOADED_PER_OP: usize = 4;
/// Per op applied since the document was loaded (measured 265 bytes).
pub const APPLIED_PER_OP: usize = 300;

/// The most a merge into a stored document holds, estimated before the document is loaded: the
/// document (its ops take a byte or two stored, up to 4 loaded), the snapshot a compaction saves
/// and loads back beside it, and the peak of checking and applying the changes.
pub fn merge_cost(stored_bytes: usize, changes: &[Change]) -> usize {
    LOADED_BASE + STORED_TO_MERGED * stored_bytes + sync_core::structure::peak_bytes(changes)
}

/// Bytes held at a merge's peak per stored byte of its document: loaded (4), saved (1), loaded
/// back (up to 3 more, compact).
const STORED_TO_MERGED: usize = 8;

/// The estimated bytes a document loaded from storage holds.
pub fn weight(doc: &AutoCommit) -> usize {
    LOADED_BASE + LOADED_PER_OP * doc.stats().num_ops as usize
}

/// Recently used documents, each with the heads it had when it was cached and its weight. Several
/// server processes may share one database, so a cached document is used only if its heads still
/// match the database.
pub struct DocCache {
    docs: Mutex<Weighed>,
}

struct Weighed {
    lru: LruCache<Uuid, Cached>,
    bytes: usize,
    capacity: usize,
}

struct Cached {
    heads: Vec<u8>,
    doc: AutoCommit,
    weight: usize,
}

impl DocCache {
    pub fn new(capacity_bytes: usize) -> DocCache {
        DocCache {
            docs: Mutex::new(Weighed {
                lru: LruCache::unbounded(),
                bytes: 0,
                capacity: capacity_bytes,
            }),
        }
    }

    /// Takes the cached document out if it is at exactly `heads`, with its weight. The caller owns
    /// it while it works and puts it back with [`DocCache::put`] only once its new state is
    /// committed.
    pub fn take(&self, id: Uuid, heads: &[u8]) -> Option<(AutoCommit, usize)> {
        let mut docs = self.docs.lock().expect("doc cache poisoned");
        let cached = docs.lru.pop(&id)?;
        docs.bytes -= cached.weight;
        (cached.heads == heads).then_some((cached.doc, cached.weight))
    }

    /// Caches a document of `weight` bytes, evicting the least recently used ones beyond the
    /// capacity. A document heavier than an eighth of the capacity is not kept: it would push out
    /// many others for one record.
    pub fn put(&self, id: Uuid, heads: Vec<u8>, doc: AutoCommit, weight: usize) {
        let mut docs = self.docs.lock().expect("doc cache poisoned");
        if weight > docs.capacity / 8 {
            if let Some(old) = docs.lru.pop(&id) {
                docs.bytes -= old.weight;
            }
            return;
        }
        if let Some(old) = docs.lru.put(id, Cached { heads, doc, weight }) {
            docs.bytes -= old.weight;
        }
        docs.bytes += weight;
        while docs.bytes > docs.capacity {
            match docs.lru.pop_lru() {
                Some((_, evicted)) => docs.bytes -= evicted.weight,
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.docs.lock().expect("doc cache poisoned").lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The estimated bytes the cached documents hold.
    pub fn bytes(&self) -> usize {
        self.docs.lock().expect("doc cache poisoned").bytes
    }
}

/// Every stored chunk of a document, in feed order, opened (see `seal`); a chunk that does not
/// open, with why.
pub async fn load_chunks(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    id: Uuid,
) -> Result<Vec<(i64, Result<Vec<u8>, String>)>, Error> {
    let stmt = Query::select()
        .columns([Alias::new("seq"), Alias::new("data")])
        .from(Alias::new("doc_chunks"))
        .and_where(Expr::col(Alias::new("doc_id")).eq(id))
        .order_by(Alias::new("seq"), Order::Asc)
        .to_owned();
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    rows.iter()
        .map(|r| {
            let mut data: Vec<u8> = r.try_get("", "data")?;
            let opened = vault.open_in_place(Sealed::Chunk(id), &mut data);
            Ok((
                r.try_get("", "seq")?,
                opened.map(|()| data).map_err(|e| e.to_string()),
            ))
        })
        .collect()
}

/// Loads a document from its chunks. The outer error is a storage failure; the inner one says why
/// the stored chunks do not make a document, which concerns this record alone (`fieldsync-server
/// repair` rebuilds it).
pub async fn load(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    id: Uuid,
) -> Result<Result<AutoCommit, String>, Error> {
    let chunks = match load_chunks(conn, vault, id)
        .await?
        .into_iter()
        .map(|(_, data)| data)
        .collect::<Result<Vec<_>, String>>()
    {
        Ok(chunks) => chunks,
        Err(e) => return Ok(Err(e)),
    };
    Ok(sync_core::structure::load_chunks(
        chunks.iter().map(Vec::as_slice),
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
    fn the_cache_is_bounded_by_bytes_and_refuses_stale_entries() {
        let cache = DocCache::new(80_000);
        for i in 0..9u128 {
            cache.put(Uuid::from_u128(i), vec![i as u8], AutoCommit::new(), 10_000);
        }
        assert_eq!(cache.len(), 8, "the least recently used went");
        assert_eq!(cache.bytes(), 80_000);
        assert!(cache.take(Uuid::from_u128(0), &[0]).is_none(), "evicted");
        assert!(
            cache.take(Uuid::from_u128(1), &[9]).is_none(),
            "stale heads"
        );
        assert_eq!(
            cache.take(Uuid::from_u128(2), &[2]).map(|(_, w)| w),
            Some(10_000)
        );
        assert_eq!(
            cache.bytes(),
            60_000,
            "taken out, and the stale one dropped"
        );
        // Heavier than an eighth of the cache: not kept, and an older entry of the record goes.
        cache.put(Uuid::from_u128(3), vec![30], AutoCommit::new(), 10_001);
        assert!(cache.take(Uuid::from_u128(3), &[30]).is_none());
        assert!(cache.take(Uuid::from_u128(3), &[3]).is_none());
        assert_eq!(cache.bytes(), 50_000);
    }

    #[test]
    fn a_documents_weight_grows_with_its_ops() {
        use automerge::transaction::Transactable;
        let mut doc = AutoCommit::new();
        let small = weight(&doc);
        let notes = doc
            .put_object(automerge::ROOT, "notes", automerge::ObjType::Text)
            .unwrap();
        doc.splice_text(&notes, 0, 0, &"n".repeat(20_000)).unwrap();
        assert_eq!(weight(&doc), small + LOADED_PER_OP * 20_001);
    }
}
