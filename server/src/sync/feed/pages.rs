//! Reading pages: chunk rows past a position joined to their documents' scope, a first sync's
//! documents whole in the order of their latest position, and whole documents by id.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde_bytes::ByteBuf;
use sqlx::Row as _;
use sync_core::protocol::DocUpdate;
use sync_core::record::Listing;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::positions::committed_seq;
use crate::db::{join_documents, BuildWith};
use crate::db::{pg_read, sqlite_read};
use crate::error::Error;
use crate::seal::{Sealed, Vault};
use crate::sync::docstore::unpack_heads;
use crate::sync::feed::MAX_PAGE_BYTES;

pub(super) struct ChunkRow {
    pub(super) doc_id: Uuid,
    pub(super) kind: String,
    pub(super) seq: i64,
    pub(super) snapshot: bool,
    pub(super) data: Vec<u8>,
    /// The document's heads, latest position and listing, read in the same statement as the chunk.
    pub(super) doc_heads: Vec<u8>,
    pub(super) doc_seq: i64,
    pub(super) listing: Option<Listing>,
    /// When a person in the document was last erased (its history rewritten).
    pub(super) erased_at: Option<i64>,
    /// Why the chunk or the listing did not open (altered, or sealed under a key the server lacks);
    /// `data` is then empty, and the document is left out of the page (see `group`).
    pub(super) unopened: Option<String>,
}

/// The listing of a document row, from its three columns.
pub(super) fn listing(
    fields: Option<String>,
    conflicts: Option<String>,
    deleted: Option<bool>,
) -> Option<Listing> {
    Some(Listing {
        fields: fields?,
        conflicts: conflicts?,
        deleted: deleted?,
    })
}

/// The columns of a document's listing, in the order `listing` takes them.
pub(super) const LISTING: [&str; 3] = ["listing_fields", "listing_conflicts", "listing_deleted"];

pub(super) fn chunk_query(backend: DbBackend) -> SelectStatement {
    let (c, d) = (Alias::new("c"), Alias::new("d"));
    let mut stmt = Query::select()
        .column((c.clone(), Alias::new("doc_id")))
        .column((c.clone(), Alias::new("seq")))
        .column((c.clone(), Alias::new("snapshot")))
        .column((c.clone(), Alias::new("data")))
        .column((d.clone(), Alias::new("kind")))
        .expr_as(
            Expr::col((d.clone(), Alias::new("heads"))),
            Alias::new("doc_heads"),
        )
        .expr_as(
            Expr::col((d.clone(), Alias::new("seq"))),
            Alias::new("doc_seq"),
        )
        .columns(LISTING.map(|col| (d.clone(), Alias::new(col))))
        .column((d.clone(), Alias::new("erased_at")))
        .from_as(Alias::new("doc_chunks"), c.clone())
        .order_by((c, Alias::new("seq")), Order::Asc)
        .to_owned();
    join_documents(&mut stmt, "c", backend);
    stmt
}

/// Reads the rows of a statement that selects the columns of `chunk_query`, in its order, by
/// position, and past sea-orm (these are the feed's large reads): on SQLite through `sqlite_read`,
/// on PostgreSQL through `pg_read`. Once the chunks read reach `max_bytes`, the read stops before
/// the next row of another document (so a statement that reads documents' chunks together reads no
/// document in part); the answer says whether it stopped so.
///
/// `expected` rows are allocated for up front: grown by doubling, a page's vectors would take fresh
/// memory, zeroed by the kernel, at each step (BENCHMARKS.md, "Bootstrap").
///
/// Chunks and listings are answered opened (see `seal`). A row that does not open is kept, marked
/// `unopened`, so that the positions a page reached still count it.
pub(super) async fn chunk_rows(
    conn: &DatabaseConnection,
    vault: &Vault,
    stmt: SelectStatement,
    expected: usize,
    max_bytes: usize,
) -> Result<(Vec<ChunkRow>, bool), Error> {
    // The same reads, spelt once for each driver's row type.
    macro_rules! chunk_row {
        ($r:ident . $get:ident) => {
            Ok(ChunkRow {
                doc_id: $r.$get(0)?,
                seq: $r.$get(1)?,
                snapshot: $r.$get(2)?,
                data: $r.$get(3)?,
                kind: $r.$get(4)?,
                doc_heads: $r.$get(5)?,
                doc_seq: $r.$get(6)?,
                listing: listing($r.$get(7)?, $r.$get(8)?, $r.$get(9)?),
                erased_at: $r.$get(10)?,
                unopened: None,
            })
        };
    }
    let cut = Arc::new(AtomicBool::new(false));
    let take = {
        let cut = cut.clone();
        let (mut bytes, mut last) = (0usize, None);
        move |row: &ChunkRow| {
            if bytes >= max_bytes && last != Some(row.doc_id) {
                cut.store(true, Ordering::Relaxed);
                return false;
            }
            bytes += row.data.len();
            last = Some(row.doc_id);
            true
        }
    };
    let mut rows = match conn.get_database_backend() {
        DbBackend::Sqlite => {
            sqlite_read::query(conn, &stmt, expected, |r| chunk_row!(r.get), take).await
        }
        _ => pg_read::query(conn, &stmt, expected, |r| chunk_row!(r.try_get), take).await,
    }?;
    for row in &mut rows {
        if let Err(e) = open_row(vault, row) {
            row.unopened = Some(e.to_string());
            row.data = Vec::new();
        }
    }
    Ok((rows, cut.load(Ordering::Relaxed)))
}

fn open_row(vault: &Vault, row: &mut ChunkRow) -> Result<(), Error> {
    vault.open_in_place(Sealed::Chunk(row.doc_id), &mut row.data)?;
    if let Some(listing) = &mut row.listing {
        listing.fields = vault.open_json(row.doc_id, &listing.fields)?;
        listing.conflicts = vault.open_json(row.doc_id, &listing.conflicts)?;
    }
    Ok(())
}

/// Chunk rows past `after` up to `upto`, at most `limit` of them and about `MAX_PAGE_BYTES`; and
/// whether the bytes cut the page short.
pub(super) async fn feed_page(
    conn: &DatabaseConnection,
    vault: &Vault,
    who: &Principal,
    after: i64,
    upto: i64,
    limit: u64,
) -> Result<(Vec<ChunkRow>, bool), Error> {
    let c = Alias::new("c");
    let stmt = chunk_query(conn.get_database_backend())
        .and_where(Expr::col((c.clone(), Alias::new("seq"))).gt(after))
        .and_where(Expr::col((c, Alias::new("seq"))).lte(upto))
        .cond_where(who.visible(Some("d")))
        .limit(limit)
        .to_owned();
    chunk_rows(conn, vault, stmt, limit as usize, MAX_PAGE_BYTES).await
}

/// A page of a first sync.
pub struct FreshPage {
    pub docs: Vec<DocUpdate>,
    /// The position the page reached.
    pub upto: i64,
    pub more: bool,
}

/// A page of a first sync: the documents the user may see whose latest position lies in
/// `(after, committed]` (the committed position, read first), in that order, each whole (every
/// chunk of a document lies at or below its latest position); one changed later comes again at its
/// new position.
///
/// One statement reads the page's documents and their chunks: it is a consistent snapshot on both
/// databases, and a row per chunk, not another per document, is what the page costs.
///
/// The last page hands over to the ordinary feed, which sends the chunks after `committed`. A document
/// being written as the page is read has its latest position past `committed` but older chunks at or
/// below it: the last page sends those chunks too, or the device would get the newer chunks without
/// the snapshot they build on.
pub(super) async fn fresh_page(
    conn: &DatabaseConnection,
    vault: &Vault,
    unloadable: &Counter,
    who: &Principal,
    after: i64,
    limit: u64,
) -> Result<FreshPage, Error> {
    // Everything up to the committed position is visible and final.
    let committed = committed_seq(conn).await?;
    let backend = conn.get_database_backend();
    // `documents AS p` read by position. SQLite must walk the position index in order and stop at
    // the limit, not sort every visible document for each page, so it gets a visibility test it
    // cannot use an index for.
    let p = Alias::new("p");
    let visible = match backend {
        DbBackend::Sqlite => who.visible_unindexed("p"),
        _ => who.visible(Some("p")),
    };
    let by_position = |from: i64, to: Option<i64>, limit: Option<u64>, columns: &[&str]| {
        let mut stmt = Query::select()
            .columns(columns.iter().map(|c| (p.clone(), Alias::new(*c))))
            .from_as(Alias::new("documents"), p.clone())
            .and_where(Expr::col((p.clone(), Alias::new("seq"))).gt(from))
            .cond_where(visible.clone())
            .order_by((p.clone(), Alias::new("seq")), Order::Asc)
            .to_owned();
        if let Some(to) = to {
            stmt.and_where(Expr::col((p.clone(), Alias::new("seq"))).lte(to));
        }
        if let Some(limit) = limit {
            stmt.limit(limit);
        }
        stmt
    };
    let page = by_position(
        after,
        Some(committed),
        Some(limit),
        &[
            "id",
            "kind",
            "seq",
            "heads",
            LISTING[0],
            LISTING[1],
            LISTING[2],
            "erased_at",
        ],
    );
    let (q, c) = (Alias::new("q"), Alias::new("c"));
    // The columns of `chunk_query`, in its order.
    let mut stmt = Query::select()
        .expr_as(
            Expr::col((q.clone(), Alias::new("id"))),
            Alias::new("doc_id"),
        )
        .columns(["seq", "snapshot", "data"].map(|col| (c.clone(), Alias::new(col))))
        .column((q.clone(), Alias::new("kind")))
        .expr_as(
            Expr::col((q.clone(), Alias::new("heads"))),
            Alias::new("doc_heads"),
        )
        .expr_as(
            Expr::col((q.clone(), Alias::new("seq"))),
            Alias::new("doc_seq"),
        )
        .columns(LISTING.map(|col| (q.clone(), Alias::new(col))))
        .column((q.clone(), Alias::new("erased_at")))
        .from_subquery(page, q.clone())
        .to_owned();
    let of_page =
        Expr::col((c.clone(), Alias::new("doc_id"))).equals((q.clone(), Alias::new("id")));
    match backend {
        // CROSS JOIN keeps SQLite's join order: the page's documents first.
        DbBackend::Sqlite => {
            stmt.join_as(JoinType::CrossJoin, Alias::new("doc_chunks"), c, of_page)
        }
        // Each document's chunks by its primary key. Given a plain join, PostgreSQL hashes the whole
        // of `doc_chunks` for every page even with fresh statistics (BENCHMARKS.md, "Query plans");
        // the ordered lateral subquery cannot be flattened into such a join.
        _ => stmt.join_lateral(
            JoinType::InnerJoin,
            Query::select()
                .columns(["seq", "snapshot", "data"].map(Alias::new))
                .from_as(Alias::new("doc_chunks"), c.clone())
                .and_where(of_page)
                .order_by((c.clone(), Alias::new("seq")), Order::Asc)
                .to_owned(),
            c,
            Expr::value(true),
        ),
    };
    // Ordered here rather than by the statement: SQLite would copy every row, blobs and all, into a
    // sorter to order what it reads in this order anyway (documents by position, each one's chunks
    // by the primary key).
    if backend != DbBackend::Sqlite {
        // The byte bound stops between documents: PostgreSQL must deliver each one's chunks
        // together, which ordering by the document's position asks for. The nested loop of the
        // lateral join already delivers that order, so it costs no sort; ordering by the chunk
        // too would add a sort of every row, blobs and all (`EXPLAIN`: an incremental sort, about
        // as long as the rest of the statement), for what the sort below does in memory.
        stmt.order_by((q.clone(), Alias::new("seq")), Order::Asc);
    }
    let (mut rows, cut) = chunk_rows(conn, vault, stmt, limit as usize, MAX_PAGE_BYTES).await?;
    rows.sort_unstable_by_key(|r| (r.doc_seq, r.seq));
    // The last row is the page's furthest. A document is stored with its first chunk and never
    // without one, so the join drops none.
    let last = rows.last().map(|r| r.doc_seq);
    // Documents read, counting any `group` leaves out: rows come grouped by document.
    let read = rows.chunk_by(|a, b| a.doc_id == b.doc_id).count();
    let mut docs = group(rows, unloadable);
    let (upto, more) = match last {
        Some(seq) if cut || read as u64 == limit => (seq, true),
        _ => (committed, false),
    };
    if !more {
        let writing = doc_positions(
            conn,
            by_position(committed, None, None, &["id", "kind", "seq"]),
        )
        .await?;
        let writing: Vec<(Uuid, String)> = writing
            .into_iter()
            .map(|(id, kind, _)| (id, kind))
            .collect();
        docs.extend(whole_docs(conn, vault, unloadable, who, &writing, Some(upto)).await?);
    }
    Ok(FreshPage { docs, upto, more })
}

pub(super) async fn doc_positions(
    conn: &impl ConnectionTrait,
    stmt: SelectStatement,
) -> Result<Vec<(Uuid, String, i64)>, Error> {
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "id")?,
                r.try_get("", "kind")?,
                r.try_get("", "seq")?,
            ))
        })
        .collect()
}

/// Every chunk of these documents (up to `upto` if given), grouped by document.
pub(super) async fn whole_docs(
    conn: &DatabaseConnection,
    vault: &Vault,
    unloadable: &Counter,
    who: &Principal,
    ids: &[(Uuid, String)],
    upto: Option<i64>,
) -> Result<Vec<DocUpdate>, Error> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let c = Alias::new("c");
    let mut stmt = chunk_query(conn.get_database_backend())
        .and_where(
            Expr::col((c.clone(), Alias::new("doc_id"))).is_in(ids.iter().map(|(id, _)| *id)),
        )
        .cond_where(who.visible(Some("d")))
        .to_owned();
    if let Some(upto) = upto {
        stmt.and_where(Expr::col((c, Alias::new("seq"))).lte(upto));
    }
    // Every chunk: these documents are due whole, and they are at most a page's `limit`.
    let (rows, _) = chunk_rows(conn, vault, stmt, ids.len(), usize::MAX).await?;
    Ok(group(rows, unloadable))
}

/// Groups chunk rows by document, keeping the order in which documents first appear. A document whose
/// rows run from its snapshot (a snapshot is always a document's first chunk) to its latest position is
/// sent whole, with its listing; one whose rows reach its latest position from a later chunk comes with
/// the listing as `tip_listing`. A document whose history was rewritten (`erased_at`) and whose rows
/// start from its snapshot is marked `rewritten`: those chunks begin the new history, which a device
/// holding the old one must not merge into it.
///
/// A document with a row that did not open is left out whole, logged and counted in `unloadable`:
/// the page goes on without it, so one damaged record does not stall every device in its scope.
/// `fieldsync-server repair` rebuilds the record at a new position, and the feed brings it then.
pub(super) fn group(rows: Vec<ChunkRow>, unloadable: &Counter) -> Vec<DocUpdate> {
    /// What decides a group's listing, beside its update (in a vector of its own, so that the
    /// updates need no second vector of a page's size).
    struct Group {
        from_snapshot: bool,
        last_seq: i64,
        doc_seq: i64,
        listing: Option<Listing>,
    }
    // At most a group per row, allocated at once (see `chunk_rows`).
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(rows.len());
    let mut updates: Vec<DocUpdate> = Vec::with_capacity(rows.len());
    let mut groups: Vec<Group> = Vec::with_capacity(rows.len());
    let mut unopened = HashSet::new();
    for row in &rows {
        if let Some(why) = &row.unopened {
            if unopened.insert(row.doc_id) {
                unloadable.inc();
                tracing::error!(record = %row.doc_id, error = %why, "a stored record does not open; the feed leaves it out until `fieldsync-server repair` rebuilds it");
            }
        }
    }
    for row in rows {
        if !unopened.is_empty() && unopened.contains(&row.doc_id) {
            continue;
        }
        let i = *index.entry(row.doc_id).or_insert_with(|| {
            updates.push(DocUpdate {
                id: row.doc_id,
                kind: row.kind.clone(),
                chunks: vec![],
                heads: unpack_heads(&row.doc_heads),
                listing: None,
                tip_listing: None,
                rewritten: row.snapshot && row.erased_at.is_some(),
            });
            groups.push(Group {
                from_snapshot: row.snapshot,
                last_seq: row.seq,
                doc_seq: row.doc_seq,
                listing: None,
            });
            groups.len() - 1
        });
        updates[i].chunks.push(ByteBuf::from(row.data));
        let group = &mut groups[i];
        group.last_seq = row.seq;
        group.listing = row.listing;
    }
    for (update, g) in updates.iter_mut().zip(groups) {
        if g.last_seq == g.doc_seq {
            match g.from_snapshot {
                true => update.listing = g.listing,
                false => update.tip_listing = g.listing,
            }
        }
    }
    updates
}
