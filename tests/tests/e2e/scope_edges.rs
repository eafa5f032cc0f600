//! Edge cases of scope that a review found: forged cursors, records moving while territories are
//! gained or lost, former admins, and what refusals reveal. Each is a regression test.

use fieldsync_e2e::{customer, storage_test, TestDb, TestServer};
use serde_bytes::ByteBuf;
use sync_core::protocol::{PullRequest, PushRequest, PushStatus};
use sync_core::{Role, Value};
use uuid::Uuid;

/// A cursor's payload as the server lays it out, without the tag only the server can make.
#[derive(serde::Serialize)]
struct ForgedCursor {
    seq: i64,
    territories: Option<Vec<Uuid>>,
    backfill: Option<(Vec<Uuid>, i64, Option<Uuid>)>,
    evict: Option<()>,
}

async fn territory_id(server: &TestServer, name: &str) -> Uuid {
    fieldsync_server::auth::users::ensure_territory(&server.state.db.conn, name)
        .await
        .unwrap()
}

storage_test! {
    async fn a_forged_cursor_cannot_reach_other_territories(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut carla = server.device("carla@x.test").await;
        carla.replica.create("customer", &customer("Secret", "South")).await.unwrap();
        carla.sync().await;
        let anna = server.device("anna@x.test").await;
        let (north, south) = (territory_id(&server, "North").await, territory_id(&server, "South").await);
        let forged = ForgedCursor { seq: 0, territories: Some(vec![north]), backfill: Some((vec![south], i64::MAX, None)), evict: None };
        let cursor = Some(ByteBuf::from(rmp_serde::to_vec(&forged).unwrap()));
        let refused = anna.client.pull(&PullRequest { cursor, limit: None, checkpoint: 0 }).await.unwrap_err();
        assert_eq!(refused.code(), Some("invalid_cursor"), "{refused}");
    }
}

storage_test! {
    async fn a_record_moved_after_a_grant_arrives_whole(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North", "South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut maria = server.device("maria@x.test").await;
        let id = maria.replica.create("customer", &customer("Mover", "South")).await.unwrap();
        maria.replica.update(id, &[("phone", "1".into())]).await.unwrap();
        maria.sync().await;
        anna.sync().await;
        // Anna is granted South, and before she pulls, the record moves from South to North.
        fieldsync_server::auth::users::grant_territory(&server.state.db, anna_id, "South").await.unwrap();
        maria.replica.update(id, &[("territory", "North".into())]).await.unwrap();
        maria.sync().await;
        anna.sync().await;
        assert_eq!(anna.replica.heads(id).await, server.heads(id).await, "the record's whole history arrived");
        assert_eq!(anna.replica.get(id).await.unwrap().get("phone"), &Value::from("1"));
    }
}

storage_test! {
    async fn a_record_moved_out_before_a_revoke_is_evicted(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North", "South"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        territory_id(&server, "East").await;
        let mut anna = server.device("anna@x.test").await;
        let mut root = server.device("root@x.test").await;
        let id = root.replica.create("customer", &customer("Mover", "South")).await.unwrap();
        root.sync().await;
        anna.sync().await;
        assert!(anna.replica.ids().await.unwrap().contains(&id));
        // The record moves from South to East, then Anna loses South, before she pulls.
        root.replica.update(id, &[("territory", "East".into())]).await.unwrap();
        root.sync().await;
        fieldsync_server::auth::users::revoke_territory(&server.state.db, anna_id, "South").await.unwrap();
        let report = anna.sync().await;
        assert!(report.evicted.contains(&id), "{report:?}");
        assert!(!anna.replica.ids().await.unwrap().contains(&id));
    }
}

storage_test! {
    async fn a_former_admin_keeps_only_what_they_may_see(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("boss@x.test", Role::Admin, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut carla = server.device("carla@x.test").await;
        let south = carla.replica.create("customer", &customer("S", "South")).await.unwrap();
        carla.replica.create("customer", &customer("S2", "South")).await.unwrap();
        carla.sync().await;
        let mut boss_device = server.device("boss@x.test").await;
        boss_device.sync().await;
        assert_eq!(boss_device.replica.ids().await.unwrap().len(), 2);
        sea_orm::ConnectionTrait::execute_unprepared(
            &server.state.db.conn,
            "UPDATE users SET role = 'manager' WHERE email = 'boss@x.test'",
        )
        .await
        .unwrap();
        let report = boss_device.sync().await;
        assert!(report.evicted.contains(&south), "{report:?}");
        assert!(boss_device.replica.ids().await.unwrap().is_empty());
    }
}

storage_test! {
    async fn refusals_reveal_nothing_about_records_out_of_scope(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut carla = server.device("carla@x.test").await;
        let id = carla.replica.create("customer", &customer("Secret", "South")).await.unwrap();
        carla.sync().await;
        let anna = server.device("anna@x.test").await;
        // Replaying Carla's own (already known) changes as Anna: no "already known", no heads.
        let replay = PushRequest { docs: vec![sync_core::protocol::DocPush {
            id,
            kind: "contact".into(),
            base_heads: vec![],
            changes: carla.replica.doc(id).await.unwrap().get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
            group: None,
        }], checkpoint: 0 };
        let result = anna.client.push(&replay).await.unwrap().results.remove(0);
        assert_eq!(result.status, PushStatus::Rejected);
        assert_eq!(result.reason.unwrap().code, "out_of_scope");
        assert!(result.heads.is_empty());
        assert_eq!(server.count("quarantine").await, 0);
    }
}

storage_test! {
    async fn accepting_a_quarantined_edit_grants_no_extra_field_rights(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut maria = server.device("maria@x.test").await;
        let id = maria.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        maria.sync().await;
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        // Offline, Anna writes a manager-only field; meanwhile she loses North.
        let mut doc = anna.replica.doc(id).await.unwrap();
        let base = doc.get_heads();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "credit_limit", 1_000_000_i64).unwrap();
        doc.commit();
        let change = doc.get_changes(&base).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();
        fieldsync_server::auth::users::revoke_territory(&server.state.db, anna_id, "North").await.unwrap();
        let push = PushRequest { docs: vec![sync_core::protocol::DocPush {
            id,
            kind: "customer".into(),
            base_heads: sync_core::protocol::heads_of(&base),
            changes: change,
            group: None,
        }], checkpoint: 0 };
        assert_eq!(anna.client.push(&push).await.unwrap().results[0].status, PushStatus::Quarantined);
        let http = reqwest::Client::new();
        let list = server.quarantine(&maria.login.token).await;
        let entry = list[0]["id"].as_str().unwrap().to_string();
        let accepted = http.post(format!("{}/v1/quarantine/{entry}/accept", server.url)).bearer_auth(&maria.login.token).send().await.unwrap();
        assert_eq!(accepted.status(), 409, "the author may not write credit_limit");
        assert_eq!(server.projected("customers", id, &["credit_limit"]).await, vec![None]);
        let list = server.quarantine(&maria.login.token).await;
        assert_eq!(list[0]["status"], "pending", "a failed accept leaves the entry for another decision");
        let rejected = http.post(format!("{}/v1/quarantine/{entry}/reject", server.url)).bearer_auth(&maria.login.token).send().await.unwrap();
        assert_eq!(rejected.status(), 200);
        let again = http.post(format!("{}/v1/quarantine/{entry}/accept", server.url)).bearer_auth(&maria.login.token).send().await.unwrap();
        assert_eq!(again.status(), 409);
    }
}

storage_test! {
    async fn an_edit_made_after_a_quarantine_is_not_evicted_unsent(db: TestDb) {
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North", "South"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut carla = server.device("carla@x.test").await;
        let id = carla.replica.create("customer", &customer("S", "South")).await.unwrap();
        carla.sync().await;
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        anna.replica.update(id, &[("phone", "1".into())]).await.unwrap();
        fieldsync_server::auth::users::revoke_territory(&server.state.db, anna_id, "South").await.unwrap();
        // Push only: the first edit is quarantined; then a second edit before the pull.
        let report = anna.replica.push(&anna.client).await.unwrap();
        assert_eq!(report.quarantined, vec![id]);
        anna.replica.update(id, &[("city", "Oslo".into())]).await.unwrap();
        let mut report = fieldsync_sdk::SyncReport::default();
        anna.replica.pull(&anna.client, &mut report, &mut |_| {}).await.unwrap();
        assert!(anna.replica.ids().await.unwrap().contains(&id), "the unsent edit must stay");
        // The next sync hands the second edit in too, and then the record may go.
        let report = anna.sync().await;
        assert_eq!(report.quarantined, vec![id]);
        assert_eq!(server.count("quarantine").await, 2);
    }
}
