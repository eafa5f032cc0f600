//! The demo organisation `serve --demo` seeds on first start: territories, an admin, managers, agents,
//! a few hundred customers with contacts, the company's settings, a small catalogue, visit types and
//! tier policies, and a few
//! weeks of visits, opportunities, payments and tickets, written through the same merge path as any
//! device push.

use automerge::ActorId;
use sea_orm::{EntityTrait, PaginatorTrait};
use sync_core::kinds::{
    COMPANY_SIZES, CONTACT, CUSTOMER, CUSTOMER_STATUSES, OPPORTUNITY, OPPORTUNITY_STAGES, PAYMENT,
    PAYMENT_METHODS, PRODUCT, SETTINGS, TICKET, TICKET_CATEGORIES, TIER_POLICY, VISIT, VISIT_TYPE,
};
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
pub const CUSTOMERS_PER_TERRITORY: usize = 75;
/// Of a territory's customers (numbered from 0), every third has a contact, every fourth an
/// opportunity, every sixth a payment and every tenth a ticket; each has two visits, one done and one
/// planned.
pub const VISITS_PER_CUSTOMER: usize = 2;
pub const CONTACT_EVERY: usize = 3;
pub const OPPORTUNITY_EVERY: usize = 4;
pub const PAYMENT_EVERY: usize = 6;
pub const TICKET_EVERY: usize = 10;
/// The company's currency.
pub const CURRENCY: &str = "EUR";
const DAY_MS: i64 = 86_400_000;

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
    let now = crate::db::now_ms();
    for (t, territory) in TERRITORIES.iter().enumerate() {
        for i in 0..CUSTOMERS_PER_TERRITORY {
            let n = t * CUSTOMERS_PER_TERRITORY + i + 1;
            let customer_id = Uuid::now_v7();
            let (lat, lon) = (
                52.0 + (n % 50) as f64 / 100.0,
                13.0 + (n % 70) as f64 / 100.0,
            );
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
                ("code", Value::Str(format!("C{n:05}"))),
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
                ("lat", Value::Float(lat)),
                ("lon", Value::Float(lon)),
                (
                    "status",
                    CUSTOMER_STATUSES[n % CUSTOMER_STATUSES.len()].into(),
                ),
                ("industry", SUFFIXES[n % SUFFIXES.len()].into()),
                ("size", COMPANY_SIZES[n % COMPANY_SIZES.len()].into()),
                // Roughly a Pareto spread: a fifth A, a third B, the rest C.
                ("tier", ["A", "B", "B", "C", "C"][i % 5].into()),
                ("payment_terms_days", Value::Int(30)),
                ("credit_limit", Value::Int(1_000 * (n as i64 % 20 + 1))),
            ];
            docs.push(doc_push(customer_id, &CUSTOMER, actor.clone(), &customer)?);
            let parent = || ("customer_id", Value::Str(customer_id.to_string()));
            if i % CONTACT_EVERY == CONTACT_EVERY - 1 {
                let contact = vec![
                    parent(),
                    (
                        "name",
                        Value::Str(format!(
                            "{} {}",
                            FIRST[n % FIRST.len()],
                            LAST[n % LAST.len()]
                        )),
                    ),
                    ("title", "Purchasing".into()),
                    ("decision_maker", Value::Bool(true)),
                ];
                docs.push(doc_push(Uuid::now_v7(), &CONTACT, actor.clone(), &contact)?);
            }
            // A visit done in the last four weeks, checked in at the door, and one planned for the
            // coming week.
            let done = now - (1 + (n as i64 % 28)) * DAY_MS;
            let visit = vec![
                parent(),
                ("visit_type", VISIT_TYPES[0].0.into()),
                ("status", "completed".into()),
                ("planned_start", Value::Int(done)),
                ("check_in_at", Value::Int(done + 300_000)),
                ("check_in_lat", Value::Float(lat + 0.0001)),
                ("check_in_lon", Value::Float(lon)),
                ("check_in_accuracy_m", Value::Float(8.0)),
                ("check_in_distance_m", Value::Float(11.1)),
                ("check_in_result", "verified".into()),
                ("check_out_at", Value::Int(done + 1_800_000)),
                ("outcome", "Order discussed".into()),
            ];
            docs.push(doc_push(Uuid::now_v7(), &VISIT, actor.clone(), &visit)?);
            let planned = now + (1 + (n as i64 % 7)) * DAY_MS;
            let visit = vec![
                parent(),
                ("visit_type", VISIT_TYPES[0].0.into()),
                ("status", "planned".into()),
                ("planned_start", Value::Int(planned)),
                ("planned_end", Value::Int(planned + 1_800_000)),
            ];
            docs.push(doc_push(Uuid::now_v7(), &VISIT, actor.clone(), &visit)?);
            if i % OPPORTUNITY_EVERY == 0 {
                let opportunity = vec![
                    parent(),
                    ("title", Value::Str(format!("Coffee programme {n}"))),
                    (
                        "stage",
                        OPPORTUNITY_STAGES[n % OPPORTUNITY_STAGES.len()].into(),
                    ),
                    ("amount", Value::Int(50_000 * (n as i64 % 9 + 1))),
                    ("probability", Value::Int(10 * (n as i64 % 10))),
                    ("expected_close", Value::Int(now + (n as i64 % 60) * DAY_MS)),
                ];
                docs.push(doc_push(
                    Uuid::now_v7(),
                    &OPPORTUNITY,
                    actor.clone(),
                    &opportunity,
                )?);
            }
            if i % PAYMENT_EVERY == 0 {
                let payment = vec![
                    parent(),
                    ("amount", Value::Int(10_000 + 2_500 * (n as i64 % 12))),
                    ("currency", CURRENCY.into()),
                    ("collected_at", Value::Int(done + 1_500_000)),
                    ("method", PAYMENT_METHODS[n % PAYMENT_METHODS.len()].into()),
                    ("lat", Value::Float(lat)),
                    ("lon", Value::Float(lon)),
                ];
                docs.push(doc_push(Uuid::now_v7(), &PAYMENT, actor.clone(), &payment)?);
            }
            if i % TICKET_EVERY == 0 {
                let resolved = n.is_multiple_of(2);
                let mut ticket = vec![
                    parent(),
                    ("subject", "Grinder makes a noise".into()),
                    (
                        "category",
                        TICKET_CATEGORIES[n % TICKET_CATEGORIES.len()].into(),
                    ),
                    ("severity", "medium".into()),
                    ("status", if resolved { "resolved" } else { "open" }.into()),
                    ("opened_at", Value::Int(done)),
                ];
                if resolved {
                    ticket.extend([
                        ("resolved_at", Value::Int(done + 2 * DAY_MS)),
                        ("resolution", "Burrs replaced".into()),
                        ("satisfaction", Value::Int(4)),
                        ("expectation", Value::Int(5)),
                    ]);
                }
                docs.push(doc_push(Uuid::now_v7(), &TICKET, actor.clone(), &ticket)?);
            }
        }
    }
    let settings = vec![
        ("currency", CURRENCY.into()),
        ("agent_discount_limit_bp", Value::Int(1_000)),
        ("manager_discount_limit_bp", Value::Int(2_500)),
    ];
    docs.push(doc_push(
        Uuid::now_v7(),
        &SETTINGS,
        actor.clone(),
        &settings,
    )?);
    for (name, geofence, radius) in VISIT_TYPES {
        let visit_type = vec![
            ("name", (*name).into()),
            ("geofence", (*geofence).into()),
            ("radius_m", Value::Float(*radius)),
            ("require_checkout", Value::Bool(true)),
            ("active", Value::Bool(true)),
        ];
        docs.push(doc_push(
            Uuid::now_v7(),
            &VISIT_TYPE,
            actor.clone(),
            &visit_type,
        )?);
    }
    for (tier, visits, days) in TIER_POLICIES {
        let policy = vec![
            ("tier", (*tier).into()),
            ("visits_per_period", Value::Int(*visits)),
            ("period_days", Value::Int(*days)),
        ];
        docs.push(doc_push(
            Uuid::now_v7(),
            &TIER_POLICY,
            actor.clone(),
            &policy,
        )?);
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
/// Visit types: name, geofence mode, radius in metres.
pub const VISIT_TYPES: &[(&str, &str, f64)] = &[
    ("Sales call", "soft", 200.0),
    ("Delivery", "hard", 100.0),
    ("Phone follow-up", "off", 0.0),
];
/// Tier policies: tier, visits per period, period in days.
pub const TIER_POLICIES: &[(&str, i64, i64)] = &[("A", 4, 28), ("B", 2, 28), ("C", 1, 56)];
const CITIES: [&str; 4] = ["Hamburg", "Munich", "Dresden", "Cologne"];
const FIRST: &[&str] = &["Jonas", "Lea", "Mehmet", "Sofia", "Paul", "Mia"];
const LAST: &[&str] = &["Becker", "Schulz", "Yilmaz", "Wagner", "Hoffmann"];
