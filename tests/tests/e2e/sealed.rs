//! People's personal data sealed at rest: a contact's name, phone and e-mail and a customer's tax
//! id cannot be read from the database (its files, a backup) without the server key, in the
//! stored documents, the listings or the projections; with the key every answer shows them; the
//! duplicate check still pairs two customers with one tax id, through its keyed hash; and a
//! rotated key seals everything again (the changes the server holds too), so the old key can go. A sealed chunk altered in the
//! database makes its record unloadable alone (its pushes are refused, the feed passes over it and
//! every other record still reaches the phones), and `repair` leaves the chunk out.

use std::path::Path;
use std::process::Command;

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use fieldsync_server::sync::docstore;
use reqwest::Method;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use serde_json::json;
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::Role;
use uuid::Uuid;

use crate::backup::backup;
use crate::erasure::{backup_text, holds, sqlite_files};

const NAME: &str = "Henrietta Quarles";
const FIRST_PHONE: &str = "+447700900314";
const PHONE: &str = "+447700900271";
const EMAIL: &str = "henrietta@quarles.test";
const TAX_ID: &str = "GB 811 907 980";
/// The tax id as the duplicate check normalises it.
const TAX_ID_NORMAL: &str = "gb811907980";

/// What must not be readable without the key: every personal value, past and present, in any
/// spelling the server might store.
const SECRETS: [&str; 7] = [
    "Henrietta",
    "Quarles",
    "900314",
    "900271",
    "quarles.test",
    "811907980",
    "811 907 980",
];

/// A shop with a tax id and a contact whose phone changed once.
async fn a_shop_and_its_buyer(server: &TestServer, maria: &Device) -> (Uuid, Uuid) {
    let shop = server
        .created(
            maria,
            "customer",
            json!({"name": "Corner Shop", "territory": "North", "tax_id": TAX_ID}),
        )
        .await;
    let jane = server
        .created(maria, "contact", json!({"customer_id": shop, "name": NAME, "phone": FIRST_PHONE, "email": EMAIL, "title": "Buyer"}))
        .await;
    let (status, _) = server
        .api(
            maria,
            Method::PATCH,
            &format!("/v1/records/{jane}"),
            Some(json!({"fields": {"phone": PHONE}})),
        )
        .await;
    assert_eq!(status, 200);
    (shop, jane)
}

/// The open duplicate candidates of customer `id`, waiting for the rules that find them.
async fn candidates_of(server: &TestServer, maria: &Device, id: Uuid) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let (_, open) = server
            .api(
                maria,
                Method::GET,
                &format!("/v1/duplicates?status=open&customer_id={id}"),
                None,
            )
            .await;
        let found = open["candidates"].as_array().cloned().unwrap_or_default();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    vec![]
}

/// Reads the contact with the key, as a manager: current values, the first phone in its history.
async fn assert_readable_with_the_key(server: &TestServer, maria: &Device, jane: Uuid) {
    let (status, shown) = server
        .api(maria, Method::GET, &format!("/v1/records/{jane}"), None)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        (
            shown["fields"]["name"].as_str(),
            shown["fields"]["phone"].as_str()
        ),
        (Some(NAME), Some(PHONE))
    );
    assert_eq!(shown["fields"]["email"], EMAIL);
    let (_, history) = server
        .api(
            maria,
            Method::GET,
            &format!("/v1/records/{jane}/history"),
            None,
        )
        .await;
    assert!(history.to_string().contains(FIRST_PHONE), "{history}");
}

storage_test! {
    async fn personal_values_cannot_be_read_from_the_database_without_the_key(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North", "South"]).await;
        let maria = server.device("maria@x.test").await;
        let (shop, jane) = a_shop_and_its_buyer(&server, &maria).await;

        // With the key: the record, its history, the listing, the export and the shop's tax id.
        assert_readable_with_the_key(&server, &maria, jane).await;
        let (_, listing) = server.api(&maria, Method::GET, &format!("/v1/records?kind=contact&customer_id={shop}"), None).await;
        assert_eq!(listing["records"][0]["fields"]["name"], NAME);
        let (_, customer) = server.api(&maria, Method::GET, &format!("/v1/records/{shop}"), None).await;
        assert_eq!(customer["fields"]["tax_id"], TAX_ID);
        assert_eq!(server.projected("contacts", jane, &["name", "email"]).await, [Some(NAME.to_string()), Some(EMAIL.to_string())]);

        // The duplicate check pairs a shop with the same tax id, written otherwise, through the
        // keyed hash; the hash is stored, never the tax id.
        let twin = server
            .created(&maria, "customer", json!({"name": "Harbour Stores", "territory": "South", "tax_id": "gb811907980"}))
            .await;
        let found = candidates_of(&server, &maria, twin).await;
        assert_eq!(found.len(), 1, "the twin was not paired");
        assert!(found[0]["reasons"].to_string().contains("same_tax_id"), "{}", found[0]);
        assert_eq!(found[0]["a"]["tax_id"].as_str().or(found[0]["b"]["tax_id"].as_str()).map(|t| t.contains("811")), Some(true));
        let stored = server.projected("customer_keys", shop, &["tax_id"]).await.remove(0).unwrap();
        assert_ne!(stored, TAX_ID_NORMAL);
        assert!(!stored.contains("811907980"), "{stored}");

        // Without the key: neither the database's files nor a backup hold a personal value, in
        // the chunks, the listings, the projections or the duplicate check's keys...
        if !db.is_postgres() {
            let path = db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
            let files = sqlite_files(Path::new(&path));
            assert!(holds(&files, "Corner Shop"), "the files hold what is not personal");
            for secret in SECRETS {
                assert!(!holds(&files, secret), "the database's files hold {secret}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sealed.backup");
        backup(&db, &file).await;
        let text = backup_text(&db, &file);
        assert!(holds(&text, "Corner Shop"), "the backup holds what is not personal");
        for secret in SECRETS {
            assert!(!holds(&text, secret), "the backup holds {secret}");
        }

        // ...and a server given another key reads the database but cannot open the person.
        let other = dir.path().join("other.key");
        let stranger = TestServer::start_with(fieldsync_server::settings::Settings { key_file: Some(other), ..db.settings() }).await;
        let (status, body) = stranger.api(&maria, Method::GET, &format!("/v1/records/{jane}"), None).await;
        assert_eq!(status, 500, "{body}");
        assert!(!body.to_string().contains("Henrietta"), "{body}");
        stranger.stop().await;
        server.stop().await;
    }
}

storage_test! {
    async fn a_rotated_key_seals_everything_again_and_the_old_key_can_go(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North", "South"]).await;
        let maria = server.device("maria@x.test").await;
        let (shop, jane) = a_shop_and_its_buyer(&server, &maria).await;
        // Changes the server holds: Anna's edit waiting for the change that created its record,
        // and Bert's edit quarantined when he lost the territory.
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let waiting = anna.replica.create("customer", &customer("Waiting", "North")).await.unwrap();
        anna.replica.update(waiting, &[("phone", "42".into())]).await.unwrap();
        let full = anna.replica.pending_pushes().await.unwrap().remove(0);
        let (create, edit) = (full.changes[0].clone(), full.changes[1].clone());
        let only = |change| PushRequest { docs: vec![DocPush { changes: vec![change], ..full.clone() }], checkpoint: 0 };
        let pushed = anna.client.push(&only(edit)).await.unwrap();
        assert_eq!(pushed.results[0].status, PushStatus::MissingDependencies);
        let bert_id = server.user("bert@x.test", Role::Agent, &["North", "South"]).await;
        let mut bert = server.device("bert@x.test").await;
        bert.sync().await;
        bert.replica.update(shop, &[("city", "Leeds".into())]).await.unwrap();
        fieldsync_server::auth::users::revoke_territory(&server.state.db, bert_id, "North").await.unwrap();
        assert_eq!(bert.sync().await.quarantined, [shop]);
        let url = server.url.clone();
        server.stop().await;

        let cli = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_e2e-server"))
                .args(args)
                .args(["--database-url", &db.url])
                .arg("--key-file")
                .arg(&db.key_file)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        cli(&["key", "rotate"]);
        let printed = cli(&["key", "reseal"]);
        assert!(printed.contains("sealed again under the newest key"), "{printed}");
        // Every chunk, both held changes, the listings and the projection rows were sealed again.
        let numbers: Vec<usize> = printed.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
        assert!(numbers.len() == 5 && numbers[..4].iter().all(|n| *n >= 2), "{printed}");
        assert_eq!(numbers[1], 2, "{printed}");

        // Only the new key stays in the file: everything opens under it.
        db.keep_only_the_newest_key();
        let server = TestServer::restart_at(&db, &url).await;
        assert_readable_with_the_key(&server, &maria, jane).await;
        let twin = server
            .created(&maria, "customer", json!({"name": "Harbour Stores", "territory": "South", "tax_id": "GB811907980"}))
            .await;
        let found = candidates_of(&server, &maria, twin).await;
        assert!(found.iter().any(|c| [&c["a"]["id"], &c["b"]["id"]].iter().any(|id| id.as_str() == Some(&shop.to_string()))),
            "the match keys were made again under the new key: {found:?}");

        // The held changes open under the new key: Anna's waiting edit applies with the change it
        // waited for, and a manager reads and accepts Bert's quarantined one.
        let pushed = anna.client.push(&only(create)).await.unwrap();
        assert_eq!(pushed.results[0].status, PushStatus::Applied, "{:?}", pushed.results[0].reason);
        assert_eq!(server.projected("customers", waiting, &["phone"]).await, [Some("42".to_string())]);
        let (status, held) = server.api(&maria, Method::GET, "/v1/quarantine", None).await;
        assert_eq!((status, held[0]["doc_id"].as_str()), (200, Some(shop.to_string().as_str())), "{held}");
        let entry = held[0]["id"].as_str().unwrap();
        let (status, body) = server.api(&maria, Method::POST, &format!("/v1/quarantine/{entry}/accept"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(server.projected("customers", shop, &["city"]).await, [Some("Leeds".to_string())]);
        server.stop().await;
    }
}

storage_test! {
    async fn an_altered_sealed_chunk_is_answered_alone_and_repair_leaves_it_out(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("bert@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let id = anna.replica.create("customer", &customer("Tampered", "North")).await.unwrap();
        anna.sync().await;
        // Bert's phone holds the record as first created.
        let mut bert = server.device("bert@x.test").await;
        bert.sync().await;
        anna.replica.update(id, &[("city", "Lyon".into())]).await.unwrap();
        anna.sync().await;

        // One byte of the record's last sealed chunk is changed in the database.
        let conn = &server.state.db.conn;
        let backend = conn.get_database_backend();
        let last = Query::select()
            .columns(["seq", "data"].map(Alias::new))
            .from(Alias::new("doc_chunks"))
            .and_where(Expr::col(Alias::new("doc_id")).eq(id))
            .order_by(Alias::new("seq"), sea_orm::Order::Desc)
            .limit(1)
            .to_owned();
        let row = conn.query_one(backend.build(&last)).await.unwrap().unwrap();
        let (seq, mut data): (i64, Vec<u8>) = (row.try_get("", "seq").unwrap(), row.try_get("", "data").unwrap());
        assert!(data.starts_with(b"FSs1"), "the chunk is sealed");
        let middle = data.len() / 2;
        data[middle] ^= 0x20;
        let altered = Query::update()
            .table(Alias::new("doc_chunks"))
            .value(Alias::new("data"), data)
            .and_where(Expr::col(Alias::new("doc_id")).eq(id))
            .and_where(Expr::col(Alias::new("seq")).eq(seq))
            .to_owned();
        execute(&server, &altered).await;
        // A restart empties the cache, which still holds the record as it was.
        let url = server.url.clone();
        server.stop().await;
        let server = TestServer::restart_at(&db, &url).await;

        // Anna's edit of it and her new record go in one push: only the edit is refused.
        anna.replica.update(id, &[("city", "Nice".into())]).await.unwrap();
        let other = anna.replica.create("customer", &customer("Other", "North")).await.unwrap();
        let report = anna.sync().await;
        assert_eq!(report.rejected.iter().map(|(r, why)| (*r, why.code.as_str())).collect::<Vec<_>>(), [(id, "record_unloadable")]);
        assert_eq!(server.heads(other).await.len(), 1, "the rest of the batch is applied");

        // The feed goes on without the record: Bert's next pages pass over the altered chunk, and a
        // new phone's first sync gets everything else. Each page that met it counts it.
        let counted = || server.state.metrics.unloadable_records.get();
        let before = counted();
        let bert_heads = bert.replica.heads(id).await;
        bert.sync().await;
        assert!(bert.replica.ids().await.unwrap().contains(&other), "Bert gets the new record");
        assert_eq!(bert.replica.heads(id).await, bert_heads, "and nothing of the altered record");
        let mut fresh = server.device("bert@x.test").await;
        fresh.sync().await;
        let ids = fresh.replica.ids().await.unwrap();
        assert!(ids.contains(&other) && !ids.contains(&id), "{ids:?}");
        assert_eq!(counted(), before + 2, "each page that left the record out counted it");

        // The repair leaves the chunk out, and the record loads again. What the chunk held is on
        // Anna's device: her next sync learns the server lacks it, and the one after sends it again
        // with her later edit.
        let repaired = fieldsync_server::sync::repair::repair(&server.state.db, id).await.unwrap();
        assert_eq!(repaired.dropped.len(), 1, "{:?}", repaired.dropped);
        assert!(repaired.dropped[0].1.contains("does not open"), "{:?}", repaired.dropped);
        assert!(repaired.written);
        assert!(docstore::load(&server.state.db.conn, server.state.db.vault(), id).await.unwrap().is_ok());
        let report = anna.sync().await;
        assert_eq!(report.missing_dependencies, [id]);
        let report = anna.sync().await;
        assert!(report.rejected.is_empty() && report.missing_dependencies.is_empty(), "{report:?}");
        assert_eq!(anna.replica.heads(id).await, server.heads(id).await);
        assert_eq!(server.projected("customers", id, &["city"]).await, [Some("Nice".to_string())]);
        // The rebuilt record reaches the phones the feed left it out of.
        for phone in [&mut bert, &mut fresh] {
            phone.sync().await;
            assert_eq!(phone.replica.heads(id).await, server.heads(id).await);
        }
        server.stop().await;
    }
}

/// One text column of one row, as the database holds it.
async fn raw_text(server: &TestServer, table: &str, id: Uuid, column: &str) -> Option<String> {
    let stmt = Query::select()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    server.value(&stmt, column).await
}

/// Runs `stmt` on the server's database.
async fn execute(server: &TestServer, stmt: &impl sea_orm::StatementBuilder) {
    let conn = &server.state.db.conn;
    conn.execute(conn.get_database_backend().build(stmt))
        .await
        .unwrap();
}

storage_test! {
    async fn a_database_an_older_version_wrote_in_clear_is_sealed_at_the_next_start(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North", "South"]).await;
        let maria = server.device("maria@x.test").await;
        let (shop, jane) = a_shop_and_its_buyer(&server, &maria).await;

        // As an older version left them: the contact's chunks, listing and projection, and the
        // shop's match key, in clear; and the upgrade task its migration adds.
        let vault = server.state.db.vault();
        let conn = &server.state.db.conn;
        let chunks = Query::select()
            .columns(["seq", "data"].map(Alias::new))
            .from(Alias::new("doc_chunks"))
            .and_where(Expr::col(Alias::new("doc_id")).eq(jane))
            .to_owned();
        for row in conn.query_all(conn.get_database_backend().build(&chunks)).await.unwrap() {
            let (seq, data): (i64, Vec<u8>) = (row.try_get("", "seq").unwrap(), row.try_get("", "data").unwrap());
            let plain = vault.open(fieldsync_server::seal::Sealed::Chunk(jane), &data).unwrap();
            execute(&server, &Query::update().table(Alias::new("doc_chunks")).value(Alias::new("data"), plain)
                .and_where(Expr::col(Alias::new("doc_id")).eq(jane)).and_where(Expr::col(Alias::new("seq")).eq(seq)).to_owned()).await;
        }
        let listing = vault.open_json(jane, &raw_text(&server, "documents", jane, "listing_fields").await.unwrap()).unwrap();
        assert!(listing.contains(NAME));
        execute(&server, &Query::update().table(Alias::new("documents")).value(Alias::new("listing_fields"), listing)
            .and_where(Expr::col(Alias::new("id")).eq(jane)).to_owned()).await;
        execute(&server, &Query::update().table(Alias::new("contacts"))
            .values([(Alias::new("name"), NAME.into()), (Alias::new("phone"), PHONE.into()), (Alias::new("email"), EMAIL.into())])
            .and_where(Expr::col(Alias::new("id")).eq(jane)).to_owned()).await;
        execute(&server, &Query::update().table(Alias::new("customer_keys")).value(Alias::new("tax_id"), TAX_ID_NORMAL)
            .and_where(Expr::col(Alias::new("id")).eq(shop)).to_owned()).await;
        execute(&server, &Query::insert().into_table(Alias::new("upgrade_tasks")).columns([Alias::new("name")])
            .values_panic(["seal_at_rest".into()]).to_owned()).await;
        assert_eq!(raw_text(&server, "contacts", jane, "name").await.as_deref(), Some(NAME), "in clear before the upgrade");

        // The next start seals them; everything reads as before.
        let url = server.url.clone();
        server.stop().await;
        let server = TestServer::restart_at(&db, &url).await;
        for column in ["name", "phone", "email"] {
            let stored = raw_text(&server, "contacts", jane, column).await.unwrap();
            assert!(stored.starts_with("sealed:v1:"), "{column}: {stored}");
        }
        let listing = raw_text(&server, "documents", jane, "listing_fields").await.unwrap();
        assert!(!listing.contains("Henrietta") && listing.contains("sealed:v1:"), "{listing}");
        let conn = &server.state.db.conn;
        for row in conn.query_all(conn.get_database_backend().build(&chunks)).await.unwrap() {
            let data: Vec<u8> = row.try_get("", "data").unwrap();
            assert!(data.starts_with(b"FSs1"), "a chunk left in clear");
        }
        assert_ne!(raw_text(&server, "customer_keys", shop, "tax_id").await.as_deref(), Some(TAX_ID_NORMAL));
        assert_readable_with_the_key(&server, &maria, jane).await;
        server.stop().await;
    }
}
