//! The harness of the end-to-end tests: fresh databases, real servers on random ports, and devices.
//!
//! Every storage test runs on SQLite and on PostgreSQL ([`storage_test!`]). PostgreSQL tests need
//! `FIELDSYNC_TEST_POSTGRES_URL` (a database on a server where the user may create databases, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets its own database, dropped afterwards.
//! Without the variable the PostgreSQL variants say so and return; with it set and the server
//! unreachable they fail. Every server of a test database, in this process or as its own, uses the
//! database's one key file ([`TestDb::key_file`]), as the servers of one database must.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod proxy;

use fieldsync_sdk::{Client, Replica};
use fieldsync_server::{AppState, Settings};
use sea_orm::{ConnectionTrait, Database};
use sync_core::protocol::LoginResponse;
use sync_core::Role;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";
pub const POSTGRES_ENV: &str = "FIELDSYNC_TEST_POSTGRES_URL";

/// A fresh, empty database for one test, and the server key file of its servers.
pub struct TestDb {
    pub url: String,
    /// The server key file: on SQLite where `serve` puts it by default, beside the database file;
    /// for PostgreSQL in a directory of the test's own.
    pub key_file: PathBuf,
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("fieldsync.sqlite").display()
        );
        TestDb {
            key_file: fieldsync_server::settings::default_key_file(&url).expect("an SQLite file"),
            url,
            postgres: None,
            _dir: dir,
        }
    }

    /// A new PostgreSQL database, or None (after saying so) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            eprintln!("skipped: PostgreSQL variant needs {POSTGRES_ENV}");
            return None;
        };
        let name = format!("fieldsync_test_{}", Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but unreachable: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("{POSTGRES_ENV} must end with /DATABASE"),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        Some(TestDb {
            url,
            key_file: dir.path().join("server.key"),
            postgres: Some((admin_url, name)),
            _dir: dir,
        })
    }

    /// The default settings of a server of this database.
    pub fn settings(&self) -> Settings {
        Settings {
            key_file: Some(self.key_file.clone()),
            ..Settings::new(&self.url)
        }
    }

    /// Leaves only the newest key in the database's key file, as an operator drops the older
    /// ones after `key reseal`.
    pub fn keep_only_the_newest_key(&self) {
        let text = std::fs::read_to_string(&self.key_file).expect("the key file");
        let newest = text
            .lines()
            .find(|l| !l.starts_with('#') && !l.trim().is_empty())
            .expect("a key");
        std::fs::write(&self.key_file, format!("{newest}\n")).expect("write the key file");
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Another fresh, empty database on the same kind of server.
    pub async fn another(&self) -> TestDb {
        match self.is_postgres() {
            true => TestDb::postgres().await.expect("configured"),
            false => TestDb::sqlite().await,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside any runtime guarantee, so clean up on a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! storage_test {
    ($(#[$meta:meta])* async fn $name:ident($db:ident: $ty:ty) $body:block) => {
        $(#[$meta])*
        mod $name {
            use super::*;

            async fn run($db: $ty) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                run($crate::TestDb::sqlite().await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = $crate::TestDb::postgres().await {
                    run(db).await
                }
            }
        }
    };
}

/// Runs a property test whose cases each get a fresh database: `cases` inputs drawn from `strategy`,
/// each handed to `run` with a new SQLite or PostgreSQL database. A failing case is shrunk and shown.
pub fn property<S, F, Fut>(postgres: bool, cases: u32, strategy: S, run: F)
where
    S: proptest::strategy::Strategy,
    F: Fn(TestDb, S::Value) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if postgres && std::env::var(POSTGRES_ENV).is_err() {
        eprintln!("skipped: PostgreSQL variant needs {POSTGRES_ENV}");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        rt.block_on(async {
            let db = if postgres {
                TestDb::postgres().await.expect("configured")
            } else {
                TestDb::sqlite().await
            };
            run(db, value).await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A real server on a random loopback port, running in this process.
pub struct TestServer {
    pub url: String,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        TestServer::start_with(db.settings()).await
    }

    pub async fn start_with(settings: Settings) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        TestServer::serve_on(settings, listener).await
    }

    /// Starts a server at the URL of one that stopped, as a server restarted in place keeps its
    /// address (devices keep their session's server URL).
    pub async fn restart_at(db: &TestDb, url: &str) -> TestServer {
        let addr = url.strip_prefix("http://").expect("an http URL");
        let listener = TcpListener::bind(addr).await.expect("bind the old address");
        TestServer::serve_on(db.settings(), listener).await
    }

    async fn serve_on(settings: Settings, listener: TcpListener) -> TestServer {
        let state = AppState::new(&settings).await.expect("server state");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel();
        let serving = state.clone();
        let task = tokio::spawn(async move {
            fieldsync_server::serve(serving, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        TestServer {
            url,
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Creates a user with the given role and territories.
    pub async fn user(&self, email: &str, role: Role, territories: &[&str]) -> Uuid {
        let territories: Vec<String> = territories.iter().map(|t| t.to_string()).collect();
        fieldsync_server::auth::users::add_user(&self.state.db, email, role, PASSWORD, &territories)
            .await
            .expect("add user")
    }

    /// Logs a new device in as `email`.
    pub async fn device(&self, email: &str) -> Device {
        Device::login(&self.url, email).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A logged-in device: its client and its records.
pub struct Device {
    pub client: Client,
    pub login: LoginResponse,
    pub replica: Replica,
}

impl Device {
    pub async fn login(url: &str, email: &str) -> Device {
        let mut client = Client::new(url);
        let login = client
            .login(email, PASSWORD, "test device")
            .await
            .expect("login");
        let replica = Replica::in_memory().await.expect("in-memory store");
        replica.adopt(url, email, &login).await.expect("session");
        Device {
            client,
            login,
            replica,
        }
    }

    /// Logs a new device in with a durable store in `dir`.
    pub async fn login_durable(url: &str, email: &str, dir: &std::path::Path) -> Device {
        let mut client = Client::new(url);
        let login = client
            .login(email, PASSWORD, "test device")
            .await
            .expect("login");
        let replica = Replica::open(&dir.join("device.sqlite"))
            .await
            .expect("device store");
        replica.adopt(url, email, &login).await.expect("session");
        Device {
            client,
            login,
            replica,
        }
    }

    /// Reopens a durable device's store, as after the app was killed and started again.
    pub async fn reopen(self, dir: &std::path::Path) -> Device {
        drop(self.replica);
        let replica = Replica::open(&dir.join("device.sqlite"))
            .await
            .expect("device store");
        Device { replica, ..self }
    }

    /// Points the device at a server that moved (a restarted server on a new port).
    pub fn connect(&mut self, url: &str) {
        self.client = Client::new(url).with_token(self.login.token.clone());
    }

    pub async fn sync(&mut self) -> fieldsync_sdk::SyncReport {
        self.replica.sync(&self.client).await.expect("sync")
    }
}

/// A server started as its own operating-system process (the real `fieldsync-server` program).
pub struct ServerProcess {
    pub url: String,
    child: std::process::Child,
}

impl ServerProcess {
    /// Starts `program` (an integration test passes `env!("CARGO_BIN_EXE_e2e-server")`) on the
    /// database, with its key file, or without one to let the server use its default.
    pub fn start(program: &str, database_url: &str, key_file: Option<&Path>) -> ServerProcess {
        ServerProcess::start_with_workers(program, database_url, key_file, None)
    }

    /// Like [`ServerProcess::start`], with `workers` runtime threads instead of one per core: as
    /// many requests worked on at once as on a machine with that many cores.
    pub fn start_with_workers(
        program: &str,
        database_url: &str,
        key_file: Option<&Path>,
        workers: Option<usize>,
    ) -> ServerProcess {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let mut command = std::process::Command::new(program);
        command.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ]);
        if let Some(key_file) = key_file {
            command.arg("--key-file").arg(key_file);
        }
        if let Some(workers) = workers {
            command.env("TOKIO_WORKER_THREADS", workers.to_string());
        }
        let child = command
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start server process");
        ServerProcess {
            url: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// Waits until the server answers its health check.
    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http
                .get(format!("{}/healthz", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server process at {} did not become ready", self.url);
    }

    /// Sends SIGTERM, as an orchestrator does to stop a server gracefully.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// The most memory the process has held so far (its peak resident set, `VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server process's status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in the status");
        kib * 1024
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for server process")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestServer {
    /// `column` of the first row `stmt` reads from the server's database.
    pub async fn value<T: sea_orm::TryGetable>(
        &self,
        stmt: &sea_orm::sea_query::SelectStatement,
        column: &str,
    ) -> T {
        let conn = &self.state.db.conn;
        let row = conn
            .query_one(conn.get_database_backend().build(stmt))
            .await
            .expect("the statement runs")
            .expect("a row");
        row.try_get("", column).expect("the column")
    }

    /// Rows in a table of the server's database.
    pub async fn count(&self, table: &str) -> i64 {
        self.counts(&[table]).await[0]
    }

    /// Row counts of these tables, read in one statement (one snapshot, one round trip).
    pub async fn counts(&self, tables: &[&str]) -> Vec<i64> {
        let conn = &self.state.db.conn;
        let columns: Vec<String> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| format!("(SELECT COUNT(*) FROM {t}) AS n{i}"))
            .collect();
        let sql = format!("SELECT {}", columns.join(", "));
        let row = conn
            .query_one(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                sql,
            ))
            .await
            .expect("counts")
            .expect("a row");
        (0..tables.len())
            .map(|i| row.try_get("", &format!("n{i}")).expect("a count"))
            .collect()
    }

    /// Text columns of one projected record (NULL as None), personal values opened with the
    /// server's key.
    pub async fn projected(&self, table: &str, id: Uuid, columns: &[&str]) -> Vec<Option<String>> {
        use sea_orm::sea_query::{Alias, Expr, Query};
        let conn = &self.state.db.conn;
        let mut stmt = Query::select()
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        for c in columns {
            stmt.expr_as(
                Expr::col(Alias::new(*c)).cast_as(Alias::new("text")),
                Alias::new(*c),
            );
        }
        let row = conn
            .query_one(conn.get_database_backend().build(&stmt))
            .await
            .expect("select")
            .expect("projected row");
        let vault = self.state.db.vault();
        columns
            .iter()
            .map(|c| {
                let value = row.try_get::<Option<String>>("", c).expect("column");
                value.map(|v| vault.open_text(id, &v).expect("a sealed value opens"))
            })
            .collect()
    }

    /// The quarantine entries `token`'s user may review, as `GET /v1/quarantine` lists them.
    pub async fn quarantine(&self, token: &str) -> Vec<serde_json::Value> {
        let list: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/v1/quarantine", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("list the quarantine")
            .json()
            .await
            .expect("a JSON list");
        list.as_array().expect("a list of entries").clone()
    }

    /// Creates a record of `kind` over the JSON API as `who`; its id.
    pub async fn created(&self, who: &Device, kind: &str, fields: serde_json::Value) -> Uuid {
        let (status, body) = self
            .api(
                who,
                reqwest::Method::POST,
                "/v1/records",
                Some(serde_json::json!({"kind": kind, "fields": fields})),
            )
            .await;
        assert_eq!(status, 201, "{kind}: {body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// A JSON API call of `who`'s: the status and the JSON body (null when there is none).
    pub async fn api(
        &self,
        who: &Device,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&who.login.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an API call");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// The server's heads of a document.
    pub async fn heads(&self, id: Uuid) -> Vec<sync_core::protocol::Hash> {
        use sea_orm::EntityTrait;
        let doc = fieldsync_server::db::entities::document::Entity::find_by_id(id)
            .one(&self.state.db.conn)
            .await
            .expect("select");
        doc.map(|d| fieldsync_server::sync::docstore::unpack_heads(&d.heads))
            .unwrap_or_default()
    }
}

/// The ids of a page of `GET /v1/records`, in order.
pub fn record_ids(page: &serde_json::Value) -> Vec<String> {
    page["records"]
        .as_array()
        .expect("a page of records")
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Fields of a customer for tests.
pub fn customer(name: &str, territory: &str) -> Vec<(&'static str, sync_core::Value)> {
    vec![("name", name.into()), ("territory", territory.into())]
}

/// Pushes `n` customers of `territory` made by `device`, each with a field of 20,000 pseudo-random
/// CJK characters (about 60 KB that automerge cannot deflate), of a kind a later version may add (the
/// SDK only writes the fields it knows, so the records are made here): records whose pages are
/// large in bytes, not in count.
pub async fn push_incompressible(device: &Device, n: usize, territory: &str) -> Vec<Uuid> {
    use automerge::transaction::Transactable;
    use sync_core::protocol::{DocPush, PushRequest, PushStatus};
    let mut seed: u32 = 7;
    let mut docs = Vec::new();
    for i in 0..n {
        let caption: String = (0..20_000)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from_u32(0x4E00 + (seed >> 16) % 4096).expect("a CJK character")
            })
            .collect();
        let mut doc =
            automerge::AutoCommit::new().with_actor(device.replica.actor().expect("an actor"));
        for (field, value) in customer(&format!("Large {i}"), territory) {
            doc.put(automerge::ROOT, field, value.as_str().unwrap_or_default())
                .expect("put");
        }
        doc.put(automerge::ROOT, "photo_caption", caption)
            .expect("put");
        doc.commit();
        let change = doc.get_last_local_change().expect("a change");
        docs.push(DocPush {
            id: Uuid::now_v7(),
            kind: "customer".into(),
            base_heads: vec![],
            changes: vec![serde_bytes::ByteBuf::from(change.raw_bytes().to_vec())],
            group: None,
        });
    }
    for part in docs.chunks(50) {
        let push = PushRequest {
            docs: part.to_vec(),
            checkpoint: 0,
        };
        let response = device.client.push(&push).await.expect("push");
        assert!(response
            .results
            .iter()
            .all(|r| r.status == PushStatus::Applied));
    }
    docs.iter().map(|d| d.id).collect()
}

/// Anna and Ben, agents of North, both holding the customer Anna created.
pub async fn anna_and_ben_hold_a_customer(server: &TestServer) -> (Device, Device, Uuid) {
    server
        .user("anna@x.test", sync_core::Role::Agent, &["North"])
        .await;
    server
        .user("ben@x.test", sync_core::Role::Agent, &["North"])
        .await;
    let mut anna = server.device("anna@x.test").await;
    let mut ben = server.device("ben@x.test").await;
    let id = anna
        .replica
        .create("customer", &customer("ACME", "North"))
        .await
        .unwrap();
    anna.sync().await;
    ben.sync().await;
    (anna, ben, id)
}

/// A report of `who`'s (`/v1/reports/{name}?{query}`), which must be served.
pub async fn report(
    server: &TestServer,
    who: &Device,
    name: &str,
    query: &str,
) -> serde_json::Value {
    let path = format!("/v1/reports/{name}?{query}");
    let (status, body) = server.api(who, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{name}?{query}: {body}");
    body
}

/// Asserts each named field of a report's row: integers exactly, ratios to three decimals, null
/// as null.
pub fn assert_row(row: &serde_json::Value, expected: &[(&str, serde_json::Value)]) {
    for (name, want) in expected {
        let got = &row[*name];
        let ok = match want {
            serde_json::Value::Number(n) if n.is_f64() => got
                .as_f64()
                .zip(n.as_f64())
                .is_some_and(|(g, w)| (g - w).abs() < 1e-3),
            other => got == other,
        };
        assert!(ok, "{name}: got {got}, want {want} in {row}");
    }
}
