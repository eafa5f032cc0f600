//! Devices with durable stores: the field scenario of two agents and a device that stays offline, and
//! a property test of random offline edits and sync interleavings across server restarts.

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use proptest::prelude::*;
use sea_orm::ConnectionTrait;
use sync_core::{Role, Value};
use uuid::Uuid;

storage_test! {
    async fn two_agents_and_a_device_offline_throughout_end_identical(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut anna = Device::login_durable(&server.url, "anna@x.test", dirs[0].path()).await;
        let mut ben = Device::login_durable(&server.url, "ben@x.test", dirs[1].path()).await;
        let mut late = Device::login_durable(&server.url, "ben@x.test", dirs[2].path()).await;
        let id = anna.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        late.sync().await;

        // Everyone goes offline. Anna and Ben edit different fields and the same field; the late
        // device edits too and stays offline while the others sync.
        anna.replica.update(id, &[("phone", "111".into()), ("city", "Lyon".into())]).await.unwrap();
        ben.replica.update(id, &[("phone", "222".into()), ("email", "buyer@acme.test".into())]).await.unwrap();
        late.replica.update(id, &[("notes", "prefers mornings".into()), ("status", "active".into())]).await.unwrap();
        // The apps are killed and restarted while offline: nothing entered is lost.
        anna = anna.reopen(dirs[0].path()).await;
        late = late.reopen(dirs[2].path()).await;
        anna.sync().await;
        ben.sync().await;
        anna.sync().await;
        late.sync().await;
        anna.sync().await;
        ben.sync().await;

        let heads = server.heads(id).await;
        for device in [&anna, &ben, &late] {
            assert_eq!(device.replica.heads(id).await, heads);
        }
        let p = anna.replica.get(id).await.unwrap();
        assert_eq!(p, ben.replica.get(id).await.unwrap());
        assert_eq!(p, late.replica.get(id).await.unwrap());
        assert_eq!(p.get("city"), &Value::from("Lyon"));
        assert_eq!(p.get("email"), &Value::from("buyer@acme.test"));
        assert_eq!(p.get("notes"), &Value::from("prefers mornings"));
        assert_eq!(p.conflicts.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), vec!["phone"]);
        let row = server.projected("customers", id, &["phone", "city", "email", "notes", "status"]).await;
        let expected: Vec<Option<String>> =
            ["phone", "city", "email", "notes", "status"].iter().map(|f| p.get(f).as_str().map(str::to_string)).collect();
        assert_eq!(row, expected, "the server's projection matches the devices");
        for device in [&anna, &ben, &late] {
            assert_eq!(device.replica.outbox_len().await.unwrap(), 0);
        }
    }
}

storage_test! {
    /// A fresh device stores records that arrive whole as the server sent them, with the server's
    /// listing, without loading them; they must list, read and edit exactly like merged ones.
    async fn a_fresh_device_stores_whole_records_as_they_arrive(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut anna = Device::login_durable(&server.url, "anna@x.test", dirs[0].path()).await;
        let mut ben = Device::login_durable(&server.url, "ben@x.test", dirs[1].path()).await;
        let plain = anna.replica.create("customer", &customer("Plain", "North")).await.unwrap();
        let edited = anna.replica.create("customer", &customer("Edited", "North")).await.unwrap();
        let deleted = anna.replica.create("customer", &customer("Gone", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        // Later chunks on top of the snapshot, a conflict, and a tombstone.
        anna.replica.update(edited, &[("phone", "111".into()), ("city", "Lyon".into())]).await.unwrap();
        ben.replica.update(edited, &[("phone", "222".into())]).await.unwrap();
        anna.replica.delete(deleted).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        anna.sync().await;

        let mut fresh = Device::login_durable(&server.url, "ben@x.test", dirs[2].path()).await;
        fresh.sync().await;
        for id in [plain, edited, deleted] {
            assert_eq!(fresh.replica.heads(id).await, server.heads(id).await);
            let (mine, theirs) = (fresh.replica.info(id).await.unwrap(), anna.replica.info(id).await.unwrap());
            assert_eq!((&mine.fields, &mine.conflicts), (&theirs.fields, &theirs.conflicts));
            assert_eq!(fresh.replica.get(id).await.unwrap(), anna.replica.get(id).await.unwrap());
        }
        let listed: Vec<Uuid> = fresh.replica.list("customer").await.unwrap().iter().map(|r| r.id).collect();
        assert!(listed.contains(&plain) && listed.contains(&edited) && !listed.contains(&deleted));
        assert_eq!(fresh.replica.info(edited).await.unwrap().conflicts[0].field, "phone");
        assert_eq!(fresh.replica.outbox_len().await.unwrap(), 0);

        // The device knows the server has the whole history: an edit queues one change, not all.
        fresh.replica.update(edited, &[("phone", "333".into())]).await.unwrap();
        assert_eq!(fresh.replica.outbox_len().await.unwrap(), 1);
        fresh = fresh.reopen(dirs[2].path()).await;
        fresh.sync().await;
        anna.sync().await;
        assert_eq!(fresh.replica.outbox_len().await.unwrap(), 0);
        assert_eq!(fresh.replica.heads(edited).await, server.heads(edited).await);
        assert_eq!(anna.replica.get(edited).await.unwrap().get("phone"), &Value::from("333"));
    }
}

storage_test! {
    /// A device that holds a record with nothing the server lacks stores later chunks, or the compacted
    /// document, as they come (appended to its document, listed by the server's listing) without
    /// loading anything; a record with edits of its own is still merged, and nothing is lost either way.
    async fn a_settled_device_stores_later_chunks_without_merging(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut anna = Device::login_durable(&server.url, "anna@x.test", dirs[0].path()).await;
        let mut ben = Device::login_durable(&server.url, "ben@x.test", dirs[1].path()).await;
        let quiet = anna.replica.create("customer", &customer("Quiet", "North")).await.unwrap();
        let busy = anna.replica.create("customer", &customer("Busy", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;

        // Two later chunks of `quiet` in one pull, and a conflict: appended and listed as sent.
        anna.replica.update(quiet, &[("phone", "111".into())]).await.unwrap();
        anna.sync().await;
        anna.replica.update(quiet, &[("city", "Lyon".into())]).await.unwrap();
        anna.sync().await;
        let report = ben.sync().await;
        assert_eq!((report.pulled_docs, report.merged_docs), (1, 0));
        assert_eq!(ben.replica.heads(quiet).await, server.heads(quiet).await);
        assert_eq!(ben.replica.get(quiet).await.unwrap(), anna.replica.get(quiet).await.unwrap());
        let (mine, theirs) = (ben.replica.info(quiet).await.unwrap(), anna.replica.info(quiet).await.unwrap());
        assert_eq!((&mine.fields, &mine.conflicts), (&theirs.fields, &theirs.conflicts));

        // An edit after the append queues one change (the device knows the server has the rest), and
        // survives a restart.
        ben.replica.update(quiet, &[("notes", "call first".into())]).await.unwrap();
        assert_eq!(ben.replica.outbox_len().await.unwrap(), 1);
        ben = ben.reopen(dirs[1].path()).await;
        // Meanwhile Anna edits the same record. Ben pulls before he pushes: his copy holds a change
        // the server lacks, so the arriving chunk is merged, and both edits end everywhere.
        anna.replica.update(quiet, &[("email", "q@x.test".into())]).await.unwrap();
        anna.sync().await;
        let mut report = fieldsync_sdk::SyncReport::default();
        ben.replica.pull(&ben.client, &mut report, &mut |_| {}).await.unwrap();
        assert_eq!((report.pulled_docs, report.merged_docs), (1, 1));
        assert_eq!(ben.replica.outbox_len().await.unwrap(), 1);
        ben.sync().await;
        anna.sync().await;
        assert_eq!(ben.replica.outbox_len().await.unwrap(), 0);
        let p = anna.replica.get(quiet).await.unwrap();
        assert_eq!(p, ben.replica.get(quiet).await.unwrap());
        assert_eq!(p.get("notes"), &Value::from("call first"));
        assert_eq!(p.get("email"), &Value::from("q@x.test"));

        // Enough edits that the server compacts `busy`: the snapshot arrives whole and is appended to
        // Ben's settled copy.
        for round in 0..=fieldsync_server::sync::decide::COMPACT_AFTER_CHUNKS {
            anna.replica.update(busy, &[("phone", Value::Str(format!("{round}")))]).await.unwrap();
            anna.sync().await;
        }
        let report = ben.sync().await;
        assert_eq!(report.merged_docs, 0, "{report:?}");
        for id in [quiet, busy] {
            assert_eq!(ben.replica.heads(id).await, server.heads(id).await);
            assert_eq!(ben.replica.get(id).await.unwrap(), anna.replica.get(id).await.unwrap());
        }
        ben.replica.update(busy, &[("city", "Nice".into())]).await.unwrap();
        assert_eq!(ben.replica.outbox_len().await.unwrap(), 1);
        ben.sync().await;
        anna.sync().await;
        assert_eq!(anna.replica.get(busy).await.unwrap().get("city"), &Value::from("Nice"));
        assert_eq!(anna.replica.heads(busy).await, server.heads(busy).await);
    }
}

storage_test! {
    /// A server newer than the app may hold records of a kind the app does not know. A device keeps
    /// them as they arrive, in a first sync and in later pulls, so that its feed goes on and it holds
    /// every record of its scope (verified with the server), but it neither reads nor edits them.
    async fn a_device_keeps_records_of_a_kind_it_does_not_know(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut anna = Device::login_durable(&server.url, "anna@x.test", dirs[0].path()).await;
        let mut held = Device::login_durable(&server.url, "anna@x.test", dirs[1].path()).await;
        let known = anna.replica.create("customer", &customer("Known", "North")).await.unwrap();
        anna.sync().await;
        held.sync().await;
        let newer = anna.replica.create("customer", &customer("Newer", "North")).await.unwrap();
        anna.sync().await;
        anna.replica.update(newer, &[("phone", "111".into())]).await.unwrap();
        anna.sync().await;
        // What a newer server would hold: a record of a kind this build has never heard of.
        let conn = &server.state.db.conn;
        conn.execute(sea_orm::Statement::from_sql_and_values(
            conn.get_database_backend(),
            match db.is_postgres() {
                true => "UPDATE documents SET kind = 'route_plan' WHERE id = $1",
                false => "UPDATE documents SET kind = 'route_plan' WHERE id = ?",
            },
            [newer.into()],
        ))
        .await
        .unwrap();

        // `held` gets the record through the feed, `fresh` through a first sync.
        let mut fresh = Device::login_durable(&server.url, "anna@x.test", dirs[2].path()).await;
        for device in [&mut held, &mut fresh] {
            device.sync().await;
            assert_eq!(device.replica.heads(newer).await, server.heads(newer).await);
            assert_eq!(device.replica.info(newer).await.unwrap().kind, "route_plan");
            let unknown = |e: fieldsync_sdk::Error| {
                matches!(e, fieldsync_sdk::Error::Core(sync_core::Error::UnknownKind(k)) if k == "route_plan")
            };
            assert!(unknown(device.replica.get(newer).await.unwrap_err()));
            assert!(unknown(device.replica.update(newer, &[("phone", "222".into())]).await.unwrap_err()));
            assert_eq!(device.replica.outbox_len().await.unwrap(), 0);
            let listed: Vec<Uuid> = device.replica.list("customer").await.unwrap().iter().map(|r| r.id).collect();
            assert_eq!(listed, vec![known]);
            let verify = device.replica.verify(&device.client).await.unwrap();
            assert!(verify.differing.is_empty() && verify.unknown.is_empty(), "{verify:?}");
        }
        // The records it can read go on syncing around the one it cannot.
        held.replica.update(known, &[("city", "Lyon".into())]).await.unwrap();
        held.sync().await;
        fresh.sync().await;
        assert_eq!(fresh.replica.get(known).await.unwrap().get("city"), &Value::from("Lyon"));
        // Kept across a restart, and readable by a build that knows the kind: the same document.
        fresh = fresh.reopen(dirs[2].path()).await;
        assert_eq!(fresh.replica.heads(newer).await, server.heads(newer).await);
        let doc = fresh.replica.doc(newer).await.unwrap();
        let read = sync_core::record::project(&doc, &sync_core::kinds::CUSTOMER).unwrap();
        assert_eq!(read.get("phone"), &Value::from("111"));
    }
}

storage_test! {
    async fn a_revoked_device_wipes_its_data(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let dir = tempfile::tempdir().unwrap();
        let mut phone = Device::login_durable(&server.url, "anna@x.test", dir.path()).await;
        let laptop = server.device("anna@x.test").await;
        phone.replica.create("customer", &customer("ACME", "North")).await.unwrap();
        phone.sync().await;
        laptop.client.revoke_device(phone.login.device_id).await.unwrap();
        let err = phone.replica.sync(&phone.client).await.unwrap_err();
        assert!(matches!(err, fieldsync_sdk::Error::Wiped), "{err}");
        assert!(phone.replica.ids().await.unwrap().is_empty());
        assert!(phone.replica.session().await.unwrap().is_none());
        // Still wiped after the app restarts.
        let phone = phone.reopen(dir.path()).await;
        assert!(phone.replica.ids().await.unwrap().is_empty());
    }
}

const FIELDS: [&str; 4] = ["phone", "city", "notes", "status"];
const STATUSES: &[&str] = sync_core::kinds::CUSTOMER_STATUSES;

#[derive(Debug, Clone)]
enum Step {
    Edit {
        device: usize,
        record: usize,
        field: usize,
        value: u8,
    },
    Create {
        device: usize,
    },
    Sync {
        device: usize,
    },
    RestartServer,
    RestartDevice {
        device: usize,
    },
}

fn steps(devices: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => (0..devices, 0..10usize, 0..FIELDS.len(), any::<u8>()).prop_map(|(device, record, field, value)| Step::Edit { device, record, field, value }),
        1 => (0..devices).prop_map(|device| Step::Create { device }),
        4 => (0..devices).prop_map(|device| Step::Sync { device }),
        1 => Just(Step::RestartServer),
        1 => (0..devices).prop_map(|device| Step::RestartDevice { device }),
    ];
    proptest::collection::vec(step, 5..35)
}

fn value(field: &str, v: u8) -> Value {
    if field == "status" {
        STATUSES[v as usize % STATUSES.len()].into()
    } else {
        Value::Str(format!("{field}-{v}"))
    }
}

async fn run(db: TestDb, n: usize, script: Vec<Step>) {
    let mut server = TestServer::start(&db).await;
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut devices = Vec::new();
    for dir in &dirs {
        devices.push(Some(
            Device::login_durable(&server.url, "anna@x.test", dir.path()).await,
        ));
    }
    let mut ids: Vec<Uuid> = Vec::new();
    let mut acknowledged: Vec<(Uuid, &'static str, Value)> = Vec::new();
    for step in script {
        match step {
            Step::Edit {
                device,
                record,
                field,
                value: v,
            } => {
                let d = devices[device].as_mut().unwrap();
                // Customers only: the server's rules add conflict records the devices receive.
                let known = d.replica.ids_of("customer").await.unwrap();
                if let Some(id) = known.get(record % known.len().max(1)).copied() {
                    d.replica
                        .update(id, &[(FIELDS[field], value(FIELDS[field], v))])
                        .await
                        .unwrap();
                }
            }
            Step::Create { device } => {
                let d = devices[device].as_mut().unwrap();
                ids.push(
                    d.replica
                        .create("customer", &customer(&format!("C{}", ids.len()), "North"))
                        .await
                        .unwrap(),
                );
            }
            Step::Sync { device } => {
                let d = devices[device].as_mut().unwrap();
                let report = d.sync().await;
                assert!(report.rejected.is_empty(), "{:?}", report.rejected);
                // Whatever this device has, the server acknowledged: remember one field to check later.
                for id in d.replica.ids().await.unwrap() {
                    let p = d.replica.get(id).await.unwrap();
                    if !p.get("phone").is_null() {
                        acknowledged.push((id, "phone", p.get("phone").clone()));
                    }
                }
            }
            Step::RestartServer => {
                server.stop().await;
                server = TestServer::start(&db).await;
                for d in devices.iter_mut().flatten() {
                    d.connect(&server.url);
                }
            }
            Step::RestartDevice { device } => {
                let d = devices[device].take().unwrap();
                devices[device] = Some(d.reopen(dirs[device].path()).await);
            }
        }
    }
    for _ in 0..2 {
        for d in devices.iter_mut().flatten() {
            d.sync().await;
        }
    }
    for id in &ids {
        let heads = server.heads(*id).await;
        assert!(!heads.is_empty(), "record {id} never reached the server");
        for d in devices.iter().flatten() {
            assert_eq!(
                d.replica.heads(*id).await,
                heads,
                "a device differs on {id}"
            );
        }
    }
    // Every value a device held after a successful sync is in the history the server keeps: a
    // later value may win, but the write is there (a conflict loser stays visible to get_all).
    let reference = devices[0].as_ref().unwrap();
    for (id, field, value) in acknowledged {
        let mut doc = reference.replica.doc(id).await.unwrap();
        let history: Vec<Value> = doc
            .get_changes(&[])
            .iter()
            .flat_map(|c| c.decode().operations)
            .filter(|op| matches!(&op.key, automerge::legacy::Key::Map(k) if k.as_str() == field))
            .filter_map(|op| op.primitive_value())
            .filter_map(|v| match v {
                automerge::ScalarValue::Str(s) => Some(Value::Str(s.to_string())),
                _ => None,
            })
            .collect();
        assert!(
            history.contains(&value),
            "an acknowledged {field} of {id} is missing: {value:?}"
        );
    }
}

fn check(postgres: bool) {
    // 3 to 6 devices; every step names one of them.
    let strategy = (3usize..=6, steps(6)).prop_map(|(n, script)| {
        let script: Vec<Step> = script
            .into_iter()
            .map(|s| match s {
                Step::Edit {
                    device,
                    record,
                    field,
                    value,
                } => Step::Edit {
                    device: device % n,
                    record,
                    field,
                    value,
                },
                Step::Create { device } => Step::Create { device: device % n },
                Step::Sync { device } => Step::Sync { device: device % n },
                Step::RestartDevice { device } => Step::RestartDevice { device: device % n },
                Step::RestartServer => Step::RestartServer,
            })
            .collect();
        (n, script)
    });
    fieldsync_e2e::property(postgres, 8, strategy, |db, (n, script)| run(db, n, script));
}

#[test]
fn random_devices_edits_syncs_and_restarts_converge_sqlite() {
    check(false);
}

#[test]
fn random_devices_edits_syncs_and_restarts_converge_postgres() {
    check(true);
}

storage_test! {
    /// A device whose offline work passes what one push may carry still delivers all of it: a
    /// record whose changes pass the operations of a record per push goes in parts, each once the
    /// server holds the part before, and records whose changes pass a push's bytes go in several
    /// pushes. The server runs with lowered limits, which the device is told.
    async fn offline_work_beyond_one_push_arrives_in_parts(db: TestDb) {
        let limits = sync_core::protocol::Limits { max_ops_per_doc: 50_000, max_message_bytes: 512 << 10, ..Default::default() };
        let server = TestServer::start_with(fieldsync_server::Settings { limits, ..db.settings() }).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        anna.replica.set_limits(limits);
        // Six customers whose notes were written (20,000 characters of three bytes each) and
        // cleared three times over: 120,000 operations and about 180 KB each, 1.1 MB in all.
        let mut ids = Vec::new();
        for i in 0..6u32 {
            let id = anna.replica.create("customer", &customer(&format!("Shop {i}"), "North")).await.unwrap();
            for round in 0..3u32 {
                let notes: String = (0..20_000u32).map(|c| char::from_u32(0x4E00 + (c * 7 + i + round) % 20_000).unwrap()).collect();
                anna.replica.update(id, &[("notes", notes.as_str().into())]).await.unwrap();
                anna.replica.update(id, &[("notes", "".into())]).await.unwrap();
            }
            anna.replica.update(id, &[("notes", format!("last visit {i}").as_str().into())]).await.unwrap();
            ids.push(id);
        }
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert!(report.pushed_docs > 6, "records went in parts: {} pushed", report.pushed_docs);
        assert_eq!(anna.replica.outbox_len().await.unwrap(), 0);
        let mut ben = server.device("ben@x.test").await;
        ben.sync().await;
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(ben.replica.heads(*id).await, anna.replica.heads(*id).await);
            assert_eq!(ben.replica.get(*id).await.unwrap().get("notes"), &Value::from(format!("last visit {i}").as_str()));
        }
    }
}
