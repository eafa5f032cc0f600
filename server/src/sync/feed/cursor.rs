//! The pull cursor: opaque to the device, it carries everything a server process needs to answer the
//! next page (the position reached, the territories the device holds, a backfill or eviction in
//! progress, whether it is a first sync).
//!
//! The server trusts what a cursor says (the ids an eviction names are those of records the user
//! may not see; the position a page reaches becomes the device's checkpoint), so a cursor is
//! authenticated: on the wire it is a version byte, a tag under the server key over the device's id
//! and the MessagePack payload, then the payload. A cursor that was not issued to the device asking
//! with it is refused before its payload is read, and so is one larger than any the server issues.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::auth::users::MAX_TERRITORIES_PER_USER;
use crate::error::Error;
use crate::keys::{KeyRing, Purpose, TAG_BYTES};

/// The first byte of every cursor: its layout.
const VERSION: u8 = 1;

/// The most territory ids a cursor holds: those the device holds (up to a user's before and after
/// a change, while it is being applied), plus the lost ones being evicted and the gained ones being
/// sent. More would make statements with more variables than the databases take.
pub const MAX_CURSOR_TERRITORIES: usize = 4 * MAX_TERRITORIES_PER_USER;

/// The largest cursor accepted, checked before anything else: one holding the most territory ids
/// (each 18 bytes in MessagePack) fits well under it, and decoding it costs a few MiB, not the
/// hundreds a cursor of a whole request body would.
pub const MAX_CURSOR_BYTES: usize = 256 * 1024;

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
    pub(super) all: bool,
    /// The cursor position when the territories were lost: records that moved out of them after it
    /// are on the device too.
    pub(super) since: i64,
    pub(super) after: Option<Uuid>,
}

pub(super) fn current_scope(who: &Principal) -> Option<BTreeSet<Uuid>> {
    (!who.sees_all()).then(|| who.territories.iter().copied().collect())
}

impl Cursor {
    fn territory_ids(&self) -> usize {
        self.territories.as_ref().map_or(0, BTreeSet::len)
            + self.backfill.as_ref().map_or(0, |b| b.territories.len())
            + self.evict.as_ref().map_or(0, |e| e.territories.len())
    }
}

fn invalid(message: &str) -> Error {
    Error::bad_request("invalid_cursor", message)
}

/// The payload of a cursor of the current layout and size, before its tag is checked.
fn payload(bytes: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    if bytes.len() > MAX_CURSOR_BYTES {
        return Err(invalid("the cursor is larger than any this server issues"));
    }
    match bytes.split_first() {
        Some((&VERSION, rest)) if rest.len() >= TAG_BYTES => Ok(rest.split_at(TAG_BYTES)),
        _ => Err(invalid("the cursor is not one this server issued")),
    }
}

pub(super) fn decode_cursor(
    bytes: &[u8],
    keys: &KeyRing,
    who: &Principal,
) -> Result<Cursor, Error> {
    let (tag, payload) = payload(bytes)?;
    if !keys.verify(Purpose::Cursor, &[who.device_id.as_bytes(), payload], tag) {
        return Err(invalid(
            "the cursor is not one this server issued to this device",
        ));
    }
    let cursor: Cursor = rmp_serde::from_slice(payload)
        .map_err(|_| invalid("the cursor is not one this server issued"))?;
    if cursor.territory_ids() > MAX_CURSOR_TERRITORIES {
        return Err(invalid(
            "the cursor names more territories than a cursor may hold",
        ));
    }
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

/// The cursor as the device `device` receives it.
pub(super) fn encode(cursor: &Cursor, keys: &KeyRing, device: Uuid) -> ByteBuf {
    let payload = rmp_serde::to_vec(cursor).expect("cursor serializes");
    let tag = keys.tag(Purpose::Cursor, &[device.as_bytes(), &payload]);
    let mut bytes = Vec::with_capacity(1 + TAG_BYTES + payload.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(&tag);
    bytes.extend_from_slice(&payload);
    ByteBuf::from(bytes)
}

/// The feed position a cursor has reached (0 for bytes that are not a cursor), for the device-lag
/// metric, which the routes layer records. Its tag is not checked here: a pull whose cursor fails
/// the check is refused, and records no lag.
pub fn cursor_position(bytes: &[u8]) -> i64 {
    payload(bytes)
        .ok()
        .and_then(|(_, payload)| rmp_serde::from_slice::<Cursor>(payload).ok())
        .map_or(0, |c| c.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::Role;

    fn agent(device: u128) -> Principal {
        Principal {
            user_id: Uuid::nil(),
            role: Role::Agent,
            device_id: Uuid::from_u128(device),
            territories: vec![Uuid::from_u128(3)],
            checkpoint: 0,
            claimed_device: None,
        }
    }

    fn ring(dir: &tempfile::TempDir, name: &str) -> KeyRing {
        KeyRing::open(&dir.path().join(name)).unwrap()
    }

    fn code(result: Result<Cursor, Error>) -> String {
        result.unwrap_err().code().to_string()
    }

    #[test]
    fn cursors_round_trip_for_their_device_only() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ring(&dir, "server.key");
        let who = agent(1);
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
        let bytes = encode(&cursor, &keys, who.device_id);
        assert_eq!(decode_cursor(&bytes, &keys, &who).unwrap(), cursor);
        assert_eq!(cursor_position(&bytes), 42);
        assert_eq!(
            code(decode_cursor(&bytes, &keys, &agent(2))),
            "invalid_cursor",
            "another device's cursor"
        );
        assert_eq!(
            code(decode_cursor(&bytes, &ring(&dir, "other.key"), &who)),
            "invalid_cursor",
            "another server's cursor"
        );
        let mut tampered = bytes.to_vec();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            code(decode_cursor(&tampered, &keys, &who)),
            "invalid_cursor"
        );
        let unsigned = rmp_serde::to_vec(&cursor).unwrap();
        assert_eq!(
            code(decode_cursor(&unsigned, &keys, &who)),
            "invalid_cursor"
        );
        assert_eq!(code(decode_cursor(b"junk", &keys, &who)), "invalid_cursor");
        let admin = Principal {
            role: Role::Admin,
            ..who
        };
        assert_eq!(
            decode_cursor(&bytes, &keys, &admin).unwrap().seq,
            0,
            "a change of role starts over"
        );
    }

    #[test]
    fn oversized_cursors_are_refused_even_when_authentic() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ring(&dir, "server.key");
        let who = agent(1);
        let many = |n: u128| Cursor {
            territories: Some((0..n).map(Uuid::from_u128).collect()),
            ..Cursor::default()
        };
        let most = encode(&many(MAX_CURSOR_TERRITORIES as u128), &keys, who.device_id);
        assert!(most.len() <= MAX_CURSOR_BYTES, "{} bytes", most.len());
        assert!(decode_cursor(&most, &keys, &who).is_ok());
        let more = encode(
            &many(MAX_CURSOR_TERRITORIES as u128 + 1),
            &keys,
            who.device_id,
        );
        assert_eq!(code(decode_cursor(&more, &keys, &who)), "invalid_cursor");
        let huge = encode(&many(20_000), &keys, who.device_id);
        assert!(huge.len() > MAX_CURSOR_BYTES);
        assert_eq!(code(decode_cursor(&huge, &keys, &who)), "invalid_cursor");
        assert_eq!(cursor_position(&huge), 0);
    }
}
