//! The dashboard in a real headless browser: Debian's `chromium` driven by Playwright
//! (`tests/browser/dashboard.mjs`, `playwright-core` from npm) against a server with the demo
//! company. The script signs in, opens every page, compares the figures shown with the API's JSON,
//! approves a held order and resolves a conflict in the inbox; here, a device then receives both.
//! Screenshots of every page land in `tests/browser/screenshots/`.

use std::path::Path;
use std::process::Command;

use fieldsync_e2e::{anna_and_ben_hold_a_customer, TestDb, TestServer};
use fieldsync_sdk::{LineRequest, OrderOrigin};
use fieldsync_server::demo;
use sea_orm::ConnectionTrait;
use sync_core::Value;
use uuid::Uuid;

/// The sku of one of the demo's active products.
async fn a_product(server: &TestServer) -> String {
    let conn = &server.state.db.conn;
    let row = conn
        .query_one(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT sku FROM products WHERE active ORDER BY sku LIMIT 1",
        ))
        .await
        .unwrap()
        .expect("the demo has products");
    row.try_get("", "sku").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manager_works_the_dashboard_in_a_real_browser() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(&db).await;
    demo::seed(&server.state.db, &server.state.sync, 1)
        .await
        .unwrap();

    // A held order (a discount past an agent's limit) and a conflict (two agents wrote one field
    // offline) in North, Maria's territory.
    let (mut anna, mut ben, customer) = anna_and_ben_hold_a_customer(&server).await;
    let line = LineRequest {
        sku: a_product(&server).await,
        quantity: 1_000,
        discount_bp: 4_000,
    };
    let order = anna
        .replica
        .add_order(
            customer,
            &[line],
            OrderOrigin::default(),
            true,
            fieldsync_server::db::now_ms(),
        )
        .await
        .unwrap()
        .order_id;
    anna.replica
        .update(customer, &[("city", "Aachen".into())])
        .await
        .unwrap();
    ben.replica
        .update(customer, &[("city", "Bonn".into())])
        .await
        .unwrap();
    anna.sync().await;
    ben.sync().await;
    anna.sync().await;
    let held = anna.replica.get(order).await.unwrap();
    assert!(
        held.get("hold_reason").as_str().is_some(),
        "the order is held: {held:?}"
    );
    let conflicts = anna.replica.list("conflict").await.unwrap();
    let conflict: Uuid = conflicts
        .iter()
        .find(|c| c.str("record_id") == Some(customer.to_string().as_str()))
        .map(|c| c.id)
        .expect("a conflict about the customer's city");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let shots = root.join("screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let url = server.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(root.join("dashboard.mjs"))
            .env("FIELDSYNC_URL", url)
            .env("FIELDSYNC_SHOTS", &shots)
            .env("FIELDSYNC_MANAGER", "maria.manager@demo.fieldsync.dev")
            .env("FIELDSYNC_ADMIN", "admin@demo.fieldsync.dev")
            .env("FIELDSYNC_AGENT", "anna.agent@demo.fieldsync.dev")
            .env("FIELDSYNC_PASSWORD", demo::PASSWORD)
            .env("FIELDSYNC_ORDER", order.to_string())
            .env("FIELDSYNC_CONFLICT", conflict.to_string())
            .output()
            .expect("node runs (install Node.js, Debian's chromium, and `npm ci` in tests/browser)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    let done: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the script says what it did");
    assert_eq!(done["approved"], order.to_string());
    assert_eq!(done["resolved"], conflict.to_string());

    // What the manager decided in the browser reaches the agent's device.
    anna.sync().await;
    let approved = anna.replica.get(order).await.unwrap();
    assert_eq!(approved.get("status"), &Value::from("approved"));
    let resolved = anna.replica.get(conflict).await.unwrap();
    assert_eq!(
        resolved.get("status"),
        &Value::from("resolved"),
        "{resolved:?}"
    );
}
