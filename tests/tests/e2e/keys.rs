//! The server key and what it authenticates: pull cursors, bound to the device they were issued to
//! and bounded in size, and device secrets; the key file itself (where `serve` keeps it, and that
//! PostgreSQL needs one named); and a rotation of the key, which logs no device out and refuses no
//! cursor or secret.

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer, PASSWORD};
use fieldsync_sdk::Client;
use fieldsync_server::keys::{KeyRing, Purpose};
use fieldsync_server::sync::checkpoint;
use serde_bytes::ByteBuf;
use sync_core::protocol::{self, PullRequest, CONTENT_TYPE};
use sync_core::Role;
use uuid::Uuid;

async fn territory_id(server: &TestServer, name: &str) -> Uuid {
    fieldsync_server::auth::users::ensure_territory(&server.state.db.conn, name)
        .await
        .unwrap()
}

/// A pull with these cursor bytes in the body (POST) and, for a cursor that fits in a URL, in the
/// query (GET): each answer's status, error code (if any) and body.
async fn pull_with(server: &TestServer, token: &str, cursor: &[u8]) -> Vec<(u16, String, String)> {
    use base64::Engine;
    let http = reqwest::Client::new();
    let body = protocol::encode(&PullRequest {
        cursor: Some(ByteBuf::from(cursor.to_vec())),
        limit: None,
        checkpoint: 0,
    });
    let post = http
        .post(format!("{}/v1/sync/pull", server.url))
        .bearer_auth(token)
        .header("content-type", CONTENT_TYPE)
        .header("accept", "application/json")
        .body(body);
    let query = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor);
    let get = http
        .get(format!("{}/v1/sync/pull", server.url))
        .query(&[("cursor", query.as_str())])
        .bearer_auth(token)
        .header("accept", "application/json");
    let mut requests = vec![post];
    if query.len() < 8 * 1024 {
        requests.push(get);
    }
    let mut answers = Vec::new();
    for request in requests {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let code = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|body| body["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_default();
        answers.push((status, code, text));
    }
    answers
}

/// Asserts that every answer refused the cursor with `400 invalid_cursor` in the error shape.
fn refused(answers: &[(u16, String, String)], what: &str) {
    for (status, code, body) in answers {
        assert_eq!(
            (*status, code.as_str()),
            (400, "invalid_cursor"),
            "{what}: {body}"
        );
    }
}

/// A cursor's payload as the server lays it out: position, territories held, backfill
/// (territories, up to, after), eviction (territories, all, since, after), first sync.
type Payload = (
    i64,
    Option<Vec<Uuid>>,
    Option<(Vec<Uuid>, i64, Option<Uuid>)>,
    Option<(Vec<Uuid>, bool, i64, Option<Uuid>)>,
    bool,
);

/// A cursor of this payload, authenticated for `device` under the database's key file when `key`
/// is given (as only the server could make it), or bare as the server once issued them.
fn cursor(payload: &Payload, key: Option<(&KeyRing, Uuid)>) -> Vec<u8> {
    let payload = rmp_serde::to_vec(payload).unwrap();
    match key {
        None => payload,
        Some((keys, device)) => {
            let mut bytes = vec![1];
            bytes.extend_from_slice(&keys.tag(Purpose::Cursor, &[device.as_bytes(), &payload]));
            bytes.extend_from_slice(&payload);
            bytes
        }
    }
}

storage_test! {
    async fn forged_tampered_and_foreign_cursors_are_refused_and_reveal_nothing(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut carla = server.device("carla@x.test").await;
        let secret = carla.replica.create("customer", &customer("Secret", "South")).await.unwrap();
        carla.sync().await;
        let mut anna = server.device("anna@x.test").await;
        anna.replica.create("customer", &customer("Mine", "North")).await.unwrap();
        anna.sync().await;
        let north = territory_id(&server, "North").await;
        let recorded = checkpoint::recorded(&server.state.db.conn, anna.login.device_id).await.unwrap();

        // An eviction of "everything the user may not see" would name Carla's record; a page far
        // ahead would become Anna's checkpoint.
        let evict_all: Payload = (0, Some(vec![north]), None, Some((vec![], true, 0, None)), false);
        let ahead: Payload = (1 << 40, Some(vec![north]), Some((vec![north], 1 << 40, None)), None, false);
        for payload in [&evict_all, &ahead] {
            let answers = pull_with(&server, &anna.login.token, &cursor(payload, None)).await;
            refused(&answers, "a cursor the device wrote itself");
            assert!(answers.iter().all(|(_, _, body)| !body.contains(&secret.to_string())));
        }
        assert_eq!(
            checkpoint::recorded(&server.state.db.conn, anna.login.device_id).await.unwrap(),
            recorded,
            "a refused cursor moves no checkpoint"
        );

        // Genuine cursors only work for the device they were issued to: not for another user's
        // device, nor for another device of the same user.
        let carlas = carla.client.pull(&PullRequest::default()).await.unwrap().cursor;
        refused(&pull_with(&server, &anna.login.token, &carlas).await, "another user's device's cursor");
        let annas = anna.client.pull(&PullRequest::default()).await.unwrap().cursor;
        let spare = server.device("anna@x.test").await;
        refused(&pull_with(&server, &spare.login.token, &annas).await, "another device's cursor");
        for at in [0, 1, annas.len() / 2, annas.len() - 1] {
            let mut tampered = annas.to_vec();
            tampered[at] ^= 0x20;
            refused(&pull_with(&server, &anna.login.token, &tampered).await, "a tampered cursor");
        }
        refused(&pull_with(&server, &anna.login.token, &annas[..annas.len() - 1]).await, "a cut cursor");
        for (status, _, _) in pull_with(&server, &anna.login.token, &annas).await {
            assert_eq!(status, 200, "the genuine cursor still works for its device");
        }
        assert_eq!(
            checkpoint::recorded(&server.state.db.conn, anna.login.device_id).await.unwrap(),
            fieldsync_server::db::positions::committed_seq(&server.state.db.conn).await.unwrap(),
        );
    }
}

storage_test! {
    async fn oversized_cursors_are_refused_before_they_are_read(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let north = territory_id(&server, "North").await;
        let keys = KeyRing::open(&db.key_file).unwrap();
        let device = Some((&keys, anna.login.device_id));
        // Tens of thousands of territory ids: as many SQL variables as ids, past what the
        // databases take. Even authentic, the server refuses to read such a cursor.
        let many: Vec<Uuid> = (1..=40_000u128).map(Uuid::from_u128).chain([north]).collect();
        let wide: Payload = (1, Some(many), None, None, false);
        refused(&pull_with(&server, &anna.login.token, &cursor(&wide, None)).await, "40,000 territories");
        refused(&pull_with(&server, &anna.login.token, &cursor(&wide, device)).await, "40,000 territories, authentic");
        // Fewer ids, still more than a cursor ever holds: only the cap refuses it.
        let over: Payload = (1, Some((1..=10_001u128).map(Uuid::from_u128).collect()), None, None, false);
        let answers = pull_with(&server, &anna.login.token, &cursor(&over, device)).await;
        refused(&answers, "past the territory cap, authentic");
        assert!(answers[0].2.contains("territories"), "{}", answers[0].2);
        // A 16 MiB cursor in the body is refused at once, by its size.
        let huge: Payload = (1, Some((1..=900_000u128).map(Uuid::from_u128).collect()), None, None, false);
        let huge = cursor(&huge, device);
        assert!(huge.len() > 16_000_000);
        let started = std::time::Instant::now();
        let answers = pull_with(&server, &anna.login.token, &huge).await;
        refused(&answers, "a 16 MiB cursor");
        assert!(answers[0].2.contains("larger"), "{}", answers[0].2);
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
        // No user holds more territories than a cursor of theirs may name.
        let names: Vec<String> = (0..=fieldsync_server::auth::users::MAX_TERRITORIES_PER_USER).map(|i| format!("T{i}")).collect();
        let refused = fieldsync_server::auth::users::add_user(&server.state.db, "many@x.test", Role::Manager, PASSWORD, &names).await.unwrap_err();
        assert_eq!(refused.code(), "too_many_territories");
        assert_eq!(server.count("users").await, 1);
    }
}

/// Stops an in-process server and closes its database connections, as a stopped process would.
async fn stop(server: TestServer) {
    let conn = server.state.db.conn.clone();
    server.stop().await;
    conn.close().await.expect("close the database");
}

storage_test! {
    async fn a_rotated_key_still_takes_what_the_old_one_made(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        for i in 0..5 {
            anna.replica.create("customer", &customer(&format!("C{i}"), "North")).await.unwrap();
        }
        anna.sync().await;
        let page = anna.client.pull(&PullRequest { limit: Some(2), ..PullRequest::default() }).await.unwrap();
        assert!(page.more);
        let old = KeyRing::open(&db.key_file).unwrap();

        let url = server.url.clone();
        stop(server).await;
        assert_eq!(KeyRing::rotate(&db.key_file).unwrap().count(), 2);
        let server = TestServer::restart_at(&db, &url).await;
        let next = anna.client.pull(&PullRequest { cursor: Some(page.cursor), limit: Some(2), checkpoint: 0 }).await.unwrap();
        assert_eq!(next.docs.len(), 2, "a cursor made under the old key goes on");
        let payload = &next.cursor[33..];
        assert!(
            !old.verify(Purpose::Cursor, &[anna.login.device_id.as_bytes(), payload], &next.cursor[1..33]),
            "new cursors are made under the new key"
        );
        anna.replica.create("customer", &customer("After", "North")).await.unwrap();
        assert!(anna.sync().await.rejected.is_empty(), "the device stays logged in and syncs");
        // A device secret made under the old key still proves the device, here one whose row the
        // database lost; its next secret is made under the new key.
        use sea_orm::EntityTrait;
        fieldsync_server::db::entities::device::Entity::delete_by_id(anna.login.device_id)
            .exec(&server.state.db.conn)
            .await
            .unwrap();
        let mut client = Client::new(&server.url);
        let again = client
            .login_again("anna@x.test", PASSWORD, "again", Some(anna.login.device_id), Some(&anna.login.device_secret))
            .await
            .unwrap();
        assert_eq!(again.device_id, anna.login.device_id);
        assert_ne!(again.device_secret, anna.login.device_secret);
        assert_eq!(anna.replica.heads(next.docs[0].id).await, server.heads(next.docs[0].id).await);
    }
}

storage_test! {
    async fn a_device_whose_cursor_is_refused_starts_its_feed_over(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let first = anna.replica.create("customer", &customer("First", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        // The key is rotated, what it sealed sealed again under the new one, and the old key
        // leaves the file: every cursor issued under it is refused from now on.
        let url = server.url.clone();
        stop(server).await;
        KeyRing::rotate(&db.key_file).unwrap();
        let server = TestServer::restart_at(&db, &url).await;
        fieldsync_server::sync::reseal::reseal(&server.state.db).await.unwrap();
        stop(server).await;
        db.keep_only_the_newest_key();
        let server = TestServer::restart_at(&db, &url).await;
        let second = anna.replica.create("customer", &customer("Second", "North")).await.unwrap();
        anna.sync().await;
        let report = ben.sync().await;
        assert!(report.pulled_docs >= 2, "{report:?}");
        for id in [first, second] {
            assert_eq!(ben.replica.heads(id).await, server.heads(id).await);
        }
        assert!(ben.replica.verify(&ben.client).await.unwrap().in_sync);
        assert!(!ben.sync().await.restored, "a refused cursor is no restore");
    }
}

storage_test! {
    /// `serve` keeps the key beside an SQLite database unless told otherwise, readable by its
    /// owner only; on PostgreSQL, where every process of the database needs the same key, it will
    /// not start without one named.
    async fn serve_keeps_the_key_beside_sqlite_and_needs_one_named_on_postgres(db: TestDb) {
        use std::os::unix::fs::PermissionsExt;
        let program = env!("CARGO_BIN_EXE_e2e-server");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut serve = std::process::Command::new(program);
        serve
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &db.url])
            .env("RUST_LOG", "warn")
            .env_remove("FIELDSYNC_KEY_FILE");
        if db.is_postgres() {
            let output = serve.output().unwrap();
            assert!(!output.status.success());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("--key-file"), "{stderr}");
            assert!(!db.key_file.exists());
            return;
        }
        let server = fieldsync_e2e::ServerProcess::start(program, &db.url, None);
        server.ready().await;
        let mode = std::fs::metadata(&db.key_file).expect("the key file beside the database").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(KeyRing::open(&db.key_file).unwrap().count(), 1);
        let rotated = std::process::Command::new(program)
            .args(["key", "rotate", "--database-url", &db.url])
            .env_remove("FIELDSYNC_KEY_FILE")
            .output()
            .unwrap();
        assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
        assert_eq!(KeyRing::open(&db.key_file).unwrap().count(), 2, "the default key file gained a key");
        let mut anna = {
            let state = fieldsync_server::AppState::new(&db.settings()).await.unwrap();
            fieldsync_server::auth::users::add_user(&state.db, "anna@x.test", Role::Agent, PASSWORD, &["North".into()]).await.unwrap();
            Device::login(&server.url, "anna@x.test").await
        };
        anna.sync().await;
    }
}
