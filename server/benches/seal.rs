//! What sealing at rest costs: a chunk sealed as a push stores it, and opened as a pull or a load
//! reads it, at the sizes the server stores (a record's change chunk of about a kilobyte; a
//! snapshot of a large record; a first-sync page's worth of chunks).
//!
//! `cargo bench -p fieldsync-server --bench seal`; figures are in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fieldsync_server::keys::KeyRing;
use fieldsync_server::seal::Sealed;

fn seal(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let vault = KeyRing::open(&dir.path().join("bench.key"))
        .expect("key file")
        .vault();
    let id = uuid::Uuid::now_v7();
    let mut group = c.benchmark_group("seal");
    for size in [1 << 10, 64 << 10, 1 << 20] {
        let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let sealed = vault.seal(Sealed::Chunk(id), &plain);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("seal a chunk", size),
            &plain,
            |b, plain| b.iter(|| vault.seal(Sealed::Chunk(id), plain)),
        );
        group.bench_with_input(
            BenchmarkId::new("open a chunk", size),
            &sealed,
            |b, sealed| {
                b.iter_batched(
                    || sealed.clone(),
                    |mut data| {
                        vault
                            .open_in_place(Sealed::Chunk(id), &mut data)
                            .map(|()| data)
                    },
                    criterion::BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, seal);
criterion_main!(benches);
