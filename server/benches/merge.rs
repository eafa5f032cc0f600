//! The server's whole merge path on SQLite: a device's push of 100 records × 3 changes is decoded,
//! authorised, applied, validated, projected and committed, as `POST /v1/sync/push` does minus HTTP.
//! Compare with sync-core's `automerge load + apply + save_after (reference)` in the same run: the
//! records are of the same size as its fixture (created, then 20 edits) and stored before the
//! measured push.
//!
//! A second bench times a push that compacts each of its records: each already spread over as
//! many chunks as the server keeps before it writes a record whole again, so the push deletes
//! them and writes one snapshot (what SQLite's `secure_delete` makes dearer).
//!
//! `cargo bench -p fieldsync-server`; figures are in BENCHMARKS.md.

use automerge::{ActorId, AutoCommit, ChangeHash};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fieldsync_server::auth::principal::Principal;
use fieldsync_server::sync::author::Author;
use fieldsync_server::sync::decide::COMPACT_AFTER_CHUNKS;
use fieldsync_server::{AppState, Settings};
use serde_bytes::ByteBuf;
use sync_core::kinds::CUSTOMER;
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::{record, Role, Value};
use uuid::Uuid;

mod support;

const DOCS: usize = 100;
const EDITS: usize = 3;
/// Edits each record holds before the measured push, as in sync-core's reference fixture.
const HISTORY: usize = 20;

/// A push of each document's changes since the matching heads (all of them for empty heads).
fn request(docs: &mut [(Uuid, AutoCommit)], since: &[Vec<ChangeHash>]) -> PushRequest {
    PushRequest {
        docs: docs
            .iter_mut()
            .zip(since)
            .map(|((id, doc), base)| DocPush {
                id: *id,
                kind: "customer".into(),
                base_heads: vec![],
                changes: doc
                    .get_changes(base)
                    .iter()
                    .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                    .collect(),
                group: None,
            })
            .collect(),
        checkpoint: 0,
    }
}

fn edit(doc: &mut AutoCommit, phone: String) {
    record::update(doc, &CUSTOMER, &[("phone", Value::Str(phone))]).expect("valid edit");
}

fn bench(c: &mut Criterion) {
    let rt = support::runtime();
    let (_dir, url) = support::fresh_sqlite();
    let (state, who) = rt.block_on(async {
        let state = AppState::new(&Settings::new(&url))
            .await
            .expect("server state");
        let north = fieldsync_server::auth::users::ensure_territory(&state.db.conn, "North")
            .await
            .expect("territory");
        let who = Principal {
            user_id: Uuid::now_v7(),
            role: Role::Agent,
            device_id: Uuid::now_v7(),
            territories: vec![north],
            checkpoint: 0,
            claimed_device: None,
        };
        (state, Author::Device(who))
    });
    let actor = ActorId::from(who.rights().device_id.as_bytes().to_vec());
    let push = |request: PushRequest| {
        rt.block_on(async {
            let response = fieldsync_server::sync::push::push(&state.sync, &who, request)
                .await
                .expect("push");
            assert!(response
                .results
                .iter()
                .all(|r| r.status == PushStatus::Applied));
        })
    };
    // Setup, not measured: 100 records the server stores, each created and edited 20 times, and 3 new
    // edits of each on the device.
    let setup = || {
        let mut docs: Vec<(Uuid, AutoCommit)> = (0..DOCS)
            .map(|i| {
                let mut doc = record::create(
                    &CUSTOMER,
                    actor.clone(),
                    &[
                        ("name", Value::Str(format!("C{i}"))),
                        ("territory", "North".into()),
                    ],
                )
                .expect("valid");
                for k in 0..HISTORY {
                    edit(&mut doc, format!("{k}"));
                }
                (Uuid::now_v7(), doc)
            })
            .collect();
        push(request(&mut docs, &vec![vec![]; DOCS]));
        let bases: Vec<Vec<ChangeHash>> = docs.iter_mut().map(|(_, d)| d.get_heads()).collect();
        for (_, doc) in docs.iter_mut() {
            for k in 0..EDITS {
                edit(doc, format!("new {k}"));
            }
        }
        request(&mut docs, &bases)
    };

    // Setup of the second bench: 100 records stored in as many chunks as the server keeps before
    // it compacts, and an edit of each that makes the next push compact them.
    let spread = || {
        let mut docs: Vec<(Uuid, AutoCommit)> = (0..DOCS)
            .map(|i| {
                let doc = record::create(
                    &CUSTOMER,
                    actor.clone(),
                    &[
                        ("name", Value::Str(format!("C{i}"))),
                        ("territory", "North".into()),
                    ],
                )
                .expect("valid");
                (Uuid::now_v7(), doc)
            })
            .collect();
        push(request(&mut docs, &vec![vec![]; DOCS]));
        for k in 1..COMPACT_AFTER_CHUNKS {
            let bases: Vec<Vec<ChangeHash>> = docs.iter_mut().map(|(_, d)| d.get_heads()).collect();
            for (_, doc) in docs.iter_mut() {
                edit(doc, format!("{k}"));
            }
            push(request(&mut docs, &bases));
        }
        let bases: Vec<Vec<ChangeHash>> = docs.iter_mut().map(|(_, d)| d.get_heads()).collect();
        for (_, doc) in docs.iter_mut() {
            edit(doc, "compacting".into());
        }
        request(&mut docs, &bases)
    };

    let mut group = c.benchmark_group("server");
    group.throughput(Throughput::Elements((DOCS * EDITS) as u64));
    group.sample_size(20);
    group.bench_function("merge path: push 100 records x 3 changes (SQLite)", |b| {
        b.iter_batched(setup, push, BatchSize::PerIteration)
    });
    group.throughput(Throughput::Elements(DOCS as u64));
    group.bench_function(
        "merge path: a push that compacts 100 records (SQLite)",
        |b| b.iter_batched(spread, push, BatchSize::PerIteration),
    );
    group.finish();
}

criterion_group!(merge, bench);
criterion_main!(merge);
