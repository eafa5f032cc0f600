//! How a device's pending changes are cut into pushes the server takes whole.
//!
//! The server refuses a push past its bounds: a record's changes past `Limits::max_ops_per_doc`
//! operations or `max_changes_per_doc` changes, a push past `max_message_bytes` or
//! `max_push_inflated_bytes`. A device that edited one record for a week offline, or created
//! hundreds of records with long notes, must still get them all to the server. So a record's
//! pending changes go in parts (the first ones in causal order that fit, then the rest in a later
//! push, once the server holds the first), and records go in batches bounded by bytes as well as
//! by count.

use std::ops::Range;

use automerge::Change;
use sync_core::protocol::Limits;

/// What one push may carry: the server's default limits with room for the message's framing.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub docs: usize,
    pub bytes: usize,
    pub ops_per_doc: usize,
    pub changes_per_doc: usize,
}

impl Bounds {
    /// Within `limits` (the server's) and at most `docs` records per push.
    pub fn new(limits: &Limits, docs: usize) -> Bounds {
        Bounds {
            docs: docs.clamp(1, limits.max_docs),
            // Changes travel inflated, so the message and the inflated bytes bound the same bytes;
            // an eighth is left for the framing (ids, kinds, heads, MessagePack headers).
            bytes: limits.max_message_bytes.min(limits.max_push_inflated_bytes) / 8 * 7,
            ops_per_doc: limits.max_ops_per_doc,
            changes_per_doc: limits.max_changes_per_doc,
        }
    }
}

/// How many of a record's pending `changes` (in causal order) one push carries: the first ones
/// whose operations, count and bytes fit `bounds`, and always at least one (a change the server
/// takes at all fits alone).
pub fn first_part(changes: &[Change], bounds: &Bounds) -> usize {
    let (mut ops, mut bytes) = (0, 0);
    let fit = changes
        .iter()
        .take(bounds.changes_per_doc)
        .take_while(|c| {
            ops += c.len();
            bytes += c.raw_bytes().len();
            ops <= bounds.ops_per_doc && bytes <= bounds.bytes
        })
        .count();
    fit.max(1).min(changes.len())
}

/// Cuts records of `sizes` bytes, in order, into consecutive batches of at most `bounds.docs`
/// records and `bounds.bytes` bytes; a record larger than that goes alone. A record `joined` to
/// the one before it (of the same atomic group) goes in the same batch, past the bounds if need
/// be: a group is taken whole only within one push.
pub fn batches(sizes: &[usize], joined: &[bool], bounds: &Bounds) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        let full = i - start >= bounds.docs || bytes + size > bounds.bytes;
        if i > start && full && !joined.get(i).copied().unwrap_or(false) {
            batches.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    fn bounds(docs: usize, bytes: usize, ops: usize, changes: usize) -> Bounds {
        Bounds {
            docs,
            bytes,
            ops_per_doc: ops,
            changes_per_doc: changes,
        }
    }

    /// `n` changes of one record, each putting `ops` fields.
    fn changes(n: usize, ops: usize) -> Vec<Change> {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            for f in 0..ops {
                doc.put(ROOT, format!("f{f}"), i as i64).unwrap();
            }
            doc.commit();
        }
        doc.get_changes(&[])
    }

    #[test]
    fn a_record_goes_whole_when_it_fits() {
        let all = changes(5, 10);
        assert_eq!(first_part(&all, &bounds(200, 1 << 20, 50, 10)), 5);
    }

    #[test]
    fn a_record_past_a_bound_goes_in_parts_of_its_first_changes() {
        let all = changes(10, 10);
        assert_eq!(
            first_part(&all, &bounds(200, 1 << 20, 35, 100)),
            3,
            "by ops"
        );
        assert_eq!(
            first_part(&all, &bounds(200, 1 << 20, 1_000, 4)),
            4,
            "by count"
        );
        let bytes: usize = all[..2].iter().map(|c| c.raw_bytes().len()).sum();
        assert_eq!(
            first_part(&all, &bounds(200, bytes, 1_000, 100)),
            2,
            "by bytes"
        );
        assert_eq!(first_part(&all, &bounds(200, 1, 1, 1)), 1, "always one");
    }

    #[test]
    fn the_default_limits_leave_room_for_the_framing() {
        let limits = Limits::default();
        let b = Bounds::new(&limits, 5_000);
        assert_eq!(b.docs, limits.max_docs);
        assert!(b.bytes < limits.max_message_bytes);
        assert_eq!(Bounds::new(&limits, 0).docs, 1);
    }

    #[test]
    fn batches_are_bounded_by_count_and_by_bytes() {
        assert_eq!(
            batches(&[1; 5], &[], &bounds(2, 100, 0, 0)),
            [0..2, 2..4, 4..5]
        );
        assert_eq!(
            batches(&[40, 40, 40, 10, 200, 5], &[], &bounds(10, 100, 0, 0)),
            [0..2, 2..4, 4..5, 5..6]
        );
        assert!(batches(&[], &[], &bounds(2, 100, 0, 0)).is_empty());
    }

    #[test]
    fn a_group_is_never_cut_between_batches() {
        // Records 1 to 3 are one group: the batch of two that would end after record 1 takes the
        // group whole.
        let joined = [false, false, true, true, false];
        assert_eq!(
            batches(&[1; 5], &joined, &bounds(2, 100, 0, 0)),
            [0..4, 4..5]
        );
        assert_eq!(
            batches(
                &[40, 40, 40, 40, 40],
                &[false, true, false, true, false],
                &bounds(10, 100, 0, 0)
            ),
            [0..2, 2..4, 4..5]
        );
    }
}
