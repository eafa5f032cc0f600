//! Data sealed at rest under the server key: every stored chunk of every document, and the values
//! of personal fields wherever the server keeps them in its tables (a kind's projection, a
//! document's listing, the fields in conflict). Someone holding the database (a stolen disk, a
//! backup, a read-only SQL account) reads neither a person's name, phone or e-mail nor the
//! documents' history; the key file lives apart from the database.
//!
//! Each key of the ring gives a sealing key, a key id and a match key, all derived from it by
//! HMAC-SHA-256 under labels of their own. A value is sealed with XChaCha20-Poly1305 under the
//! newest key, with a random nonce and the record's id as associated data (so a sealed value copied
//! to another record does not open); it carries the id of its key, so values sealed before a
//! rotation open until `fieldsync-server key reseal` seals them again under the newest.
//!
//! Duplicate checks compare personal values through the match key ([`Vault::match_key`]): equal
//! values give equal keys, and the keys tell nothing of the values without the server key.
//!
//! Rows written before sealing existed hold plain bytes: a chunk is recognised by the automerge
//! magic it starts with, and a value by the prefix it lacks; both are read as they are until
//! `fieldsync-server key reseal` seals them.

use std::fmt;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::Value as Json;
use sha2::Sha256;
use sync_core::{kinds, KindSchema};
use uuid::Uuid;

use crate::error::Error;

/// What a sealed chunk starts with; automerge's own chunks start with `85 6f 4a 83`.
const MAGIC: [u8; 4] = *b"FSs1";
/// What a sealed value starts with, before its bytes in base64.
const TEXT_PREFIX: &str = "sealed:v1:";
const KEY_ID_BYTES: usize = 8;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
const HEADER_BYTES: usize = MAGIC.len() + KEY_ID_BYTES + NONCE_BYTES;

/// What a sealed piece of data is, bound into it with the record's id: a chunk does not open as a
/// value, nor one record's value as another's.
#[derive(Debug, Clone, Copy)]
pub enum Sealed {
    Chunk(Uuid),
    Value(Uuid),
}

impl Sealed {
    fn associated(self) -> [u8; 17] {
        let (tag, id) = match self {
            Sealed::Chunk(id) => (b'c', id),
            Sealed::Value(id) => (b'v', id),
        };
        let mut out = [0u8; 17];
        out[0] = tag;
        out[1..].copy_from_slice(id.as_bytes());
        out
    }
}

struct VaultKey {
    id: [u8; KEY_ID_BYTES],
    cipher: XChaCha20Poly1305,
    matching: [u8; 32],
}

/// The sealing keys of the server's key ring, newest first; never empty. `Debug` shows no key.
pub struct Vault {
    keys: Vec<VaultKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault({} keys)", self.keys.len())
    }
}

fn derive(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl Vault {
    /// The vault of a key ring's keys, newest first (see `KeyRing::vault`).
    pub(crate) fn new(keys: &[[u8; 32]]) -> Vault {
        assert!(!keys.is_empty(), "a key ring is never empty");
        let keys = keys
            .iter()
            .map(|key| VaultKey {
                id: derive(key, b"fieldsync seal key id v1")[..KEY_ID_BYTES]
                    .try_into()
                    .expect("8 bytes"),
                cipher: XChaCha20Poly1305::new(&derive(key, b"fieldsync seal v1").into()),
                matching: derive(key, b"fieldsync match key v1"),
            })
            .collect();
        Vault { keys }
    }

    /// `plain` sealed under the newest key.
    pub fn seal(&self, what: Sealed, plain: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_BYTES + plain.len() + TAG_BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = key
            .cipher
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                &what.associated(),
                &mut out[HEADER_BYTES..],
            )
            .expect("XChaCha20-Poly1305 seals any length a database holds");
        out.extend_from_slice(&tag);
        out
    }

    /// Opens what [`Vault::seal`] sealed, in place; plain bytes (no magic) are left as they are.
    pub fn open_in_place(&self, what: Sealed, stored: &mut Vec<u8>) -> Result<(), Error> {
        if !is_sealed(stored) {
            return Ok(());
        }
        if stored.len() < HEADER_BYTES + TAG_BYTES {
            return Err(unopenable(what, "it is cut short"));
        }
        let key_id = &stored[MAGIC.len()..MAGIC.len() + KEY_ID_BYTES];
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| unopenable(what, "no key of the key file sealed it"))?;
        let nonce = *XNonce::from_slice(&stored[MAGIC.len() + KEY_ID_BYTES..HEADER_BYTES]);
        let tag_at = stored.len() - TAG_BYTES;
        let tag = *Tag::from_slice(&stored[tag_at..]);
        key.cipher
            .decrypt_in_place_detached(
                &nonce,
                &what.associated(),
                &mut stored[HEADER_BYTES..tag_at],
                &tag,
            )
            .map_err(|_| unopenable(what, "it was altered, or belongs to another record"))?;
        stored.truncate(tag_at);
        stored.drain(..HEADER_BYTES);
        Ok(())
    }

    /// [`Vault::open_in_place`] on a copy.
    pub fn open(&self, what: Sealed, stored: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = stored.to_vec();
        self.open_in_place(what, &mut out)?;
        Ok(out)
    }

    /// Whether `stored` is sealed under the newest key (plain bytes are not).
    pub fn is_current(&self, stored: &[u8]) -> bool {
        is_sealed(stored)
            && stored.len() >= HEADER_BYTES
            && stored[MAGIC.len()..MAGIC.len() + KEY_ID_BYTES] == self.keys[0].id
    }

    /// A text value sealed, as text.
    pub fn seal_text(&self, record: Uuid, plain: &str) -> String {
        let sealed = self.seal(Sealed::Value(record), plain.as_bytes());
        format!("{TEXT_PREFIX}{}", STANDARD_NO_PAD.encode(sealed))
    }

    /// Text column `column` of a query's row about `record`, opened (see [`Vault::open_text`]).
    pub fn open_column(
        &self,
        row: &sea_orm::QueryResult,
        record: Uuid,
        column: &str,
    ) -> Result<Option<String>, Error> {
        row.try_get::<Option<String>>("", column)?
            .map(|v| self.open_text(record, &v))
            .transpose()
    }

    /// Opens what [`Vault::seal_text`] sealed; text without its prefix is left as it is.
    pub fn open_text(&self, record: Uuid, stored: &str) -> Result<String, Error> {
        let Some(encoded) = stored.strip_prefix(TEXT_PREFIX) else {
            return Ok(stored.to_string());
        };
        let what = Sealed::Value(record);
        let mut bytes = STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| unopenable(what, "it is not base64"))?;
        if !is_sealed(&bytes) {
            return Err(unopenable(what, "it lacks the seal's header"));
        }
        self.open_in_place(what, &mut bytes)?;
        String::from_utf8(bytes).map_err(|_| unopenable(what, "it is not UTF-8"))
    }

    /// Whether a text value is sealed under the newest key.
    pub fn is_current_text(&self, stored: &str) -> bool {
        stored
            .strip_prefix(TEXT_PREFIX)
            .and_then(|encoded| STANDARD_NO_PAD.decode(encoded).ok())
            .is_some_and(|bytes| self.is_current(&bytes))
    }

    /// The keyed hash under which a personal value (already normalised) is matched, in hex: equal
    /// values, equal keys.
    pub fn match_key(&self, value: &str) -> String {
        hex::encode(derive(&self.keys[0].matching, value.as_bytes()))
    }

    /// A record's fields as JSON (its listing, its projection's fields in conflict) with the
    /// values of its personal fields ([`personal_fields`]) sealed.
    pub fn seal_fields(&self, kind: &KindSchema, record: Uuid, fields: &str) -> String {
        self.map_json(kind, record, fields, |json| {
            let Some(map) = json.as_object_mut() else {
                return;
            };
            for field in personal_fields(kind, |f| map.get(f).and_then(Json::as_str)) {
                if let Some(v) = map.get_mut(field) {
                    self.seal_json(record, v);
                }
            }
        })
    }

    /// Fields in conflict (JSON: `[{field, values}]`) with the values of personal fields sealed.
    pub fn seal_conflicts(&self, kind: &KindSchema, record: Uuid, conflicts: &str) -> String {
        self.map_json(kind, record, conflicts, |json| {
            let Some(list) = json.as_array_mut() else {
                return;
            };
            for entry in list {
                let personal = entry["field"]
                    .as_str()
                    .and_then(|f| kind.field(f))
                    .is_some_and(|f| f.personal);
                if personal {
                    if let Some(values) = entry.get_mut("values") {
                        self.seal_json(record, values);
                    }
                }
            }
        })
    }

    fn map_json(
        &self,
        kind: &KindSchema,
        record: Uuid,
        text: &str,
        seal: impl FnOnce(&mut Json),
    ) -> String {
        // Most listings name no personal field (a customer without a tax id): no parse for them.
        if !maybe_personal(kind).any(|f| text.contains(&format!("\"{f}\""))) {
            return text.to_string();
        }
        match serde_json::from_str::<Json>(text) {
            Ok(mut json) => {
                seal(&mut json);
                json.to_string()
            }
            // Listings are the server's own JSON; anything else is sealed whole.
            Err(_) => self.seal_text(record, text),
        }
    }

    /// Every string in `v` (at any depth) sealed.
    fn seal_json(&self, record: Uuid, v: &mut Json) {
        match v {
            Json::String(s) if !s.starts_with(TEXT_PREFIX) => *s = self.seal_text(record, s),
            Json::Array(items) => items.iter_mut().for_each(|i| self.seal_json(record, i)),
            _ => {}
        }
    }

    /// JSON as the server wrote it (a listing, fields in conflict) with every sealed value opened.
    /// Text holding no sealed value is answered as it is, unparsed.
    pub fn open_json(&self, record: Uuid, text: &str) -> Result<String, Error> {
        if !text.contains(TEXT_PREFIX) {
            return Ok(text.to_string());
        }
        if text.starts_with(TEXT_PREFIX) {
            return self.open_text(record, text);
        }
        let mut json: Json = serde_json::from_str(text)
            .map_err(|e| Error::Storage(format!("a stored listing is not JSON: {e}")))?;
        self.open_json_value(record, &mut json)?;
        Ok(json.to_string())
    }

    fn open_json_value(&self, record: Uuid, v: &mut Json) -> Result<(), Error> {
        match v {
            Json::String(s) if s.starts_with(TEXT_PREFIX) => *s = self.open_text(record, s)?,
            Json::Array(items) => {
                for i in items {
                    self.open_json_value(record, i)?;
                }
            }
            Json::Object(map) => {
                for (_, i) in map.iter_mut() {
                    self.open_json_value(record, i)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether JSON the server wrote of a record of `kind` (a listing, fields in conflict) holds
    /// a personal value not sealed under the newest key.
    pub fn stale(&self, kind: &KindSchema, text: &str) -> bool {
        if maybe_personal(kind).next().is_none() {
            return false;
        }
        if text.starts_with(TEXT_PREFIX) {
            return !self.is_current_text(text);
        }
        let current = |v: &Json| match v {
            Json::String(s) => self.is_current_text(s),
            Json::Array(items) => items
                .iter()
                .all(|i| i.as_str().is_none_or(|s| self.is_current_text(s))),
            _ => true,
        };
        match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(map)) => personal_fields(kind, |f| map.get(f).and_then(Json::as_str))
                .into_iter()
                .any(|f| map.get(f).is_some_and(|v| !current(v))),
            Ok(Json::Array(list)) => list.iter().any(|entry| {
                let personal = entry["field"]
                    .as_str()
                    .and_then(|f| kind.field(f))
                    .is_some_and(|f| f.personal);
                personal && !current(&entry["values"])
            }),
            _ => false,
        }
    }
}

/// The fields of a record of `kind` whose values are a person's data, given what `value` reads of
/// its fields: the kind's personal fields, and a conflict's `candidates` and `outcome` when the
/// field it is about is personal in its record's kind (the competing values of a contact's phone
/// are phone numbers).
pub fn personal_fields<'a>(
    kind: &KindSchema,
    value: impl Fn(&str) -> Option<&'a str>,
) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = kind.personal_fields().collect();
    if kind.name == kinds::CONFLICT.name {
        let about = value("record_kind")
            .and_then(|k| kinds::get(k).ok())
            .zip(value("field"))
            .and_then(|(k, f)| k.field(f));
        if about.is_some_and(|f| f.personal) {
            out.extend(CONFLICT_VALUES);
        }
    }
    out
}

/// A conflict record's fields that hold the competing values.
const CONFLICT_VALUES: [&str; 2] = ["candidates", "outcome"];

/// The fields of `kind` that may hold a person's data in some record ([`personal_fields`]).
pub fn maybe_personal(kind: &KindSchema) -> impl Iterator<Item = &'static str> + '_ {
    let conflict = (kind.name == kinds::CONFLICT.name).then_some(CONFLICT_VALUES);
    kind.personal_fields().chain(conflict.into_iter().flatten())
}

/// A vault under a fixed key, for unit tests that need a database.
#[cfg(test)]
pub fn test_vault() -> std::sync::Arc<Vault> {
    std::sync::Arc::new(Vault::new(&[[9u8; 32]]))
}

fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(&MAGIC)
}

fn unopenable(what: Sealed, why: &str) -> Error {
    let (part, id) = match what {
        Sealed::Chunk(id) => ("a chunk", id),
        Sealed::Value(id) => ("a value", id),
    };
    Error::Storage(format!(
        "{part} of record {id} sealed at rest does not open: {why}; is this the database's key file?"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(keys: &[[u8; 32]]) -> Vault {
        Vault::new(keys)
    }

    #[test]
    fn a_sealed_chunk_opens_only_for_its_record_and_under_a_key_of_the_ring() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let id = Uuid::now_v7();
        let sealed = vault(&[old]).seal(Sealed::Chunk(id), b"\x85\x6f\x4a\x83 the chunk");
        assert!(!sealed.windows(9).any(|w| w == b"the chunk"));
        let rotated = vault(&[new, old]);
        assert_eq!(
            rotated.open(Sealed::Chunk(id), &sealed).unwrap(),
            b"\x85\x6f\x4a\x83 the chunk"
        );
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal(Sealed::Chunk(id), b"x")));
        assert!(rotated
            .open(Sealed::Chunk(Uuid::now_v7()), &sealed)
            .is_err());
        assert!(rotated.open(Sealed::Value(id), &sealed).is_err());
        assert!(vault(&[new]).open(Sealed::Chunk(id), &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(rotated.open(Sealed::Chunk(id), &altered).is_err());
        // A chunk written before sealing is read as it is.
        assert_eq!(
            rotated
                .open(Sealed::Chunk(id), b"\x85\x6f\x4a\x83plain")
                .unwrap(),
            b"\x85\x6f\x4a\x83plain"
        );
    }

    #[test]
    fn personal_values_of_a_listing_are_sealed_and_open_again() {
        let v = vault(&[[3u8; 32]]);
        let id = Uuid::now_v7();
        let kind = sync_core::kinds::get("contact").unwrap();
        let fields = r#"{"customer":"c1","email":"ada@x.test","name":"Ada","phone":"+49 1"}"#;
        let sealed = v.seal_fields(kind, id, fields);
        for clear in ["ada@x.test", "Ada", "+49 1"] {
            assert!(!sealed.contains(clear), "{clear} in {sealed}");
        }
        assert!(sealed.contains("\"customer\":\"c1\""));
        let opened: Json = serde_json::from_str(&v.open_json(id, &sealed).unwrap()).unwrap();
        assert_eq!(opened, serde_json::from_str::<Json>(fields).unwrap());
        let conflicts = r#"[{"field":"phone","values":["+49 1","+49 2"]},{"field":"title","values":["CEO","Owner"]}]"#;
        let sealed = v.seal_conflicts(kind, id, conflicts);
        assert!(!sealed.contains("+49") && sealed.contains("Owner"));
        assert!(!v.stale(kind, &sealed));
        assert!(vault(&[[4u8; 32], [3u8; 32]]).stale(kind, &sealed));
        assert!(
            v.stale(kind, conflicts),
            "a listing from before sealing is stale"
        );
        assert!(!v.stale(kind, r#"[{"field":"title","values":["CEO"]}]"#));
        let opened: Json = serde_json::from_str(&v.open_json(id, &sealed).unwrap()).unwrap();
        assert_eq!(opened, serde_json::from_str::<Json>(conflicts).unwrap());
        // A kind without personal fields keeps its listing as it is.
        let customer_free = sync_core::kinds::get("product").unwrap();
        assert_eq!(
            v.seal_fields(customer_free, id, r#"{"name":"Tea"}"#),
            r#"{"name":"Tea"}"#
        );
    }

    #[test]
    fn a_conflict_about_a_personal_field_has_its_values_sealed() {
        let v = vault(&[[8u8; 32]]);
        let id = Uuid::now_v7();
        let conflict = sync_core::kinds::get("conflict").unwrap();
        let about_phone = r#"{"candidates":"[{\"value\":\"+49 1\"}]","field":"phone","outcome":"\"+49 1\"","record_kind":"contact"}"#;
        let sealed = v.seal_fields(conflict, id, about_phone);
        assert!(!sealed.contains("+49"), "{sealed}");
        assert!(sealed.contains("\"field\":\"phone\""));
        assert!(!v.stale(conflict, &sealed) && v.stale(conflict, about_phone));
        let opened: Json = serde_json::from_str(&v.open_json(id, &sealed).unwrap()).unwrap();
        assert_eq!(opened, serde_json::from_str::<Json>(about_phone).unwrap());
        let about_title = about_phone.replace("phone", "title");
        assert_eq!(
            v.seal_fields(conflict, id, &about_title),
            serde_json::from_str::<Json>(&about_title)
                .unwrap()
                .to_string()
        );
    }

    #[test]
    fn match_keys_are_equal_for_equal_values_and_depend_on_the_key() {
        let (a, b) = (vault(&[[5u8; 32]]), vault(&[[6u8; 32]]));
        assert_eq!(a.match_key("de123456789"), a.match_key("de123456789"));
        assert_ne!(a.match_key("de123456789"), a.match_key("de123456780"));
        assert_ne!(a.match_key("de123456789"), b.match_key("de123456789"));
        assert!(!a.match_key("de123456789").contains("123456789"));
    }

    #[test]
    fn a_text_value_seals_and_opens() {
        let v = vault(&[[7u8; 32]]);
        let id = Uuid::now_v7();
        let sealed = v.seal_text(id, "Zoë Müller");
        assert!(sealed.starts_with(TEXT_PREFIX) && !sealed.contains("Zo"));
        assert_eq!(v.open_text(id, &sealed).unwrap(), "Zoë Müller");
        assert_eq!(v.open_text(id, "plain").unwrap(), "plain");
        assert!(v.open_text(Uuid::now_v7(), &sealed).is_err());
    }
}
