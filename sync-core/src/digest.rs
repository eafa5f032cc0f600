//! Digests of document heads, so a device and the server can tell cheaply whether they hold the same
//! documents (the verify call).

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::protocol::Hash;

/// The digest of one document's heads, independent of their order.
pub fn heads_digest(heads: &[Hash]) -> Hash {
    let mut sorted: Vec<&Hash> = heads.iter().collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for h in sorted {
        hasher.update(h.0);
    }
    Hash(hasher.finalize().into())
}

/// The digest of a set of documents and their heads, independent of the order they are given in.
pub fn scope_digest<'a>(docs: impl IntoIterator<Item = (Uuid, &'a [Hash])>) -> Hash {
    let mut entries: Vec<(Uuid, Hash)> = docs
        .into_iter()
        .map(|(id, heads)| (id, heads_digest(heads)))
        .collect();
    entries.sort_unstable_by_key(|(id, _)| *id);
    let mut digest = OrderedScopeDigest::default();
    for (id, heads) in entries {
        digest.add_digest(id, heads);
    }
    digest.finish()
}

/// [`scope_digest`] of documents given one at a time in ascending id order, so that a digest of a
/// million documents holds none of them in memory (the server streams them from its database).
#[derive(Default)]
pub struct OrderedScopeDigest {
    hasher: Sha256,
    last: Option<Uuid>,
}

impl OrderedScopeDigest {
    /// Adds a document; ids must come in ascending order.
    pub fn add(&mut self, id: Uuid, heads: &[Hash]) {
        self.add_digest(id, heads_digest(heads));
    }

    fn add_digest(&mut self, id: Uuid, heads: Hash) {
        debug_assert!(self.last < Some(id), "documents out of id order");
        self.last = Some(id);
        self.hasher.update(id.as_bytes());
        self.hasher.update(heads.0);
    }

    pub fn finish(self) -> Hash {
        Hash(self.hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_ignore_order_but_not_content() {
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        assert_eq!(heads_digest(&[a, b]), heads_digest(&[b, a]));
        assert_ne!(heads_digest(&[a]), heads_digest(&[a, b]));
        let (x, y) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let one = [a];
        let two = [b];
        assert_eq!(
            scope_digest([(x, &one[..]), (y, &two[..])]),
            scope_digest([(y, &two[..]), (x, &one[..])])
        );
        assert_ne!(scope_digest([(x, &one[..])]), scope_digest([(x, &two[..])]));
        let mut ordered = OrderedScopeDigest::default();
        ordered.add(x, &one);
        ordered.add(y, &two);
        assert_eq!(
            ordered.finish(),
            scope_digest([(y, &two[..]), (x, &one[..])]),
            "the ordered digest is the scope digest"
        );
    }
}
