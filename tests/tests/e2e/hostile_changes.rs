//! Changes built by hand, as a hostile agent would with `encodeChange` in automerge JS: each shape
//! that would break a shared record is refused for its document alone, and a record an older server
//! stored broken is answered per document and rebuilt by `repair`.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ExpandedChange};
use fieldsync_e2e::{
    anna_and_ben_hold_a_customer, customer, storage_test, Device, TestDb, TestServer,
};
use fieldsync_server::seal::Sealed;
use fieldsync_server::sync::docstore;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use serde_bytes::ByteBuf;
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use uuid::Uuid;

/// Anna's customer, which Ben (same territory) edited once, ordinarily, and synced.
async fn bens_edit_of_annas_customer(server: &TestServer) -> (Device, Device, Uuid) {
    let (anna, mut ben, id) = anna_and_ben_hold_a_customer(server).await;
    ben.replica
        .update(id, &[("phone", "555".into())])
        .await
        .unwrap();
    ben.sync().await;
    (anna, ben, id)
}

/// Ben's next edit of the record, rewritten by `edit`: his actor, on the server's heads.
async fn crafted(ben: &Device, id: Uuid, edit: impl FnOnce(&mut ExpandedChange)) -> Change {
    let mut doc = ben.replica.doc(id).await.unwrap();
    doc.put(automerge::ROOT, "phone", "556").unwrap();
    doc.commit();
    let mut expanded = doc.get_last_local_change().unwrap().decode();
    expanded.hash = None;
    edit(&mut expanded);
    Change::from(expanded)
}

fn push_of(docs: Vec<(Uuid, Vec<Change>)>) -> PushRequest {
    PushRequest {
        docs: docs
            .into_iter()
            .map(|(id, changes)| DocPush {
                id,
                kind: "customer".into(),
                base_heads: vec![],
                changes: changes
                    .iter()
                    .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                    .collect(),
                group: None,
            })
            .collect(),
        checkpoint: 0,
    }
}

storage_test! {
    async fn changes_that_would_break_a_shared_record_are_refused_alone(db: TestDb) {
        let server = TestServer::start(&db).await;
        let (mut anna, ben, id) = bens_edit_of_annas_customer(&server).await;
        let heads = server.heads(id).await;
        let shapes: Vec<(&str, Change)> = vec![
            ("a start op below his previous ops", crafted(&ben, id, |c| c.start_op = 1.try_into().unwrap()).await),
            ("a seq gap", crafted(&ben, id, |c| c.seq += 1).await),
            ("a seq of 2^31", crafted(&ben, id, |c| c.seq = 1 << 31).await),
            ("a pred naming an op nobody made", crafted(&ben, id, |c| {
                let other = c.operations[0].pred.iter().next().unwrap().actor().clone();
                c.operations[0].pred = vec![automerge::legacy::OpId(900, other)].into();
            }).await),
            ("a set on a missing object", crafted(&ben, id, |c| {
                let other = c.actor_id.clone();
                c.operations[0].obj = automerge::legacy::ObjectId::Id(automerge::legacy::OpId(900, other));
                c.operations[0].pred = Vec::new().into();
            }).await),
        ];
        for (shape, change) in shapes {
            // Each rides along with a new, ordinary record of Ben's, which must not suffer for it.
            let mut fresh = AutoCommit::new().with_actor(ben.replica.actor().unwrap());
            for (field, value) in customer("Fresh", "North") {
                fresh.put(automerge::ROOT, field, value.as_str().unwrap_or_default()).unwrap();
            }
            fresh.commit();
            let new_id = Uuid::now_v7();
            let push = push_of(vec![(id, vec![change]), (new_id, vec![fresh.get_last_local_change().unwrap()])]);
            let response = ben.client.push(&push).await.unwrap();
            let poisoned = &response.results[0];
            assert_eq!(poisoned.status, PushStatus::Rejected, "{shape}");
            assert_eq!(poisoned.reason.as_ref().unwrap().code, "invalid_change", "{shape}");
            assert_eq!(response.results[1].status, PushStatus::Applied, "{shape}: the rest of the batch is applied");
            assert_eq!(server.heads(id).await, heads, "{shape}: the record is unchanged");
        }
        // Anna still syncs her record, through compaction and a cold load.
        for i in 0..12 {
            anna.replica.update(id, &[("phone", format!("{i}").as_str().into())]).await.unwrap();
            let report = anna.sync().await;
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        }
        let mut stored = docstore::load(&server.state.db.conn, server.state.db.vault(), id).await.unwrap().unwrap();
        assert_eq!(stored.get_heads().len(), 1);
    }
}

/// Stores record `id` as an older server could have: its last chunk replaced by a snapshot that
/// holds Ben's crafted change and does not load.
async fn store_broken(server: &TestServer, ben: &Device, id: Uuid) {
    let change = crafted(ben, id, |c| c.start_op = 1.try_into().unwrap()).await;
    let mut doc = docstore::load(&server.state.db.conn, server.state.db.vault(), id)
        .await
        .unwrap()
        .unwrap();
    doc.apply_changes([change]).unwrap();
    let broken = doc.save();
    assert!(
        AutoCommit::load(&broken).is_err(),
        "automerge saves what it cannot load"
    );
    let conn = &server.state.db.conn;
    let backend = conn.get_database_backend();
    let last = docstore::load_chunks(conn, server.state.db.vault(), id)
        .await
        .unwrap()
        .last()
        .unwrap()
        .0;
    let stmt = Query::update()
        .table(Alias::new("doc_chunks"))
        // Sealed as the server stores every chunk.
        .value(
            Alias::new("data"),
            server.state.db.vault().seal(Sealed::Chunk(id), &broken),
        )
        .and_where(Expr::col(Alias::new("doc_id")).eq(id))
        .and_where(Expr::col(Alias::new("seq")).eq(last))
        .to_owned();
    conn.execute(backend.build(&stmt)).await.unwrap();
    let heads = fieldsync_server::sync::docstore::pack_heads(&doc.get_heads());
    let stmt = Query::update()
        .table(Alias::new("documents"))
        .value(Alias::new("heads"), heads)
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    conn.execute(backend.build(&stmt)).await.unwrap();
}

storage_test! {
    async fn a_stored_record_that_does_not_load_is_answered_alone_and_repaired(db: TestDb) {
        let server = TestServer::start(&db).await;
        let (mut anna, ben, id) = bens_edit_of_annas_customer(&server).await;
        store_broken(&server, &ben, id).await;

        // Anna's edit of the broken record and her new record go in one push.
        anna.replica.update(id, &[("city", "Lyon".into())]).await.unwrap();
        let other = anna.replica.create("customer", &customer("Other", "North")).await.unwrap();
        let report = anna.sync().await;
        assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
        assert_eq!(report.rejected[0].0, id);
        assert_eq!(report.rejected[0].1.code, "record_unloadable");
        assert!(server.heads(other).await.len() == 1, "the rest of the batch is applied");
        assert_eq!(server.state.sync.unloadable.get(), 1);

        // The operator's command, as run next to the serving server.
        let repair = |db: &TestDb| {
            std::process::Command::new(env!("CARGO_BIN_EXE_e2e-server"))
                .args(["repair", &id.to_string(), "--database-url", &db.url])
                .arg("--key-file")
                .arg(&db.key_file)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        };
        let out = repair(&db);
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(printed.contains("left out the chunk"), "{printed}");
        assert!(printed.contains("rebuilt from 1 healthy chunks"), "{printed}");
        assert!(docstore::load(&server.state.db.conn, server.state.db.vault(), id).await.unwrap().is_ok());
        // Anna's edit, kept on her device with its reason, goes through now.
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert_eq!(server.projected("customers", id, &["city"]).await, vec![Some("Lyon".to_string())]);
        // A second repair finds nothing to do.
        let again = String::from_utf8_lossy(&repair(&db).stdout).to_string();
        assert!(again.contains("nothing to repair"), "{again}");
    }
}
