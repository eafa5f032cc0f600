//! A database an older server wrote. Records with concurrent values were projected with the value
//! automerge lists first, not the one it shows: the first start of this version projects them again,
//! and a record whose territory changes as a result moves in the feed, with its contacts. Customers'
//! lifecycle values were renamed: the first start writes the new ones as changes devices receive.
//! Visits stored before photos existed lack the items: the first start gives them the empty object.

use automerge::ReadDoc;
use fieldsync_e2e::{customer, storage_test, TestDb, TestServer};
use fieldsync_server::db::entities::document;
use fieldsync_server::sync::docstore;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sync_core::record::{self, Conflict, Listing};
use sync_core::{kinds, Role, Value};
use uuid::Uuid;

async fn territory_id(server: &TestServer, name: &str) -> Uuid {
    fieldsync_server::auth::users::ensure_territory(&server.state.db.conn, name)
        .await
        .unwrap()
}

/// The value automerge shows at `field` of the server's document, and the one it hides.
async fn shown_and_hidden(server: &TestServer, id: Uuid, field: &str) -> (String, String) {
    let doc = docstore::load(&server.state.db.conn, server.state.db.vault(), id)
        .await
        .unwrap()
        .unwrap();
    let shown = doc
        .get(automerge::ROOT, field)
        .unwrap()
        .unwrap()
        .0
        .into_string()
        .unwrap();
    let all: Vec<String> = doc
        .get_all(automerge::ROOT, field)
        .unwrap()
        .into_iter()
        .map(|(v, _)| v.into_string().unwrap())
        .collect();
    assert_eq!(all.len(), 2, "{field} holds two concurrent values");
    let hidden = all.into_iter().find(|v| *v != shown).unwrap();
    (shown, hidden)
}

/// Rewrites a record's listing, projection row and scope as the older server left them: every
/// conflicted field showing the value automerge hides, the hidden one listed first.
async fn project_the_old_way(server: &TestServer, id: Uuid, contact: Uuid, hidden_territory: Uuid) {
    let conn = &server.state.db.conn;
    let doc = docstore::load(conn, server.state.db.vault(), id)
        .await
        .unwrap()
        .unwrap();
    let mut old = record::project(&doc, &kinds::CUSTOMER).unwrap();
    for c in &mut old.conflicts {
        c.values.reverse();
        old.fields.insert(
            kinds::CUSTOMER.field(&c.field).unwrap().name,
            c.values[0].clone(),
        );
    }
    let listing = Listing::of(&old);
    document::Entity::update_many()
        .col_expr(document::Column::ListingFields, Expr::value(listing.fields))
        .col_expr(
            document::Column::ListingConflicts,
            Expr::value(listing.conflicts),
        )
        .col_expr(
            document::Column::TerritoryId,
            Expr::value(Some(hidden_territory)),
        )
        .filter(document::Column::Id.is_in([id, contact]))
        .exec(conn)
        .await
        .unwrap();
    let conflicts: serde_json::Map<String, serde_json::Value> = old
        .conflicts
        .iter()
        .map(|Conflict { field, values }| {
            (field.clone(), values.iter().map(Value::to_json).collect())
        })
        .collect();
    let stmt = Query::update()
        .table(Alias::new("customers"))
        .value(
            Alias::new("territory"),
            old.get("territory").as_str().unwrap(),
        )
        .value(Alias::new("phone"), old.get("phone").as_str().unwrap())
        .value(
            Alias::new("conflicts"),
            serde_json::Value::Object(conflicts).to_string(),
        )
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    conn.execute(conn.get_database_backend().build(&stmt))
        .await
        .unwrap();
    let stmt = Query::insert()
        .into_table(Alias::new("upgrade_tasks"))
        .columns([Alias::new("name")])
        .values_panic(["reproject_conflict_winners".into()])
        .to_owned();
    conn.execute(conn.get_database_backend().build(&stmt))
        .await
        .unwrap();
}

storage_test! {
    async fn records_projected_with_the_hidden_value_are_projected_again_and_moved(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North", "South", "East"]).await;
        for t in ["North", "South", "East"] {
            territory_id(&server, t).await;
        }
        let mut phone = server.device("maria@x.test").await;
        let mut laptop = server.device("maria@x.test").await;
        let id = phone.replica.create("customer", &customer("Cafe Lumen", "North")).await.unwrap();
        let contact = phone
            .replica
            .create("contact", &[("customer_id", Value::Str(id.to_string())), ("name", "Ines".into())])
            .await
            .unwrap();
        phone.sync().await;
        laptop.sync().await;
        // Offline, the same fields written twice: the territory and the phone.
        phone.replica.update(id, &[("territory", "South".into()), ("phone", "111".into())]).await.unwrap();
        laptop.replica.update(id, &[("territory", "East".into()), ("phone", "222".into())]).await.unwrap();
        phone.sync().await;
        laptop.sync().await;

        let (shown, hidden) = shown_and_hidden(&server, id, "territory").await;
        let (shown_phone, hidden_phone) = shown_and_hidden(&server, id, "phone").await;
        assert_eq!(
            server.projected("customers", id, &["territory", "phone"]).await,
            vec![Some(shown.clone()), Some(shown_phone.clone())],
            "this version projects automerge's winner"
        );
        let hidden_id = territory_id(&server, &hidden).await;
        project_the_old_way(&server, id, contact, hidden_id).await;

        // Agents of each territory bootstrap from the database as the older server left it.
        server.user("lena@x.test", Role::Agent, &[hidden.as_str()]).await;
        server.user("walt@x.test", Role::Agent, &[shown.as_str()]).await;
        let mut lena = server.device("lena@x.test").await;
        let mut walt = server.device("walt@x.test").await;
        lena.sync().await;
        walt.sync().await;
        assert!(lena.replica.get(id).await.is_ok() && lena.replica.get(contact).await.is_ok());
        assert!(walt.replica.get(id).await.is_err());

        let url = server.url.clone();
        server.stop().await;
        let server = TestServer::restart_at(&db, &url).await;
        assert_eq!(
            server.projected("customers", id, &["territory", "phone"]).await,
            vec![Some(shown.clone()), Some(shown_phone.clone())]
        );
        let row = document::Entity::find_by_id(id).one(&server.state.db.conn).await.unwrap().unwrap();
        let listed: serde_json::Value = serde_json::from_str(row.listing_fields.as_deref().unwrap()).unwrap();
        assert_eq!(listed["territory"], shown.as_str());
        let conflicts: Vec<Conflict> = serde_json::from_str(row.listing_conflicts.as_deref().unwrap()).unwrap();
        for c in &conflicts {
            let winner = if c.field == "phone" { &shown_phone } else { &shown };
            assert_eq!(c.values[0], Value::from(winner.as_str()), "{} lists the winner first", c.field);
        }
        assert!(conflicts.iter().any(|c| c.field == "phone" && c.values[1] == Value::from(hidden_phone.as_str())));
        let shown_id = territory_id(&server, &shown).await;
        let contact_row = document::Entity::find_by_id(contact).one(&server.state.db.conn).await.unwrap().unwrap();
        assert_eq!((row.territory_id, contact_row.territory_id), (Some(shown_id), Some(shown_id)));
        assert_eq!(server.count("upgrade_tasks").await, 0, "done once");

        // The move reaches devices like any other: evicted from the old territory, whole in the new.
        lena.sync().await;
        walt.sync().await;
        assert!(lena.replica.get(id).await.is_err() && lena.replica.get(contact).await.is_err());
        assert_eq!(walt.replica.heads(id).await, server.heads(id).await);
        assert_eq!(walt.replica.get(id).await.unwrap().get("territory"), &Value::from(shown.as_str()));
        assert_eq!(walt.replica.get(contact).await.unwrap().get("name"), &Value::from("Ines"));

        // A second start finds nothing to do and moves nothing.
        let moves = server.count("scope_moves").await;
        server.stop().await;
        let server = TestServer::restart_at(&db, &url).await;
        assert_eq!(server.count("scope_moves").await, moves);
    }
}

/// A customer as an earlier version stored it, with a lifecycle value the current schema no longer
/// has, written through the server's own store path (the current push path would refuse it).
async fn store_old_customer(server: &TestServer, name: &str, status: &str) -> Uuid {
    use automerge::transaction::Transactable;
    use sync_core::kinds::CUSTOMER;
    let actor = automerge::ActorId::random();
    let mut doc = sync_core::record::create(&CUSTOMER, actor, &customer(name, "North"))
        .expect("a valid customer");
    let mut projection = sync_core::record::project(&doc, &CUSTOMER).expect("projects");
    doc.put(automerge::ROOT, "status", status).expect("put");
    doc.commit();
    projection
        .fields
        .insert("status", sync_core::Value::from(status));
    store_as_before(server, &CUSTOMER, &doc, projection, None).await
}

/// Stores a document as an earlier version did, through the server's own store path (the current
/// push path would refuse it or change it), in North or under `parent`.
async fn store_as_before(
    server: &TestServer,
    kind: &'static sync_core::KindSchema,
    doc: &automerge::AutoCommit,
    projection: sync_core::record::Projection,
    parent: Option<Uuid>,
) -> Uuid {
    use fieldsync_server::sync::write;
    let conn = &server.state.db.conn;
    let north = write::territories_by_name(conn).await.expect("territories")["North"];
    let mut doc = doc.clone();
    let data = doc.save();
    let id = Uuid::now_v7();
    let txn = server.state.db.begin_write().await.expect("begin");
    write::store(
        &txn,
        &[write::Write {
            id,
            kind,
            is_new: true,
            territory_id: Some(north),
            // An earlier version kept no record to a user.
            user_id: None,
            parent_id: parent,
            owner_id: Uuid::now_v7(),
            heads: docstore::pack_heads(&doc.get_heads()),
            chunk_count: 1,
            chunk_bytes: data.len() as i64,
            data,
            snapshot: true,
            created_at: 0,
            listing: Listing::of(&projection),
            projection,
            moved_from: None,
            doc: None,
            // An older version kept no receipts.
            received: Vec::new(),
            fields_written: Vec::new(),
            lacks_objects: false,
            code: None,
        }],
    )
    .await
    .expect("store");
    txn.commit().await.expect("commit");
    id
}

storage_test! {
    async fn customers_stored_with_old_lifecycle_values_are_renamed_at_start_and_reach_devices(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let lead = store_old_customer(&server, "Old lead", "lead").await;
        let inactive = store_old_customer(&server, "Old inactive", "inactive").await;
        let current = store_old_customer(&server, "Current", "active").await;
        let untouched = server.heads(current).await;
        // The migration that renamed the values left this task for the next start.
        let conn = &server.state.db.conn;
        conn.execute_unprepared("INSERT INTO upgrade_tasks (name) VALUES ('customer_statuses')")
            .await
            .expect("task");
        let url = server.url.clone();
        server.stop().await;

        let server = TestServer::restart_at(&db, &url).await;
        let statuses = |id| server.projected("customers", id, &["status"]);
        assert_eq!(statuses(lead).await, [Some("prospect".to_string())]);
        assert_eq!(statuses(inactive).await, [Some("dormant".to_string())]);
        assert_eq!(statuses(current).await, [Some("active".to_string())]);
        assert_eq!(server.heads(current).await, untouched, "a current value is not written again");
        assert_eq!(server.count("upgrade_tasks").await, 0, "the task is done once");
        // The rename is a change by the server, recorded as the upgrade's.
        let conn = &server.state.db.conn;
        let purposes = conn
            .query_all(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT purpose FROM server_actors".to_string(),
            ))
            .await
            .expect("actors");
        assert_eq!(purposes.len(), 1);
        assert_eq!(purposes[0].try_get::<String>("", "purpose").unwrap(), "upgrade");

        // Devices receive it like any other change, and the renamed records validate again.
        let mut anna = server.device("anna@x.test").await;
        assert!(anna.sync().await.rejected.is_empty());
        let status = |p: sync_core::record::Projection| p.get("status").clone();
        assert_eq!(status(anna.replica.get(lead).await.unwrap()), "prospect".into());
        assert_eq!(status(anna.replica.get(inactive).await.unwrap()), "dormant".into());
        anna.replica.update(lead, &[("status", "active".into())]).await.unwrap();
        assert!(anna.sync().await.rejected.is_empty());
        assert_eq!(statuses(lead).await, [Some("active".to_string())]);
    }
}

storage_test! {
    async fn visits_stored_before_photos_are_given_the_items_and_take_photos(db: TestDb) {
        use automerge::transaction::Transactable;
        use sync_core::kinds::VISIT;
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let shop = store_old_customer(&server, "Corner Shop", "active").await;
        // A visit as the version before photos stored it: its notes, and no `photos` items.
        let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::random());
        doc.put_object(automerge::ROOT, "notes", automerge::ObjType::Text).unwrap();
        doc.put(automerge::ROOT, "deleted", false).unwrap();
        doc.put(automerge::ROOT, "customer_id", shop.to_string()).unwrap();
        doc.put(automerge::ROOT, "status", "completed").unwrap();
        doc.commit();
        let projection = record::project(&doc, &VISIT).expect("an old visit still validates");
        let visit = store_as_before(&server, &VISIT, &doc, projection, Some(shop)).await;
        let conn = &server.state.db.conn;
        // A device holds the old visit; it cannot attach a photo to it.
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let refused = anna.replica.attach(visit, "photos", vec![0xFF, 0xD8, 0xFF, 0xE0], None).await.unwrap_err();
        assert!(matches!(refused, fieldsync_sdk::Error::Core(sync_core::Error::NestedObjectAfterCreation(_))), "{refused}");
        // The migration that added photos left this task for the next start.
        conn.execute_unprepared("INSERT INTO upgrade_tasks (name) VALUES ('missing_objects')").await.unwrap();
        let url = server.url.clone();
        server.stop().await;

        let server = TestServer::restart_at(&db, &url).await;
        assert_eq!(server.count("upgrade_tasks").await, 0, "the task is done once");
        let stored = docstore::load(&server.state.db.conn, server.state.db.vault(), visit).await.unwrap().unwrap();
        assert!(matches!(stored.get(automerge::ROOT, "photos").unwrap(), Some((automerge::Value::Object(automerge::ObjType::Map), _))));
        // The device receives the server's change, and takes photos now.
        assert!(anna.sync().await.rejected.is_empty());
        let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        photo.extend([7u8; 5_000]);
        let hash = anna.replica.attach(visit, "photos", photo, Some("after the upgrade")).await.unwrap();
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{report:?}");
        assert_eq!(report.uploaded_files, 1);
        let (status, shown) = server
            .api(&anna, reqwest::Method::GET, &format!("/v1/records/{visit}"), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(shown["fields"]["photos"][0]["hash"], hash.as_str(), "{shown}");
    }
}

storage_test! {
    async fn a_visit_made_by_an_app_from_before_photos_is_given_the_items(db: TestDb) {
        use automerge::transaction::Transactable;
        use sync_core::protocol::{DocPush, PushRequest, PushStatus};
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let shop = anna.replica.create("customer", &customer("Corner Shop", "North")).await.unwrap();
        anna.sync().await;
        // An app that does not know photos yet makes a visit: no `photos` items in its first change.
        let mut doc = automerge::AutoCommit::new().with_actor(anna.replica.actor().unwrap());
        doc.put_object(automerge::ROOT, "notes", automerge::ObjType::Text).unwrap();
        doc.put(automerge::ROOT, "deleted", false).unwrap();
        doc.put(automerge::ROOT, "customer_id", shop.to_string()).unwrap();
        doc.put(automerge::ROOT, "status", "completed").unwrap();
        doc.commit();
        let visit = Uuid::now_v7();
        let changes = doc.get_changes(&[]).iter().map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec())).collect();
        let reply = anna
            .client
            .push(&PushRequest { docs: vec![DocPush { id: visit, kind: "visit".into(), base_heads: vec![], changes, group: None }], checkpoint: 0 })
            .await
            .unwrap();
        assert_eq!(reply.results[0].status, PushStatus::Applied);
        // The rules after the push gave it the items; the device receives them and takes a photo.
        let stored = docstore::load(&server.state.db.conn, server.state.db.vault(), visit).await.unwrap().unwrap();
        assert!(matches!(stored.get(automerge::ROOT, "photos").unwrap(), Some((automerge::Value::Object(automerge::ObjType::Map), _))));
        anna.sync().await;
        let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        photo.extend([9u8; 3_000]);
        anna.replica.attach(visit, "photos", photo, None).await.unwrap();
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{report:?}");
        assert_eq!(report.uploaded_files, 1);
    }
}

storage_test! {
    async fn tasks_stored_before_they_were_kept_to_their_assignee_leave_the_teams_devices(db: TestDb) {
        use sync_core::kinds::TASK;
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let fields = [
            ("territory", "North".into()),
            ("title", "Count the shelf".into()),
            ("status", "open".into()),
            ("assignee_id", sync_core::Value::Str(anna_id.to_string())),
        ];
        let doc = record::create(&TASK, automerge::ActorId::random(), &fields).expect("a valid task");
        let projection = record::project(&doc, &TASK).expect("projects");
        let task = store_as_before(&server, &TASK, &doc, projection, None).await;
        // As before, the whole territory holds it.
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        anna.sync().await;
        ben.sync().await;
        assert!(ben.replica.get(task).await.is_ok());
        let conn = &server.state.db.conn;
        conn.execute_unprepared("INSERT INTO upgrade_tasks (name) VALUES ('user_scope')").await.unwrap();
        let url = server.url.clone();
        server.stop().await;

        let server = TestServer::restart_at(&db, &url).await;
        assert_eq!(server.count("upgrade_tasks").await, 0, "the task is done once");
        let report = ben.sync().await;
        assert_eq!(report.evicted, vec![task], "the colleague's device lets it go");
        assert!(ben.replica.get(task).await.is_err());
        let report = anna.sync().await;
        assert!(report.evicted.is_empty());
        assert!(anna.replica.get(task).await.is_ok());
        let (status, page) = server.api(&ben, reqwest::Method::GET, "/v1/records?kind=task", None).await;
        assert_eq!(status, 200);
        assert_eq!(page["records"].as_array().unwrap().len(), 0, "{page}");
    }
}

storage_test! {
    async fn products_stored_with_their_cost_have_it_moved_into_a_record_managers_alone_read(db: TestDb) {
        use automerge::transaction::Transactable;
        use sync_core::kinds::PRODUCT;
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        // A product as the version before stored it: its cost a field of its own.
        let fields = [("sku", "BEANS".into()), ("name", "Beans".into()), ("active", Value::Bool(true))];
        let mut doc = record::create(&PRODUCT, automerge::ActorId::random(), &fields).expect("a valid product");
        doc.put(automerge::ROOT, "unit_cost", 1_250_i64).unwrap();
        doc.commit();
        let projection = record::project(&doc, &PRODUCT).expect("projects");
        let beans = store_as_before(&server, &PRODUCT, &doc, projection, None).await;
        let conn = &server.state.db.conn;
        conn.execute_unprepared("INSERT INTO upgrade_tasks (name) VALUES ('product_costs')").await.unwrap();
        let url = server.url.clone();
        server.stop().await;

        let server = TestServer::restart_at(&db, &url).await;
        assert_eq!(server.count("upgrade_tasks").await, 0, "the task is done once");
        let stored = docstore::load(&server.state.db.conn, server.state.db.vault(), beans).await.unwrap().unwrap();
        assert!(stored.get(automerge::ROOT, "unit_cost").unwrap().is_none(), "no longer in the product");
        let maria = server.device("maria@x.test").await;
        let (status, page) = server.api(&maria, reqwest::Method::GET, "/v1/records?kind=product_cost", None).await;
        assert_eq!(status, 200);
        let costs = page["records"].as_array().unwrap();
        assert_eq!(costs.len(), 1, "{page}");
        assert_eq!(costs[0]["fields"]["product_id"], beans.to_string());
        assert_eq!(costs[0]["fields"]["unit_cost"], 1_250);
        let anna = server.device("anna@x.test").await;
        let (_, page) = server.api(&anna, reqwest::Method::GET, "/v1/records?kind=product_cost", None).await;
        assert_eq!(page["records"].as_array().unwrap().len(), 0);
    }
}
