//! Hostile input through a real server: arbitrary and mutated bodies, cursors and ids sent to every
//! endpoint, and arbitrary but well-formed automerge changes pushed as a device. Every answer must
//! be a success or a 4xx with the `{"error":{"code","message"}}` shape, never a 5xx, and a refused
//! request must leave every table as it was.
//!
//! Each test runs `FIELDSYNC_FUZZ_ROUNDS` rounds (default 1) of `PROPTEST_CASES` cases (default 64),
//! each round against a fresh server and database, on each database; see TESTING.md
//! for the long form.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ScalarValue, ROOT};
use fieldsync_e2e::{customer, storage_test, TestDb, TestServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sync_core::protocol::{self, DocPush, PushRequest, PushResponse, PushStatus, CONTENT_TYPE};
use sync_core::Role;
use uuid::Uuid;

const TABLES: [&str; 8] = [
    "documents",
    "doc_chunks",
    "customers",
    "contacts",
    "orphan_changes",
    "quarantine",
    "scope_moves",
    "devices",
];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// `FIELDSYNC_FUZZ_ROUNDS` (default 1): rounds of `PROPTEST_CASES` cases, each on a fresh database and
/// server. A long run is many rounds rather than one, so that the tables and the one record every
/// round edits stay small and each case costs the same.
fn rounds() -> u32 {
    std::env::var("FIELDSYNC_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

async fn in_rounds<F: std::future::Future<Output = ()>>(db: TestDb, round: impl Fn(TestDb) -> F) {
    let mut db = db;
    for n in 1..=rounds() {
        let next = match n < rounds() {
            true => Some(db.another().await),
            false => None,
        };
        round(db).await;
        match next {
            Some(fresh) => db = fresh,
            None => break,
        }
    }
}

/// Row counts of every table a request could write.
async fn counts(server: &TestServer) -> Vec<i64> {
    server.counts(&TABLES).await
}

#[derive(Debug, Clone)]
enum Target {
    PushMsgPack,
    PushJson,
    PullMsgPack,
    PullJson,
    VerifyMsgPack,
    VerifyJson,
    Login,
    PullCursor,
    QuarantineAccept,
    QuarantineReject,
    RevokeDevice,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::PushMsgPack),
        Just(Target::PushJson),
        Just(Target::PullMsgPack),
        Just(Target::PullJson),
        Just(Target::VerifyMsgPack),
        Just(Target::VerifyJson),
        Just(Target::Login),
        Just(Target::PullCursor),
        Just(Target::QuarantineAccept),
        Just(Target::QuarantineReject),
        Just(Target::RevokeDevice),
    ]
}

/// A body: arbitrary bytes, or a valid message of the endpoint with a few bytes changed.
fn body() -> impl Strategy<Value = (Vec<u8>, Vec<(prop::sample::Index, u8)>, bool)> {
    (
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<bool>(),
    )
}

fn seed(target: &Target, json: bool) -> Vec<u8> {
    let push = PushRequest {
        docs: vec![DocPush {
            id: Uuid::now_v7(),
            kind: "customer".into(),
            base_heads: vec![],
            changes: vec![serde_bytes::ByteBuf::from(vec![
                0x85, 0x6f, 0x4a, 0x83, 1, 2, 3,
            ])],
            group: None,
        }],
        checkpoint: 0,
    };
    let value = match target {
        Target::PushMsgPack | Target::PushJson => serde_json::to_value(&push).unwrap(),
        Target::Login => {
            serde_json::json!({"email": "sam@x.test", "password": "wrong", "device_name": "x"})
        }
        Target::VerifyMsgPack | Target::VerifyJson => {
            serde_json::json!({"mode": "docs", "docs": []})
        }
        _ => serde_json::json!({"cursor": null, "limit": 5}),
    };
    if json {
        serde_json::to_vec(&value).unwrap()
    } else if matches!(target, Target::PushMsgPack) {
        protocol::encode(&push)
    } else {
        rmp_serde::to_vec_named(&value).unwrap()
    }
}

async fn hostile(
    server: &TestServer,
    http: &reqwest::Client,
    token: &str,
    target: Target,
    (raw, flips, mutate): (Vec<u8>, Vec<(prop::sample::Index, u8)>, bool),
    text: String,
) {
    let json = matches!(
        target,
        Target::PushJson | Target::PullJson | Target::VerifyJson | Target::Login
    );
    let bytes = if mutate {
        let mut b = seed(&target, json);
        for (at, byte) in &flips {
            let i = at.index(b.len());
            b[i] = *byte;
        }
        b
    } else {
        raw
    };
    let content_type = if json {
        "application/json"
    } else {
        CONTENT_TYPE
    };
    let url = |path: &str| format!("{}{path}", server.url);
    let request = match target {
        Target::PushMsgPack | Target::PushJson => http.post(url("/v1/sync/push")),
        Target::PullMsgPack | Target::PullJson => http.post(url("/v1/sync/pull")),
        Target::VerifyMsgPack | Target::VerifyJson => http.post(url("/v1/sync/verify")),
        Target::Login => http.post(url("/v1/auth/login")),
        Target::PullCursor => http.get(url("/v1/sync/pull")).query(&[
            ("cursor", text.as_str()),
            ("limit", &text[..text.len().min(4)]),
        ]),
        Target::QuarantineAccept => http.post(url(&format!("/v1/quarantine/{text}/accept"))),
        Target::QuarantineReject => http.post(url(&format!("/v1/quarantine/{text}/reject"))),
        Target::RevokeDevice => http.delete(url(&format!("/v1/devices/{text}"))),
    };
    let before = counts(server).await;
    let response = request
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let answer = response.bytes().await.expect("a whole answer");
    assert!(!status.is_server_error(), "{status} for {target:?}");
    if !status.is_success() {
        let error: protocol::ErrorBody = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{status} for {target:?} is not an error body: {e}"));
        assert!(!error.error.code.is_empty());
        assert_eq!(
            counts(server).await,
            before,
            "a refused {target:?} wrote something"
        );
    }
}

/// Runs the strategy's cases one after another on this test's server.
fn each<S: Strategy>(strategy: S, check: impl Fn(S::Value)) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |value| {
            check(value);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

storage_test! {
    async fn hostile_bodies_cursors_and_ids_get_typed_errors_and_change_nothing(db: TestDb) {
        in_rounds(db, hostile_round).await;
    }
}

async fn hostile_round(db: TestDb) {
    let server = TestServer::start(&db).await;
    server.user("sam@x.test", Role::Manager, &["North"]).await;
    let sam = server.device("sam@x.test").await;
    sam.replica
        .create("customer", &customer("ACME", "North"))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let handle = tokio::runtime::Handle::current();
    let strategy = (target(), body(), "[A-Za-z0-9_%.-]{0,60}");
    tokio::task::block_in_place(|| {
        each(strategy, |(target, body, text)| {
            handle.block_on(hostile(
                &server,
                &http,
                &sam.login.token,
                target,
                body,
                text,
            ));
        })
    });
}

/// One edit of an arbitrary automerge change: any key (schema fields and others), any value type.
#[derive(Debug, Clone)]
enum Op {
    Put(usize, Scalar),
    Text(usize, String),
    Map(usize),
    Delete(usize),
    Commit,
}

#[derive(Debug, Clone)]
enum Scalar {
    Str(String),
    Int(i64),
    F64(f64),
    Bool(bool),
    Null,
    Bytes(Vec<u8>),
    Counter(i64),
}

const KEYS: [&str; 14] = [
    "name",
    "territory",
    "phone",
    "email",
    "city",
    "notes",
    "credit_limit",
    "external_ref",
    "deleted",
    "status",
    "customer_id",
    "lat",
    "x",
    "",
];

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let scalar = prop_oneof![
        "(North|South|[a-z]{0,12})".prop_map(Scalar::Str),
        any::<i64>().prop_map(Scalar::Int),
        any::<f64>().prop_map(Scalar::F64),
        any::<bool>().prop_map(Scalar::Bool),
        Just(Scalar::Null),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Scalar::Bytes),
        any::<i64>().prop_map(Scalar::Counter),
    ];
    prop_oneof![
        5 => (key.clone(), scalar).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (key.clone(), ".{0,20}").prop_map(|(k, s)| Op::Text(k, s)),
        1 => key.clone().prop_map(Op::Map),
        1 => key.prop_map(Op::Delete),
        1 => Just(Op::Commit),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    /// 0: a new record from nothing, 1: a new valid record edited, 2: the existing record edited.
    start: u8,
    kind: usize,
    foreign_actor: bool,
    v7: bool,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    let wild = (
        0u8..3,
        0usize..4,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.9),
        prop::collection::vec(op(), 1..10),
    )
        .prop_map(|(start, kind, foreign_actor, v7, ops)| Case {
            start,
            kind,
            foreign_actor,
            v7,
            ops,
        });
    // Edits a device could honestly make, so that the cases also reach the merge and its writes.
    let honest_op = (prop::sample::select(vec![2usize, 4]), "[a-z]{1,10}")
        .prop_map(|(k, v)| Op::Put(k, Scalar::Str(v)));
    let honest = (1u8..3, prop::collection::vec(honest_op, 1..4)).prop_map(|(start, ops)| Case {
        start,
        kind: 0,
        foreign_actor: false,
        v7: true,
        ops,
    });
    prop_oneof![3 => wild, 1 => honest]
}

fn apply(doc: &mut AutoCommit, ops: &[Op]) {
    for op in ops {
        let result = match op {
            Op::Put(k, v) => {
                let value = match v {
                    Scalar::Str(s) => ScalarValue::Str(s.as_str().into()),
                    Scalar::Int(i) => ScalarValue::Int(*i),
                    Scalar::F64(f) => ScalarValue::F64(*f),
                    Scalar::Bool(b) => ScalarValue::Boolean(*b),
                    Scalar::Null => ScalarValue::Null,
                    Scalar::Bytes(b) => ScalarValue::Bytes(b.clone()),
                    Scalar::Counter(c) => ScalarValue::counter(*c),
                };
                doc.put(ROOT, KEYS[*k], value)
            }
            Op::Text(k, s) => doc
                .put_object(ROOT, KEYS[*k], ObjType::Text)
                .and_then(|t| doc.splice_text(&t, 0, 0, s)),
            Op::Map(k) => doc.put_object(ROOT, KEYS[*k], ObjType::Map).map(drop),
            Op::Delete(k) => doc.delete(ROOT, KEYS[*k]),
            Op::Commit => {
                doc.commit();
                Ok(())
            }
        };
        result.expect("a well-formed edit");
    }
    doc.commit();
}

storage_test! {
    async fn arbitrary_well_formed_changes_are_merged_or_refused_whole(db: TestDb) {
        in_rounds(db, push_round).await;
    }
}

async fn push_round(db: TestDb) {
    let server = TestServer::start(&db).await;
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    server
        .user("sam@x.test", Role::Manager, &["North", "South"])
        .await;
    let mut anna = server.device("anna@x.test").await;
    let existing = anna
        .replica
        .create("customer", &customer("ACME", "North"))
        .await
        .unwrap();
    anna.sync().await;
    let actor = anna.replica.actor().unwrap();
    let handle = tokio::runtime::Handle::current();
    let (applied, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    tokio::task::block_in_place(|| {
        each(case(), |case| {
            handle.block_on(async {
                let author = if case.foreign_actor {
                    ActorId::random()
                } else {
                    actor.clone()
                };
                let (id, mut doc) = match case.start {
                    0 => (Uuid::now_v7(), AutoCommit::new().with_actor(author)),
                    1 => (
                        Uuid::now_v7(),
                        sync_core::record::create(
                            sync_core::kinds::get("customer").unwrap(),
                            author,
                            &customer("New", "North"),
                        )
                        .unwrap(),
                    ),
                    _ => {
                        let doc = fieldsync_server::sync::docstore::load(
                            &server.state.db.conn,
                            server.state.db.vault(),
                            existing,
                        )
                        .await
                        .unwrap()
                        .unwrap();
                        (existing, doc.with_actor(author))
                    }
                };
                let id = if case.v7 { id } else { Uuid::new_v4() };
                let base = doc.get_heads();
                apply(&mut doc, &case.ops);
                let from = if case.start == 2 {
                    base.clone()
                } else {
                    vec![]
                };
                let changes: Vec<serde_bytes::ByteBuf> = doc
                    .get_changes(&from)
                    .iter()
                    .map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec()))
                    .collect();
                let kind = ["customer", "contact", "visit", ""][case.kind];
                let before = counts(&server).await;
                let heads_before = server.heads(id).await;
                let push = PushRequest {
                    docs: vec![DocPush {
                        id,
                        kind: kind.into(),
                        base_heads: protocol::heads_of(&base),
                        changes,
                        group: None,
                    }],
                    checkpoint: 0,
                };
                let response: PushResponse = anna
                    .client
                    .push(&push)
                    .await
                    .expect("a push answer, never an error");
                let result = &response.results[0];
                match result.status {
                    PushStatus::Applied => {
                        applied.set(applied.get() + 1);
                        assert_eq!(server.heads(id).await, protocol::heads_of(&doc.get_heads()));
                    }
                    PushStatus::Rejected | PushStatus::AlreadyKnown => {
                        refused.set(refused.get() + 1);
                        if result.status == PushStatus::Rejected {
                            assert!(!result.reason.as_ref().unwrap().code.is_empty());
                        }
                        assert_eq!(
                            counts(&server).await,
                            before,
                            "a refused push wrote: {result:?}"
                        );
                        assert_eq!(server.heads(id).await, heads_before);
                    }
                    other => panic!("unexpected {other:?} for {case:?}"),
                }
            })
        })
    });
    let (applied, refused) = (applied.get(), refused.get());
    eprintln!("{applied} applied, {refused} refused");
    assert!(applied > 0 && refused > 0, "the cases reach both outcomes");
}
