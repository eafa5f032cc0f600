//! Property test: several devices make random offline edits to shared records and sync in random
//! interleavings and batch sizes; in the end every device and the server hold identical documents,
//! and the server's projection equals the document.

use fieldsync_e2e::{customer, Device, TestDb, TestServer};
use proptest::prelude::*;
use sync_core::{Role, Value};
use uuid::Uuid;

const DEVICES: usize = 3;
const FIELDS: [&str; 5] = ["phone", "city", "email", "notes", "status"];
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
        batch: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..DEVICES, 0..8usize, 0..FIELDS.len(), any::<u8>()).prop_map(|(device, record, field, value)| Step::Edit { device, record, field, value }),
        1 => (0..DEVICES).prop_map(|device| Step::Create { device }),
        3 => (0..DEVICES, 1..4usize).prop_map(|(device, batch)| Step::Sync { device, batch }),
    ]
}

fn value(field: &str, v: u8) -> Value {
    match field {
        "email" => Value::Str(format!("buyer{v}@acme.test")),
        "status" => STATUSES[v as usize % STATUSES.len()].into(),
        _ => Value::Str(format!("{field}-{v}")),
    }
}

async fn run(db: TestDb, steps: Vec<Step>) {
    let server = TestServer::start(&db).await;
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    server.user("ben@x.test", Role::Agent, &["North"]).await;
    server.user("maria@x.test", Role::Manager, &["North"]).await;
    let mut devices = Vec::new();
    for email in ["anna@x.test", "ben@x.test", "maria@x.test"] {
        devices.push(server.device(email).await);
    }
    let mut ids: Vec<Uuid> = Vec::new();
    for i in 0..3 {
        ids.push(
            devices[0]
                .replica
                .create("customer", &customer(&format!("C{i}"), "North"))
                .await
                .unwrap(),
        );
    }
    for d in devices.iter_mut() {
        d.sync().await;
    }
    for step in steps {
        match step {
            Step::Edit {
                device,
                record,
                field,
                value: v,
            } => {
                let d: &mut Device = &mut devices[device];
                let id = ids[record % ids.len()];
                if d.replica.ids().await.unwrap().contains(&id) {
                    d.replica
                        .update(id, &[(FIELDS[field], value(FIELDS[field], v))])
                        .await
                        .unwrap();
                }
            }
            Step::Create { device } => {
                let n = ids.len();
                ids.push(
                    devices[device]
                        .replica
                        .create("customer", &customer(&format!("C{n}"), "North"))
                        .await
                        .unwrap(),
                );
            }
            Step::Sync { device, batch } => {
                devices[device].replica.set_batch_size(batch);
                let report = devices[device].sync().await;
                assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            }
        }
    }
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.sync().await;
        }
    }
    for id in &ids {
        let server_heads = server.heads(*id).await;
        let columns = server.projected("customers", *id, &FIELDS).await;
        for d in devices.iter_mut() {
            assert_eq!(
                d.replica.heads(*id).await,
                server_heads,
                "device and server differ on {id}"
            );
            let p = d.replica.get(*id).await.unwrap();
            let device_columns: Vec<Option<String>> = FIELDS
                .iter()
                .map(|f| p.get(f).as_str().map(str::to_string))
                .collect();
            // An empty text field is projected as an empty string.
            let normalise = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
            assert_eq!(
                columns.iter().map(normalise).collect::<Vec<_>>(),
                device_columns.iter().map(normalise).collect::<Vec<_>>()
            );
        }
    }
}

fn check(postgres: bool) {
    fieldsync_e2e::property(postgres, 12, proptest::collection::vec(step(), 5..40), run);
}

#[test]
fn random_offline_edits_converge_sqlite() {
    check(false);
}

#[test]
fn random_offline_edits_converge_postgres() {
    check(true);
}
