//! Writes that are not a device's own push go through the same merge path under an explicit author:
//! the server writing for a person (with an actor of that write alone, recorded with the person), and
//! a quarantine entry accepted by a manager (merged and marked accepted in one transaction).

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use fieldsync_server::auth::principal::Principal;
use fieldsync_server::sync::author::Author;
use fieldsync_server::sync::{docstore, push};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, Statement};
use serde_bytes::ByteBuf;
use sync_core::protocol::{heads_of, DocPush, PushRequest, PushStatus};
use sync_core::{Role, Value};
use uuid::Uuid;

storage_test! {
    async fn the_demo_is_written_by_a_server_actor_recorded_with_its_admin(db: TestDb) {
        let server = TestServer::start(&db).await;
        assert!(fieldsync_server::demo::seed(&server.state.db, &server.state.sync, 0).await.unwrap());
        let conn = &server.state.db.conn;
        let rows = conn
            .query_all(Statement::from_string(
                conn.get_database_backend(),
                "SELECT a.actor, a.purpose, u.email FROM server_actors a JOIN users u ON u.id = a.user_id".to_string(),
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "one write, one actor");
        let actor: Vec<u8> = rows[0].try_get("", "actor").unwrap();
        assert_eq!(rows[0].try_get::<String>("", "purpose").unwrap(), "demo");
        assert_eq!(rows[0].try_get::<String>("", "email").unwrap(), "admin@demo.fieldsync.dev");
        // Every demo record's change is that actor's, and no device was made up for it.
        let row = conn
            .query_one(Statement::from_string(conn.get_database_backend(), "SELECT id FROM documents LIMIT 1".to_string()))
            .await
            .unwrap()
            .unwrap();
        let mut doc = docstore::load(conn, server.state.db.vault(), row.try_get::<Uuid>("", "id").unwrap()).await.unwrap().unwrap();
        assert!(doc.get_changes(&[]).iter().all(|c| c.actor_id().to_bytes() == actor.as_slice()));
        assert_eq!(server.count("devices").await, 0);
        // Each server write has an actor of its own, so no two ever share sequence numbers.
        let (a, b) = (
            Author::server(Uuid::nil(), Role::Admin, vec![], "test"),
            Author::server(Uuid::nil(), Role::Admin, vec![], "test"),
        );
        assert_ne!(a.server_actor(), b.server_actor());
        assert!(!a.owns(b.server_actor().unwrap()));
    }
}

/// Anna's offline edit of `id` after she lost its territory, quarantined; returns the entry's id.
async fn quarantined_edit(
    server: &TestServer,
    anna: &Device,
    anna_id: Uuid,
    id: Uuid,
    phone: &str,
) -> Uuid {
    let mut doc = anna.replica.doc(id).await.unwrap();
    let base = doc.get_heads();
    automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "phone", phone).unwrap();
    doc.commit();
    let changes = doc
        .get_changes(&base)
        .iter()
        .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
        .collect();
    fieldsync_server::auth::users::revoke_territory(&server.state.db, anna_id, "North")
        .await
        .unwrap();
    let push = PushRequest {
        docs: vec![DocPush {
            id,
            kind: "customer".into(),
            base_heads: heads_of(&base),
            changes,
            group: None,
        }],
        checkpoint: 0,
    };
    assert_eq!(
        anna.client.push(&push).await.unwrap().results[0].status,
        PushStatus::Quarantined
    );
    let conn = &server.state.db.conn;
    let row = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM quarantine WHERE status = 'pending'".to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "id").unwrap()
}

storage_test! {
    async fn an_accept_is_merged_and_recorded_together_or_not_at_all(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let maria_id = server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut maria = server.device("maria@x.test").await;
        let id = maria.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        maria.sync().await;
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let entry = quarantined_edit(&server, &anna, anna_id, id, "111").await;
        let http = reqwest::Client::new();
        let status = |entry: Uuid| {
            let (http, url, token) = (http.clone(), server.url.clone(), maria.login.token.clone());
            async move {
                let list: serde_json::Value = http.get(format!("{url}/v1/quarantine")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
                list.as_array().unwrap().iter().find(|e| e["id"] == entry.to_string()).unwrap()["status"].as_str().unwrap().to_string()
            }
        };

        // A reject gets there first: the accept's merge is undone with it and nothing changes.
        let rejected = http.post(format!("{}/v1/quarantine/{entry}/reject", server.url)).bearer_auth(&maria.login.token).send().await.unwrap();
        assert_eq!(rejected.status(), 200);
        let conn = &server.state.db.conn;
        let stmt = Query::select()
            .column(Alias::new("changes"))
            .from(Alias::new("quarantine"))
            .and_where(Expr::col(Alias::new("id")).eq(entry))
            .to_owned();
        let raw: Vec<u8> = conn.query_one(conn.get_database_backend().build(&stmt)).await.unwrap().unwrap().try_get("", "changes").unwrap();
        let raw = server.state.db.vault().open(fieldsync_server::seal::Sealed::Chunk(id), &raw).unwrap();
        let changes: Vec<ByteBuf> = sync_core::protocol::decode(&raw, &Default::default()).unwrap();
        let north = fieldsync_server::auth::users::ensure_territory(conn, "North").await.unwrap();
        let late = Author::Approved {
            rights: Principal { user_id: maria_id, role: Role::Manager, device_id: Uuid::nil(), territories: vec![north], checkpoint: 0, claimed_device: None },
            field_role: Role::Agent,
            device_id: anna.login.device_id,
            claimed_device: None,
            entry,
        };
        let chunks_before = server.count("doc_chunks").await;
        let request = PushRequest { docs: vec![DocPush { id, kind: "customer".into(), base_heads: vec![], changes, group: None }], checkpoint: 0 };
        let outcome = push::push(&server.state.sync, &late, request).await;
        assert_eq!(outcome.map(|_| ()).unwrap_err().code(), "conflict");
        assert_eq!(server.count("doc_chunks").await, chunks_before, "nothing written");
        assert_eq!(server.projected("customers", id, &["phone"]).await, vec![None]);
        assert_eq!(status(entry).await, "rejected");

        // An accept that wins is merged and marked in one go.
        let ben_id = server.user("ben@x.test", Role::Agent, &["North"]).await;
        let mut ben = server.device("ben@x.test").await;
        ben.sync().await;
        let entry = quarantined_edit(&server, &ben, ben_id, id, "222").await;
        let accepted = http.post(format!("{}/v1/quarantine/{entry}/accept", server.url)).bearer_auth(&maria.login.token).send().await.unwrap();
        assert_eq!(accepted.status(), 200);
        assert_eq!(server.projected("customers", id, &["phone"]).await, vec![Some("222".to_string())]);
        assert_eq!(status(entry).await, "accepted");
        maria.sync().await;
        assert_eq!(maria.replica.get(id).await.unwrap().get("phone"), &Value::from("222"));
    }
}

storage_test! {
    async fn an_admin_accepts_an_entry_of_any_territory_with_the_authors_field_rights(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        let mut maria = server.device("maria@x.test").await;
        let root = server.device("root@x.test").await;
        let id = maria.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        maria.sync().await;
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let entry = quarantined_edit(&server, &anna, anna_id, id, "333").await;
        // The admin holds no territory: the scope is theirs (everything), the field rights Anna's.
        let http = reqwest::Client::new();
        let accepted = http.post(format!("{}/v1/quarantine/{entry}/accept", server.url)).bearer_auth(&root.login.token).send().await.unwrap();
        assert_eq!(accepted.status(), 200, "{}", accepted.text().await.unwrap());
        assert_eq!(server.projected("customers", id, &["phone"]).await, vec![Some("333".to_string())]);
    }
}
