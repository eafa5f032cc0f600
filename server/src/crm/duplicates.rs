//! Likely duplicate customers (`sync_core::duplicates` decides what is alike): checked as customers
//! arrive (after each push, with the rules) and on demand (`scan`), stored with their score and
//! reasons, listed for managers within their scope and dismissed by them.
//!
//! What the check compares of each customer is kept normalised in `customer_keys`, so that a new
//! customer is compared only with those sharing its phone number, tax id or city, or standing
//! within a box around its position, each found through an index, never with every customer.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Alias, Cond, Expr, JoinType, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};
use serde::Serialize;
use sync_core::duplicates::{self, Keys, Reason};
use sync_core::geo::Position;
use sync_core::record::Projection;
use sync_core::Role;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::{now_ms, BuildWith, Db};
use crate::error::Error;
use crate::seal::Vault;

/// The most customers one customer is compared with: past it, the nearest in id order are kept.
const MAX_COMPARED: u64 = 200;
/// The most candidates a page holds.
pub const MAX_PAGE: u64 = 500;
/// Degrees of latitude per metre, for the box that holds every customer within `NEAR_M`.
const DEGREES_PER_M: f64 = 1.0 / 111_000.0;

/// What the check reads of a customer; None for a deleted one, which is no one's duplicate.
pub fn keys_of(p: &Projection) -> Option<Keys> {
    if p.is_deleted() {
        return None;
    }
    let position = match (p.get("lat"), p.get("lon")) {
        (sync_core::Value::Float(lat), sync_core::Value::Float(lon)) => Some(Position {
            lat: *lat,
            lon: *lon,
        }),
        _ => None,
    };
    Some(Keys::of(
        p.get("name").as_str().unwrap_or_default(),
        p.get("phone").as_str(),
        p.get("tax_id").as_str(),
        p.get("city").as_str(),
        position,
    ))
}

/// Keeps each customer's keys and records the likely duplicates of each, dropping open candidates
/// that no longer hold (a phone number corrected). A customer whose keys did not change (an edit
/// of its notes, its credit limit) is not compared again, unless `all`. Returns how many pairs it
/// found.
///
/// A batch is read first (the stored customers that may be alike any of it, in a few statements
/// shared by the whole batch, and its own customers compared with each other in memory), then
/// written in one transaction: an import's batch of hundreds of customers costs one commit, not
/// several per customer.
pub async fn check(db: &Db, customers: &[(Uuid, Option<Keys>)], all: bool) -> Result<usize, Error> {
    let conn = &db.conn;
    let customers: Vec<(Uuid, Option<Keys>)> = customers
        .iter()
        .map(|(id, keys)| (*id, keys.clone().map(|k| matchable(db.vault(), k))))
        .collect();
    let customers = &customers[..];
    let stored = if all {
        HashMap::new()
    } else {
        stored_keys(conn, customers.iter().map(|(id, _)| *id)).await?
    };
    let mut gone = Vec::new();
    let mut changed: Vec<(Uuid, &Keys)> = Vec::new();
    for (id, keys) in customers {
        if !all && stored.get(id) == keys.as_ref() && (keys.is_some() || !stored.contains_key(id)) {
            continue;
        }
        match keys {
            Some(keys) => changed.push((*id, keys)),
            None => gone.push(*id),
        }
    }
    if changed.is_empty() && gone.is_empty() {
        return Ok(0);
    }
    let batch: HashSet<Uuid> = changed
        .iter()
        .map(|(id, _)| *id)
        .chain(gone.iter().copied())
        .collect();
    let pool = Pool::read(conn, &changed, &batch).await?;
    let mut found = 0;
    let mut pairs: HashMap<(Uuid, Uuid), (f64, Vec<Reason>)> = HashMap::new();
    let mut still: Vec<(Uuid, Vec<Uuid>)> = Vec::with_capacity(changed.len());
    for (i, (id, keys)) in changed.iter().enumerate() {
        let mates = changed
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (other, theirs))| (*other, *theirs));
        let mut alike = Vec::new();
        for (other, theirs) in pool.near(*id, keys).chain(mates) {
            if let Some((score, reasons)) = duplicates::compare(keys, theirs) {
                let pair = if *id < other {
                    (*id, other)
                } else {
                    (other, *id)
                };
                pairs.insert(pair, (score, reasons));
                alike.push(other);
            }
        }
        found += alike.len();
        still.push((*id, alike));
    }
    let txn = db.begin_write().await?;
    store_keys(&*txn, &changed).await?;
    forget(&*txn, &gone).await?;
    record(&*txn, pairs).await?;
    for (id, alike) in &still {
        drop_stale(&*txn, *id, alike).await?;
    }
    for id in &gone {
        drop_stale(&*txn, *id, &[]).await?;
    }
    txn.commit().await?;
    Ok(found)
}

/// The stored customer a record with `keys` (a lead) is most likely to be already, with the score
/// and the reasons; None when no customer looks like it. Compared with the same customers a new
/// customer would be.
pub async fn likely_customer(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    keys: &Keys,
) -> Result<Option<(Uuid, f64, Vec<Reason>)>, Error> {
    let keys = &matchable(vault, keys.clone());
    // The pool is read for a batch of one, under an id no customer has.
    let probe = Uuid::nil();
    let pool = Pool::read(conn, &[(probe, keys)], &HashSet::new()).await?;
    let best = pool
        .near(probe, keys)
        .filter_map(|(id, theirs)| duplicates::compare(keys, theirs).map(|(s, r)| (id, s, r)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
    Ok(best)
}

/// Checks every customer again, in pages: after an upgrade, a restore, or a change of the rule.
/// Keys as the server stores and compares them: a person's tax id by its keyed hash (see `seal`),
/// never in clear.
fn matchable(vault: &Vault, mut keys: Keys) -> Keys {
    keys.tax_id = keys.tax_id.map(|t| vault.match_key(&t));
    keys
}

pub async fn scan(db: &Db) -> Result<Scan, Error> {
    let conn = &db.conn;
    let mut after = Uuid::nil();
    let mut scan = Scan::default();
    loop {
        let stmt = Query::select()
            .columns(
                [
                    "id", "name", "phone", "tax_id", "city", "lat", "lon", "deleted",
                ]
                .map(Alias::new),
            )
            .from(Alias::new("customers"))
            .and_where(Expr::col(Alias::new("id")).gt(after))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(500)
            .to_owned();
        let rows = conn.query_all(stmt.build_with(conn)).await?;
        let Some(last) = rows.last() else {
            return Ok(scan);
        };
        after = last.try_get("", "id")?;
        let mut customers = Vec::with_capacity(rows.len());
        for row in &rows {
            customers.push((row.try_get("", "id")?, row_keys(db.vault(), row)?));
        }
        scan.checked += customers.len();
        scan.found += check(db, &customers, true).await?;
    }
}

/// What a scan did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Scan {
    /// Customers checked.
    pub checked: usize,
    /// Pairs found (each counted from both its customers).
    pub found: usize,
}

/// The position a row of `customers` or `customer_keys` holds, if both coordinates are set.
fn position(row: &QueryResult) -> Result<Option<Position>, Error> {
    Ok(
        match (
            row.try_get::<Option<f64>>("", "lat")?,
            row.try_get::<Option<f64>>("", "lon")?,
        ) {
            (Some(lat), Some(lon)) => Some(Position { lat, lon }),
            _ => None,
        },
    )
}

fn row_keys(vault: &Vault, row: &QueryResult) -> Result<Option<Keys>, Error> {
    if row.try_get::<Option<bool>>("", "deleted")?.unwrap_or(false) {
        return Ok(None);
    }
    let text = |c: &str| row.try_get::<Option<String>>("", c);
    let position = position(row)?;
    let id: Uuid = row.try_get("", "id")?;
    let tax_id = vault.open_column(row, id, "tax_id")?;
    Ok(Some(Keys::of(
        &text("name")?.unwrap_or_default(),
        text("phone")?.as_deref(),
        tax_id.as_deref(),
        text("city")?.as_deref(),
        position,
    )))
}

/// The keys kept of those of `ids` that have them.
async fn stored_keys(
    conn: &impl ConnectionTrait,
    ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Keys>, Error> {
    let ids: Vec<Uuid> = ids.collect();
    let mut out = HashMap::new();
    for part in ids.chunks(500) {
        let stmt = Query::select()
            .columns(["id", "name", "phone", "tax_id", "city", "lat", "lon"].map(Alias::new))
            .from(Alias::new("customer_keys"))
            .and_where(Expr::col(Alias::new("id")).is_in(part.iter().copied()))
            .to_owned();
        for row in conn.query_all(stmt.build_with(conn)).await? {
            out.insert(row.try_get("", "id")?, stored(&row)?);
        }
    }
    Ok(out)
}

/// Keys as `customer_keys` holds them: already normalised.
fn stored(r: &QueryResult) -> Result<Keys, Error> {
    let position = position(r)?;
    Ok(Keys {
        name: r.try_get("", "name")?,
        phone: r.try_get("", "phone")?,
        tax_id: r.try_get("", "tax_id")?,
        city: r.try_get("", "city")?,
        position,
    })
}

/// Rows per multi-row statement: well under the bound variables either database takes.
const ROWS_PER_STATEMENT: usize = 100;

async fn store_keys(conn: &impl ConnectionTrait, customers: &[(Uuid, &Keys)]) -> Result<(), Error> {
    let columns = ["name", "phone", "tax_id", "city", "lat", "lon"].map(Alias::new);
    let mut sorted = customers.to_vec();
    // In id order, so that two processes storing overlapping batches lock rows in one order.
    sorted.sort_by_key(|(id, _)| *id);
    for part in sorted.chunks(ROWS_PER_STATEMENT) {
        let mut stmt = Query::insert()
            .into_table(Alias::new("customer_keys"))
            .columns([Alias::new("id")].into_iter().chain(columns.clone()))
            .on_conflict(
                OnConflict::column(Alias::new("id"))
                    .update_columns(columns.clone())
                    .to_owned(),
            )
            .to_owned();
        for (id, k) in part {
            stmt.values_panic([
                (*id).into(),
                k.name.clone().into(),
                k.phone.clone().into(),
                k.tax_id.clone().into(),
                k.city.clone().into(),
                k.position.map(|p| p.lat).into(),
                k.position.map(|p| p.lon).into(),
            ]);
        }
        conn.execute(stmt.build_with(conn)).await?;
    }
    Ok(())
}

/// Deleted customers are no one's duplicates: their keys go (their open candidates are dropped by
/// the caller).
async fn forget(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), Error> {
    for part in ids.chunks(ROWS_PER_STATEMENT) {
        let stmt = Query::delete()
            .from_table(Alias::new("customer_keys"))
            .and_where(Expr::col(Alias::new("id")).is_in(part.iter().copied()))
            .to_owned();
        conn.execute(stmt.build_with(conn)).await?;
    }
    Ok(())
}

/// The stored customers that may be alike those of a batch: sharing a phone number, tax id or
/// city with one of them, or standing within a box around one's position. The batch's own
/// customers are left out: their stored keys are the ones being replaced.
#[derive(Default)]
struct Pool {
    rows: Vec<(Uuid, Keys)>,
    index: HashMap<Uuid, usize>,
    by_phone: HashMap<String, Vec<usize>>,
    by_tax_id: HashMap<String, Vec<usize>>,
    by_city: HashMap<String, Vec<usize>>,
    by_box: HashMap<Uuid, Vec<usize>>,
}

impl Pool {
    async fn read(
        conn: &impl ConnectionTrait,
        batch: &[(Uuid, &Keys)],
        leave_out: &HashSet<Uuid>,
    ) -> Result<Pool, Error> {
        let col = |c: &str| Expr::col(Alias::new(c));
        // Past the batch's own rows, up to `MAX_COMPARED` others.
        let enough = MAX_COMPARED + leave_out.len() as u64;
        let mut pool = Pool::default();
        pool.by_phone = pool
            .sharing(
                conn,
                "phone",
                |k| k.phone.as_ref(),
                batch,
                leave_out,
                enough,
            )
            .await?;
        pool.by_tax_id = pool
            .sharing(
                conn,
                "tax_id",
                |k| k.tax_id.as_ref(),
                batch,
                leave_out,
                enough,
            )
            .await?;
        let mut cities: Vec<&String> = batch.iter().filter_map(|(_, k)| k.city.as_ref()).collect();
        cities.sort_unstable();
        cities.dedup();
        for city in cities {
            let stmt = select_keys()
                .and_where(col("city").eq(city.as_str()))
                .limit(enough)
                .to_owned();
            let found = pool.add(conn, stmt, leave_out).await?;
            pool.by_city.insert(city.clone(), found);
        }
        for (id, keys) in batch {
            let Some(p) = keys.position else { continue };
            let dlat = duplicates::NEAR_M * DEGREES_PER_M;
            // A degree of longitude shrinks with the cosine of the latitude; near the poles the box
            // spans every longitude.
            let dlon = dlat / p.lat.to_radians().cos().max(0.01);
            let stmt = select_keys()
                .and_where(col("lat").between(p.lat - dlat, p.lat + dlat))
                .and_where(col("lon").between(p.lon - dlon, p.lon + dlon))
                .limit(enough)
                .to_owned();
            let found = pool.add(conn, stmt, leave_out).await?;
            pool.by_box.insert(*id, found);
        }
        Ok(pool)
    }

    /// The stored customers whose `column` (the keys' `key`) holds the value of one of the
    /// batch's, by that value: a statement per hundred values, reading `enough` rows per value.
    async fn sharing(
        &mut self,
        conn: &impl ConnectionTrait,
        column: &str,
        key: fn(&Keys) -> Option<&String>,
        batch: &[(Uuid, &Keys)],
        leave_out: &HashSet<Uuid>,
        enough: u64,
    ) -> Result<HashMap<String, Vec<usize>>, Error> {
        let mut values: Vec<&String> = batch.iter().filter_map(|(_, k)| key(k)).collect();
        values.sort_unstable();
        values.dedup();
        let mut by = HashMap::new();
        for part in values.chunks(ROWS_PER_STATEMENT) {
            let stmt = select_keys()
                .and_where(Expr::col(Alias::new(column)).is_in(part.iter().map(|v| v.as_str())))
                .limit(enough * part.len() as u64)
                .to_owned();
            for place in self.add(conn, stmt, leave_out).await? {
                if let Some(value) = key(&self.rows[place].1) {
                    by.entry(value.clone()).or_insert_with(Vec::new).push(place);
                }
            }
        }
        Ok(by)
    }

    /// Reads `stmt`'s rows into the pool; returns their places in it.
    async fn add(
        &mut self,
        conn: &impl ConnectionTrait,
        stmt: sea_orm::sea_query::SelectStatement,
        leave_out: &HashSet<Uuid>,
    ) -> Result<Vec<usize>, Error> {
        let mut places = Vec::new();
        for row in conn.query_all(stmt.build_with(conn)).await? {
            let id: Uuid = row.try_get("", "id")?;
            if leave_out.contains(&id) {
                continue;
            }
            let place = match self.index.get(&id) {
                Some(place) => *place,
                None => {
                    self.rows.push((id, stored(&row)?));
                    self.index.insert(id, self.rows.len() - 1);
                    self.rows.len() - 1
                }
            };
            places.push(place);
        }
        Ok(places)
    }

    /// The stored customers that may be alike customer `id` with `keys`: those sharing its phone
    /// number, then its tax id, then standing near it, then in its city; at most `MAX_COMPARED`.
    fn near<'a>(&'a self, id: Uuid, keys: &Keys) -> impl Iterator<Item = (Uuid, &'a Keys)> + 'a {
        let of = |map: &'a HashMap<String, Vec<usize>>, key: &Option<String>| {
            key.as_ref()
                .and_then(|k| map.get(k))
                .map_or(&[][..], Vec::as_slice)
        };
        let mut seen = HashSet::new();
        let places: Vec<usize> = of(&self.by_phone, &keys.phone)
            .iter()
            .chain(of(&self.by_tax_id, &keys.tax_id))
            .chain(self.by_box.get(&id).map_or(&[][..], Vec::as_slice))
            .chain(of(&self.by_city, &keys.city))
            .copied()
            .filter(|p| seen.insert(*p))
            .take(MAX_COMPARED as usize)
            .collect();
        places
            .into_iter()
            .map(|p| (self.rows[p].0, &self.rows[p].1))
    }
}

fn select_keys() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .columns(["id", "name", "phone", "tax_id", "city", "lat", "lon"].map(Alias::new))
        .from(Alias::new("customer_keys"))
        .to_owned()
}

/// Records pairs, or refreshes their score and reasons while they are open; a dismissed or merged
/// pair stays decided.
async fn record(
    conn: &impl ConnectionTrait,
    pairs: HashMap<(Uuid, Uuid), (f64, Vec<Reason>)>,
) -> Result<(), Error> {
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort_by_key(|(pair, _)| *pair);
    let now = now_ms();
    for part in pairs.chunks(ROWS_PER_STATEMENT) {
        let mut stmt = Query::insert()
            .into_table(Alias::new("duplicate_candidates"))
            .columns(
                [
                    "id",
                    "customer_a",
                    "customer_b",
                    "score",
                    "reasons",
                    "status",
                    "detected_at",
                ]
                .map(Alias::new),
            )
            .on_conflict(
                OnConflict::columns([Alias::new("customer_a"), Alias::new("customer_b")])
                    .update_columns([Alias::new("score"), Alias::new("reasons")])
                    .action_and_where(
                        Expr::col((Alias::new("duplicate_candidates"), Alias::new("status")))
                            .eq("open"),
                    )
                    .to_owned(),
            )
            .to_owned();
        for ((a, b), (score, reasons)) in part {
            let reasons = serde_json::to_string(reasons).expect("reasons serialize");
            stmt.values_panic([
                Uuid::now_v7().into(),
                (*a).into(),
                (*b).into(),
                ((score * 1000.0).round() / 1000.0).into(),
                reasons.into(),
                "open".into(),
                now.into(),
            ]);
        }
        conn.execute(stmt.build_with(conn)).await?;
    }
    Ok(())
}

/// Drops the open candidates of `id` with a customer other than `still`.
async fn drop_stale(conn: &impl ConnectionTrait, id: Uuid, still: &[Uuid]) -> Result<(), Error> {
    let col = |c: &str| Expr::col(Alias::new(c));
    let mut stmt = Query::delete()
        .from_table(Alias::new("duplicate_candidates"))
        .and_where(col("status").eq("open"))
        .cond_where(
            Cond::any()
                .add(col("customer_a").eq(id))
                .add(col("customer_b").eq(id)),
        )
        .to_owned();
    if !still.is_empty() {
        stmt.and_where(col("customer_a").is_not_in(still.iter().copied()))
            .and_where(col("customer_b").is_not_in(still.iter().copied()));
    }
    conn.execute(stmt.build_with(conn)).await?;
    Ok(())
}

/// A customer as a candidate shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CandidateCustomer {
    pub id: Uuid,
    pub name: Option<String>,
    pub code: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub city: Option<String>,
    pub territory: Option<String>,
}

/// Two customers that are likely one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub id: Uuid,
    /// 0 to 1: the reasons' scores combined as independent evidence.
    pub score: f64,
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Reason>,
    /// `open`, `dismissed` or `merged`.
    pub status: String,
    /// Milliseconds since the epoch.
    pub detected_at: i64,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<i64>,
    pub a: CandidateCustomer,
    pub b: CandidateCustomer,
}

/// A page of candidates.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CandidatePage {
    pub candidates: Vec<Candidate>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<Uuid>,
}

/// What a listing asks for.
pub struct Listing {
    pub status: Option<String>,
    pub min_score: Option<f64>,
    pub customer: Option<Uuid>,
    pub after: Option<Uuid>,
    pub limit: u64,
}

/// Managers and admins decide duplicates; agents do not see them.
fn require_manager(who: &Principal) -> Result<(), Error> {
    if who.role >= Role::Manager {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "managers and admins review duplicate customers".into(),
        ))
    }
}

/// The candidates whose two customers `who` may both see, in the order they were found.
pub async fn list(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    q: &Listing,
) -> Result<CandidatePage, Error> {
    require_manager(who)?;
    let wanted = q.limit.clamp(1, MAX_PAGE);
    let mut stmt = select(who);
    let dc = Alias::new("dc");
    let col = |c: &str| Expr::col((dc.clone(), Alias::new(c)));
    if let Some(status) = &q.status {
        stmt.and_where(col("status").eq(status.as_str()));
    }
    if let Some(min) = q.min_score {
        stmt.and_where(col("score").gte(min));
    }
    if let Some(c) = q.customer {
        stmt.cond_where(
            Cond::any()
                .add(col("customer_a").eq(c))
                .add(col("customer_b").eq(c)),
        );
    }
    if let Some(after) = q.after {
        stmt.and_where(col("id").gt(after));
    }
    stmt.order_by((dc.clone(), Alias::new("id")), Order::Asc)
        .limit(wanted + 1);
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut candidates = rows
        .iter()
        .map(|r| candidate(vault, r))
        .collect::<Result<Vec<_>, _>>()?;
    let next = if candidates.len() as u64 > wanted {
        candidates.truncate(wanted as usize);
        candidates.last().map(|c| c.id)
    } else {
        None
    };
    Ok(CandidatePage { candidates, next })
}

/// One candidate `who` may see both customers of.
pub async fn get(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    id: Uuid,
) -> Result<Candidate, Error> {
    require_manager(who)?;
    let mut stmt = select(who);
    stmt.and_where(Expr::col((Alias::new("dc"), Alias::new("id"))).eq(id));
    let row = conn
        .query_one(stmt.build_with(conn))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no duplicate candidate {id}")))?;
    candidate(vault, &row)
}

/// Marks an open candidate dismissed: the two are different customers, and the check does not
/// raise the pair again.
pub async fn dismiss(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    id: Uuid,
) -> Result<Candidate, Error> {
    let candidate = get(conn, vault, who, id).await?;
    if candidate.status != "open" {
        return Err(Error::Conflict(format!(
            "duplicate candidate {id} is already {}",
            candidate.status
        )));
    }
    let stmt = Query::update()
        .table(Alias::new("duplicate_candidates"))
        .value(Alias::new("status"), "dismissed")
        .value(Alias::new("decided_by"), who.user_id)
        .value(Alias::new("decided_at"), now_ms())
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .and_where(Expr::col(Alias::new("status")).eq("open"))
        .to_owned();
    let done = conn.execute(stmt.build_with(conn)).await?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(format!(
            "duplicate candidate {id} was decided meanwhile"
        )));
    }
    get(conn, vault, who, id).await
}

/// Marks an open candidate merged for `who`, before the merge's writes: of two managers merging
/// one pair at once, one claims it and the other is answered 409.
pub async fn claim(conn: &impl ConnectionTrait, who: &Principal, id: Uuid) -> Result<(), Error> {
    let stmt = Query::update()
        .table(Alias::new("duplicate_candidates"))
        .value(Alias::new("status"), "merged")
        .value(Alias::new("decided_by"), who.user_id)
        .value(Alias::new("decided_at"), now_ms())
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .and_where(Expr::col(Alias::new("status")).eq("open"))
        .to_owned();
    if conn.execute(stmt.build_with(conn)).await?.rows_affected() == 0 {
        return Err(Error::Conflict(format!(
            "duplicate candidate {id} is not open"
        )));
    }
    Ok(())
}

/// Opens a claimed candidate again, after a merge that failed part way.
pub async fn reopen(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), Error> {
    let stmt = Query::update()
        .table(Alias::new("duplicate_candidates"))
        .value(Alias::new("status"), "open")
        .value(Alias::new("decided_by"), Option::<Uuid>::None)
        .value(Alias::new("decided_at"), Option::<i64>::None)
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    conn.execute(stmt.build_with(conn)).await?;
    Ok(())
}

/// Candidates joined to both customers' documents (for the caller's scope) and projections.
fn select(who: &Principal) -> sea_orm::sea_query::SelectStatement {
    let dc = Alias::new("dc");
    let mut stmt = Query::select();
    stmt.columns(
        [
            "id",
            "score",
            "reasons",
            "status",
            "detected_at",
            "decided_by",
            "decided_at",
        ]
        .map(|c| (dc.clone(), Alias::new(c))),
    )
    .from_as(Alias::new("duplicate_candidates"), dc.clone());
    for side in ["a", "b"] {
        let (d, c, t) = (
            Alias::new(format!("d{side}")),
            Alias::new(format!("c{side}")),
            Alias::new(format!("t{side}")),
        );
        stmt.join_as(
            JoinType::InnerJoin,
            Alias::new("documents"),
            d.clone(),
            Expr::col((d.clone(), Alias::new("id")))
                .equals((dc.clone(), Alias::new(format!("customer_{side}")))),
        )
        .join_as(
            JoinType::InnerJoin,
            Alias::new("customers"),
            c.clone(),
            Expr::col((c.clone(), Alias::new("id"))).equals((d.clone(), Alias::new("id"))),
        )
        .join_as(
            JoinType::LeftJoin,
            Alias::new("territories"),
            t.clone(),
            Expr::col((t.clone(), Alias::new("id")))
                .equals((d.clone(), Alias::new("territory_id"))),
        )
        .cond_where(who.visible(Some(&format!("d{side}"))))
        .expr_as(
            Expr::col((d.clone(), Alias::new("id"))),
            Alias::new(format!("{side}_id")),
        )
        .expr_as(
            Expr::col((t.clone(), Alias::new("name"))),
            Alias::new(format!("{side}_territory")),
        );
        for field in ["name", "code", "phone", "tax_id", "city"] {
            stmt.expr_as(
                Expr::col((c.clone(), Alias::new(field))),
                Alias::new(format!("{side}_{field}")),
            );
        }
    }
    stmt
}

fn candidate(vault: &Vault, row: &QueryResult) -> Result<Candidate, Error> {
    let side = |s: &str| -> Result<CandidateCustomer, Error> {
        let text = |f: &str| row.try_get::<Option<String>>("", &format!("{s}_{f}"));
        let id: Uuid = row.try_get("", &format!("{s}_id"))?;
        let tax_id = vault.open_column(row, id, &format!("{s}_tax_id"))?;
        Ok(CandidateCustomer {
            id,
            name: text("name")?,
            code: text("code")?,
            phone: text("phone")?,
            tax_id,
            city: text("city")?,
            territory: text("territory")?,
        })
    };
    let reasons: String = row.try_get("", "reasons")?;
    Ok(Candidate {
        id: row.try_get("", "id")?,
        score: row.try_get("", "score")?,
        reasons: serde_json::from_str(&reasons)
            .map_err(|e| Error::Internal(format!("stored reasons: {e}")))?,
        status: row.try_get("", "status")?,
        detected_at: row.try_get("", "detected_at")?,
        decided_by: row.try_get("", "decided_by")?,
        decided_at: row.try_get("", "decided_at")?,
        a: side("a")?,
        b: side("b")?,
    })
}
