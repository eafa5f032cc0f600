//! `store::acknowledge`: a pushed record the server acknowledged is marked as holding nothing the
//! server lacks without loading it, but only while its stored document is the one the push was built
//! from; a record changed since keeps its pending changes for the caller to load.

use automerge::{ActorId, ChangeHash};
use fieldsync_sdk::store::{self, Acknowledged, Kind, StoredRecord};
use sqlx::SqliteConnection;
use sync_core::record;
use sync_core::{kinds, Value};
use uuid::Uuid;

/// A new customer, saved with its creation and an edit pending; returns its id.
async fn pending_customer(conn: &mut SqliteConnection, actor: &ActorId, name: &str) -> Uuid {
    let kind = kinds::get("customer").unwrap();
    let fields = [
        ("name", Value::Str(name.into())),
        ("territory", Value::Str(Uuid::now_v7().to_string())),
    ];
    let mut doc = record::create(kind, actor.clone(), &fields).unwrap();
    record::update(&mut doc, kind, &[("city", Value::Str("Leeds".into()))]).unwrap();
    let id = Uuid::now_v7();
    store::save(conn, &mut StoredRecord::new(id, Kind::Known(kind), doc))
        .await
        .unwrap();
    id
}

async fn pending_count(conn: &mut SqliteConnection, id: Uuid) -> (i64, usize) {
    let column: i64 = sqlx::query_scalar("SELECT pending FROM records WHERE id = ?")
        .bind(id.to_string())
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let actor = ActorId::random();
    let mut loaded = store::load(conn, id, &actor).await.unwrap().unwrap();
    (column, loaded.pending().len())
}

#[tokio::test]
async fn only_records_unchanged_since_their_push_are_marked() {
    let pool = store::in_memory().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let actor = ActorId::from(Uuid::now_v7().as_bytes().as_slice());
    let unchanged = pending_customer(&mut conn, &actor, "Unchanged Ltd").await;
    let edited = pending_customer(&mut conn, &actor, "Edited Ltd").await;

    // The push is built from each record as stored.
    let mut pushed: Vec<(Uuid, Vec<u8>, Vec<ChangeHash>)> = Vec::new();
    for id in [unchanged, edited] {
        let (mut rec, stored) = store::load_stored(&mut conn, id, &actor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.pending().len(), 2);
        pushed.push((id, stored, rec.doc.get_heads()));
    }
    // While the push is on its way, one record is edited again on the device.
    let kind = kinds::get("customer").unwrap();
    let mut rec = store::load(&mut conn, edited, &actor)
        .await
        .unwrap()
        .unwrap();
    record::update(&mut rec.doc, kind, &[("city", Value::Str("York".into()))]).unwrap();
    store::save(&mut conn, &mut rec).await.unwrap();

    let acknowledged: Vec<Acknowledged> = pushed
        .iter()
        .map(|(id, stored, heads)| Acknowledged {
            id: *id,
            stored,
            heads,
        })
        .collect();
    let marked = store::acknowledge(&mut conn, &acknowledged).await.unwrap();
    assert_eq!(marked.into_iter().collect::<Vec<_>>(), vec![unchanged]);

    // The unchanged record holds nothing the server lacks, by its column and by its document, and
    // is settled at the pushed heads.
    assert_eq!(pending_count(&mut conn, unchanged).await, (0, 0));
    let held = store::held(&mut conn, &[unchanged]).await.unwrap();
    let mut heads: Vec<_> = pushed[0]
        .2
        .iter()
        .map(|h| sync_core::protocol::Hash::from(*h))
        .collect();
    heads.sort_unstable();
    assert_eq!(held[&unchanged].base_heads, heads);
    // The edited one still has all three changes to push: none may be lost.
    assert_eq!(pending_count(&mut conn, edited).await, (3, 3));
    let stored = store::load(&mut conn, edited, &actor)
        .await
        .unwrap()
        .unwrap();
    let city = automerge::ReadDoc::get(&stored.doc, automerge::ROOT, "city")
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(city.as_str(), Some("York"));
}
