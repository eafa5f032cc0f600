//! Erasing a person: a contact's personal values leave the record and every stored past version of
//! it, the projections, the database files, backups taken afterwards, devices' stores and every
//! API answer, while the record's other fields keep their history; devices holding offline edits
//! of the erased contact keep them, re-based on the new history (or, where they write the person's
//! personal fields again, held for a manager).

use std::path::Path;

use automerge::AutoCommit;
use fieldsync_e2e::{storage_test, Device, TestDb, TestServer};
use fieldsync_sdk::ConvertAs;
use fieldsync_server::seal::Sealed;
use reqwest::Method;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use serde_bytes::ByteBuf;
use serde_json::json;
use sync_core::protocol::{DocPush, PushRequest};
use sync_core::Role;
use uuid::Uuid;

use crate::backup::backup;

/// The phone numbers the contact had (the erased ones), and the one an agent typed offline.
const FIRST: &str = "+447700900123";
const SECOND: &str = "+447700900456";
const OFFLINE: &str = "+447700900789";

/// Whether `bytes` hold `value` as it is, or hex-encoded (as PostgreSQL writes bytes in a dump).
pub(crate) fn holds(bytes: &[u8], value: &str) -> bool {
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    bytes.windows(value.len()).any(|w| w == value.as_bytes())
        || bytes.windows(hex.len()).any(|w| w == hex.as_bytes())
}

/// The bytes of an SQLite database's files (the database and its write-ahead log).
pub(crate) fn sqlite_files(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend(std::fs::read(format!("{}-wal", path.display())).unwrap_or_default());
    bytes
}

/// What a backup file holds, readable: an SQLite backup's bytes, a PostgreSQL dump as SQL.
pub(crate) fn backup_text(db: &TestDb, file: &Path) -> Vec<u8> {
    if !db.is_postgres() {
        return std::fs::read(file).unwrap();
    }
    let out = std::process::Command::new("pg_restore")
        .args(["--file", "-"])
        .arg(file)
        .output()
        .expect("run pg_restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every change of every stored chunk of `id`, as text.
async fn stored_changes(server: &TestServer, id: Uuid) -> String {
    let conn = &server.state.db.conn;
    let stmt = Query::select()
        .column(Alias::new("data"))
        .from(Alias::new("doc_chunks"))
        .and_where(Expr::col(Alias::new("doc_id")).eq(id))
        .order_by(Alias::new("seq"), sea_orm::Order::Asc)
        .to_owned();
    let mut doc = AutoCommit::new();
    for row in conn
        .query_all(conn.get_database_backend().build(&stmt))
        .await
        .unwrap()
    {
        let data: Vec<u8> = row.try_get("", "data").unwrap();
        let data = server
            .state
            .db
            .vault()
            .open(Sealed::Chunk(id), &data)
            .unwrap();
        doc.load_incremental(&data).unwrap();
    }
    let mut text = String::new();
    for change in doc.get_changes(&[]) {
        text.push_str(&format!("{:?}\n", change.decode()));
    }
    assert!(!text.is_empty());
    text
}

/// The entries of record `id`'s history, as `who` reads them.
async fn history_entries(server: &TestServer, who: &Device, id: Uuid) -> Vec<serde_json::Value> {
    let (_, history) = server
        .api(who, Method::GET, &format!("/v1/records/{id}/history"), None)
        .await;
    history["entries"].as_array().unwrap().clone()
}

async fn erase(
    server: &TestServer,
    who: &Device,
    id: Uuid,
    reason: &str,
) -> (u16, serde_json::Value) {
    server
        .api(
            who,
            Method::POST,
            &format!("/v1/people/{id}/erase"),
            Some(json!({"reason": reason})),
        )
        .await
}

storage_test! {
    async fn an_erased_contact_is_forgotten_everywhere_and_offline_edits_of_it_are_kept(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let dir = tempfile::tempdir().unwrap();
        let mut ben = Device::login_durable(&server.url, "ben@x.test", dir.path()).await;

        // Jane's number changes once; her title twice.
        let shop = server.created(&maria, "customer", json!({"name": "Corner Shop", "territory": "North"})).await;
        let jane = server.created(&maria, "contact", json!({"customer_id": shop, "name": "Jane Roe",
            "phone": FIRST, "email": "jane@corner.test", "title": "Buyer"})).await;
        let (status, _) = server.api(&maria, Method::PATCH, &format!("/v1/records/{jane}"),
            Some(json!({"fields": {"phone": SECOND, "title": "Head buyer"}}))).await;
        assert_eq!(status, 200);
        anna.sync().await;
        ben.sync().await;
        assert!(stored_changes(&server, jane).await.contains(FIRST), "the history held the first number");
        assert!(holds(&sqlite_files(&dir.path().join("device.sqlite")), SECOND), "Ben's store held the number");
        // Sealed at rest: a backup, even one from before the erasure, holds the number only under
        // the server key.
        let before = dir.path().join("before.backup");
        backup(&db, &before).await;
        let text = backup_text(&db, &before);
        assert!(!holds(&text, SECOND), "a backup held the number in clear");
        assert!(holds(&text, "Corner Shop"), "the backup holds what is not personal");

        // Offline, Ben makes her the owner; Anna types a new number.
        ben.replica.update(jane, &[("title", "Owner".into())]).await.unwrap();
        anna.replica.update(jane, &[("phone", OFFLINE.into())]).await.unwrap();

        // Refused: an agent, no reason, a record that is not a person.
        assert_eq!(erase(&server, &anna, jane, "asked").await.0, 403);
        assert_eq!(erase(&server, &maria, jane, "  ").await.1["error"]["code"], "invalid_reason");
        assert_eq!(erase(&server, &maria, shop, "asked").await.1["error"]["code"], "not_a_person");
        let customer_before = history_entries(&server, &maria, shop).await;
        let (status, erased) = erase(&server, &maria, jane, "asked by e-mail on 1 December").await;
        assert_eq!(status, 200, "{erased}");
        assert_eq!(erased["fields"], json!(["name", "phone", "email"]));
        assert_eq!(erased["changes_after"], erased["changes_before"], "every change wrote a field besides hers");

        // Not in any API answer; the title keeps its history.
        let (_, shown) = server.api(&maria, Method::GET, &format!("/v1/records/{jane}"), None).await;
        assert_eq!(shown["fields"]["name"], "(erased)");
        assert_eq!(shown["fields"]["phone"], json!(null));
        assert_eq!(shown["fields"]["title"], "Head buyer");
        let (_, history) = server.api(&maria, Method::GET, &format!("/v1/records/{jane}/history"), None).await;
        let titles: Vec<&serde_json::Value> = history["entries"].as_array().unwrap().iter()
            .flat_map(|e| e["fields"].as_array().unwrap()).filter(|f| f["field"] == "title").map(|f| &f["new"]).collect();
        assert_eq!(titles, [&json!("Head buyer"), &json!("Buyer")], "{history}");
        let (_, export) = server.api(&maria, Method::GET, &format!("/v1/people/{jane}/export"), None).await;
        let (_, listing) = server.api(&maria, Method::GET, "/v1/records?kind=contact", None).await;
        for answer in [&shown, &history, &export, &listing] {
            let text = answer.to_string();
            assert!(![FIRST, SECOND, "Jane Roe", "jane@corner.test"].iter().any(|v| text.contains(v)), "{text}");
        }
        let (_, trail) = server.api(&maria, Method::GET, &format!("/v1/audit/personal-data?record_id={jane}"), None).await;
        let erasure = trail["accesses"].as_array().unwrap().iter().find(|a| a["action"] == "erase").expect("audited");
        assert_eq!(erasure["detail"], "asked by e-mail on 1 December");
        assert_eq!(erasure["fields"], "name,phone,email");

        // Not in the stored chunks, the projection, the database files or a backup taken now.
        let changes = stored_changes(&server, jane).await;
        assert!(![FIRST, SECOND, "Jane Roe"].iter().any(|v| changes.contains(v)), "{changes}");
        assert!(changes.contains("Head buyer"));
        assert_eq!(server.projected("contacts", jane, &["name", "phone", "email"]).await,
            [Some("(erased)".to_string()), None, None]);
        if !db.is_postgres() {
            let path = db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
            let files = sqlite_files(Path::new(&path));
            assert!(![FIRST, SECOND, "Jane Roe"].iter().any(|v| holds(&files, v)));
        }
        let after = dir.path().join("after.backup");
        backup(&db, &after).await;
        let text = backup_text(&db, &after);
        assert!(![FIRST, SECOND, "Jane Roe"].iter().any(|v| holds(&text, v)));
        assert!(holds(&text, "Corner Shop"), "the backup holds the rest");

        // Ben's edit of the old history is refused and kept; his next pull replaces his copy and
        // re-bases the edit, which the sync after takes.
        let report = ben.sync().await;
        assert_eq!(report.rejected.iter().map(|(id, r)| (*id, r.code.as_str())).collect::<Vec<_>>(), [(jane, "record_erased")]);
        assert_eq!(report.rewritten, [jane]);
        let report = ben.sync().await;
        assert!(report.rejected.is_empty(), "{report:?}");
        let (_, shown) = server.api(&maria, Method::GET, &format!("/v1/records/{jane}"), None).await;
        assert_eq!(shown["fields"]["title"], "Owner");
        let held = ben.replica.info(jane).await.unwrap();
        assert_eq!((held.str("name"), held.str("phone"), held.str("title")), (Some("(erased)"), None, Some("Owner")));
        let store = sqlite_files(&dir.path().join("device.sqlite"));
        assert!(![FIRST, SECOND, "Jane Roe"].iter().any(|v| holds(&store, v)), "Ben's store forgot her");

        // Anna's new number comes back only if a manager says the person gave it anew.
        anna.sync().await;
        let report = anna.sync().await;
        assert_eq!(report.quarantined, [jane], "{report:?}");
        let entries = server.quarantine(&maria.login.token).await;
        assert!(entries.iter().any(|e| e["doc_id"] == jane.to_string()
            && e["reason"].as_str().unwrap().contains("erased")), "{entries:?}");
        let (_, shown) = server.api(&maria, Method::GET, &format!("/v1/records/{jane}"), None).await;
        assert_eq!(shown["fields"]["phone"], json!(null));
        assert_eq!(anna.replica.info(jane).await.unwrap().str("phone"), Some(OFFLINE), "kept on her phone");
        // The customer's history is untouched: every change it had is there as it was (the
        // server's grading, on its own schedule, may have added one since).
        let customer_after = history_entries(&server, &maria, shop).await;
        assert!(!customer_before.is_empty() && customer_before.iter().all(|e| customer_after.contains(e)), "{customer_before:?}\n{customer_after:?}");
    }
}

storage_test! {
    async fn erasing_a_lead_erases_the_contact_it_became(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let kiosk = server.created(&maria, "customer", json!({"name": "Kiosk am Markt", "territory": "North"})).await;
        anna.sync().await;
        let lead = anna.replica.create("lead", &[("name", "Eva Klein".into()), ("territory", "North".into()),
            ("status", "new".into()), ("phone", FIRST.into())]).await.unwrap();
        let made = anna.replica.convert_lead(lead, ConvertAs { deal: None, into: Some(kiosk) }, 1_780_000_000_000).await.unwrap();
        anna.sync().await;
        assert_eq!(anna.replica.info(made.contact).await.unwrap().str("name"), Some("Eva Klein"));
        // The change that made the lead, which the server took.
        let made_lead = anna.replica.doc(lead).await.unwrap().get_changes(&[])[0].raw_bytes().to_vec();

        let (status, erased) = erase(&server, &maria, lead, "asked at the counter").await;
        assert_eq!(status, 200, "{erased}");
        assert_eq!(erased["linked"], json!([made.contact]));
        for id in [lead, made.contact] {
            let (_, shown) = server.api(&maria, Method::GET, &format!("/v1/records/{id}"), None).await;
            assert_eq!((&shown["fields"]["name"], &shown["fields"]["phone"]), (&json!("(erased)"), &json!(null)), "{shown}");
            let changes = stored_changes(&server, id).await;
            assert!(!changes.contains(FIRST) && !changes.contains("Eva Klein"), "{changes}");
            let (_, trail) = server.api(&maria, Method::GET, &format!("/v1/audit/personal-data?record_id={id}"), None).await;
            assert!(trail["accesses"].as_array().unwrap().iter().any(|a| a["action"] == "erase"), "{trail}");
        }
        // The lead still says what it became.
        let (_, shown) = server.api(&maria, Method::GET, &format!("/v1/records/{lead}"), None).await;
        assert_eq!((&shown["fields"]["status"], &shown["fields"]["contact_id"]), (&json!("converted"), &json!(made.contact.to_string())));

        // That change handed in again (its acknowledgement lost, or after a restore) depends on
        // nothing, and would bring her name back: refused.
        let again = PushRequest {
            docs: vec![DocPush { id: lead, kind: "lead".into(), base_heads: vec![], changes: vec![ByteBuf::from(made_lead)], group: None }],
            checkpoint: 0,
        };
        let reply = anna.client.push(&again).await.unwrap();
        assert_eq!(reply.results[0].reason.as_ref().map(|r| r.code.as_str()), Some("record_erased"), "{reply:?}");
        let (_, shown) = server.api(&maria, Method::GET, &format!("/v1/records/{lead}"), None).await;
        assert_eq!(shown["fields"]["name"], "(erased)");
        assert_eq!(shown["conflicts"], json!([]), "{shown}");

        // Anna's device replaces both copies.
        let mut report = anna.sync().await;
        report.rewritten.sort();
        let mut both = vec![lead, made.contact];
        both.sort();
        assert_eq!(report.rewritten, both);
        for id in both {
            let held = anna.replica.info(id).await.unwrap();
            assert_eq!((held.str("name"), held.str("phone"), held.pending), (Some("(erased)"), None, 0));
        }
    }
}
