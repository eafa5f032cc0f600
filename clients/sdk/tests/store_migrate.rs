//! The device store's schema steps: a store that an earlier version of the app left is brought up to
//! date when it is opened, with its records.

use automerge::ActorId;
use fieldsync_sdk::store::{self, Kind, StoredRecord};
use sync_core::{kinds, record, Value};
use uuid::Uuid;

#[tokio::test]
async fn a_store_of_an_earlier_version_is_upgraded_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.sqlite");
    let kind = kinds::get("customer").unwrap();
    let actor = ActorId::from(Uuid::now_v7().as_bytes().as_slice());
    let fields = [
        ("name", Value::from("Kept")),
        ("territory", Value::from("North")),
    ];
    let doc = record::create(kind, actor.clone(), &fields).unwrap();
    let id = Uuid::now_v7();
    let pool = store::open(&path).await.unwrap();
    let mut stored = StoredRecord::new(id, Kind::Known(kind), doc.clone());
    store::save(&mut pool.acquire().await.unwrap(), &mut stored)
        .await
        .unwrap();
    // The store as the app before version 3 (which counts appends) left it.
    sqlx::query("ALTER TABLE records DROP COLUMN appended")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("PRAGMA user_version = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let pool = store::open(&path).await.unwrap();
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 3);
    let appended: i64 = sqlx::query_scalar("SELECT appended FROM records WHERE id = ?")
        .bind(id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(appended, 0);
    let mut conn = pool.acquire().await.unwrap();
    let mut loaded = store::load(&mut conn, id, &actor).await.unwrap().unwrap();
    assert_eq!(loaded.doc.get_heads(), doc.clone().get_heads());
    // Opening it again takes no step twice.
    drop(conn);
    pool.close().await;
    store::open(&path).await.unwrap();
}
