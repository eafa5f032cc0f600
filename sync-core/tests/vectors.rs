//! The shared test vectors in `docs/vectors/`, which an implementation of the protocol in any
//! language runs to prove it speaks it byte for byte (docs/protocol.md, "Test vectors").
//!
//! Each test builds its vectors from this crate's code, checks the file on disk against them (so
//! the files cannot fall behind the code), and then checks the file's contents the way another
//! implementation would: decoding the stored bytes, loading the stored changes, computing the
//! digests and totals. After a deliberate change of the protocol, write the files again with
//! `FIELDSYNC_BLESS_VECTORS=1 cargo test -p sync-core --test vectors`.

use std::path::PathBuf;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ScalarValue, ROOT};
use serde_bytes::ByteBuf;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use sync_core::digest::{heads_digest, scope_digest};
use sync_core::kinds;
use sync_core::protocol::{
    self, DocHeads, DocPush, DocResult, DocUpdate, Hash, Limits, PullRequest, PullResponse,
    PushRequest, PushResponse, PushStatus, Reason, VerifyMode, VerifyRequest, VerifyResponse,
};
use sync_core::record::{self, Listing};
use sync_core::totals::{Line, Order};
use sync_core::validate::{self, Raw};
use uuid::Uuid;

/// The devices of the vectors. A device's automerge actor is its id's 16 bytes.
const DEVICE_A: Uuid = Uuid::from_u128(0x0193_8a1c_2f00_7000_8000_0000_0000_00a1);
const DEVICE_B: Uuid = Uuid::from_u128(0x0193_8a1c_2f00_7000_8000_0000_0000_00b2);
const CUSTOMER: Uuid = Uuid::from_u128(0x0193_8a1c_3000_7000_8000_0000_0000_0001);
const ORDER: Uuid = Uuid::from_u128(0x0193_8a1c_3000_7000_8000_0000_0000_0002);
const PRODUCT: Uuid = Uuid::from_u128(0x0193_8a1c_3000_7000_8000_0000_0000_0003);
const LINE: Uuid = Uuid::from_u128(0x0193_8a1c_3000_7000_8000_0000_0000_0004);
/// Two more products, for pricing.
const CUPS: Uuid = Uuid::from_u128(0x0193_8a1c_3000_7000_8000_0000_0000_0005);
const NAPKINS: Uuid = Uuid::from_u128(0x0193_8a1c_3000_7000_8000_0000_0000_0006);
/// An atomic group a device made (a lead's conversion).
const GROUP: Uuid = Uuid::from_u128(0x0193_8a1c_3000_7000_8000_0000_0000_0007);
/// 2025-12-01T09:00:00Z: automerge keeps a change's time in seconds; timestamp fields hold
/// milliseconds.
const TIME_SECS: i64 = 1_764_579_600;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/vectors")
        .join(name)
}

/// Checks that `docs/vectors/{name}` holds exactly `generated`, or writes it when blessing; returns
/// the file's contents, parsed.
fn stored(name: &str, generated: &Json) -> Json {
    let text = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if std::env::var_os("FIELDSYNC_BLESS_VECTORS").is_some() {
        std::fs::create_dir_all(path("")).unwrap();
        std::fs::write(path(name), &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(path(name)).unwrap_or_default();
    assert!(
        on_disk == text,
        "docs/vectors/{name} does not match the code; if the protocol changed on purpose, run \
         FIELDSYNC_BLESS_VECTORS=1 cargo test -p sync-core --test vectors"
    );
    serde_json::from_str(&on_disk).unwrap()
}

fn unhex(v: &Json) -> Vec<u8> {
    hex::decode(v.as_str().expect("a hex string")).expect("lowercase hex")
}

fn hash(text: &str) -> Hash {
    Hash(Sha256::digest(text.as_bytes()).into())
}

fn commit(doc: &mut AutoCommit) {
    doc.commit_with(CommitOptions::default().with_time(TIME_SECS));
}

/// A customer made as a client must make one: every text object and the tombstone in the first
/// change, with the device's actor.
fn new_customer() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(DEVICE_A.as_bytes().as_slice()));
    let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
    doc.splice_text(&notes, 0, 0, "Orders on Mondays").unwrap();
    doc.put(ROOT, "deleted", false).unwrap();
    doc.put(ROOT, "name", "Bäckerei Schmidt").unwrap();
    doc.put(ROOT, "territory", "North").unwrap();
    doc.put(ROOT, "lat", 52.52).unwrap();
    doc.put(ROOT, "lon", 13.405).unwrap();
    doc.put(ROOT, "status", "active").unwrap();
    commit(&mut doc);
    doc
}

/// An order with one line, its totals as `totals` computes them, and a timestamp field.
fn new_order() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(DEVICE_A.as_bytes().as_slice()));
    doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
    let lines = doc.put_object(ROOT, "lines", ObjType::Map).unwrap();
    doc.put(ROOT, "deleted", false).unwrap();
    doc.put(ROOT, "customer_id", CUSTOMER.to_string()).unwrap();
    doc.put(ROOT, "status", "submitted").unwrap();
    doc.put(ROOT, "currency", "EUR").unwrap();
    let line = doc
        .put_object(&lines, LINE.to_string(), ObjType::Map)
        .unwrap();
    doc.put(&line, "product_id", PRODUCT.to_string()).unwrap();
    doc.put(&line, "quantity", 1_500i64).unwrap();
    doc.put(&line, "unit_price", 399i64).unwrap();
    doc.put(&line, "tax_bp", 700i64).unwrap();
    doc.put(ROOT, "subtotal", 599i64).unwrap();
    doc.put(ROOT, "discount", 0i64).unwrap();
    doc.put(ROOT, "tax", 42i64).unwrap();
    doc.put(ROOT, "total", 641i64).unwrap();
    doc.put(
        ROOT,
        "ordered_at",
        ScalarValue::Timestamp(TIME_SECS * 1_000),
    )
    .unwrap();
    commit(&mut doc);
    doc
}

fn document_vector(name: &str, kind: &str, id: Uuid, doc: &mut AutoCommit, about: &str) -> Json {
    let schema = kinds::get(kind).unwrap();
    let listing = Listing::of(&record::project(doc, schema).unwrap());
    let changes: Vec<String> = doc
        .get_changes(&[])
        .iter()
        .map(|c| hex::encode(c.raw_bytes()))
        .collect();
    json!({
        "name": name,
        "about": about,
        "kind": kind,
        "id": id.to_string(),
        "changes": changes,
        "saved": hex::encode(doc.save()),
        "heads": protocol::heads_of(&doc.get_heads()).iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "listing": {
            "fields": serde_json::from_str::<Json>(&listing.fields).unwrap(),
            "conflicts": serde_json::from_str::<Json>(&listing.conflicts).unwrap(),
            "deleted": listing.deleted,
        },
    })
}

#[test]
fn documents() {
    let mut created = new_customer();
    let mut edited = created
        .fork()
        .with_actor(ActorId::from(DEVICE_A.as_bytes().as_slice()));
    let notes = match edited.get(ROOT, "notes").unwrap() {
        Some((_, id)) => id,
        None => unreachable!(),
    };
    edited.splice_text(&notes, 0, 6, "Delivers").unwrap();
    edited.put(ROOT, "phone", "+49 30 1234567").unwrap();
    commit(&mut edited);

    // Two devices set one field offline: both values stay, the winner first.
    let mut concurrent = created
        .fork()
        .with_actor(ActorId::from(DEVICE_A.as_bytes().as_slice()));
    concurrent.put(ROOT, "phone", "+49 30 1111111").unwrap();
    commit(&mut concurrent);
    let mut other = created
        .fork()
        .with_actor(ActorId::from(DEVICE_B.as_bytes().as_slice()));
    other.put(ROOT, "phone", "+49 30 2222222").unwrap();
    commit(&mut other);
    concurrent.merge(&mut other).unwrap();

    let generated = json!({
        "about": "Record documents as automerge changes (hex), the saved document a pull may send \
                  instead, the heads (sorted) and the listing the server projects from them. \
                  Loading `changes` in order, or `saved`, must give `heads` and, read through the \
                  kind's schema (GET /v1/schema), `listing`.",
        "documents": [
            document_vector("customer_created", "customer", CUSTOMER, &mut created,
                "A customer's first change: the notes text object and the tombstone made with \
                 the fields, by device A (actor = the device id's 16 bytes)."),
            document_vector("customer_edited", "customer", CUSTOMER, &mut edited,
                "A second change of device A: a splice in the notes, and a new field."),
            document_vector("customer_concurrent_phone", "customer", CUSTOMER, &mut concurrent,
                "Devices A and B set `phone` concurrently: the listing shows automerge's winner \
                 as the value and both values in `conflicts`, the winner first."),
            document_vector("order_with_a_line", "order", ORDER, &mut new_order(),
                "An order: its lines a map from each line's id to a map of its fields, made in \
                 the first change; money in minor units, quantities in thousandths, rates in \
                 basis points, `ordered_at` an automerge timestamp in milliseconds."),
        ],
    });

    for vector in stored("documents.json", &generated)["documents"]
        .as_array()
        .unwrap()
    {
        let name = vector["name"].as_str().unwrap();
        let heads: Vec<&str> = vector["heads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        let mut from_changes = AutoCommit::new();
        for change in vector["changes"].as_array().unwrap() {
            from_changes.load_incremental(&unhex(change)).unwrap();
        }
        let mut from_saved = AutoCommit::load(&unhex(&vector["saved"])).unwrap();
        for doc in [&mut from_changes, &mut from_saved] {
            let got: Vec<String> = protocol::heads_of(&doc.get_heads())
                .iter()
                .map(|h| h.to_string())
                .collect();
            assert_eq!(got, heads, "{name}");
            let kind = kinds::get(vector["kind"].as_str().unwrap()).unwrap();
            let listing = Listing::of(&record::project(doc, kind).unwrap());
            let fields: Json = serde_json::from_str(&listing.fields).unwrap();
            let conflicts: Json = serde_json::from_str(&listing.conflicts).unwrap();
            assert_eq!(fields, vector["listing"]["fields"], "{name}");
            assert_eq!(conflicts, vector["listing"]["conflicts"], "{name}");
        }
        // Every change carries its device's actor: the id's 16 bytes.
        for change in vector["changes"].as_array().unwrap() {
            let change = automerge::Change::from_bytes(unhex(change)).unwrap();
            let actor = change.actor_id().to_bytes().to_vec();
            assert!(
                actor == DEVICE_A.as_bytes() || actor == DEVICE_B.as_bytes(),
                "{name}"
            );
        }
    }
}

/// One message: its type, its JSON debugging form and its MessagePack bytes.
fn message<T: serde::Serialize>(name: &str, ty: &str, msg: &T) -> Json {
    json!({
        "name": name,
        "type": ty,
        "json": serde_json::to_value(msg).unwrap(),
        "msgpack": hex::encode(protocol::encode(msg)),
    })
}

fn messages_generated() -> Json {
    let mut customer = new_customer();
    let first = customer.get_changes(&[])[0].raw_bytes().to_vec();
    let base = customer.get_heads();
    customer.put(ROOT, "phone", "+49 30 1234567").unwrap();
    commit(&mut customer);
    let edit = customer.get_changes(&base)[0].raw_bytes().to_vec();
    let heads = protocol::heads_of(&customer.get_heads());
    let listing = Listing::of(&record::project(&customer, &kinds::CUSTOMER).unwrap());

    let push_new = PushRequest {
        docs: vec![DocPush {
            id: CUSTOMER,
            kind: "customer".into(),
            base_heads: vec![],
            changes: vec![ByteBuf::from(first.clone())],
            group: None,
        }],
        checkpoint: 0,
    };
    // Two records taken or refused together.
    let push_group = PushRequest {
        docs: [CUSTOMER, ORDER]
            .map(|id| DocPush {
                id,
                kind: "customer".into(),
                base_heads: vec![],
                changes: vec![ByteBuf::from(first.clone())],
                group: Some(GROUP),
            })
            .to_vec(),
        checkpoint: 7,
    };
    let push_edit = PushRequest {
        docs: vec![DocPush {
            id: CUSTOMER,
            kind: "customer".into(),
            base_heads: protocol::heads_of(&base),
            changes: vec![ByteBuf::from(edit)],
            group: None,
        }],
        checkpoint: 41,
    };
    let push_response = PushResponse {
        results: vec![
            DocResult {
                id: CUSTOMER,
                status: PushStatus::Applied,
                heads: heads.clone(),
                reason: None,
                missing: vec![],
            },
            DocResult {
                id: ORDER,
                status: PushStatus::Rejected,
                heads: vec![],
                reason: Some(Reason {
                    code: "wrong_currency".into(),
                    message: "amounts are in the company's currency, EUR, not USD".into(),
                    field: Some("currency".into()),
                }),
                missing: vec![],
            },
            DocResult {
                id: PRODUCT,
                status: PushStatus::MissingDependencies,
                heads: vec![],
                reason: None,
                missing: vec![hash("a change the server has not seen")],
            },
        ],
        seq: 42,
    };
    let cursor = ByteBuf::from(b"opaque: send back as it came".to_vec());
    let pull_first = PullRequest {
        cursor: None,
        limit: Some(500),
        checkpoint: 0,
    };
    let pull_next = PullRequest {
        cursor: Some(cursor.clone()),
        limit: None,
        checkpoint: 42,
    };
    let pull_response = PullResponse {
        docs: vec![DocUpdate {
            id: CUSTOMER,
            kind: "customer".into(),
            chunks: vec![ByteBuf::from(customer.save())],
            heads: heads.clone(),
            listing: Some(listing),
            tip_listing: None,
            rewritten: false,
        }],
        evict: vec![ORDER],
        cursor,
        more: false,
        seq: 42,
    };
    // A record whose history the server rewrote (a person in it erased): the device replaces it.
    let pull_rewritten = PullResponse {
        docs: vec![DocUpdate {
            rewritten: true,
            ..pull_response.docs[0].clone()
        }],
        evict: vec![],
        cursor: pull_response.cursor.clone(),
        more: false,
        seq: 43,
    };
    let verify_scope = VerifyRequest {
        mode: VerifyMode::Scope,
        scope_digest: Some(scope_digest([(CUSTOMER, heads.as_slice())])),
        docs: vec![],
    };
    let verify_docs = VerifyRequest {
        mode: VerifyMode::Docs,
        scope_digest: None,
        docs: vec![DocHeads {
            id: CUSTOMER,
            heads: heads.clone(),
        }],
    };
    let verify_response = VerifyResponse {
        in_sync: false,
        scope_digest: scope_digest([(CUSTOMER, heads.as_slice())]),
        differing: vec![DocHeads {
            id: CUSTOMER,
            heads: heads.clone(),
        }],
        unknown: vec![ORDER],
    };
    json!({
        "about": "Sync bodies: `msgpack` is the body on the wire (hex), MessagePack with named \
                  fields, UUIDs as bin 16, hashes as bin 32, changes, chunks and cursors as bin; \
                  `json` is the same message in the JSON debugging form. Decoding `msgpack` must \
                  give the message `json` describes, and encoding it must give `msgpack` again.",
        "messages": [
            message("push_new_customer", "PushRequest", &push_new),
            message("push_edit", "PushRequest", &push_edit),
            message("push_group", "PushRequest", &push_group),
            message("push_response", "PushResponse", &push_response),
            message("pull_first", "PullRequest", &pull_first),
            message("pull_next", "PullRequest", &pull_next),
            message("pull_response", "PullResponse", &pull_response),
            message("pull_rewritten", "PullResponse", &pull_rewritten),
            message("verify_scope", "VerifyRequest", &verify_scope),
            message("verify_docs", "VerifyRequest", &verify_docs),
            message("verify_response", "VerifyResponse", &verify_response),
        ],
    })
}

/// Decodes a stored message both ways and checks that they agree and encode back to the bytes.
fn round_trip<T>(vector: &Json)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let name = vector["name"].as_str().unwrap();
    let bytes = unhex(&vector["msgpack"]);
    let from_msgpack: T = protocol::decode(&bytes, &Limits::default()).unwrap();
    let from_json: T = serde_json::from_value(vector["json"].clone()).unwrap();
    assert_eq!(from_msgpack, from_json, "{name}");
    assert_eq!(protocol::encode(&from_msgpack), bytes, "{name}");
}

/// The value under `key` of a MessagePack map.
fn field<'a>(map: &'a rmpv::Value, key: &str) -> &'a rmpv::Value {
    map.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no `{key}`"))
}

fn bin_len(v: &rmpv::Value) -> usize {
    match v {
        rmpv::Value::Binary(b) => b.len(),
        other => panic!("{other} is not bin"),
    }
}

#[test]
fn messages() {
    let stored = stored("messages.json", &messages_generated());
    for vector in stored["messages"].as_array().unwrap() {
        match vector["type"].as_str().unwrap() {
            "PushRequest" => round_trip::<PushRequest>(vector),
            "PushResponse" => round_trip::<PushResponse>(vector),
            "PullRequest" => round_trip::<PullRequest>(vector),
            "PullResponse" => round_trip::<PullResponse>(vector),
            "VerifyRequest" => round_trip::<VerifyRequest>(vector),
            "VerifyResponse" => round_trip::<VerifyResponse>(vector),
            other => panic!("no message type {other}"),
        }
    }
    // What docs/protocol.md promises of the MessagePack types, read with a generic decoder.
    let decode = |name: &str| {
        let vector = stored["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap();
        rmpv::decode::read_value(&mut unhex(&vector["msgpack"]).as_slice()).unwrap()
    };
    let push = decode("push_edit");
    let doc = &field(&push, "docs").as_array().unwrap()[0];
    assert_eq!(bin_len(field(doc, "id")), 16);
    assert_eq!(field(doc, "kind").as_str(), Some("customer"));
    assert_eq!(
        bin_len(&field(doc, "base_heads").as_array().unwrap()[0]),
        32
    );
    assert!(bin_len(&field(doc, "changes").as_array().unwrap()[0]) > 0);
    assert_eq!(field(&push, "checkpoint").as_i64(), Some(41));
    let response = decode("push_response");
    let rejected = &field(&response, "results").as_array().unwrap()[1];
    assert_eq!(field(rejected, "status").as_str(), Some("rejected"));
    let pull = decode("pull_first");
    assert!(field(&pull, "cursor").is_nil());
    let pull = decode("pull_response");
    assert_eq!(bin_len(&field(&pull, "evict").as_array().unwrap()[0]), 16);
    assert!(field(&pull, "cursor").is_bin());
    let listing = field(&field(&pull, "docs").as_array().unwrap()[0], "listing");
    assert!(field(listing, "fields").is_str());
}

#[test]
fn digests() {
    let a: Vec<Hash> = vec![hash("change 2"), hash("change 1")];
    let b: Vec<Hash> = vec![hash("change 3")];
    let docs = [(ORDER, b.as_slice()), (CUSTOMER, a.as_slice())];
    let generated = json!({
        "about": "Verify's digests. A document's heads digest is the SHA-256 of its heads (32 \
                  bytes each) sorted by their bytes and concatenated. The scope digest is the \
                  SHA-256 of, for each document in ascending order of its id's 16 bytes, the id's \
                  bytes followed by its heads digest; no documents give the SHA-256 of nothing.",
        "documents": docs.iter().map(|(id, heads)| json!({
            "id": id.to_string(),
            "heads": heads.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
            "heads_digest": heads_digest(heads).to_string(),
        })).collect::<Vec<_>>(),
        "scope_digest": scope_digest(docs).to_string(),
        "empty_scope_digest": scope_digest(std::iter::empty()).to_string(),
    });
    let stored = stored("digests.json", &generated);
    // The rule as written above, computed here by hand rather than by `digest`.
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for doc in stored["documents"].as_array().unwrap() {
        let mut heads: Vec<Vec<u8>> = doc["heads"].as_array().unwrap().iter().map(unhex).collect();
        heads.sort();
        let digest = Sha256::digest(heads.concat()).to_vec();
        assert_eq!(digest, unhex(&doc["heads_digest"]));
        let id = Uuid::parse_str(doc["id"].as_str().unwrap()).unwrap();
        entries.push((id.as_bytes().to_vec(), digest));
    }
    entries.sort();
    let scope = Sha256::digest(
        entries
            .iter()
            .flat_map(|(id, d)| id.iter().chain(d))
            .copied()
            .collect::<Vec<u8>>(),
    );
    assert_eq!(scope.to_vec(), unhex(&stored["scope_digest"]));
    assert_eq!(
        Sha256::digest([]).to_vec(),
        unhex(&stored["empty_scope_digest"])
    );
}

fn line(quantity: i64, unit_price: i64, discount_bp: u32, tax_bp: u32) -> Line {
    Line {
        quantity,
        unit_price,
        discount_bp,
        tax_bp,
    }
}

#[test]
fn totals() {
    let cases: Vec<(&str, Order)> = vec![
        (
            "one line, a fractional quantity",
            Order {
                lines: vec![line(1_500, 399, 0, 700)],
                order_discount_bp: 0,
            },
        ),
        (
            "line discounts and an order discount spread by largest remainder",
            Order {
                lines: vec![
                    line(3_000, 1_999, 500, 1_900),
                    line(1_000, 333, 0, 700),
                    line(2_000, 333, 0, 700),
                ],
                order_discount_bp: 1_000,
            },
        ),
        (
            "equal remainders go to the lower line first",
            Order {
                lines: vec![line(1_000, 100, 0, 0); 3],
                order_discount_bp: 3_333,
            },
        ),
        (
            "halves round up",
            Order {
                lines: vec![line(500, 1, 5_000, 5_000)],
                order_discount_bp: 0,
            },
        ),
        (
            "a free line beside a paid one",
            Order {
                lines: vec![line(1_000, 0, 0, 2_000), line(1_000, 1_000, 0, 0)],
                order_discount_bp: 1_000,
            },
        ),
        (
            "products past 2^53 (BigInt in JavaScript)",
            Order {
                lines: vec![line(999_999_999, 999_999_999_999, 1, 9_999)],
                order_discount_bp: 1,
            },
        ),
        (
            "refused: a quantity of zero",
            Order {
                lines: vec![line(1_000, 100, 0, 0), line(0, 100, 0, 0)],
                order_discount_bp: 0,
            },
        ),
        (
            "refused: a discount over 100%",
            Order {
                lines: vec![line(1_000, 100, 0, 0)],
                order_discount_bp: 10_001,
            },
        ),
    ];
    let generated = json!({
        "about": "Order totals in integer minor units, by the rule of sync-core/src/totals.rs \
                  (docs/protocol.md, \"Order totals\"): `totals` for an order that has them, \
                  `error` (the code) for one that is refused.",
        "cases": cases.iter().map(|(name, order)| match order.totals() {
            Ok(t) => json!({"name": name, "order": order, "totals": t}),
            Err(e) => json!({"name": name, "order": order, "error": e.code()}),
        }).collect::<Vec<_>>(),
    });
    let stored = stored("totals.json", &generated);
    for case in stored["cases"].as_array().unwrap() {
        let order: Order = serde_json::from_value(case["order"].clone()).unwrap();
        match order.totals() {
            Ok(t) => assert_eq!(serde_json::to_value(t).unwrap(), case["totals"], "{case}"),
            Err(e) => assert_eq!(e.code(), case["error"], "{case}"),
        }
    }
}

#[test]
fn schema() {
    let generated =
        serde_json::to_value(sync_core::layout::document(kinds::ALL, &Limits::default())).unwrap();
    let stored = stored("schema.json", &generated);
    let back: sync_core::layout::SchemaDocument = serde_json::from_value(stored).unwrap();
    assert_eq!(back.kinds.len(), kinds::ALL.len());
}

/// A value as an app writes it, read back as the server reads it: a JSON string is a scalar
/// string (a text object in a text field), a whole number an integer, another number a float.
fn raw(spec: &sync_core::FieldSpec, value: &Json) -> Raw {
    match value {
        Json::Null => Raw::Missing,
        Json::Bool(b) => Raw::Scalar(ScalarValue::Boolean(*b)),
        Json::String(s) if matches!(spec.ty, sync_core::FieldType::Text { .. }) => {
            Raw::Text(s.clone())
        }
        Json::String(s) => Raw::Scalar(ScalarValue::Str(s.as_str().into())),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Raw::Scalar(ScalarValue::Int(i)),
            None => Raw::Scalar(ScalarValue::F64(n.as_f64().unwrap())),
        },
        Json::Array(_) | Json::Object(_) => Raw::OtherObject,
    }
}

#[test]
fn validation() {
    let long = |n: usize| json!("é".repeat(n));
    let cases: Vec<(&str, &str, Json)> = vec![
        ("customer", "name", json!("Bäckerei Schmidt")),
        ("customer", "name", json!("   ")),
        ("customer", "name", Json::Null),
        ("customer", "name", long(200)),
        ("customer", "name", long(201)),
        ("customer", "name", json!("a\u{0}b")),
        ("customer", "name", json!(42)),
        ("customer", "phone", Json::Null),
        ("customer", "email", json!("anna@example.com")),
        ("customer", "email", json!("anna@example")),
        ("customer", "email", json!("@example.com")),
        ("customer", "email", json!("anna @example.com")),
        ("customer", "email", json!("a@b@example.com")),
        ("customer", "status", json!("active")),
        ("customer", "status", json!("lead")),
        ("customer", "lat", json!(52.52)),
        ("customer", "lat", json!(45)),
        ("customer", "lat", json!(90.5)),
        ("customer", "lat", json!("52.5")),
        ("customer", "credit_limit", json!(500_000)),
        ("customer", "credit_limit", json!(-1)),
        ("customer", "credit_limit", json!(1_000_000_001)),
        ("customer", "credit_limit", json!(5.5)),
        ("customer", "tier_locked", json!(true)),
        ("customer", "tier_locked", json!("true")),
        ("customer", "notes", json!("Delivers on Mondays")),
        ("customer", "notes", long(20_001)),
        ("customer", "notes", json!(1)),
        (
            "customer",
            "owner_id",
            json!("01938a1c-3000-7000-8000-000000000001"),
        ),
        (
            "customer",
            "owner_id",
            json!("01938A1C-3000-7000-8000-000000000001"),
        ),
        (
            "customer",
            "owner_id",
            json!("01938a1c300070008000000000000001"),
        ),
        (
            "customer",
            "owner_id",
            json!("{01938a1c-3000-7000-8000-000000000001}"),
        ),
        (
            "customer",
            "owner_id",
            json!("urn:uuid:01938a1c-3000-7000-8000-000000000001"),
        ),
        (
            "customer",
            "owner_id",
            json!("01938a1c-3000-7000-8000-00000000000"),
        ),
        ("customer", "owner_id", json!("not a uuid")),
        ("order", "ordered_at", json!(1_764_579_600_000i64)),
        ("order", "ordered_at", json!(1.5)),
        ("order", "order_discount_bp", json!(10_000)),
        ("order", "order_discount_bp", json!(10_001)),
        ("payment", "receipt", json!("ab".repeat(32))),
        ("payment", "receipt", json!("AB".repeat(32))),
        ("payment", "receipt", json!("ab".repeat(31))),
        ("payment", "amount", json!(0)),
    ];
    let generated = json!({
        "about": "Field values as an app writes them (a string; a whole number as an automerge \
                  Int, another number as an F64; a boolean; null to unset; a text field's string \
                  as its text), with the error code the server gives, or null for a value it \
                  accepts.",
        "cases": cases.iter().map(|(kind, field, value)| {
            let spec = kinds::get(kind).unwrap().field(field).unwrap();
            let error = validate::check(spec, &raw(spec, value)).err().map(|e| e.code);
            json!({"kind": kind, "field": field, "value": value, "error": error})
        }).collect::<Vec<_>>(),
    });
    let stored = stored("validation.json", &generated);
    for case in stored["cases"].as_array().unwrap() {
        let kind = kinds::get(case["kind"].as_str().unwrap()).unwrap();
        let spec = kind.field(case["field"].as_str().unwrap()).unwrap();
        let error = validate::check(spec, &raw(spec, &case["value"]))
            .err()
            .map(|e| e.code);
        assert_eq!(json!(error), case["error"], "{case}");
    }
}

#[test]
fn geo() {
    use sync_core::geo::{check_in, distance_m, Geofence, Position};
    let at = |lat: f64, lon: f64| Position { lat, lon };
    let pairs = [
        ("the same place", at(50.7353, 7.1022), at(50.7353, 7.1022)),
        (
            "a few hundred metres in Bonn",
            at(50.7353, 7.1022),
            at(50.7374, 7.0982),
        ),
        ("Bonn to Hamburg", at(50.7353, 7.1022), at(53.5511, 9.9937)),
        (
            "across the date line",
            at(-17.7134, 178.065),
            at(-16.5782, -179.4145),
        ),
        ("pole to pole", at(90.0, 0.0), at(-90.0, 0.0)),
        ("antipodes", at(0.0, 0.0), at(0.0, 180.0)),
    ];
    let shop = at(50.7374, 7.0982);
    let door = at(50.7375, 7.0983);
    let street = at(50.7353, 7.1022);
    // (name, phone's position, its accuracy, the customer's position, mode, radius)
    type CheckInCase = (
        &'static str,
        Position,
        Option<f64>,
        Option<Position>,
        &'static str,
        Option<f64>,
    );
    let check_ins: [CheckInCase; 8] = [
        (
            "at the door",
            door,
            Some(8.0),
            Some(shop),
            "soft",
            Some(100.0),
        ),
        (
            "down the street",
            street,
            Some(8.0),
            Some(shop),
            "hard",
            Some(100.0),
        ),
        (
            "just inside the radius",
            street,
            None,
            Some(shop),
            "soft",
            Some(366.0),
        ),
        (
            "a position vaguer than the radius",
            door,
            Some(150.0),
            Some(shop),
            "soft",
            Some(100.0),
        ),
        (
            "a visit type without a geofence",
            street,
            Some(8.0),
            Some(shop),
            "off",
            Some(100.0),
        ),
        (
            "no radius anywhere",
            street,
            Some(8.0),
            Some(shop),
            "hard",
            None,
        ),
        (
            "a radius of zero",
            door,
            Some(8.0),
            Some(shop),
            "soft",
            Some(0.0),
        ),
        (
            "a customer without a position",
            door,
            Some(8.0),
            None,
            "hard",
            Some(100.0),
        ),
    ];
    let position = |p: &Position| json!({"lat": p.lat, "lon": p.lon});
    let generated = json!({
        "about": "Great-circle distances in metres, by the haversine formula on a sphere of the \
                  earth's mean radius (6,371,008.8 m), as check-ins are graded; an \
                  implementation agrees to a millimetre. `check_ins`: a check-in at `at` with \
                  the phone's `accuracy_m` against the customer's position and the geofence \
                  (the visit type's mode; the customer's radius, or else the visit type's), \
                  with its distance (null without a customer position) and its \
                  `check_in_result`.",
        "cases": pairs.iter().map(|(name, a, b)| json!({
            "name": name,
            "a": position(a),
            "b": position(b),
            "metres": distance_m(*a, *b),
        })).collect::<Vec<_>>(),
        "check_ins": check_ins.iter().map(|(name, at, accuracy, customer, mode, radius)| {
            let (distance, result) =
                check_in(*at, *accuracy, *customer, Geofence { mode, radius_m: *radius });
            json!({
                "name": name,
                "at": position(at),
                "accuracy_m": accuracy,
                "customer": customer.as_ref().map(position),
                "fence": {"mode": mode, "radius_m": radius},
                "distance_m": distance,
                "result": result.as_str(),
            })
        }).collect::<Vec<_>>(),
    });
    let stored = stored("geo.json", &generated);
    let p = |v: &Json| at(v["lat"].as_f64().unwrap(), v["lon"].as_f64().unwrap());
    for case in stored["cases"].as_array().unwrap() {
        let metres = distance_m(p(&case["a"]), p(&case["b"]));
        assert!(
            (metres - case["metres"].as_f64().unwrap()).abs() < 1e-3,
            "{case}"
        );
    }
    let results: Vec<&str> = stored["check_ins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let customer = (!case["customer"].is_null()).then(|| p(&case["customer"]));
            let fence = Geofence {
                mode: case["fence"]["mode"].as_str().unwrap(),
                radius_m: case["fence"]["radius_m"].as_f64(),
            };
            let (_, result) =
                check_in(p(&case["at"]), case["accuracy_m"].as_f64(), customer, fence);
            assert_eq!(result.as_str(), case["result"], "{case}");
            result.as_str()
        })
        .collect();
    // The cases cover every result.
    for result in ["verified", "out_of_range", "unverified"] {
        assert!(results.contains(&result), "no check-in is {result}");
    }
}

#[test]
fn prices() {
    use sync_core::orders::{price_list_applies, unit_price};
    use sync_core::record::Projection;
    use sync_core::{Item, Value};
    let price = |product: &str, min: Option<i64>, unit_price: i64| {
        let mut item = Item::new([
            ("product_id", Value::Str(product.into())),
            ("unit_price", Value::Int(unit_price)),
        ]);
        item.id = format!("{:08x}-0000-7000-8000-000000000000", unit_price);
        if let Some(min) = min {
            item.fields.insert("min_quantity".into(), Value::Int(min));
        }
        item
    };
    let beans = PRODUCT.to_string();
    let cups = CUPS.to_string();
    let napkins = NAPKINS.to_string();
    let prices = vec![
        price(&beans, None, 2_200),
        price(&beans, Some(10_000), 2_000),
        price(&beans, Some(50_000), 1_800),
        price(&cups, Some(5_000), 4_900),
        price(&cups, Some(5_000), 5_000),
    ];
    // (name, product, quantity in thousandths, the catalogue's list price)
    let lines = [
        (
            "no break reached: the list's base price",
            &beans,
            1_000,
            Some(2_450),
        ),
        ("a break reached exactly", &beans, 10_000, Some(2_450)),
        ("the largest break reached", &beans, 75_500, Some(2_450)),
        (
            "below every break: the catalogue's price",
            &cups,
            1_000,
            Some(5_900),
        ),
        (
            "two prices at one break: the later item",
            &cups,
            5_000,
            Some(5_900),
        ),
        (
            "a product the list does not name",
            &napkins,
            1_000,
            Some(990),
        ),
        ("no price anywhere", &napkins, 1_000, None),
    ];
    let day = 86_400_000;
    let at = TIME_SECS * 1_000;
    // (name, active, valid_from, valid_to, deleted)
    let lists = [
        ("active, no dates", Some(true), None, None, false),
        ("active not said", None, None, None, false),
        ("inactive", Some(false), None, None, false),
        (
            "from today, bound inclusive",
            Some(true),
            Some(at),
            None,
            false,
        ),
        (
            "until today, bound inclusive",
            Some(true),
            None,
            Some(at),
            false,
        ),
        ("from tomorrow", Some(true), Some(at + day), None, false),
        (
            "ended yesterday",
            Some(true),
            Some(at - 30 * day),
            Some(at - day),
            false,
        ),
        ("deleted", Some(true), None, None, true),
    ];
    let list = |active: Option<bool>, from: Option<i64>, to: Option<i64>, deleted: bool| {
        let mut fields = std::collections::BTreeMap::new();
        if let Some(a) = active {
            fields.insert("active", Value::Bool(a));
        }
        if let Some(f) = from {
            fields.insert("valid_from", Value::Int(f));
        }
        if let Some(t) = to {
            fields.insert("valid_to", Value::Int(t));
        }
        fields.insert("deleted", Value::Bool(deleted));
        Projection {
            fields,
            conflicts: Vec::new(),
        }
    };
    let generated = json!({
        "about": "Pricing a line, as devices do when they take an order \
                  (sync-core/src/orders.rs): `lines` price a product at a quantity (thousandths) \
                  from a price list's `prices` (the largest `min_quantity` reached, 0 when \
                  unset) or else the catalogue's `list_price` (`unit_price` null: no price); \
                  `price_lists` say whether a list applies at `at` (milliseconds): not inactive, \
                  not deleted, and within its validity dates, both bounds inclusive.",
        "prices": prices,
        "lines": lines.iter().map(|(name, product, quantity, list_price)| json!({
            "name": name,
            "product_id": product,
            "quantity": quantity,
            "list_price": list_price,
            "unit_price": unit_price(&prices, product, *quantity, *list_price),
        })).collect::<Vec<_>>(),
        "at": at,
        "price_lists": lists.iter().map(|(name, active, from, to, deleted)| json!({
            "name": name,
            "list": {"active": active, "valid_from": from, "valid_to": to, "deleted": deleted},
            "applies": price_list_applies(&list(*active, *from, *to, *deleted), at),
        })).collect::<Vec<_>>(),
    });
    let stored = stored("prices.json", &generated);
    let prices: Vec<Item> = serde_json::from_value(stored["prices"].clone()).unwrap();
    for case in stored["lines"].as_array().unwrap() {
        let price = unit_price(
            &prices,
            case["product_id"].as_str().unwrap(),
            case["quantity"].as_i64().unwrap(),
            case["list_price"].as_i64(),
        );
        assert_eq!(json!(price), case["unit_price"], "{case}");
    }
    for case in stored["price_lists"].as_array().unwrap() {
        let l = &case["list"];
        let applies = price_list_applies(
            &list(
                l["active"].as_bool(),
                l["valid_from"].as_i64(),
                l["valid_to"].as_i64(),
                l["deleted"].as_bool().unwrap(),
            ),
            stored["at"].as_i64().unwrap(),
        );
        assert_eq!(json!(applies), case["applies"], "{case}");
    }
}
