//! A database an older server wrote: records with concurrent values were projected with the value
//! automerge lists first, not the one it shows. The first start of this version projects them again,
//! and a record whose territory changes as a result moves in the feed, with its contacts.

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
    let doc = docstore::load(&server.state.db.conn, id)
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
    let doc = docstore::load(conn, id).await.unwrap().unwrap();
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
