//! What `structure::apply` allocates at its peak, against the estimate the server budgets its
//! merges with (`structure::peak_bytes`). Its own test binary: it counts every allocation
//! of the process, so no other test may run beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ObjType, ROOT};
use sync_core::structure;

/// The system allocator, counting the bytes allocated now and the most ever allocated at once.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), SeqCst) + layout.size();
        PEAK.fetch_max(now, SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The tests of this file one at a time: each reads the process's peak.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn text(seed: &mut u32, len: usize) -> String {
    (0..len)
        .map(|_| {
            *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'a' + ((*seed >> 16) % 26) as u8)
        })
        .collect()
}

/// The bytes `structure::apply` allocates at its peak applying `changes` to a new document, beyond
/// what was allocated before.
fn peak_of_apply(changes: Vec<Change>) -> usize {
    let before = NOW.load(SeqCst);
    PEAK.store(before, SeqCst);
    let mut doc = AutoCommit::new();
    let ops = structure::apply(&mut doc, changes).expect("valid changes");
    drop((doc, ops));
    PEAK.load(SeqCst) - before
}

fn assert_within_estimate(what: &str, changes: Vec<Change>) {
    let ops: usize = changes.iter().map(Change::len).sum();
    let estimate = structure::peak_bytes(&changes);
    let peak = peak_of_apply(changes);
    println!(
        "{what}: {ops} ops, peak {} KiB, {} bytes per op, estimate {} KiB",
        peak >> 10,
        peak / ops,
        estimate >> 10
    );
    assert!(
        peak <= estimate,
        "{what}: peak {peak} bytes, estimate {estimate}"
    );
}

#[test]
fn a_long_text_written_once_or_rewritten_stays_within_the_estimate() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let mut seed = 1;
    let mut doc = AutoCommit::new();
    for field in ["name", "phone", "email", "address", "territory"] {
        doc.put(ROOT, field, text(&mut seed, 100)).unwrap();
    }
    let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
    doc.splice_text(&notes, 0, 0, &text(&mut seed, 20_000))
        .unwrap();
    doc.commit();
    assert_within_estimate("written once", doc.get_changes(&[]));
    for _ in 0..4 {
        doc.splice_text(&notes, 0, 20_000, &text(&mut seed, 20_000))
            .unwrap();
        doc.commit();
    }
    assert_within_estimate("rewritten four times", doc.get_changes(&[]));
}

#[test]
fn many_small_edits_stay_within_the_estimate() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let mut seed = 2;
    let mut doc = AutoCommit::new();
    for i in 0..2_000 {
        doc.put(ROOT, format!("field_{}", i % 20), text(&mut seed, 20))
            .unwrap();
        doc.commit();
    }
    assert_within_estimate("2,000 edits of one field each", doc.get_changes(&[]));
}
