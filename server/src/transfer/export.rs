//! `export KIND`: a kind's live records as CSV or JSON lines, read from each record's stored listing
//! (the JSON of its fields, kept with every write), page by page in id order, so a large export
//! holds one page in memory. The kinds `import` takes are written as it reads them, so an exported
//! file imports back unchanged: amounts in major units, percentages, quantities, a customer by its
//! number, a product by its sku, a user by e-mail; a record with items (a price list's prices, an
//! order's lines) as a row per item, the record's own cells repeated on each. (A record with no
//! items is a row with empty item cells, which an import refuses: it never empties a record's items.)

use std::collections::HashMap;
use std::io::Write;

use sea_orm::sea_query::{Alias, Cond, Expr, Order, Query};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value as Json};
use sync_core::record::{self, Listing};
use sync_core::{kinds, KindSchema};
use uuid::Uuid;

use crate::db::BuildWith;
use crate::error::Error;
use crate::seal::Vault;
use crate::sync::docstore;
use crate::transfer::columns::{self, Column, Convert, Target};

/// CSV (a header row of field names) or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

const PAGE: u64 = 1_000;

/// The kind `name` names: its own name (`customer`) or its table's (`customers`).
pub fn kind_named(name: &str) -> Option<&'static KindSchema> {
    kinds::ALL
        .iter()
        .copied()
        .find(|k| k.name == name || k.table == name)
}

/// The header of a column in an export: a customer goes out as its number, a product as its sku, a
/// user as an e-mail address, each under a name the import reads as such.
fn header(column: &Column) -> &'static str {
    match column.convert {
        Convert::CustomerCode => "customer_code",
        Convert::ProductSku => "sku",
        Convert::UserEmail => column.synonyms.first().copied().unwrap_or(column.field),
        _ => column.field,
    }
}

/// What ids stand for in an import's columns: customers' numbers, products' skus, users' e-mail
/// addresses, each read only if the target has such a column.
#[derive(Default)]
struct Names {
    customers: HashMap<Uuid, String>,
    products: HashMap<Uuid, String>,
    users: HashMap<Uuid, String>,
}

impl Names {
    async fn of(conn: &impl ConnectionTrait, target: Option<&Target>) -> Result<Names, Error> {
        let Some(target) = target else {
            return Ok(Names::default());
        };
        let mut names = Names::default();
        if target.converts(Convert::CustomerCode) {
            names.customers = by_id(conn, "customer_codes", "customer_id", "code").await?;
        }
        if target.converts(Convert::ProductSku) {
            names.products = by_id(conn, "products", "id", "sku").await?;
        }
        if target.converts(Convert::UserEmail) {
            names.users = by_id(conn, "users", "id", "email").await?;
        }
        Ok(names)
    }

    fn of_id(&self, convert: Convert, id: &str) -> Option<&String> {
        let map = match convert {
            Convert::CustomerCode => &self.customers,
            Convert::ProductSku => &self.products,
            Convert::UserEmail => &self.users,
            _ => return None,
        };
        map.get(&id.parse().ok()?)
    }
}

/// Writes every live record of `kind` to `out`; returns how many.
pub async fn export_to(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    kind: &'static KindSchema,
    format: Format,
    out: &mut impl Write,
) -> Result<usize, Error> {
    let failed = |e: std::io::Error| Error::Internal(format!("writing the export: {e}"));
    let mut export = Export::new(conn, kind, format, None, false).await?;
    while let Some(bytes) = export.next(conn, vault).await? {
        out.write_all(&bytes).map_err(failed)?;
    }
    out.flush().map_err(failed)?;
    Ok(export.count)
}

/// An export in progress: the live records of a kind that a condition on `documents` lets
/// through (or all), a page of records at a time.
pub struct Export {
    kind: &'static KindSchema,
    format: Format,
    visible: Option<Cond>,
    /// Whether the kind's personal fields are left empty: the reader does not work with the
    /// customers whose people they are.
    mask: bool,
    /// The import's columns, for the kinds it takes.
    target: Option<&'static Target>,
    names: Names,
    /// The last record of the last page; None before the first.
    after: Option<Uuid>,
    started: bool,
    done: bool,
    /// Records exported so far.
    pub count: usize,
}

impl Export {
    pub async fn new(
        conn: &impl ConnectionTrait,
        kind: &'static KindSchema,
        format: Format,
        visible: Option<Cond>,
        mask: bool,
    ) -> Result<Export, Error> {
        let target = columns::TARGETS
            .iter()
            .copied()
            .find(|t| std::ptr::eq(t.kind, kind));
        Ok(Export {
            kind,
            format,
            visible,
            mask,
            target,
            names: Names::of(conn, target).await?,
            after: None,
            started: false,
            done: false,
            count: 0,
        })
    }

    fn headers(&self) -> Vec<&'static str> {
        let rest: Vec<&'static str> = match self.target {
            Some(t) => {
                let items = t.items.map_or(&[][..], |i| i.columns);
                t.columns.iter().chain(items).map(header).collect()
            }
            None => self.kind.fields.iter().map(|f| f.name).collect(),
        };
        std::iter::once("id").chain(rest).collect()
    }

    /// The next piece of the file (the header with the first), or None at its end.
    pub async fn next(
        &mut self,
        conn: &impl ConnectionTrait,
        vault: &Vault,
    ) -> Result<Option<Vec<u8>>, Error> {
        if self.done {
            return Ok(None);
        }
        let failed =
            |e: &dyn std::fmt::Display| Error::Internal(format!("writing the export: {e}"));
        let page = page(conn, vault, self.kind, self.visible.clone(), self.after).await?;
        self.after = page.last().map(|(id, _)| *id);
        self.done = self.after.is_none();
        let mut csv = csv::WriterBuilder::new().from_writer(Vec::new());
        let mut lines = Vec::new();
        if !self.started && self.format == Format::Csv {
            csv.write_record(self.headers()).map_err(|e| failed(&e))?;
        }
        self.started = true;
        for (id, listing) in page {
            if listing.deleted {
                continue;
            }
            let mut fields: Map<String, Json> = serde_json::from_str(&listing.fields)
                .map_err(|e| Error::Internal(format!("record {id}'s listing: {e}")))?;
            if self.mask {
                // Left empty, as unset: an import of the file leaves empty cells as they are.
                for field in self.kind.personal_fields() {
                    if let Some(value) = fields.get_mut(field) {
                        *value = Json::Null;
                    }
                }
            }
            self.count += 1;
            match self.format {
                Format::Csv => {
                    for cells in self.rows(&fields) {
                        csv.write_record(std::iter::once(id.to_string()).chain(cells))
                            .map_err(|e| failed(&e))?;
                    }
                }
                Format::Jsonl => {
                    let mut line = Map::new();
                    line.insert("id".into(), Json::String(id.to_string()));
                    line.extend(fields);
                    serde_json::to_writer(&mut lines, &Json::Object(line))
                        .map_err(|e| failed(&e))?;
                    lines.push(b'\n');
                }
            }
        }
        Ok(Some(match self.format {
            Format::Csv => csv.into_inner().map_err(|e| failed(&e))?,
            Format::Jsonl => lines,
        }))
    }

    /// A record's CSV rows after its id: the import's cells (a row per item where it takes items),
    /// or every field as it is for a kind it does not take.
    fn rows(&self, fields: &Map<String, Json>) -> Vec<Vec<String>> {
        let Some(target) = self.target else {
            let cells = self.kind.fields.iter().map(|f| cell(fields.get(f.name)));
            return vec![cells.collect()];
        };
        let own = as_imported(target.columns, fields, &self.names);
        let Some(items) = target.items else {
            return vec![own];
        };
        let held = fields.get(items.field).and_then(Json::as_array);
        let mut rows: Vec<Vec<String>> = held
            .into_iter()
            .flatten()
            .filter_map(Json::as_object)
            .map(|item| {
                let mut row = own.clone();
                row.extend(as_imported(items.columns, item, &self.names));
                row
            })
            .collect();
        if rows.is_empty() {
            let mut row = own;
            row.resize(row.len() + items.columns.len(), String::new());
            rows.push(row);
        }
        rows
    }
}

/// A value as a CSV cell: text as it is, numbers and booleans as JSON writes them, items as JSON.
fn cell(value: Option<&Json>) -> String {
    match value {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A record's (or an item's) cells in the import's columns and units.
fn as_imported(columns: &[Column], fields: &Map<String, Json>, names: &Names) -> Vec<String> {
    // An order's line keeps the sku it was ordered under.
    let kept_sku = fields.get("sku").and_then(Json::as_str);
    columns
        .iter()
        .map(|c| {
            if let (Convert::ProductSku, Some(sku)) = (c.convert, kept_sku) {
                return sku.to_string();
            }
            match (c.convert, fields.get(c.field)) {
                (_, None | Some(Json::Null)) => String::new(),
                (Convert::Money | Convert::Percent, Some(Json::Number(n))) => {
                    decimal(n.as_i64().unwrap_or_default(), 100)
                }
                (Convert::Quantity, Some(Json::Number(n))) => {
                    decimal(n.as_i64().unwrap_or_default(), 1000)
                }
                (Convert::Date, Some(Json::Number(n))) => n
                    .as_i64()
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| match t.time() == chrono::NaiveTime::MIN {
                        true => t.format("%Y-%m-%d").to_string(),
                        false => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    })
                    .unwrap_or_default(),
                (
                    convert @ (Convert::CustomerCode | Convert::ProductSku | Convert::UserEmail),
                    Some(Json::String(id)),
                ) => names.of_id(convert, id).cloned().unwrap_or_default(),
                (_, value) => cell(value),
            }
        })
        .collect()
}

/// `scaled` units (100 to a unit, 1000 to a unit) as a decimal in major units: amounts with their
/// cents, quantities with no trailing zeros.
fn decimal(scaled: i64, per_unit: u64) -> String {
    let sign = if scaled < 0 { "-" } else { "" };
    let (whole, part) = (
        scaled.unsigned_abs() / per_unit,
        scaled.unsigned_abs() % per_unit,
    );
    match per_unit {
        100 => format!("{sign}{whole}.{part:02}"),
        _ if part == 0 => format!("{sign}{whole}"),
        _ => {
            let digits = per_unit.ilog10() as usize;
            let part = format!("{part:0digits$}");
            format!("{sign}{whole}.{}", part.trim_end_matches('0'))
        }
    }
}

/// `value` of each row of `table` by its `key` column (a uuid).
async fn by_id(
    conn: &impl ConnectionTrait,
    table: &str,
    key: &str,
    value: &str,
) -> Result<HashMap<Uuid, String>, Error> {
    let q = Query::select()
        .columns([Alias::new(key), Alias::new(value)])
        .from(Alias::new(table))
        .to_owned();
    conn.query_all(q.build_with(conn))
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", key)?, r.try_get("", value)?)))
        .collect()
}

/// A page of the kind's records after `after`, in id order, with their listings (made from the
/// document for a record stored before listings were kept).
async fn page(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    kind: &'static KindSchema,
    visible: Option<Cond>,
    after: Option<Uuid>,
) -> Result<Vec<(Uuid, Listing)>, Error> {
    let mut q = Query::select()
        .columns(
            [
                "id",
                "listing_fields",
                "listing_conflicts",
                "listing_deleted",
            ]
            .map(Alias::new),
        )
        .from(Alias::new("documents"))
        .and_where(Expr::col(Alias::new("kind")).eq(kind.name))
        .order_by(Alias::new("id"), Order::Asc)
        .limit(PAGE)
        .to_owned();
    if let Some(after) = after {
        q.and_where(Expr::col(Alias::new("id")).gt(after));
    }
    if let Some(visible) = visible {
        q.cond_where(visible);
    }
    let mut out = Vec::new();
    for row in conn.query_all(q.build_with(conn)).await? {
        let id: Uuid = row.try_get("", "id")?;
        let fields: Option<String> = row.try_get("", "listing_fields")?;
        let listing = match fields {
            Some(fields) => Listing {
                fields: vault.open_json(id, &fields)?,
                conflicts: vault.open_json(
                    id,
                    &row.try_get::<Option<String>>("", "listing_conflicts")?
                        .unwrap_or_default(),
                )?,
                deleted: row
                    .try_get::<Option<bool>>("", "listing_deleted")?
                    .unwrap_or(false),
            },
            None => {
                let doc = docstore::load(conn, vault, id)
                    .await?
                    .map_err(|e| Error::Internal(format!("record {id} does not load: {e}")))?;
                Listing::of(&record::project(&doc, kind)?)
            }
        };
        out.push((id, listing));
    }
    Ok(out)
}
