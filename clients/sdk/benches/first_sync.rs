//! The device's side of a first sync, on its own: a page of 2,000 records the device lacks is checked
//! against what it holds (`store::held`) and stored as it arrived (`store::insert_whole`), in one
//! transaction, into an in-memory store that already holds 50,000 records, as the middle of a
//! 100,000-record bootstrap does. The transaction is rolled back, so each iteration finds the same
//! store.
//!
//! On mimalloc, SQLite's allocations too, as the CLI and the load generator run.
//!
//! `cargo bench -p fieldsync-sdk --bench first_sync`; figures are in BENCHMARKS.md.

use std::borrow::Cow;

use automerge::ActorId;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fieldsync_sdk::store::{self, Arrived};
use sqlx::SqlitePool;
use sync_core::kinds::CUSTOMER;
use sync_core::protocol::Hash;
use sync_core::record::{self, Listing};
use sync_core::Value;
use tokio::runtime::Runtime;
use uuid::Uuid;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELD: usize = 50_000;
const PAGE: usize = 2_000;

/// A record as a first-sync page carries it: its document, heads and listing.
struct Incoming {
    id: Uuid,
    doc: Vec<u8>,
    heads: Vec<Hash>,
    listing: Listing,
}

/// `n` records with fresh ids. Their documents cycle through a hundred distinct customers: what the
/// store costs depends on a record's size, not on its content, and making 52,000 documents would be
/// most of the bench's time (and all of it when `cargo test` runs the bench once, unoptimised).
fn incoming(n: usize) -> Vec<Incoming> {
    let actor = ActorId::random();
    let territory = Uuid::now_v7().to_string();
    let customers: Vec<(Vec<u8>, Vec<Hash>, Listing)> = (0..100)
        .map(|i| {
            let fields = [
                ("name", Value::Str(format!("Customer {i}"))),
                ("territory", Value::Str(territory.clone())),
                ("city", Value::Str(format!("City {}", i % 97))),
                ("phone", Value::Str(format!("+44 20 7946 {:04}", i))),
            ];
            let mut doc = record::create(&CUSTOMER, actor.clone(), &fields).expect("valid record");
            let listing = Listing::of(&record::project(&doc, &CUSTOMER).expect("projects"));
            let heads = doc.get_heads().into_iter().map(Hash::from).collect();
            (doc.save(), heads, listing)
        })
        .collect();
    (0..n)
        .map(|i| {
            let (doc, heads, listing) = customers[i % customers.len()].clone();
            Incoming {
                id: Uuid::now_v7(),
                doc,
                heads,
                listing,
            }
        })
        .collect()
}

fn arrived(records: &[Incoming]) -> Vec<Arrived<'_>> {
    records
        .iter()
        .map(|r| Arrived {
            id: r.id,
            kind: CUSTOMER.name,
            doc: Cow::Borrowed(&r.doc),
            heads: &r.heads,
            listing: &r.listing,
        })
        .collect()
}

async fn store_page(pool: &SqlitePool, page: &[Arrived<'_>]) {
    let mut tx = pool.begin().await.expect("transaction");
    let ids: Vec<Uuid> = page.iter().map(|r| r.id).collect();
    let held = store::held(&mut tx, &ids).await.expect("held");
    assert!(held.is_empty(), "the page's records are new to the device");
    store::insert_whole(&mut tx, page).await.expect("stored");
    tx.rollback().await.expect("rolled back");
}

fn first_sync(c: &mut Criterion) {
    assert!(
        fieldsync_sdk::sqlite_alloc::use_mimalloc(),
        "SQLite takes the allocator before its first use"
    );
    let rt = Runtime::new().expect("runtime");
    let held = incoming(HELD);
    let page = incoming(PAGE);
    let pool = rt.block_on(async {
        let pool = store::in_memory().await.expect("store");
        let mut tx = pool.begin().await.expect("transaction");
        store::insert_whole(&mut tx, &arrived(&held))
            .await
            .expect("held records");
        tx.commit().await.expect("committed");
        pool
    });
    let page = arrived(&page);
    let mut group = c.benchmark_group("device");
    group.throughput(Throughput::Elements(PAGE as u64));
    group.bench_function("store a first-sync page of 2,000 records", |b| {
        b.to_async(&rt).iter(|| store_page(&pool, &page))
    });
    group.finish();
}

criterion_group!(benches, first_sync);
criterion_main!(benches);
