//! The demo company at scale, for benchmarks (`fieldsync-server demo --agents N --years Y`): the
//! demo, plus agents each with a territory of their own and `CUSTOMERS_PER_AGENT` customers with
//! years of history, generated and written one agent at a time so that memory stays flat.

use sea_orm::sea_query::{Alias, Query};
use sea_orm::ConnectionTrait;
use sync_core::kinds::CUSTOMER;
use sync_core::{Role, Value};
use uuid::Uuid;

use super::history::{self, Company, Customer};
use super::{doc_push, push_all, sku, CATALOGUE, PASSWORD};
use crate::auth::users::add_user;
use crate::db::{now_ms, BuildWith, Db};
use crate::error::Error;
use crate::sync::author::Author;
use crate::sync::engine::SyncEngine;

pub const CUSTOMERS_PER_AGENT: usize = 200;

/// What `scale` added.
#[derive(Debug, Default, PartialEq)]
pub struct Added {
    pub agents: usize,
    pub customers: usize,
    pub records: usize,
}

/// The catalogue's products by their place in `CATALOGUE`, as the demo seeded them.
async fn products(db: &Db) -> Result<Vec<Uuid>, Error> {
    let q = Query::select()
        .columns([Alias::new("id"), Alias::new("sku")])
        .from(Alias::new("products"))
        .to_owned();
    let rows = db.conn.query_all(q.build_with(&db.conn)).await?;
    let mut by_sku = std::collections::HashMap::new();
    for row in rows {
        let sku: Option<String> = row.try_get("", "sku")?;
        by_sku.insert(sku.unwrap_or_default(), row.try_get::<Uuid>("", "id")?);
    }
    (0..CATALOGUE.len())
        .map(|n| {
            by_sku
                .get(&sku(n))
                .copied()
                .ok_or_else(|| Error::Internal("seed the demo before scaling it".into()))
        })
        .collect()
}

/// Adds `agents` agents (`agent001@scale.demo.fieldsync.dev`, ...; the demo's password), each with
/// a territory of their own (`Region 001`, ...) and its customers' `years` of history, then checks
/// every customer for duplicates.
pub async fn scale(db: &Db, sync: &SyncEngine, agents: usize, years: u32) -> Result<Added, Error> {
    let products = products(db).await?;
    let now = now_ms();
    let mut added = Added::default();
    for k in 0..agents {
        let territory = format!("Region {:03}", k + 1);
        let email = format!("agent{:03}@scale.demo.fieldsync.dev", k + 1);
        let agent = add_user(
            db,
            &email,
            Role::Agent,
            PASSWORD,
            std::slice::from_ref(&territory),
        )
        .await?;
        let system = Author::system("demo");
        let actor = system
            .server_actor()
            .expect("the system author has an actor")
            .clone();
        let mut customers = Vec::with_capacity(CUSTOMERS_PER_AGENT);
        let mut docs = Vec::new();
        for i in 0..CUSTOMERS_PER_AGENT {
            let id = Uuid::now_v7();
            let tier = ["A", "B", "B", "C", "C"][i % 5];
            let (lat, lon) = (
                48.0 + (k % 50) as f64 / 10.0,
                8.0 + (i % 100) as f64 / 100.0,
            );
            let fields = vec![
                ("name", Value::Str(format!("Shop {} of {territory}", i + 1))),
                ("territory", Value::Str(territory.clone())),
                ("code", Value::Str(format!("S{:03}-{:04}", k + 1, i + 1))),
                ("status", "active".into()),
                ("tier", tier.into()),
                (
                    "industry",
                    ["cafe", "hotel", "office", "retail"][i % 4].into(),
                ),
                ("lat", Value::Float(lat)),
                ("lon", Value::Float(lon)),
                ("owner_id", Value::Str(agent.to_string())),
                ("payment_terms_days", Value::Int(30)),
                ("credit_limit", Value::Int(1_000_000)),
            ];
            docs.push(doc_push(id, &CUSTOMER, actor.clone(), &fields)?);
            customers.push(Customer {
                id,
                territory: 0,
                tier,
                key_account: false,
                payment_terms_days: 30,
                lat,
                lon,
            });
        }
        docs.extend(history::history(
            &Company {
                territories: std::slice::from_ref(&territory),
                customers: &customers,
                agents: &[vec![agent]],
                products: &products,
                now,
                years,
                seed: k as u64 + 1,
            },
            &actor,
        )?);
        added.agents += 1;
        added.customers += customers.len();
        added.records += docs.len();
        push_all(sync, &system, docs).await?;
    }
    crate::crm::duplicates::scan(db).await?;
    Ok(added)
}
