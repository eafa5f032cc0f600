//! Structured fuzz tests of every decoder a device or an attacker can reach: each protocol message
//! type (MessagePack and JSON), the parser of untrusted automerge changes with its capped inflater, and
//! the operation cap. Arbitrary bytes and mutations of valid messages must give a value or a typed
//! error, never a panic.
//!
//! The default run is proptest's 256 cases per test. The long form sets `PROPTEST_CASES` (see
//! TESTING.md): `PROPTEST_CASES=1000000 cargo test --release -p sync-core --test fuzz`.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::ByteBuf;
use sync_core::change;
use sync_core::protocol::*;
use sync_core::record::Listing;
use uuid::Uuid;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Decodes `bytes` as `T`: a value that survives a round trip, or a typed error.
fn decodes_or_refuses<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    match decode::<T>(bytes, &Limits::default()) {
        Ok(value) => {
            let again: T = decode(&encode(&value), &Limits::default()).expect("re-encoded message");
            assert_eq!(again, value);
        }
        Err(e) => assert!(
            matches!(e.code(), "malformed" | "too_large"),
            "untyped error {e}"
        ),
    }
}

fn every_message(bytes: &[u8]) {
    decodes_or_refuses::<PushRequest>(bytes);
    decodes_or_refuses::<PushResponse>(bytes);
    decodes_or_refuses::<PullRequest>(bytes);
    decodes_or_refuses::<PullResponse>(bytes);
    decodes_or_refuses::<VerifyRequest>(bytes);
    decodes_or_refuses::<VerifyResponse>(bytes);
    decodes_or_refuses::<ErrorBody>(bytes);
    if let Ok(push) = decode::<PushRequest>(bytes, &Limits::default()) {
        let _ = push.check(&Limits::default());
    }
    if let Ok(verify) = decode::<VerifyRequest>(bytes, &Limits::default()) {
        let _ = verify.check(&Limits::default());
    }
    // The JSON forms the server also accepts, and the JSON-only login and device bodies.
    let _ = serde_json::from_slice::<PushRequest>(bytes);
    let _ = serde_json::from_slice::<PullRequest>(bytes);
    let _ = serde_json::from_slice::<VerifyRequest>(bytes);
    let _ = serde_json::from_slice::<LoginRequest>(bytes);
    let _ = serde_json::from_slice::<LoginResponse>(bytes);
    let _ = serde_json::from_slice::<DeviceInfo>(bytes);
}

/// One valid message of every type, encoded: the seeds that mutations start from.
fn seeds() -> Vec<Vec<u8>> {
    let hash = Hash([7; 32]);
    let id = Uuid::now_v7();
    vec![
        encode(&PushRequest {
            docs: vec![DocPush {
                id,
                kind: "customer".into(),
                base_heads: vec![hash],
                changes: vec![ByteBuf::from(sample_change(false))],
                group: None,
            }],
            checkpoint: 0,
        }),
        encode(&PushResponse {
            results: vec![DocResult {
                id,
                status: PushStatus::Rejected,
                heads: vec![hash],
                reason: Some(Reason {
                    code: "out_of_scope".into(),
                    message: "no".into(),
                    field: Some("territory".into()),
                }),
                missing: vec![hash],
            }],
            seq: 0,
        }),
        encode(&PullRequest {
            cursor: Some(ByteBuf::from(vec![1, 2, 3])),
            limit: Some(10),
            checkpoint: 0,
        }),
        encode(&PullResponse {
            docs: vec![DocUpdate {
                id,
                kind: "contact".into(),
                chunks: vec![ByteBuf::from(vec![9; 12])],
                heads: vec![Hash([7; 32])],
                listing: Some(Listing {
                    fields: r#"{"name":"ACME"}"#.into(),
                    conflicts: "[]".into(),
                    deleted: false,
                }),
                tip_listing: None,
                rewritten: false,
            }],
            evict: vec![id],
            cursor: ByteBuf::from(vec![4; 8]),
            more: true,
            seq: 0,
        }),
        encode(&VerifyRequest {
            mode: VerifyMode::Docs,
            scope_digest: Some(hash),
            docs: vec![DocHeads {
                id,
                heads: vec![hash],
            }],
        }),
        encode(&VerifyResponse {
            in_sync: false,
            scope_digest: hash,
            differing: vec![],
            unknown: vec![id],
        }),
    ]
}

/// A real change, compressed (automerge deflates changes past a few hundred bytes) or plain.
fn sample_change(compressed: bool) -> Vec<u8> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", "ACME").unwrap();
    let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
    doc.splice_text(
        &notes,
        0,
        0,
        &"visit on mondays ".repeat(if compressed { 60 } else { 1 }),
    )
    .unwrap();
    doc.commit();
    let mut change = doc.get_last_local_change().unwrap().clone();
    change.bytes().to_vec()
}

fn checks_change(bytes: Vec<u8>) {
    match change::parse(bytes, 1 << 16) {
        Ok(parsed) => {
            let again = change::parse(parsed.raw_bytes().to_vec(), 1 << 16).expect("re-parse");
            assert_eq!(again.hash(), parsed.hash());
            let _ = change::check_ops(&parsed, 100);
        }
        Err(e) => assert!(
            matches!(e.code(), "malformed_change" | "too_large"),
            "untyped error {e}"
        ),
    }
}

fn mutate(
    mut bytes: Vec<u8>,
    flips: &[(prop::sample::Index, u8)],
    cut: Option<prop::sample::Index>,
) -> Vec<u8> {
    for (at, byte) in flips {
        let i = at.index(bytes.len());
        bytes[i] = *byte;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut.index(bytes.len() + 1));
    }
    bytes
}

proptest! {
    #[test]
    fn every_message_type_decodes_arbitrary_bytes_or_refuses_them(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        every_message(&bytes);
    }

    #[test]
    fn every_message_type_survives_mutations_of_valid_messages(
        seed in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..10),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let seeds = seeds();
        let bytes = mutate(seeds[seed.index(seeds.len())].clone(), &flips, cut);
        every_message(&bytes);
    }

    #[test]
    fn the_change_parser_and_inflater_refuse_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..600),
        header in any::<bool>(),
    ) {
        // With a chunk header claiming a compressed change, the bytes reach the capped inflater.
        let bytes = if header {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&[0, 0, 0, 0, 2]);
            b.extend_from_slice(&body);
            b
        } else {
            body
        };
        checks_change(bytes);
    }

    #[test]
    fn the_change_parser_survives_mutations_of_real_changes(
        compressed in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        checks_change(mutate(sample_change(compressed), &flips, cut));
    }

    #[test]
    fn the_operation_cap_refuses_exactly_the_changes_above_it(ops in 1usize..400, limit in 1usize..400) {
        let mut doc = AutoCommit::new();
        let text = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, &"x".repeat(ops - 1)).unwrap();
        doc.commit();
        let mut made = doc.get_last_local_change().unwrap().clone();
        let parsed = change::parse(made.bytes().to_vec(), 1 << 20).unwrap();
        prop_assert_eq!(parsed.len(), ops);
        match change::check_ops(&parsed, limit) {
            Ok(()) => prop_assert!(ops <= limit),
            Err(e) => {
                prop_assert!(ops > limit);
                prop_assert_eq!(e.code(), "too_many_operations");
            }
        }
    }
}

#[test]
fn the_default_caps_take_the_largest_honest_record() {
    // A customer created with every text at its maximum length, in one change.
    let mut doc = AutoCommit::new();
    for field in [
        "name",
        "phone",
        "email",
        "street",
        "city",
        "postcode",
        "territory",
    ] {
        doc.put(ROOT, field, "x".repeat(200)).unwrap();
    }
    let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
    doc.splice_text(&notes, 0, 0, &"n".repeat(20_000)).unwrap();
    doc.commit();
    let mut made = doc.get_last_local_change().unwrap().clone();
    let limits = Limits::default();
    let parsed = change::parse(made.bytes().to_vec(), limits.max_change_bytes).unwrap();
    change::check_ops(&parsed, limits.max_ops_per_change).unwrap();
    assert!(doc.save().len() * 10 < limits.max_doc_bytes);
}

/// One way to rewrite a real change by hand, as `encodeChange` in automerge JS allows.
#[derive(Debug, Clone)]
enum Rewrite {
    Seq(u64),
    StartOp(u64),
    Pred(usize, u64, u8),
    Obj(usize, u64, u8),
    Elem(usize, u64, u8),
    NoDeps,
}

fn rewrite() -> impl Strategy<Value = Rewrite> {
    // automerge keeps op counters in 32 bits: it cannot encode a change with a larger one.
    let counter = prop_oneof![0..40u64, Just(1 << 31), Just(u64::from(u32::MAX) - 1)];
    prop_oneof![
        prop_oneof![0..5u64, Just(1 << 31), Just(u64::MAX)].prop_map(Rewrite::Seq),
        counter.clone().prop_map(Rewrite::StartOp),
        (0..4usize, counter.clone(), 1..4u8).prop_map(|(i, c, a)| Rewrite::Pred(i, c, a)),
        (0..4usize, counter.clone(), 1..4u8).prop_map(|(i, c, a)| Rewrite::Obj(i, c, a)),
        (0..4usize, counter, 1..4u8).prop_map(|(i, c, a)| Rewrite::Elem(i, c, a)),
        Just(Rewrite::NoDeps),
    ]
}

/// A record made by actor 1 (a name, a text, a list) and the change actor 2 makes next: a put, a
/// text edit or a new list item, chosen by `edit`. With `before`, actor 2 first makes another such
/// change (returned as it was made), so that the next one continues it: the two arrive as a run.
fn record_and_next_change(
    edit: u8,
    before: Option<u8>,
) -> (
    AutoCommit,
    Vec<automerge::Change>,
    automerge::ExpandedChange,
) {
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(vec![1; 16]));
    doc.put(ROOT, "name", "Acme").unwrap();
    let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
    doc.splice_text(&notes, 0, 0, "abc").unwrap();
    let lines = doc.put_object(ROOT, "lines", ObjType::List).unwrap();
    doc.insert(&lines, 0, "first").unwrap();
    doc.commit();
    let mut device = doc.fork().with_actor(automerge::ActorId::from(vec![2; 16]));
    let make = |device: &mut AutoCommit, edit: u8| {
        match edit % 3 {
            0 => device.put(ROOT, "name", format!("Acme {edit}")).unwrap(),
            1 => device.splice_text(&notes, 1, 1, "XY").unwrap(),
            _ => device.insert(&lines, 1, "second").unwrap(),
        }
        device.commit();
        device.get_last_local_change().unwrap().clone()
    };
    let honest = before.map(|b| make(&mut device, b)).into_iter().collect();
    let mut expanded = make(&mut device, edit).decode();
    expanded.hash = None;
    (doc, honest, expanded)
}

proptest! {
    /// Real changes rewritten by hand (the shapes that trip automerge's assertions or make documents
    /// it cannot load back): each is refused with `invalid_change`, or applied to a document that
    /// saves and loads back. No panic escapes. The rewritten change comes alone, or after an honest
    /// change of the same device that it continues, in one push.
    #[test]
    fn hand_made_changes_are_refused_or_leave_a_loadable_document(
        edit in any::<u8>(),
        before in proptest::option::of(any::<u8>()),
        rewrites in prop::collection::vec(rewrite(), 1..4),
    ) {
        let (mut doc, mut changes, mut expanded) = record_and_next_change(edit, before);
        let actor = |a: u8| automerge::ActorId::from(vec![a; 16]);
        let id = |c: u64, a: u8| automerge::legacy::OpId(c, actor(a));
        for r in rewrites {
            let ops = expanded.operations.len();
            match r {
                Rewrite::Seq(s) => expanded.seq = s,
                Rewrite::StartOp(s) => expanded.start_op = s.max(1).try_into().unwrap(),
                Rewrite::Pred(i, c, a) => expanded.operations[i % ops].pred = vec![id(c, a)].into(),
                Rewrite::Obj(i, c, a) => {
                    expanded.operations[i % ops].obj = automerge::legacy::ObjectId::Id(id(c, a))
                }
                Rewrite::Elem(i, c, a) => {
                    expanded.operations[i % ops].key =
                        automerge::legacy::Key::Seq(automerge::legacy::ElementId::Id(id(c, a)))
                }
                Rewrite::NoDeps => expanded.deps.clear(),
            }
        }
        changes.push(automerge::Change::from(expanded.clone()));
        match sync_core::structure::apply(&mut doc, changes) {
            Err(e) => prop_assert_eq!(e.code(), "invalid_change"),
            Ok(_) => {
                let heads = doc.get_heads();
                if doc.get_missing_deps(&[]).is_empty() {
                    prop_assert!(sync_core::structure::reloads(&doc.save(), &heads).is_ok(), "{:?}", expanded);
                }
            }
        }
    }
}
