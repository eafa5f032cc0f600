//! Changes built by hand, as an attacker would with `encodeChange` in automerge JS: each shape either
//! trips an assertion inside automerge or leaves a document that saves but does not load, and
//! `structure::apply` refuses each before automerge sees it. Changes automerge makes, however they
//! interleave across devices, all pass.

use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::legacy::{ElementId, Key, ObjectId, OpId};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, Change, ExpandedChange, ObjType, ReadDoc, ROOT};
use proptest::prelude::*;
use sync_core::structure;

fn actor(n: u8) -> ActorId {
    ActorId::from(vec![n; 16])
}

/// A customer created by actor 1 and edited once by actor 2: the colleague's record and the
/// attacker's ordinary first edit of it.
fn shared_record() -> (AutoCommit, AutoCommit) {
    let mut owner = AutoCommit::new().with_actor(actor(1));
    owner.put(ROOT, "name", "Acme").unwrap();
    let notes = owner.put_object(ROOT, "notes", ObjType::Text).unwrap();
    owner.splice_text(&notes, 0, 0, "first visit").unwrap();
    owner.commit();
    let mut attacker = owner.fork().with_actor(actor(2));
    attacker.put(ROOT, "phone", "555").unwrap();
    attacker.commit();
    owner.merge(&mut attacker).unwrap();
    (owner, attacker)
}

/// The attacker's last change, rewritten by `edit` and encoded again.
fn crafted(attacker: &mut AutoCommit, edit: impl FnOnce(&mut ExpandedChange)) -> Change {
    attacker.put(ROOT, "phone", "556").unwrap();
    attacker.commit();
    let mut expanded = attacker.get_last_local_change().unwrap().decode();
    expanded.hash = None;
    edit(&mut expanded);
    Change::from(expanded)
}

/// Whether applying `change` to `doc` breaks it: automerge panics, or the saved document does not
/// load back with the same heads.
fn breaks(doc: &Automerge, change: &Change) -> bool {
    let mut doc = doc.clone();
    let change = change.clone();
    catch_unwind(AssertUnwindSafe(move || {
        doc.apply_changes([change]).is_err() || {
            let saved = doc.save();
            Automerge::load(&saved).map(|d| d.get_heads()) != Ok(doc.get_heads())
        }
    }))
    .unwrap_or(true)
}

/// The code `structure::apply` refuses `change` with.
fn refusal(doc: &AutoCommit, change: Change) -> &'static str {
    structure::apply(&mut doc.clone(), vec![change])
        .unwrap_err()
        .code()
}

fn assert_refused(owner: &mut AutoCommit, change: Change) {
    assert!(
        breaks(owner.document(), &change),
        "the shape is harmless: no need to refuse it"
    );
    assert_eq!(refusal(owner, change), "invalid_change");
}

#[test]
fn a_start_op_below_the_actors_previous_ops_is_refused() {
    let (mut owner, mut attacker) = shared_record();
    let change = crafted(&mut attacker, |c| c.start_op = 1.try_into().unwrap());
    assert_refused(&mut owner, change);
}

#[test]
fn a_start_op_below_a_dependencys_ops_is_refused() {
    let (owner, mut attacker) = shared_record();
    // Above the attacker's own first change (op 1..), below the owner's ops it depends on.
    let change = crafted(&mut attacker, |c| c.start_op = 2.try_into().unwrap());
    assert_eq!(refusal(&owner, change), "invalid_change");
}

#[test]
fn a_seq_gap_is_refused() {
    let (mut owner, mut attacker) = shared_record();
    let change = crafted(&mut attacker, |c| c.seq = 3);
    assert_refused(&mut owner, change);
}

#[test]
fn a_seq_of_two_to_the_31_is_refused() {
    let (mut owner, mut attacker) = shared_record();
    let change = crafted(&mut attacker, |c| c.seq = 1 << 31);
    assert_refused(&mut owner, change);
}

#[test]
fn an_op_counter_near_the_top_is_refused() {
    let (owner, mut attacker) = shared_record();
    let change = crafted(&mut attacker, |c| {
        c.start_op = (u64::MAX - 1).try_into().unwrap()
    });
    assert_eq!(refusal(&owner, change), "invalid_change");
}

#[test]
fn a_pred_naming_another_actors_missing_op_is_refused() {
    let (mut owner, mut attacker) = shared_record();
    let change = crafted(&mut attacker, |c| {
        c.operations[0].pred = vec![OpId(40, actor(1))].into();
    });
    assert_refused(&mut owner, change);
}

#[test]
fn a_set_on_a_missing_object_is_refused() {
    let (mut owner, mut attacker) = shared_record();
    let change = crafted(&mut attacker, |c| {
        c.operations[0].obj = ObjectId::Id(OpId(40, actor(1)));
        c.operations[0].pred = Vec::new().into();
    });
    assert_refused(&mut owner, change);
}

#[test]
fn a_set_on_an_op_that_is_not_an_object_is_refused() {
    let (owner, mut attacker) = shared_record();
    // Op 1 of actor 1 is the put of `name`: a value, not an object.
    let change = crafted(&mut attacker, |c| {
        c.operations[0].obj = ObjectId::Id(OpId(1, actor(1)));
        c.operations[0].pred = Vec::new().into();
    });
    assert_eq!(refusal(&owner, change), "invalid_change");
}

#[test]
fn an_insert_after_an_unknown_element_is_refused() {
    let (mut owner, mut attacker) = shared_record();
    let notes = attacker.get(ROOT, "notes").unwrap().unwrap().1;
    attacker.splice_text(&notes, 0, 0, "x").unwrap();
    attacker.commit();
    let mut expanded = attacker.get_last_local_change().unwrap().decode();
    expanded.hash = None;
    expanded.operations[0].key = Key::Seq(ElementId::Id(OpId(40, actor(1))));
    assert_refused(&mut owner, Change::from(expanded));
}

#[test]
fn a_new_record_whose_first_change_overwrites_a_missing_op_is_refused() {
    let mut device = AutoCommit::new().with_actor(actor(3));
    device.put(ROOT, "name", "Globex").unwrap();
    device.commit();
    let mut expanded = device.get_last_local_change().unwrap().decode();
    expanded.hash = None;
    expanded.operations[0].pred = vec![OpId(7, actor(9))].into();
    let change = Change::from(expanded);
    assert!(breaks(&Automerge::new(), &change));
    assert_eq!(refusal(&AutoCommit::new(), change), "invalid_change");
}

#[test]
fn changes_waiting_for_their_dependencies_are_left_for_later() {
    let (mut owner, mut attacker) = shared_record();
    let base = owner.get_heads();
    attacker.put(ROOT, "phone", "557").unwrap();
    attacker.commit();
    attacker.put(ROOT, "phone", "558").unwrap();
    attacker.commit();
    let changes = attacker.get_changes(&base);
    assert_eq!(changes.len(), 2);
    // Only the second: its dependency is not there, so it waits, unjudged.
    let mut waits = owner.clone();
    structure::apply(&mut waits, changes[1..].to_vec()).unwrap();
    assert_eq!(waits.get_missing_deps(&[]).len(), 1);
    // Both, in the wrong order: the first is checked and applied first.
    structure::apply(&mut owner, vec![changes[1].clone(), changes[0].clone()]).unwrap();
    assert_eq!(owner.get_heads(), attacker.get_heads());
}

#[test]
fn a_long_chain_pushed_backwards_is_applied_in_causal_order() {
    let (mut owner, mut attacker) = shared_record();
    let base = owner.get_heads();
    for i in 0..2_000 {
        attacker.put(ROOT, "phone", format!("555-{i}")).unwrap();
        attacker.commit();
    }
    let mut changes = attacker.get_changes(&base);
    changes.reverse();
    let ops = structure::apply(&mut owner, changes).unwrap();
    assert_eq!(ops.len(), 2_000, "every change was checked and applied");
    assert_eq!(owner.get_heads(), attacker.get_heads());
}

/// The attacker's honest edit of the notes (inserting "ab" at the start) followed by `edit` of a
/// second change that continues it, pushed together, so that both are checked as one run.
fn run_of_two(
    attacker: &mut AutoCommit,
    edit: impl FnOnce(&mut ExpandedChange, &ActorId, u64),
) -> Vec<Change> {
    let notes = attacker.get(ROOT, "notes").unwrap().unwrap().1;
    attacker.splice_text(&notes, 0, 0, "ab").unwrap();
    attacker.commit();
    let first = attacker.get_last_local_change().unwrap().clone();
    attacker.put(ROOT, "phone", "557").unwrap();
    attacker.commit();
    let mut expanded = attacker.get_last_local_change().unwrap().decode();
    expanded.hash = None;
    edit(&mut expanded, &actor(2), first.start_op().get());
    let changes = vec![first, Change::from(expanded)];
    assert_eq!(changes[1].deps(), [changes[0].hash()]);
    changes
}

#[test]
fn a_run_whose_later_change_overwrites_an_op_on_another_key_is_refused() {
    let (owner, mut attacker) = shared_record();
    // The second change's put names the first change's inserted character as the value it
    // replaces: an op on another object and key.
    let changes = run_of_two(&mut attacker, |c, me, first_op| {
        c.operations[0].pred = vec![OpId(first_op, me.clone())].into();
    });
    let mut doc = owner.clone();
    assert_eq!(
        structure::apply(&mut doc, changes).unwrap_err().code(),
        "invalid_change"
    );
}

#[test]
fn a_run_whose_later_change_edits_what_the_earlier_made_applies_and_loads() {
    let (mut owner, mut attacker) = shared_record();
    let base = owner.get_heads();
    let notes = attacker.get(ROOT, "notes").unwrap().unwrap().1;
    attacker.splice_text(&notes, 0, 0, "ab").unwrap();
    let lines = attacker.put_object(ROOT, "lines", ObjType::List).unwrap();
    attacker.insert(&lines, 0, "one").unwrap();
    attacker.commit();
    // Deletes a character the first change typed, types after the other, edits its new list.
    attacker.splice_text(&notes, 0, 1, "").unwrap();
    attacker.splice_text(&notes, 1, 0, "c").unwrap();
    attacker.put(&lines, 0, "uno").unwrap();
    attacker.insert(&lines, 1, "dos").unwrap();
    attacker.commit();
    attacker.put(ROOT, "phone", "557").unwrap();
    attacker.commit();
    let changes = attacker.get_changes(&base);
    assert_eq!(changes.len(), 3);
    let mut doc = owner.clone();
    structure::apply(&mut doc, changes).unwrap();
    assert_eq!(doc.get_heads(), attacker.get_heads());
    assert_eq!(doc.text(&notes).unwrap(), attacker.text(&notes).unwrap());
    let saved = doc.save();
    assert_eq!(
        AutoCommit::load(&saved).unwrap().get_heads(),
        doc.get_heads()
    );
}

/// One edit a device may make.
#[derive(Debug, Clone)]
enum Edit {
    Put(u8, u8),
    Delete(u8),
    Type(u8, String),
    Erase(u8),
    Counter(i64),
    Sync(u8),
}

fn edit() -> impl Strategy<Value = (u8, Edit)> {
    let edit = prop_oneof![
        (0..4u8, any::<u8>()).prop_map(|(k, v)| Edit::Put(k, v)),
        (0..4u8).prop_map(Edit::Delete),
        (any::<u8>(), "[a-z]{0,5}").prop_map(|(at, s)| Edit::Type(at, s)),
        any::<u8>().prop_map(Edit::Erase),
        (-5..5i64).prop_map(Edit::Counter),
        (0..3u8).prop_map(Edit::Sync),
    ];
    (0..3u8, edit)
}

proptest! {
    /// Three devices edit one record offline and sync with each other at random; the server receives
    /// every change in the order a device would push it, after each edit or after several. Each change
    /// passes the checks, and the merged document saves and loads back.
    #[test]
    fn every_change_automerge_makes_passes(
        edits in prop::collection::vec(edit(), 1..40),
        push_every in 1..6usize,
    ) {
        let mut first = AutoCommit::new().with_actor(actor(10));
        let text = first.put_object(ROOT, "notes", ObjType::Text).unwrap();
        first.put(ROOT, "visits", automerge::ScalarValue::counter(0)).unwrap();
        first.commit();
        let mut devices = [first.fork().with_actor(actor(11)), first.fork().with_actor(actor(12)), first];
        let mut server = AutoCommit::new();
        let last = edits.len() - 1;
        for (n, (who, edit)) in edits.into_iter().enumerate() {
            let d = &mut devices[who as usize];
            match edit {
                Edit::Put(k, v) => d.put(ROOT, format!("f{k}"), v as i64).unwrap(),
                Edit::Delete(k) => {
                    let _ = d.delete(ROOT, format!("f{k}"));
                }
                Edit::Type(at, s) => {
                    let len = d.length(&text);
                    d.splice_text(&text, at as usize % (len + 1), 0, &s).unwrap();
                }
                Edit::Erase(at) => {
                    let len = d.length(&text);
                    if len > 0 {
                        d.splice_text(&text, at as usize % len, 1, "").unwrap();
                    }
                }
                Edit::Counter(by) => d.increment(ROOT, "visits", by).unwrap(),
                Edit::Sync(other) => {
                    let mut other = devices[other as usize].clone();
                    devices[who as usize].merge(&mut other).unwrap();
                }
            }
            let d = &mut devices[who as usize];
            d.commit();
            // A device pushes after several edits too: its changes since then arrive as a run.
            if n % push_every != 0 && n != last {
                continue;
            }
            let new: Vec<Change> = d
                .get_changes(&[])
                .into_iter()
                .filter(|c| server.get_change_by_hash(&c.hash()).is_none())
                .collect();
            structure::apply(&mut server, new).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let saved = server.save();
        prop_assert_eq!(AutoCommit::load(&saved).unwrap().get_heads(), server.get_heads());
    }
}
