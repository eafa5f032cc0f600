//! The `fieldsync-server` program as a user runs it: adding users to a database that does not exist
//! yet, and serving the demo organisation.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fieldsync_e2e::{Device, ServerProcess, PASSWORD};
use sync_core::protocol::PullRequest;

const PROGRAM: &str = env!("CARGO_BIN_EXE_e2e-server");

#[tokio::test]
async fn user_add_creates_the_database_and_the_user_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite");
    let path = path.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(PROGRAM)
            .args(args)
            .env("FIELDSYNC_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let added = run(&[
        "user",
        "add",
        "Anna@X.test",
        "--role",
        "agent",
        "--territory",
        "North",
        "--territory",
        "South",
        "--database-url",
        path,
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("added agent anna@x.test"));
    let again = run(&[
        "user",
        "add",
        "anna@x.test",
        "--role",
        "agent",
        "--database-url",
        path,
    ]);
    assert!(
        !again.status.success(),
        "a second user with the same e-mail is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad_role = run(&[
        "user",
        "add",
        "bo@x.test",
        "--role",
        "boss",
        "--database-url",
        path,
    ]);
    assert!(!bad_role.status.success());
    let revoked = run(&[
        "user",
        "revoke",
        "anna@x.test",
        "--territory",
        "South",
        "--database-url",
        path,
    ]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );

    let server = ServerProcess::start(PROGRAM, path, None);
    server.ready().await;
    let mut anna = Device::login(&server.url, "anna@x.test").await;
    anna.replica
        .create("customer", &fieldsync_e2e::customer("ACME", "North"))
        .await
        .unwrap();
    assert!(anna.sync().await.rejected.is_empty());
    anna.replica
        .create("customer", &fieldsync_e2e::customer("Other", "South"))
        .await
        .unwrap();
    assert_eq!(
        anna.sync().await.rejected[0].1.code,
        "out_of_scope",
        "South was revoked"
    );
}

/// A server process stopped when the test ends, failed or not: one left running would hold the
/// test run's output open.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_demo_seeds_once_and_prints_the_logins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.sqlite");
    let path = path.to_str().unwrap().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(PROGRAM)
        .args([
            "serve",
            "--demo",
            // The last weeks only, whose records this test counts; the history has its own test.
            "--demo-years",
            "0",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &path,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Stopped(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let listening = line.contains("listening on");
        printed.push(line);
        if listening {
            break;
        }
    }
    let out = printed.join("\n");
    assert!(out.contains("anna.agent@demo.fieldsync.dev"), "{out}");
    assert!(out.contains(fieldsync_server::demo::PASSWORD), "{out}");

    let url = format!("http://127.0.0.1:{port}");
    let mut client = fieldsync_sdk::Client::new(&url);
    client
        .login(
            "anna.agent@demo.fieldsync.dev",
            fieldsync_server::demo::PASSWORD,
            "test",
        )
        .await
        .unwrap();
    let mut docs = 0;
    let mut cursor = None;
    loop {
        let page = client
            .pull(&PullRequest {
                cursor,
                limit: Some(1000),
                checkpoint: 0,
            })
            .await
            .unwrap();
        docs += page.docs.len();
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    use fieldsync_server::demo;
    // Every `k`-th customer of a territory, numbered from 0, has the record.
    let every = |k: usize| demo::CUSTOMERS_PER_TERRITORY.div_ceil(k);
    let north = demo::CUSTOMERS_PER_TERRITORY * (1 + demo::VISITS_PER_CUSTOMER)
        + demo::CUSTOMERS_PER_TERRITORY / demo::CONTACT_EVERY
        + every(demo::OPPORTUNITY_EVERY)
        + every(demo::PAYMENT_EVERY)
        + every(demo::TICKET_EVERY)
        + every(demo::ORDER_EVERY)
        // Each held order, and the alert the rules raised about its discount.
        + 2 * (demo::CUSTOMERS_PER_TERRITORY / demo::HELD_EVERY)
        + demo::TASKS_PER_TERRITORY
        + demo::TARGETS_PER_TERRITORY
        // Anna's half of North's leads: she and Ben own them by turns.
        + demo::LEADS_PER_TERRITORY / 2
        // The campaign's members in North, each with a task for the territory's team (the demo's
        // customers have no owner).
        + 2 * every(demo::CAMPAIGN_EVERY);
    assert_eq!(north, 75 + 150 + 25 + 19 + 13 + 8 + 38 + 6 + 3 + 2 + 5 + 16);
    assert_eq!(
        docs,
        // The first customer entered twice; the company's one settings record and one price
        // list besides.
        north + 1 + demo::CATALOGUE.len() + demo::VISIT_TYPES.len() + demo::TIER_POLICIES.len() + 2,
        "Anna's territory North: its customers and their records, and the company's catalogue and settings"
    );
    drop(child);

    // A second start with --demo on the same database does not seed again.
    let second = Command::new(PROGRAM)
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &path,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut second = Stopped(second);
    let mut lines = BufReader::new(second.0.stdout.take().unwrap()).lines();
    let first_line = lines.next().unwrap().unwrap();
    assert!(
        first_line.contains("listening on"),
        "no second seed: {first_line}"
    );
}
