//! Backups and restores. The database is backed up while the server runs, devices go on working,
//! the database is restored from the backup, and every device notices that the server went back in
//! time and pushes again what it had lost: nothing entered after the backup is lost, nothing is
//! stored twice. The backup and restore run the real `fieldsync-server backup` / `restore` commands
//! (VACUUM INTO and a file copy on SQLite, pg_dump and pg_restore on PostgreSQL).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer, PASSWORD};
use fieldsync_sdk::{Client, Replica, SyncReport};
use fieldsync_server::sync::checkpoint;
use serde_bytes::ByteBuf;
use sync_core::protocol::{DocPush, Hash, PullRequest, PushRequest, PushStatus};
use sync_core::Role;
use uuid::Uuid;

/// Runs `fieldsync-server ARGS` to the end and fails the test if it fails.
async fn server_command(args: Vec<String>) {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_e2e-server"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run fieldsync-server")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "fieldsync-server failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) async fn backup(db: &TestDb, to: &Path) {
    let to = to.display().to_string();
    server_command(vec![
        "backup".into(),
        "--database-url".into(),
        db.url.clone(),
        "--to".into(),
        to,
    ])
    .await;
}

pub(crate) async fn restore(db: &TestDb, from: &Path) {
    let from = from.display().to_string();
    server_command(vec![
        "restore".into(),
        "--database-url".into(),
        db.url.clone(),
        "--from".into(),
        from,
    ])
    .await;
}

/// Stops an in-process server and closes its database connections, as a stopped process would.
pub(crate) async fn stop(server: TestServer) {
    let conn = server.state.db.conn.clone();
    server.stop().await;
    conn.close().await.expect("close the database");
}

/// The hashes of every change the server holds of a record.
async fn server_changes(server: &TestServer, id: Uuid) -> Vec<Hash> {
    let mut doc =
        fieldsync_server::sync::docstore::load(&server.state.db.conn, server.state.db.vault(), id)
            .await
            .expect("stored document")
            .unwrap();
    doc.get_changes(&[])
        .iter()
        .map(|c| Hash::from(c.hash()))
        .collect()
}

/// Syncs, and logs the device in again if the server no longer knows its token (its device row was
/// not in the backup).
async fn sync_or_login_again(device: &mut Device, url: &str, email: &str) -> SyncReport {
    match device.replica.sync(&device.client).await {
        Ok(report) => report,
        Err(e) if e.code() == Some("unauthenticated") => {
            device
                .replica
                .login(url, email, PASSWORD, "test device")
                .await
                .expect("log in again");
            device.client = device.replica.client().await.expect("client");
            device.replica.sync(&device.client).await.expect("sync")
        }
        Err(e) => panic!("sync failed: {e}"),
    }
}

storage_test! {
    async fn devices_push_again_what_a_restored_server_lost(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start(&db).await;
        for email in ["anna@x.test", "ben@x.test", "carl@x.test", "dora@x.test", "eve@x.test"] {
            server.user(email, Role::Agent, &["North"]).await;
        }
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let mut carl = server.device("carl@x.test").await;
        let mut eve = server.device("eve@x.test").await;
        let r1 = anna.replica.create("customer", &customer("Before 1", "North")).await.unwrap();
        let r2 = anna.replica.create("customer", &customer("Before 2", "North")).await.unwrap();
        let r3 = ben.replica.create("customer", &customer("Before 3", "North")).await.unwrap();
        for device in [&mut anna, &mut ben, &mut carl, &mut eve] {
            device.sync().await;
        }
        anna.sync().await;

        let backup_file = dir.path().join("fieldsync.backup");
        backup(&db, &backup_file).await;
        assert!(backup_file.metadata().unwrap().len() > 0);

        // After the backup: Anna edits and creates; Ben pulls her edit and builds on it; Carl only
        // pushes; Dora's device is registered only now, so the backup does not know it.
        anna.replica.update(r1, &[("phone", "+49 1".into())]).await.unwrap();
        let r4 = anna.replica.create("customer", &customer("After 4", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        ben.replica.update(r1, &[("city", "Berlin".into())]).await.unwrap();
        ben.replica.update(r3, &[("email", "b@after.test".into())]).await.unwrap();
        let r5 = ben.replica.create("customer", &customer("After 5", "North")).await.unwrap();
        ben.sync().await;
        anna.sync().await;
        carl.sync().await;
        let r6 = carl.replica.create("customer", &customer("After 6", "North")).await.unwrap();
        carl.replica.update(r2, &[("notes", "seen by Carl".into())]).await.unwrap();
        let pushed = carl.replica.push(&carl.client).await.unwrap();
        assert_eq!(pushed.pushed_docs, 2);
        let dora_dir = tempfile::tempdir().unwrap();
        let mut dora = Device::login_durable(&server.url, "dora@x.test", dora_dir.path()).await;
        let r7 = dora.replica.create("customer", &customer("After 7", "North")).await.unwrap();
        dora.sync().await;

        let ids = [r1, r2, r3, r4, r5, r6, r7];
        let mut before = BTreeMap::new();
        for id in ids {
            let mut changes = server_changes(&server, id).await;
            changes.sort_unstable();
            before.insert(id, (server.heads(id).await, changes));
        }
        let projected_before = server.projected("customers", r1, &["phone", "city"]).await;
        assert_eq!(projected_before, vec![Some("+49 1".to_string()), Some("Berlin".to_string())]);

        let url = server.url.clone();
        stop(server).await;
        restore(&db, &backup_file).await;
        if !db.is_postgres() {
            // Bytes 18 and 19 of an SQLite file are 2 in WAL mode, as servers run it.
            let file = db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
            let header = std::fs::read(&file).unwrap();
            assert_eq!(header[18..20], [2, 2], "the restored database is in WAL mode");
        }
        let server = TestServer::restart_at(&db, &url).await;
        assert_eq!(server.count("documents").await, 3, "the restore went back to the backup");
        assert_ne!(server.heads(r1).await, before[&r1].0);

        // Ben first: he holds Anna's lost edit of r1, which only Anna's device may hand in again.
        let ben_report = ben.sync().await;
        assert!(ben_report.restored, "Ben's device noticed the restore: {ben_report:?}");
        assert_eq!(ben_report.repushed_docs, 3, "r1, r3 and r5 carry Ben's lost changes");
        // Carl logs in again first (say his token expired): his device is in the backup, so it keeps
        // its id, and its checkpoint there is older than what Carl's store has heard.
        let again = carl.replica.login(&server.url, "carl@x.test", PASSWORD, "carl again").await.unwrap();
        assert_eq!(again.device_id, carl.login.device_id);
        carl.client = carl.replica.client().await.unwrap();
        let carl_report = carl.sync().await;
        assert!(carl_report.restored);
        assert_eq!(carl_report.repushed_docs, 2);
        let anna_report = anna.sync().await;
        assert!(anna_report.restored);
        assert_eq!(anna_report.repushed_docs, 2, "r1 and r4 carry Anna's lost changes");
        let dora_report = sync_or_login_again(&mut dora, &server.url, "dora@x.test").await;
        assert!(dora_report.restored);
        assert_eq!(dora_report.repushed_docs, 1);
        assert_eq!(
            dora.replica.session().await.unwrap().unwrap().device_id,
            dora.login.device_id,
            "Dora's device got its id, and so its actor, back"
        );
        let eve_report = eve.sync().await;
        assert!(!eve_report.restored, "Eve saw nothing the restore lost");

        // Ben's edit of r1 waited on the server for Anna's; once hers is back, his next sync lands it.
        for _ in 0..2 {
            for device in [&mut ben, &mut carl, &mut anna, &mut dora, &mut eve] {
                let report = device.sync().await;
                assert!(!report.restored, "a restore is noticed once");
            }
        }

        assert_eq!(server.count("documents").await, ids.len() as i64);
        assert_eq!(server.count("customers").await, ids.len() as i64);
        for id in ids {
            let (heads, changes) = &before[&id];
            assert_eq!(&server.heads(id).await, heads, "record {id} is as it was before the restore");
            let mut now = server_changes(&server, id).await;
            now.sort_unstable();
            assert_eq!(&now, changes, "record {id} holds every change once");
            assert_eq!(now.iter().collect::<BTreeSet<_>>().len(), now.len());
        }
        assert_eq!(server.projected("customers", r1, &["phone", "city"]).await, projected_before);
        assert_eq!(
            server.projected("customers", r3, &["email"]).await,
            vec![Some("b@after.test".to_string())]
        );
        assert_eq!(
            server.projected("customers", r2, &["notes"]).await,
            vec![Some("seen by Carl".to_string())]
        );
        assert_eq!(server.projected("customers", r7, &["name"]).await, vec![Some("After 7".to_string())]);
        // The history still names who made each change, though the devices handed them in again.
        server.user("root@x.test", Role::Admin, &[]).await;
        let root = server.device("root@x.test").await;
        let (status, history) = server.api(&root, reqwest::Method::GET, &format!("/v1/records/{r1}/history"), None).await;
        assert_eq!(status, 200, "{history}");
        for (field, who) in [("phone", &anna), ("city", &ben), ("name", &anna)] {
            let entry = history["entries"].as_array().unwrap().iter()
                .find(|e| e["fields"].as_array().unwrap().iter().any(|f| f["field"] == field))
                .unwrap_or_else(|| panic!("{field} in {history}"));
            assert_eq!(entry["device"]["id"], who.login.device_id.to_string(), "{field}: {entry}");
            assert_eq!(entry["user"]["id"], who.login.user_id.to_string(), "{field}: {entry}");
        }
        for device in [&anna, &ben, &carl, &dora, &eve] {
            let verify = device.replica.verify(&device.client).await.unwrap();
            assert!(verify.in_sync, "{verify:?}");
            assert_eq!(device.replica.outbox_len().await.unwrap(), 0);
            for id in ids {
                assert_eq!(device.replica.heads(id).await, before[&id].0);
            }
        }
    }
}

storage_test! {
    async fn a_checkpoint_ahead_of_the_server_is_refused_and_changes_nothing(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        let first = anna.client.push(&PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 }).await.unwrap();
        assert_eq!(first.results[0].status, PushStatus::Applied);
        let recorded = checkpoint::recorded(&server.state.db.conn, anna.login.device_id).await.unwrap();
        assert!(first.seq > 0);
        assert_eq!(recorded, first.seq, "a push records the position it wrote");
        anna.sync().await;

        let id = anna.replica.create("customer", &customer("Later", "North")).await.unwrap();
        let tables = ["documents", "doc_chunks", "customers", "orphan_changes", "quarantine"];
        let mut counts = Vec::new();
        for t in tables {
            counts.push(server.count(t).await);
        }
        let ahead = recorded + 1;
        let push = PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: ahead };
        let err = anna.client.push(&push).await.unwrap_err();
        assert_eq!((err.code(), err.to_string().contains("409")), (Some("server_restored"), true), "{err}");
        let err = anna.client.pull(&PullRequest { checkpoint: ahead, ..Default::default() }).await.unwrap_err();
        assert_eq!(err.code(), Some("server_restored"));
        let http = reqwest::Client::new();
        let response = http
            .get(format!("{}/v1/sync/pull?checkpoint={ahead}", server.url))
            .bearer_auth(&anna.login.token)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 409);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "server_restored");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        for (t, before) in tables.iter().zip(&counts) {
            assert_eq!(server.count(t).await, *before, "{t} unchanged");
        }
        assert!(server.heads(id).await.is_empty(), "the refused push stored nothing");
        assert_eq!(checkpoint::recorded(&server.state.db.conn, anna.login.device_id).await.unwrap(), recorded);

        // The device's own checkpoint is never ahead without a restore: its syncs go through.
        let report = anna.sync().await;
        assert!(!report.restored);
        assert_eq!(server.heads(id).await, anna.replica.heads(id).await);
        let recorded = checkpoint::recorded(&server.state.db.conn, anna.login.device_id).await.unwrap();
        assert_eq!(recorded, fieldsync_server::db::positions::committed_seq(&server.state.db.conn).await.unwrap());

        // Logging the same store in again is no restore: it keeps its device, with its checkpoint,
        // and only the new token works; an edit waiting on the device (its token had expired,
        // say) stays and syncs. Another account's login is refused while it waits. A store naming
        // another user's device gets one of its own, even with that device's secret.
        anna.replica.update(id, &[("phone", "1".into())]).await.unwrap();
        let refused = anna.replica.login(&server.url, "ben@x.test", PASSWORD, "ben").await.unwrap_err();
        assert!(refused.to_string().contains("not yet synced"), "{refused}");
        assert_eq!(anna.replica.outbox_len().await.unwrap(), 1);
        let relogin = anna.replica.login(&server.url, "anna@x.test", PASSWORD, "again").await.unwrap();
        assert_eq!(anna.replica.outbox_len().await.unwrap(), 1);
        assert_eq!(relogin.device_id, anna.login.device_id);
        assert_eq!(checkpoint::recorded(&server.state.db.conn, relogin.device_id).await.unwrap(), recorded);
        assert_eq!(anna.client.devices().await.unwrap_err().code(), Some("unauthenticated"));
        assert_eq!(server.count("devices").await, 1);
        let client = anna.replica.client().await.unwrap();
        assert!(!anna.replica.sync(&client).await.unwrap().restored);
        assert_eq!(anna.replica.outbox_len().await.unwrap(), 0);
        assert_eq!(server.heads(id).await, anna.replica.heads(id).await);
        let mut ben = Client::new(&server.url);
        let other = ben
            .login_again("ben@x.test", PASSWORD, "ben", Some(relogin.device_id), relogin.device_secret.as_deref())
            .await
            .unwrap();
        assert_ne!(other.device_id, relogin.device_id);
        assert_eq!(checkpoint::recorded(&server.state.db.conn, other.device_id).await.unwrap(), 0);
        let replica = Replica::in_memory().await.unwrap();
        replica.adopt(&server.url, "ben@x.test", &other).await.unwrap();
        assert!(!replica.sync(&ben).await.unwrap().restored);
    }
}

/// The owner the server recorded for a record.
async fn owner(server: &TestServer, id: Uuid) -> Uuid {
    use sea_orm::EntityTrait;
    fieldsync_server::db::entities::document::Entity::find_by_id(id)
        .one(&server.state.db.conn)
        .await
        .unwrap()
        .expect("a stored record")
        .owner_id
}

storage_test! {
    async fn a_colleague_cannot_take_over_a_device_a_restore_lost(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let ben_id = server.user("ben@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut ben = server.device("ben@x.test").await;
        let maria = server.device("maria@x.test").await;
        ben.sync().await;
        let backup_file = dir.path().join("fieldsync.backup");
        backup(&db, &backup_file).await;
        // Anna's device is registered after the backup: the restore loses it, and her record.
        let anna_dir = tempfile::tempdir().unwrap();
        let mut anna = Device::login_durable(&server.url, "anna@x.test", anna_dir.path()).await;
        let record = anna.replica.create("customer", &customer("Anna's", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        // Ben reads Anna's device id off the record's changes, as every colleague can.
        let all = ben.replica.doc(record).await.unwrap().get_changes(&[]).to_vec();
        assert_eq!(&all[0].actor_id().to_bytes()[..16], anna.login.device_id.as_bytes());
        let changes: Vec<ByteBuf> = all.iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();

        let url = server.url.clone();
        stop(server).await;
        restore(&db, &backup_file).await;
        let server = TestServer::restart_at(&db, &url).await;
        assert!(server.heads(record).await.is_empty());

        // Ben names Anna's device at login, without a secret, with his own device's, or with a
        // made-up one: each time he gets a device of his own.
        let mut taker = Client::new(&server.url);
        for secret in [None, Some(ben.login.device_secret.as_str()), Some("fsd_00")] {
            let took = taker.login_again("ben@x.test", PASSWORD, "taker", Some(anna.login.device_id), secret).await.unwrap();
            assert_ne!(took.device_id, anna.login.device_id, "Ben took over Anna's device");
        }
        // What he pushes under Anna's actor is not applied (he would become the record's owner) but
        // held for a manager, since he claimed her device.
        let push = PushRequest {
            docs: vec![DocPush { id: record, kind: "customer".into(), base_heads: vec![], changes, group: None }],
            checkpoint: 0,
        };
        let pushed = taker.push(&push).await.unwrap();
        assert_eq!(pushed.results[0].status, PushStatus::Quarantined, "{pushed:?}");
        assert!(server.heads(record).await.is_empty());
        let held = server.quarantine(&maria.login.token).await;
        assert_eq!(held.len(), 1, "the manager of Ben's territory sees it: {held:?}");
        assert_eq!(held[0]["user_id"], ben_id.to_string());
        assert!(held[0]["reason"].as_str().unwrap().contains(&anna.login.device_id.to_string()), "{held:?}");

        // Anna's store logs in again with its secret: her device gets its id, and so its actor,
        // back, hands in what the restore lost, and keeps editing.
        anna.replica.login(&server.url, "anna@x.test", PASSWORD, "anna again").await.unwrap();
        assert_eq!(anna.replica.session().await.unwrap().unwrap().device_id, anna.login.device_id);
        anna.client = anna.replica.client().await.unwrap();
        let report = anna.sync().await;
        assert!(report.restored && report.rejected.is_empty(), "{report:?}");
        assert_eq!(report.repushed_docs, 1);
        anna.replica.update(record, &[("phone", "+49 2".into())]).await.unwrap();
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "Anna's own edit is taken: {report:?}");
        assert_eq!(server.heads(record).await, anna.replica.heads(record).await);
        assert_eq!(owner(&server, record).await, anna_id);
    }
}

storage_test! {
    async fn a_device_without_a_secret_gets_a_new_id_and_what_it_lost_waits_for_a_manager(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let maria_id = server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("carl@x.test", Role::Manager, &["South"]).await;
        let backup_file = dir.path().join("fieldsync.backup");
        backup(&db, &backup_file).await;
        let anna_dir = tempfile::tempdir().unwrap();
        let mut anna = Device::login_durable(&server.url, "anna@x.test", anna_dir.path()).await;
        let record = anna.replica.create("customer", &customer("Anna's", "North")).await.unwrap();
        anna.sync().await;
        // Her store was written by an app from before device secrets: its session holds none.
        let store = sea_orm::Database::connect(format!("sqlite://{}", anna_dir.path().join("device.sqlite").display())).await.unwrap();
        sea_orm::ConnectionTrait::execute_unprepared(&store, "UPDATE meta SET value = json_remove(value, '$.device_secret') WHERE key = 'session'").await.unwrap();
        store.close().await.unwrap();
        assert_eq!(anna.replica.session().await.unwrap().unwrap().device_secret, None);

        let url = server.url.clone();
        stop(server).await;
        restore(&db, &backup_file).await;
        let server = TestServer::restart_at(&db, &url).await;

        // Nothing proves the store was that device any more: it gets a new one, and hands in what
        // the restore lost, made under the old one, for a manager to judge.
        let session = anna.replica.login(&server.url, "anna@x.test", PASSWORD, "anna again").await.unwrap();
        assert_ne!(session.device_id, anna.login.device_id);
        assert!(session.device_secret.is_some(), "the new device has its secret");
        anna.client = anna.replica.client().await.unwrap();
        let report = anna.sync().await;
        assert!(report.restored && report.rejected.is_empty(), "{report:?}");
        assert_eq!((report.repushed_docs, report.quarantined.clone()), (1, vec![record]));
        assert!(server.heads(record).await.is_empty(), "nothing applied");

        let maria = server.device("maria@x.test").await;
        let carl = server.device("carl@x.test").await;
        assert!(server.quarantine(&carl.login.token).await.is_empty(), "only the managers of Anna's territories see it");
        let held = server.quarantine(&maria.login.token).await;
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!((held[0]["doc_id"].clone(), held[0]["user_id"].clone()), (record.to_string().into(), anna_id.to_string().into()));
        assert!(held[0]["reason"].as_str().unwrap().contains(&anna.login.device_id.to_string()), "{held:?}");
        let accepted = reqwest::Client::new()
            .post(format!("{}/v1/quarantine/{}/accept", server.url, held[0]["id"].as_str().unwrap()))
            .bearer_auth(&maria.login.token)
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status().as_u16(), 200, "{}", accepted.text().await.unwrap());
        assert_eq!(server.heads(record).await, anna.replica.heads(record).await, "Anna's changes, under her old actor");
        assert_eq!(owner(&server, record).await, maria_id, "the record belongs to whoever vouched for it");

        let report = anna.sync().await;
        assert!(report.rejected.is_empty() && report.quarantined.is_empty(), "{report:?}");
        anna.replica.update(record, &[("phone", "+49 3".into())]).await.unwrap();
        let report = anna.sync().await;
        assert!(report.rejected.is_empty() && report.quarantined.is_empty(), "her new device's edits are hers: {report:?}");
        assert_eq!(anna.replica.outbox_len().await.unwrap(), 0);
        assert!(anna.replica.verify(&anna.client).await.unwrap().in_sync);
        assert_eq!(server.heads(record).await, anna.replica.heads(record).await);
    }
}

/// Runs the `fieldsync` CLI on a data directory; `--json` when asked.
fn fieldsync(dir: &Path, json: bool, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_e2e-fieldsync"));
    cmd.arg("--data-dir").arg(dir);
    if json {
        cmd.arg("--json");
    }
    let out = cmd
        .args(args)
        .env("FIELDSYNC_PASSWORD", PASSWORD)
        .output()
        .expect("run the CLI");
    assert!(
        out.status.success(),
        "fieldsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

storage_test! {
    async fn the_cli_says_when_a_sync_found_the_server_restored(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fieldsync(d, true, &["login", "--server", &server.url, "--email", "anna@x.test"]);
        fieldsync(d, true, &["customer", "add", "--name", "Before"]);
        fieldsync(d, true, &["sync"]);
        let backup_file = dir.path().join("fieldsync.backup");
        backup(&db, &backup_file).await;
        let added: serde_json::Value =
            serde_json::from_str(&fieldsync(d, true, &["customer", "add", "--name", "After"])).unwrap();
        let after = Uuid::parse_str(added["id"].as_str().unwrap()).unwrap();
        let report: serde_json::Value = serde_json::from_str(&fieldsync(d, true, &["sync"])).unwrap();
        assert_eq!(report["server_restored"], false);
        let url = server.url.clone();
        stop(server).await;
        restore(&db, &backup_file).await;
        let server = TestServer::restart_at(&db, &url).await;
        assert!(server.heads(after).await.is_empty());

        let text = fieldsync(d, false, &["sync"]);
        assert!(
            text.contains("restored from an older backup: sent again 1 records"),
            "{text}"
        );
        let report: serde_json::Value = serde_json::from_str(&fieldsync(d, true, &["sync"])).unwrap();
        assert_eq!((report["server_restored"].clone(), report["repushed"].clone()), (false.into(), 0.into()));
        assert!(!server.heads(after).await.is_empty(), "the record made after the backup is back");
        assert_eq!(server.projected("customers", after, &["name"]).await, vec![Some("After".to_string())]);
    }
}

storage_test! {
    async fn a_backup_copies_the_files_and_a_restore_brings_them_back(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let shop = anna.replica.create("customer", &customer("Corner Shop", "North")).await.unwrap();
        let visit = anna
            .replica
            .create("visit", &[("customer_id", sync_core::Value::Str(shop.to_string())), ("status", "completed".into())])
            .await
            .unwrap();
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        jpeg.extend((0..50_000u32).map(|i| (i % 253) as u8));
        let hash = anna.replica.attach(visit, "photos", jpeg.clone(), None).await.unwrap();
        assert_eq!(anna.sync().await.uploaded_files, 1);
        let fieldsync_server::files::store::Location::Dir(files) = server.state.files.location.clone() else {
            panic!("the default store is a directory");
        };
        let dir = tempfile::tempdir().unwrap();
        let backup_file = dir.path().join("backup.db");
        let with_files = |command: &str, flag: &str| {
            vec![
                command.to_string(),
                "--database-url".into(),
                db.url.clone(),
                flag.into(),
                backup_file.display().to_string(),
                "--files".into(),
                files.display().to_string(),
            ]
        };
        server_command(with_files("backup", "--to")).await;
        let copied = dir.path().join("backup.db.files/files").join(&hash[..2]).join(&hash);
        assert_eq!(std::fs::read(&copied).unwrap(), jpeg, "the backup holds the photo");

        // The files are lost with the database; the restore brings both back.
        stop(server).await;
        std::fs::remove_dir_all(&files).unwrap();
        server_command(with_files("restore", "--from")).await;
        let server = TestServer::start(&db).await;
        let maria = {
            server.user("maria@x.test", Role::Manager, &["North"]).await;
            server.device("maria@x.test").await
        };
        let response = reqwest::Client::new()
            .get(format!("{}/v1/attachments/{hash}", server.url))
            .bearer_auth(&maria.login.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap().to_vec(), jpeg);
    }
}
