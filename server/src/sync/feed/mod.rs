//! The pull feed: every change in a device's scope, in commit order, from any cursor.
//!
//! Pages are answered from SQL: chunk rows past the cursor, joined to their documents' scope. Documents
//! that did not change are never loaded. A page never reads past the position up to which the feed
//! was final when it began (`positions::committed_seq`), so a reader can never step over a change that
//! commits later with a lower position.
//!
//! The cursor is opaque to the device and carries everything the server needs, so any server process
//! can answer any page; it is authenticated under the server key and bound to its device
//! (`cursor`). Besides the position it remembers which territories the device holds. When the
//! user's territories change, the next pulls first name the records of lost territories for eviction,
//! then send every record of gained territories, then go on with the feed. Records that move between
//! territories are handled the same way through `scope_moves`.

mod cursor;
mod moves;
mod pages;
pub mod read_ahead;

use prometheus_client::metrics::counter::Counter;
use sync_core::protocol::{PullRequest, PullResponse};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::positions::committed_seq;
use crate::db::Db;
use crate::error::Error;
use crate::keys::KeyRing;
use crate::sync::feed::read_ahead::ReadAhead;
use cursor::{current_scope, decode_cursor, encode, Backfill, Cursor, Eviction};
use moves::{backfill_ids, evictions, moves};
use pages::{feed_page, fresh_page, group, whole_docs};

pub use cursor::cursor_position;

pub const DEFAULT_PAGE: u32 = 500;
/// A first sync's pages are larger: each answer costs a round trip and a write of the device's
/// checkpoint, and a new device has nothing else to do while it waits.
pub const FRESH_PAGE: u32 = 2_000;
pub const MAX_PAGE: u32 = 5_000;
/// About the most bytes of chunks a page carries: a page stops before the next document once it
/// holds this much (a single document larger than this comes alone, whole). Pages are built whole
/// in memory and compressed before they are sent, so their count alone would let a few pages of
/// large records take gigabytes.
pub const MAX_PAGE_BYTES: usize = 8 << 20;

/// Answers one page of the feed. The cursor is checked and issued under `keys`, for `who`'s device;
/// records left out because they do not open are counted in `unloadable`.
pub async fn pull(
    db: &Db,
    read_ahead: &ReadAhead,
    unloadable: &Counter,
    keys: &KeyRing,
    who: &Principal,
    request: PullRequest,
) -> Result<PullResponse, Error> {
    let mut cursor = match &request.cursor {
        Some(bytes) => decode_cursor(bytes, keys, who)?,
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
    let (conn, vault) = (&db.conn, db.vault());
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
            cursor: encode(&cursor, keys, who.device_id),
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
        let docs = whole_docs(conn, vault, unloadable, who, &ids, Some(backfill.upto)).await?;
        return Ok(PullResponse {
            docs,
            evict: vec![],
            cursor: encode(&cursor, keys, who.device_id),
            more: true,
            seq: cursor.seq,
        });
    }
    let (mut docs, upto, more) = if cursor.fresh {
        let page = match read_ahead.take(who, cursor.seq, limit).await {
            Some(page) => page,
            None => fresh_page(conn, vault, unloadable, who, cursor.seq, limit).await?,
        };
        if page.more {
            read_ahead.start(db, who, page.upto, limit);
        }
        (page.docs, page.upto, page.more)
    } else {
        // Read the committed position first: everything up to it is visible and final.
        let committed = committed_seq(conn).await?;
        let (rows, cut) = feed_page(conn, vault, who, cursor.seq, committed, limit).await?;
        let (upto, more) = if cut || rows.len() as u64 == limit {
            (rows.last().map_or(committed, |r| r.seq), true)
        } else {
            (committed, false)
        };
        (group(rows, unloadable), upto, more)
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
        docs.extend(whole_docs(conn, vault, unloadable, who, &moved_in, None).await?);
    }
    cursor.seq = upto;
    cursor.fresh &= more;
    Ok(PullResponse {
        docs,
        evict,
        cursor: encode(&cursor, keys, who.device_id),
        more,
        seq: cursor.seq,
    })
}
