//! `store::append`: one statement per page joins arrived chunks to held records' documents, byte for
//! byte, and refuses a page naming a record the device does not hold.

use automerge::{ActorId, ReadDoc};
use fieldsync_sdk::store::{self, Arrived, Kind, StoredRecord};
use sync_core::protocol::Hash;
use sync_core::record::{self, Listing};
use sync_core::{kinds, Value};
use uuid::Uuid;

/// A customer created and stored on the device; returns its id and a copy of its document to edit
/// "elsewhere".
async fn held(
    conn: &mut sqlx::SqliteConnection,
    actor: &ActorId,
    name: &str,
) -> (Uuid, automerge::AutoCommit) {
    let kind = kinds::get("customer").unwrap();
    let territory = Value::Str(Uuid::now_v7().to_string());
    let fields = [("name", Value::from(name)), ("territory", territory)];
    let doc = record::create(kind, actor.clone(), &fields).unwrap();
    let id = Uuid::now_v7();
    let mut stored = StoredRecord::new(id, Kind::Known(kind), doc.clone());
    store::save(conn, &mut stored).await.unwrap();
    (id, doc)
}

#[tokio::test]
async fn appended_chunks_extend_each_held_document_exactly() {
    let kind = kinds::get("customer").unwrap();
    let pool = store::in_memory().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let actor = ActorId::from(Uuid::now_v7().as_bytes().as_slice());
    // Three held records, each then edited elsewhere: the edit arrives as a chunk to append.
    let mut arrived = Vec::new();
    for i in 0..3 {
        let (id, mut doc) = held(&mut conn, &actor, &format!("Customer {i}")).await;
        let before = doc.get_heads();
        let city = Value::Str(format!("City {i}"));
        record::update(&mut doc, kind, &[("city", city)]).unwrap();
        let chunk = doc.save_after(&before);
        let heads: Vec<Hash> = doc.get_heads().into_iter().map(Hash::from).collect();
        let listing = Listing::of(&record::project(&doc, kind).unwrap());
        arrived.push((id, chunk, heads, listing, doc));
    }
    let page: Vec<Arrived> = arrived
        .iter()
        .map(|(id, chunk, heads, listing, _)| Arrived {
            id: *id,
            kind: kind.name,
            doc: chunk.as_slice().into(),
            heads,
            listing,
        })
        .collect();
    store::append(&mut conn, &page).await.unwrap();
    for (id, _, heads, listing, edited) in &arrived {
        let mut stored = store::load(&mut conn, *id, &actor).await.unwrap().unwrap();
        let stored_heads: Vec<Hash> = stored.doc.get_heads().into_iter().map(Hash::from).collect();
        assert_eq!(&stored_heads, heads);
        let city = stored.doc.get(automerge::ROOT, "city").unwrap().unwrap().0;
        assert_eq!(
            city,
            edited.get(automerge::ROOT, "city").unwrap().unwrap().0
        );
        let fields: String = sqlx::query_scalar("SELECT fields FROM records WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(fields, listing.fields, "listed by the arrived listing");
    }
    // A page naming a record the device lacks breaks the caller's premise: an error, not a skip.
    let (_, chunk, heads, listing, _) = &arrived[0];
    let missing = Arrived {
        id: Uuid::now_v7(),
        kind: kind.name,
        doc: chunk.as_slice().into(),
        heads,
        listing,
    };
    assert!(store::append(&mut conn, &[missing]).await.is_err());
}

/// A record that others keep editing arrives again and again, as change chunks and, each time the
/// server compacts it, whole. Appended as they come, the stored document would hold every copy; every
/// `COMPACT_AFTER_APPENDS` appends it is written compacted, with every change still in it.
#[tokio::test]
async fn a_document_appended_to_often_is_stored_compacted() {
    let kind = kinds::get("customer").unwrap();
    let pool = store::in_memory().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let actor = ActorId::from(Uuid::now_v7().as_bytes().as_slice());
    let (id, mut doc) = held(&mut conn, &actor, "Busy").await;
    for round in 1..=3 * store::COMPACT_AFTER_APPENDS {
        let before = doc.get_heads();
        record::update(&mut doc, kind, &[("phone", Value::Str(format!("{round}")))]).unwrap();
        // Every fifth arrival is the whole document, as after the server compacted it.
        let chunk = match round % 5 {
            0 => doc.save(),
            _ => doc.save_after(&before),
        };
        let heads: Vec<Hash> = doc.get_heads().into_iter().map(Hash::from).collect();
        let listing = Listing::of(&record::project(&doc, kind).unwrap());
        let arrived = Arrived {
            id,
            kind: kind.name,
            doc: chunk.as_slice().into(),
            heads: &heads,
            listing: &listing,
        };
        store::append(&mut conn, &[arrived]).await.unwrap();

        let (bytes, appended): (Vec<u8>, i64) =
            sqlx::query_as("SELECT doc, appended FROM records WHERE id = ?")
                .bind(id.to_string())
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(appended, round % store::COMPACT_AFTER_APPENDS);
        let mut stored = automerge::AutoCommit::load(&bytes).unwrap();
        assert_eq!(stored.get_heads(), doc.get_heads());
        assert_eq!(stored.get_changes(&[]).len(), doc.get_changes(&[]).len());
        let compacted = stored.save();
        if appended == 0 {
            assert_eq!(bytes, compacted, "written compacted after round {round}");
        } else {
            assert!(
                bytes.len() > compacted.len(),
                "appended as it came in round {round}"
            );
        }
    }
}
