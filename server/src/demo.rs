//! The demo organisation `serve --demo` seeds on first start: territories, an admin, managers, agents,
//! a few hundred customers with contacts and a small catalogue, written through the same merge path
//! as any device push.

use automerge::ActorId;
use sea_orm::{EntityTrait, PaginatorTrait};
use sync_core::kinds::{CONTACT, CUSTOMER, CUSTOMER_STATUSES, PRODUCT};
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::record;
use sync_core::{Role, Value};
use uuid::Uuid;

use crate::auth::users::add_user;
use crate::db::entities::user;
use crate::db::Db;
use crate::error::Error;
use crate::sync::author::Author;
use crate::sync::engine::SyncEngine;

pub const PASSWORD: &str = "fieldsync-demo";
pub const TERRITORIES: [&str; 4] = ["North", "South", "East", "West"];
const CUSTOMERS_PER_TERRITORY: usize = 75;

/// The demo logins: e-mail, role, territories.
pub const USERS: &[(&str, Role, &[&str])] = &[
    ("admin@demo.fieldsync.dev", Role::Admin, &[]),
    (
        "maria.manager@demo.fieldsync.dev",
        Role::Manager,
        &["North", "East"],
    ),
    (
        "sam.manager@demo.fieldsync.dev",
        Role::Manager,
        &["South", "West"],
    ),
    ("anna.agent@demo.fieldsync.dev", Role::Agent, &["North"]),
    ("ben.agent@demo.fieldsync.dev", Role::Agent, &["North"]),
    ("carla.agent@demo.fieldsync.dev", Role::Agent, &["South"]),
    (
        "dev.agent@demo.fieldsync.dev",
        Role::Agent,
        &["East", "West"],
    ),
];

/// Seeds the demo organisation if the database has no users yet, its records written by the server
/// for the demo admin. Returns whether it seeded.
pub async fn seed(db: &Db, sync: &SyncEngine) -> Result<bool, Error> {
    if user::Entity::find().count(&db.conn).await? > 0 {
        return Ok(false);
    }
    let mut admin = None;
    for (email, role, territories) in USERS {
        let territories: Vec<String> = territories.iter().map(|t| t.to_string()).collect();
        let id = add_user(db, email, *role, PASSWORD, &territories).await?;
        if *role == Role::Admin {
            admin = Some(id);
        }
    }
    for t in TERRITORIES {
        crate::auth::users::ensure_territory(&db.conn, t).await?;
    }
    let admin = admin.ok_or_else(|| Error::Internal("demo has no admin".into()))?;
    let author = Author::server(admin, Role::Admin, vec![], "demo");
    let actor = author
        .server_actor()
        .expect("a server author has an actor of its own")
        .clone();
    let mut docs = Vec::new();
    for (t, territory) in TERRITORIES.iter().enumerate() {
        for i in 0..CUSTOMERS_PER_TERRITORY {
            let n = t * CUSTOMERS_PER_TERRITORY + i + 1;
            let customer_id = Uuid::now_v7();
            let customer = vec![
                (
                    "name",
                    Value::Str(format!(
                        "{} {} {}",
                        PREFIXES[n % PREFIXES.len()],
                        SUFFIXES[n % SUFFIXES.len()],
                        n
                    )),
                ),
                ("territory", (*territory).into()),
                (
                    "phone",
                    Value::Str(format!("+49 30 {:07}", n * 7919 % 10_000_000)),
                ),
                (
                    "email",
                    Value::Str(format!("orders{n}@customer{n}.example")),
                ),
                ("city", (CITIES[t]).into()),
                ("country", "DE".into()),
                ("lat", Value::Float(52.0 + (n % 50) as f64 / 100.0)),
                ("lon", Value::Float(13.0 + (n % 70) as f64 / 100.0)),
                (
                    "status",
                    CUSTOMER_STATUSES[n % CUSTOMER_STATUSES.len()].into(),
                ),
                ("credit_limit", Value::Int(1_000 * (n as i64 % 20 + 1))),
            ];
            docs.push(doc_push(customer_id, &CUSTOMER, actor.clone(), &customer)?);
            if n.is_multiple_of(3) {
                let contact = vec![
                    ("customer_id", Value::Str(customer_id.to_string())),
                    (
                        "name",
                        Value::Str(format!(
                            "{} {}",
                            FIRST[n % FIRST.len()],
                            LAST[n % LAST.len()]
                        )),
                    ),
                    ("title", "Purchasing".into()),
                ];
                docs.push(doc_push(Uuid::now_v7(), &CONTACT, actor.clone(), &contact)?);
            }
        }
    }
    for (n, (name, unit, category)) in CATALOGUE.iter().enumerate() {
        let product = vec![
            ("sku", Value::Str(format!("SKU-{:04}", n + 1))),
            ("name", (*name).into()),
            ("unit", (*unit).into()),
            ("category", (*category).into()),
            ("active", Value::Bool(true)),
        ];
        docs.push(doc_push(Uuid::now_v7(), &PRODUCT, actor.clone(), &product)?);
    }
    for batch in docs.chunks(200) {
        let response = crate::sync::push::push(
            sync,
            &author,
            PushRequest {
                docs: batch.to_vec(),
                checkpoint: 0,
            },
        )
        .await?;
        if let Some(bad) = response
            .results
            .iter()
            .find(|r| r.status != PushStatus::Applied)
        {
            return Err(Error::Internal(format!(
                "demo record {} was not applied: {:?}",
                bad.id, bad.reason
            )));
        }
    }
    Ok(true)
}

fn doc_push(
    id: Uuid,
    kind: &'static sync_core::KindSchema,
    actor: ActorId,
    fields: &[(&str, Value)],
) -> Result<DocPush, Error> {
    let mut doc = record::create(kind, actor, fields)?;
    let changes = doc
        .get_changes(&[])
        .into_iter()
        .map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec()))
        .collect();
    Ok(DocPush {
        id,
        kind: kind.name.to_string(),
        base_heads: vec![],
        changes,
    })
}

const PREFIXES: &[&str] = &[
    "Alpine", "Baltic", "Central", "Delta", "Echo", "Falcon", "Granite", "Harbor",
];
const SUFFIXES: &[&str] = &[
    "Foods",
    "Hardware",
    "Pharma",
    "Textiles",
    "Logistics",
    "Bakery",
    "Motors",
];
/// The company's catalogue: name, unit, category.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    ("Espresso beans", "kg", "Coffee"),
    ("Filter coffee", "kg", "Coffee"),
    ("Oat milk", "carton", "Dairy alternatives"),
    ("Whole milk", "carton", "Dairy"),
    ("Paper cups 300 ml", "box of 1,000", "Packaging"),
    ("Cup lids", "box of 1,000", "Packaging"),
    ("Croissant, frozen", "box of 60", "Bakery"),
    ("Sugar sticks", "box of 500", "Dry goods"),
    ("Cleaning tablets", "tub of 100", "Machine care"),
    ("Descaler", "bottle", "Machine care"),
    ("Chai syrup", "bottle", "Syrups"),
    ("Vanilla syrup", "bottle", "Syrups"),
];
const CITIES: [&str; 4] = ["Hamburg", "Munich", "Dresden", "Cologne"];
const FIRST: &[&str] = &["Jonas", "Lea", "Mehmet", "Sofia", "Paul", "Mia"];
const LAST: &[&str] = &["Becker", "Schulz", "Yilmaz", "Wagner", "Hoffmann"];
