//! The push path through a real server: offline edits merge, replays are harmless, and every refused
//! push leaves the database as it was.

use automerge::transaction::Transactable;
use fieldsync_e2e::{
    anna_and_ben_hold_a_customer, customer, storage_test, Device, TestDb, TestServer,
};
use fieldsync_server::sync::author::Author;
use serde_bytes::ByteBuf;
use sync_core::protocol::{heads_of, DocPush, PushRequest, PushStatus};
use sync_core::{Role, Value};
use uuid::Uuid;

storage_test! {
    async fn two_devices_merge_offline_edits_of_one_customer(db: TestDb) {
        let server = TestServer::start(&db).await;
        let (mut anna, mut ben, id) = anna_and_ben_hold_a_customer(&server).await;
        assert_eq!(ben.replica.get(id).await.unwrap().get("name"), &Value::from("ACME"));

        // Offline on both: different fields, and the same field.
        anna.replica.update(id, &[("phone", "111".into()), ("city", "Lyon".into())]).await.unwrap();
        ben.replica.update(id, &[("phone", "222".into()), ("email", "buyer@acme.test".into())]).await.unwrap();
        ben.sync().await;
        anna.sync().await;
        ben.sync().await;

        assert_eq!(anna.replica.heads(id).await, ben.replica.heads(id).await);
        assert_eq!(anna.replica.heads(id).await, server.heads(id).await);
        let a = anna.replica.get(id).await.unwrap();
        assert_eq!(a, ben.replica.get(id).await.unwrap());
        assert_eq!(a.get("city"), &Value::from("Lyon"));
        assert_eq!(a.get("email"), &Value::from("buyer@acme.test"));
        assert_eq!(a.conflicts.len(), 1, "the concurrent phone numbers are reported");
        assert_eq!(a.conflicts[0].field, "phone");
        let row = server.projected("customers", id, &["name", "phone", "city", "email", "conflicts"]).await;
        assert_eq!(row[0].as_deref(), Some("ACME"));
        assert_eq!(row[1].as_deref(), a.get("phone").as_str());
        assert_eq!(row[2].as_deref(), Some("Lyon"));
        assert_eq!(row[3].as_deref(), Some("buyer@acme.test"));
        let conflicts: serde_json::Value = serde_json::from_str(row[4].as_deref().expect("conflicts recorded")).unwrap();
        assert_eq!(conflicts["phone"].as_array().map(Vec::len), Some(2));
        assert!(anna.replica.verify(&anna.client).await.unwrap().in_sync);
    }
}

storage_test! {
    async fn a_replayed_push_is_a_no_op(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let id = anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        anna.replica.update(id, &[("phone", "1".into())]).await.unwrap();
        let push = PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 };
        let first = anna.client.push(&push).await.unwrap();
        assert_eq!(first.results[0].status, PushStatus::Applied);
        let (chunks, docs) = (server.count("doc_chunks").await, server.count("documents").await);
        let feed = fieldsync_server::db::positions::committed_seq(&server.state.db.conn).await.unwrap();
        let again = anna.client.push(&push).await.unwrap();
        assert_eq!(again.results[0].status, PushStatus::AlreadyKnown);
        assert_eq!(again.results[0].heads, first.results[0].heads);
        assert_eq!(server.count("doc_chunks").await, chunks);
        assert_eq!(server.count("documents").await, docs);
        assert_eq!(fieldsync_server::db::positions::committed_seq(&server.state.db.conn).await.unwrap(), feed);
    }
}

storage_test! {
    async fn a_change_made_by_another_actor_is_refused(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let ben = server.device("ben@x.test").await;
        // Ben's device makes a record, and Anna's device tries to hand it in as its own.
        ben.replica.create("customer", &customer("Forged", "North")).await.unwrap();
        let push = PushRequest { docs: ben.replica.pending_pushes().await.unwrap(), checkpoint: 0 };
        let response = anna.client.push(&push).await.unwrap();
        assert_eq!(response.results[0].status, PushStatus::Rejected);
        assert_eq!(response.results[0].reason.as_ref().unwrap().code, "forged_actor");
        assert_eq!(server.count("documents").await, 0);
        assert_eq!(server.count("customers").await, 0);
        assert_eq!(server.count("doc_chunks").await, 0);
    }
}

storage_test! {
    async fn writes_outside_the_users_scope_are_refused(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;

        // A new record in a territory Anna does not have.
        anna.replica.create("customer", &customer("Elsewhere", "South")).await.unwrap();
        let report = anna.sync().await;
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].1.code, "out_of_scope");

        // An edit of Carla's record, made from a copy Anna never received from the server.
        let id = carla.replica.create("customer", &customer("Carla's", "South")).await.unwrap();
        carla.sync().await;
        let mut copy = carla.replica.doc(id).await.unwrap().fork().with_actor(anna.replica.actor().unwrap());
        copy.put(automerge::ROOT, "phone", "999").unwrap();
        copy.commit();
        let change = copy.get_last_local_change().unwrap().raw_bytes().to_vec();
        let push = PushRequest { docs: vec![DocPush { id, kind: "customer".into(), base_heads: vec![], changes: vec![ByteBuf::from(change)], group: None }], checkpoint: 0 };
        let response = anna.client.push(&push).await.unwrap();
        assert_eq!(response.results[0].status, PushStatus::Rejected);
        assert_eq!(response.results[0].reason.as_ref().unwrap().code, "out_of_scope");
        assert_eq!(server.projected("customers", id, &["phone"]).await, vec![None]);
        assert_eq!(server.count("documents").await, 1);
        assert_eq!(server.count("quarantine").await, 0);

        // Moving her own record to a territory she does not have is refused too.
        let own = anna.replica.create("customer", &customer("Mine", "North")).await.unwrap();
        anna.sync().await;
        anna.replica.update(own, &[("territory", "South".into())]).await.unwrap();
        let report = anna.sync().await;
        assert_eq!(report.rejected.iter().find(|(r, _)| *r == own).map(|(_, why)| why.code.as_str()), Some("out_of_scope"));
        assert_eq!(server.projected("customers", own, &["territory"]).await, vec![Some("North".to_string())]);
    }
}

storage_test! {
    async fn manager_only_and_server_only_fields_are_enforced(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut maria = server.device("maria@x.test").await;
        let mut root = server.device("root@x.test").await;
        let id = anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        anna.sync().await;
        let chunks = server.count("doc_chunks").await;

        // The SDK refuses the edit before committing it...
        let local = anna.replica.update(id, &[("credit_limit", Value::Int(50_000))]).await.unwrap_err();
        assert!(matches!(&local, fieldsync_sdk::Error::Core(e) if e.code() == "field_not_writable"), "{local}");
        // ...and the server refuses it from a client that does not check.
        let mut doc = anna.replica.doc(id).await.unwrap();
        let base = doc.get_heads();
        doc.put(automerge::ROOT, "credit_limit", 50_000_i64).unwrap();
        doc.put(automerge::ROOT, "phone", "1").unwrap();
        doc.commit();
        let changes = doc.get_changes(&base).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect();
        let push = PushRequest { docs: vec![DocPush { id, kind: "customer".into(), base_heads: heads_of(&base), changes, group: None }], checkpoint: 0 };
        let result = anna.client.push(&push).await.unwrap().results.remove(0);
        assert_eq!(result.status, PushStatus::Rejected);
        let reason = result.reason.unwrap();
        assert_eq!((reason.code.as_str(), reason.field.as_deref()), ("field_not_writable", Some("credit_limit")));
        assert_eq!(server.projected("customers", id, &["credit_limit", "phone"]).await, vec![None, None]);
        assert_eq!(server.count("doc_chunks").await, chunks, "a rejected push stores nothing");

        maria.sync().await;
        maria.replica.update(id, &[("credit_limit", Value::Int(20_000))]).await.unwrap();
        assert!(maria.sync().await.rejected.is_empty());
        assert_eq!(server.projected("customers", id, &["credit_limit"]).await, vec![Some("20000".to_string())]);

        root.sync().await;
        assert!(root.replica.update(id, &[("external_ref", "ERP-1".into())]).await.is_err(), "only the server writes it");
    }
}

storage_test! {
    async fn changes_with_missing_dependencies_are_kept_until_they_arrive(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let id = anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        anna.replica.update(id, &[("phone", "42".into())]).await.unwrap();
        let full = anna.replica.pending_pushes().await.unwrap().remove(0);
        let (create, edit) = (full.changes[0].clone(), full.changes[1].clone());
        let only_edit = PushRequest { docs: vec![DocPush { changes: vec![edit], ..full.clone() }], checkpoint: 0 };
        let response = anna.client.push(&only_edit).await.unwrap();
        assert_eq!(response.results[0].status, PushStatus::MissingDependencies);
        let create_hash = automerge::Change::from_bytes(create.to_vec()).unwrap().hash();
        assert_eq!(response.results[0].missing, heads_of(&[create_hash]));
        assert_eq!(server.count("documents").await, 0);
        assert_eq!(server.count("orphan_changes").await, 1);

        let only_create = PushRequest { docs: vec![DocPush { changes: vec![create], ..full }], checkpoint: 0 };
        let response = anna.client.push(&only_create).await.unwrap();
        assert_eq!(response.results[0].status, PushStatus::Applied);
        assert_eq!(server.projected("customers", id, &["phone"]).await, vec![Some("42".to_string())], "the kept change applied");
        assert_eq!(server.count("orphan_changes").await, 0);
        assert_eq!(response.results[0].heads, anna.replica.heads(id).await);
    }
}

storage_test! {
    async fn compaction_keeps_documents_whole_for_new_and_old_devices(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut early = server.device("anna@x.test").await;
        let id = anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        anna.sync().await;
        early.sync().await;
        for i in 0..25 {
            anna.replica.update(id, &[("phone", Value::Str(format!("{i}"))), ("notes", Value::Str(format!("visit {i}")))]).await.unwrap();
            anna.sync().await;
        }
        let stored = server.count("doc_chunks").await;
        assert!(stored <= i64::from(fieldsync_server::sync::decide::COMPACT_AFTER_CHUNKS), "{stored} chunks: never compacted");
        let mut fresh = server.device("anna@x.test").await;
        fresh.sync().await;
        assert_eq!(fresh.replica.heads(id).await, anna.replica.heads(id).await);
        assert_eq!(fresh.replica.get(id).await.unwrap().get("notes"), &Value::from("visit 24"));
        // The early device was offline through every compaction, with an edit of its own: it catches
        // up without a reset and its edit reaches everyone.
        early.replica.update(id, &[("city", "Oslo".into())]).await.unwrap();
        early.sync().await;
        anna.sync().await;
        assert_eq!(early.replica.heads(id).await, anna.replica.heads(id).await);
        assert_eq!(anna.replica.get(id).await.unwrap().get("city"), &Value::from("Oslo"));
        assert_eq!(early.replica.get(id).await.unwrap().get("notes"), &Value::from("visit 24"));
    }
}

storage_test! {
    async fn a_contact_follows_its_customer(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        let customer_id = anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        let contact = anna.replica.create("contact", &[("customer_id", customer_id.to_string().as_str().into()), ("name", "Jo".into())]).await.unwrap();
        // Customer and contact in one batch: the contact finds its parent.
        assert!(anna.sync().await.rejected.is_empty());
        assert_eq!(server.projected("contacts", contact, &["name"]).await, vec![Some("Jo".to_string())]);
        carla.sync().await;
        assert!(carla.replica.ids().await.unwrap().is_empty());
        // A contact of a customer Carla cannot see is refused.
        let stray = carla.replica.create("contact", &[("customer_id", customer_id.to_string().as_str().into()), ("name", "X".into())]).await.unwrap();
        let report = carla.sync().await;
        assert_eq!(report.rejected.iter().find(|(id, _)| *id == stray).map(|(_, r)| r.code.as_str()), Some("unknown_parent"));
    }
}

/// Stages `device`'s pending pushes, as the server's push does first: on SQLite that merges them,
/// on PostgreSQL the merge waits for the write transaction.
async fn stage<'a>(
    server: &TestServer,
    device: &Device,
    who: &'a Author,
) -> fieldsync_server::sync::push::Staged<'a> {
    let docs = device.replica.pending_pushes().await.unwrap();
    assert!(!docs.is_empty());
    fieldsync_server::sync::push::stage(
        &server.state.sync,
        who,
        PushRequest {
            docs,
            checkpoint: 0,
        },
    )
    .await
    .unwrap()
}

/// Asserts how many staged pushes were merged again at their write: `times` where pushes are
/// merged ahead (SQLite), none where they are merged in their transaction.
fn assert_merged_again(server: &TestServer, times: u64) {
    let expected = if server.state.db.merges_ahead() {
        times
    } else {
        0
    };
    assert_eq!(server.state.metrics.push_merged_again.get(), expected);
}

/// The device as the push path sees it.
async fn principal(server: &TestServer, device: &Device) -> Author {
    let who = fieldsync_server::auth::credentials::authenticate(
        &server.state.db.conn,
        server.state.token_ttl,
        &device.login.token,
        &Default::default(),
    )
    .await
    .unwrap();
    Author::Device(who)
}

storage_test! {
    async fn a_push_whose_record_changed_after_its_merge_is_merged_again(db: TestDb) {
        let server = TestServer::start(&db).await;
        let (mut anna, mut ben, id) = anna_and_ben_hold_a_customer(&server).await;
        anna.replica.update(id, &[("phone", "111".into())]).await.unwrap();
        ben.replica.update(id, &[("city", "Lyon".into())]).await.unwrap();

        // Unchanged since its merge: written as merged.
        let who = principal(&server, &anna).await;
        let ahead = stage(&server, &anna, &who).await;
        let response = ahead.commit(&server.state.sync).await.unwrap();
        assert_eq!(response.results[0].status, PushStatus::Applied);
        assert_merged_again(&server, 0);

        // Ben's edit is written between the staging of Anna's next push and its write: the write
        // must not replace the record with a merge that lacks Ben's edit.
        anna.replica.update(id, &[("email", "buyer@acme.test".into())]).await.unwrap();
        let ahead = stage(&server, &anna, &who).await;
        assert!(ben.sync().await.rejected.is_empty());
        let response = ahead.commit(&server.state.sync).await.unwrap();
        assert_eq!(response.results[0].status, PushStatus::Applied);
        assert_merged_again(&server, 1);
        let row = server.projected("customers", id, &["phone", "city", "email"]).await;
        assert_eq!(row, vec![Some("111".to_string()), Some("Lyon".to_string()), Some("buyer@acme.test".to_string())]);
        anna.sync().await;
        ben.sync().await;
        assert_eq!(anna.replica.heads(id).await, server.heads(id).await);
        assert_eq!(ben.replica.heads(id).await, server.heads(id).await);
        assert_eq!(anna.replica.get(id).await.unwrap().get("city"), &Value::from("Lyon"));
    }
}

storage_test! {
    async fn a_contact_whose_customer_moved_after_its_merge_is_checked_again(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North", "South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let customer_id = ben.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        ben.sync().await;
        anna.sync().await;
        let contact = anna.replica.create("contact", &[("customer_id", customer_id.to_string().as_str().into()), ("name", "Jo".into())]).await.unwrap();

        // Staged while Anna may see the customer; the customer moves to a territory she may not
        // see before the contact is written.
        let who = principal(&server, &anna).await;
        let ahead = stage(&server, &anna, &who).await;
        ben.replica.update(customer_id, &[("territory", "South".into())]).await.unwrap();
        assert!(ben.sync().await.rejected.is_empty());
        let response = ahead.commit(&server.state.sync).await.unwrap();
        assert_merged_again(&server, 1);
        let result = &response.results[0];
        assert_eq!(result.id, contact);
        assert_eq!(result.status, PushStatus::Rejected);
        assert_eq!(result.reason.as_ref().map(|r| r.code.as_str()), Some("unknown_parent"));
        assert_eq!(server.count("contacts").await, 0);
    }
}

/// `n` changes of a new record by `device`, all after its creation, which is left out: each waits
/// on the server for a change it never receives.
async fn changes_missing_their_creation(device: &Device, n: usize) -> DocPush {
    use automerge::transaction::Transactable;
    let mut doc = automerge::AutoCommit::new().with_actor(device.replica.actor().unwrap());
    doc.put(automerge::ROOT, "name", "Waiting").unwrap();
    doc.commit();
    let created = doc.get_heads();
    for i in 0..n {
        doc.put(automerge::ROOT, "phone", i as i64).unwrap();
        doc.commit();
    }
    DocPush {
        id: Uuid::now_v7(),
        kind: "customer".into(),
        base_heads: vec![],
        changes: doc
            .get_changes(&created)
            .iter()
            .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
            .collect(),
        group: None,
    }
}

storage_test! {
    async fn a_device_keeps_a_bounded_number_of_changes_waiting(db: TestDb) {
        use fieldsync_server::sync::write::MAX_DEVICE_ORPHANS;
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let mut docs = Vec::new();
        for _ in 0..100 {
            docs.push(changes_missing_their_creation(&anna, 50).await);
        }
        let response = anna.client.push(&PushRequest { docs, checkpoint: 0 }).await.unwrap();
        let kept = (MAX_DEVICE_ORPHANS / 50) as usize;
        for (i, result) in response.results.iter().enumerate() {
            if i < kept {
                assert_eq!(result.status, PushStatus::MissingDependencies, "record {i}");
            } else {
                assert_eq!(result.status, PushStatus::Rejected, "record {i}");
                assert_eq!(result.reason.as_ref().unwrap().code, "too_many_orphans");
            }
        }
        assert_eq!(server.count("orphan_changes").await, MAX_DEVICE_ORPHANS);
        // The bound is the device's, across pushes.
        let more = changes_missing_their_creation(&anna, 1).await;
        let response = anna.client.push(&PushRequest { docs: vec![more], checkpoint: 0 }).await.unwrap();
        assert_eq!(response.results[0].reason.as_ref().unwrap().code, "too_many_orphans");
        assert_eq!(server.count("orphan_changes").await, MAX_DEVICE_ORPHANS);
        // Another device of the same user has its own.
        let tablet = server.device("anna@x.test").await;
        let waiting = changes_missing_their_creation(&tablet, 1).await;
        let response = tablet.client.push(&PushRequest { docs: vec![waiting], checkpoint: 0 }).await.unwrap();
        assert_eq!(response.results[0].status, PushStatus::MissingDependencies);
    }
}

storage_test! {
    async fn a_device_keeps_a_bounded_number_of_edits_waiting_for_a_manager(db: TestDb) {
        use fieldsync_server::sync::write::MAX_DEVICE_QUARANTINED;
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North", "South"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        let n = MAX_DEVICE_QUARANTINED as usize + 2;
        let mut ids = Vec::new();
        for i in 0..n {
            ids.push(carla.replica.create("customer", &customer(&format!("C{i}"), "South")).await.unwrap());
        }
        carla.sync().await;
        anna.sync().await;
        // Offline edits of Carla's records, then South is taken from Anna: each edit is held for a
        // manager, up to the device's bound.
        for id in &ids {
            anna.replica.update(*id, &[("phone", "555".into())]).await.unwrap();
        }
        fieldsync_server::auth::users::revoke_territory(&server.state.db, anna_id, "South").await.unwrap();
        let report = anna.sync().await;
        assert_eq!(server.count("quarantine").await, MAX_DEVICE_QUARANTINED);
        assert_eq!(report.rejected.len(), n - MAX_DEVICE_QUARANTINED as usize, "{:?}", report.rejected);
        assert!(report.rejected.iter().all(|(_, why)| why.code == "quarantine_full"));
    }
}
