//! The pull cursor: opaque to the device, it carries everything a server process needs to answer the
//! next page (the position reached, the territories the device holds, a backfill or eviction in
//! progress, whether it is a first sync).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::error::Error;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Cursor {
    /// Every feed position up to here has been delivered.
    pub(super) seq: i64,
    /// The territories whose records the device holds; None for a user who sees everything.
    pub(super) territories: Option<BTreeSet<Uuid>>,
    /// Records of newly gained territories still to send.
    pub(super) backfill: Option<Backfill>,
    /// Records of lost territories still to name for eviction.
    pub(super) evict: Option<Eviction>,
    /// A device's first sync, until it catches up: pages of documents in the order of their latest
    /// position, each sent whole once, rather than of chunks, which would send a document again for
    /// each later chunk on a later page.
    #[serde(default)]
    pub(super) fresh: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Backfill {
    pub(super) territories: Vec<Uuid>,
    /// Chunks up to this position come from the backfill; later ones from the feed.
    pub(super) upto: i64,
    pub(super) after: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Eviction {
    pub(super) territories: Vec<Uuid>,
    /// Evict everything the user may not see (a user who stopped being an admin).
    #[serde(default)]
    pub(super) all: bool,
    /// The cursor position when the territories were lost: records that moved out of them after it
    /// are on the device too.
    #[serde(default)]
    pub(super) since: i64,
    pub(super) after: Option<Uuid>,
}

pub(super) fn current_scope(who: &Principal) -> Option<BTreeSet<Uuid>> {
    (!who.sees_all()).then(|| who.territories.iter().copied().collect())
}

pub(super) fn decode_cursor(bytes: &[u8], who: &Principal) -> Result<Cursor, Error> {
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

pub(super) fn encode(cursor: &Cursor) -> ByteBuf {
    ByteBuf::from(rmp_serde::to_vec(cursor).expect("cursor serializes"))
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
        // A cursor without the first-sync flag (the chunk-paged form) goes on as a chunk feed.
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
