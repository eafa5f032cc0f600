//! Micro-benchmarks of the pure hot paths of a sync: decoding a push, merging changes into a stored
//! document (bare automerge, the reference the server's whole path is measured against), checking
//! new records' changes before applying them, checking and projecting a merged record, and encoding
//! a pull page.
//!
//! `cargo bench -p sync-core`; figures and their meaning are in BENCHMARKS.md.

use automerge::{ActorId, AutoCommit, Change};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_bytes::ByteBuf;
use sync_core::kinds::CUSTOMER;
use sync_core::protocol::{self, DocPush, DocUpdate, Limits, PullResponse, PushRequest};
use sync_core::record::Listing;
use sync_core::{inspect, record, structure, Role, Value};
use uuid::Uuid;

const DOCS: usize = 100;
const EDITS: usize = 3;

/// A stored customer (created, then 20 edits by the server's copy) and 3 new single-field changes
/// from a device, as raw bytes.
fn fixture(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut doc = record::create(
        &CUSTOMER,
        ActorId::from(vec![1; 16]),
        &[("name", "ACME".into()), ("territory", "North".into())],
    )
    .expect("valid customer");
    for i in 0..20 {
        record::update(
            &mut doc,
            &CUSTOMER,
            &[("phone", Value::Str(format!("{n}-{i}")))],
        )
        .expect("valid edit");
    }
    let stored = doc.save();
    let mut device = AutoCommit::load(&stored)
        .expect("loads")
        .with_actor(ActorId::from(vec![2; 16]));
    let base = device.get_heads();
    for i in 0..EDITS {
        record::update(
            &mut device,
            &CUSTOMER,
            &[("city", Value::Str(format!("city {n} {i}")))],
        )
        .expect("valid edit");
    }
    let changes = device
        .get_changes(&base)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    (stored, changes)
}

/// Changes as raw bytes, parsed.
fn parse(changes: &[Vec<u8>]) -> Vec<Change> {
    changes
        .iter()
        .map(|c| Change::from_bytes(c.clone()).expect("parses"))
        .collect()
}

const NEW_RECORDS: usize = 500;

/// The changes of a new customer: its creation and `EDITS` single-field edits.
fn new_record(n: usize) -> Vec<Change> {
    let mut doc = record::create(
        &CUSTOMER,
        ActorId::from(vec![3; 16]),
        &[
            ("name", Value::Str(format!("Customer {n}"))),
            ("territory", "North".into()),
        ],
    )
    .expect("valid customer");
    for k in 0..EDITS {
        record::update(
            &mut doc,
            &CUSTOMER,
            &[("phone", Value::Str(format!("+1 555 {n:04}{k}")))],
        )
        .expect("valid edit");
    }
    doc.get_changes(&[])
}

fn benches(c: &mut Criterion) {
    let fixtures: Vec<(Vec<u8>, Vec<Vec<u8>>)> = (0..DOCS).map(fixture).collect();
    let push = PushRequest {
        docs: fixtures
            .iter()
            .map(|(_, changes)| DocPush {
                id: Uuid::now_v7(),
                kind: "customer".into(),
                base_heads: vec![],
                changes: changes.iter().map(|c| ByteBuf::from(c.clone())).collect(),
                group: None,
            })
            .collect(),
        checkpoint: 0,
    };
    let push_bytes = protocol::encode(&push);

    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Elements((DOCS * EDITS) as u64));
    group.bench_function("decode 100 docs x 3 changes", |b| {
        b.iter(|| {
            let request: PushRequest =
                protocol::decode(&push_bytes, &Limits::default()).expect("decodes");
            for doc in request.docs {
                for change in doc.changes {
                    sync_core::change::parse(change.into_vec(), 1 << 20).expect("parses");
                }
            }
        })
    });
    // The reference: what automerge alone costs to merge the same changes into stored documents;
    // then the same with the checks every pushed change goes through first.
    type Apply = fn(&mut AutoCommit, Vec<Change>);
    let merges: [(&str, Apply); 2] = [
        (
            "automerge load + apply + save_after (reference)",
            |doc, changes| doc.apply_changes(changes).expect("applies"),
        ),
        ("structure checks + apply + save_after", |doc, changes| {
            structure::apply(doc, changes).expect("applies");
        }),
    ];
    for (name, apply) in merges {
        group.bench_function(name, |b| {
            b.iter(|| {
                for (stored, changes) in &fixtures {
                    let mut doc = AutoCommit::load(stored).expect("loads");
                    let heads = doc.get_heads();
                    apply(&mut doc, parse(changes));
                    std::hint::black_box(doc.save_after(&heads));
                }
            })
        });
    }
    group.bench_function("inspect + validate + project merged records", |b| {
        b.iter_batched(
            || {
                fixtures
                    .iter()
                    .map(|(stored, changes)| {
                        let mut doc = AutoCommit::load(stored).expect("loads");
                        let parsed = parse(changes);
                        doc.apply_changes(parsed.clone()).expect("applies");
                        // The ops as the checks before applying answer them.
                        let ops: Vec<_> =
                            parsed.iter().flat_map(|c| c.decode().operations).collect();
                        (doc, ops)
                    })
                    .collect::<Vec<_>>()
            },
            |docs| {
                for (doc, ops) in &docs {
                    let fields = inspect::touched_fields(doc, ops, false).expect("inspects");
                    inspect::check_writable(&CUSTOMER, Role::Agent, &fields).expect("writable");
                    std::hint::black_box(record::project(doc, &CUSTOMER).expect("valid"));
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    // New records as the load generator's devices push them: created, then three single-field
    // edits, each its own change.
    let new_records: Vec<Vec<Change>> = (0..NEW_RECORDS).map(new_record).collect();
    let mut group = c.benchmark_group("push new records");
    group.throughput(Throughput::Elements((NEW_RECORDS * (1 + EDITS)) as u64));
    group.bench_function("automerge apply (reference)", |b| {
        b.iter(|| {
            for changes in &new_records {
                let mut doc = AutoCommit::new();
                doc.apply_changes(changes.clone()).expect("applies");
                std::hint::black_box(doc);
            }
        })
    });
    group.bench_function("structure checks + apply", |b| {
        b.iter(|| {
            for changes in &new_records {
                let mut doc = AutoCommit::new();
                structure::apply(&mut doc, changes.clone()).expect("applies");
                std::hint::black_box(doc);
            }
        })
    });
    group.finish();

    let page = PullResponse {
        docs: fixtures
            .iter()
            .cycle()
            .take(500)
            .map(|(stored, _)| {
                // A whole document, as a fresh device receives it: heads and listing included.
                let mut doc = AutoCommit::load(stored).expect("fixture loads");
                DocUpdate {
                    id: Uuid::now_v7(),
                    kind: "customer".into(),
                    chunks: vec![ByteBuf::from(stored.clone())],
                    heads: protocol::heads_of(&doc.get_heads()),
                    listing: Some(Listing::of(
                        &record::project(&doc, &CUSTOMER).expect("fixture projects"),
                    )),
                    tip_listing: None,
                    rewritten: false,
                }
            })
            .collect(),
        evict: vec![],
        cursor: ByteBuf::from(vec![0; 24]),
        more: true,
        seq: 0,
    };
    let mut group = c.benchmark_group("pull");
    group.throughput(Throughput::Elements(500));
    group.bench_function("encode a page of 500 records", |b| {
        b.iter(|| std::hint::black_box(protocol::encode(&page)))
    });
    group.finish();
}

criterion_group!(core, benches);
criterion_main!(core);
