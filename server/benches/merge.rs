//! The server's whole merge path on SQLite: a device's push of 100 records × 3 changes is decoded,
//! authorised, applied, validated, projected and committed, as `POST /v1/sync/push` does minus HTTP.
//! Compare with sync-core's `automerge load + apply + save_after (reference)` in the same run.
//!
//! `cargo bench -p fieldsync-server`; figures are in BENCHMARKS.md.

use std::sync::Mutex;

use automerge::{ActorId, AutoCommit};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fieldsync_server::app::{AppState, Settings};
use fieldsync_server::scope::Principal;
use serde_bytes::ByteBuf;
use sync_core::kinds::CUSTOMER;
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::{record, Role, Value};
use uuid::Uuid;

const DOCS: usize = 100;
const EDITS: usize = 3;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.sqlite").display()
    );
    let (state, who) = rt.block_on(async {
        let state = AppState::new(&Settings::new(&url))
            .await
            .expect("server state");
        let north = fieldsync_server::users::ensure_territory(&state.db.conn, "North")
            .await
            .expect("territory");
        let who = Principal {
            user_id: Uuid::now_v7(),
            role: Role::Agent,
            device_id: Uuid::now_v7(),
            territories: vec![north],
        };
        (state, who)
    });
    let actor = ActorId::from(who.device_id.as_bytes().to_vec());
    // The device's copies of its records, created and pushed once; every iteration edits them again.
    let device: Mutex<Vec<(Uuid, AutoCommit)>> = Mutex::new(
        (0..DOCS)
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
            .collect(),
    );
    let push_all = |since: &dyn Fn(&mut AutoCommit) -> Vec<automerge::ChangeHash>| {
        let mut docs = device.lock().expect("device lock");
        PushRequest {
            docs: docs
                .iter_mut()
                .map(|(id, doc)| {
                    let base = since(doc);
                    DocPush {
                        id: *id,
                        kind: "customer".into(),
                        base_heads: vec![],
                        changes: doc
                            .get_changes(&base)
                            .iter()
                            .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                            .collect(),
                    }
                })
                .collect(),
            checkpoint: 0,
        }
    };
    let create = push_all(&|_| vec![]);
    rt.block_on(async {
        let response = fieldsync_server::merge::push(&state, &who, create)
            .await
            .expect("push");
        assert!(response
            .results
            .iter()
            .all(|r| r.status == PushStatus::Applied));
    });

    let mut group = c.benchmark_group("server");
    group.throughput(Throughput::Elements((DOCS * EDITS) as u64));
    group.sample_size(20);
    let mut round = 0u64;
    group.bench_function("merge path: push 100 records x 3 changes (SQLite)", |b| {
        b.to_async(&rt).iter_batched(
            || {
                round += 1;
                push_all(&|doc: &mut AutoCommit| {
                    let base = doc.get_heads();
                    for k in 0..EDITS {
                        record::update(
                            doc,
                            &CUSTOMER,
                            &[("phone", Value::Str(format!("{round}-{k}")))],
                        )
                        .expect("valid edit");
                    }
                    base
                })
            },
            |request| async {
                let response = fieldsync_server::merge::push(&state, &who, request)
                    .await
                    .expect("push");
                debug_assert!(response
                    .results
                    .iter()
                    .all(|r| r.status == PushStatus::Applied));
                response
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(merge, bench);
criterion_main!(merge);
