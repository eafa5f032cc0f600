//! The agents' app (`clients/app/`, served at `/app/`) in a real headless browser, beside a Rust
//! SDK device of the same territory: `tests/browser/app.mjs` signs in, works offline (customers,
//! a contact, a check-in, an order at the customer's price list, a payment), reloads offline,
//! syncs; here, at its two handshakes, the SDK device edits the same customer and then checks
//! that the app, the device and the server's projection hold the same values and totals, before
//! it revokes the app's device, which the app's next sync wipes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fieldsync_e2e::{customer, storage_test, TestDb, TestServer, PASSWORD};
use fieldsync_server::db::positions;
use reqwest::Method;
use sea_orm::sea_query::{Alias, Expr, Query};
use serde_json::json;
use sync_core::{orders, Role, Value};
use uuid::Uuid;

use crate::backup::{backup, restore, stop};

/// Waits for the script's `n.ready` and answers what it wrote; fails with the script's output if it
/// ended first.
async fn ready(
    dir: &Path,
    n: u32,
    script: &mut tokio::task::JoinHandle<std::process::Output>,
) -> serde_json::Value {
    let file = dir.join(format!("{n}.ready"));
    for _ in 0..1_200 {
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let Ok(v) = serde_json::from_str(&text) {
                return v;
            }
        }
        if script.is_finished() {
            let output = (&mut *script).await.unwrap();
            panic!(
                "the app's browser test ended before handshake {n}:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser never reached handshake {n}");
}

/// Runs `tests/browser/SCRIPT` as Anna against the server at `url`, taking turns with this test
/// through the handshakes' folder `dir`; `shared` is the customer it works on.
fn browser_script(
    script: &str,
    url: &str,
    dir: &Path,
    shared: &str,
) -> tokio::task::JoinHandle<std::process::Output> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let mut command = Command::new("node");
    command
        .arg(root.join(script))
        .env("FIELDSYNC_URL", url)
        .env("FIELDSYNC_AGENT", "anna@x.test")
        .env("FIELDSYNC_PASSWORD", PASSWORD)
        .env("FIELDSYNC_SHARED", shared)
        .env("FIELDSYNC_HANDSHAKE", dir)
        .env("FIELDSYNC_SHOTS", root.join("screenshots").join("app"));
    tokio::task::spawn_blocking(move || {
        command
            .output()
            .expect("node runs (install Node.js, Debian's chromium, and `npm ci` in tests/browser)")
    })
}

/// Waits for the script's end and fails with its output unless it succeeded; answers its output.
async fn finished(script: tokio::task::JoinHandle<std::process::Output>) -> String {
    let output = script.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the app's browser test failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn go(dir: &Path, n: u32) {
    std::fs::write(dir.join(format!("{n}.go")), "go").unwrap();
}

/// The one record of `kind` (`visits`, `orders`, `payments`) the app holds.
fn only<'a>(held: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    let all = held[kind].as_array().unwrap();
    assert_eq!(all.len(), 1, "{kind}: {held}");
    &all[0]
}

/// A company for the app to sell in: settings in EUR (agents may give 10% discount), beans on a
/// price list with a break at ten, cups at the catalogue's price, and a visit type with a 500 m
/// geofence. Answers the price list.
async fn company(server: &TestServer) -> Uuid {
    server.user("root@x.test", Role::Admin, &[]).await;
    server.user("maria@x.test", Role::Manager, &["North"]).await;
    let admin = server.device("root@x.test").await;
    let maria = server.device("maria@x.test").await;
    server
        .created(
            &admin,
            "settings",
            json!({"currency": "EUR", "agent_discount_limit_bp": 1_000}),
        )
        .await;
    let beans = server
        .created(&maria, "product", json!({"sku": "BEANS", "name": "Espresso beans", "active": true, "list_price": 2_450, "tax_bp": 700}))
        .await;
    server
        .created(&maria, "product", json!({"sku": "CUPS", "name": "Paper cups", "active": true, "list_price": 5_900, "tax_bp": 1_900}))
        .await;
    server
        .created(
            &maria,
            "visit_type",
            json!({"name": "Sales call", "geofence": "soft", "radius_m": 500.0, "active": true}),
        )
        .await;
    server
        .created(
            &maria,
            "price_list",
            json!({"name": "Key accounts", "currency": "EUR", "active": true, "prices": [
                {"product_id": beans, "unit_price": 2_200},
                {"product_id": beans, "min_quantity": 10_000, "unit_price": 2_000},
            ]}),
        )
        .await
}

fn stored<'a>(customers: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    customers["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fields"]["name"] == name)
        .unwrap_or_else(|| panic!("the app holds no {name}: {customers}"))
}

storage_test! {
    async fn an_agent_works_offline_in_the_app_beside_a_cli_device(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut cli = server.device("anna@x.test").await;
        let shared = cli.replica.create("customer", &customer("Shared Shop", "North")).await.unwrap();
        cli.replica
            .update(shared, &[("city", "Bonn".into()), ("lat", Value::Float(50.7374)), ("lon", Value::Float(7.0982))])
            .await
            .unwrap();
        let mut far = customer("Far Shop", "North");
        far.extend([("lat", Value::Float(53.5511)), ("lon", Value::Float(9.9937))]);
        let far_id = cli.replica.create("customer", &far).await.unwrap();
        cli.sync().await;
        let price_list = company(&server).await;
        // Today's plan: the far shop first on the route, though the shared one starts a moment
        // earlier; both of tier A, which is to be visited weekly and which neither was yet.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let far_visit = cli
            .replica
            .create("visit", &[("customer_id", Value::Str(far_id.to_string())), ("status", "planned".into()), ("planned_start", Value::Int(now + 1))])
            .await
            .unwrap();
        let shared_visit = cli
            .replica
            .create("visit", &[("customer_id", Value::Str(shared.to_string())), ("status", "planned".into()), ("planned_start", Value::Int(now))])
            .await
            .unwrap();
        let stops = vec![
            sync_core::Item::new([("visit_id", Value::Str(far_visit.to_string())), ("sequence", Value::Int(1))]),
            sync_core::Item::new([("visit_id", Value::Str(shared_visit.to_string())), ("sequence", Value::Int(2))]),
        ];
        cli.replica
            .create("visit_plan", &[("territory", "North".into()), ("agent_id", Value::Str(anna.to_string())), ("day", Value::Int(now)), ("stops", Value::Items(stops))])
            .await
            .unwrap();
        let manager = server.device("maria@x.test").await;
        server.created(&manager, "tier_policy", json!({"tier": "A", "visits_per_period": 1, "period_days": 7})).await;
        for (id, fields) in [
            (shared, json!({"price_list_id": price_list, "tier": "A"})),
            (far_id, json!({"tier": "A"})),
        ] {
            let (status, body) = server
                .api(&manager, Method::PATCH, &format!("/v1/records/{id}"), Some(json!({ "fields": fields })))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        // A campaign of the week that names the shared customer.
        const DAY: i64 = 86_400_000;
        server.created(&manager, "campaign", json!({"name": "Spring tasting", "campaign_type": "promotion",
            "status": "active", "channel": "visit", "starts_at": now - DAY, "ends_at": now + 7 * DAY,
            "asks": "Offer a tasting of the new blend", "customers": [{"customer_id": shared}]})).await;
        cli.sync().await;

        let handshake = tempfile::tempdir().unwrap();
        let dir: PathBuf = handshake.path().to_path_buf();
        let mut script = browser_script("app.mjs", &server.url, &dir, "Shared Shop");

        // The app went offline, added a customer, edited the shared one and reloaded: its edits
        // wait on the phone. Meanwhile the CLI device writes the same field and another one.
        let offline = ready(&dir, 1, &mut script).await;
        let waiting = stored(&offline, "Shared Shop");
        assert_eq!(waiting["pending"], 1, "{waiting}");
        assert_eq!(stored(&offline, "Offline Bakery")["pending"], 1);
        cli.replica
            .update(shared, &[("city", "CLI City".into()), ("email", "shop@example.com".into())])
            .await
            .unwrap();
        // ... and takes the customer number the app gave a new customer offline.
        let mut taken = customer("Taken Number", "North");
        taken.push(("code", "C-77".into()));
        cli.replica.create("customer", &taken).await.unwrap();
        cli.sync().await;
        go(&dir, 1);

        // The app synced: the CLI device pulls the app's edits, and all three agree.
        let synced = ready(&dir, 2, &mut script).await;
        cli.sync().await;
        let app_shared = stored(&synced, "Shared Shop");
        let cli_shared = cli.replica.get(shared).await.unwrap();
        for field in ["name", "phone", "city", "email"] {
            assert_eq!(
                app_shared["fields"][field],
                cli_shared.get(field).to_json(),
                "{field}: the app and the CLI device differ"
            );
        }
        assert_eq!(cli_shared.get("phone"), &Value::from("+49 30 7777777"));
        assert_eq!(cli_shared.get("email"), &Value::from("shop@example.com"));
        let projected = server
            .projected("customers", shared, &["phone", "city", "email"])
            .await;
        assert_eq!(
            projected,
            vec![
                Some("+49 30 7777777".to_string()),
                cli_shared.get("city").as_str().map(str::to_string),
                Some("shop@example.com".to_string()),
            ]
        );
        // Both cities are kept, the shown one first, on every side.
        let conflict = app_shared["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == "city")
            .unwrap_or_else(|| panic!("no conflict on city in the app: {app_shared}"));
        let values: Vec<&str> = conflict["values"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(values[0], cli_shared.get("city").as_str().unwrap());
        let mut both = values.clone();
        both.sort();
        assert_eq!(both, vec!["App City", "CLI City"]);
        // The app's customer with the taken number was refused: it waits on the phone with the
        // reason, and nowhere else.
        let second = stored(&synced, "Second Shop");
        assert_eq!(second["pending"], 1, "{second}");
        assert_eq!(second["refused"]["code"], "duplicate_code", "{second}");
        let on_cli = cli.replica.list("customer").await.unwrap();
        assert!(on_cli.iter().all(|c| c.str("name") != Some("Second Shop")));
        let bakery = stored(&synced, "Offline Bakery");
        let bakery_id: Uuid = bakery["id"].as_str().unwrap().parse().unwrap();
        let on_cli = cli.replica.get(bakery_id).await.unwrap();
        assert_eq!(on_cli.get("city"), &Value::from("Köln"));
        assert_eq!(on_cli.get("territory"), &Value::from("North"));
        let contacts = cli.replica.list("contact").await.unwrap();
        let clara = contacts
            .iter()
            .find(|c| c.str("name") == Some("Clara Contact"))
            .expect("the contact the app added offline");
        assert_eq!(clara.str("customer_id"), Some(bakery_id.to_string().as_str()));
        let clara = cli.replica.get(clara.id).await.unwrap();
        assert_eq!(clara.get("decision_maker"), &Value::Bool(true));
        assert_eq!(clara.get("consent_phone"), &Value::Bool(true));
        assert_eq!(clara.get("phone"), &Value::from("+49 221 555"));
        // The lead the app captured offline: Anna's own, met when it was captured, with her
        // consent to visits, and converted offline into a customer with her as its contact.
        let leads = cli.replica.list("lead").await.unwrap();
        let marta = leads
            .iter()
            .find(|l| l.str("name") == Some("Marta Markt"))
            .expect("the lead the app captured offline");
        let marta = cli.replica.get(marta.id).await.unwrap();
        for (field, value) in [("status", "converted"), ("source", "event"), ("territory", "North"), ("company", "Marktstand Marta")] {
            assert_eq!(marta.get(field), &Value::from(value), "{field}");
        }
        assert_eq!(marta.get("owner_id"), &Value::Str(anna.to_string()));
        assert_eq!(marta.get("consent_visit"), &Value::Bool(true));
        assert!(marta.get("captured_at").as_i64().is_some());
        assert!(marta.get("converted_at").as_i64() >= marta.get("captured_at").as_i64());
        let stall: Uuid = marta.get("customer_id").as_str().unwrap().parse().unwrap();
        let stall = cli.replica.get(stall).await.unwrap();
        assert_eq!((stall.get("name"), stall.get("status"), stall.get("phone")), (&Value::from("Marktstand Marta"), &Value::from("prospect"), &Value::from("+49 170 4440001")));
        let person: Uuid = marta.get("contact_id").as_str().unwrap().parse().unwrap();
        let person = cli.replica.get(person).await.unwrap();
        assert_eq!((person.get("name"), person.get("customer_id")), (&Value::from("Marta Markt"), marta.get("customer_id")));
        let deal: Uuid = marta.get("opportunity_id").as_str().expect("the deal she brought").parse().unwrap();
        let deal = cli.replica.get(deal).await.unwrap();
        assert_eq!((deal.get("title"), deal.get("stage"), deal.get("customer_id")),
            (&Value::from("Stall coffee supply"), &Value::from(sync_core::kinds::OPPORTUNITY_STAGES[0]), marta.get("customer_id")));
        // The campaign's answer the app recorded offline, by Anna, and its task closed with it.
        let members = cli.replica.list("campaign_member").await.unwrap();
        let member = members
            .iter()
            .find(|m| m.str("customer_id") == Some(shared.to_string().as_str()))
            .expect("the shared customer's campaign member");
        assert_eq!(member.str("response"), Some("interested"), "{member:?}");
        assert_eq!(member.str("responded_by"), Some(anna.to_string().as_str()));
        let id = member.id.to_string();
        let tasks = cli.replica.query("task", &[("related_id", id.as_str())]).await.unwrap();
        assert!(!tasks.is_empty() && tasks.iter().all(|t| t.str("status") == Some("done")), "{tasks:?}");

        // The check-in, the order and the payment the app made offline: the same on the CLI
        // device and in the server's projection, totals to the cent.
        // The check-in went into the visit planned at the shared customer today, and the
        // check-out completed it.
        let visit = synced["visits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == shared_visit.to_string())
            .unwrap_or_else(|| panic!("no planned visit in the app: {synced}"));
        let visit_id = shared_visit;
        assert_eq!(visit["fields"]["check_in_result"], "verified", "{visit}");
        assert_eq!(visit["fields"]["status"], "completed", "{visit}");
        assert_eq!(visit["fields"]["outcome"], "Ordered", "{visit}");
        let on_cli = cli.replica.get(visit_id).await.unwrap();
        assert!(on_cli.get("check_out_at").as_i64() >= on_cli.get("check_in_at").as_i64());
        for field in ["status", "check_in_result", "check_in_distance_m", "visit_type", "agent_id", "outcome", "check_out_at"] {
            assert_eq!(visit["fields"][field], on_cli.get(field).to_json(), "visit {field}");
        }
        assert_eq!(
            server.projected("visits", visit_id, &["check_in_result"]).await,
            vec![Some("verified".to_string())]
        );
        // Its two photos: the picture uploaded, scaled down on the phone from 2600 x 1800 to a
        // 2048-pixel JPEG (the server holds the very bytes it is named for); the file that is no
        // picture refused, and held nowhere but on the phone.
        let photos = on_cli.get("photos").items();
        assert_eq!(photos.len(), 2, "{photos:?}");
        let front = photos.iter().find(|p| p.get("caption") == &Value::from("Shop front")).unwrap();
        let front_hash = front.get("hash").as_str().unwrap();
        let bytes = cli.client.download(front_hash, None).await.unwrap();
        assert_eq!(sync_core::attachments::hash(&bytes), front_hash);
        assert!(bytes.starts_with(b"\xff\xd8\xff"), "a JPEG");
        let size = imagesize::blob_size(&bytes).unwrap();
        assert_eq!((size.width, size.height), (2048, 1418));
        let other = photos.iter().find(|p| p.get("hash") != front.get("hash")).unwrap();
        assert!(cli.client.download(other.get("hash").as_str().unwrap(), None).await.is_err());
        let order = only(&synced, "orders");
        let order_id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
        let on_cli = cli.replica.get(order_id).await.unwrap();
        let totals = orders::totals(&on_cli).unwrap();
        assert!(orders::totals_agree(&on_cli, &totals), "the CLI reads totals its lines do not give");
        for field in orders::TOTAL_FIELDS {
            assert_eq!(order["fields"][field], on_cli.get(field).to_json(), "order {field}");
        }
        // Beans at the price list's break for ten (2,000), cups at the catalogue's 5,900 less 15%.
        assert_eq!(totals.total, 24_000 + 1_680 + 10_030 + 1_906);
        let lines = on_cli.get("lines").items();
        let beans = lines.iter().find(|l| l.get("sku") == &Value::from("BEANS")).unwrap();
        assert_eq!(beans.get("unit_price"), &Value::Int(2_000));
        assert_eq!(beans.get("quantity"), &Value::Int(12_000));
        assert_eq!(on_cli.get("status"), &Value::from("submitted"));
        assert_eq!(on_cli.get("visit_id"), &Value::Str(visit_id.to_string()), "taken during the visit");
        // Held by the server for the discount above the agent's limit, as the app showed.
        assert!(order["fields"]["hold_reason"].as_str().is_some_and(|r| r.contains("discount")), "{order}");
        assert_eq!(order["fields"]["hold_reason"], on_cli.get("hold_reason").to_json());
        assert_eq!(
            server.projected("orders", order_id, &orders::TOTAL_FIELDS).await,
            [totals.subtotal, totals.discount, totals.tax, totals.total].map(|v| Some(v.to_string())).to_vec()
        );
        let payment = only(&synced, "payments");
        let payment_id: Uuid = payment["id"].as_str().unwrap().parse().unwrap();
        let on_cli = cli.replica.get(payment_id).await.unwrap();
        assert_eq!(on_cli.get("amount"), &Value::Int(5_050));
        assert_eq!(on_cli.get("method"), &Value::from("cash"));
        // The receipt's photo went up after the payment that names it.
        let receipt = cli.client.download(on_cli.get("receipt").as_str().unwrap(), None).await.unwrap();
        assert!(receipt.starts_with(&[0xff, 0xd8, 0xff]), "{receipt:?}");
        let allocations = on_cli.get("allocations").items();
        assert_eq!(allocations.len(), 1);
        assert_eq!(allocations[0].get("order_id"), &Value::Str(order_id.to_string()));
        assert_eq!(allocations[0].get("amount"), &Value::Int(5_050));
        assert_eq!(
            server.projected("payments", payment_id, &["amount", "currency"]).await,
            vec![Some("5050".to_string()), Some("EUR".to_string())]
        );

        let ticket = only(&synced, "tickets");
        let on_cli = cli.replica.get(ticket["id"].as_str().unwrap().parse().unwrap()).await.unwrap();
        assert_eq!(on_cli.get("subject"), &Value::from("Grinder broken"));
        assert_eq!(on_cli.get("category"), &Value::from("complaint"));
        assert_eq!(on_cli.get("status"), &Value::from("open"));
        assert_eq!((on_cli.get("satisfaction"), on_cli.get("expectation")), (&Value::Int(2), &Value::Int(4)));
        assert_eq!(on_cli.get("customer_id"), &Value::Str(shared.to_string()));
        let evidence = on_cli.get("evidence").items();
        assert_eq!(evidence.len(), 1, "{evidence:?}");
        let photo = cli.client.download(evidence[0].get("hash").as_str().unwrap(), None).await.unwrap();
        assert!(photo.ends_with(b"broken grinder"));
        // The deal the app opened at the shared customer (the other is the converted lead's).
        let opportunity = synced["opportunities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["fields"]["customer_id"] == shared.to_string())
            .expect("the deal at the shared customer");
        assert_eq!(synced["opportunities"].as_array().unwrap().len(), 2, "{synced}");
        let on_cli = cli.replica.get(opportunity["id"].as_str().unwrap().parse().unwrap()).await.unwrap();
        assert_eq!(on_cli.get("title"), &Value::from("Second grinder"));
        assert_eq!(on_cli.get("stage"), &Value::from("proposal"));
        assert_eq!((on_cli.get("amount"), on_cli.get("probability")), (&Value::Int(120_050), &Value::Int(40)));
        assert_eq!(on_cli.get("owner_id"), &Value::Str(anna.to_string()));
        // The task the app added (the other is the campaign's, closed with its answer).
        let task = synced["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["fields"]["title"] == "Bring a spare grinder")
            .unwrap_or_else(|| panic!("no task of the app's: {synced}"));
        let on_cli = cli.replica.get(task["id"].as_str().unwrap().parse().unwrap()).await.unwrap();
        assert_eq!(on_cli.get("title"), &Value::from("Bring a spare grinder"));
        assert_eq!(on_cli.get("status"), &Value::from("done"));
        assert!(on_cli.get("done_at").as_i64().is_some(), "{on_cli:?}");
        assert!(on_cli.get("due_at").as_i64() > on_cli.get("done_at").as_i64(), "due tomorrow");
        assert_eq!(on_cli.get("related_id"), &Value::Str(shared.to_string()));
        assert_eq!(on_cli.get("assignee_id"), &Value::Str(anna.to_string()));

        // The user revokes the app's device from the CLI; the app's next sync wipes it.
        let app_device: Uuid = synced["device_id"].as_str().unwrap().parse().unwrap();
        cli.client.revoke_device(app_device).await.unwrap();
        go(&dir, 2);

        let stdout = finished(script).await;
        assert!(stdout.lines().any(|l| l.contains("wipes the revoked device")), "{stdout}");
    }
}

storage_test! {
    async fn the_app_sends_its_edit_again_to_a_server_restored_from_an_older_backup(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut cli = server.device("anna@x.test").await;
        let shop = cli.replica.create("customer", &customer("Restored Shop", "North")).await.unwrap();
        cli.sync().await;
        let handshake = tempfile::tempdir().unwrap();
        let backup_file = handshake.path().join("fieldsync.backup");
        let dir = handshake.path().join("turns");
        std::fs::create_dir(&dir).unwrap();
        let mut script = browser_script("app-restore.mjs", &server.url, &dir, "Restored Shop");

        // Signed in: the backup knows the app's device but not the edit to come.
        ready(&dir, 1, &mut script).await;
        backup(&db, &backup_file).await;
        go(&dir, 1);

        ready(&dir, 2, &mut script).await;
        assert_eq!(server.projected("customers", shop, &["phone"]).await, vec![Some("+49 228 123".to_string())]);
        let url = server.url.clone();
        stop(server).await;
        restore(&db, &backup_file).await;
        let server = TestServer::restart_at(&db, &url).await;
        assert_eq!(server.projected("customers", shop, &["phone"]).await, vec![None], "the restore lost the edit");
        go(&dir, 2);

        // The app learnt of the restore and sent its changes again.
        ready(&dir, 3, &mut script).await;
        assert_eq!(server.projected("customers", shop, &["phone"]).await, vec![Some("+49 228 123".to_string())]);
        cli.sync().await;
        assert_eq!(cli.replica.get(shop).await.unwrap().get("phone"), &Value::from("+49 228 123"));
        go(&dir, 3);
        finished(script).await;
    }
}

storage_test! {
    async fn the_app_syncs_on_its_interval_and_with_no_page_open(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut cli = server.device("anna@x.test").await;
        let shop = cli.replica.create("customer", &customer("Quiet Shop", "North")).await.unwrap();
        cli.sync().await;
        let handshake = tempfile::tempdir().unwrap();
        let mut script = browser_script("app-background.mjs", &server.url, handshake.path(), "Quiet Shop");

        // The app is open: a colleague's edit reaches it on its interval.
        ready(handshake.path(), 1, &mut script).await;
        cli.replica.update(shop, &[("city", "Bonn".into())]).await.unwrap();
        cli.sync().await;
        go(handshake.path(), 1);

        // With no page open, a colleague's edit reaches the app by a periodic sync alone: the
        // app, closed after its last sync ended, has not pulled it when the sync is woken, and
        // has once it ran.
        ready(handshake.path(), 2, &mut script).await;
        cli.replica.update(shop, &[("city", "Kiel".into())]).await.unwrap();
        cli.sync().await;
        let head = positions::committed_seq(&server.state.db.conn).await.unwrap();
        assert!(app_checkpoint(&server, cli.login.device_id).await < head, "the app pulled the edit before its periodic sync");
        go(handshake.path(), 2);
        ready(handshake.path(), 3, &mut script).await;
        let pulled = soon(|| app_checkpoint(&server, cli.login.device_id), |p| *p >= head).await;
        assert!(pulled >= head, "the periodic sync never pulled: the app's device is at {pulled}, the feed at {head}");
        go(handshake.path(), 3);

        // The app was closed with an offline edit waiting; the service worker was woken to sync.
        ready(handshake.path(), 4, &mut script).await;
        let phone = soon(
            || async { server.projected("customers", shop, &["phone"]).await.remove(0) },
            |p| p.as_deref() == Some("+49 228 999"),
        )
        .await;
        assert_eq!(phone.as_deref(), Some("+49 228 999"), "the background sync never pushed the edit");
        go(handshake.path(), 4);
        finished(script).await;
    }
}

/// The feed position the app's device (the one device besides `cli`) last pulled to.
async fn app_checkpoint(server: &TestServer, cli: Uuid) -> i64 {
    let stmt = Query::select()
        .column(Alias::new("checkpoint"))
        .from(Alias::new("devices"))
        .and_where(Expr::col(Alias::new("id")).ne(cli))
        .to_owned();
    server.value(&stmt, "checkpoint").await
}

/// What `read` answers once `done` holds of it, or after ten seconds.
async fn soon<T, F: std::future::Future<Output = T>>(
    mut read: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let mut value = read().await;
    for _ in 0..100 {
        if done(&value) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        value = read().await;
    }
    value
}
