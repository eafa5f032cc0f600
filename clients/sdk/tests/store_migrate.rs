//! The device store's schema steps: a store that an earlier version of the app left is brought up to
//! date when it is opened, with its records.

use std::path::Path;

use automerge::{ActorId, AutoCommit, ReadDoc, ROOT};
use fieldsync_sdk::store::{self, Kind, StoredRecord};
use sync_core::{kinds, record, Value};
use uuid::Uuid;

/// A store holding `doc` as record `id`, then taken back to schema `version` by `statements` (what
/// the app of that version left), closed.
async fn store_as_of(path: &Path, id: Uuid, doc: AutoCommit, version: i64, statements: &[&str]) {
    let pool = store::open(path).await.unwrap();
    let kind = kinds::get("customer").unwrap();
    let mut stored = StoredRecord::new(id, Kind::Known(kind), doc);
    store::save(&mut pool.acquire().await.unwrap(), &mut stored)
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    // Every version these tests go back to came before captured files (version 5) and atomic
    // groups (version 6).
    sqlx::query("DROP TABLE captures")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE records DROP COLUMN group_id")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("PRAGMA user_version = {version}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

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
    // The store as the app before version 3 (which counts appends) left it.
    store_as_of(
        &path,
        id,
        doc.clone(),
        2,
        &["ALTER TABLE records DROP COLUMN appended"],
    )
    .await;

    let pool = store::open(&path).await.unwrap();
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 6);
    let appended: i64 = sqlx::query_scalar("SELECT appended FROM records WHERE id = ?")
        .bind(id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(appended, 0);
    let group: Option<String> = sqlx::query_scalar("SELECT group_id FROM records WHERE id = ?")
        .bind(id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(group, None, "in no atomic group");
    let mut conn = pool.acquire().await.unwrap();
    let mut loaded = store::load(&mut conn, id, &actor).await.unwrap().unwrap();
    assert_eq!(loaded.doc.get_heads(), doc.clone().get_heads());
    // Opening it again takes no step twice.
    drop(conn);
    pool.close().await;
    store::open(&path).await.unwrap();
}

/// Stores written before listed a conflicted field by the value automerge's `get_all` names first;
/// opening one lists it by the value the document shows (automerge's `get`).
#[tokio::test]
async fn an_older_store_lists_conflicted_fields_by_the_value_automerge_shows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.sqlite");
    let kind = kinds::get("customer").unwrap();
    let actor = |n: u8| ActorId::from([n; 16].as_slice());
    let fields = [
        ("name", Value::from("Cafe")),
        ("territory", Value::from("North")),
    ];
    let mut doc = record::create(kind, actor(1), &fields).unwrap();
    let mut other = doc.fork().with_actor(actor(2));
    record::update(&mut doc, kind, &[("phone", Value::from("111"))]).unwrap();
    record::update(&mut other, kind, &[("phone", Value::from("222"))]).unwrap();
    doc.merge(&mut other).unwrap();
    let shown = doc
        .get(ROOT, "phone")
        .unwrap()
        .unwrap()
        .0
        .into_string()
        .unwrap();
    let hidden = if shown == "111" { "222" } else { "111" };

    let id = Uuid::now_v7();
    // The listing as the earlier app wrote it: the losing value shown, and listed first.
    let old_listing = format!(
        r#"UPDATE records SET fields = '{{"name":"Cafe","phone":"{hidden}","territory":"North"}}',
           conflicts = '[{{"field":"phone","values":["{hidden}","{shown}"]}}]'"#
    );
    store_as_of(&path, id, doc, 3, &[&old_listing]).await;

    let pool = store::open(&path).await.unwrap();
    let (listed, conflicts): (String, String) =
        sqlx::query_as("SELECT fields, conflicts FROM records WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["phone"], shown.as_str());
    let conflicts: serde_json::Value = serde_json::from_str(&conflicts).unwrap();
    assert_eq!(conflicts[0]["values"][0], shown.as_str());
    assert_eq!(conflicts[0]["values"][1], hidden);
}
