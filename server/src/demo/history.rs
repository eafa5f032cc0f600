//! Years of a field team's history for the demo company, so that every report shows something on
//! first start: customers who buy by their tier (a Pareto spread of value) with the seasons and a
//! yearly growth, churners and won-back customers, late payers, complaints, agents who skip visits,
//! closed deals with their stage history, and monthly targets. Deterministic: one seed, one
//! history.
//!
//! The records are written as the server's own (`Author::system`), with the fields the server
//! would write after a merge (a delivered order's due date, an opportunity's stage history) set
//! from the start, so that history needs no rules to run over it.

use automerge::ActorId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sync_core::kinds::{
    OPPORTUNITY, ORDER, PAYMENT, SALES_TARGET, TICKET, TICKET_CATEGORIES, VISIT,
};
use sync_core::protocol::DocPush;
use sync_core::{orders, Item, Value};
use uuid::Uuid;

use super::{doc_push, sku, Fields, CATALOGUE, CURRENCY, DAY_MS, VISIT_TYPES};
use crate::error::Error;

const WEEK_MS: i64 = 7 * DAY_MS;
const HOUR_MS: i64 = 3_600_000;

/// A customer of the demo, as the history needs it.
pub struct Customer {
    pub id: Uuid,
    /// Its territory's index in `Company::territories`.
    pub territory: usize,
    pub tier: &'static str,
    pub key_account: bool,
    pub payment_terms_days: i64,
    pub lat: f64,
    pub lon: f64,
}

/// What the history is made for.
pub struct Company<'a> {
    pub territories: &'a [String],
    pub customers: &'a [Customer],
    /// Each territory's agents.
    pub agents: &'a [Vec<Uuid>],
    pub products: &'a [Uuid],
    pub now: i64,
    pub years: u32,
    /// Another seed, another history.
    pub seed: u64,
}

/// Orders a month by tier: a few customers make most of the revenue.
fn monthly_orders(tier: &str) -> f64 {
    match tier {
        "A" => 2.5,
        "B" => 1.0,
        _ => 0.35,
    }
}

/// Units a line orders by tier.
fn units(tier: &str, rng: &mut StdRng) -> i64 {
    match tier {
        "A" => rng.gen_range(5..=20),
        "B" => rng.gen_range(2..=8),
        _ => rng.gen_range(1..=3),
    }
}

/// Visits a week by tier (the tier policies ask 4, 2 and 0.5 a month).
fn weekly_visits(tier: &str) -> f64 {
    match tier {
        "A" => 0.95,
        "B" => 0.47,
        _ => 0.13,
    }
}

/// Coffee sells more in winter: a factor around 1 that peaks in January.
fn season(at: i64) -> f64 {
    let day_of_year = (at / DAY_MS).rem_euclid(365) as f64;
    1.0 + 0.3 * (2.0 * std::f64::consts::PI * day_of_year / 365.0).cos()
}

/// When a customer buys: from `start`, with an optional break (churned, perhaps won back).
struct Life {
    start: i64,
    gone: Option<(i64, Option<i64>)>,
}

impl Life {
    fn buys(&self, at: i64) -> bool {
        at >= self.start
            && match self.gone {
                Some((from, back)) => at < from || back.is_some_and(|b| at >= b),
                None => true,
            }
    }
}

/// The history of every customer, as documents to push.
pub fn history(c: &Company, actor: &ActorId) -> Result<Vec<DocPush>, Error> {
    let mut rng = StdRng::seed_from_u64(0x6669_656c_6473 ^ c.seed);
    let span = i64::from(c.years) * 365 * DAY_MS;
    let begin = c.now - span;
    let mut docs = Vec::new();
    // Revenue and collections per (agent, territory, month index), for the targets.
    let mut earned: std::collections::BTreeMap<(Uuid, usize, i64), (i64, i64)> = Default::default();
    let month_of = |at: i64| (at - begin) / (30 * DAY_MS);
    for (n, cu) in c.customers.iter().enumerate() {
        let agents = &c.agents[cu.territory];
        let agent = agents[n % agents.len()];
        // The second agent of a territory with two skips visits.
        let skipper = agents.len() > 1 && agent == agents[1];
        let late_payer = n % 10 == 3;
        let start = if cu.tier == "C" && rng.gen_bool(0.4) {
            begin + rng.gen_range(0..span.max(1))
        } else {
            begin
        };
        // A quarter of the customers stop buying at some point; some come back months later.
        let gone = if rng.gen_bool(0.25) && span > 90 * DAY_MS {
            let from = begin + rng.gen_range(60 * DAY_MS..span);
            let back = rng
                .gen_bool(0.3)
                .then(|| from + rng.gen_range(90 * DAY_MS..240 * DAY_MS));
            Some((from, back))
        } else {
            None
        };
        let life = Life { start, gone };
        let customer = || ("customer_id", Value::Str(cu.id.to_string()));
        let mut week = begin;
        while week < c.now - WEEK_MS {
            let growth = 1.0 + 0.08 * (week - begin) as f64 / (365 * DAY_MS) as f64;
            // 9:00 UTC of a day of the week: from the week's midnight, so that a visit and its
            // check-in minutes later fall on one day whatever the time the demo is seeded at.
            let day = week - week.rem_euclid(DAY_MS) + rng.gen_range(0..5) * DAY_MS + 9 * HOUR_MS;
            let buys = life.buys(day);
            let p_order = (monthly_orders(cu.tier) / 4.35 * season(day) * growth).min(0.95);
            let ordering = buys && rng.gen_bool(p_order);
            let visiting = ordering || (buys && rng.gen_bool(weekly_visits(cu.tier)));
            if visiting {
                let visit_id = Uuid::now_v7();
                let missed = skipper && !ordering && rng.gen_bool(0.4);
                let mut visit: Fields = vec![
                    customer(),
                    ("agent_id", Value::Str(agent.to_string())),
                    ("visit_type", VISIT_TYPES[0].0.into()),
                    ("planned_start", Value::Int(day)),
                    ("planned_end", Value::Int(day + HOUR_MS)),
                ];
                if missed {
                    visit.push(("status", "missed".into()));
                } else {
                    let check_in = day + rng.gen_range(0..20) * 60_000;
                    let verified = rng.gen_bool(0.93);
                    visit.extend([
                        ("status", "completed".into()),
                        ("check_in_at", Value::Int(check_in)),
                        (
                            "check_in_lat",
                            Value::Float(cu.lat + if verified { 0.0001 } else { 0.01 }),
                        ),
                        ("check_in_lon", Value::Float(cu.lon)),
                        ("check_in_accuracy_m", Value::Float(8.0)),
                        (
                            "check_in_distance_m",
                            Value::Float(if verified { 11.1 } else { 1_112.0 }),
                        ),
                        (
                            "check_in_result",
                            if verified { "verified" } else { "out_of_range" }.into(),
                        ),
                        (
                            "check_out_at",
                            Value::Int(check_in + rng.gen_range(15..50) * 60_000),
                        ),
                    ]);
                }
                docs.push(doc_push(visit_id, &VISIT, actor.clone(), &visit)?);
                if ordering && !missed {
                    let ordered = day + 40 * 60_000;
                    let (order_id, order, total, net) =
                        order(c, cu, &mut rng, agent, visit_id, ordered)?;
                    docs.push(doc_push(order_id, &ORDER, actor.clone(), &order)?);
                    let delivered = ordered + 2 * DAY_MS;
                    let due = delivered + cu.payment_terms_days * DAY_MS;
                    let paid = if late_payer {
                        due + rng.gen_range(20..90) * DAY_MS
                    } else {
                        due - rng.gen_range(0..10) * DAY_MS
                    };
                    let e = earned
                        .entry((agent, cu.territory, month_of(ordered)))
                        .or_default();
                    e.0 += net;
                    if delivered < c.now && paid < c.now {
                        let payment: Fields = vec![
                            customer(),
                            ("amount", Value::Int(total)),
                            ("currency", CURRENCY.into()),
                            ("collected_at", Value::Int(paid)),
                            ("collected_by", Value::Str(agent.to_string())),
                            ("method", "bank_transfer".into()),
                            (
                                "allocations",
                                Value::Items(vec![Item::new([
                                    ("order_id", Value::Str(order_id.to_string())),
                                    ("amount", Value::Int(total)),
                                ])]),
                            ),
                        ];
                        docs.push(doc_push(Uuid::now_v7(), &PAYMENT, actor.clone(), &payment)?);
                        earned
                            .entry((agent, cu.territory, month_of(paid)))
                            .or_default()
                            .1 += total;
                    }
                }
            }
            // About one ticket a customer a year; late payers are less pleased.
            if buys && rng.gen_bool(0.01) {
                let opened = day + 3 * HOUR_MS;
                let resolved = opened + rng.gen_range(1..72) * HOUR_MS;
                let category = TICKET_CATEGORIES[rng.gen_range(0..TICKET_CATEGORIES.len())];
                let mut ticket: Fields = vec![
                    customer(),
                    ("subject", "Machine or delivery issue".into()),
                    ("category", category.into()),
                    (
                        "severity",
                        ["low", "medium", "high"][rng.gen_range(0..3)].into(),
                    ),
                    ("opened_at", Value::Int(opened)),
                ];
                if resolved < c.now {
                    let satisfaction = if late_payer {
                        rng.gen_range(1..=3)
                    } else {
                        rng.gen_range(2..=5)
                    };
                    ticket.extend([
                        ("status", "resolved".into()),
                        ("resolved_at", Value::Int(resolved)),
                        ("resolution", "Fixed on site".into()),
                        ("satisfaction", Value::Int(satisfaction)),
                        ("expectation", Value::Int(rng.gen_range(3..=5))),
                    ]);
                } else {
                    ticket.push(("status", "open".into()));
                }
                docs.push(doc_push(Uuid::now_v7(), &TICKET, actor.clone(), &ticket)?);
            }
            week += WEEK_MS;
        }
        // A closed deal a year for A and B customers, with its stage history.
        if cu.tier != "C" {
            for y in 0..c.years {
                let opened = begin + i64::from(y) * 365 * DAY_MS + rng.gen_range(0..200) * DAY_MS;
                let won = rng.gen_bool(0.45);
                let mut at = opened;
                let mut stages = Vec::new();
                for stage in ["prospecting", "qualification", "proposal"] {
                    stages.push(Item::new([
                        ("stage", stage.into()),
                        ("at", Value::Int(at)),
                        ("user_id", Value::Str(agent.to_string())),
                    ]));
                    at += rng.gen_range(5..30) * DAY_MS;
                }
                let last = if won { "won" } else { "lost" };
                stages.push(Item::new([
                    ("stage", last.into()),
                    ("at", Value::Int(at)),
                    ("user_id", Value::Str(agent.to_string())),
                ]));
                let deal: Fields = vec![
                    customer(),
                    ("title", Value::Str(format!("Supply contract {}", y + 1))),
                    ("stage", last.into()),
                    ("owner_id", Value::Str(agent.to_string())),
                    ("amount", Value::Int(rng.gen_range(20..200) * 10_000)),
                    ("probability", Value::Int(if won { 100 } else { 0 })),
                    ("closed_at", Value::Int(at)),
                    ("stage_history", Value::Items(stages)),
                ];
                docs.push(doc_push(
                    Uuid::now_v7(),
                    &OPPORTUNITY,
                    actor.clone(),
                    &deal,
                )?);
            }
        }
    }
    // Monthly targets a little above what each agent then made: some months met, some not.
    for ((agent, territory, month), (revenue, collected)) in earned {
        let start = begin + month * 30 * DAY_MS;
        for (metric, value) in [("revenue", revenue), ("collections", collected)] {
            if value == 0 {
                continue;
            }
            let target: Fields = vec![
                ("territory", Value::Str(c.territories[territory].clone())),
                ("agent_id", Value::Str(agent.to_string())),
                ("metric", metric.into()),
                ("value", Value::Int(value * 105 / 100)),
                ("period_start", Value::Int(start)),
                ("period_end", Value::Int(start + 30 * DAY_MS)),
            ];
            docs.push(doc_push(
                Uuid::now_v7(),
                &SALES_TARGET,
                actor.clone(),
                &target,
            )?);
        }
    }
    Ok(docs)
}

/// An order of one to four products at the customer's prices, delivered (or approved when too
/// recent to be delivered), with its due date. Returns its id, fields, total and net (before tax).
fn order(
    c: &Company,
    cu: &Customer,
    rng: &mut StdRng,
    agent: Uuid,
    visit: Uuid,
    at: i64,
) -> Result<(Uuid, Fields, i64, i64), Error> {
    let mut lines: Vec<Item> = (0..rng.gen_range(1..=4))
        .map(|_| {
            let p = rng.gen_range(0..CATALOGUE.len());
            let price = CATALOGUE[p].3;
            let unit_price = if cu.key_account {
                price * 9 / 10
            } else {
                price
            };
            Item::new([
                ("product_id", Value::Str(c.products[p].to_string())),
                ("sku", Value::Str(sku(p))),
                ("quantity", Value::Int(1_000 * units(cu.tier, rng))),
                ("unit_price", Value::Int(unit_price)),
                ("discount_bp", Value::Int(0)),
                ("tax_bp", Value::Int(CATALOGUE[p].4)),
            ])
        })
        .collect();
    lines.sort_by(|a, b| a.id.cmp(&b.id));
    let totals = orders::lines_totals(&lines, 0)
        .map_err(|e| Error::Internal(format!("a demo order has no totals: {e}")))?;
    let delivered = at + 2 * DAY_MS;
    let mut fields: Fields = vec![
        ("customer_id", Value::Str(cu.id.to_string())),
        ("agent_id", Value::Str(agent.to_string())),
        ("visit_id", Value::Str(visit.to_string())),
        ("currency", CURRENCY.into()),
        ("lines", Value::Items(lines)),
        ("ordered_at", Value::Int(at)),
        ("submitted_at", Value::Int(at)),
    ];
    if delivered < c.now {
        fields.extend([
            ("status", "delivered".into()),
            ("delivered_at", Value::Int(delivered)),
            (
                "due_at",
                Value::Int(delivered + cu.payment_terms_days * DAY_MS),
            ),
        ]);
    } else {
        fields.push(("status", "approved".into()));
    }
    fields.extend(orders::total_values(&totals));
    Ok((
        Uuid::now_v7(),
        fields,
        totals.total,
        totals.total - totals.tax,
    ))
}
