//! Files referenced from records (a visit's photos, a payment's receipt, a ticket's evidence): how a
//! file is named (the SHA-256 of its bytes), where the kinds reference files, and the upload
//! protocol's names, shared by the server and every client.
//!
//! Upload is [tus 1.0.0](https://tus.io/protocols/resumable-upload) (core and the creation and
//! termination extensions): a client creates an upload with the file's length and its SHA-256 in
//! `Upload-Metadata`, sends the bytes with `PATCH` from the offset the server holds, asks that
//! offset with `HEAD` after a broken connection, and the server checks the whole file's hash before
//! it keeps it. `docs/attachments.md` describes it for other implementers.

use sha2::{Digest, Sha256};

use crate::{kinds, FieldType, KindSchema};

/// The tus protocol version spoken (`Tus-Resumable`).
pub const TUS_VERSION: &str = "1.0.0";
/// The key of `Upload-Metadata` that carries the file's SHA-256 (hex, base64-encoded as tus wants).
pub const SHA256_METADATA: &str = "sha256";
/// The server's default cap on one file: a phone's photo is 2 to 8 MB, a scanned PDF a few MB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 25 << 20;

/// The SHA-256 of `bytes`, as the 64 lowercase hex digits records reference a file by.
pub fn hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Whether `s` names a file: 64 lowercase hex digits.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where a kind references files: a field of the record, or a field of its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A field of the record, projected into a column of the kind's table.
    Field { field: &'static str },
    /// A field of the items in `items` (a visit's photos), projected into the items' table, whose
    /// `record_column` names the record.
    Items {
        items: &'static str,
        table: &'static str,
        record_column: &'static str,
        field: &'static str,
    },
}

/// Every place a record of any kind references a file, with its kind.
pub fn places() -> Vec<(&'static KindSchema, Place)> {
    let mut out = Vec::new();
    for kind in kinds::ALL.iter().copied() {
        for spec in kind.fields {
            match spec.ty {
                FieldType::Attachment => out.push((kind, Place::Field { field: spec.name })),
                FieldType::Items(items) => {
                    for item in items.fields {
                        if item.ty == FieldType::Attachment {
                            out.push((
                                kind,
                                Place::Items {
                                    items: spec.name,
                                    table: items.table,
                                    record_column: items.record_column,
                                    field: item.name,
                                },
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_sixty_four_lowercase_hex_digits() {
        let h = hash(b"a photo");
        assert!(is_hash(&h), "{h}");
        assert!(!is_hash(&h.to_uppercase()));
        assert!(!is_hash(&h[1..]));
        assert!(!is_hash(&format!("{}g", &h[1..])));
        assert_eq!(
            hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn visits_payments_and_tickets_reference_files() {
        let places: Vec<(&str, Place)> = places().into_iter().map(|(k, p)| (k.name, p)).collect();
        assert!(places.contains(&(
            "visit",
            Place::Items {
                items: "photos",
                table: "visit_photos",
                record_column: "visit_id",
                field: "hash"
            }
        )));
        assert!(places.contains(&("payment", Place::Field { field: "receipt" })));
        assert!(places.iter().any(|(k, _)| *k == "ticket"));
    }
}
