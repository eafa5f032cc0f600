//! The scope model (ARCHITECTURE.md, "Scopes"): company-wide records reach every user and only
//! managers and admins write them; a record moves with everything scoped through it, at any depth;
//! and every kind's projection table has exactly its schema's columns plus the system columns.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use fieldsync_server::db::entities::document;
use fieldsync_server::sync::{projection, write};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, Statement};
use serde_bytes::ByteBuf;
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::{kinds, Role, Value};
use uuid::Uuid;

fn product(sku: &str, name: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("sku", sku.into()),
        ("name", name.into()),
        ("active", Value::Bool(true)),
    ]
}

/// Pushes `device`'s own edit of `id` (made on its copy, so with its own actor) past the SDK's local
/// checks, as a hostile or outdated app could, and returns the server's refusal code.
async fn push_edit(device: &Device, id: Uuid, field: &str, value: &str) -> Option<String> {
    let mut doc = device.replica.doc(id).await.unwrap();
    let heads = device.replica.heads(id).await;
    let mut copy = doc.fork().with_actor(device.replica.actor().unwrap());
    copy.put(automerge::ROOT, field, value).unwrap();
    copy.commit();
    let change = copy.get_last_local_change().unwrap().raw_bytes().to_vec();
    let push = PushRequest {
        docs: vec![DocPush {
            id,
            kind: "product".into(),
            base_heads: heads,
            changes: vec![ByteBuf::from(change)],
            group: None,
        }],
        checkpoint: 0,
    };
    let result = device.client.push(&push).await.unwrap().results.remove(0);
    assert_eq!(result.status, PushStatus::Rejected, "{result:?}");
    result.reason.map(|r| r.code)
}

storage_test! {
    async fn company_wide_records_reach_every_user_and_only_managers_write_them(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let carla_id = server.user("carla@x.test", Role::Agent, &["South"]).await;
        let mut maria = server.device("maria@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;

        let id = maria.replica.create("product", &product("SKU-1", "Espresso beans 1 kg")).await.unwrap();
        let report = maria.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert_eq!(server.projected("products", id, &["sku", "name"]).await, vec![Some("SKU-1".into()), Some("Espresso beans 1 kg".into())]);
        // Agents of any territory receive it, on their first sync and on later ones.
        anna.sync().await;
        carla.sync().await;
        for agent in [&anna, &carla] {
            assert_eq!(agent.replica.get(id).await.unwrap().get("sku"), &Value::from("SKU-1"));
        }
        maria.replica.update(id, &[("name", "Espresso beans 1 kg, dark".into())]).await.unwrap();
        maria.sync().await;
        carla.sync().await;
        assert_eq!(carla.replica.get(id).await.unwrap().get("name"), &Value::from("Espresso beans 1 kg, dark"));

        // An agent writes none of it: not a field of the schema, not a field it does not know, and
        // not a new product; refused, never quarantined.
        assert_eq!(push_edit(&carla, id, "name", "Cheap beans").await.as_deref(), Some("field_not_writable"));
        assert_eq!(push_edit(&carla, id, "promo", "half price").await.as_deref(), Some("read_only"));
        let mut doc = sync_core::record::create(&kinds::PRODUCT, carla.replica.actor().unwrap(), &product("SKU-X", "Forged")).unwrap();
        let push = PushRequest {
            docs: vec![DocPush { id: Uuid::now_v7(), kind: "product".into(), base_heads: vec![], changes: doc.get_changes(&[]).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(), group: None }],
            checkpoint: 0,
        };
        let result = carla.client.push(&push).await.unwrap().results.remove(0);
        assert_eq!(result.status, PushStatus::Rejected);
        assert_eq!(server.count("products").await, 1);
        assert_eq!(server.count("quarantine").await, 0);
        assert_eq!(server.projected("products", id, &["name"]).await, vec![Some("Espresso beans 1 kg, dark".into())]);

        // Losing a territory evicts its records (but those one created), not the company's.
        server.user("sam@x.test", Role::Agent, &["South"]).await;
        let mut sam = server.device("sam@x.test").await;
        let south = sam.replica.create("customer", &customer("Kiosk", "South")).await.unwrap();
        sam.sync().await;
        carla.sync().await;
        fieldsync_server::auth::users::revoke_territory(&server.state.db, carla_id, "South").await.unwrap();
        let report = carla.sync().await;
        assert_eq!(report.evicted, vec![south]);
        assert!(carla.replica.get(id).await.is_ok());
        // A device's first sync brings the product as the server holds it.
        let mut fresh = server.device("anna@x.test").await;
        fresh.sync().await;
        assert_eq!(fresh.replica.heads(id).await, server.heads(id).await);
    }
}

/// Inserts a bare `documents` row, as a push would leave it, for a storage-level test.
async fn insert_row(
    server: &TestServer,
    kind: &str,
    territory: Uuid,
    parent: Option<Uuid>,
) -> Uuid {
    let id = Uuid::now_v7();
    document::ActiveModel {
        id: Set(id),
        kind: Set(kind.into()),
        territory_id: Set(Some(territory)),
        user_id: Set(None),
        owner_id: Set(Uuid::now_v7()),
        parent_id: Set(parent),
        heads: Set(vec![]),
        seq: Set(0),
        chunk_count: Set(0),
        chunk_bytes: Set(0),
        listing_fields: Set(None),
        listing_conflicts: Set(None),
        listing_deleted: Set(None),
        created_at: Set(0),
        updated_at: Set(0),
        erased_at: Set(None),
    }
    .insert(&server.state.db.conn)
    .await
    .unwrap();
    id
}

storage_test! {
    async fn a_move_takes_everything_scoped_through_the_record_at_any_depth(db: TestDb) {
        let server = TestServer::start(&db).await;
        let conn = &server.state.db.conn;
        let north = fieldsync_server::auth::users::ensure_territory(conn, "North").await.unwrap();
        let south = fieldsync_server::auth::users::ensure_territory(conn, "South").await.unwrap();
        // customer <- contact <- a record of the contact <- one of that record: three levels below.
        let top = insert_row(&server, "customer", north, None).await;
        let child = insert_row(&server, "contact", north, Some(top)).await;
        let grandchild = insert_row(&server, "note", north, Some(child)).await;
        let great = insert_row(&server, "note", north, Some(grandchild)).await;
        let other = insert_row(&server, "contact", north, None).await;

        let txn = server.state.db.begin_write().await.unwrap();
        let seq = txn.allocate_seq(1).await.unwrap();
        let place = |territory| write::Place { territory_id: Some(territory), user_id: None };
        write::record_move(&*txn, top, place(north), place(south), seq).await.unwrap();
        txn.commit().await.unwrap();

        for (id, expected) in [(child, south), (grandchild, south), (great, south), (other, north)] {
            let row = document::Entity::find_by_id(id).one(conn).await.unwrap().unwrap();
            assert_eq!(row.territory_id, Some(expected), "{}", row.kind);
        }
        let rows = conn
            .query_all(Statement::from_string(conn.get_database_backend(), "SELECT doc_id FROM scope_moves".to_string()))
            .await
            .unwrap();
        let moved: BTreeSet<Uuid> = rows.iter().map(|r| r.try_get("", "doc_id").unwrap()).collect();
        assert_eq!(moved, BTreeSet::from([top, child, grandchild, great]));
    }
}

storage_test! {
    async fn every_kinds_table_has_exactly_its_schemas_columns(db: TestDb) {
        let server = TestServer::start(&db).await;
        let conn = &server.state.db.conn;
        let columns = |table: &str| {
            let sql = if db.is_postgres() {
                format!("SELECT column_name AS name FROM information_schema.columns WHERE table_name = '{table}'")
            } else {
                format!("SELECT name FROM pragma_table_info('{table}')")
            };
            async move {
                let rows = conn.query_all(Statement::from_string(conn.get_database_backend(), sql)).await.unwrap();
                rows.iter().map(|r| r.try_get("", "name").unwrap()).collect::<BTreeSet<String>>()
            }
        };
        for kind in kinds::ALL {
            let table = columns(kind.table).await;
            let expected: BTreeSet<String> = projection::column_fields(kind)
                .map(|f| f.name)
                .chain(projection::SYSTEM_COLUMNS.iter().copied())
                .map(str::to_string)
                .collect();
            assert_eq!(table, expected, "table {} of kind {}", kind.table, kind.name);
            for (_, items) in projection::items_fields(kind) {
                let table = columns(items.table).await;
                let mut expected: BTreeSet<String> = items
                    .fields
                    .iter()
                    .map(|f| f.name)
                    .chain(projection::ITEM_COLUMNS)
                    .chain([items.record_column])
                    .map(str::to_string)
                    .collect();
                if kind.name == kinds::ORDER.name {
                    expected.extend(projection::ORDER_LINE_AMOUNTS.map(str::to_string));
                }
                assert_eq!(table, expected, "child table {} of kind {}", items.table, kind.name);
            }
        }
    }
}

/// The ids of the records of `kind` that `who` lists, sorted.
async fn listed(server: &TestServer, who: &Device, kind: &str) -> Vec<String> {
    let path = format!("/v1/records?kind={kind}");
    let (status, page) = server.api(who, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{page}");
    let mut ids: Vec<String> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

storage_test! {
    async fn a_task_kept_to_its_assignee_is_hers_and_her_managers_and_moves_with_its_assignment(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let ben_id = server.user("ben@x.test", Role::Agent, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let task = |title: &str, assignee: Option<Uuid>| {
            let mut fields = serde_json::json!({"territory": "North", "title": title, "status": "open"});
            if let Some(user) = assignee {
                fields["assignee_id"] = user.to_string().into();
            }
            fields
        };
        let annas = server.created(&maria, "task", task("Count the shelf", Some(anna_id))).await;
        let teams = server.created(&maria, "task", task("Tidy the van", None)).await;
        let target = server.created(&maria, "sales_target", serde_json::json!({
            "territory": "North", "agent_id": anna_id.to_string(), "period_start": 0,
            "period_end": 1_000, "metric": "visits", "value": 40,
        })).await;
        anna.sync().await;
        ben.sync().await;
        assert!(anna.replica.get(annas).await.is_ok());
        assert!(anna.replica.get(target).await.is_ok());
        assert!(ben.replica.get(teams).await.is_ok(), "a task of no one is the team's");
        assert!(ben.replica.get(annas).await.is_err(), "a colleague's task is not his");
        assert!(ben.replica.get(target).await.is_err(), "nor her target");
        let mut both = vec![annas.to_string(), teams.to_string()];
        both.sort();
        assert_eq!(listed(&server, &maria, "task").await, both, "the manager sees all of the territory's");
        assert_eq!(listed(&server, &ben, "task").await, [teams.to_string()]);
        assert!(listed(&server, &ben, "sales_target").await.is_empty());
        let (status, _) = server.api(&ben, reqwest::Method::PATCH, &format!("/v1/records/{annas}"),
            Some(serde_json::json!({"fields": {"status": "done"}}))).await;
        assert_eq!(status, 404, "nor may he write it");

        // Assigned to Ben, the task leaves Anna's device and reaches his, whole.
        let (status, body) = server.api(&maria, reqwest::Method::PATCH, &format!("/v1/records/{annas}"),
            Some(serde_json::json!({"fields": {"assignee_id": ben_id.to_string()}}))).await;
        assert_eq!(status, 200, "{body}");
        let report = anna.sync().await;
        assert_eq!(report.evicted, vec![annas]);
        ben.sync().await;
        assert_eq!(ben.replica.get(annas).await.unwrap().get("title"), &Value::from("Count the shelf"));

        // Anna takes the team's task for herself, on her device: it leaves Ben's.
        anna.replica.update(teams, &[("assignee_id", Value::Str(anna_id.to_string()))]).await.unwrap();
        assert!(anna.sync().await.rejected.is_empty());
        let report = ben.sync().await;
        assert_eq!(report.evicted, vec![teams]);
        assert!(anna.replica.get(teams).await.is_ok());
        // The server's view of each device's scope is what the device holds.
        for device in [&anna, &ben] {
            let verify = device.replica.verify(&device.client).await.unwrap();
            assert!(verify.in_sync && verify.unknown.is_empty(), "{verify:?}");
        }
    }
}

storage_test! {
    async fn what_a_product_costs_is_the_managers_alone(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut maria = server.device("maria@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let beans = maria.replica.create("product", &product("BEANS", "Beans")).await.unwrap();
        let cost_of = |cost: i64| vec![("product_id", Value::Str(beans.to_string())), ("unit_cost", Value::Int(cost))];
        let cost = maria.replica.create("product_cost", &cost_of(1_200)).await.unwrap();
        assert!(maria.sync().await.rejected.is_empty());
        anna.sync().await;
        assert!(anna.replica.get(beans).await.is_ok(), "the catalogue reaches every device");
        assert!(anna.replica.get(cost).await.is_err(), "what it costs does not reach an agent's");
        assert!(listed(&server, &anna, "product_cost").await.is_empty());
        assert_eq!(listed(&server, &maria, "product_cost").await, [cost.to_string()]);
        let (status, _) = server.api(&anna, reqwest::Method::GET, &format!("/v1/records/{cost}"), None).await;
        assert_eq!(status, 404);
        // Nor may an agent write one, on the device or over the API.
        assert!(anna.replica.create("product_cost", &cost_of(1)).await.is_err());
        let (status, body) = server.api(&anna, reqwest::Method::POST, "/v1/records",
            Some(serde_json::json!({"kind": "product_cost", "fields": {"product_id": beans, "unit_cost": 1}}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("field_not_writable")));
        let verify = anna.replica.verify(&anna.client).await.unwrap();
        assert!(verify.in_sync && verify.unknown.is_empty(), "{verify:?}");
        // A manager's app from before the cost had its own record may not write it into the
        // product, where every device would receive it.
        assert_eq!(push_edit(&maria, beans, "unit_cost", "1300").await.as_deref(), Some("field_not_writable"));
        // A manager's new device receives it with the catalogue.
        let mut tablet = server.device("maria@x.test").await;
        tablet.sync().await;
        assert_eq!(tablet.replica.get(cost).await.unwrap().get("unit_cost"), &Value::Int(1_200));
    }
}
