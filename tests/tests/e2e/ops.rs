//! Operations: the OpenAPI document covers the router, liveness and readiness, graceful shutdown with
//! a push in flight, Prometheus metrics and who may read them, token expiry with revocation, and the
//! login and sync rate limits.

use std::time::Duration;

use fieldsync_e2e::{customer, storage_test, Device, ServerProcess, TestDb, TestServer, PASSWORD};
use fieldsync_server::auth::ratelimit::Rate;
use fieldsync_server::db::entities::device as devices;
use fieldsync_server::settings::{Secret, Settings, ShutdownTimes};
use fieldsync_server::AppState;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sync_core::protocol::{self, PushRequest, PushResponse, PushStatus, CONTENT_TYPE};
use sync_core::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SCRAPE_TOKEN: &str = "a-scrape-token-for-tests";

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    (
        status,
        body["error"]["code"].as_str().expect("a code").to_string(),
    )
}

fn login_body(email: &str, password: &str) -> serde_json::Value {
    serde_json::json!({"email": email, "password": password, "device_name": "test"})
}

/// Every operation of the document is routed: asking it (with any id, without a token) never reaches
/// the fallback for unknown paths, and never gets 405. Together with the server's unit test that routes
/// are only registered with their operation, the document and the router cannot differ.
#[tokio::test]
async fn openapi_document_describes_every_route() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(&db).await;
    let http = reqwest::Client::new();
    let doc: serde_json::Value = http
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc,
        serde_json::to_value(fieldsync_server::http::openapi()).unwrap()
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let url = format!(
                "{}{}",
                server.url,
                path.replace("{id}", &uuid::Uuid::nil().to_string())
            );
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = http.request(method.clone(), &url).send().await.unwrap();
            let status = response.status().as_u16();
            assert_ne!(status, 405, "{method} {path}");
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("no such endpoint"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert_eq!(
        operations, 68,
        "an endpoint was added: extend the authorisation matrix too"
    );
    // The sync calls describe their MessagePack media type.
    let push = &doc["paths"]["/v1/sync/push"]["post"];
    assert!(push["requestBody"]["content"][CONTENT_TYPE].is_object());
    assert!(push["responses"]["200"]["content"][CONTENT_TYPE].is_object());
    // ... with the MessagePack forms: byte strings and UUIDs are binary there, where JSON has
    // arrays of numbers and UUID strings.
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    assert_eq!(
        push["requestBody"]["content"][CONTENT_TYPE]["schema"]["$ref"],
        "#/components/schemas/PushRequestMsgPack"
    );
    assert_eq!(
        push["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PushRequest"
    );
    let doc_push = schema("DocPushMsgPack");
    assert_eq!(doc_push["properties"]["id"]["format"], "binary");
    assert_eq!(
        doc_push["properties"]["changes"]["items"]["format"],
        "binary"
    );
    assert_eq!(
        doc_push["properties"]["base_heads"]["items"]["$ref"],
        "#/components/schemas/HashMsgPack"
    );
    assert_eq!(schema("HashMsgPack")["format"], "binary");
    assert_eq!(schema("DocPush")["properties"]["id"]["format"], "uuid");
    assert_eq!(
        schema("DocPush")["properties"]["changes"]["items"]["type"],
        "array"
    );
    let pull = schema("PullRequestMsgPack");
    assert_eq!(pull["properties"]["cursor"]["format"], "binary");
    let evict = &schema("PullResponseMsgPack")["properties"]["evict"]["items"];
    assert_eq!(evict["format"], "binary");
}

#[tokio::test]
async fn readiness_turns_false_while_draining() {
    let db = TestDb::sqlite().await;
    let settings = Settings {
        shutdown: ShutdownTimes {
            drain: Duration::from_secs(600),
            grace: Duration::from_secs(1),
        },
        ..db.settings()
    };
    let state = AppState::new(&settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(fieldsync_server::serve(state, listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let live = http.get(format!("{url}/livez")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    stop.send(()).unwrap();
    // During the drain the server still answers, but says it is not ready.
    loop {
        let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            let body: serde_json::Value = ready.json().await.unwrap();
            assert_eq!(body["status"], "draining");
            break;
        }
        tokio::task::yield_now().await;
    }
    let live = http.get(format!("{url}/livez")).send().await.unwrap();
    assert_eq!(live.status(), 200, "still alive while draining");
    task.abort();
}

/// Reads an HTTP/1.1 response head from `stream`, returning it and any body bytes read past it.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            return (head, buf[end + 4..].to_vec());
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Opens a push of `len` body bytes with `Expect: 100-continue` and sends its head only: the server
/// answers `100 Continue` once the handler starts reading the body, which then waits for the caller.
async fn open_push(url: &str, token: &str, len: usize) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/sync/push HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

storage_test! {
    /// SIGTERM arrives while a push is in flight (the server is reading its body): the push completes,
    /// is acknowledged, is durable, and the process exits cleanly.
    async fn a_push_in_flight_at_sigterm_completes_and_is_durable(db: TestDb) {
        {
            let state = AppState::new(&db.settings()).await.unwrap();
            fieldsync_server::auth::users::add_user(&state.db, "anna@x.test", Role::Agent, PASSWORD, &["North".into()]).await.unwrap();
        }
        let mut process = ServerProcess::start(env!("CARGO_BIN_EXE_e2e-server"), &db.url, Some(&db.key_file));
        process.ready().await;
        let anna = Device::login(&process.url, "anna@x.test").await;
        let id = anna.replica.create("customer", &customer("Acme", "North")).await.unwrap();
        let body = protocol::encode(&PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 });
        let addr = process.url.trim_start_matches("http://").to_string();

        let mut stream = open_push(&process.url, &anna.login.token, body.len()).await;
        // The server asks for the body only once the handler reads it: from here the push is in flight.
        let (interim, _) = read_head(&mut stream).await;
        assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
        let half = body.len() / 2;
        stream.write_all(&body[..half]).await.unwrap();

        process.terminate();
        // Shutdown has begun once the listener refuses new connections.
        while TcpStream::connect(&addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stream.write_all(&body[half..]).await.unwrap();
        let (head, mut rest) = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        stream.read_to_end(&mut rest).await.unwrap();
        let response: PushResponse = protocol::decode(&rest, &protocol::Limits::default()).unwrap();
        assert_eq!(response.results[0].status, PushStatus::Applied);
        assert!(process.wait().success(), "the server exits cleanly after draining");

        let state = AppState::new(&db.settings()).await.unwrap();
        let stored = fieldsync_server::db::entities::document::Entity::find_by_id(id).one(&state.db.conn).await.unwrap();
        assert!(stored.is_some(), "the acknowledged push is durable");
    }
}

storage_test! {
    /// With the one sync slot taken (as a long merge would hold it), another device's push has its
    /// body read and then waits for the slot, without an answer; a call without a token is answered
    /// at once; once the slot is free the waiting push goes through.
    async fn sync_calls_wait_for_a_slot_once_their_bodies_are_in(db: TestDb) {
        let server = TestServer::start_with(Settings { sync_in_flight: 1, ..db.settings() }).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let device = server.device("ben@x.test").await;
        device.replica.create("customer", &customer("Bolt", "North")).await.unwrap();
        let body = protocol::encode(&PushRequest { docs: device.replica.pending_pushes().await.unwrap(), checkpoint: 0 });
        let held = server.state.sync_slots.clone().acquire_owned().await.unwrap();
        // Ben's push is asked for its body (100 Continue) and sends it: then it waits for the slot.
        let mut push = open_push(&server.url, &device.login.token, body.len()).await;
        let (interim, _) = read_head(&mut push).await;
        assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
        push.write_all(&body).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(500), read_head(&mut push)).await;
        assert!(waiting.is_err(), "a sync call was answered while the only slot was taken");
        assert_eq!(server.count("documents").await, 0);
        // A call without a valid token is refused at once: it never waits for a slot.
        let mut stranger = open_push(&server.url, "no-such-token", body.len()).await;
        let (head, _) = tokio::time::timeout(Duration::from_secs(10), read_head(&mut stranger)).await.expect("answered without a slot");
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
        // The slot comes free: Ben's push is applied.
        drop(held);
        let (head, _) = tokio::time::timeout(Duration::from_secs(10), read_head(&mut push)).await.expect("answered once the slot is free");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(server.count("documents").await, 1);
    }
}

storage_test! {
    /// A call that waits longer than the queue wait for a slot is answered `503 server_busy` with a
    /// `Retry-After` and changes nothing; the SDK waits that long and its sync then goes through.
    async fn a_sync_call_that_waits_too_long_for_a_slot_is_told_when_to_come_back(db: TestDb) {
        let settings = Settings { sync_in_flight: 1, sync_queue_wait: Duration::from_secs(1), ..db.settings() };
        let server = TestServer::start_with(settings).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let mut ben = server.device("ben@x.test").await;
        ben.replica.create("customer", &customer("Bolt", "North")).await.unwrap();
        let ben_body = protocol::encode(&PushRequest { docs: ben.replica.pending_pushes().await.unwrap(), checkpoint: 0 });
        // The one slot is taken, as a long merge would hold it.
        let held = server.state.sync_slots.clone().acquire_owned().await.unwrap();

        let retry_after = busy_until_released(&server, &mut ben, ben_body, held).await;
        assert_eq!(retry_after, "1", "between one second and the queue wait");
    }
}

/// Pushes `body`, one new record of `device`'s, while `held` keeps the server from working on it:
/// the push is answered `503 server_busy` and stores nothing. Then the device syncs while `held`
/// is still held; it is let go two seconds later, so the device's first try is told to come back
/// and a later one goes through. Answers the busy answer's `Retry-After`.
async fn busy_until_released<T>(
    server: &TestServer,
    device: &mut Device,
    body: Vec<u8>,
    held: T,
) -> String {
    let busy = reqwest::Client::new()
        .post(format!("{}/v1/sync/push", server.url))
        .bearer_auth(&device.login.token)
        .header("content-type", CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    let retry_after = busy.headers()["retry-after"].to_str().unwrap().to_string();
    let (status, code) = error_code(busy).await;
    assert_eq!((status, code.as_str()), (503, "server_busy"));
    assert_eq!(
        server.count("documents").await,
        0,
        "a busy answer changed something"
    );

    let release = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(held);
    };
    let (report, ()) = tokio::join!(device.sync(), release);
    assert_eq!(report.pushed_docs, 1);
    assert_eq!(server.count("documents").await, 1);
    retry_after
}

storage_test! {
    /// Pushes merge within the process's merge budget: a push that finds no room for a document's
    /// merge waits for it, and one that waits longer than the queue wait is answered
    /// `503 server_busy` and changes nothing; the SDK comes back and its push goes through.
    async fn a_push_that_waits_too_long_for_merge_room_is_told_when_to_come_back(db: TestDb) {
        let settings = Settings { merge_bytes: 1 << 20, sync_queue_wait: Duration::from_secs(1), ..db.settings() };
        let server = TestServer::start_with(settings).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let mut ben = server.device("ben@x.test").await;
        ben.replica.create("customer", &customer("Bolt", "North")).await.unwrap();
        let body = protocol::encode(&PushRequest { docs: ben.replica.pending_pushes().await.unwrap(), checkpoint: 0 });
        // The whole budget is taken, as merges of records of the most operations a push may
        // bring would take it.
        let held = server.state.sync.merges.take(1 << 20).await.unwrap();
        let retry_after = busy_until_released(&server, &mut ben, body, held).await;
        assert_eq!(retry_after, "1", "between one second and the queue wait");
    }
}

/// The value of one sample line of an OpenMetrics text, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

storage_test! {
    async fn metrics_count_sync_and_only_the_scrape_token_reads_them(db: TestDb) {
        let settings = Settings { metrics_token: Some(Secret(SCRAPE_TOKEN.into())), ..db.settings() };
        let server = TestServer::start_with(settings).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        let mut anna = server.device("anna@x.test").await;
        let root = server.device("root@x.test").await;
        let http = reqwest::Client::new();
        let metrics = format!("{}/metrics", server.url);

        let (status, code) = error_code(http.get(&metrics).send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, "unauthenticated"));
        for token in [anna.login.token.as_str(), root.login.token.as_str(), "fst_wrong"] {
            let (status, code) = error_code(http.get(&metrics).bearer_auth(token).send().await.unwrap()).await;
            assert_eq!((status, code.as_str()), (403, "forbidden"), "device tokens, even an admin's, do not read metrics");
        }

        anna.replica.create("customer", &customer("A", "North")).await.unwrap();
        anna.replica.create("customer", &customer("B", "North")).await.unwrap();
        anna.sync().await;
        // One refused document: a kind the server does not know.
        anna.replica.create("customer", &customer("C", "North")).await.unwrap();
        let mut bad = PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 };
        bad.docs[0].kind = "invoice".into();
        let refused = anna.client.push(&bad).await.unwrap();
        assert_eq!(refused.results[0].status, PushStatus::Rejected);

        let response = http.get(&metrics).bearer_auth(SCRAPE_TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
        let text = response.text().await.unwrap();
        assert_eq!(sample(&text, "fieldsync_sync_pushes_total"), 2.0, "{text}");
        assert_eq!(sample(&text, r#"fieldsync_sync_push_docs_total{status="applied"}"#), 2.0);
        assert!(sample(&text, "fieldsync_sync_changes_applied_total") >= 2.0);
        assert_eq!(sample(&text, r#"fieldsync_sync_refusals_total{status="rejected",reason="unknown_kind"}"#), 1.0);
        let pulls = sample(&text, "fieldsync_sync_pulls_total");
        assert!(pulls >= 1.0);
        assert_eq!(sample(&text, "fieldsync_sync_device_lag_count"), pulls, "every pull observes the lag");
        // Anna's first pull came after her two records were on the feed: she was at least two behind.
        assert!(sample(&text, "fieldsync_sync_device_lag_sum") >= 2.0, "{text}");
        assert_eq!(sample(&text, r#"fieldsync_http_request_duration_seconds_count{method="POST",endpoint="/v1/sync/push"}"#), 2.0);
        assert_eq!(sample(&text, r#"fieldsync_http_requests_total{method="GET",endpoint="/metrics",status="403"}"#), 3.0);

        // Without a configured scrape token, /metrics is closed to everyone.
        let closed = TestServer::start(&db).await;
        let (status, _) = error_code(http.get(format!("{}/metrics", closed.url)).bearer_auth(SCRAPE_TOKEN).send().await.unwrap()).await;
        assert_eq!(status, 403);
    }
}

storage_test! {
    async fn expired_tokens_are_refused_and_revocation_still_wipes(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let old = server.device("anna@x.test").await;
        let revoked_and_old = server.device("anna@x.test").await;
        let fresh = server.device("anna@x.test").await;
        // Age two tokens past the 90-day default lifetime.
        let ninety_one_days_ago = fieldsync_server::db::now_ms() - 91 * 24 * 3600 * 1000;
        for device in [&old, &revoked_and_old] {
            let aged = devices::Entity::update_many()
                .col_expr(devices::Column::CreatedAt, Expr::value(ninety_one_days_ago))
                .filter(devices::Column::Id.eq(device.login.device_id))
                .exec(&server.state.db.conn)
                .await
                .unwrap();
            assert_eq!(aged.rows_affected, 1);
        }
        fresh.client.revoke_device(revoked_and_old.login.device_id).await.unwrap();

        let http = reqwest::Client::new();
        let devices = format!("{}/v1/devices", server.url);
        let (status, code) = error_code(http.get(&devices).bearer_auth(&old.login.token).send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, "token_expired"));
        let err = old.client.pull(&Default::default()).await.unwrap_err();
        assert_eq!(err.code(), Some("token_expired"));
        assert!(!err.is_wipe(), "an expired token keeps the device's data: log in again");
        // Revocation wins over expiry: the device must still hear that it has to wipe.
        let err = revoked_and_old.client.pull(&Default::default()).await.unwrap_err();
        assert_eq!(err.code(), Some("device_revoked"));
        assert!(err.is_wipe());
        let listed = fresh.client.devices().await.unwrap();
        assert_eq!(listed.len(), 3, "expired devices stay listed");

        // A server configured without expiry accepts the old token.
        let forever = TestServer::start_with(Settings { token_ttl: None, ..db.settings() }).await;
        let response = http.get(format!("{}/v1/devices", forever.url)).bearer_auth(&old.login.token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        // Logging in again gives a working token.
        let again = server.device("anna@x.test").await;
        assert!(again.client.devices().await.is_ok());
    }
}

storage_test! {
    async fn failed_logins_are_limited_per_account_and_per_address(db: TestDb) {
        let settings = Settings {
            login_account_rate: Rate::new(3, Duration::from_secs(3600)),
            login_addr_rate: Rate::new(5, Duration::from_secs(3600)),
            ..db.settings()
        };
        let server = TestServer::start_with(settings).await;
        for who in ["anna", "ben", "carla", "dora"] {
            server.user(&format!("{who}@x.test"), Role::Agent, &["North"]).await;
        }
        let http = reqwest::Client::new();
        let login = format!("{}/v1/auth/login", server.url);
        let attempt = |email: &str, password: &str| http.post(&login).json(&login_body(email, password)).send();

        // Successful logins use up nothing.
        for _ in 0..5 {
            assert_eq!(attempt("anna@x.test", PASSWORD).await.unwrap().status(), 200);
        }
        for _ in 0..3 {
            let (status, code) = error_code(attempt("anna@x.test", "wrong").await.unwrap()).await;
            assert_eq!((status, code.as_str()), (401, "bad_credentials"));
        }
        // The account's bucket is empty: even the right password is refused, with a time to wait.
        let refused = attempt("ANNA@x.test ", PASSWORD).await.unwrap();
        let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=1200).contains(&wait), "{wait}");
        let (status, code) = error_code(refused).await;
        assert_eq!((status, code.as_str()), (429, "too_many_login_attempts"));
        // Another account from the same address still logs in.
        assert_eq!(attempt("ben@x.test", PASSWORD).await.unwrap().status(), 200);
        // Two more failures on other accounts (and unknown ones) empty the address's bucket of five.
        assert_eq!(attempt("nobody@x.test", "wrong").await.unwrap().status(), 401);
        assert_eq!(attempt("carla@x.test", "wrong").await.unwrap().status(), 401);
        let (status, code) = error_code(attempt("dora@x.test", PASSWORD).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (429, "too_many_login_attempts"));
        assert_eq!(server.count("devices").await, 6, "refused logins register no device");
    }
}

storage_test! {
    async fn failed_logins_are_counted_across_server_processes(db: TestDb) {
        let settings = || Settings {
            login_account_rate: Rate::new(4, Duration::from_secs(3600)),
            ..db.settings()
        };
        let (one, two) = (TestServer::start_with(settings()).await, TestServer::start_with(settings()).await);
        one.user("anna@x.test", Role::Agent, &["North"]).await;
        one.user("ben@x.test", Role::Agent, &["North"]).await;
        let http = reqwest::Client::new();
        let attempt = |server: &TestServer, email: &str, password: &str| {
            http.post(format!("{}/v1/auth/login", server.url)).json(&login_body(email, password)).send()
        };
        // A success on one process gives back what it took on the shared bucket.
        assert_eq!(attempt(&two, "anna@x.test", PASSWORD).await.unwrap().status(), 200);
        // Four wrong passwords, alternating between the processes, use up the account's bucket of four.
        for server in [&one, &two, &one, &two] {
            let (status, code) = error_code(attempt(server, "anna@x.test", "wrong").await.unwrap()).await;
            assert_eq!((status, code.as_str()), (401, "bad_credentials"));
        }
        // Both processes now refuse, even the right password.
        for server in [&one, &two] {
            let (status, code) = error_code(attempt(server, "anna@x.test", PASSWORD).await.unwrap()).await;
            assert_eq!((status, code.as_str()), (429, "too_many_login_attempts"));
        }
        // Ten guesses at once, half on each process: exactly four get through to the password check.
        let mut guesses = tokio::task::JoinSet::new();
        for i in 0..10 {
            let url = [&one, &two][i % 2].url.clone();
            let http = http.clone();
            guesses.spawn(async move {
                let response = http.post(format!("{url}/v1/auth/login")).json(&login_body("ben@x.test", "wrong")).send().await.unwrap();
                response.status().as_u16()
            });
        }
        let mut statuses = guesses.join_all().await;
        statuses.sort_unstable();
        assert_eq!(statuses, [[401; 4].as_slice(), &[429; 6]].concat());
        assert_eq!(one.count("devices").await, 1);
    }
}

storage_test! {
    async fn sync_is_limited_per_device_with_retry_after(db: TestDb) {
        let settings = Settings { device_sync_rate: Rate::new(3, Duration::from_secs(60)), ..db.settings() };
        let server = TestServer::start_with(settings).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let ben = server.device("anna@x.test").await;
        let http = reqwest::Client::new();
        let pull = format!("{}/v1/sync/pull", server.url);
        for _ in 0..3 {
            let ok = http.get(&pull).bearer_auth(&anna.login.token).send().await.unwrap();
            assert_eq!(ok.status(), 200);
        }
        let limited = http.get(&pull).bearer_auth(&anna.login.token).send().await.unwrap();
        let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&wait), "{wait}");
        let (status, code) = error_code(limited).await;
        assert_eq!((status, code.as_str()), (429, "rate_limited"));
        // Pushes count too, and the refusal changes nothing.
        anna.replica.create("customer", &customer("A", "North")).await.unwrap();
        let push = PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 };
        let err = anna.client.clone().with_retry(fieldsync_sdk::RetryPolicy::none()).push(&push).await.unwrap_err();
        assert_eq!(err.code(), Some("rate_limited"));
        assert_eq!(server.count("documents").await, 0);
        // Another device of the same user has its own budget.
        let ok = http.get(&pull).bearer_auth(&ben.login.token).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }
}

/// `GET /v1/schema` serves every kind's layout from the schemas the server checks pushes with, and
/// the limits this server runs with rather than the defaults.
#[tokio::test]
async fn the_schema_describes_every_kind_under_the_servers_limits() {
    let db = TestDb::sqlite().await;
    let mut settings = db.settings();
    settings.limits.max_docs = 123;
    let limits = settings.limits;
    let server = TestServer::start_with(settings).await;
    server
        .user("agent@acme.test", Role::Agent, &["North"])
        .await;
    let agent = server.device("agent@acme.test").await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/schema", server.url);
    let (status, code) = error_code(http.get(&url).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "unauthenticated"));
    let served: sync_core::layout::SchemaDocument = http
        .get(&url)
        .bearer_auth(&agent.login.token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served.limits.max_docs, 123);
    assert_eq!(
        served,
        sync_core::layout::document(sync_core::kinds::ALL, &limits)
    );
}
