//! Crash and fault tests: the server process killed with SIGKILL while devices push, PostgreSQL
//! backends terminated mid-transaction, network faults between device and server, and document
//! bombs. In each, every change a device saw
//! acknowledged must be in the database, nothing may be applied twice, and everyone must converge.
//!
//! `FIELDSYNC_FAULT_ROUNDS` sets how many kills or terminations a run makes (default 4 server kills,
//! 40 backend terminations); TESTING.md gives the long form and its figures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldsync_e2e::proxy::{Fault, FaultProxy};
use fieldsync_e2e::{customer, storage_test, Device, ServerProcess, TestDb, TestServer};
use fieldsync_sdk::{Client, RetryPolicy};
use sea_orm::{ConnectionTrait, Database, Statement};
use sync_core::protocol::{DocPush, Hash, PushRequest, PushStatus};
use sync_core::{Role, Value};
use tokio::sync::watch;
use uuid::Uuid;

fn rounds(default: usize) -> usize {
    std::env::var("FIELDSYNC_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Short retries: a device whose server is gone gives up this round and tries again in the next.
fn client(url: &str, token: &str) -> Client {
    Client::new(url)
        .with_token(token.to_string())
        .with_retry(RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(50),
            max: Duration::from_millis(500),
        })
}

/// What the devices of a fleet saw acknowledged, and how many changes they made in all.
#[derive(Default)]
struct Ledger {
    /// The changes of each record the server acknowledged to a device after a complete sync.
    acked: Mutex<BTreeMap<Uuid, BTreeSet<Hash>>>,
    changes_made: AtomicUsize,
    created: Mutex<BTreeSet<Uuid>>,
    syncs_ok: AtomicUsize,
    syncs_failed: AtomicUsize,
}

/// One device's loop: edit, sync, remember what was acknowledged; follow the server to a new address.
async fn work(
    mut device: Device,
    n: usize,
    mut url: watch::Receiver<String>,
    stop: Arc<AtomicBool>,
    ledger: Arc<Ledger>,
) -> Device {
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        if url.has_changed().unwrap_or(false) {
            device.client = client(&url.borrow_and_update(), &device.login.token);
        }
        // Customers only: the server's rules add conflict records that the device receives too.
        let ids = device.replica.ids_of("customer").await.unwrap();
        if ids.len() < 2 || i.is_multiple_of(7) {
            let id = device
                .replica
                .create("customer", &customer(&format!("D{n}-{i}"), "North"))
                .await
                .unwrap();
            ledger.created.lock().unwrap().insert(id);
        } else {
            let id = ids[(i * 31 + n) % ids.len()];
            let field = ["phone", "city", "notes"][i % 3];
            device
                .replica
                .update(id, &[(field, Value::Str(format!("{field} {n}-{i}")))])
                .await
                .unwrap();
        }
        ledger.changes_made.fetch_add(1, Ordering::SeqCst);
        i += 1;
        match device.replica.sync(&device.client).await {
            Ok(report) => {
                assert!(report.rejected.is_empty(), "{:?}", report.rejected);
                ledger.syncs_ok.fetch_add(1, Ordering::SeqCst);
                if report.missing_dependencies.is_empty() {
                    let mut acked = Vec::new();
                    for id in device.replica.ids().await.unwrap() {
                        acked.push((id, device.replica.heads(id).await));
                    }
                    let mut ledger = ledger.acked.lock().unwrap();
                    for (id, heads) in acked {
                        ledger.entry(id).or_default().extend(heads);
                    }
                }
            }
            Err(e) => {
                assert!(e.is_transient(), "a sync failed for good: {e}");
                ledger.syncs_failed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    device
}

/// Every acknowledged change is in the database.
async fn check_acked(inspect: &TestServer, acked: &BTreeMap<Uuid, BTreeSet<Hash>>) {
    for (id, heads) in acked {
        let mut doc = fieldsync_server::sync::docstore::load(
            &inspect.state.db.conn,
            inspect.state.db.vault(),
            *id,
        )
        .await
        .expect("load")
        .unwrap();
        for h in heads {
            assert!(
                doc.get_change_by_hash(&automerge::ChangeHash(h.0))
                    .is_some(),
                "an acknowledged change {h} of {id} is lost"
            );
        }
    }
}

/// After the faults: every device syncs until quiet, and all of them and the server hold the same
/// documents, with each change made exactly once.
async fn check_converged(inspect: &TestServer, url: &str, devices: &mut [Device], ledger: &Ledger) {
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.client = client(url, &d.login.token);
            let report = sync_once_quiet(d).await;
            assert!(report.rejected.is_empty() && report.missing_dependencies.is_empty());
        }
    }
    let created = ledger.created.lock().unwrap().clone();
    // Customers: the server's rules add conflict records of their own besides.
    let conn = &inspect.state.db.conn;
    let documents: i64 = conn
        .query_one(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM documents WHERE kind = 'customer'".to_string(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(
        documents as usize,
        created.len(),
        "a record is missing or doubled"
    );
    assert_eq!(inspect.count("customers").await as usize, created.len());
    let mut changes = 0;
    for id in &created {
        let heads = inspect.heads(*id).await;
        for d in devices.iter() {
            assert_eq!(
                d.replica.heads(*id).await,
                heads,
                "a device differs on {id}"
            );
            assert_eq!(d.replica.outbox_len().await.unwrap(), 0);
        }
        let mut doc = fieldsync_server::sync::docstore::load(
            &inspect.state.db.conn,
            inspect.state.db.vault(),
            *id,
        )
        .await
        .unwrap()
        .unwrap();
        changes += doc.get_changes(&[]).len();
    }
    assert_eq!(
        changes,
        ledger.changes_made.load(Ordering::SeqCst),
        "the server holds every change made, once"
    );
    let acked = ledger.acked.lock().unwrap().clone();
    check_acked(inspect, &acked).await;
}

/// A sync right after the faults stop, retried as a device's sync job would while the server still
/// answers a transient failure (a pooled connection cut by the last fault, a device over its rate);
/// any other failure, or one that lasts, is the test's.
async fn sync_once_quiet(d: &mut Device) -> fieldsync_sdk::SyncReport {
    let mut attempts = 0;
    loop {
        match d.replica.sync(&d.client).await {
            Ok(report) => return report,
            Err(e) if e.is_transient() && attempts < 5 => {
                attempts += 1;
                eprintln!("a sync after the faults failed and is retried: {e}");
                tokio::time::sleep(Duration::from_millis(200 * attempts)).await;
            }
            Err(e) => panic!("a sync after the faults failed: {e}"),
        }
    }
}

struct Fleet {
    stop: Arc<AtomicBool>,
    ledger: Arc<Ledger>,
    url: watch::Sender<String>,
    tasks: Vec<tokio::task::JoinHandle<Device>>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Four durable devices of two agents, working against `url` until stopped.
async fn fleet(inspect: &TestServer, url: &str) -> Fleet {
    inspect.user("anna@x.test", Role::Agent, &["North"]).await;
    inspect.user("ben@x.test", Role::Agent, &["North"]).await;
    let (tx, _) = watch::channel(url.to_string());
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Ledger::default());
    let mut dirs = Vec::new();
    let mut tasks = Vec::new();
    for n in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let email = if n % 2 == 0 {
            "anna@x.test"
        } else {
            "ben@x.test"
        };
        let mut device = Device::login_durable(url, email, dir.path()).await;
        device.client = client(url, &device.login.token);
        tasks.push(tokio::spawn(work(
            device,
            n,
            tx.subscribe(),
            stop.clone(),
            ledger.clone(),
        )));
        dirs.push(dir);
    }
    Fleet {
        stop,
        ledger,
        url: tx,
        tasks,
        _dirs: dirs,
    }
}

impl Fleet {
    async fn finish(self) -> (Vec<Device>, Arc<Ledger>, Vec<tempfile::TempDir>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut devices = Vec::new();
        for t in self.tasks {
            devices.push(t.await.expect("device task"));
        }
        (devices, self.ledger, self._dirs)
    }
}

storage_test! {
    async fn the_server_killed_repeatedly_while_devices_push_loses_nothing(db: TestDb) {
        let program = env!("CARGO_BIN_EXE_e2e-server");
        // An in-process server for setup and for reading the database; devices talk to the process.
        let inspect = TestServer::start(&db).await;
        let mut process = ServerProcess::start(program, &db.url, Some(&db.key_file));
        process.ready().await;
        let fleet = fleet(&inspect, &process.url).await;
        let kills = rounds(4);
        for k in 0..kills {
            tokio::time::sleep(Duration::from_millis(300 + 170 * (k as u64 % 4))).await;
            let acked_before = fleet.ledger.acked.lock().unwrap().clone();
            // Dropping a ServerProcess sends SIGKILL: no graceful shutdown, transactions cut anywhere.
            drop(process);
            process = ServerProcess::start(program, &db.url, Some(&db.key_file));
            process.ready().await;
            check_acked(&inspect, &acked_before).await;
            fleet.url.send_replace(process.url.clone());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (mut devices, ledger, _dirs) = fleet.finish().await;
        check_converged(&inspect, &process.url, &mut devices, &ledger).await;
        eprintln!(
            "{kills} kills: {} changes, {} syncs ok, {} failed and retried",
            ledger.changes_made.load(Ordering::SeqCst),
            ledger.syncs_ok.load(Ordering::SeqCst),
            ledger.syncs_failed.load(Ordering::SeqCst)
        );
        assert!(ledger.syncs_ok.load(Ordering::SeqCst) > kills, "devices made progress between kills");
    }
}

/// PostgreSQL only: SQLite has no server process whose connections could be cut; a killed SQLite
/// writer is the server-kill test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_connections_terminated_mid_transaction_lose_nothing() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let server = TestServer::start(&db).await;
    let fleet = fleet(&server, &server.url).await;
    let killer = Database::connect(&db.url).await.unwrap();
    let name = db.url.rsplit_once('/').unwrap().1.to_string();
    let (mut terminated, mut busy) = (0i64, 0i64);
    let terminations = rounds(40);
    for k in 0..terminations {
        tokio::time::sleep(Duration::from_millis(10 + (k as u64 * 37) % 60)).await;
        // Every backend of the server's pool, and how many of them were inside a query or a
        // transaction when cut. What was acknowledged is checked once the faults stop, as the
        // checks read through the same pool.
        let row = killer
            .query_one(Statement::from_string(
                killer.get_database_backend(),
                format!(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n, \
                     count(*) FILTER (WHERE state <> 'idle') AS busy \
                     FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        terminated += row.try_get::<i64>("", "n").unwrap();
        busy += row.try_get::<i64>("", "busy").unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut devices, ledger, _dirs) = fleet.finish().await;
    check_converged(&server, &server.url, &mut devices, &ledger).await;
    eprintln!(
        "{terminations} rounds: {terminated} backends terminated, {busy} of them mid-query or mid-transaction; {} changes, {} syncs ok, {} failed and retried",
        ledger.changes_made.load(Ordering::SeqCst),
        ledger.syncs_ok.load(Ordering::SeqCst),
        ledger.syncs_failed.load(Ordering::SeqCst)
    );
    assert!(terminated > 0 && busy > 0, "the faults hit nothing");
}

/// Text that does not compress, so each edit really grows the document.
fn noise(chars: usize) -> String {
    let mut s = String::new();
    while s.len() < chars {
        s.push_str(&Uuid::new_v4().simple().to_string());
    }
    s.truncate(chars);
    s
}

storage_test! {
    async fn document_bombs_are_refused_and_others_keep_syncing(db: TestDb) {
        let mut settings = db.settings();
        // Small caps keep the test quick; the defaults are checked against real records in
        // sync-core's fuzz tests.
        settings.limits.max_doc_bytes = 16 << 10;
        settings.limits.max_ops_per_change = 5_000;
        let server = TestServer::start_with(settings).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;

        // A change of 6,000 operations: a new record whose notes are one long text.
        let mut bomb = sync_core::record::create(sync_core::kinds::get("customer").unwrap(), anna.replica.actor().unwrap(), &customer("Bomb", "North")).unwrap();
        let notes = match automerge::ReadDoc::get(&bomb, automerge::ROOT, "notes").unwrap() {
            Some((_, id)) => id,
            None => panic!("a customer has notes"),
        };
        automerge::transaction::Transactable::splice_text(&mut bomb, &notes, 0, 0, &"x".repeat(6_000)).unwrap();
        let changes = bomb.get_changes(&[]).into_iter().map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec())).collect();
        let bomb_id = Uuid::now_v7();
        let push = PushRequest { docs: vec![DocPush { id: bomb_id, kind: "customer".into(), base_heads: vec![], changes, group: None }], checkpoint: 0 };
        // Another device's push runs at the same time and succeeds.
        let theirs = ben.replica.create("customer", &customer("Quiet", "North")).await.unwrap();
        let (bombed, quiet) = tokio::join!(anna.client.push(&push), ben.replica.sync(&ben.client));
        let result = &bombed.unwrap().results[0];
        assert_eq!(result.status, PushStatus::Rejected);
        assert_eq!(result.reason.as_ref().unwrap().code, "too_many_operations");
        assert!(quiet.unwrap().rejected.is_empty());
        assert_eq!(server.count("documents").await, 1, "only the quiet record was stored");
        assert!(!server.heads(theirs).await.is_empty());

        // A record grown edit by edit until it would pass the size cap: the edit that would pass it
        // is refused, the stored record stays as it was, and other records still sync.
        let id = anna.replica.create("customer", &customer("Growing", "North")).await.unwrap();
        anna.sync().await;
        let mut refused = None;
        for _ in 0..20 {
            anna.replica.update(id, &[("notes", Value::Str(noise(3_000)))]).await.unwrap();
            let before = server.heads(id).await;
            let report = anna.sync().await;
            if let Some((rid, reason)) = report.rejected.first() {
                assert_eq!(*rid, id);
                assert_eq!(server.heads(id).await, before, "a refused edit wrote nothing");
                refused = Some(reason.code.clone());
                break;
            }
        }
        assert_eq!(refused.as_deref(), Some("document_too_large"));
        let stored: i64 = {
            use sea_orm::EntityTrait;
            fieldsync_server::db::entities::document::Entity::find_by_id(id).one(&server.state.db.conn).await.unwrap().unwrap().chunk_bytes
        };
        assert!(stored <= 16 << 10, "{stored} bytes stored");
        let other = ben.replica.create("customer", &customer("Still fine", "North")).await.unwrap();
        assert!(ben.sync().await.rejected.is_empty());
        assert!(!server.heads(other).await.is_empty());
        assert_eq!(server.count("documents").await, 3);
    }
}

/// A new customer's changes: its creation, then `edits` changes that each type `chars` characters
/// into its notes, as raw bytes (compressed as automerge compresses them).
fn typed_customer(
    device: &Device,
    name: &str,
    edits: usize,
    chars: usize,
) -> Vec<serde_bytes::ByteBuf> {
    let mut doc = sync_core::record::create(
        sync_core::kinds::get("customer").unwrap(),
        device.replica.actor().unwrap(),
        &customer(name, "North"),
    )
    .unwrap();
    let notes = automerge::ReadDoc::get(&doc, automerge::ROOT, "notes")
        .unwrap()
        .unwrap()
        .1;
    for _ in 0..edits {
        automerge::transaction::Transactable::splice_text(
            &mut doc,
            &notes,
            0,
            0,
            &"x".repeat(chars),
        )
        .unwrap();
        doc.commit();
    }
    doc.get_changes(&[])
        .into_iter()
        .map(|mut c| serde_bytes::ByteBuf::from(c.bytes().to_vec()))
        .collect()
}

storage_test! {
    /// What a push costs the server to hold and merge is bounded by what its changes inflate to and
    /// by the operations of each record, not only by the bytes of its body.
    async fn pushes_that_inflate_or_pile_up_operations_past_their_bounds_are_refused(db: TestDb) {
        let mut settings = db.settings();
        settings.limits.max_ops_per_change = 5_000;
        settings.limits.max_ops_per_doc = 8_000;
        settings.limits.max_push_inflated_bytes = 256 << 10;
        let server = TestServer::start_with(settings).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let doc = |changes| DocPush { id: Uuid::now_v7(), kind: "customer".into(), base_heads: vec![], changes, group: None };

        // Two changes of 4,000 operations each are each under the change's cap; together they pass
        // the record's. That record alone is refused; the other record of the push is stored.
        let piled = doc(typed_customer(&anna, "Piled", 2, 4_000));
        let fine = doc(typed_customer(&anna, "Fine", 1, 100));
        let push = PushRequest { docs: vec![piled.clone(), fine.clone()], checkpoint: 0 };
        let results = anna.client.push(&push).await.unwrap().results;
        assert_eq!(results[0].status, PushStatus::Rejected);
        let reason = results[0].reason.as_ref().unwrap();
        assert_eq!(reason.code, "too_many_operations", "{}", reason.message);
        assert_eq!(results[1].status, PushStatus::Applied);
        assert_eq!(server.count("documents").await, 1);

        // Forty records that each compress to little but inflate to about 8 KiB: the whole push is
        // refused before its changes are held, and nothing of it is stored.
        let docs: Vec<DocPush> = (0..40).map(|i| doc(typed_customer(&anna, &format!("Big {i}"), 2, 3_900))).collect();
        let body = sync_core::protocol::encode(&PushRequest { docs: docs.clone(), checkpoint: 0 });
        assert!(body.len() < 64 << 10, "the push is small on the wire: {} bytes", body.len());
        let err = anna.client.push(&PushRequest { docs, checkpoint: 0 }).await.unwrap_err();
        assert!(matches!(err, fieldsync_sdk::Error::Server { status: 413, .. }), "{err}");
        assert_eq!(err.code(), Some("too_large"));
        assert_eq!(server.count("documents").await, 1, "a refused push stored nothing");
    }
}

storage_test! {
    async fn network_faults_are_retried_and_nothing_is_applied_twice(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let proxy = FaultProxy::start(&server.url).await;
        let mut anna = Device::login(&proxy.url, "anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let stall = Fault::Stall(Duration::from_millis(200));
        // Each script hits a sync's push (its first request) or, after a Pass, its pull; some hit
        // the retry of a failed request too.
        let scripts: Vec<Vec<Fault>> = vec![
            vec![Fault::DropMidBody],
            vec![stall],
            vec![Fault::Duplicate],
            vec![Fault::LoseResponse],
            vec![Fault::LoseResponse, Fault::LoseResponse],
            vec![Fault::Duplicate, Fault::DropMidBody, stall],
            vec![Fault::Pass, Fault::LoseResponse],
            vec![Fault::Pass, Fault::DropMidBody, Fault::Duplicate],
        ];
        let mut made = 0;
        let mut ids = Vec::new();
        for (round, script) in scripts.iter().enumerate() {
            if round.is_multiple_of(3) {
                ids.push(anna.replica.create("customer", &customer(&format!("C{round}"), "North")).await.unwrap());
            } else {
                anna.replica.update(ids[round % ids.len()], &[("phone", Value::Str(format!("{round}")))]).await.unwrap();
            }
            made += 1;
            proxy.inject(script.iter().copied());
            let report = anna.sync().await;
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            assert_eq!(proxy.pending(), 0, "every fault of round {round} was applied");
            assert_eq!(anna.replica.outbox_len().await.unwrap(), 0);
        }
        // A lost answer or a duplicate means the server did the work: the device's retry then finds
        // it already done.
        let log = proxy.log();
        assert_eq!(log.applied.len(), scripts.iter().flatten().filter(|f| **f != Fault::Pass).count());
        for (fault, statuses) in &log.applied {
            if matches!(fault, Fault::LoseResponse | Fault::Duplicate) {
                assert!(statuses.iter().all(|s| s.contains(" 200 ")), "{fault:?}: {statuses:?}");
            }
        }
        ben.sync().await;
        ben.replica.update(ids[0], &[("city", "Oslo".into())]).await.unwrap();
        made += 1;
        ben.sync().await;
        anna.sync().await;
        assert_eq!(server.count("documents").await as usize, ids.len());
        let mut stored = 0;
        for id in &ids {
            assert_eq!(anna.replica.heads(*id).await, server.heads(*id).await);
            assert_eq!(ben.replica.heads(*id).await, server.heads(*id).await);
            stored += fieldsync_server::sync::docstore::load(&server.state.db.conn, server.state.db.vault(), *id).await.unwrap().unwrap().get_changes(&[]).len();
        }
        assert_eq!(stored, made, "every change stored once");
        assert_eq!(anna.replica.get(ids[0]).await.unwrap().get("city"), &Value::from("Oslo"));
    }
}

storage_test! {
    async fn a_device_offline_through_every_compaction_rejoins_with_its_edits(db: TestDb) {
        // Extends merge.rs's one-record compaction test: many records, each compacted several
        // times, a server restart, new records and edits made offline, and the app restarted.
        let mut server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let dir = tempfile::tempdir().unwrap();
        let mut busy = server.device("anna@x.test").await;
        let mut ids = Vec::new();
        for i in 0..12 {
            ids.push(busy.replica.create("customer", &customer(&format!("C{i}"), "North")).await.unwrap());
        }
        busy.sync().await;
        let mut away = Device::login_durable(&server.url, "anna@x.test", dir.path()).await;
        away.sync().await;
        for id in &ids[..4] {
            away.replica.update(*id, &[("city", Value::Str(format!("away {id}")))]).await.unwrap();
        }
        let mine = away.replica.create("customer", &customer("Made offline", "North")).await.unwrap();
        for round in 0..3 * fieldsync_server::sync::decide::COMPACT_AFTER_CHUNKS {
            for id in &ids {
                busy.replica.update(*id, &[("phone", Value::Str(format!("{round}")))]).await.unwrap();
            }
            busy.sync().await;
            if round == 10 {
                server.stop().await;
                server = TestServer::start(&db).await;
                busy.connect(&server.url);
            }
        }
        assert!(server.count("doc_chunks").await <= ids.len() as i64 * i64::from(fieldsync_server::sync::decide::COMPACT_AFTER_CHUNKS));
        away = away.reopen(dir.path()).await;
        away.connect(&server.url);
        let report = away.sync().await;
        assert!(report.rejected.is_empty() && report.evicted.is_empty());
        busy.sync().await;
        for id in ids.iter().chain([&mine]) {
            assert_eq!(away.replica.heads(*id).await, server.heads(*id).await);
            assert_eq!(busy.replica.heads(*id).await, server.heads(*id).await);
        }
        for id in &ids[..4] {
            assert_eq!(busy.replica.get(*id).await.unwrap().get("city"), &Value::Str(format!("away {id}")));
            assert_eq!(away.replica.get(*id).await.unwrap().get("phone"), &Value::from("29"));
        }
        assert_eq!(busy.replica.get(mine).await.unwrap().get("name"), &Value::from("Made offline"));
    }
}

storage_test! {
    async fn quarantined_edits_can_be_rejected_and_stay_unapplied(db: TestDb) {
        // feed.rs covers a quarantined edit that a manager accepts; this is the reject side, for a
        // device restarted while it held the edits, with two records.
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North", "South"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        let mut carla = server.device("carla@x.test").await;
        let a = carla.replica.create("customer", &customer("A", "South")).await.unwrap();
        let b = carla.replica.create("customer", &customer("B", "South")).await.unwrap();
        carla.sync().await;
        let dir = tempfile::tempdir().unwrap();
        let mut anna = Device::login_durable(&server.url, "anna@x.test", dir.path()).await;
        anna.sync().await;
        anna.replica.update(a, &[("phone", "111".into())]).await.unwrap();
        anna.replica.update(b, &[("phone", "222".into())]).await.unwrap();
        fieldsync_server::auth::users::revoke_territory(&server.state.db, anna_id, "South").await.unwrap();
        anna = anna.reopen(dir.path()).await;
        let report = anna.sync().await;
        assert_eq!(report.quarantined.iter().copied().collect::<BTreeSet<_>>(), [a, b].into_iter().collect());
        assert!(anna.replica.ids().await.unwrap().is_empty(), "evicted once handed in");

        let sam = server.device("sam@x.test").await;
        let http = reqwest::Client::new();
        let list: serde_json::Value = http.get(format!("{}/v1/quarantine", server.url)).bearer_auth(&sam.login.token).send().await.unwrap().json().await.unwrap();
        let entry = |doc: Uuid| list.as_array().unwrap().iter().find(|e| e["doc_id"] == doc.to_string()).unwrap()["id"].as_str().unwrap().to_string();
        let decide = |entry: String, verb: &'static str| {
            let request = http.post(format!("{}/v1/quarantine/{entry}/{verb}", server.url)).bearer_auth(sam.login.token.clone());
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(decide(entry(a), "reject").await, 200);
        assert_eq!(decide(entry(b), "accept").await, 200);
        assert_eq!(decide(entry(a), "accept").await, 409, "a rejected entry stays rejected");
        assert_eq!(server.projected("customers", a, &["phone"]).await, vec![None]);
        assert_eq!(server.projected("customers", b, &["phone"]).await, vec![Some("222".to_string())]);
        carla.sync().await;
        assert!(carla.replica.get(a).await.unwrap().get("phone").is_null());
        assert_eq!(carla.replica.get(b).await.unwrap().get("phone"), &Value::from("222"));
    }
}
