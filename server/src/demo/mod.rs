//! The demo organisation `serve --demo` seeds on first start: territories, an admin, managers, agents,
//! a few hundred customers with contacts, the company's settings, a catalogue with prices and a key
//! accounts' price list, visit types and tier policies, tasks, sales targets, leads and a campaign, and a few weeks of
//! visits, orders, opportunities, payments and tickets, written through the same merge path as any device push;
//! and years of history up to today (`history.rs`) for the reports.
//! Orders are taken as their territory's agent takes them, so the rules after a merge hold the
//! ones that need a manager's approval, with their alerts, as they would in the field.

use automerge::ActorId;
use sea_orm::{EntityTrait, PaginatorTrait};
use sync_core::kinds::{
    CAMPAIGN, COMPANY_SIZES, CONTACT, CUSTOMER, CUSTOMER_STATUSES, LEAD, LEAD_SOURCES, OPPORTUNITY,
    OPPORTUNITY_STAGES, ORDER, PAYMENT, PAYMENT_METHODS, PRICE_LIST, PRODUCT, PRODUCT_COST,
    SALES_TARGET, SETTINGS, TASK, TICKET, TICKET_CATEGORIES, TIER_POLICY, VISIT, VISIT_TYPE,
};
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::{orders, record};
use sync_core::{Item, Role, Value};
use uuid::Uuid;

mod history;
mod scale;

pub use scale::scale;

use crate::auth::users::add_user;
use crate::crm::rules::{self, Pusher};
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
/// Every second customer has a delivered order (paid where the customer has a payment), and every
/// `HELD_EVERY`-th a submitted order with a discount past the agents' limit, which the rules hold
/// for a manager with an alert.
pub const ORDER_EVERY: usize = 2;
pub const HELD_EVERY: usize = 25;
/// Each territory has tasks for its first agent (one overdue, one due today, one next week) and a
/// month's revenue and visits targets.
pub const TASKS_PER_TERRITORY: usize = 3;
pub const TARGETS_PER_TERRITORY: usize = 2;
/// Each territory has leads met over the last four months, one every 13 days; the older ones
/// worked to an end, converted into one of the territory's customers or disqualified.
pub const LEADS_PER_TERRITORY: usize = LEAD_PATH.len();
/// A campaign of the last three weeks and the next one names every `CAMPAIGN_EVERY`-th customer
/// (half the key accounts): the other key accounts are its comparable group. Their delivered
/// orders of its weeks name it.
pub const CAMPAIGN_EVERY: usize = 10;
const CAMPAIGN_DAYS: (i64, i64) = (21, 9);
/// The demo leads' statuses, from the most recently met.
const LEAD_PATH: [&str; 10] = [
    "new",
    "working",
    "new",
    "qualified",
    "converted",
    "disqualified",
    "converted",
    "working",
    "converted",
    "disqualified",
];
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
/// for the demo admin, with `years` of history up to today, and checks its customers for
/// duplicates. Returns whether it seeded.
pub async fn seed(db: &Db, sync: &SyncEngine, years: u32) -> Result<bool, Error> {
    if user::Entity::find().count(&db.conn).await? > 0 {
        return Ok(false);
    }
    let mut admin = None;
    // Each territory's first agent, who its tasks are for.
    let mut first_agent: Vec<Option<Uuid>> = vec![None; TERRITORIES.len()];
    // Every territory's agents, for the history.
    let mut agents: Vec<Vec<Uuid>> = vec![Vec::new(); TERRITORIES.len()];
    for (email, role, territories) in USERS {
        let names: Vec<String> = territories.iter().map(|t| t.to_string()).collect();
        let id = add_user(db, email, *role, PASSWORD, &names).await?;
        if *role == Role::Admin {
            admin = Some(id);
        }
        if *role == Role::Agent {
            for t in *territories {
                if let Some(k) = TERRITORIES.iter().position(|name| name == t) {
                    first_agent[k].get_or_insert(id);
                    agents[k].push(id);
                }
            }
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
    let mut orders = Vec::new();
    let now = crate::db::now_ms();
    let products: Vec<Uuid> = CATALOGUE.iter().map(|_| Uuid::now_v7()).collect();
    let price_list_id = Uuid::now_v7();
    let mut customers = Vec::new();
    let campaign_id = Uuid::now_v7();
    let campaign_start = now - CAMPAIGN_DAYS.0 * DAY_MS;
    let mut campaign_customers = Vec::new();
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
                ("credit_limit", Value::Int(500_000 * (n as i64 % 20 + 1))),
            ];
            let mut customer = customer;
            // Every tier-A customer buys at the key accounts' prices.
            if i % 5 == 0 {
                customer.push(("price_list_id", Value::Str(price_list_id.to_string())));
            }
            docs.push(doc_push(customer_id, &CUSTOMER, actor.clone(), &customer)?);
            let in_campaign = i % CAMPAIGN_EVERY == 0;
            if in_campaign {
                campaign_customers.push(Item::new([(
                    "customer_id",
                    Value::Str(customer_id.to_string()),
                )]));
            }
            if n == 1 {
                // The first customer entered a second time, as agents do offline: the name spelt
                // another way, the phone written another way, the position a few metres off. The
                // duplicate check finds the pair for a manager.
                let twin = vec![
                    (
                        "name",
                        Value::Str(format!(
                            "{} {} {n} GmbH",
                            PREFIXES[n % PREFIXES.len()].to_uppercase(),
                            SUFFIXES[n % SUFFIXES.len()]
                        )),
                    ),
                    ("territory", (*territory).into()),
                    (
                        "phone",
                        Value::Str(format!("030 {:07}", n * 7919 % 10_000_000)),
                    ),
                    ("city", (CITIES[t]).into()),
                    ("lat", Value::Float(lat + 0.0001)),
                    ("lon", Value::Float(lon)),
                    ("status", "prospect".into()),
                ];
                docs.push(doc_push(Uuid::now_v7(), &CUSTOMER, actor.clone(), &twin)?);
            }
            customers.push(history::Customer {
                id: customer_id,
                territory: t,
                tier: ["A", "B", "B", "C", "C"][i % 5],
                key_account: i % 5 == 0,
                payment_terms_days: 30,
                lat,
                lon,
            });
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
            let key_account = i % 5 == 0;
            let mut delivered = None;
            if i % ORDER_EVERY == 0 {
                let (order_id, mut order, total) = demo_order(
                    customer_id,
                    first_agent[t],
                    &products,
                    n,
                    key_account,
                    done,
                    None,
                )?;
                if in_campaign && done >= campaign_start {
                    order.push(("campaign_id", Value::Str(campaign_id.to_string())));
                }
                orders.push(doc_push(order_id, &ORDER, actor.clone(), &order)?);
                delivered = Some((order_id, total));
            }
            if i % HELD_EVERY == HELD_EVERY - 1 {
                let (order_id, order, _) = demo_order(
                    customer_id,
                    first_agent[t],
                    &products,
                    n,
                    key_account,
                    now,
                    Some(1_500),
                )?;
                orders.push(doc_push(order_id, &ORDER, actor.clone(), &order)?);
            }
            if i % PAYMENT_EVERY == 0 {
                let mut payment = vec![
                    parent(),
                    ("amount", Value::Int(10_000 + 2_500 * (n as i64 % 12))),
                    ("currency", CURRENCY.into()),
                    ("collected_at", Value::Int(done + 1_500_000)),
                    ("method", PAYMENT_METHODS[n % PAYMENT_METHODS.len()].into()),
                    ("lat", Value::Float(lat)),
                    ("lon", Value::Float(lon)),
                ];
                // The customer pays its delivered order in full.
                if let Some((order_id, total)) = delivered {
                    payment[1] = ("amount", Value::Int(total));
                    payment.push((
                        "allocations",
                        Value::Items(vec![Item::new([
                            ("order_id", Value::Str(order_id.to_string())),
                            ("amount", Value::Int(total)),
                        ])]),
                    ));
                }
                orders.push(doc_push(Uuid::now_v7(), &PAYMENT, actor.clone(), &payment)?);
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
    for (t, territory) in TERRITORIES.iter().enumerate() {
        for (k, (title, due_in_days)) in [
            ("Call back about the autumn listing", -2),
            ("Collect the signed delivery note", 0),
            ("Bring samples of the new blend", 7),
        ]
        .into_iter()
        .enumerate()
        .take(TASKS_PER_TERRITORY)
        {
            let mut task = vec![
                ("territory", Value::from(*territory)),
                ("title", title.into()),
                ("status", "open".into()),
                ("priority", ["high", "normal", "low"][k].into()),
                ("due_at", Value::Int(now + due_in_days * DAY_MS)),
            ];
            if let Some(agent) = first_agent[t] {
                task.push(("assignee_id", Value::Str(agent.to_string())));
            }
            docs.push(doc_push(Uuid::now_v7(), &TASK, actor.clone(), &task)?);
        }
        for (metric, value) in [("revenue", 2_500_000), ("visits", 120)]
            .into_iter()
            .take(TARGETS_PER_TERRITORY)
        {
            let target = vec![
                ("territory", Value::from(*territory)),
                ("metric", metric.into()),
                ("value", Value::Int(value)),
                ("period_start", Value::Int(now - 15 * DAY_MS)),
                ("period_end", Value::Int(now + 15 * DAY_MS)),
            ];
            docs.push(doc_push(
                Uuid::now_v7(),
                &SALES_TARGET,
                actor.clone(),
                &target,
            )?);
        }
        let own: Vec<Uuid> = customers
            .iter()
            .filter(|c| c.territory == t)
            .map(|c| c.id)
            .collect();
        for (k, status) in LEAD_PATH.iter().enumerate() {
            let n = t * LEADS_PER_TERRITORY + k;
            let met = now - (k as i64 * 13 + 2) * DAY_MS;
            let mut lead = vec![
                (
                    "name",
                    Value::Str(format!(
                        "{} {}",
                        FIRST[(n + 3) % FIRST.len()],
                        LAST[(n + 5) % LAST.len()]
                    )),
                ),
                (
                    "company",
                    Value::Str(format!(
                        "{} {} {}",
                        PREFIXES[(n + 2) % PREFIXES.len()],
                        SUFFIXES[(n + 1) % SUFFIXES.len()],
                        900 + n
                    )),
                ),
                ("territory", (*territory).into()),
                ("status", (*status).into()),
                ("source", LEAD_SOURCES[n % LEAD_SOURCES.len()].into()),
                ("city", (CITIES[t]).into()),
                ("captured_at", Value::Int(met)),
                (
                    "phone",
                    Value::Str(format!("+49 170 {:07}", (n + 11) * 6007 % 10_000_000)),
                ),
            ];
            if let Some(owner) = agents[t].get(k % agents[t].len().max(1)) {
                lead.push(("owner_id", Value::Str(owner.to_string())));
            }
            match *status {
                "converted" => {
                    lead.push(("converted_at", Value::Int(met + 9 * DAY_MS)));
                    if let Some(customer) = own.get(k) {
                        lead.push(("customer_id", Value::Str(customer.to_string())));
                    }
                }
                "disqualified" => {
                    lead.push(("disqualified_reason", "No longer trading".into()));
                }
                _ => {}
            }
            docs.push(doc_push(Uuid::now_v7(), &LEAD, actor.clone(), &lead)?);
        }
    }
    let mut prices = Vec::new();
    for (n, (name, unit, category, price, tax)) in CATALOGUE.iter().enumerate() {
        let product = vec![
            ("sku", Value::Str(sku(n))),
            ("name", (*name).into()),
            ("unit", (*unit).into()),
            ("category", (*category).into()),
            ("active", Value::Bool(true)),
            ("list_price", Value::Int(*price)),
            ("tax_bp", Value::Int(*tax)),
        ];
        let cost = [
            ("product_id", Value::Str(products[n].to_string())),
            ("unit_cost", Value::Int(price * 6 / 10)),
        ];
        docs.push(doc_push(
            Uuid::now_v7(),
            &PRODUCT_COST,
            actor.clone(),
            &cost,
        )?);
        // Key accounts pay 10% less, and 15% less from ten units.
        let product_id = products[n].to_string();
        prices.push(Item::new([
            ("product_id", Value::Str(product_id.clone())),
            ("unit_price", Value::Int(price * 9 / 10)),
        ]));
        prices.push(Item::new([
            ("product_id", Value::Str(product_id)),
            ("min_quantity", Value::Int(10_000)),
            ("unit_price", Value::Int(price * 85 / 100)),
        ]));
        docs.push(doc_push(products[n], &PRODUCT, actor.clone(), &product)?);
    }
    let price_list = vec![
        ("name", "Key accounts".into()),
        ("currency", CURRENCY.into()),
        ("active", Value::Bool(true)),
        ("prices", Value::Items(prices)),
    ];
    docs.push(doc_push(
        price_list_id,
        &PRICE_LIST,
        actor.clone(),
        &price_list,
    )?);
    push_all(sync, &author, docs).await?;
    let campaign = vec![
        ("name", "Spring tasting".into()),
        ("campaign_type", "promotion".into()),
        ("status", "active".into()),
        ("channel", "visit".into()),
        ("starts_at", Value::Int(campaign_start)),
        ("ends_at", Value::Int(now + CAMPAIGN_DAYS.1 * DAY_MS)),
        ("budget", Value::Int(250_000)),
        ("visit_type", VISIT_TYPES[0].0.into()),
        ("asks", "Offer a tasting of the two new blends".into()),
        ("customers", Value::Items(campaign_customers)),
        (
            "products",
            Value::Items(
                products[..2]
                    .iter()
                    .map(|p| Item::new([("product_id", Value::Str(p.to_string()))]))
                    .collect(),
            ),
        ),
    ];
    // As a manager writes it, so that the rules make its members and their tasks.
    let request = PushRequest {
        docs: vec![doc_push(campaign_id, &CAMPAIGN, actor.clone(), &campaign)?],
        checkpoint: 0,
    };
    let admin_pushes = Pusher {
        user_id: admin,
        role: Role::Admin,
        purpose: None,
    };
    let (response, pushed) =
        crate::sync::push::push_written(sync, &author, request, admin_pushes).await?;
    all_applied(&response.results)?;
    rules::after_push(sync, pushed).await;
    // Years of history, as the server's own records (with the fields its rules would have
    // written).
    let system = Author::system("demo");
    let territories: Vec<String> = TERRITORIES.iter().map(|t| t.to_string()).collect();
    let past = history::history(
        &history::Company {
            territories: &territories,
            customers: &customers,
            agents: &agents,
            products: &products,
            now,
            years,
            seed: 0,
        },
        system
            .server_actor()
            .expect("the system author has an actor"),
    )?;
    push_all(sync, &system, past).await?;
    // Orders and payments as the agents take them, so that the rules hold what needs a manager.
    let agent = user::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .find(|u| u.role == Role::Agent.as_str())
        .ok_or_else(|| Error::Internal("demo has no agent".into()))?;
    let by = Pusher {
        user_id: agent.id,
        role: Role::Agent,
        purpose: None,
    };
    for batch in orders.chunks(200) {
        let request = PushRequest {
            docs: batch.to_vec(),
            checkpoint: 0,
        };
        let (response, pushed) =
            crate::sync::push::push_written(sync, &author, request, by).await?;
        all_applied(&response.results)?;
        rules::after_push(sync, pushed).await;
    }
    // The customers were written as the server's own records, which the rules (and with them the
    // duplicate check) do not look at: one scan finds the pair the demo entered twice.
    crate::crm::duplicates::scan(db).await?;
    Ok(true)
}

/// An order of a few lines of the catalogue, priced as the device prices it: the key accounts'
/// list (10% off) or the list price. Delivered when no `discount_bp` is given; else submitted now
/// with that discount on its first line. Returns its id, fields and total.
fn demo_order(
    customer_id: Uuid,
    agent: Option<Uuid>,
    products: &[Uuid],
    n: usize,
    key_account: bool,
    at: i64,
    discount_bp: Option<i64>,
) -> Result<(Uuid, Fields, i64), Error> {
    let mut lines: Vec<Item> = (0..2 + n % 3)
        .map(|k| {
            let p = (n + 3 * k) % CATALOGUE.len();
            let price = CATALOGUE[p].3;
            let unit_price = if key_account { price * 9 / 10 } else { price };
            let discount = if k == 0 { discount_bp.unwrap_or(0) } else { 0 };
            Item::new([
                ("product_id", Value::Str(products[p].to_string())),
                ("sku", Value::Str(sku(p))),
                ("quantity", Value::Int(1_000 * (1 + (n + k) as i64 % 6))),
                ("unit_price", Value::Int(unit_price)),
                ("discount_bp", Value::Int(discount)),
                ("tax_bp", Value::Int(CATALOGUE[p].4)),
            ])
        })
        .collect();
    // In the order the record reads them.
    lines.sort_by(|a, b| a.id.cmp(&b.id));
    let totals = orders::lines_totals(&lines, 0)
        .map_err(|e| Error::Internal(format!("a demo order has no totals: {e}")))?;
    let (status, when) = match discount_bp {
        None => ("delivered", "delivered_at"),
        Some(_) => ("submitted", "submitted_at"),
    };
    let mut fields = vec![
        ("customer_id", Value::Str(customer_id.to_string())),
        ("status", status.into()),
        ("currency", CURRENCY.into()),
        ("lines", Value::Items(lines)),
        ("ordered_at", Value::Int(at)),
        (when, Value::Int(at)),
    ];
    if let Some(agent) = agent {
        fields.push(("agent_id", Value::Str(agent.to_string())));
    }
    fields.extend(orders::total_values(&totals));
    Ok((Uuid::now_v7(), fields, totals.total))
}

/// Field values of one record.
type Fields = Vec<(&'static str, Value)>;

fn sku(n: usize) -> String {
    format!("SKU-{:04}", n + 1)
}

async fn push_all(sync: &SyncEngine, author: &Author, docs: Vec<DocPush>) -> Result<(), Error> {
    for batch in docs.chunks(200) {
        let response = crate::sync::push::push(
            sync,
            author,
            PushRequest {
                docs: batch.to_vec(),
                checkpoint: 0,
            },
        )
        .await?;
        all_applied(&response.results)?;
    }
    Ok(())
}

fn all_applied(results: &[sync_core::protocol::DocResult]) -> Result<(), Error> {
    match results.iter().find(|r| r.status != PushStatus::Applied) {
        Some(bad) => Err(Error::Internal(format!(
            "demo record {} was not applied: {:?}",
            bad.id, bad.reason
        ))),
        None => Ok(()),
    }
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
        group: None,
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
/// The company's catalogue: name, unit, category, list price in cents, tax rate in basis points.
pub const CATALOGUE: &[(&str, &str, &str, i64, i64)] = &[
    ("Espresso beans", "kg", "Coffee", 2_450, 700),
    ("Filter coffee", "kg", "Coffee", 1_690, 700),
    ("Oat milk", "carton", "Dairy alternatives", 239, 700),
    ("Whole milk", "carton", "Dairy", 129, 700),
    (
        "Paper cups 300 ml",
        "box of 1,000",
        "Packaging",
        5_900,
        1_900,
    ),
    ("Cup lids", "box of 1,000", "Packaging", 3_400, 1_900),
    ("Croissant, frozen", "box of 60", "Bakery", 3_850, 700),
    ("Sugar sticks", "box of 500", "Dry goods", 1_100, 700),
    (
        "Cleaning tablets",
        "tub of 100",
        "Machine care",
        2_990,
        1_900,
    ),
    ("Descaler", "bottle", "Machine care", 1_490, 1_900),
    ("Chai syrup", "bottle", "Syrups", 990, 1_900),
    ("Vanilla syrup", "bottle", "Syrups", 890, 1_900),
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
