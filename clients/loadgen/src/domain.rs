//! The domain workload: what a field agent's day puts on the wire, rather than customers alone.
//! For each of its records a device adds a customer, checks in and out of a visit there, takes an
//! order of 1 to 20 lines from the catalogue (priced and totalled on the device), and collects
//! payment for every second order and a ticket for every tenth customer: about 3.6 documents per
//! record, every order and payment held to the server's rules after the merge.

use anyhow::{bail, Context};
use fieldsync_sdk::{CheckIn, Client, LineRequest, OrderOrigin, PaymentRequest, Position, Replica};
use sync_core::Value;
use uuid::Uuid;

use crate::server::{self, Account};

/// Products in the catalogue the workload's admin creates.
pub const PRODUCTS: usize = 200;
/// The most lines an order of the workload has.
const MAX_LINES: usize = 20;
/// Check-ins of one device, this far apart in time, at customers about 11 m apart (the `j`th
/// customer of every device at the same place, as devices may share an account): the rules find
/// nothing implausible in an agent's day.
pub const VISIT_EVERY_MS: i64 = 20 * 60 * 1000;

/// The admin of a spawned server's company, who writes its settings and catalogue.
pub const ADMIN_EMAIL: &str = "fleet-admin@load.test";

fn sku(n: usize) -> String {
    format!("D-{:05}", n + 1)
}

/// Writes the company's settings and a catalogue of [`PRODUCTS`] products as `admin`.
pub async fn create_catalogue(url: &str, admin: &Account) -> anyhow::Result<()> {
    let (client, login) = server::login(url, admin, "loadgen catalogue").await?;
    let replica = Replica::in_memory().await?;
    replica
        .adopt(client.base_url(), &admin.email, &login)
        .await?;
    replica
        .create("settings", &[("currency", "EUR".into())])
        .await?;
    for n in 0..PRODUCTS {
        replica
            .create(
                "product",
                &[
                    ("sku", Value::Str(sku(n))),
                    ("name", Value::Str(format!("Product {n}"))),
                    ("active", Value::Bool(true)),
                    ("list_price", Value::Int(100 + (n as i64 * 37) % 5_000)),
                    ("tax_bp", Value::Int(if n % 3 == 0 { 1_900 } else { 700 })),
                ],
            )
            .await?;
    }
    let report = replica.sync(&client).await?;
    if !report.rejected.is_empty() {
        bail!("the catalogue was refused: {:?}", report.rejected.first());
    }
    Ok(())
}

/// Fetches the catalogue onto a device before it takes orders, and checks it is there.
pub async fn fetch_catalogue(client: &Client, replica: &Replica) -> anyhow::Result<()> {
    replica.sync(client).await?;
    if replica.list("product").await?.is_empty() || replica.company_currency().await.is_err() {
        bail!(
            "the domain workload needs the company's settings and catalogue on the server \
             (run it with --spawn-server, or against `serve --demo`)"
        );
    }
    Ok(())
}

/// The records of one of device `i`'s customers, the `j`th: returns the customer's id (edited in
/// the second round) and every record made.
pub async fn agent_record(
    replica: &Replica,
    i: usize,
    j: usize,
    territory: &str,
    start_ms: i64,
) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let at = Position {
        lat: 48.0,
        lon: 9.0 + j as f64 * 0.0001,
    };
    let customer = replica
        .create(
            "customer",
            &[
                ("name", Value::Str(format!("Shop {i}-{j}"))),
                ("territory", territory.into()),
                ("lat", Value::Float(at.lat)),
                ("lon", Value::Float(at.lon)),
            ],
        )
        .await?;
    let mut ids = vec![customer];
    let time = start_ms + j as i64 * VISIT_EVERY_MS;
    let visit = replica
        .check_in(
            customer,
            CheckIn {
                at,
                accuracy_m: Some(10.0),
                visit_type: None,
                time_ms: time,
            },
        )
        .await
        .context("check-in")?;
    replica
        .check_out(
            visit.visit_id,
            Some(at),
            Some("order taken"),
            time + 600_000,
        )
        .await?;
    ids.push(visit.visit_id);
    let lines: Vec<LineRequest> = (0..1 + (i * 7 + j * 13) % MAX_LINES)
        .map(|k| LineRequest {
            sku: sku((i * 31 + j * 17 + k * 11) % PRODUCTS),
            quantity: 1_000 * (1 + (j + k) as i64 % 5),
            discount_bp: 0,
        })
        .collect();
    let order = replica
        .add_order(
            customer,
            &lines,
            OrderOrigin {
                visit_id: Some(visit.visit_id),
                campaign_id: None,
            },
            true,
            time + 300_000,
        )
        .await
        .context("order")?;
    ids.push(order.order_id);
    if j.is_multiple_of(2) {
        let payment = PaymentRequest {
            amount: order.totals.total,
            method: Some("card".into()),
            reference: None,
            order_id: Some(order.order_id),
        };
        ids.push(
            replica
                .add_payment(customer, payment, time + 500_000)
                .await?,
        );
    }
    if j.is_multiple_of(10) {
        let ticket = replica
            .create(
                "ticket",
                &[
                    ("customer_id", Value::Str(customer.to_string())),
                    ("subject", "Display damaged".into()),
                    ("status", "open".into()),
                    ("opened_at", Value::Int(time)),
                ],
            )
            .await?;
        ids.push(ticket);
    }
    Ok((customer, ids))
}
