//! Parsing automerge changes from untrusted bytes.
//!
//! A change chunk may be deflate-compressed (chunk type 2). automerge inflates it with no bound, so a
//! small compressed change could claim gigabytes; this module measures the inflated size through a
//! capped reader first and refuses anything over the limit.

use std::io::Read;

use automerge::Change;

use crate::Error;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const COMPRESSED_CHANGE: u8 = 2;

/// Parses one change of at most `max_bytes`, compressed or not.
pub fn parse(bytes: Vec<u8>, max_bytes: usize) -> Result<Change, Error> {
    if bytes.len() > max_bytes {
        return Err(Error::TooLarge {
            what: "one change",
            actual: bytes.len(),
            limit: max_bytes,
        });
    }
    if bytes.len() > 9 && bytes[..4] == MAGIC && bytes[8] == COMPRESSED_CHANGE {
        let body = chunk_body(&bytes)
            .ok_or_else(|| Error::MalformedChange("a truncated chunk header".into()))?;
        let mut inflated = flate2::bufread::DeflateDecoder::new(body).take(max_bytes as u64 + 1);
        let size = std::io::copy(&mut inflated, &mut std::io::sink()).map_err(|e| {
            Error::MalformedChange(format!("a compressed change does not inflate: {e}"))
        })?;
        if size > max_bytes as u64 {
            return Err(Error::TooLarge {
                what: "one change, inflated",
                actual: size as usize,
                limit: max_bytes,
            });
        }
    }
    // automerge asserts on some values it parses (op counters past 32 bits): a panic is a refusal.
    match std::panic::catch_unwind(|| Change::from_bytes(bytes)) {
        Ok(parsed) => parsed.map_err(|e| Error::MalformedChange(e.to_string())),
        Err(_) => Err(Error::MalformedChange("automerge cannot read it".into())),
    }
}

/// Refuses a change that carries more than `max_ops` operations. automerge counts them when it
/// parses the change, so this costs nothing and runs before any work applying it.
pub fn check_ops(change: &Change, max_ops: usize) -> Result<(), Error> {
    if change.len() > max_ops {
        return Err(Error::TooManyOperations {
            what: "a change",
            actual: change.len(),
            limit: max_ops,
        });
    }
    Ok(())
}

/// Refuses the changes of one record in one push once together they carry `ops` operations, more
/// than `max_ops`: what merging one record costs grows with them (see `Limits::max_ops_per_doc`).
pub fn check_record_ops(ops: usize, max_ops: usize) -> Result<(), Error> {
    if ops > max_ops {
        return Err(Error::TooManyOperations {
            what: "the changes of one record in one push",
            actual: ops,
            limit: max_ops,
        });
    }
    Ok(())
}

/// The body of a chunk: after the magic, checksum, type and the body length (unsigned LEB128).
fn chunk_body(bytes: &[u8]) -> Option<&[u8]> {
    let (mut len, mut shift, mut i) = (0usize, 0u32, 9usize);
    loop {
        let byte = *bytes.get(i)?;
        len |= usize::from(byte & 0x7f).checked_shl(shift)?;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    bytes.get(i..i.checked_add(len)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    fn big_change() -> Change {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "notes", "x".repeat(5_000)).unwrap();
        doc.commit();
        doc.get_last_local_change().unwrap()
    }

    #[test]
    fn compressed_and_plain_changes_parse_within_the_limit() {
        let mut change = big_change();
        let plain = change.raw_bytes().to_vec();
        let compressed = change.bytes().to_vec();
        assert_eq!(
            compressed[8], COMPRESSED_CHANGE,
            "automerge compresses large changes"
        );
        assert!(compressed.len() < 1_000);
        assert_eq!(parse(plain, 10_000).unwrap().hash(), change.hash());
        assert_eq!(
            parse(compressed.clone(), 10_000).unwrap().hash(),
            change.hash()
        );
        // Small on the wire, too large once inflated.
        assert_eq!(parse(compressed, 1_000).unwrap_err().code(), "too_large");
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(
            parse(vec![1, 2, 3], 100).unwrap_err().code(),
            "malformed_change"
        );
        let mut truncated = big_change().bytes().to_vec();
        truncated.truncate(20);
        assert_eq!(
            parse(truncated, 10_000).unwrap_err().code(),
            "malformed_change"
        );
    }
}
