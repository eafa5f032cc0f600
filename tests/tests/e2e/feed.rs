//! The pull feed through a real server: scope changes, records moving between territories, the
//! quarantine, verify, concurrent pushers and pullers, and two server processes on one database.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fieldsync_e2e::{customer, storage_test, Device, ServerProcess, TestDb, TestServer};
use fieldsync_sdk::Client;
use sync_core::protocol::{self, Limits, PullRequest, PullResponse, CONTENT_TYPE, VERSION_HEADER};
use sync_core::{Role, Value};
use uuid::Uuid;

async fn quarantine(
    client_url: &str,
    token: &str,
    path: &str,
    post: bool,
) -> (u16, serde_json::Value) {
    let http = reqwest::Client::new();
    let request = if post {
        http.post(format!("{client_url}{path}"))
    } else {
        http.get(format!("{client_url}{path}"))
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

storage_test! {
    async fn scope_gain_and_loss_with_offline_edits_quarantined(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        let mut south: Vec<Uuid> = Vec::new();
        for i in 0..3 {
            south.push(carla.replica.create("customer", &customer(&format!("S{i}"), "South")).await.unwrap());
        }
        let north = anna.replica.create("customer", &customer("N", "North")).await.unwrap();
        carla.sync().await;
        anna.sync().await;
        assert_eq!(anna.replica.ids().await.unwrap(), vec![north]);

        // Gain: the next pull brings every record of the new territory.
        fieldsync_server::auth::users::grant_territory(&server.state.db, anna_id, "South").await.unwrap();
        anna.sync().await;
        for id in &south {
            assert_eq!(anna.replica.heads(*id).await, server.heads(*id).await);
        }

        // Loss while holding an offline edit: the edit is quarantined, the rest evicted.
        anna.replica.update(south[0], &[("phone", "555".into())]).await.unwrap();
        fieldsync_server::auth::users::revoke_territory(&server.state.db, anna_id, "South").await.unwrap();
        let report = anna.sync().await;
        assert_eq!(report.quarantined, vec![south[0]]);
        assert_eq!(report.evicted.iter().copied().collect::<BTreeSet<_>>(), south.iter().copied().collect());
        assert_eq!(anna.replica.ids().await.unwrap(), vec![north]);
        assert_eq!(server.projected("customers", south[0], &["phone"]).await, vec![None], "not applied before review");
        // Pushing the same edit again does not queue it twice.
        assert_eq!(server.count("quarantine").await, 1);

        // A manager of the territory reviews it; an agent may not.
        let (status, _) = quarantine(&server.url, &carla.login.token, "/v1/quarantine", false).await;
        assert_eq!(status, 403);
        let sam = Device::login(&server.url, "sam@x.test").await;
        let (status, list) = quarantine(&server.url, &sam.login.token, "/v1/quarantine", false).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["doc_id"], south[0].to_string());
        let entry = list[0]["id"].as_str().unwrap().to_string();
        let (status, accepted) = quarantine(&server.url, &sam.login.token, &format!("/v1/quarantine/{entry}/accept"), true).await;
        assert_eq!(status, 200, "{accepted}");
        assert_eq!(server.projected("customers", south[0], &["phone"]).await, vec![Some("555".to_string())]);
        let (status, _) = quarantine(&server.url, &sam.login.token, &format!("/v1/quarantine/{entry}/accept"), true).await;
        assert_eq!(status, 409, "decided once");
        carla.sync().await;
        assert_eq!(carla.replica.get(south[0]).await.unwrap().get("phone"), &Value::from("555"));
    }
}

storage_test! {
    async fn records_moving_between_territories_arrive_whole_and_leave(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        server.user("sid@x.test", Role::Agent, &["South"]).await;
        server.user("maria@x.test", Role::Manager, &["North", "South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        let mut sid = server.device("sid@x.test").await;
        let mut maria = server.device("maria@x.test").await;
        let id = carla.replica.create("customer", &customer("Mover", "South")).await.unwrap();
        for i in 0..3 {
            carla.replica.update(id, &[("phone", Value::Str(format!("{i}")))]).await.unwrap();
            carla.sync().await;
        }
        let contact = carla.replica.create("contact", &[("customer_id", id.to_string().as_str().into()), ("name", "Jo".into())]).await.unwrap();
        carla.sync().await;
        anna.sync().await;
        sid.sync().await;
        maria.sync().await;
        assert!(anna.replica.ids().await.unwrap().is_empty());
        assert_eq!(sid.replica.ids().await.unwrap().len(), 2);

        maria.replica.update(id, &[("territory", "North".into())]).await.unwrap();
        assert!(maria.sync().await.rejected.is_empty());
        let report = anna.sync().await;
        assert!(report.evicted.is_empty());
        assert_eq!(anna.replica.heads(id).await, server.heads(id).await, "the whole history arrives");
        assert_eq!(anna.replica.heads(contact).await, server.heads(contact).await, "the contact moves with its customer");
        let report = sid.sync().await;
        assert_eq!(report.evicted.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from([id, contact]));
        // The creator keeps seeing what she created.
        let report = carla.sync().await;
        assert!(!report.evicted.contains(&id));
    }
}

storage_test! {
    async fn verify_detects_divergence(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let id = anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        anna.sync().await;
        let verdict = anna.replica.verify(&anna.client).await.unwrap();
        assert!(verdict.in_sync);
        let digest = verdict.scope_digest;
        let mut heads = anna.replica.heads(id).await;
        assert_eq!(digest, sync_core::digest::scope_digest([(id, heads.as_slice())]));

        anna.replica.update(id, &[("phone", "1".into())]).await.unwrap();
        let local_only = anna.replica.create("customer", &customer("New", "North")).await.unwrap();
        let verdict = anna.replica.verify(&anna.client).await.unwrap();
        assert!(!verdict.in_sync);
        assert_eq!(verdict.differing.len(), 1);
        assert_eq!(verdict.differing[0].id, id);
        heads.sort();
        assert_eq!(verdict.differing[0].heads, heads, "the server's heads are returned");
        assert_eq!(verdict.unknown, vec![local_only]);
        anna.sync().await;
        assert!(anna.replica.verify(&anna.client).await.unwrap().in_sync);
        let request = sync_core::protocol::VerifyRequest { mode: sync_core::protocol::VerifyMode::Scope, scope_digest: Some(digest), docs: vec![] };
        assert!(!anna.client.verify(&request).await.unwrap().in_sync, "a stale scope digest is detected");
    }
}

/// Pulls pages of `limit` until the feed says it is caught up; answers every document update.
async fn pull_to_end(
    client: &Client,
    cursor: &mut Option<serde_bytes::ByteBuf>,
    limit: u32,
) -> Vec<protocol::DocUpdate> {
    let mut docs = Vec::new();
    loop {
        let page = client
            .pull(&PullRequest {
                cursor: cursor.clone(),
                limit: Some(limit),
                checkpoint: 0,
            })
            .await
            .unwrap();
        docs.extend(page.docs);
        *cursor = Some(page.cursor);
        if !page.more {
            return docs;
        }
    }
}

/// [`pull_to_end`], collecting document ids.
async fn drain(
    client: &Client,
    cursor: &mut Option<serde_bytes::ByteBuf>,
    seen: &mut BTreeSet<Uuid>,
    limit: u32,
) {
    let docs = pull_to_end(client, cursor, limit).await;
    seen.extend(docs.iter().map(|d| d.id));
}

storage_test! {
    async fn the_feed_never_skips_a_change_under_concurrent_pushers_and_pullers(db: TestDb) {
        const PUSHERS: usize = 6;
        const RECORDS: usize = 30;
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut pushers = Vec::new();
        for _ in 0..PUSHERS {
            pushers.push(server.device("anna@x.test").await);
        }
        let done = Arc::new(AtomicBool::new(false));
        let mut pullers = Vec::new();
        for _ in 0..3 {
            let puller = server.device("anna@x.test").await;
            let done = done.clone();
            pullers.push(tokio::spawn(async move {
                let mut cursor = None;
                let mut seen = BTreeSet::new();
                // Pull while pushes commit concurrently; a cursor that passed a position must never
                // later miss a change committed below it.
                while !done.load(Ordering::SeqCst) {
                    drain(&puller.client, &mut cursor, &mut seen, 7).await;
                }
                drain(&puller.client, &mut cursor, &mut seen, 7).await;
                seen
            }));
        }
        let tasks: Vec<_> = pushers
            .into_iter()
            .map(|device| {
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..RECORDS {
                        let id = device.replica.create("customer", &customer(&format!("C{i}"), "North")).await.unwrap();
                        let report = device.replica.push(&device.client).await.unwrap();
                        assert!(report.rejected.is_empty());
                        ids.push(id);
                    }
                    ids
                })
            })
            .collect();
        let mut all = BTreeSet::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        done.store(true, Ordering::SeqCst);
        for puller in pullers {
            let seen = puller.await.unwrap();
            assert_eq!(seen.len(), PUSHERS * RECORDS);
            assert_eq!(seen, all, "a puller missed records");
        }
    }
}

storage_test! {
    async fn pages_resume_from_any_cursor(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        for i in 0..25 {
            anna.replica.create("customer", &customer(&format!("C{i}"), "North")).await.unwrap();
        }
        anna.sync().await;
        let reader = server.device("anna@x.test").await;
        let first = reader.client.pull(&PullRequest { cursor: None, limit: Some(10), checkpoint: 0 }).await.unwrap();
        assert_eq!(first.docs.len(), 10);
        assert!(first.more);
        // Reading on from the same cursor twice gives the same page.
        let a = reader.client.pull(&PullRequest { cursor: Some(first.cursor.clone()), limit: Some(10), checkpoint: 0 }).await.unwrap();
        let b = reader.client.pull(&PullRequest { cursor: Some(first.cursor.clone()), limit: Some(10), checkpoint: 0 }).await.unwrap();
        assert_eq!(a, b);
        let mut seen: BTreeSet<Uuid> = first.docs.iter().chain(a.docs.iter()).map(|d| d.id).collect();
        let mut cursor = Some(a.cursor);
        drain(&reader.client, &mut cursor, &mut seen, 10).await;
        assert_eq!(seen, anna.replica.ids().await.unwrap().into_iter().collect());
        // A caught-up cursor gets an empty page.
        let empty = reader.client.pull(&PullRequest { cursor, limit: None, checkpoint: 0 }).await.unwrap();
        assert!(empty.docs.is_empty() && !empty.more);
    }
}

storage_test! {
    async fn a_first_sync_sends_each_record_once_and_whole(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ids = Vec::new();
        for i in 0..12 {
            ids.push(anna.replica.create("customer", &customer(&format!("C{i}"), "North")).await.unwrap());
        }
        anna.sync().await;
        // Every other record gets a later chunk on top of its snapshot: paged by chunk, those would
        // come twice, once with the snapshot and again with the chunk.
        for id in ids.iter().step_by(2) {
            anna.replica.update(*id, &[("phone", "555".into())]).await.unwrap();
        }
        anna.sync().await;

        let reader = server.device("anna@x.test").await;
        let mut cursor = None;
        let entries = pull_to_end(&reader.client, &mut cursor, 5).await;
        assert_eq!(entries.len(), ids.len(), "each record once");
        for doc in &entries {
            assert!(doc.listing.is_some(), "whole, with its listing");
            assert_eq!(doc.heads, server.heads(doc.id).await);
        }
        let got: BTreeSet<Uuid> = entries.iter().map(|d| d.id).collect();
        assert_eq!(got, ids.iter().copied().collect());

        // Caught up, the device follows the ordinary feed: a later edit arrives as its one new chunk.
        anna.replica.update(ids[1], &[("city", "Lyon".into())]).await.unwrap();
        anna.sync().await;
        let page = reader.client.pull(&PullRequest { cursor, limit: Some(5), checkpoint: 0 }).await.unwrap();
        assert_eq!(page.docs.len(), 1);
        assert_eq!((page.docs[0].id, page.docs[0].chunks.len()), (ids[1], 1));
        assert!(!page.more);
    }
}

storage_test! {
    async fn a_page_read_ahead_never_hides_a_change_made_before_it_is_taken(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ids = Vec::new();
        for i in 0..9 {
            ids.push(anna.replica.create("customer", &customer(&format!("C{i}"), "North")).await.unwrap());
        }
        anna.sync().await;

        let reader = server.device("anna@x.test").await;
        let first = reader.client.pull(&PullRequest { cursor: None, limit: Some(3), checkpoint: 0 }).await.unwrap();
        assert!(first.more);
        // The second page is being read ahead; every record, in that page or not, changes before
        // the device asks for it, and one record is new.
        for id in &ids {
            anna.replica.update(*id, &[("phone", "555".into())]).await.unwrap();
        }
        ids.push(anna.replica.create("customer", &customer("late", "North")).await.unwrap());
        anna.sync().await;

        let served_before = server.state.sync.read_ahead.served();
        let mut docs = first.docs;
        docs.extend(pull_to_end(&reader.client, &mut Some(first.cursor), 3).await);
        assert!(server.state.sync.read_ahead.served() > served_before, "the next pages were read ahead");
        // What the device would hold: each record's chunks as received, in order.
        let mut held: std::collections::HashMap<Uuid, automerge::AutoCommit> = Default::default();
        for doc in docs {
            let entry = held.entry(doc.id).or_default();
            for chunk in &doc.chunks {
                entry.load_incremental(chunk).unwrap();
            }
        }
        assert_eq!(held.len(), ids.len());
        for id in &ids {
            let mut heads: Vec<_> = held.get_mut(id).unwrap().get_heads().iter().map(|h| protocol::Hash(h.0)).collect();
            heads.sort_unstable();
            let mut server_heads = server.heads(*id).await;
            server_heads.sort_unstable();
            assert_eq!(heads, server_heads, "record {id} on the device");
        }
    }
}

storage_test! {
    async fn first_syncs_taken_while_devices_push_hold_complete_records(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let done = Arc::new(AtomicBool::new(false));
        let mut pushers = Vec::new();
        for p in 0..4 {
            let device = server.device("anna@x.test").await;
            let done = done.clone();
            pushers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut i = 0;
                while !done.load(Ordering::SeqCst) {
                    if ids.len() < 5 || i % 3 == 0 {
                        ids.push(device.replica.create("customer", &customer(&format!("P{p}-{i}"), "North")).await.unwrap());
                    } else {
                        let id = ids[i % ids.len()];
                        device.replica.update(id, &[("phone", Value::Str(format!("{p}-{i}")))]).await.unwrap();
                    }
                    device.replica.push(&device.client).await.unwrap();
                    i += 1;
                }
            }));
        }
        // Each device's first sync lands while records are being written: a record whose newest
        // chunk is being committed must still arrive with the snapshot it builds on.
        let mut readers = Vec::new();
        for _ in 0..12 {
            let mut reader = server.device("anna@x.test").await;
            // The first sync, and the next one, which reads on from where the first handed over.
            reader.sync().await;
            reader.sync().await;
            for id in reader.replica.ids().await.unwrap() {
                let record = reader.replica.get(id).await;
                assert!(record.is_ok(), "record {id} is incomplete on a fresh device: {record:?}");
            }
            readers.push(reader);
        }
        done.store(true, Ordering::SeqCst);
        for pusher in pushers {
            pusher.await.unwrap();
        }
        for mut reader in readers {
            reader.sync().await;
            for id in reader.replica.ids().await.unwrap() {
                assert_eq!(reader.replica.heads(id).await, server.heads(id).await);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_on_one_postgres_serve_devices_correctly() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // Create the schema and the users through one in-process server, then run two real processes.
    let setup = TestServer::start(&db).await;
    setup.user("anna@x.test", Role::Agent, &["North"]).await;
    setup.user("ben@x.test", Role::Agent, &["North"]).await;
    let program = env!("CARGO_BIN_EXE_e2e-server");
    let (a, b) = (
        ServerProcess::start(program, &db.url, Some(&db.key_file)),
        ServerProcess::start(program, &db.url, Some(&db.key_file)),
    );
    a.ready().await;
    b.ready().await;
    let mut anna = Device::login(&a.url, "anna@x.test").await;
    let mut ben = Device::login(&b.url, "ben@x.test").await;
    let shared = anna
        .replica
        .create("customer", &customer("Shared", "North"))
        .await
        .unwrap();
    anna.sync().await;
    ben.sync().await;
    // Both devices edit concurrently through different processes, many rounds.
    let (a_task, b_task) = (
        tokio::spawn(async move {
            for i in 0..15 {
                anna.replica
                    .update(shared, &[("phone", Value::Str(format!("a{i}")))])
                    .await
                    .unwrap();
                anna.replica
                    .create("customer", &customer(&format!("A{i}"), "North"))
                    .await
                    .unwrap();
                anna.sync().await;
            }
            anna
        }),
        tokio::spawn(async move {
            for i in 0..15 {
                ben.replica
                    .update(shared, &[("city", Value::Str(format!("b{i}")))])
                    .await
                    .unwrap();
                ben.replica
                    .create("customer", &customer(&format!("B{i}"), "North"))
                    .await
                    .unwrap();
                ben.sync().await;
            }
            ben
        }),
    );
    let (anna, mut ben) = (a_task.await.unwrap(), b_task.await.unwrap());
    // A token from one process works on the other: nothing lives in a process.
    let mut anna_on_b = Device {
        client: Client::new(&b.url).with_token(anna.login.token.clone()),
        ..anna
    };
    anna_on_b.sync().await;
    ben.sync().await;
    anna_on_b.sync().await;
    assert_eq!(anna_on_b.replica.ids().await.unwrap().len(), 31);
    assert_eq!(ben.replica.ids().await.unwrap().len(), 31);
    for id in anna_on_b.replica.ids().await.unwrap() {
        assert_eq!(
            anna_on_b.replica.heads(id).await,
            ben.replica.heads(id).await
        );
        assert_eq!(anna_on_b.replica.heads(id).await, setup.heads(id).await);
    }
    let merged = anna_on_b.replica.get(shared).await.unwrap();
    assert_eq!(merged.get("phone"), &Value::from("a14"));
    assert_eq!(merged.get("city"), &Value::from("b14"));
}

storage_test! {
    async fn pages_are_compressed_for_devices_that_ask_and_errors_stay_readable(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        for i in 0..200 {
            anna.replica.create("customer", &customer(&format!("Customer {i}"), "North")).await.unwrap();
        }
        anna.sync().await;

        let http = reqwest::Client::new();
        let pull = |encoding: Option<&'static str>| {
            let mut request = http
                .post(format!("{}/v1/sync/pull", server.url))
                .bearer_auth(&anna.login.token)
                .header("content-type", CONTENT_TYPE)
                .header(VERSION_HEADER, protocol::PROTOCOL_VERSION.to_string())
                .body(protocol::encode(&PullRequest::default()));
            if let Some(encoding) = encoding {
                request = request.header("accept-encoding", encoding);
            }
            request.send()
        };
        let limits = Limits { max_message_bytes: usize::MAX, ..Limits::default() };
        let plain = pull(None).await.unwrap();
        assert!(plain.headers().get("content-encoding").is_none(), "plain unless asked");
        let plain = plain.bytes().await.unwrap();
        let plain: PullResponse = protocol::decode(&plain, &limits).unwrap();
        let packed = pull(Some("zstd")).await.unwrap();
        assert_eq!(packed.headers()["content-encoding"], "zstd");
        let packed = packed.bytes().await.unwrap();
        let unpacked = zstd::stream::decode_all(&packed[..]).unwrap();
        let decoded: PullResponse = protocol::decode(&unpacked, &limits).unwrap();
        assert_eq!(decoded.docs, plain.docs, "the same page, only smaller");
        assert_eq!(decoded.docs.len(), 200);
        assert!(packed.len() * 2 < unpacked.len(), "{} bytes compressed from {}", packed.len(), unpacked.len());

        // The SDK asks for compression, counts the bytes that crossed the network, and still reads
        // the server's JSON errors, which are compressed too.
        let fresh = server.device("anna@x.test").await;
        let page = fresh.client.pull(&PullRequest::default()).await.unwrap();
        assert_eq!(page.docs, plain.docs);
        assert_eq!(fresh.client.traffic().1, packed.len() as u64);
        let junk = PullRequest { cursor: Some(serde_bytes::ByteBuf::from(vec![0xc1; 64])), ..PullRequest::default() };
        assert_eq!(fresh.client.pull(&junk).await.unwrap_err().code(), Some("invalid_cursor"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_tables_statistics_are_refreshed_after_a_bulk_load_on_postgres() {
    use sea_orm::{ConnectionTrait, Statement};
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let server = TestServer::start(&db).await;
    let conn = &server.state.db.conn;
    // Autovacuum must not analyse the table first, or this would pass without `refresh`.
    conn.execute_unprepared("ALTER TABLE documents SET (autovacuum_enabled = false)")
        .await
        .unwrap();
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    let mut anna = server.device("anna@x.test").await;
    for i in 0..120 {
        anna.replica
            .create("customer", &customer(&format!("C{i}"), "North"))
            .await
            .unwrap();
    }
    anna.sync().await;
    let state = |sql: &'static str| async move {
        let row = conn
            .query_one(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<bool>("", "v").unwrap()
    };
    // PostgreSQL's counters reach pg_stat_user_tables within a second or two of the writes. (The
    // server's own refresher may analyse the table meanwhile: that is the code under test too.)
    let mut seen = false;
    for _ in 0..100 {
        seen = state(
            "SELECT (n_mod_since_analyze > 50 + 0.1 * n_live_tup OR last_analyze IS NOT NULL) AS v \
             FROM pg_stat_user_tables WHERE relname = 'documents'",
        )
        .await;
        if seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        seen,
        "the writes never reached PostgreSQL's statistics counters"
    );
    fieldsync_server::db::statistics::refresh(conn)
        .await
        .unwrap();
    assert!(
        state(
            "SELECT (last_analyze IS NOT NULL AND n_mod_since_analyze <= 50 + 0.1 * n_live_tup) AS v \
             FROM pg_stat_user_tables WHERE relname = 'documents'",
        )
        .await,
        "documents analysed"
    );
}

/// On PostgreSQL, pushes commit out of the order of their feed positions (they reserve positions
/// rather than lock the counter until commit): a push that commits while an earlier reservation's
/// transaction still runs must not be read past, or a device would step over whatever that
/// transaction commits below it. A reservation whose transaction rolled back holds nothing back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feed_waits_for_a_running_push_below_a_committed_one_on_postgres() {
    use fieldsync_server::db::positions::{committed_seq, forget_finished};
    use sea_orm::ConnectionTrait;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let server = TestServer::start(&db).await;
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    let mut anna = server.device("anna@x.test").await;
    let reader = server.device("anna@x.test").await;
    let conn = &server.state.db.conn;
    let mut cursor = None;
    assert!(pull_to_end(&reader.client, &mut cursor, 10)
        .await
        .is_empty());

    // A write transaction takes its positions and is still running...
    let running = server.state.db.begin_write().await.unwrap();
    let held = running.allocate_seq(3).await.unwrap();
    assert_eq!(committed_seq(conn).await.unwrap(), held - 1);
    // ...when a device's push takes later positions and commits.
    let id = anna
        .replica
        .create("customer", &customer("After", "North"))
        .await
        .unwrap();
    let pushed = anna.replica.push(&anna.client).await.unwrap();
    assert!(pushed.rejected.is_empty());
    assert!(!server.heads(id).await.is_empty(), "the push committed");
    assert_eq!(committed_seq(conn).await.unwrap(), held - 1);
    assert!(
        pull_to_end(&reader.client, &mut cursor, 10)
            .await
            .is_empty(),
        "the reader waits below the running transaction's positions"
    );

    // Once it commits, the reader goes on and gets the push.
    running.commit().await.unwrap();
    assert!(committed_seq(conn).await.unwrap() >= held + 3);
    let docs = pull_to_end(&reader.client, &mut cursor, 10).await;
    assert_eq!(docs.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);

    // A transaction that rolls back leaves unused positions and holds nothing back.
    let aborted = server.state.db.begin_write().await.unwrap();
    let gap = aborted.allocate_seq(2).await.unwrap();
    drop(aborted);
    anna.replica
        .update(id, &[("phone", "555".into())])
        .await
        .unwrap();
    anna.sync().await;
    let mut tries = 0;
    while committed_seq(conn).await.unwrap() < gap + 2 {
        // The rollback reaches PostgreSQL when its connection goes back to the pool.
        tries += 1;
        assert!(
            tries < 200,
            "a rolled-back reservation still holds the feed back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let docs = pull_to_end(&reader.client, &mut cursor, 10).await;
    assert_eq!(docs.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(
        forget_finished(conn).await.unwrap(),
        1,
        "the rolled-back reservation"
    );
    assert_eq!(forget_finished(conn).await.unwrap(), 0);

    // A push stuck inside its transaction would hold every reader back: PostgreSQL ends it.
    let timeout = conn
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SHOW idle_in_transaction_session_timeout",
        ))
        .await
        .unwrap()
        .unwrap();
    let timeout: String = timeout
        .try_get("", "idle_in_transaction_session_timeout")
        .unwrap();
    assert_eq!(timeout, "1min");
}

/// Pulls every page from the start with the largest page limit; each page's chunk bytes.
async fn page_sizes(
    device: &fieldsync_e2e::Device,
    cursor: Option<serde_bytes::ByteBuf>,
) -> (Vec<(usize, usize)>, serde_bytes::ByteBuf) {
    let mut cursor = cursor;
    let mut pages = Vec::new();
    loop {
        let page = device
            .client
            .pull(&PullRequest {
                cursor: cursor.clone(),
                limit: Some(protocol_max_page()),
                checkpoint: 0,
            })
            .await
            .unwrap();
        let bytes: usize = page
            .docs
            .iter()
            .flat_map(|d| d.chunks.iter())
            .map(|c| c.len())
            .sum();
        pages.push((page.docs.len(), bytes));
        cursor = Some(page.cursor);
        if !page.more {
            return (pages, cursor.unwrap());
        }
    }
}

fn protocol_max_page() -> u32 {
    fieldsync_server::sync::feed::MAX_PAGE
}

storage_test! {
    /// 300 records of about 40 KB stored: a first sync's pages and the feed's pages after every record
    /// changed stop at about 8 MiB (before the next record), however many records the page limit
    /// allows, and together carry every record.
    async fn pages_are_bounded_by_bytes_as_well_as_records(db: TestDb) {
        use fieldsync_server::sync::feed::MAX_PAGE_BYTES;
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let writer = server.device("anna@x.test").await;
        let ids = fieldsync_e2e::push_incompressible(&writer, 300, "North").await;
        let reader = server.device("anna@x.test").await;
        let (first_sync, cursor) = page_sizes(&reader, None).await;
        assert!(first_sync.len() >= 2, "{first_sync:?}");
        assert_eq!(first_sync.iter().map(|(docs, _)| docs).sum::<usize>(), 300);
        for (_, bytes) in &first_sync {
            assert!(*bytes <= MAX_PAGE_BYTES + 100_000, "{first_sync:?}");
        }
        // 300 more such records: the ordinary feed's pages (the reader has caught up) are bounded too.
        assert_eq!(ids.len(), 300);
        let more = fieldsync_e2e::push_incompressible(&writer, 300, "North").await;
        let (feed, _) = page_sizes(&reader, Some(cursor)).await;
        assert!(feed.len() >= 2, "{feed:?}");
        assert_eq!(feed.iter().map(|(docs, _)| docs).sum::<usize>(), more.len());
        for (_, bytes) in &feed {
            assert!(*bytes <= MAX_PAGE_BYTES + 100_000, "{feed:?}");
        }
    }
}
