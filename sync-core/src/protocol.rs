//! The wire protocol between devices and the server, shared by both so they cannot drift.
//!
//! Login and device management speak JSON. The sync calls (push, pull, verify) carry automerge change
//! bytes, so their bodies are MessagePack ([`CONTENT_TYPE`]) with byte strings as raw binary, not
//! base64 inside JSON. Messages use named fields: a newer peer may add optional fields, and an older one
//! ignores what it does not know. [`PROTOCOL_VERSION`] changes only when a peer could misread a message.
//!
//! Decoding never panics: [`decode`] refuses oversized input and malformed bytes with a typed error, and
//! [`Limits`] bounds every list a message may carry.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::record::Listing;
use crate::schema::Role;
use crate::Error;

/// The protocol version this build speaks, sent in the [`VERSION_HEADER`] of every sync request.
pub const PROTOCOL_VERSION: u16 = 1;
pub const VERSION_HEADER: &str = "fieldsync-protocol";
/// The media type of the MessagePack bodies of push, pull and verify.
pub const CONTENT_TYPE: &str = "application/vnd.fieldsync.v1+msgpack";

/// An automerge change hash (SHA-256), carried as 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = Vec<u8>))]
pub struct Hash(pub [u8; 32]);

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self)
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl From<automerge::ChangeHash> for Hash {
    fn from(h: automerge::ChangeHash) -> Hash {
        Hash(h.0)
    }
}

impl From<Hash> for automerge::ChangeHash {
    fn from(h: Hash) -> automerge::ChangeHash {
        automerge::ChangeHash(h.0)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let bytes = ByteBuf::deserialize(d)?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(bytes.len(), &"32 bytes"))?;
        Ok(Hash(array))
    }
}

/// Converts automerge heads to wire hashes, sorted so equal heads compare equal.
pub fn heads_of(heads: &[automerge::ChangeHash]) -> Vec<Hash> {
    let mut out: Vec<Hash> = heads.iter().map(|h| Hash(h.0)).collect();
    out.sort_unstable();
    out
}

/// Converts wire hashes back to automerge heads.
pub fn to_change_hashes(heads: &[Hash]) -> Vec<automerge::ChangeHash> {
    heads.iter().map(|h| automerge::ChangeHash(h.0)).collect()
}

// ---------------------------------------------------------------------------------------------------
// Login and devices (JSON)

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    pub device_name: String,
    /// The device this store was logged in as before, if any. If it is the user's and not revoked,
    /// the login gives it a new token and keeps its id, actor and checkpoint (so logging in again is
    /// not mistaken for a restore). If the server has no such device (a restore of an older backup
    /// lost it), the device gets its id, and so its actor, back only if `device_secret` proves the
    /// store owns it, and can then re-push the changes it made under it. Otherwise a new device is
    /// registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_device_id: Option<Uuid>,
    /// The secret the server gave `previous_device_id` at its last login
    /// ([`LoginResponse::device_secret`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub device_id: Uuid,
    /// The bearer token of this device. It is shown once; the server keeps only its hash.
    pub token: String,
    /// The automerge actor bound to this device, in hex. Every change the device makes must carry an
    /// actor that starts with these bytes.
    pub actor_id: String,
    pub user_id: Uuid,
    pub role: Role,
    /// The names of the user's territories when they logged in.
    #[serde(default)]
    pub territories: Vec<String>,
    pub protocol_version: u16,
    /// The device's proof that it owns its id, for its later logins
    /// ([`LoginRequest::device_secret`]): the one thing that gets it its id back when a restore of
    /// the server's database lost the device. Keep it with the session, as secret as the token.
    pub device_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInfo {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: String,
    pub last_seen_at: Option<String>,
    pub revoked: bool,
}

// ---------------------------------------------------------------------------------------------------
// Push

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub docs: Vec<DocPush>,
    /// The highest feed position the server has told this device about (`seq` of push and pull
    /// answers); 0 if none. Above what the server recorded for the device, the server lost data it had
    /// acknowledged (a restore of an older backup) and answers `409 server_restored`.
    #[serde(default)]
    pub checkpoint: i64,
}

/// The new changes of one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocPush {
    /// The record's id, a UUID v7 made on the device.
    pub id: Uuid,
    pub kind: String,
    /// The server heads the device last saw for this document (empty for a new record).
    #[serde(default)]
    pub base_heads: Vec<Hash>,
    /// Raw automerge changes (`Change::raw_bytes`), one per entry.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<u8>>))]
    pub changes: Vec<ByteBuf>,
    /// Records pushed with the same group id (a UUID the device makes) are taken or refused
    /// together, as one atomic set: when any of them is not applied (refused, quarantined or
    /// waiting for dependencies), none is, and the others are answered `rejected` with
    /// `group_refused`. A lead's conversion (the lead, its new customer, contact and opportunity)
    /// is one group. A group travels whole in one push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// One result per pushed document, in the order they were pushed.
    pub results: Vec<DocResult>,
    /// The highest feed position this push wrote (0 if it wrote nothing): the device keeps the
    /// highest it was told as its checkpoint.
    #[serde(default)]
    pub seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PushStatus {
    /// The changes were merged and are durable.
    Applied,
    /// The server already had every change: nothing to do (a replayed push).
    AlreadyKnown,
    /// Some changes depend on changes the server has never seen. The server keeps them for this
    /// device and applies them when this device next pushes the document with what they depend on;
    /// `missing` names what it lacks.
    MissingDependencies,
    /// The document was refused as a whole; nothing of it was stored. `reason` says why. The device
    /// keeps its edits and shows the reason.
    Rejected,
    /// The device may no longer write this document (its scope shrank while it was offline), or the
    /// changes were made under a device id this device named as its own at login and could not
    /// prove. The changes were stored for a manager to accept or reject, not applied.
    Quarantined,
}

impl PushStatus {
    /// The status as the wire writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PushStatus::Applied => "applied",
            PushStatus::AlreadyKnown => "already_known",
            PushStatus::MissingDependencies => "missing_dependencies",
            PushStatus::Rejected => "rejected",
            PushStatus::Quarantined => "quarantined",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocResult {
    pub id: Uuid,
    pub status: PushStatus,
    /// The server's heads of the document after this push (empty if the server has no such document).
    #[serde(default)]
    pub heads: Vec<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Hash>,
}

// ---------------------------------------------------------------------------------------------------
// Pull

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullRequest {
    /// The cursor of the last page the device stored; none on the first pull.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<u8>>))]
    pub cursor: Option<ByteBuf>,
    /// The most entries the device wants in this page: records in a first sync, feed entries (one
    /// per chunk a push stored, so a record may take several) after it. The server caps it.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The device's checkpoint, as in [`PushRequest::checkpoint`].
    #[serde(default)]
    pub checkpoint: i64,
}

/// One document's new data: automerge chunks (changes or a compacted snapshot) the device loads with
/// `load_incremental`. Loading a chunk twice is harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocUpdate {
    pub id: Uuid,
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<u8>>))]
    pub chunks: Vec<ByteBuf>,
    /// The server's heads of the document when the page was read: a device that already has
    /// exactly these heads has nothing to load. With `listing` or `tip_listing` set, the chunks
    /// reach them; otherwise a later page may carry the rest.
    #[serde(default)]
    pub heads: Vec<Hash>,
    /// Set when `chunks` are the whole document: its listing, so a device without the record can store
    /// the chunks as they are and list the record without loading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<Listing>,
    /// Set when `chunks` are not the whole document but reach the server's latest state of it: the
    /// listing at `heads`. A device whose copy holds only changes the server has, and every chunk the
    /// feed sent before, can append the chunks to its stored document and list the record by this
    /// without loading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip_listing: Option<Listing>,
    /// Set when the record's history was rewritten (a person in it was erased) and `chunks` are the
    /// whole new history. It shares no change with the old one: a device holding the record
    /// replaces its copy rather than merge the two (which would keep the erased values), and
    /// re-applies its own edits the server does not have yet on top, as one change with the message
    /// `fieldsync:rebased`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rewritten: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub docs: Vec<DocUpdate>,
    /// Documents that left the device's scope: the device deletes its copies (after pushing any edits).
    #[serde(default)]
    pub evict: Vec<Uuid>,
    /// Opaque, authenticated and bound to the device: send it back as it came on the next pull. A
    /// cursor issued to another device, altered, or issued under a key the server no longer holds
    /// is refused `invalid_cursor`; the device then pulls from the start.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u8>))]
    pub cursor: ByteBuf,
    /// More pages are ready now; pull again at once.
    pub more: bool,
    /// The feed position `cursor` has reached: the device keeps the highest it was told as its
    /// checkpoint.
    #[serde(default)]
    pub seq: i64,
}

// ---------------------------------------------------------------------------------------------------
// Verify

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VerifyMode {
    /// One digest over every document in the device's scope ([`crate::digest::scope_digest`]).
    Scope,
    /// The heads of each listed document.
    Docs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequest {
    pub mode: VerifyMode,
    #[serde(default)]
    pub scope_digest: Option<Hash>,
    #[serde(default)]
    pub docs: Vec<DocHeads>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocHeads {
    pub id: Uuid,
    pub heads: Vec<Hash>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    /// True when every compared document has the same heads on both sides.
    pub in_sync: bool,
    /// The server's digest of the device's scope.
    pub scope_digest: Hash,
    /// Listed documents whose heads differ, with the server's heads.
    #[serde(default)]
    pub differing: Vec<DocHeads>,
    /// Listed documents the server does not have in the device's scope.
    #[serde(default)]
    pub unknown: Vec<Uuid>,
}

// ---------------------------------------------------------------------------------------------------
// Errors (JSON, every endpoint)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// Set on `device_revoked`: the device must delete its local data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wipe: bool,
}

// ---------------------------------------------------------------------------------------------------
// Encoding

/// Bounds on what one message may carry. The server refuses anything beyond them before doing work.
/// Served with the kinds' layouts (`layout::SchemaDocument`), so that clients batch by them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_docs: usize,
    pub max_changes_per_doc: usize,
    pub max_change_bytes: usize,
    /// The most operations one change may carry. A record's largest honest change is its creation
    /// with a full `notes` text (20,000 characters, one operation each) and every other field; a
    /// change far beyond that is a bomb that would cost the server time and memory to apply.
    pub max_ops_per_change: usize,
    /// The most operations the changes of one record in one push may carry together. Checking and
    /// applying them costs up to about 1 KiB per op at the peak (`structure::peak_bytes`) and
    /// automerge 0.12 then holds about 300 bytes per op it has just applied, so this bounds what
    /// merging one record costs (about 200 MiB at the peak at the limit). Retyping a full `notes`
    /// is 40,000 operations.
    pub max_ops_per_doc: usize,
    /// The most bytes the changes of one push may inflate to. A compressed change inflates up to a
    /// thousand times over, and automerge keeps the inflated bytes of every parsed change: without
    /// this, a 16 MiB push could hold gigabytes.
    pub max_push_inflated_bytes: usize,
    /// The most bytes one record's stored document may grow to (its snapshot plus change chunks).
    /// A customer with every field at its maximum is well under 100 KiB even after years of edits.
    pub max_doc_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 16 << 20,
            max_docs: 1_000,
            max_changes_per_doc: 10_000,
            max_change_bytes: 1 << 20,
            max_ops_per_change: 50_000,
            max_ops_per_doc: 200_000,
            max_push_inflated_bytes: 32 << 20,
            max_doc_bytes: 4 << 20,
        }
    }
}

/// Encodes a message as MessagePack with named fields.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(message).expect("protocol types always serialize")
}

/// About how many bytes a reply's MessagePack takes, so that its buffer is allocated once. Grown by
/// doubling from empty, the buffers of a first sync's pages (megabytes each) would cost the server a
/// tenth of its CPU per page, most of it the kernel handing out fresh zeroed memory (BENCHMARKS.md,
/// "Bootstrap").
pub trait EncodedSize: Serialize {
    fn encoded_size(&self) -> usize {
        256
    }
}

impl EncodedSize for PushResponse {}
impl EncodedSize for VerifyResponse {}

impl EncodedSize for PullResponse {
    fn encoded_size(&self) -> usize {
        // Per document: its id, kind and heads, and the field names and markers around them.
        const PER_DOC: usize = 128;
        let listing =
            |l: &Option<Listing>| l.as_ref().map_or(0, |l| l.fields.len() + l.conflicts.len());
        let docs: usize = self
            .docs
            .iter()
            .map(|d| {
                PER_DOC
                    + d.kind.len()
                    + 34 * d.heads.len()
                    + d.chunks.iter().map(|c| c.len() + 5).sum::<usize>()
                    + listing(&d.listing)
                    + listing(&d.tip_listing)
            })
            .sum();
        docs + 18 * self.evict.len() + self.cursor.len() + 64
    }
}

/// [`encode`] into a buffer of the message's [`EncodedSize`].
pub fn encode_sized<T: EncodedSize>(message: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(message.encoded_size());
    rmp_serde::encode::write_named(&mut buf, message).expect("protocol types always serialize");
    buf
}

/// Decodes a MessagePack message of at most `limits.max_message_bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limits: &Limits) -> Result<T, Error> {
    too_large("message", bytes.len(), limits.max_message_bytes)?;
    rmp_serde::from_slice(bytes).map_err(|e| Error::Malformed(e.to_string()))
}

fn too_large(what: &'static str, actual: usize, limit: usize) -> Result<(), Error> {
    if actual > limit {
        Err(Error::TooLarge {
            what,
            actual,
            limit,
        })
    } else {
        Ok(())
    }
}

impl PushRequest {
    /// Checks the counts and sizes a push may carry.
    pub fn check(&self, limits: &Limits) -> Result<(), Error> {
        too_large("documents in one push", self.docs.len(), limits.max_docs)?;
        for doc in &self.docs {
            too_large(
                "changes of one document",
                doc.changes.len(),
                limits.max_changes_per_doc,
            )?;
            too_large(
                "heads of one document",
                doc.base_heads.len(),
                limits.max_changes_per_doc,
            )?;
            for change in &doc.changes {
                too_large("one change", change.len(), limits.max_change_bytes)?;
            }
        }
        Ok(())
    }
}

impl VerifyRequest {
    pub fn check(&self, limits: &Limits) -> Result<(), Error> {
        too_large(
            "documents in one verify",
            self.docs.len(),
            limits.max_docs * 100,
        )?;
        for doc in &self.docs {
            too_large(
                "heads of one document",
                doc.heads.len(),
                limits.max_changes_per_doc,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_push() -> PushRequest {
        PushRequest {
            docs: vec![DocPush {
                id: Uuid::now_v7(),
                kind: "customer".into(),
                base_heads: vec![Hash([9; 32])],
                changes: vec![ByteBuf::from(vec![1, 2, 3]), ByteBuf::from(vec![0xff; 40])],
                group: None,
            }],
            checkpoint: 7,
        }
    }

    #[test]
    fn push_round_trips_and_change_bytes_travel_raw() {
        let push = sample_push();
        let bytes = encode(&push);
        assert_eq!(
            decode::<PushRequest>(&bytes, &Limits::default()).unwrap(),
            push
        );
        // 40 bytes of change travel as 40 bytes plus a short header, not as base64 or a list of numbers.
        let needle = vec![0xff; 40];
        assert!(bytes.windows(40).any(|w| w == needle.as_slice()));
        assert!(bytes.len() < 200, "{} bytes", bytes.len());
    }

    proptest! {
        /// A page's buffer is allocated once: the estimate covers the encoding, with little to spare.
        #[test]
        fn a_pages_encoded_size_covers_its_encoding(
            docs in proptest::collection::vec(
                (
                    proptest::collection::vec(0usize..5_000, 1..4),
                    0usize..3,
                    proptest::option::of(0usize..800),
                    any::<bool>(),
                ),
                0..40,
            ),
            evict in 0usize..20,
        ) {
            let listing = |n: usize| Listing {
                fields: "\"é\"".repeat(n),
                conflicts: "[]".into(),
                deleted: false,
            };
            let page = PullResponse {
                docs: docs
                    .iter()
                    .map(|(chunks, heads, fields, whole)| DocUpdate {
                        id: Uuid::now_v7(),
                        kind: "customer".into(),
                        chunks: chunks.iter().map(|n| ByteBuf::from(vec![7; *n])).collect(),
                        heads: vec![Hash([3; 32]); *heads],
                        listing: fields.filter(|_| *whole).map(listing),
                        tip_listing: fields.filter(|_| !*whole).map(listing),
                        rewritten: false,
                    })
                    .collect(),
                evict: (0..evict).map(|_| Uuid::now_v7()).collect(),
                cursor: ByteBuf::from(vec![1; 60]),
                more: true,
                seq: 1 << 40,
            };
            let encoded = encode_sized(&page);
            prop_assert_eq!(&encoded, &encode(&page));
            prop_assert!(encoded.len() <= page.encoded_size());
            prop_assert!(page.encoded_size() <= encoded.len() * 2 + 256);
        }
    }

    #[test]
    fn oversized_and_malformed_input_is_a_typed_error() {
        let limits = Limits {
            max_message_bytes: 10,
            ..Limits::default()
        };
        let err = decode::<PushRequest>(&encode(&sample_push()), &limits).unwrap_err();
        assert_eq!(err.code(), "too_large");
        let err = decode::<PushRequest>(b"\xc1garbage", &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "malformed");
        let short_hash = rmp_serde::to_vec_named(&serde_json::json!({"docs": [{
            "id": Uuid::nil(), "kind": "customer", "base_heads": [serde_bytes::ByteBuf::from(vec![1u8; 31])], "changes": []
        }]}))
        .unwrap();
        assert_eq!(
            decode::<PushRequest>(&short_hash, &Limits::default())
                .unwrap_err()
                .code(),
            "malformed"
        );
        let mut push = sample_push();
        push.docs[0].changes = vec![ByteBuf::new(); 3];
        let limits = Limits {
            max_changes_per_doc: 2,
            ..Limits::default()
        };
        assert_eq!(push.check(&limits).unwrap_err().code(), "too_large");
    }

    #[test]
    fn unknown_fields_from_newer_peers_are_ignored() {
        let bytes =
            rmp_serde::to_vec_named(&serde_json::json!({"docs": [], "priority": 3})).unwrap();
        assert_eq!(
            decode::<PushRequest>(&bytes, &Limits::default())
                .unwrap()
                .docs
                .len(),
            0
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let limits = Limits::default();
            let _ = decode::<PushRequest>(&bytes, &limits);
            let _ = decode::<PullRequest>(&bytes, &limits);
            let _ = decode::<PullResponse>(&bytes, &limits);
            let _ = decode::<VerifyRequest>(&bytes, &limits);
            let _ = decode::<PushResponse>(&bytes, &limits);
        }

        #[test]
        fn decoders_never_panic_on_mutated_messages(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let mut bytes = encode(&sample_push());
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Ok(push) = decode::<PushRequest>(&bytes, &Limits::default()) {
                let _ = push.check(&Limits::default());
            }
        }
    }
}
