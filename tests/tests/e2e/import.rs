//! Spreadsheets in and out: a company's CSV files of customers, contacts and products, imported
//! through the merge path for a manager (so devices receive the records and their history names
//! her), checked whole before anything is written, matched on the customer's number (a product's
//! sku, a contact's customer and e-mail) so a second import updates instead of duplicating; and
//! exported in a form that imports back unchanged.

use fieldsync_e2e::{storage_test, TestDb, TestServer};
use fieldsync_server::auth::credentials::session_principal;
use fieldsync_server::transfer::plan::{plan, Plan};
use fieldsync_server::transfer::{columns, export, sheet, write};
use reqwest::Method;
use sync_core::Role;
use uuid::Uuid;

async fn planned(server: &TestServer, who: Uuid, what: &str, csv: &str) -> Plan {
    let conn = &server.state.db.conn;
    let who = session_principal(conn, who).await.unwrap().unwrap();
    let sheet = sheet::read(csv.as_bytes()).unwrap();
    plan(
        conn,
        server.state.db.vault(),
        &who,
        columns::target(what).unwrap(),
        &sheet,
    )
    .await
    .unwrap()
}

async fn imported(server: &TestServer, who: Uuid, what: &str, csv: &str) -> write::Written {
    let plan = planned(server, who, what, csv).await;
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let conn = &server.state.db.conn;
    let who = session_principal(conn, who).await.unwrap().unwrap();
    write::apply(&server.state.sync, &who, plan, |_| {})
        .await
        .unwrap()
}

/// The CLI's `import`, as a process: its exit status and what it printed.
async fn cli(db: &TestDb, args: &[&str]) -> (bool, String) {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--database-url".to_string(), db.url.clone()]);
    all.extend(["--key-file".to_string(), db.key_file.display().to_string()]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_e2e-server"))
            .args(&all)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A file as a German spreadsheet program saves it: a byte-order mark, semicolons, decimal
/// commas, German headers.
const CUSTOMERS: &str =
    "\u{feff}Kundennummer;Firma;Gebiet;Kreditlimit;Telefon;Zahlungsziel;Lieblingsfarbe\n\
K-1;Café Lumen;North;1.234,56;+49 30 1;30;blau\n\
K-2;Bäckerei Korn;North;;;14;\n\
K-3;Eisen Meier;North;500;;;rot\n";

storage_test! {
    async fn a_customer_file_imports_once_and_again_it_updates_without_duplicating(db: TestDb) {
        let server = TestServer::start(&db).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let maria_device = server.device("maria@x.test").await;

        // A dry run says what would happen and writes nothing.
        let plan = planned(&server, maria, "customers", CUSTOMERS).await;
        assert_eq!((plan.creates.len(), plan.updates.len(), plan.unchanged), (3, 0, 0));
        assert_eq!(plan.ignored, ["Lieblingsfarbe"]);
        assert_eq!(server.count("customers").await, 0);

        let written = imported(&server, maria, "customers", CUSTOMERS).await;
        assert_eq!((written.created, written.updated), (3, 0));
        anna.sync().await;
        let on_device = anna.replica.list("customer").await.unwrap();
        assert_eq!(on_device.len(), 3, "the agent's device receives them by sync");
        let lumen = on_device.iter().find(|c| c.str("code") == Some("K-1")).unwrap();
        assert_eq!(lumen.str("name"), Some("Café Lumen"));
        assert_eq!(lumen.fields["credit_limit"], 123_456, "1.234,56 in cents");
        assert_eq!(lumen.fields["payment_terms_days"], 30);
        // The history names the manager, and the import.
        let (status, history) = server.api(&maria_device, Method::GET, &format!("/v1/records/{}/history", lumen.id), None).await;
        assert_eq!(status, 200, "{history}");
        assert_eq!(history["entries"][0]["user"]["email"], "maria@x.test");
        assert_eq!(history["entries"][0]["via"], "import");

        // The same file again changes nothing; one changed cell changes one field of one record.
        let again = planned(&server, maria, "customers", CUSTOMERS).await;
        assert_eq!((again.creates.len(), again.updates.len(), again.unchanged), (0, 0, 3));
        let edited = CUSTOMERS.replace("1.234,56", "2.000,00");
        let written = imported(&server, maria, "customers", &edited).await;
        assert_eq!((written.created, written.updated), (0, 1));
        assert_eq!(server.count("customers").await, 3);
        anna.sync().await;
        assert_eq!(anna.replica.get(lumen.id).await.unwrap().get("credit_limit"), &sync_core::Value::Int(200_000));

        // Exported, the customers import back unchanged.
        let mut out = Vec::new();
        let n = export::export_to(&server.state.db.conn, server.state.db.vault(), sync_core::kinds::get("customer").unwrap(), export::Format::Csv, &mut out).await.unwrap();
        assert_eq!(n, 3);
        let exported = String::from_utf8(out).unwrap();
        assert!(exported.contains("2000.00"), "amounts in major units: {exported}");
        let back = planned(&server, maria, "customers", &exported).await;
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!((back.creates.len(), back.updates.len(), back.unchanged), (0, 0, 3));
    }
}

storage_test! {
    async fn an_import_of_many_batches_checks_each_against_those_before_it(db: TestDb) {
        let server = TestServer::start(&db).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        let maria_device = server.device("maria@x.test").await;
        // 600 customers are three batches; the last row is the shop of the tenth under another
        // name (its phone number, written otherwise), which the duplicate check after the third
        // batch must find among the first batch's.
        let mut csv = String::from("code;name;territory;phone\n");
        for i in 0..599 {
            csv.push_str(&format!("K{i:04};Kunde {i};North;+49 30 {i:07}\n"));
        }
        csv.push_str("K0599;Kunde Zehn;North;030 0000010\n");
        let written = imported(&server, maria, "customers", &csv).await;
        assert_eq!((written.created, written.updated, written.refused.len()), (600, 0, 0));
        assert_eq!(server.count("customers").await, 600);
        assert_eq!(server.count("customer_keys").await, 600, "every batch's rules ran");
        let (_, open) = server.api(&maria_device, Method::GET, "/v1/duplicates?status=open", None).await;
        let candidates = open["candidates"].as_array().unwrap();
        assert_eq!(candidates.len(), 1, "{open}");
        let mut codes = [candidates[0]["a"]["code"].as_str().unwrap(), candidates[0]["b"]["code"].as_str().unwrap()];
        codes.sort();
        assert_eq!(codes, ["K0010", "K0599"]);
    }
}

storage_test! {
    async fn a_file_with_any_row_in_error_writes_nothing_and_names_each_error(db: TestDb) {
        let server = TestServer::start(&db).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        let bad = "code,name,territory,credit_limit\n\
            A-1,Good,North,10\n\
            A-2,Bad amount,North,ten euros\n\
            A-3,Elsewhere,South,\n\
            A-4,Nowhere,Atlantis,\n\
            A-1,Again,North,\n\
            A-5,,North,\n\
            A-6,Short\n";
        let plan = planned(&server, maria, "customers", bad).await;
        let found: Vec<(u64, &str)> = plan.errors.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(found, [(3, "credit_limit"), (4, "territory"), (5, "territory"), (6, ""), (7, "name"), (8, "")], "{:?}", plan.errors);
        assert!(plan.errors[0].reason.contains("ten euros"), "{:?}", plan.errors[0]);
        assert!(plan.errors[3].reason.contains("line 2"), "{:?}", plan.errors[3]);

        // The command line lists them and imports nothing; a dry run of a good file succeeds.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.csv");
        std::fs::write(&file, bad).unwrap();
        let (ok, printed) = cli(&db, &["import", "customers", file.to_str().unwrap(), "--as", "maria@x.test"]).await;
        assert!(!ok, "{printed}");
        assert!(printed.contains("line 3, column `credit_limit`: `ten euros` is not an amount"), "{printed}");
        assert!(printed.contains("nothing was imported"), "{printed}");
        assert_eq!(server.count("customers").await, 0);
        let good = dir.path().join("good.csv");
        std::fs::write(&good, "code,name,territory\nA-1,Good,North\n").unwrap();
        let (ok, printed) = cli(&db, &["import", "customers", good.to_str().unwrap(), "--dry-run", "--as", "maria@x.test"]).await;
        assert!(ok, "{printed}");
        assert!(printed.contains("1 to create"), "{printed}");
        assert_eq!(server.count("customers").await, 0, "a dry run writes nothing");
        let (ok, printed) = cli(&db, &["import", "customers", good.to_str().unwrap(), "--as", "maria@x.test"]).await;
        assert!(ok, "{printed}");
        assert_eq!(server.count("customers").await, 1);
        // An agent imports nothing.
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let (ok, printed) = cli(&db, &["import", "customers", good.to_str().unwrap(), "--as", "anna@x.test"]).await;
        assert!(!ok && printed.contains("managers and admins import"), "{printed}");
    }
}

storage_test! {
    async fn contacts_find_their_customer_by_number_and_products_by_sku(db: TestDb) {
        let server = TestServer::start(&db).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        imported(&server, maria, "customers", "code,name,territory\nK-1,Lumen,North\n").await;
        let contacts = "Customer number,Contact,E-mail,Decision maker\n\
            K-1,Ada Weiss,ada@lumen.example,ja\n\
            K-1,Bert Kahn,,no\n";
        let written = imported(&server, maria, "contacts", contacts).await;
        assert_eq!(written.created, 2);
        let again = planned(&server, maria, "contacts", contacts).await;
        assert_eq!((again.creates.len(), again.unchanged), (0, 2), "matched by e-mail, else by name");
        let unknown = planned(&server, maria, "contacts", "customer number,name\nK-9,Nobody\n").await;
        assert_eq!(unknown.errors.len(), 1);
        assert!(unknown.errors[0].reason.contains("K-9"), "{:?}", unknown.errors);

        let products = "SKU,Product,Price,VAT rate,Active\nP-1,Beans,\"12,50\",19 %,yes\nP-2,Cups,3.00,7,no\n";
        let written = imported(&server, maria, "products", products).await;
        assert_eq!(written.created, 2);
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let beans = anna.replica.list("product").await.unwrap().into_iter().find(|p| p.str("sku") == Some("P-1")).unwrap();
        assert_eq!((beans.fields["list_price"].clone(), beans.fields["tax_bp"].clone()), (1250.into(), 1900.into()));
        let again = planned(&server, maria, "products", products).await;
        assert_eq!(again.unchanged, 2);

        // Exported contacts name their customer by number and import back unchanged.
        let mut out = Vec::new();
        export::export_to(&server.state.db.conn, server.state.db.vault(), sync_core::kinds::get("contact").unwrap(), export::Format::Csv, &mut out).await.unwrap();
        let exported = String::from_utf8(out).unwrap();
        assert!(exported.starts_with("id,customer_code,"), "{exported}");
        let back = planned(&server, maria, "contacts", &exported).await;
        assert_eq!((back.errors.len(), back.unchanged), (0, 2), "{:?}", back.errors);
        // JSON lines carry every field as the API shows it.
        let mut lines = Vec::new();
        export::export_to(&server.state.db.conn, server.state.db.vault(), sync_core::kinds::get("product").unwrap(), export::Format::Jsonl, &mut lines).await.unwrap();
        let first: serde_json::Value = serde_json::from_str(String::from_utf8(lines).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(first["sku"], "P-1");
        assert_eq!(first["list_price"], 1250);
    }
}

storage_test! {
    async fn payments_are_matched_on_their_reference_and_take_dates_as_written(db: TestDb) {
        let server = TestServer::start(&db).await;
        let root = server.user("root@x.test", Role::Admin, &[]).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let admin = server.device("root@x.test").await;
        let (status, _) = server.api(&admin, Method::POST, "/v1/records", Some(serde_json::json!({"kind": "settings", "fields": {"currency": "EUR"}}))).await;
        assert_eq!(status, 201);
        imported(&server, root, "customers", "code,name,territory\nK-1,Lumen,North\nS-1,Sud,South\n").await;

        // No currency column: the company's; dates as a German or an ISO spreadsheet writes them.
        let payments = "Kundennummer;Betrag;Datum;Beleg;Zahlungsart\n\
            K-1;120,50;31.03.2026;R-1;cash\n\
            K-1;80;2026-04-01;R-2;bank_transfer\n";
        let written = imported(&server, maria, "payments", payments).await;
        assert_eq!(written.created, 2);
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let on_device = anna.replica.list("payment").await.unwrap();
        let first = on_device.iter().find(|p| p.str("reference") == Some("R-1")).unwrap();
        assert_eq!(first.fields["amount"], 12_050);
        assert_eq!(first.str("currency"), Some("EUR"));
        assert_eq!(first.fields["collected_at"], 1_774_915_200_000_i64, "31.03.2026, midnight UTC");
        let again = planned(&server, maria, "payments", payments).await;
        assert_eq!((again.creates.len(), again.unchanged), (0, 2), "matched on customer and reference");

        // A payment without its reference, one of a customer Maria does not see, and a date that
        // reads two ways are each refused with their line; nothing is written.
        let bad = "customer number,amount,date,reference\nK-1,10,2026-04-02,\nS-1,10,2026-04-02,R-9\nK-1,10,03/04/2026,R-3\n";
        let plan = planned(&server, maria, "payments", bad).await;
        let found: Vec<(u64, &str)> = plan.errors.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(found, [(2, "reference"), (3, "customer number"), (4, "date")], "{:?}", plan.errors);
        assert_eq!(server.count("payments").await, 2);

        // Exported payments name their customer by number and their day as written, and import
        // back unchanged.
        let mut out = Vec::new();
        export::export_to(&server.state.db.conn, server.state.db.vault(), sync_core::kinds::get("payment").unwrap(), export::Format::Csv, &mut out).await.unwrap();
        let exported = String::from_utf8(out).unwrap();
        assert!(exported.contains(",K-1,120.50,EUR,2026-03-31,cash,R-1,"), "{exported}");
        let back = planned(&server, maria, "payments", &exported).await;
        assert_eq!((back.errors.len(), back.unchanged), (0, 2), "{:?}", back.errors);
    }
}

/// The items a device holds in `field` of `record`, in the order held: each one's id, its text
/// field `text`, and its integer fields `a` and `b` (0 where unset).
async fn held(
    device: &fieldsync_e2e::Device,
    record: Uuid,
    field: &str,
    [text, a, b]: [&str; 3],
) -> Vec<(String, String, i64, i64)> {
    let record = device.replica.get(record).await.unwrap();
    let sync_core::Value::Items(items) = record.get(field) else {
        panic!("{field} holds items")
    };
    let int = |i: &sync_core::Item, f: &str| match i.get(f) {
        sync_core::Value::Int(n) => *n,
        _ => 0,
    };
    items
        .iter()
        .map(|i| {
            let text = i.get(text).as_str().unwrap_or_default().to_string();
            (i.id.clone(), text, int(i, a), int(i, b))
        })
        .collect()
}

/// The prices of `list` on a device: (item id, product id, from quantity, price).
async fn prices(device: &fieldsync_e2e::Device, list: Uuid) -> Vec<(String, String, i64, i64)> {
    held(
        device,
        list,
        "prices",
        ["product_id", "min_quantity", "unit_price"],
    )
    .await
}

storage_test! {
    async fn a_price_list_takes_a_row_per_price_and_a_new_file_replaces_its_prices(db: TestDb) {
        let server = TestServer::start(&db).await;
        let root = server.user("root@x.test", Role::Admin, &[]).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let admin = server.device("root@x.test").await;
        let (status, _) = server.api(&admin, Method::POST, "/v1/records", Some(serde_json::json!({"kind": "settings", "fields": {"currency": "EUR"}}))).await;
        assert_eq!(status, 201);
        imported(&server, root, "products", "sku,name,price\nP-1,Beans,12.00\nP-2,Cups,3.50\n").await;
        let mut anna = server.device("anna@x.test").await;

        // As a German spreadsheet saves it: one row per price, the list's own columns given on
        // its first row; no currency column (the company's); a quantity break for P-1.
        let file = "Preisliste;Gültig ab;Artikelnummer;Ab Menge;Preis\n\
            Großhandel;01.01.2026;P-1;;10,50\n\
            Großhandel;;P-1;10;9,80\n\
            Großhandel;;P-2;;3,00\n\
            Aktion;;P-2;;2,50\n";
        let written = imported(&server, maria, "price-lists", file).await;
        assert_eq!((written.created, written.updated), (2, 0));
        anna.sync().await;
        let lists = anna.replica.list("price_list").await.unwrap();
        assert_eq!(lists.len(), 2);
        let wholesale = lists.iter().find(|l| l.str("name") == Some("Großhandel")).unwrap();
        assert_eq!(wholesale.str("currency"), Some("EUR"));
        assert_eq!(wholesale.fields["valid_from"], 1_767_225_600_000_i64, "01.01.2026, midnight UTC");
        let skus: std::collections::HashMap<String, String> = anna.replica.list("product").await.unwrap().into_iter().map(|p| (p.id.to_string(), p.str("sku").unwrap().to_string())).collect();
        let held = prices(&anna, wholesale.id).await;
        let mut shown: Vec<(&str, i64, i64)> = held.iter().map(|(_, p, q, price)| (skus[p].as_str(), *q, *price)).collect();
        shown.sort();
        assert_eq!(shown, [("P-1", 0, 1050), ("P-1", 10_000, 980), ("P-2", 0, 300)], "quantities in thousandths, prices in cents");

        // The same file again changes nothing.
        let again = planned(&server, maria, "price-lists", file).await;
        assert_eq!((again.creates.len(), again.updates.len(), again.unchanged), (0, 0, 2), "{:?}", again.errors);

        // A new file is the list's prices as they now are: the break's price changes in place
        // (the same item), P-2 leaves the list, the other list is untouched.
        let next = "Preisliste;Artikelnummer;Ab Menge;Preis\n\
            Großhandel;P-1;;10,50\n\
            Großhandel;P-1;10;9,50\n\
            Aktion;P-2;;2,50\n";
        let written = imported(&server, maria, "price-lists", next).await;
        assert_eq!((written.created, written.updated), (0, 1));
        anna.sync().await;
        let now = prices(&anna, wholesale.id).await;
        assert_eq!(now.len(), 2);
        let before_break = held.iter().find(|(_, _, q, _)| *q == 10_000).unwrap();
        let after_break = now.iter().find(|(_, _, q, _)| *q == 10_000).unwrap();
        assert_eq!(after_break.0, before_break.0, "the break keeps its item");
        assert_eq!(after_break.3, 950);

        // An unknown sku, a list's date given two ways, a price given twice and a row without
        // its price are each refused with their line and column; nothing is written.
        let bad = "Preisliste;Gültig ab;Artikelnummer;Ab Menge;Preis\n\
            Großhandel;01.01.2026;P-1;;10,50\n\
            Großhandel;02.01.2026;P-2;;3,00\n\
            Großhandel;;P-9;;1,00\n\
            Großhandel;;P-1;;10,00\n\
            Großhandel;;P-2;10;\n";
        let plan = planned(&server, maria, "price-lists", bad).await;
        let found: Vec<(u64, &str)> = plan.errors.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(found, [(3, "Gültig ab"), (4, "Artikelnummer"), (5, ""), (6, "Preis")], "{:?}", plan.errors);
        // Agents do not write price lists.
        let theirs = planned(&server, anna_id, "price-lists", file).await;
        assert!(!theirs.errors.is_empty());

        // Exported, a price list is a row per price, by sku, and the file imports back unchanged.
        let exported = exported_csv(&server, "price_list").await;
        assert!(exported.lines().next().unwrap().ends_with(",sku,min_quantity,unit_price"), "{exported}");
        assert_eq!(exported.lines().count(), 1 + 3, "{exported}");
        assert!(exported.contains(",P-1,10,9.50"), "{exported}");
        let back = planned(&server, maria, "price-lists", &exported).await;
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!((back.creates.len(), back.updates.len(), back.unchanged), (0, 0, 2));
    }
}

/// The lines of `order` on a device: (item id, sku, quantity, discount).
async fn lines(device: &fieldsync_e2e::Device, order: Uuid) -> Vec<(String, String, i64, i64)> {
    held(device, order, "lines", ["sku", "quantity", "discount_bp"]).await
}

storage_test! {
    async fn orders_take_a_row_per_line_and_get_their_totals_and_due_date_from_the_rules(db: TestDb) {
        let server = TestServer::start(&db).await;
        let root = server.user("root@x.test", Role::Admin, &[]).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        let admin = server.device("root@x.test").await;
        let (status, _) = server.api(&admin, Method::POST, "/v1/records", Some(serde_json::json!({"kind": "settings", "fields": {"currency": "EUR"}}))).await;
        assert_eq!(status, 201);
        imported(&server, root, "products", "sku,name,price\nP-1,Beans,12.00\nP-2,Cups,3.50\n").await;
        imported(&server, root, "customers", "code,name,territory,payment terms\nK-1,Lumen,North,30\nK-2,Korn,North,\nS-1,Sud,South,\n").await;

        // As an ERP writes its order lines: the order's own columns on every line, its agent by
        // e-mail, no currency (the company's); one product twice, the second line free.
        let file = "Order number,Customer number,Status,Order date,Delivery date,Agent,SKU,Qty,Price,Discount,VAT\n\
            A-1001,K-1,delivered,2026-03-02,2026-03-04,anna@x.test,P-1,2,12.00,,19%\n\
            A-1001,K-1,delivered,2026-03-02,2026-03-04,anna@x.test,P-2,10,3.50,10%,19%\n\
            A-1001,K-1,delivered,2026-03-02,2026-03-04,anna@x.test,P-2,1,3.50,100%,19%\n\
            A-1002,K-2,approved,2026-03-05,,,P-1,\"1,5\",12.00,,7\n";
        let written = imported(&server, maria, "orders", file).await;
        assert_eq!((written.created, written.updated), (2, 0));
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let orders = anna.replica.list("order").await.unwrap();
        assert_eq!(orders.len(), 2);
        let first = orders.iter().find(|o| o.str("number") == Some("A-1001")).unwrap();
        assert_eq!(first.str("currency"), Some("EUR"));
        assert_eq!(first.str("agent_id"), Some(anna_id.to_string().as_str()));
        // Written by the rules after the merge, as for a device's order: 2 × 12.00 + 10 × 3.50
        // less 10 % + a free line, 19 % tax on each line, rounded per line.
        let money: Vec<i64> = ["subtotal", "discount", "tax", "total"].iter().map(|f| first.i64(f).unwrap()).collect();
        assert_eq!(money, [6_250, 700, 1_055, 6_605]);
        let delivered = first.i64("delivered_at").unwrap();
        assert_eq!(delivered, 1_772_582_400_000, "2026-03-04, midnight UTC");
        assert_eq!(first.i64("due_at"), Some(delivered + 30 * 86_400_000), "the customer's 30 days");
        let held = lines(&anna, first.id).await;
        let mut shown: Vec<(&str, i64, i64)> = held.iter().map(|(_, sku, q, d)| (sku.as_str(), *q, *d)).collect();
        shown.sort();
        assert_eq!(shown, [("P-1", 2_000, 0), ("P-2", 1_000, 10_000), ("P-2", 10_000, 1_000)]);
        let second = orders.iter().find(|o| o.str("number") == Some("A-1002")).unwrap();
        assert_eq!(second.i64("total"), Some(1_926), "1,5 × 12.00 = 18.00 and 7 % tax");

        // The same file again changes nothing; a file with one quantity changed updates that
        // order only, and its line keeps its item.
        let again = planned(&server, maria, "orders", file).await;
        assert_eq!((again.creates.len(), again.updates.len(), again.unchanged), (0, 0, 2), "{:?}", again.errors);
        let next = file.replacen("P-1,2,12.00", "P-1,3,12.00", 1);
        let written = imported(&server, maria, "orders", &next).await;
        assert_eq!((written.created, written.updated), (0, 1));
        anna.sync().await;
        let now = lines(&anna, first.id).await;
        let p1 = |l: &[(String, String, i64, i64)]| l.iter().find(|(_, s, _, _)| s == "P-1").cloned().unwrap();
        assert_eq!((p1(&now).0, p1(&now).2), (p1(&held).0, 3_000), "the line keeps its item");
        let first = anna.replica.list("order").await.unwrap().into_iter().find(|o| o.id == first.id).unwrap();
        assert_eq!(first.i64("total"), Some(6_605 + 1_428), "a third 12.00 with its 19 %");
        assert_eq!(server.count("orders").await, 2);

        // An order without its number, an agent nobody is, a customer Maria does not see, a line
        // whose order's status differs from its first line's, an unknown sku: each refused with
        // its line and column, and nothing is written.
        let bad = "order number,customer number,status,agent,sku,qty,price\n\
            ,K-1,draft,,P-1,1,1\n\
            A-2,K-1,draft,ghost@x.test,P-1,1,1\n\
            A-3,S-1,draft,,P-1,1,1\n\
            A-4,K-2,draft,,P-1,1,1\n\
            A-4,K-2,submitted,,P-2,1,1\n\
            A-5,K-2,draft,,P-9,1,1\n";
        let plan = planned(&server, maria, "orders", bad).await;
        let found: Vec<(u64, &str)> = plan.errors.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(found, [(2, "order number"), (3, "agent"), (4, "customer number"), (6, "status"), (7, "sku")], "{:?}", plan.errors);
        assert_eq!(server.count("orders").await, 2);

        // Exported, an order is a row per line: its customer by number, its agent by e-mail, the
        // line's sku and quantity as the file gave them; the file imports back unchanged.
        let exported = exported_csv(&server, "order").await;
        assert_eq!(exported.lines().count(), 1 + 4, "{exported}");
        assert!(exported.contains(",K-2,") && exported.contains(",P-1,1.5,12.00,"), "{exported}");
        assert!(exported.contains("anna@x.test"), "{exported}");
        let back = planned(&server, maria, "orders", &exported).await;
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!((back.creates.len(), back.updates.len(), back.unchanged), (0, 0, 2));
    }
}

/// Every live record of `kind`, exported as CSV.
async fn exported_csv(server: &TestServer, kind: &str) -> String {
    let mut out = Vec::new();
    let kind = sync_core::kinds::get(kind).unwrap();
    export::export_to(
        &server.state.db.conn,
        server.state.db.vault(),
        kind,
        export::Format::Csv,
        &mut out,
    )
    .await
    .unwrap();
    String::from_utf8(out).unwrap()
}

storage_test! {
    async fn leads_are_matched_on_their_email_and_reach_their_owner_or_else_their_territory(db: TestDb) {
        let server = TestServer::start(&db).await;
        let maria = server.user("maria@x.test", Role::Manager, &["North"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;

        // Leads from a German event list: owners by e-mail, no status (a new lead is `new`).
        let file = "Name;Firma;Gebiet;Quelle;Betreuer;E-Mail;Telefon;Erfasst\n\
            Eva Klein;Kiosk am Markt;North;event;anna@x.test;eva@kiosk.test;+49 1;02.03.2026\n\
            Jan Roth;Roth Getränke;North;referral;ben@x.test;;+49 2;\n\
            Ida Berg;;North;;;IDA@berg.test;;\n";
        let written = imported(&server, maria, "leads", file).await;
        assert_eq!((written.created, written.updated), (3, 0));
        assert_eq!(server.count("leads").await, 3);

        // Anna receives her own lead and the territory's unowned one, not Ben's.
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let leads = anna.replica.list("lead").await.unwrap();
        let mut names: Vec<&str> = leads.iter().filter_map(|l| l.str("name")).collect();
        names.sort();
        assert_eq!(names, ["Eva Klein", "Ida Berg"]);
        let eva = leads.iter().find(|l| l.str("name") == Some("Eva Klein")).unwrap();
        assert_eq!(eva.str("status"), Some("new"));
        assert_eq!(eva.str("source"), Some("event"));
        assert_eq!(eva.str("company"), Some("Kiosk am Markt"));
        assert_eq!(eva.str("owner_id"), Some(anna_id.to_string().as_str()));
        assert_eq!(eva.i64("captured_at"), Some(1_772_409_600_000), "02.03.2026, midnight UTC");

        // Matched again on the e-mail (in any case), or the name where there is none: the same
        // file is unchanged, a new phone number updates one lead.
        let again = planned(&server, maria, "leads", file).await;
        assert_eq!((again.creates.len(), again.updates.len(), again.unchanged), (0, 0, 3), "{:?}", again.errors);
        let next = file.replace("referral;ben@x.test;;+49 2", "referral;ben@x.test;;+49 3");
        let written = imported(&server, maria, "leads", &next).await;
        assert_eq!((written.created, written.updated), (0, 1));

        // A lead without a name, in a territory not Maria's, for an owner nobody is, or in a
        // status leads do not have: each refused with its line and column, nothing written.
        let bad = "name,territory,owner,status\n,North,,\nXaver,South,,\nYuki,North,ghost@x.test,\nZora,North,,maybe\n";
        let plan = planned(&server, maria, "leads", bad).await;
        let found: Vec<(u64, &str)> = plan.errors.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(found, [(2, "name"), (3, "territory"), (4, "owner"), (5, "status")], "{:?}", plan.errors);
        assert_eq!(server.count("leads").await, 3);

        // Exported, leads name their owners by e-mail and import back unchanged.
        let exported = exported_csv(&server, "lead").await;
        assert!(exported.contains(",anna@x.test,") && exported.contains(",ben@x.test,"), "{exported}");
        let back = planned(&server, maria, "leads", &exported).await;
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!((back.creates.len(), back.updates.len(), back.unchanged), (0, 0, 3));
    }
}
