//! The storage layer's write of a push batch, on its own: the merged documents of one push are written
//! (chunks, document rows, projections) at newly allocated feed positions and committed, as the end of
//! `POST /v1/sync/push` does once the merge decided what to write. Two batches of 100 records: new
//! records (a snapshot each) and a new chunk for each of 100 stored records.
//!
//! SQLite always; PostgreSQL too when `FIELDSYNC_BENCH_POSTGRES_URL` names a database (its tables are
//! created if missing; the bench adds records with fresh ids and leaves them).
//!
//! `cargo bench -p fieldsync-server --bench batch_write`; figures are in BENCHMARKS.md.

use automerge::{ActorId, AutoCommit};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fieldsync_server::sync::docstore::pack_heads;
use fieldsync_server::sync::write::{store, Write};
use fieldsync_server::{AppState, Settings};
use sync_core::kinds::CUSTOMER;
use sync_core::record::{self, Listing};
use sync_core::Value;
use tokio::runtime::Runtime;
use uuid::Uuid;

mod support;

const DOCS: usize = 100;

struct Fixture {
    /// Where the server key lives: beside the SQLite file for SQLite, here for PostgreSQL.
    _keys: tempfile::TempDir,
    state: AppState,
    territory: Uuid,
    owner: Uuid,
    actor: ActorId,
}

impl Fixture {
    fn new(rt: &Runtime, url: &str) -> Fixture {
        rt.block_on(async {
            let keys = tempfile::tempdir().expect("temp dir");
            let mut settings = Settings::new(url);
            // A PostgreSQL database names no file to keep its key beside.
            settings
                .key_file
                .get_or_insert_with(|| keys.path().join("bench.key"));
            let state = AppState::new(&settings).await.expect("server state");
            let territory =
                fieldsync_server::auth::users::ensure_territory(&state.db.conn, "North")
                    .await
                    .expect("territory");
            Fixture {
                _keys: keys,
                state,
                territory,
                owner: Uuid::now_v7(),
                actor: ActorId::random(),
            }
        })
    }

    /// What the merge hands to the storage layer for a document: `data` is the whole document for a new
    /// record, else the chunk of changes since `before`.
    fn write(&self, id: Uuid, doc: AutoCommit, before: Option<&[automerge::ChangeHash]>) -> Write {
        let mut doc = doc;
        let projection = record::project(&doc, &CUSTOMER).expect("valid record");
        let (data, snapshot) = match before {
            None => (doc.save(), true),
            Some(heads) => (doc.save_after(heads), false),
        };
        let received = doc
            .get_changes(before.unwrap_or(&[]))
            .iter()
            .flat_map(|c| c.hash().0)
            .collect();
        Write {
            id,
            kind: &CUSTOMER,
            is_new: before.is_none(),
            territory_id: Some(self.territory),
            user_id: None,
            parent_id: None,
            owner_id: self.owner,
            heads: pack_heads(&doc.get_heads()),
            chunk_count: if snapshot { 1 } else { 2 },
            chunk_bytes: data.len() as i64,
            data,
            snapshot,
            created_at: 0,
            listing: Listing::of(&projection),
            projection,
            moved_from: None,
            doc: None,
            received,
            fields_written: Vec::new(),
            lacks_objects: false,
            code: None,
        }
    }

    fn new_record(&self, i: usize) -> AutoCommit {
        let mut doc = record::create(
            &CUSTOMER,
            self.actor.clone(),
            &[
                ("name", Value::Str(format!("Customer {i}"))),
                ("territory", "North".into()),
            ],
        )
        .expect("valid record");
        for k in 0..3 {
            record::update(
                &mut doc,
                &CUSTOMER,
                &[("phone", Value::Str(format!("{k}")))],
            )
            .expect("valid edit");
        }
        doc
    }

    /// Writes and commits one batch, as the push path does after its merge.
    fn commit(&self, rt: &Runtime, writes: Vec<Write>) {
        rt.block_on(async {
            let txn = self.state.db.begin_write().await.expect("transaction");
            store(&txn, &writes).await.expect("stored");
            txn.commit().await.expect("committed");
        })
    }
}

fn bench_database(c: &mut Criterion, rt: &Runtime, name: &str, url: &str) {
    let fx = Fixture::new(rt, url);
    // 100 stored records the update batches add chunks to, each iteration one more edit.
    let mut stored: Vec<(Uuid, AutoCommit)> = (0..DOCS)
        .map(|i| (Uuid::now_v7(), fx.new_record(i)))
        .collect();
    fx.commit(
        rt,
        stored
            .iter()
            .map(|(id, doc)| fx.write(*id, doc.clone(), None))
            .collect(),
    );
    let mut round = 0;

    let mut group = c.benchmark_group("storage");
    group.throughput(Throughput::Elements(DOCS as u64));
    group.sample_size(30);
    group.bench_function(
        format!("write a push batch: 100 new records ({name})"),
        |b| {
            b.iter_batched(
                || {
                    (0..DOCS)
                        .map(|i| fx.write(Uuid::now_v7(), fx.new_record(i), None))
                        .collect::<Vec<_>>()
                },
                |writes| fx.commit(rt, writes),
                BatchSize::PerIteration,
            )
        },
    );
    group.bench_function(
        format!("write a push batch: a chunk to each of 100 records ({name})"),
        |b| {
            b.iter_batched(
                || {
                    round += 1;
                    stored
                        .iter_mut()
                        .map(|(id, doc)| {
                            let before = doc.get_heads();
                            record::update(
                                doc,
                                &CUSTOMER,
                                &[("phone", Value::Str(format!("round {round}")))],
                            )
                            .expect("valid edit");
                            fx.write(*id, doc.clone(), Some(&before))
                        })
                        .collect::<Vec<_>>()
                },
                |writes| fx.commit(rt, writes),
                BatchSize::PerIteration,
            )
        },
    );
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = support::runtime();
    let (_dir, sqlite) = support::fresh_sqlite();
    bench_database(c, &rt, "SQLite", &sqlite);
    if let Ok(url) = std::env::var("FIELDSYNC_BENCH_POSTGRES_URL") {
        bench_database(c, &rt, "PostgreSQL", &url);
    }
}

criterion_group!(batch_write, bench);
criterion_main!(batch_write);
