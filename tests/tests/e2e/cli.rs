//! The `fieldsync` CLI as a user runs it: every command's happy path and errors, the sync job that
//! survives the server being down, and a client killed in the middle of a sync.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fieldsync_e2e::{storage_test, TestDb, TestServer, PASSWORD};
use serde_json::Value;
use sync_core::Role;

const CLI: &str = env!("CARGO_BIN_EXE_e2e-fieldsync");
const SERVER: &str = env!("CARGO_BIN_EXE_e2e-server");

/// Runs the CLI with a data directory, `--json`, and extra environment.
fn cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(CLI);
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .env("FIELDSYNC_PASSWORD", PASSWORD);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the CLI")
}

fn ok(out: Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The error a failed command printed: its code.
fn err(out: Output) -> String {
    assert!(
        !out.status.success(),
        "should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let body: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| {
        panic!(
            "stderr not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_works_and_fails_clearly() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(&db).await;
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Errors before login and with wrong credentials or no server.
    assert_eq!(
        err(cli(d, &["customer", "add", "--name", "X"], &[])),
        "not_logged_in"
    );
    assert_eq!(
        err(cli(
            d,
            &["login", "--server", &server.url, "--email", "anna@x.test"],
            &[("FIELDSYNC_PASSWORD", "wrong")]
        )),
        "bad_credentials"
    );
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    assert_eq!(
        err(cli(
            d,
            &["login", "--server", &closed, "--email", "anna@x.test"],
            &[]
        )),
        "unreachable"
    );

    let login = ok(cli(
        d,
        &["login", "--server", &server.url, "--email", "anna@x.test"],
        &[],
    ));
    assert_eq!(login["role"], "agent");
    assert_eq!(login["territories"], serde_json::json!(["North"]));

    // add: the territory defaults to the agent's only one.
    let added = ok(cli(
        d,
        &[
            "customer",
            "add",
            "--name",
            "ACME",
            "--phone",
            "+49 1",
            "--email",
            "buyer@acme.test",
            "--lat",
            "52.5",
            "--lon",
            "13.4",
        ],
        &[],
    ));
    let id = added["id"].as_str().unwrap().to_string();
    let shown = ok(cli(d, &["customer", "show", &id], &[]));
    assert_eq!(
        (
            shown["id"].as_str(),
            shown["name"].as_str(),
            shown["territory"].as_str()
        ),
        (Some(id.as_str()), Some("ACME"), Some("North"))
    );
    assert_eq!(shown["lat"], 52.5);
    ok(cli(
        d,
        &["customer", "set", &id, "city=Berlin", "status=active"],
        &[],
    ));
    assert_eq!(
        ok(cli(d, &["customer", "show", &id], &[]))["city"],
        "Berlin"
    );
    ok(cli(
        d,
        &["customer", "add", "--name", "Other", "--city", "Paris"],
        &[],
    ));
    let berlin = ok(cli(
        d,
        &[
            "customer",
            "list",
            "--where",
            "city=Berlin",
            "--where",
            "status=active",
        ],
        &[],
    ));
    let names: Vec<Value> = berlin
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![Value::from("ACME")]);
    assert_eq!(
        ok(cli(d, &["customer", "list"], &[]))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    err(cli(d, &["customer", "list", "--where", "colour=red"], &[]));
    let contact = ok(cli(
        d,
        &["contact", "add", "--customer-id", &id, "--name", "Jo"],
        &[],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ok(cli(d, &["contact", "list"], &[]))
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Errors: unknown id, bad field, bad value, a field the role may not write, the wrong kind.
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        err(cli(d, &["customer", "show", &unknown], &[])),
        "not_found"
    );
    err(cli(d, &["customer", "set", &id, "colour=red"], &[]));
    err(cli(d, &["customer", "set", &id, "lat=north"], &[]));
    err(cli(
        d,
        &["customer", "add", "--name", "Y", "--email", "not-an-email"],
        &[],
    ));
    assert_eq!(
        err(cli(d, &["customer", "set", &id, "credit_limit=5"], &[])),
        "field_not_writable"
    );
    err(cli(d, &["customer", "show", &contact], &[]));

    let status = ok(cli(d, &["status"], &[]));
    assert_eq!(status["outbox"], 4, "two creates, a set, and the contact");
    assert_eq!(status["last_sync"], Value::Null);
    let report = ok(cli(d, &["sync"], &[]));
    assert_eq!(report["pushed"], 3);
    assert_eq!(
        server
            .projected("customers", id.parse().unwrap(), &["city"])
            .await,
        vec![Some("Berlin".to_string())]
    );
    let status = ok(cli(d, &["status"], &[]));
    assert_eq!(status["outbox"], 0);
    assert!(status["last_sync"].as_str().is_some());

    ok(cli(d, &["customer", "delete", &id], &[]));
    let left = ok(cli(d, &["customer", "list"], &[]));
    assert_eq!(
        left.as_array().unwrap().len(),
        1,
        "the deleted record is no longer listed"
    );
    ok(cli(d, &["sync"], &[]));
    assert_eq!(
        server
            .projected("customers", id.parse().unwrap(), &["deleted"])
            .await[0]
            .as_deref()
            .map(|v| v == "1" || v == "true"),
        Some(true)
    );

    // Human output is a table.
    let human = Command::new(CLI)
        .arg("--data-dir")
        .arg(d)
        .args(["contact", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.starts_with("ID") && text.contains("Jo"), "{text}");
    server.stop().await;
}

storage_test! {
    async fn a_refused_record_stays_on_the_device_with_its_reason(db: TestDb) {
    let server = TestServer::start(&db).await;
    server
        .user("anna@x.test", Role::Agent, &["North", "South"])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(cli(
        d,
        &["login", "--server", &server.url, "--email", "anna@x.test"],
        &[],
    ));
    let id = ok(cli(
        d,
        &["customer", "add", "--name", "A", "--territory", "South"],
        &[],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let good = ok(cli(
        d,
        &["customer", "add", "--name", "B", "--territory", "North"],
        &[],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    // South is taken away before the device syncs: its record is refused, the other goes through.
    let anna = fieldsync_server::auth::users::find_by_email(&server.state.db, "anna@x.test")
        .await
        .unwrap()
        .unwrap();
    fieldsync_server::auth::users::revoke_territory(&server.state.db, anna.id, "South")
        .await
        .unwrap();
    let report = ok(cli(d, &["sync"], &[]));
    assert_eq!(report["rejected"][0]["id"], id.as_str());
    assert_eq!(report["rejected"][0]["code"], "out_of_scope");
    assert_eq!(
        server
            .projected("customers", good.parse().unwrap(), &["name"])
            .await,
        vec![Some("B".to_string())]
    );
    let status = ok(cli(d, &["status"], &[]));
    assert_eq!(status["rejected"][0]["id"], id.as_str());
    assert_eq!(status["rejected"][0]["code"], "out_of_scope");
    assert_eq!(status["outbox"], 1);
    assert_eq!(
        ok(cli(d, &["customer", "show", &id], &[]))["name"],
        "A",
        "still on the device"
    );
    server.stop().await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_job_survives_the_server_being_down() {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, port) = database_with_user(dir.path(), "anna@x.test", "agent");
    let serve = || {
        Command::new(SERVER)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &db_url,
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let url = format!("http://127.0.0.1:{port}");
    let device = dir.path().join("device");
    let mut server = serve();
    wait_ready(&url).await;
    ok(cli(
        &device,
        &["login", "--server", &url, "--email", "anna@x.test"],
        &[],
    ));
    server.kill().unwrap();
    server.wait().unwrap();

    let mut job = Command::new(CLI)
        .arg("--data-dir")
        .arg(&device)
        .args(["--json", "sync", "--watch", "--interval", "300ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // While the job runs against a dead server, the agent keeps working offline.
    let id = ok(cli(
        &device,
        &["customer", "add", "--name", "Offline Ltd"],
        &[],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    // And photographs a visit there.
    let visit = ok(cli(
        &device,
        &["visit", "checkin", &id, "--lat", "52.52", "--lon", "13.40"],
        &[],
    ))["visit_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    jpeg.extend((0..200_000u32).map(|i| (i % 241) as u8));
    let photo = dir.path().join("storefront.jpg");
    std::fs::write(&photo, &jpeg).unwrap();
    let hash = ok(cli(
        &device,
        &["visit", "photo", &visit, photo.to_str().unwrap()],
        &[],
    ))["hash"]
        .as_str()
        .unwrap()
        .to_string();
    // The job's log, line by line as it is written: one JSON object per round.
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let stdout = job.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(round) = serde_json::from_str(&line) {
                let _ = tx.send(round);
            }
        }
    });
    let next_round = |rx: &std::sync::mpsc::Receiver<Value>| {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the job logs every round")
    };
    let mut rounds = vec![next_round(&rx)];
    while rounds.len() < 3 {
        rounds.push(next_round(&rx));
    }
    assert!(
        rounds.iter().all(|r| r["ok"] == false),
        "rounds fail while the server is down: {rounds:?}"
    );
    let mut server = serve();
    wait_ready(&url).await;
    let mut pushed = false;
    for _ in 0..50 {
        let round = next_round(&rx);
        if round["ok"] == true && round["report"]["pushed"] == 2 {
            // The photo goes in the same round, after the records.
            assert_eq!(round["report"]["uploaded_files"], 1, "{round}");
            pushed = true;
            break;
        }
    }
    job.kill().unwrap();
    let _ = job.wait();
    server.kill().unwrap();
    let _ = server.wait();
    assert!(
        pushed,
        "the job pushed the records and the photo once the server was back"
    );
    assert_eq!(ok(cli(&device, &["status"], &[]))["outbox"], 0);
    // An empty outbox means the server acknowledged the record; a second device sees it.
    let mut server = serve();
    wait_ready(&url).await;
    let other = dir.path().join("other");
    ok(cli(
        &other,
        &["login", "--server", &url, "--email", "anna@x.test"],
        &[],
    ));
    ok(cli(&other, &["sync"], &[]));
    assert_eq!(
        ok(cli(&other, &["customer", "show", &id], &[]))["name"],
        "Offline Ltd"
    );
    let fetched = dir.path().join("fetched.jpg");
    ok(cli(
        &other,
        &[
            "attachment",
            "get",
            &hash,
            "--out",
            fetched.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(std::fs::read(&fetched).unwrap(), jpeg);
    server.kill().unwrap();
    let _ = server.wait();
}

/// A SQLite database in `dir` with one user (`email`, of `role` in North) for a server run as a
/// process, and a free port for it: the database's URL and the port.
fn database_with_user(dir: &Path, email: &str, role: &str) -> (String, u16) {
    let db_url = format!("sqlite://{}?mode=rwc", dir.join("server.sqlite").display());
    let setup = Command::new(SERVER)
        .args(["user", "add", email, "--role", role, "--territory", "North"])
        .args(["--database-url", &db_url])
        .env("FIELDSYNC_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(setup.status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (db_url, port)
}

async fn wait_ready(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {url} never became ready");
}

storage_test! {
    async fn a_client_killed_mid_sync_finishes_without_loss_or_duplicates(db: TestDb) {
    let server = TestServer::start(&db).await;
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    server.user("ben@x.test", Role::Agent, &["North"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (anna, ben) = (dir.path().join("anna"), dir.path().join("ben"));
    ok(cli(
        &anna,
        &["login", "--server", &server.url, "--email", "anna@x.test"],
        &[],
    ));
    ok(cli(
        &ben,
        &["login", "--server", &server.url, "--email", "ben@x.test"],
        &[],
    ));
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            ok(cli(
                &anna,
                &["customer", "add", "--name", &format!("C{i}")],
                &[],
            ))["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Killed after the server stored the push, before the device stored the acknowledgement.
    let crashed = cli(&anna, &["sync"], &[("FIELDSYNC_CRASH_AT", "after-push")]);
    assert!(!crashed.status.success());
    assert_eq!(
        server.count("documents").await,
        5,
        "the server committed the push"
    );
    assert_eq!(
        ok(cli(&anna, &["status"], &[]))["outbox"],
        5,
        "the device does not know yet"
    );
    let chunks = server.count("doc_chunks").await;
    ok(cli(&anna, &["sync"], &[]));
    assert_eq!(ok(cli(&anna, &["status"], &[]))["outbox"], 0);
    assert_eq!(
        server.count("doc_chunks").await,
        chunks,
        "the re-sent push stored nothing twice"
    );

    // Killed in the middle of a pull, before the page is stored.
    let crashed = cli(&ben, &["sync"], &[("FIELDSYNC_CRASH_AT", "mid-pull")]);
    assert!(!crashed.status.success());
    assert!(
        ok(cli(&ben, &["customer", "list"], &[]))
            .as_array()
            .unwrap()
            .is_empty(),
        "no torn page"
    );
    ok(cli(&ben, &["sync"], &[]));
    let listed = ok(cli(&ben, &["customer", "list"], &[]));
    let mut got: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every record once");
    server.stop().await;
}
}

storage_test! {
    async fn an_agent_checks_in_and_out_of_visits_offline_and_the_server_projects_them(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        // The manager's visit type: a sales call must be checked in within 200 m (soft).
        let mut maria = server.device("maria@x.test").await;
        maria
            .replica
            .create(
                "visit_type",
                &[
                    ("name", "Sales call".into()),
                    ("geofence", "soft".into()),
                    ("radius_m", sync_core::Value::Float(200.0)),
                    ("active", sync_core::Value::Bool(true)),
                ],
            )
            .await
            .unwrap();
        assert!(maria.sync().await.rejected.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(cli(d, &["login", "--server", &server.url, "--email", "anna@x.test"], &[]));
        ok(cli(d, &["sync"], &[]));
        let add = |name: &str| {
            ok(cli(d, &["customer", "add", "--name", name, "--lat", "52.52", "--lon", "13.405"], &[]))["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (berlin, other) = (add("Cafe Mitte"), add("Cafe Nord"));

        // At the door (56 m away): verified, a new unplanned visit, then checked out.
        let visit = ok(cli(
            d,
            &["visit", "checkin", &berlin, "--lat", "52.5205", "--lon", "13.405", "--accuracy", "8"],
            &[],
        ));
        let visit_id = visit["visit_id"].as_str().unwrap().to_string();
        assert_eq!((visit["result"].as_str(), visit["planned"].as_bool()), (Some("verified"), Some(false)));
        let distance = visit["distance_m"].as_f64().unwrap();
        assert!((50.0..60.0).contains(&distance), "{distance}");
        let shown = ok(cli(d, &["visit", "show", &visit_id], &[]));
        assert_eq!((shown["status"].as_str(), shown["visit_type"].as_str()), (Some("in_progress"), Some("Sales call")));
        ok(cli(d, &["visit", "checkout", &visit_id, "--outcome", "Ordered beans"], &[]));
        let shown = ok(cli(d, &["visit", "show", &visit_id], &[]));
        assert_eq!((shown["status"].as_str(), shown["outcome"].as_str()), (Some("completed"), Some("Ordered beans")));
        // Checking out twice, or out of something that is not a visit, is refused and changes nothing.
        assert_eq!(err(cli(d, &["visit", "checkout", &visit_id], &[])), "not_checked_in");
        assert_eq!(err(cli(d, &["visit", "checkout", &berlin], &[])), "wrong_kind");
        assert_eq!(err(cli(d, &["visit", "checkin", &visit_id, "--lat", "1", "--lon", "1"], &[])), "wrong_kind");
        assert_eq!(
            err(cli(d, &["visit", "checkin", &berlin, "--lat", "52.5", "--lon", "13.4", "--type", "Audit"], &[])),
            "unknown_visit_type"
        );
        assert_eq!(ok(cli(d, &["status"], &[]))["outbox"], 4, "the refused actions wrote nothing");
        err(cli(d, &["visit", "checkin", &berlin, "--lat", "95", "--lon", "13.4"], &[]));

        // A planned visit is the one checked into; from 390 km away (Munich) it is out of range.
        let planned = ok(cli(
            d,
            &["visit", "add", "--customer-id", &other, "--status", "planned", "--planned-start", &now_ms().to_string()],
            &[],
        ))["id"]
            .as_str()
            .unwrap()
            .to_string();
        // The day's plan lists it with its customer; the completed visit is done and not listed.
        let today = ok(cli(d, &["today"], &[]));
        let visits = today["visits"].as_array().unwrap();
        assert_eq!(visits.len(), 1, "{today}");
        assert_eq!((visits[0]["visit"]["id"].as_str(), visits[0]["customer_name"].as_str()), (Some(planned.as_str()), Some("Cafe Nord")));
        assert!(today["outbox"].as_u64().unwrap() > 0);
        let far = ok(cli(d, &["visit", "checkin", &other, "--lat", "48.137", "--lon", "11.575"], &[]));
        assert_eq!(far["visit_id"].as_str(), Some(planned.as_str()));
        assert_eq!((far["planned"].as_bool(), far["result"].as_str()), (Some(true), Some("out_of_range")));
        assert!(far["distance_m"].as_f64().unwrap() > 480_000.0);

        // A payment takes the company's currency from the settings on the device.
        server.user("root@x.test", Role::Admin, &[]).await;
        let mut root = server.device("root@x.test").await;
        root.replica.create("settings", &[("currency", "EUR".into())]).await.unwrap();
        assert!(root.sync().await.rejected.is_empty());
        ok(cli(d, &["sync"], &[]));
        let paid = ok(cli(d, &["payment", "add", "--customer-id", &berlin, "--amount", "1250", "--method", "cash"], &[]));
        let paid = ok(cli(d, &["payment", "show", paid["id"].as_str().unwrap()], &[]));
        assert_eq!((paid["currency"].as_str(), paid["amount"].as_i64()), (Some("EUR"), Some(1250)));

        // The agent may not grade a customer; the manager may.
        assert_eq!(err(cli(d, &["customer", "set", &berlin, "tier=A"], &[])), "field_not_writable");
        let report = ok(cli(d, &["sync"], &[]));
        assert_eq!(report["rejected"].as_array().map(Vec::len), Some(0), "{report}");
        let visit_uuid = visit_id.parse().unwrap();
        assert_eq!(
            server
                .projected("visits", visit_uuid, &["status", "check_in_result", "outcome"])
                .await,
            [Some("completed".into()), Some("verified".into()), Some("Ordered beans".into())]
        );
        assert_eq!(
            server.projected("visits", planned.parse().unwrap(), &["status", "check_in_result"]).await,
            [Some("in_progress".into()), Some("out_of_range".into())]
        );
        maria.sync().await;
        maria.replica.update(berlin.parse().unwrap(), &[("tier", "A".into()), ("tier_locked", sync_core::Value::Bool(true))]).await.unwrap();
        assert!(maria.sync().await.rejected.is_empty());
        ok(cli(d, &["sync"], &[]));
        assert_eq!(ok(cli(d, &["customer", "show", &berlin], &[]))["tier"], "A");
        server.stop().await;
    }
}

storage_test! {
    async fn an_agent_takes_orders_and_payments_offline_and_a_manager_approves_the_held_one(db: TestDb) {
        use sync_core::Value as V;
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        let mut root = server.device("root@x.test").await;
        root.replica
            .create("settings", &[("currency", "EUR".into()), ("agent_discount_limit_bp", V::Int(1_000))])
            .await
            .unwrap();
        for (sku, price, tax) in [("BEANS", 2_450, 700), ("CUPS", 5_900, 1_900)] {
            root.replica
                .create("product", &[
                    ("sku", sku.into()),
                    ("name", sku.into()),
                    ("active", V::Bool(true)),
                    ("list_price", V::Int(price)),
                    ("tax_bp", V::Int(tax)),
                ])
                .await
                .unwrap();
        }
        assert!(root.sync().await.rejected.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(cli(d, &["login", "--server", &server.url, "--email", "anna@x.test"], &[]));
        ok(cli(d, &["sync"], &[]));
        let add = |name: &str| ok(cli(d, &["customer", "add", "--name", name], &[]))["id"].as_str().unwrap().to_string();
        let (shop, other) = (add("Kiosk"), add("Bistro"));

        // Two beans and one and a half boxes of cups at 5% off, submitted at once, offline.
        let taken = ok(cli(d, &["order", "add", "--customer-id", &shop, "--line", "BEANS:2", "--line", "CUPS:1.5:5", "--submit"], &[]));
        assert_eq!(taken["status"], "submitted");
        assert_eq!(taken["currency"], "EUR");
        let quantities: Vec<i64> = taken["lines"].as_array().unwrap().iter().map(|l| l["quantity"].as_i64().unwrap()).collect();
        assert_eq!(quantities, [2_000, 1_500]);
        // 2 × 24.50 + 1.5 × 59.00 (88.50, less 4.43) = 49.00 + 84.07; tax 3.43 + 15.97.
        assert_eq!(taken["totals"]["subtotal"], 4_900 + 8_850);
        assert_eq!(taken["totals"]["total"], 4_900 + 343 + 8_407 + 1_597);
        let order = taken["order_id"].as_str().unwrap().to_string();

        // A draft, submitted later; a deep discount, held by the server once it syncs.
        let draft = ok(cli(d, &["order", "add", "--customer-id", &shop, "--line", "BEANS:1"], &[]));
        assert_eq!(draft["status"], "draft");
        let draft = draft["order_id"].as_str().unwrap().to_string();
        ok(cli(d, &["order", "submit", &draft], &[]));
        let deep = ok(cli(d, &["order", "add", "--customer-id", &shop, "--line", "BEANS:3:15", "--submit"], &[]))["order_id"].as_str().unwrap().to_string();

        // Payments: one settling the first order, on the device's figure.
        let total = taken["totals"]["total"].as_i64().unwrap().to_string();
        let paid = ok(cli(d, &["payment", "add", "--customer-id", &shop, "--order-id", &order, "--amount", &total, "--method", "card"], &[]));
        let paid = ok(cli(d, &["payment", "show", paid["id"].as_str().unwrap()], &[]));
        assert_eq!(paid["allocations"][0]["order_id"], order.as_str());
        assert_eq!(paid["currency"], "EUR");

        // Errors: an unknown product, a bad line, another customer's order, a kind that is not an
        // order; none writes anything.
        let outbox = ok(cli(d, &["status"], &[]))["outbox"].clone();
        assert_eq!(err(cli(d, &["order", "add", "--customer-id", &shop, "--line", "DECAF:1"], &[])), "unknown_product");
        for bad in ["BEANS", "BEANS:0", "BEANS:1:150", "BEANS:1.0001"] {
            err(cli(d, &["order", "add", "--customer-id", &shop, "--line", bad], &[]));
        }
        assert_eq!(err(cli(d, &["payment", "add", "--customer-id", &other, "--order-id", &order, "--amount", "1"], &[])), "wrong_order");
        assert_eq!(err(cli(d, &["order", "submit", &shop], &[])), "wrong_kind");
        assert_eq!(err(cli(d, &["order", "add", "--customer-id", &order, "--line", "BEANS:1"], &[])), "wrong_kind");
        assert_eq!(ok(cli(d, &["status"], &[]))["outbox"], outbox, "refused commands write nothing");

        let report = ok(cli(d, &["sync"], &[]));
        assert_eq!(report["rejected"].as_array().map(Vec::len), Some(0), "{report}");
        let held = ok(cli(d, &["order", "show", &deep], &[]));
        assert!(held["hold_reason"].as_str().unwrap().contains("discount"), "{held}");
        assert!(ok(cli(d, &["order", "show", &order], &[]))["hold_reason"].is_null());
        assert_eq!(
            server.projected("orders", order.parse().unwrap(), &["status", "total"]).await,
            [Some("submitted".into()), Some(taken["totals"]["total"].to_string())]
        );

        // The manager approves the held order; the agent's device receives the decision, and an
        // approved order is no longer the agent's to submit.
        let maria = server.device("maria@x.test").await;
        let (status, body) = server
            .api(&maria, reqwest::Method::POST, &format!("/v1/orders/{deep}/approve"), Some(serde_json::json!({"note": "launch offer"})))
            .await;
        assert_eq!(status, 200, "{body}");
        ok(cli(d, &["sync"], &[]));
        let approved = ok(cli(d, &["order", "show", &deep], &[]));
        assert_eq!((approved["status"].as_str(), approved["decision_note"].as_str()), (Some("approved"), Some("launch offer")));
        assert_eq!(err(cli(d, &["order", "submit", &deep], &[])), "status_not_allowed");
        server.stop().await;
    }
}

storage_test! {
    async fn an_agent_sees_and_closes_her_tasks_and_only_managers_set_targets(db: TestDb) {
        use reqwest::Method;
        use serde_json::json;
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let day = 86_400_000;
        let mut tasks = Vec::new();
        for (title, due) in [("Overdue call", now_ms() - 2 * day), ("Today's note", now_ms()), ("Next week", now_ms() + 7 * day)] {
            let (status, body) = server.api(&maria, Method::POST, "/v1/records", Some(json!({"kind": "task", "fields": {
                "territory": "North", "title": title, "status": "open", "assignee_id": anna_id, "due_at": due,
            }}))).await;
            assert_eq!(status, 201, "{body}");
            tasks.push(body["id"].as_str().unwrap().to_string());
        }
        let (status, body) = server.api(&maria, Method::POST, "/v1/records", Some(json!({"kind": "sales_target", "fields": {
            "territory": "North", "agent_id": anna_id, "metric": "revenue", "value": 1_000_000,
            "period_start": now_ms() - day, "period_end": now_ms() + 30 * day,
        }}))).await;
        assert_eq!(status, 201, "{body}");

        // Her route for today: the later visit first.
        let created = |kind: &str, fields: serde_json::Value| {
            let maria = &maria;
            let server = &server;
            let kind = kind.to_string();
            async move {
                let (status, body) = server.api(maria, Method::POST, "/v1/records", Some(json!({"kind": kind, "fields": fields}))).await;
                assert_eq!(status, 201, "{body}");
                body["id"].as_str().unwrap().to_string()
            }
        };
        let shop = created("customer", json!({"name": "Kiosk", "territory": "North"})).await;
        // Now is within the device's today whatever its time zone (as in the visits test above).
        let now = now_ms();
        let early = created("visit", json!({"customer_id": shop, "status": "planned", "planned_start": now})).await;
        let late = created("visit", json!({"customer_id": shop, "status": "planned", "planned_start": now + 1})).await;
        created("visit_plan", json!({"territory": "North", "agent_id": anna_id, "day": now, "stops": [
            {"visit_id": late, "sequence": 1}, {"visit_id": early, "sequence": 2},
        ]})).await;

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(cli(d, &["login", "--server", &server.url, "--email", "anna@x.test"], &[]));
        ok(cli(d, &["sync"], &[]));
        // Today lists her visits in the plan's route order, the overdue task and today's, not next
        // week's.
        let today = ok(cli(d, &["today"], &[]));
        let route: Vec<&str> = today["visits"].as_array().unwrap().iter().map(|v| v["visit"]["id"].as_str().unwrap()).collect();
        assert_eq!(route, [late.as_str(), early.as_str()], "{today}");
        let titles: Vec<&str> = today["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Overdue call", "Today's note"], "{today}");
        ok(cli(d, &["task", "done", &tasks[0]], &[]));
        assert_eq!(err(cli(d, &["task", "done", &tasks[0]], &[])), "not_open");
        let today = ok(cli(d, &["today"], &[]));
        assert_eq!(today["tasks"].as_array().unwrap().len(), 1);
        // She adds a task of her own; a target is not hers to set, on the device or over the API.
        ok(cli(d, &["task", "add", "--title", "Order cups", "--status", "open"], &[]));
        assert_eq!(ok(cli(d, &["sales_target", "list"], &[])).as_array().unwrap().len(), 1);
        assert_eq!(err(cli(d, &["sales_target", "add", "--metric", "visits", "--value", "5", "--period-start", "0", "--period-end", "1"], &[])), "field_not_writable");
        let report = ok(cli(d, &["sync"], &[]));
        assert_eq!(report["rejected"].as_array().map(Vec::len), Some(0), "{report}");
        assert_eq!(
            server.projected("tasks", tasks[0].parse().unwrap(), &["status"]).await,
            [Some("done".into())]
        );
        assert_eq!(server.count("tasks").await, 4);
        server.stop().await;
    }
}

storage_test! {
    async fn an_agent_converts_a_lead_and_is_stopped_before_making_a_customer_twice(db: TestDb) {
        use serde_json::json;
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let kiosk = server.created(&maria, "customer", json!({
            "name": "Kiosk am Markt", "territory": "North", "phone": "+49 30 1234567", "city": "Bonn"})).await.to_string();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(cli(d, &["login", "--server", &server.url, "--email", "anna@x.test"], &[]));
        ok(cli(d, &["sync"], &[]));
        let add = |name: &str, phone: &str| ok(cli(d, &["lead", "add", "--name", name, "--territory", "North", "--status", "new",
            "--phone", phone, "--city", "Bonn"], &[]))["id"].as_str().unwrap().to_string();
        let twin = add("Kiosk am Markt", "030 1234567");
        let other = add("Paul Sand", "0171 555");
        let found = ok(cli(d, &["lead", "duplicates", &twin], &[]));
        assert_eq!(found[0]["id"].as_str(), Some(kiosk.as_str()), "{found}");
        assert_eq!(err(cli(d, &["lead", "convert", &twin], &[])), "likely_duplicate");
        assert_eq!(ok(cli(d, &["lead", "show", &twin], &[]))["status"], "new", "nothing converted");
        let made = ok(cli(d, &["lead", "convert", &twin, "--into", &kiosk, "--deal", "Espresso machine"], &[]));
        assert_eq!((made["customer"].as_str(), made["new_customer"].as_bool()), (Some(kiosk.as_str()), Some(false)));
        let made = ok(cli(d, &["lead", "convert", &other], &[]));
        assert_eq!(made["new_customer"], true);
        let report = ok(cli(d, &["sync"], &[]));
        assert_eq!(report["rejected"].as_array().map(Vec::len), Some(0), "{report}");
        assert_eq!(server.count("customers").await, 2, "the kiosk and Paul's new one");
        server.stop().await;
    }
}

storage_test! {
    async fn an_agent_sees_a_campaigns_customers_today_and_records_their_answers(db: TestDb) {
        use serde_json::json;
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let kiosk = server.created(&maria, "customer", json!({"name": "Kiosk am Markt", "territory": "North"})).await;
        let day = 86_400_000;
        server.created(&maria, "campaign", json!({
            "name": "Spring tasting", "campaign_type": "promotion", "status": "active", "channel": "visit",
            "starts_at": now_ms() - day, "ends_at": now_ms() + 7 * day, "asks": "Offer a tasting",
            "customers": [{"customer_id": kiosk}]})).await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(cli(d, &["login", "--server", &server.url, "--email", "anna@x.test"], &[]));
        ok(cli(d, &["sync"], &[]));
        let today = ok(cli(d, &["today"], &[]));
        let calls = today["campaigns"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{today}");
        assert_eq!(calls[0]["asks"], "Offer a tasting");
        let member = calls[0]["id"].as_str().unwrap().to_string();
        let maybe = cli(d, &["campaign_member", "respond", &member, "--response", "maybe"], &[]);
        assert!(!maybe.status.success() && String::from_utf8_lossy(&maybe.stderr).contains("possible values"));
        ok(cli(d, &["campaign_member", "respond", &member, "--response", "interested"], &[]));
        assert!(ok(cli(d, &["today"], &[]))["campaigns"].as_array().unwrap().is_empty());
        // What the campaign asks is the server's: the command line has no option for it.
        let asks = cli(d, &["campaign_member", "set", &member, "--asks", "Nothing"], &[]);
        assert!(!asks.status.success() && String::from_utf8_lossy(&asks.stderr).contains("unexpected argument"));
        let report = ok(cli(d, &["sync"], &[]));
        assert_eq!(report["rejected"].as_array().map(Vec::len), Some(0), "{report}");
        assert_eq!(server.projected("campaign_members", member.parse().unwrap(), &["response"]).await, [Some("interested".into())]);
        server.stop().await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

storage_test! {
    async fn an_agent_photographs_a_visit_offline_and_a_manager_downloads_the_photo(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("anna");
        let d = d.as_path();
        ok(cli(d, &["login", "--server", &server.url, "--email", "anna@x.test"], &[]));
        let shop = ok(cli(d, &["customer", "add", "--name", "Cafe Mitte", "--lat", "52.52", "--lon", "13.405"], &[]))["id"].as_str().unwrap().to_string();
        let visit = ok(cli(d, &["visit", "checkin", &shop, "--lat", "52.52", "--lon", "13.405"], &[]))["visit_id"].as_str().unwrap().to_string();

        // Offline: the photo is attached and kept on the device, and readable from there.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        jpeg.extend((0..300_000u32).map(|i| (i * 7 % 251) as u8));
        let photo = dir.path().join("shelf.jpg");
        std::fs::write(&photo, &jpeg).unwrap();
        let attached = ok(cli(d, &["visit", "photo", &visit, photo.to_str().unwrap(), "--caption", "Shelf"], &[]));
        let hash = attached["hash"].as_str().unwrap().to_string();
        assert_eq!(hash, sync_core::attachments::hash(&jpeg));
        assert_eq!(ok(cli(d, &["attachment", "pending"], &[])).as_array().unwrap().len(), 1);
        let local = dir.path().join("local.jpg");
        ok(cli(d, &["attachment", "get", &hash, "--out", local.to_str().unwrap()], &[]));
        assert_eq!(std::fs::read(&local).unwrap(), jpeg);
        let shown = ok(cli(d, &["visit", "show", &visit], &[]));
        assert_eq!(shown["photos"][0]["hash"], hash.as_str(), "{shown}");

        // A file that is no photo is attached on the device, and refused by the server, which
        // recognises files by their bytes: it stays on the device with the reason.
        let notes = dir.path().join("notes.jpg");
        std::fs::write(&notes, "not a photo at all").unwrap();
        let refused = ok(cli(d, &["visit", "photo", &visit, notes.to_str().unwrap()], &[]))["hash"].as_str().unwrap().to_string();

        let synced = ok(cli(d, &["sync"], &[]));
        assert_eq!(synced["uploaded_files"], 1, "{synced}");
        let pending = ok(cli(d, &["attachment", "pending"], &[]));
        assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
        assert_eq!(pending[0]["hash"], refused.as_str());
        assert!(pending[0]["refused"].as_str().unwrap().starts_with("media_type_not_allowed"), "{pending}");
        let status = ok(cli(d, &["status"], &[]));
        assert_eq!(status["files"], pending, "status shows the refused file too");

        // The manager's device fetches the photo from the server.
        let m = dir.path().join("maria");
        ok(cli(&m, &["login", "--server", &server.url, "--email", "maria@x.test"], &[]));
        ok(cli(&m, &["sync"], &[]));
        let fetched = dir.path().join("fetched.jpg");
        let got = ok(cli(&m, &["attachment", "get", &hash, "--out", fetched.to_str().unwrap()], &[]));
        assert_eq!(got["size"], jpeg.len());
        assert_eq!(std::fs::read(&fetched).unwrap(), jpeg);
        assert_eq!(err(cli(&m, &["attachment", "get", &refused, "--out", fetched.to_str().unwrap()], &[])), "not_found");
        assert_eq!(err(cli(&m, &["attachment", "get", "nothex", "--out", fetched.to_str().unwrap()], &[])), "error");
    }
}

/// A person's values never reach the server's log, even at the debug level of its own logging and
/// its HTTP layer (the database drivers' debug output, which prints statements with their values,
/// is an operator's deliberate choice and stays at warn): not from a device's push, not from the
/// API's reads, writes, refusals and exports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_values_stay_out_of_the_servers_log() {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, port) = database_with_user(dir.path(), "maria@x.test", "manager");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // The server's own default level: no RUST_LOG.
    let mut server = Command::new(SERVER)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db_url,
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url).await;

    // From a device: a customer and a contact, pushed.
    let device = dir.path().join("device");
    ok(cli(
        &device,
        &["login", "--server", &url, "--email", "maria@x.test"],
        &[],
    ));
    let shop = ok(cli(
        &device,
        &[
            "customer",
            "add",
            "--name",
            "Kiosk",
            "--territory",
            "North",
            "--tax-id",
            "DE-QX-777111",
        ],
        &[],
    ));
    let shop = shop["id"].as_str().unwrap().to_string();
    let zelda = ok(cli(
        &device,
        &[
            "contact",
            "add",
            "--customer-id",
            &shop,
            "--name",
            "Zelda Quux",
            "--phone",
            "+49 170 9990001",
            "--email",
            "zelda@quux.test",
        ],
        &[],
    ));
    let zelda = zelda["id"].as_str().unwrap().to_string();
    ok(cli(&device, &["sync"], &[]));

    // Over the API: reads, a refused write naming a bad value, a good one, exports.
    let http = reqwest::Client::new();
    let api = fieldsync_e2e::Device::login(&url, "maria@x.test").await;
    let token = api.login.token.as_str();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{url}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let refused = call(
        reqwest::Method::PATCH,
        format!("/v1/records/{zelda}"),
        Some(serde_json::json!({"fields": {"email": "zelda.quux-at-nowhere"}})),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 400);
    let moved = call(
        reqwest::Method::PATCH,
        format!("/v1/records/{zelda}"),
        Some(serde_json::json!({"fields": {"phone": "+49 170 9990002"}})),
    )
    .await
    .unwrap();
    assert_eq!(moved.status(), 200);
    for path in [
        format!("/v1/records/{zelda}"),
        format!("/v1/records/{zelda}/history"),
        "/v1/records?kind=contact&phone=%2B49%20170%209990002".to_string(),
        format!("/v1/people/{zelda}/export"),
        "/v1/exports/contacts".to_string(),
        format!("/v1/records/{shop}"),
    ] {
        let answer = call(reqwest::Method::GET, path.clone(), None)
            .await
            .unwrap();
        // A filter on a personal field is refused (it is sealed at rest), its value unlogged.
        let expected = if path.contains("phone=") { 400 } else { 200 };
        assert_eq!(answer.status(), expected, "{path}");
        answer.bytes().await.unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains("listening") || !logged.is_empty(),
        "the server logged: {logged}"
    );
    for value in [
        "Zelda",
        "Quux",
        "9990001",
        "9990002",
        "zelda",
        "DE-QX-777111",
    ] {
        assert!(
            !logged.contains(value),
            "{value} in the server's log:\n{logged}"
        );
    }
}
