//! An import worked out before anything is written: every row of the file read against its kind,
//! matched with what is stored (a customer by its number, a product by its sku, a contact by its
//! customer and e-mail or name, a payment by its customer and reference, an order by its customer
//! and number, a lead by its e-mail or name), checked as the merge path would check it (the
//! importer's scope, who may write each field, the schema), and split into records to create and
//! fields to change.
//! A file with any row in error writes nothing; the errors name the line, the column and why.

use std::collections::HashMap;

use automerge::{ActorId, AutoCommit};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use sync_core::{inspect, record, FieldType, Item, Value};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::BuildWith;
use crate::error::Error;
use crate::seal::Vault;
use crate::sync::author::new_server_actor;
use crate::sync::docstore;
use crate::sync::write::{company_settings, find_document, territories_by_name};
use crate::transfer::columns::{convert, normalise, Column, Convert, ItemColumns, Key, Target};
use crate::transfer::sheet::Sheet;

/// Why a row cannot be imported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowError {
    /// The line of the file (the header is line 1).
    pub line: u64,
    /// The column's header as the file names it; empty for the row as a whole.
    pub column: String,
    pub reason: String,
}

/// A record to create or change, with the fields to write.
#[derive(Debug)]
pub struct Planned {
    pub line: u64,
    pub id: Uuid,
    pub values: Vec<(&'static str, Value)>,
    /// A new record's first change, made with the plan's actor while checking the row (the write
    /// sends it as it is rather than build the record again); None for a change of a stored record,
    /// made at the write against the record as it then stands.
    pub change: Option<Vec<u8>>,
}

/// What an import would do.
#[derive(Debug)]
pub struct Plan {
    pub target: &'static Target,
    /// The automerge actor of the import's changes: new records' first changes are made with it
    /// while the file is checked.
    pub actor: ActorId,
    pub creates: Vec<Planned>,
    pub updates: Vec<Planned>,
    /// Rows whose record already holds every value of the row.
    pub unchanged: usize,
    pub errors: Vec<RowError>,
    /// Headers that name no field of the kind: their cells are not imported.
    pub ignored: Vec<String>,
}

/// At most this many row errors are listed; the count says how many there were in all.
pub const MAX_LISTED_ERRORS: usize = 1_000;

/// What a file's headers name.
struct Headers {
    /// Each header's column; None for one that is ignored.
    mapped: Vec<Option<&'static Column>>,
    /// Headers that name no field.
    ignored: Vec<String>,
    /// The `id` column (an export's), which matches rows with stored records by id.
    id: Option<usize>,
}

fn map_headers(target: &'static Target, sheet: &Sheet) -> Result<Headers, Error> {
    let mut mapped: Vec<Option<&'static Column>> = Vec::with_capacity(sheet.headers.len());
    let mut ignored = Vec::new();
    let id = sheet.headers.iter().position(|h| normalise(h) == "id");
    for (i, header) in sheet.headers.iter().enumerate() {
        if Some(i) == id {
            mapped.push(None);
            continue;
        }
        let column = target.column(header);
        if let Some(c) = column {
            if let Some(i) = mapped
                .iter()
                .position(|m| m.is_some_and(|o| o.field == c.field))
            {
                return Err(Error::bad_request(
                    "invalid_file",
                    format!(
                        "the columns `{}` and `{header}` both name the field `{}`",
                        sheet.headers[i], c.field
                    ),
                ));
            }
        } else if !header.is_empty() {
            ignored.push(header.clone());
        }
        mapped.push(column);
    }
    let key = target.key.column();
    if id.is_none() && !mapped.iter().any(|m| m.is_some_and(|c| c.field == key)) {
        let column = target
            .columns
            .iter()
            .find(|c| c.field == key)
            .map_or(key, |c| c.synonyms[0]);
        return Err(Error::bad_request(
            "invalid_file",
            format!(
                "{} are matched on `{key}`: the file needs that column (or `{column}`), or the `id` of an export",
                target.name
            ),
        ));
    }
    Ok(Headers {
        mapped,
        ignored,
        id,
    })
}

/// Stored keys of the target's records, to match rows with.
struct Stored {
    /// Customers by number, products by sku, price lists by name, or leads by lower-case e-mail
    /// or name.
    by_key: HashMap<String, Uuid>,
    /// Customers the importer sees, by number, for the `customer_id` of contacts, payments and
    /// orders.
    customers: HashMap<String, Uuid>,
    /// Contacts by customer and lower-case e-mail or name.
    contacts: HashMap<(Uuid, String), Uuid>,
    /// Payments by customer and lower-case reference, or orders by customer and lower-case number.
    numbered: HashMap<(Uuid, String), Uuid>,
    /// Products by sku, for a price list's prices and an order's lines.
    products: HashMap<String, Uuid>,
    /// Users by lower-case e-mail address, for an order's agent.
    users: HashMap<String, Uuid>,
    /// The company's currency, for payments, orders and price lists that do not name theirs.
    currency: Option<String>,
    territories: HashMap<String, Uuid>,
}

async fn pairs<K: sea_orm::TryGetable>(
    conn: &impl ConnectionTrait,
    query: sea_orm::sea_query::SelectStatement,
    columns: [&str; 2],
) -> Result<Vec<(K, Uuid)>, Error> {
    let rows = conn.query_all(query.build_with(conn)).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", columns[0])?, r.try_get("", columns[1])?)))
        .collect()
}

async fn stored(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    target: &Target,
) -> Result<Stored, Error> {
    let codes = || {
        Query::select()
            .columns([Alias::new("code"), Alias::new("customer_id")])
            .from(Alias::new("customer_codes"))
            .to_owned()
    };
    // A customer the importer does not see is one that does not exist for her.
    let seen_codes = || {
        codes()
            .inner_join(
                Alias::new("documents"),
                Expr::col((Alias::new("documents"), Alias::new("id")))
                    .equals((Alias::new("customer_codes"), Alias::new("customer_id"))),
            )
            .cond_where(who.visible(Some("documents")))
            .to_owned()
    };
    let mut out = Stored {
        by_key: HashMap::new(),
        customers: HashMap::new(),
        contacts: HashMap::new(),
        numbered: HashMap::new(),
        products: HashMap::new(),
        users: HashMap::new(),
        currency: None,
        territories: territories_by_name(conn).await?,
    };
    if matches!(target.key, Key::ContactOf | Key::PaymentOf | Key::OrderOf) {
        out.customers = pairs(conn, seen_codes(), ["code", "customer_id"])
            .await?
            .into_iter()
            .collect();
    }
    if target.converts(Convert::ProductSku) {
        out.products = products(conn).await?;
    }
    if target.converts(Convert::UserEmail) {
        let q = Query::select()
            .columns([Alias::new("email"), Alias::new("id")])
            .from(Alias::new("users"))
            .to_owned();
        out.users = pairs::<String>(conn, q, ["email", "id"])
            .await?
            .into_iter()
            .map(|(email, id)| (email.to_lowercase(), id))
            .collect();
    }
    match target.key {
        Key::Code => {
            out.by_key = pairs(conn, codes(), ["code", "customer_id"])
                .await?
                .into_iter()
                .collect()
        }
        Key::Sku => out.by_key = products(conn).await?,
        Key::Name => {
            out.currency = company_settings(conn).await?.and_then(|s| s.currency);
            let q = Query::select()
                .columns([Alias::new("name"), Alias::new("id")])
                .from(Alias::new("price_lists"))
                .and_where(Expr::col(Alias::new("deleted")).eq(false))
                .to_owned();
            out.by_key = pairs(conn, q, ["name", "id"]).await?.into_iter().collect();
        }
        Key::PaymentOf | Key::OrderOf => {
            out.currency = company_settings(conn).await?.and_then(|s| s.currency);
            let (field, _) = target.key.per_customer().unwrap_or_default();
            let q = Query::select()
                .columns(["customer_id", field, "id"].map(Alias::new))
                .from(Alias::new(target.kind.table))
                .and_where(Expr::col(Alias::new("deleted")).eq(false))
                .and_where(Expr::col(Alias::new(field)).is_not_null())
                .to_owned();
            for r in conn.query_all(q.build_with(conn)).await? {
                let number: String = r.try_get("", field)?;
                out.numbered
                    .entry((r.try_get("", "customer_id")?, number.to_lowercase()))
                    .or_insert(r.try_get("", "id")?);
            }
        }
        Key::Lead => {
            let q = Query::select()
                .columns(["email", "name", "id"].map(Alias::new))
                .from(Alias::new("leads"))
                .and_where(Expr::col(Alias::new("deleted")).eq(false))
                .to_owned();
            for r in conn.query_all(q.build_with(conn)).await? {
                let id: Uuid = r.try_get("", "id")?;
                let (email, name) = (
                    vault.open_column(&r, id, "email")?,
                    vault.open_column(&r, id, "name")?,
                );
                if let Some(k) = contact_key(email.as_deref(), name.as_deref()) {
                    out.by_key.entry(k).or_insert(id);
                }
            }
        }
        Key::ContactOf => {
            let q = Query::select()
                .columns(["customer_id", "email", "name", "id"].map(Alias::new))
                .from(Alias::new("contacts"))
                .and_where(Expr::col(Alias::new("deleted")).eq(false))
                .to_owned();
            for r in conn.query_all(q.build_with(conn)).await? {
                let customer: Uuid = r.try_get("", "customer_id")?;
                let id: Uuid = r.try_get("", "id")?;
                let (email, name) = (
                    vault.open_column(&r, id, "email")?,
                    vault.open_column(&r, id, "name")?,
                );
                if let Some(k) = contact_key(email.as_deref(), name.as_deref()) {
                    out.contacts.entry((customer, k)).or_insert(id);
                }
            }
        }
    }
    Ok(out)
}

/// The live products by sku.
async fn products(conn: &impl ConnectionTrait) -> Result<HashMap<String, Uuid>, Error> {
    let q = Query::select()
        .columns([Alias::new("sku"), Alias::new("id")])
        .from(Alias::new("products"))
        .and_where(Expr::col(Alias::new("deleted")).eq(false))
        .to_owned();
    Ok(pairs(conn, q, ["sku", "id"]).await?.into_iter().collect())
}

/// What tells a customer's contacts (or the leads) apart: the e-mail address, else the name, in
/// lower case.
fn contact_key(email: Option<&str>, name: Option<&str>) -> Option<String> {
    email
        .filter(|e| !e.is_empty())
        .map(|e| format!("email:{}", e.to_lowercase()))
        .or_else(|| {
            name.filter(|n| !n.is_empty())
                .map(|n| format!("name:{}", n.to_lowercase()))
        })
}

fn text<'a>(values: &'a [(&str, Value)], field: &str) -> Option<&'a str> {
    values
        .iter()
        .find(|(f, _)| *f == field)
        .and_then(|(_, v)| match v {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        })
}

/// Works out what importing `sheet` as `target` would do for `who`.
pub async fn plan(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    target: &'static Target,
    sheet: &Sheet,
) -> Result<Plan, Error> {
    let Headers {
        mapped,
        ignored,
        id: id_column,
    } = map_headers(target, sheet)?;
    let stored = stored(conn, vault, who, target).await?;
    let actor = new_server_actor();
    let mut plan = Plan {
        target,
        actor: actor.clone(),
        creates: Vec::new(),
        updates: Vec::new(),
        unchanged: 0,
        errors: Vec::new(),
        ignored,
    };
    let kind = target.kind;
    let item_schema = target
        .items
        .and_then(|i| match kind.field(i.field).map(|f| f.ty) {
            Some(FieldType::Items(schema)) => Some(schema),
            _ => None,
        });
    let item_keeps_sku = item_schema.is_some_and(|s| s.fields.iter().any(|f| f.name == "sku"));
    let header_of = |field: &str| {
        mapped
            .iter()
            .position(|m| m.is_some_and(|c| c.field == field))
            .map_or(field.to_string(), |i| sheet.headers[i].clone())
    };
    // The rows seen so far, by key, to find a key given twice.
    let mut seen: HashMap<String, u64> = HashMap::new();
    // A record of several rows (a price list's prices), by key, in the order of its first row.
    let mut groups: Vec<Group> = Vec::new();
    // New records, made at the end, all at once.
    let mut new: Vec<NewRow> = Vec::new();
    for row in &sheet.rows {
        let mut errors = Vec::new();
        let fail = |errors: &mut Vec<RowError>, column: &str, reason: String| {
            errors.push(RowError {
                line: row.line,
                column: column.to_string(),
                reason,
            })
        };
        if row.cells.len() != sheet.headers.len() {
            fail(
                &mut errors,
                "",
                format!(
                    "has {} cells where the header has {}",
                    row.cells.len(),
                    sheet.headers.len()
                ),
            );
            plan.errors.extend(errors);
            continue;
        }
        let mut values: Vec<(&'static str, Value)> = Vec::new();
        let mut item: Vec<(&'static str, Value)> = Vec::new();
        for ((cell, column), header) in row.cells.iter().zip(&mapped).zip(&sheet.headers) {
            let Some(column) = column else { continue };
            if cell.is_empty() {
                continue;
            }
            let into = if target.is_item(column) {
                &mut item
            } else {
                &mut values
            };
            match convert(column.convert, cell, sheet.decimal_comma) {
                Ok(Value::Str(code)) if column.convert == Convert::CustomerCode => {
                    match stored.customers.get(&code) {
                        Some(id) => into.push((column.field, Value::Str(id.to_string()))),
                        None => fail(
                            &mut errors,
                            header,
                            format!("no customer you see has the number `{code}`"),
                        ),
                    }
                }
                Ok(Value::Str(sku)) if column.convert == Convert::ProductSku => {
                    match stored.products.get(&sku) {
                        Some(id) => {
                            into.push((column.field, Value::Str(id.to_string())));
                            // An order's line keeps the sku it was ordered under.
                            if item_keeps_sku && target.is_item(column) {
                                into.push(("sku", Value::Str(sku)));
                            }
                        }
                        None => fail(
                            &mut errors,
                            header,
                            format!("no product has the sku `{sku}`"),
                        ),
                    }
                }
                Ok(Value::Str(email)) if column.convert == Convert::UserEmail => {
                    match stored.users.get(&email.to_lowercase()) {
                        Some(id) => into.push((column.field, Value::Str(id.to_string()))),
                        None => fail(
                            &mut errors,
                            header,
                            format!("no user has the e-mail address `{email}`"),
                        ),
                    }
                }
                Ok(value) => into.push((column.field, value)),
                Err(reason) => fail(&mut errors, header, reason),
            }
        }
        // A payment, an order or a price list in no named currency is in the company's.
        if let Some(currency) = &stored.currency {
            if text(&values, "currency").is_none() {
                values.push(("currency", Value::Str(currency.clone())));
            }
        }
        // The row's key, and the stored record it names: its `id` where the file has one, else
        // the kind's key.
        let id = id_column
            .map(|i| row.cells[i].as_str())
            .filter(|c| !c.is_empty());
        let (key, existing) = match (id, target.key) {
            (Some(id), _) => match id.parse::<Uuid>() {
                Ok(id) => (Some(id.to_string()), Some(id)),
                Err(_) => {
                    fail(
                        &mut errors,
                        &sheet.headers[id_column.unwrap_or(0)],
                        format!("`{id}` is not a record's id"),
                    );
                    (None, None)
                }
            },
            (None, key) => match key {
                Key::Code | Key::Sku | Key::Name => {
                    let field = key.field().unwrap_or_default();
                    match text(&values, field) {
                        Some(k) => (Some(k.to_string()), stored.by_key.get(k).copied()),
                        None => {
                            fail(
                                &mut errors,
                                &header_of(field),
                                "is empty: every row needs it".into(),
                            );
                            (None, None)
                        }
                    }
                }
                Key::PaymentOf | Key::OrderOf => {
                    let (field, needed) = key.per_customer().unwrap_or_default();
                    let customer =
                        text(&values, "customer_id").and_then(|c| c.parse::<Uuid>().ok());
                    let number = text(&values, field).map(str::to_lowercase);
                    match (customer, number) {
                        (Some(c), Some(n)) => (
                            Some(format!("{c}/{n}")),
                            stored.numbered.get(&(c, n)).copied(),
                        ),
                        (Some(_), None) => {
                            fail(
                                &mut errors,
                                &header_of(field),
                                format!("is empty: {needed}"),
                            );
                            (None, None)
                        }
                        (None, _) if errors.is_empty() => {
                            fail(
                                &mut errors,
                                &header_of("customer_id"),
                                format!(
                                    "is empty: every {} needs its customer's number",
                                    kind.name
                                ),
                            );
                            (None, None)
                        }
                        _ => (None, None),
                    }
                }
                Key::Lead => {
                    let k = contact_key(text(&values, "email"), text(&values, "name"));
                    let existing = k.as_ref().and_then(|k| stored.by_key.get(k).copied());
                    (k, existing)
                }
                Key::ContactOf => {
                    let customer =
                        text(&values, "customer_id").and_then(|c| c.parse::<Uuid>().ok());
                    let k = contact_key(text(&values, "email"), text(&values, "name"));
                    match (customer, k) {
                        (Some(c), Some(k)) => (
                            Some(format!("{c}/{k}")),
                            stored.contacts.get(&(c, k)).copied(),
                        ),
                        (None, _) if errors.is_empty() => {
                            fail(
                                &mut errors,
                                &header_of("customer_id"),
                                "is empty: every contact needs its customer's number".into(),
                            );
                            (None, None)
                        }
                        _ => (None, None),
                    }
                }
            },
        };
        // A number already another customer's (a product's sku another product's) is refused
        // here rather than by the merge path halfway through the file.
        if let (Some(id), Some(field)) = (existing, target.key.field()) {
            if let Some(other) = text(&values, field).and_then(|k| stored.by_key.get(k)) {
                if *other != id {
                    fail(
                        &mut errors,
                        &header_of(field),
                        format!(
                            "`{}` is another record's",
                            text(&values, field).unwrap_or_default()
                        ),
                    );
                }
            }
        }
        if let Some(territory) = text(&values, "territory") {
            match stored.territories.get(territory) {
                Some(t) if who.can_use_territory(*t) => {}
                Some(_) => fail(
                    &mut errors,
                    &header_of("territory"),
                    format!("`{territory}` is not one of your territories"),
                ),
                None => fail(
                    &mut errors,
                    &header_of("territory"),
                    format!("no territory is named `{territory}`"),
                ),
            }
        }
        let mut names: std::collections::BTreeSet<String> =
            values.iter().map(|(f, _)| f.to_string()).collect();
        names.extend(target.items.map(|i| i.field.to_string()));
        if let Err(e) = inspect::check_writable(kind, who.role, &names) {
            fail(&mut errors, "", e.to_string());
        }
        match (target.items, key) {
            (Some(items), Some(key)) if errors.is_empty() => {
                let line = row.line;
                for spec in item_schema.map_or(&[][..], |s| s.fields) {
                    if spec.required && !item.iter().any(|(f, _)| *f == spec.name) {
                        fail(
                            &mut errors,
                            &header_of(spec.name),
                            "is empty: every row needs it".into(),
                        );
                    }
                }
                match groups.iter_mut().find(|g| g.key == key) {
                    Some(group) => group.join(line, values, item, items, &header_of, &mut errors),
                    None => {
                        let mut group = Group {
                            key,
                            line,
                            existing,
                            values,
                            items: Vec::new(),
                        };
                        group.add_item(line, item, items, &mut errors);
                        groups.push(group);
                    }
                }
                plan.errors.extend(errors);
            }
            (Some(_), _) => plan.errors.extend(errors),
            (None, key) => {
                if let Some(key) = key {
                    if let Some(first) = seen.insert(key, row.line) {
                        fail(
                            &mut errors,
                            "",
                            format!("names the same record as line {first}"),
                        );
                    }
                }
                if !errors.is_empty() {
                    plan.errors.extend(errors);
                    continue;
                }
                match existing {
                    None => new.push((row.line, with_defaults(target, values))),
                    Some(id) => {
                        let outcome = changed(conn, vault, who, kind, id, values).await?;
                        settle(&mut plan, row.line, id, outcome, &header_of);
                    }
                }
            }
        }
    }
    if let Some(items) = target.items {
        for group in groups {
            let stored = match group.existing {
                Some(id) => stored_items(conn, vault, kind, id, items.field).await?,
                None => Vec::new(),
            };
            let held = group.items(items, &stored);
            let mut values = group.values;
            values.push((items.field, held));
            match group.existing {
                None => new.push((group.line, with_defaults(target, values))),
                Some(id) => {
                    let outcome = changed(conn, vault, who, kind, id, values).await?;
                    settle(&mut plan, group.line, id, outcome, &header_of);
                }
            }
        }
    }
    for ((line, values), change) in first_changes(kind, &plan.actor, new).await? {
        match change {
            Ok(change) => plan.creates.push(Planned {
                line,
                id: Uuid::now_v7(),
                values,
                change: Some(change),
            }),
            Err(e) => plan.errors.extend(invalid(line, &e.into(), &header_of)),
        }
    }
    // In the file's order (a new record's errors were found last); a line's errors as found.
    plan.errors.sort_by_key(|e| e.line);
    Ok(plan)
}

/// A new record's row: its line and values.
type NewRow = (u64, Vec<(&'static str, Value)>);

/// A new record's values, with the target's defaults for the fields its row left empty.
fn with_defaults(
    target: &Target,
    mut values: Vec<(&'static str, Value)>,
) -> Vec<(&'static str, Value)> {
    for (field, value) in target.defaults {
        if !values.iter().any(|(f, _)| f == field) {
            values.push((field, Value::Str(value.to_string())));
        }
    }
    values
}

/// Puts a change of stored record `id` (the row's values as [`changed`] answered them) in `plan`:
/// to update, unchanged when the record already holds every value, or the row's errors.
fn settle(
    plan: &mut Plan,
    line: u64,
    id: Uuid,
    outcome: Result<Vec<(&'static str, Value)>, Error>,
    header_of: &(dyn Fn(&str) -> String + Sync),
) {
    match outcome {
        Ok(values) if values.is_empty() => plan.unchanged += 1,
        Ok(values) => plan.updates.push(Planned {
            line,
            id,
            values,
            change: None,
        }),
        Err(e) => plan.errors.extend(invalid(line, &e, header_of)),
    }
}

/// Each new record's first change, made with `actor`, or why the schema refuses the record; in
/// the rows' order. Building documents is most of checking a large file, and each is independent:
/// the rows are split over the machine's cores (scoped threads, in a blocking task; the work is
/// one even split, which needs no pool).
async fn first_changes(
    kind: &'static sync_core::KindSchema,
    actor: &ActorId,
    rows: Vec<NewRow>,
) -> Result<Vec<(NewRow, Result<Vec<u8>, sync_core::Error>)>, Error> {
    let actor = actor.clone();
    tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = rows.len().div_ceil(threads).max(1);
        let changes: Vec<_> = std::thread::scope(|scope| {
            let parts: Vec<_> = rows
                .chunks(per)
                .map(|part| {
                    let actor = &actor;
                    scope.spawn(move || {
                        part.iter()
                            .map(|(_, values)| first_change(kind, actor, values))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().expect("building a record does not panic"))
                .collect()
        });
        rows.into_iter().zip(changes).collect()
    })
    .await
    .map_err(|e| Error::Internal(format!("building the import's records: {e}")))
}

/// A new record's first change, made with `actor`, or why the schema refuses it.
fn first_change(
    kind: &'static sync_core::KindSchema,
    actor: &ActorId,
    values: &[(&'static str, Value)],
) -> Result<Vec<u8>, sync_core::Error> {
    record::create(kind, actor.clone(), values).map(|mut doc| {
        doc.get_last_local_change()
            .expect("a new record has its first change")
            .raw_bytes()
            .to_vec()
    })
}

/// The rows of one record that takes a row per item.
struct Group {
    key: String,
    /// The first row's line, which the record's errors name.
    line: u64,
    existing: Option<Uuid>,
    values: Vec<(&'static str, Value)>,
    /// Each row's item, with its line.
    items: Vec<(u64, Vec<(&'static str, Value)>)>,
}

impl Group {
    /// Adds a later row: its record's values must be the first row's (or left empty).
    fn join(
        &mut self,
        line: u64,
        values: Vec<(&'static str, Value)>,
        item: Vec<(&'static str, Value)>,
        items: &ItemColumns,
        header_of: &dyn Fn(&str) -> String,
        errors: &mut Vec<RowError>,
    ) {
        for (field, value) in values {
            match self.values.iter().find(|(f, _)| *f == field) {
                Some((_, first)) if *first != value => errors.push(RowError {
                    line,
                    column: header_of(field),
                    reason: format!("differs from line {}, this record's first row", self.line),
                }),
                Some(_) => {}
                None => self.values.push((field, value)),
            }
        }
        self.add_item(line, item, items, errors);
    }

    fn add_item(
        &mut self,
        line: u64,
        item: Vec<(&'static str, Value)>,
        items: &ItemColumns,
        errors: &mut Vec<RowError>,
    ) {
        let key = item_key(&item, items);
        if let Some((first, _)) = self
            .items
            .iter()
            .find(|(_, other)| item_key(other, items) == key)
        {
            errors.push(RowError {
                line,
                column: String::new(),
                reason: format!("names the same item as line {first}"),
            });
        }
        if errors.is_empty() {
            self.items.push((line, item));
        }
    }

    /// The record's items as the file gives them, each keeping the id of the stored item it
    /// matches (so that an import again changes only what differs), in id order as a record
    /// holds them.
    fn items(&self, items: &ItemColumns, stored: &[Item]) -> Value {
        let mut out: Vec<Item> = self
            .items
            .iter()
            .map(|(_, fields)| {
                let key = item_key(fields, items);
                let mut item = Item::new(fields.iter().cloned());
                if let Some(same) = stored
                    .iter()
                    .find(|s| items.key.iter().zip(&key).all(|(f, v)| s.get(f) == *v))
                {
                    item.id = same.id.clone();
                }
                item
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Value::Items(out)
    }
}

/// An item's values of the fields that tell items apart (Null where unset).
fn item_key<'a>(item: &'a [(&'static str, Value)], items: &ItemColumns) -> Vec<&'a Value> {
    items
        .key
        .iter()
        .map(|k| {
            item.iter()
                .find(|(f, _)| f == k)
                .map_or(&Value::Null, |(_, v)| v)
        })
        .collect()
}

/// The items a stored record holds in `field`.
async fn stored_items(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    kind: &'static sync_core::KindSchema,
    id: Uuid,
    field: &str,
) -> Result<Vec<Item>, Error> {
    let doc = docstore::load(conn, vault, id)
        .await?
        .map_err(|e| Error::Internal(format!("record {id} does not load: {e}")))?;
    Ok(match record::project(&doc, kind)?.get(field) {
        Value::Items(items) => items.clone(),
        _ => Vec::new(),
    })
}

/// The row errors of a record the schema refuses, each naming its column where it names a field.
fn invalid(line: u64, error: &Error, header_of: &dyn Fn(&str) -> String) -> Vec<RowError> {
    match error {
        Error::Core(sync_core::Error::Invalid(fields)) => fields
            .iter()
            .map(|f| RowError {
                line,
                column: header_of(&f.field),
                reason: f.message.clone(),
            })
            .collect(),
        other => vec![RowError {
            line,
            column: String::new(),
            reason: other.to_string(),
        }],
    }
}

/// Of `values`, those that differ from what record `id` holds, checked against its kind as an
/// update of it; a record `who` may not see is refused like one that does not exist.
pub async fn changed(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    kind: &'static sync_core::KindSchema,
    id: Uuid,
    values: Vec<(&'static str, Value)>,
) -> Result<Result<Vec<(&'static str, Value)>, Error>, Error> {
    let Some(row) = find_document(conn, id, false)
        .await?
        .filter(|r| who.can_see(r))
    else {
        return Ok(Err(Error::Forbidden(format!(
            "the stored {} is not one you may change",
            kind.name
        ))));
    };
    if row.kind != kind.name {
        return Ok(Err(Error::Internal(format!(
            "record {id} is a {}",
            row.kind
        ))));
    }
    let mut doc = match docstore::load(conn, vault, id).await? {
        Ok(doc) => doc,
        Err(e) => {
            return Ok(Err(Error::Internal(format!(
                "record {id} does not load: {e}"
            ))))
        }
    };
    let values = differing(&doc, kind, &values)?;
    if values.is_empty() {
        return Ok(Ok(values));
    }
    Ok(record::update(&mut doc, kind, &values)
        .map(|()| values)
        .map_err(Error::from))
}

/// Of `values`, those that differ from what `doc` holds.
pub fn differing(
    doc: &AutoCommit,
    kind: &'static sync_core::KindSchema,
    values: &[(&'static str, Value)],
) -> Result<Vec<(&'static str, Value)>, Error> {
    let current = record::project(doc, kind)?;
    Ok(values
        .iter()
        .filter(|(f, v)| current.get(f) != v)
        .cloned()
        .collect())
}
