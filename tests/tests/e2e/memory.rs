//! The server's memory with its default settings while devices push the records that cost the
//! most to merge: customers whose 20,000-character notes arrive in one change each (automerge holds
//! about 300 bytes per op it has just applied, so each such record costs about 5 MiB while it is
//! merged), in large pushes from several devices at once, then pushes of as many records as a push
//! may carry, each light enough to be cached, then records grown to the stored-size cap (4 MiB),
//! several at once, then records of about as many operations as a push may bring for one record,
//! from as many devices as may sync at once. `FIELDSYNC_MEMORY_ROUNDS` sets how many
//! pushes each device makes (default 1); TESTING.md gives the long form and its figures.

use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::ReadDoc;
use fieldsync_e2e::{customer, storage_test, Device, ServerProcess, TestDb};
use serde_bytes::ByteBuf;
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::Role;
use uuid::Uuid;

/// The ceiling: with the defaults, whatever valid records devices push.
const CEILING: u64 = 500 << 20;
/// The server's runtime threads: see `ServerProcess::start_with_workers`.
const WORKERS: usize = 8;

/// `n` new customers by `device`, each made in one change with every text field at its maximum
/// length and notes of `notes` characters that do not compress.
fn heavy_records(device: &Device, n: usize, notes: usize, seed: &mut u32) -> Vec<DocPush> {
    let mut text = |len: usize| -> String {
        (0..len)
            .map(|_| {
                *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from(b'a' + ((*seed >> 16) % 26) as u8)
            })
            .collect()
    };
    (0..n)
        .map(|_| {
            let mut doc = automerge::AutoCommit::new().with_actor(device.replica.actor().unwrap());
            for (field, value) in customer(&text(200), "North") {
                let value = match field {
                    "territory" => value.as_str().unwrap().to_string(),
                    _ => text(if field == "phone" { 40 } else { 100 }),
                };
                doc.put(automerge::ROOT, field, value).unwrap();
            }
            let notes_id = doc
                .put_object(automerge::ROOT, "notes", automerge::ObjType::Text)
                .unwrap();
            doc.splice_text(&notes_id, 0, 0, &text(notes)).unwrap();
            doc.put(automerge::ROOT, "deleted", false).unwrap();
            doc.commit();
            DocPush {
                id: Uuid::now_v7(),
                kind: "customer".into(),
                base_heads: vec![],
                changes: vec![ByteBuf::from(
                    doc.get_last_local_change().unwrap().raw_bytes().to_vec(),
                )],
                group: None,
            }
        })
        .collect()
}

/// `n` new customers by `device` whose 20,000-character notes were written, then rewritten whole
/// four times, before the device first pushed: about 180,000 operations each, within the record's
/// cap per push, and still valid. Each costs about 50 MiB while it is merged.
fn rewritten_records(device: &Device, n: usize, seed: &mut u32) -> Vec<DocPush> {
    heavy_records(device, n, 20_000, seed)
        .into_iter()
        .map(|mut push| {
            let mut doc = automerge::AutoCommit::new().with_actor(device.replica.actor().unwrap());
            doc.apply_changes([automerge::Change::from_bytes(push.changes[0].to_vec()).unwrap()])
                .unwrap();
            let notes = match doc.get(automerge::ROOT, "notes").unwrap() {
                Some((_, id)) => id,
                None => unreachable!("heavy records have notes"),
            };
            for _ in 0..4 {
                let text: String = (0..20_000)
                    .map(|_| {
                        *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        char::from(b'a' + ((*seed >> 16) % 26) as u8)
                    })
                    .collect();
                doc.splice_text(&notes, 0, 20_000, &text).unwrap();
                doc.commit();
            }
            push.changes = doc
                .get_changes(&[])
                .iter()
                .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                .collect();
            push
        })
        .collect()
}

storage_test! {
    async fn the_server_stays_under_its_memory_ceiling_while_devices_push_the_heaviest_records(db: TestDb) {
        let state = fieldsync_server::AppState::new(&db.settings()).await.unwrap();
        for email in ["anna@x.test", "ben@x.test"] {
            fieldsync_server::auth::users::add_user(&state.db, email, Role::Agent, fieldsync_e2e::PASSWORD, &["North".into()]).await.unwrap();
        }
        drop(state);
        // As many requests worked on at once as on a server of eight cores, whatever this machine
        // has: what a push holds while it merges is held by every push merging at that moment.
        let server = ServerProcess::start_with_workers(env!("CARGO_BIN_EXE_e2e-server"), &db.url, Some(&db.key_file), Some(WORKERS));
        server.ready().await;
        let started = Instant::now();
        // Three devices at once, each pushing `rounds` pushes of 100 such records (about 6 MiB each):
        // merged whole, as they were, 300 records alone took 1.5 GiB.
        let rounds = std::env::var("FIELDSYNC_MEMORY_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
        let pushes = (0..3u32).map(|d| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let device = Device::login(&url, "anna@x.test").await;
                let mut seed = d + 1;
                for _ in 0..rounds {
                    let docs = heavy_records(&device, 100, 20_000, &mut seed);
                    let response = device.client.push(&PushRequest { docs, checkpoint: 0 }).await.unwrap();
                    assert!(response.results.iter().all(|r| r.status == PushStatus::Applied));
                }
            })
        });
        for push in pushes.collect::<Vec<_>>() {
            push.await.unwrap();
        }
        // Pushes of a thousand records with 3,000-character notes, the most one push may carry:
        // each record is light enough to be kept for the cache once written, but a push keeps only
        // so many of them (`push::KEEP_MERGED_PER_BATCH`); all of them would be about 900 MiB.
        let many = (0..3u32).map(|d| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let device = Device::login(&url, "anna@x.test").await;
                let mut seed = 200 + d;
                let docs = heavy_records(&device, 1_000, 3_000, &mut seed);
                let response = device.client.push(&PushRequest { docs, checkpoint: 0 }).await.unwrap();
                assert!(response.results.iter().all(|r| r.status == PushStatus::Applied));
            })
        });
        for push in many.collect::<Vec<_>>() {
            push.await.unwrap();
        }
        // Then records at the stored-size cap: each grows by four changes of 15 fields a later
        // version may add, of 64 KiB of random bytes each (the most such a field holds), to about
        // 4 MiB stored, each change its own push of the three records at once.
        let capped = (0..3u32).map(|d| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let device = Device::login(&url, "anna@x.test").await;
                let mut seed = 100 + d;
                let mut docs: Vec<(Uuid, automerge::AutoCommit)> = heavy_records(&device, 3, 20_000, &mut seed)
                    .into_iter()
                    .map(|push| {
                        let mut doc = automerge::AutoCommit::new().with_actor(device.replica.actor().unwrap());
                        doc.apply_changes([automerge::Change::from_bytes(push.changes[0].to_vec()).unwrap()]).unwrap();
                        (push.id, doc)
                    })
                    .collect();
                for round in 0..4 {
                    let mut push = PushRequest { docs: vec![], checkpoint: 0 };
                    for (id, doc) in &mut docs {
                        // The first push brings the record's creation too.
                        let heads = if round == 0 { vec![] } else { doc.get_heads() };
                        for f in 0..15 {
                            let bytes: Vec<u8> = (0..64 * 1024)
                                .map(|_| {
                                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                                    (seed >> 16) as u8
                                })
                                .collect();
                            doc.put(automerge::ROOT, format!("scan_{round}_{f}"), bytes).unwrap();
                        }
                        doc.commit();
                        push.docs.push(DocPush {
                            id: *id,
                            kind: "customer".into(),
                            base_heads: vec![],
                            changes: doc.get_changes(&heads).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
                            group: None,
                        });
                    }
                    let response = device.client.push(&push).await.unwrap();
                    for result in &response.results {
                        assert_eq!(result.status, PushStatus::Applied, "{:?}", result.reason);
                    }
                }
            })
        });
        for push in capped.collect::<Vec<_>>() {
            push.await.unwrap();
        }
        println!("peak RSS {} MiB before the records that cost the most to merge", server.peak_rss() >> 20);
        // Then the records that cost the most to merge: eight devices of two agents (as many sync
        // calls as two users may have at once) each push records of about 180,000 operations.
        let rewritten = (0..8u32).map(|d| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let email = if d % 2 == 0 { "anna@x.test" } else { "ben@x.test" };
                let device = Device::login(&url, email).await;
                let mut seed = 300 + d;
                for _ in 0..2 {
                    let docs = rewritten_records(&device, 2, &mut seed);
                    let response = device.client.push(&PushRequest { docs, checkpoint: 0 }).await.unwrap();
                    for result in &response.results {
                        assert_eq!(result.status, PushStatus::Applied, "{:?}", result.reason);
                    }
                }
            })
        });
        for push in rewritten.collect::<Vec<_>>() {
            push.await.unwrap();
        }
        let peak = server.peak_rss();
        println!(
            "peak RSS {} MiB after 3 devices pushed {} records with 20,000-character notes, then 1,000 records with 3,000-character notes each at once, then 3 records each grown to about 4 MiB, then 8 devices of 2 agents 32 records of 180,000 operations, in {:?}",
            peak >> 20,
            300 * rounds,
            started.elapsed()
        );
        assert!(peak < CEILING, "peak RSS {} MiB", peak >> 20);
    }
}
