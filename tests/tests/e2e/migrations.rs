//! Migrations that move data: a database written by an earlier version keeps what it held, and a
//! migration undone gives it back as it was.

use fieldsync_e2e::{storage_test, TestDb};
use fieldsync_migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, QueryResult};
use sync_core::record::Listing;
use uuid::Uuid;

/// The migrations before the listing's columns.
const BEFORE_LISTING_COLUMNS: u32 = 5;

/// The migrations before customer numbers were held in a table of their own.
const BEFORE_CUSTOMER_CODES: u32 = 26;

/// Documents as the earlier version wrote them: a listing as one JSON object, or none.
async fn insert_documents(db: &DatabaseConnection, listings: &[Option<Listing>]) -> Vec<Uuid> {
    let mut stmt = Query::insert()
        .into_table(Alias::new("documents"))
        .columns(
            [
                "id",
                "kind",
                "owner_id",
                "heads",
                "seq",
                "chunk_count",
                "chunk_bytes",
                "listing",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .to_owned();
    let mut ids = Vec::new();
    for (i, listing) in listings.iter().enumerate() {
        let id = Uuid::new_v4();
        ids.push(id);
        let json = listing
            .as_ref()
            .map(|l| serde_json::to_string(l).expect("listing serializes"));
        stmt.values_panic([
            id.into(),
            "customer".into(),
            Uuid::new_v4().into(),
            vec![0u8; 32].into(),
            (i as i64 + 1).into(),
            1i32.into(),
            10i64.into(),
            json.into(),
            0i64.into(),
            0i64.into(),
        ]);
    }
    db.execute(db.get_database_backend().build(&stmt))
        .await
        .expect("insert documents");
    ids
}

/// The rows of `ids` (in the order of `ids`) with these columns of `documents`.
async fn rows(db: &DatabaseConnection, ids: &[Uuid], columns: &[&str]) -> Vec<QueryResult> {
    let stmt = Query::select()
        .columns(columns.iter().map(|c| Alias::new(*c)))
        .from(Alias::new("documents"))
        .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().copied()))
        .order_by(Alias::new("seq"), Order::Asc)
        .to_owned();
    db.query_all(db.get_database_backend().build(&stmt))
        .await
        .expect("read documents")
}

/// The documents' listings as the current version reads them, in the order of `ids`.
async fn listings(db: &DatabaseConnection, ids: &[Uuid]) -> Vec<Option<Listing>> {
    let columns = ["listing_fields", "listing_conflicts", "listing_deleted"];
    rows(db, ids, &columns)
        .await
        .iter()
        .map(|r| {
            let fields: Option<String> = r.try_get("", columns[0]).expect("fields");
            let conflicts: Option<String> = r.try_get("", columns[1]).expect("conflicts");
            let deleted: Option<bool> = r.try_get("", columns[2]).expect("deleted");
            Some(Listing {
                fields: fields?,
                conflicts: conflicts?,
                deleted: deleted?,
            })
        })
        .collect()
}

/// The documents' listings as the earlier version stored them (one JSON object), in the order of `ids`.
async fn json_listings(db: &DatabaseConnection, ids: &[Uuid]) -> Vec<Option<Listing>> {
    rows(db, ids, &["listing"])
        .await
        .iter()
        .map(|r| {
            let json: Option<String> = r.try_get("", "listing").expect("listing");
            json.map(|j| serde_json::from_str(&j).expect("a listing's JSON"))
        })
        .collect()
}

storage_test! {
    async fn listings_written_as_one_json_object_move_to_their_columns_and_back(db: TestDb) {
        let conn = Database::connect(&db.url).await.expect("connect");
        Migrator::up(&conn, Some(BEFORE_LISTING_COLUMNS))
            .await
            .expect("the earlier migrations");
        // Escapes, quotes, non-ASCII text and a conflict: what the JSON object held as escaped
        // strings must come out of the columns unchanged.
        let before = vec![
            Some(Listing {
                fields: r#"{"name":"Café \"Zur Post\"","notes":"line one\nline two","credit_limit":1500.5,"territory":"north"}"#.into(),
                conflicts: r#"[{"field":"name","values":["Café","Cafe"]}]"#.into(),
                deleted: false,
            }),
            Some(Listing {
                fields: r#"{"name":"Gone","territory":"south"}"#.into(),
                conflicts: "[]".into(),
                deleted: true,
            }),
            None,
        ];
        let ids = insert_documents(&conn, &before).await;

        Migrator::up(&conn, Some(1)).await.expect("the listing's columns");
        assert_eq!(listings(&conn, &ids).await, before);

        Migrator::down(&conn, Some(1)).await.expect("undo the listing's columns");
        assert_eq!(json_listings(&conn, &ids).await, before);
    }
}

storage_test! {
    async fn customer_numbers_are_held_by_their_oldest_live_customer(db: TestDb) {
        let conn = Database::connect(&db.url).await.expect("connect");
        Migrator::up(&conn, Some(BEFORE_CUSTOMER_CODES)).await.expect("the earlier migrations");
        // Two live customers with one number (taken at once, before numbers were held), a deleted
        // one with another, and one without a number.
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let rows = [(ids[0], Some("A"), false), (ids[1], Some("A"), false), (ids[2], Some("B"), true), (ids[3], None, false)];
        for (id, code, deleted) in rows {
            let insert = Query::insert()
                .into_table(Alias::new("customers"))
                .columns(["id", "name", "territory", "code", "deleted", "updated_at"].map(Alias::new))
                .values_panic([id.into(), "Shop".into(), "North".into(), code.map(str::to_string).into(), deleted.into(), 0i64.into()])
                .to_owned();
            conn.execute(conn.get_database_backend().build(&insert)).await.expect("insert");
        }
        Migrator::up(&conn, Some(1)).await.expect("the customer numbers");
        let select = Query::select()
            .columns(["code", "customer_id"].map(Alias::new))
            .from(Alias::new("customer_codes"))
            .order_by(Alias::new("code"), Order::Asc)
            .to_owned();
        let held: Vec<(String, Uuid)> = conn
            .query_all(conn.get_database_backend().build(&select))
            .await
            .expect("select")
            .iter()
            .map(|r| (r.try_get("", "code").unwrap(), r.try_get("", "customer_id").unwrap()))
            .collect();
        assert_eq!(held, [("A".to_string(), ids[0])]);
        Migrator::down(&conn, Some(1)).await.expect("undo the customer numbers");
    }
}
