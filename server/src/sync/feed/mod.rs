//! The pull feed: every change in a device's scope, in commit order, from any cursor.
//!
//! Pages are answered from SQL: chunk rows past the cursor, joined to their documents' scope. Documents
//! that did not change are never loaded. A page never reads past the position up to which the feed
//! was final when it began (`positions::committed_seq`), so a reader can never step over a change that
//! commits later with a lower position.
//!
//! The cursor is opaque to the device and carries everything the server needs, so any server process
//! can answer any page. Besides the position it remembers which territories the device holds. When the
//! user's territories change, the next pulls first name the records of lost territories for eviction,
//! then send every record of gained territories, then go on with the feed. Records that move between
//! territories are handled the same way through `scope_moves`.

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sqlx::Row as _;
use sync_core::protocol::{DocUpdate, PullRequest, PullResponse};
use sync_core::record::Listing;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::db::positions::committed_seq;
use crate::db::{join_documents, BuildWith};
use crate::db::{pg_read, sqlite_read};
use crate::error::Error;
use crate::sync::docstore::unpack_heads;

pub const DEFAULT_PAGE: u32 = 500;
/// A first sync's pages are larger: each answer costs a round trip and a write of the device's
/// checkpoint, and a new device has nothing else to do while it waits.
pub const FRESH_PAGE: u32 = 2_000;
pub const MAX_PAGE: u32 = 5_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// Every feed position up to here has been delivered.
    seq: i64,
    /// The territories whose records the device holds; None for a user who sees everything.
    territories: Option<BTreeSet<Uuid>>,
    /// Records of newly gained territories still to send.
    backfill: Option<Backfill>,
    /// Records of lost territories still to name for eviction.
    evict: Option<Eviction>,
    /// A device's first sync, until it catches up: pages of documents in the order of their latest
    /// position, each sent whole once, rather than of chunks, which would send a document again for
    /// each later chunk on a later page.
    #[serde(default)]
    fresh: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Backfill {
    territories: Vec<Uuid>,
    /// Chunks up to this position come from the backfill; later ones from the feed.
    upto: i64,
    after: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Eviction {
    territories: Vec<Uuid>,
    /// Evict everything the user may not see (a user who stopped being an admin).
    #[serde(default)]
    all: bool,
    /// The cursor position when the territories were lost: records that moved out of them after it
    /// are on the device too.
    #[serde(default)]
    since: i64,
    after: Option<Uuid>,
}

fn current_scope(who: &Principal) -> Option<BTreeSet<Uuid>> {
    (!who.sees_all()).then(|| who.territories.iter().copied().collect())
}

fn decode_cursor(bytes: &[u8], who: &Principal) -> Result<Cursor, Error> {
    let cursor: Cursor = rmp_serde::from_slice(bytes).map_err(|_| {
        Error::bad_request("invalid_cursor", "the cursor is not one this server issued")
    })?;
    // A user who became or stopped being an admin starts over: what they may see is sent again
    // (merging what a device already has changes nothing), after evicting what they may no longer see.
    let cursor_holds_all = cursor.territories.is_none();
    if cursor_holds_all != who.sees_all() {
        let evict = (!who.sees_all()).then_some(Eviction {
            territories: vec![],
            all: true,
            since: 0,
            after: None,
        });
        return Ok(Cursor {
            territories: current_scope(who),
            evict,
            ..Cursor::default()
        });
    }
    Ok(cursor)
}

/// Answers one page of the feed.
pub async fn pull(
    state: &AppState,
    who: &Principal,
    request: PullRequest,
) -> Result<PullResponse, Error> {
    let mut cursor = match &request.cursor {
        Some(bytes) => decode_cursor(bytes, who)?,
        None => Cursor {
            territories: current_scope(who),
            fresh: true,
            ..Cursor::default()
        },
    };
    let default = match cursor.fresh {
        true => FRESH_PAGE,
        false => DEFAULT_PAGE,
    };
    let limit = request.limit.unwrap_or(default).clamp(1, MAX_PAGE) as u64;
    let conn = &state.db.conn;
    if cursor.evict.is_none() && cursor.backfill.is_none() {
        if let (Some(held), Some(now)) = (&mut cursor.territories, current_scope(who)) {
            let removed: Vec<Uuid> = held.difference(&now).copied().collect();
            let added: Vec<Uuid> = now.difference(held).copied().collect();
            if !removed.is_empty() {
                cursor.evict = Some(Eviction {
                    territories: removed,
                    all: false,
                    since: cursor.seq,
                    after: None,
                });
            }
            if !added.is_empty() {
                held.extend(added.iter().copied());
                cursor.backfill = Some(Backfill {
                    territories: added,
                    upto: cursor.seq,
                    after: None,
                });
            }
        }
    }
    if let Some(eviction) = cursor.evict.take() {
        let evict = evictions(conn, who, &eviction, limit).await?;
        if evict.len() as u64 == limit {
            cursor.evict = Some(Eviction {
                after: evict.last().copied(),
                ..eviction
            });
        } else if let Some(held) = &mut cursor.territories {
            for t in &eviction.territories {
                held.remove(t);
            }
        }
        return Ok(PullResponse {
            docs: vec![],
            evict,
            cursor: encode(&cursor),
            more: true,
            seq: cursor.seq,
        });
    }
    if let Some(backfill) = cursor.backfill.take() {
        let ids = backfill_ids(conn, who, &backfill, limit).await?;
        if ids.len() as u64 == limit {
            cursor.backfill = Some(Backfill {
                after: ids.last().map(|(id, _)| *id),
                ..backfill.clone()
            });
        }
        let docs = whole_docs(conn, who, &ids, Some(backfill.upto)).await?;
        return Ok(PullResponse {
            docs,
            evict: vec![],
            cursor: encode(&cursor),
            more: true,
            seq: cursor.seq,
        });
    }
    let (mut docs, upto, more) = if cursor.fresh {
        let page = match state.read_ahead.take(who, cursor.seq, limit).await {
            Some(page) => page,
            None => fresh_page(conn, who, cursor.seq, limit).await?,
        };
        if page.more {
            state.read_ahead.start(state, who, page.upto, limit);
        }
        (page.docs, page.upto, page.more)
    } else {
        // Read the committed position first: everything up to it is visible and final.
        let committed = committed_seq(conn).await?;
        let rows = feed_page(conn, who, cursor.seq, committed, limit).await?;
        let (upto, more) = if rows.len() as u64 == limit {
            (rows.last().map_or(committed, |r| r.seq), true)
        } else {
            (committed, false)
        };
        (group(rows), upto, more)
    };
    // A device that starts from the beginning receives every visible record's whole history from the
    // feed itself and holds nothing to evict, so it needs no scan of past moves.
    let (moved_in, evict) = if cursor.seq == 0 {
        (vec![], vec![])
    } else {
        moves(conn, who, &cursor, upto).await?
    };
    if !moved_in.is_empty() {
        docs.retain(|d| !moved_in.iter().any(|(id, _)| *id == d.id));
        docs.extend(whole_docs(conn, who, &moved_in, None).await?);
    }
    cursor.seq = upto;
    cursor.fresh &= more;
    Ok(PullResponse {
        docs,
        evict,
        cursor: encode(&cursor),
        more,
        seq: cursor.seq,
    })
}

fn encode(cursor: &Cursor) -> ByteBuf {
    ByteBuf::from(rmp_serde::to_vec(cursor).expect("cursor serializes"))
}

struct ChunkRow {
    doc_id: Uuid,
    kind: String,
    seq: i64,
    snapshot: bool,
    data: Vec<u8>,
    /// The document's heads, latest position and listing, read in the same statement as the chunk.
    doc_heads: Vec<u8>,
    doc_seq: i64,
    listing: Option<Listing>,
}

/// The listing of a document row, from its three columns.
fn listing(
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
const LISTING: [&str; 3] = ["listing_fields", "listing_conflicts", "listing_deleted"];

fn chunk_query(backend: DbBackend) -> SelectStatement {
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
        .from_as(Alias::new("doc_chunks"), c.clone())
        .order_by((c, Alias::new("seq")), Order::Asc)
        .to_owned();
    join_documents(&mut stmt, "c", backend);
    stmt
}

/// Reads the rows of a statement that selects the columns of `chunk_query`, in its order, by
/// position, and past sea-orm (these are the feed's large reads): on SQLite through `sqlite_read`,
/// on PostgreSQL through `pg_read`.
///
/// `expected` rows are allocated for up front: a page's vectors grown by doubling took fresh memory
/// at each step, and the kernel's zeroing of it was a tenth of the server's CPU in a first sync.
async fn chunk_rows(
    conn: &DatabaseConnection,
    stmt: SelectStatement,
    expected: usize,
) -> Result<Vec<ChunkRow>, Error> {
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
            })
        };
    }
    match conn.get_database_backend() {
        DbBackend::Sqlite => sqlite_read::query(conn, &stmt, expected, |r| chunk_row!(r.get)).await,
        _ => pg_read::query(conn, &stmt, expected, |r| chunk_row!(r.try_get)).await,
    }
}

async fn feed_page(
    conn: &DatabaseConnection,
    who: &Principal,
    after: i64,
    upto: i64,
    limit: u64,
) -> Result<Vec<ChunkRow>, Error> {
    let c = Alias::new("c");
    let stmt = chunk_query(conn.get_database_backend())
        .and_where(Expr::col((c.clone(), Alias::new("seq"))).gt(after))
        .and_where(Expr::col((c, Alias::new("seq"))).lte(upto))
        .cond_where(who.visible(Some("d")))
        .limit(limit)
        .to_owned();
    chunk_rows(conn, stmt, limit as usize).await
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
pub(crate) async fn fresh_page(
    conn: &DatabaseConnection,
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
            "id", "kind", "seq", "heads", LISTING[0], LISTING[1], LISTING[2],
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
        // of `doc_chunks` for every page even with fresh statistics (28 ms a page against 7 ms for
        // the 2,000 probes); the ordered lateral subquery cannot be flattened into such a join.
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
    let mut rows = chunk_rows(conn, stmt, limit as usize).await?;
    rows.sort_unstable_by_key(|r| (r.doc_seq, r.seq));
    // The last row is the page's furthest. A document is stored with its first chunk and never
    // without one, so the join drops none.
    let last = rows.last().map(|r| r.doc_seq);
    let mut docs = group(rows);
    let (upto, more) = match last {
        Some(seq) if docs.len() as u64 == limit => (seq, true),
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
        docs.extend(whole_docs(conn, who, &writing, Some(upto)).await?);
    }
    Ok(FreshPage { docs, upto, more })
}

async fn doc_positions(
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
async fn whole_docs(
    conn: &DatabaseConnection,
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
    Ok(group(chunk_rows(conn, stmt, ids.len()).await?))
}

/// Groups chunk rows by document, keeping the order in which documents first appear. A document whose
/// rows run from its snapshot (a snapshot is always a document's first chunk) to its latest position is
/// sent whole, with its listing; one whose rows reach its latest position from a later chunk comes with
/// the listing as `tip_listing`.
fn group(rows: Vec<ChunkRow>) -> Vec<DocUpdate> {
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
    for row in rows {
        let i = *index.entry(row.doc_id).or_insert_with(|| {
            updates.push(DocUpdate {
                id: row.doc_id,
                kind: row.kind.clone(),
                chunks: vec![],
                heads: unpack_heads(&row.doc_heads),
                listing: None,
                tip_listing: None,
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

/// Records to evict: those in the lost territories (or, for a former admin, all) that the user may
/// not see now, and, on the first page, those that moved out of the lost territories since.
async fn evictions(
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
async fn moved_from(
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
async fn backfill_ids(
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

/// Records that moved between territories in `(cursor.seq, upto]`: those that came into the device's
/// view (sent whole, since the device lacks their history) and those that left it (evicted).
async fn moves(
    conn: &impl ConnectionTrait,
    who: &Principal,
    cursor: &Cursor,
    upto: i64,
) -> Result<(Vec<(Uuid, String)>, Vec<Uuid>), Error> {
    let (m, d) = (Alias::new("m"), Alias::new("d"));
    let mut stmt = Query::select()
        .column((m.clone(), Alias::new("doc_id")))
        .column((m.clone(), Alias::new("from_territory")))
        .column((d.clone(), Alias::new("territory_id")))
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
        let now: Option<Uuid> = r.try_get("", "territory_id")?;
        let owner: Uuid = r.try_get("", "owner_id")?;
        let held_before = who.sees_all()
            || owner == who.user_id
            || from.is_some_and(|t| {
                cursor
                    .territories
                    .as_ref()
                    .is_some_and(|held| held.contains(&t))
            });
        let visible_now = who.can_access(now, owner);
        if visible_now && !held_before && !moved_in.iter().any(|(m, _)| *m == id) {
            moved_in.push((id, r.try_get("", "kind")?));
        } else if !visible_now && held_before && !evict.contains(&id) {
            evict.push(id);
        }
    }
    Ok((moved_in, evict))
}

/// The feed position a cursor has reached (0 for bytes that are not a cursor), for the device-lag
/// metric, which the routes layer records.
pub fn cursor_position(bytes: &[u8]) -> i64 {
    rmp_serde::from_slice::<Cursor>(bytes).map_or(0, |c| c.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::Role;

    #[test]
    fn cursors_round_trip_and_foreign_bytes_are_refused() {
        let who = Principal {
            user_id: Uuid::nil(),
            role: Role::Agent,
            device_id: Uuid::nil(),
            territories: vec![Uuid::from_u128(3)],
            checkpoint: 0,
        };
        let cursor = Cursor {
            seq: 42,
            territories: current_scope(&who),
            backfill: Some(Backfill {
                territories: vec![Uuid::from_u128(3)],
                upto: 40,
                after: None,
            }),
            evict: None,
            fresh: true,
        };
        assert_eq!(decode_cursor(&encode(&cursor), &who).unwrap(), cursor);
        // A cursor issued before first syncs were paged by document goes on as it was.
        let older = rmp_serde::to_vec(&(
            7i64,
            current_scope(&who),
            None::<Backfill>,
            None::<Eviction>,
        ))
        .unwrap();
        let older = decode_cursor(&older, &who).unwrap();
        assert_eq!((older.seq, older.fresh), (7, false));
        assert_eq!(
            decode_cursor(b"junk", &who).unwrap_err().code(),
            "invalid_cursor"
        );
        let admin = Principal {
            role: Role::Admin,
            ..who
        };
        assert_eq!(
            decode_cursor(&encode(&cursor), &admin).unwrap().seq,
            0,
            "a change of role starts over"
        );
    }
}
