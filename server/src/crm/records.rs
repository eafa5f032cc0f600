//! Records as people and integrations read them: a filtered, paged listing of one kind within the
//! caller's scope, and one record with the records around it. Read from the projection tables and the
//! listings the push path keeps, never by loading documents.

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};
use serde::Serialize;
use sync_core::{kinds, FieldSpec, KindSchema, Value};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::BuildWith;
use crate::error::Error;
use crate::seal::Vault;
use crate::sync::projection;

/// The most records one page holds.
pub const MAX_PAGE_RECORDS: u64 = 500;
/// The most bytes of listings one page holds: a page ends early rather than pass it (a record's
/// notes alone may hold 20,000 characters).
pub const MAX_PAGE_BYTES: usize = 2 << 20;

/// A record as listed: its fields and the fields in conflict as the push path projected them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Record {
    pub id: Uuid,
    pub kind: String,
    /// Every field of the kind's schema, by name (null where unset).
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
    /// Fields written concurrently and not yet resolved: each with its values, the shown one first.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: serde_json::Value,
    pub deleted: bool,
    /// When the record last changed, in milliseconds since the epoch.
    pub updated_at: i64,
}

/// One page of a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub records: Vec<Record>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<Uuid>,
}

/// One record with what surrounds it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Detail {
    #[serde(flatten)]
    pub record: Record,
    /// The record that scopes this one (a visit's customer), if the caller may see it.
    pub parent: Option<Record>,
    /// The records scoped through this one (a customer's contacts, visits, orders...), newest
    /// first, at most [`MAX_PAGE_RECORDS`].
    pub related: Vec<Record>,
}

/// A field and the value it must equal.
pub type Filter = (&'static FieldSpec, Value);

/// What a listing asks for.
pub struct Listing<'a> {
    pub kind: &'static KindSchema,
    pub filters: &'a [Filter],
    /// Records after this id (ids are UUID v7: creation order).
    pub after: Option<Uuid>,
    pub limit: u64,
    pub include_deleted: bool,
}

const COLUMNS: [&str; 6] = [
    "id",
    "kind",
    "listing_fields",
    "listing_conflicts",
    "listing_deleted",
    "updated_at",
];

fn select(who: &Principal) -> SelectStatement {
    let d = Alias::new("d");
    Query::select()
        .columns(COLUMNS.map(|c| (d.clone(), Alias::new(c))))
        .from_as(Alias::new("documents"), d)
        .cond_where(who.visible(Some("d")))
        .to_owned()
}

fn record(vault: &Vault, row: &QueryResult) -> Result<Record, Error> {
    let id: Uuid = row.try_get("", "id")?;
    let json = |column: &str, empty: &str| -> Result<serde_json::Value, Error> {
        let text: Option<String> = row.try_get("", column)?;
        let text = vault.open_json(id, text.as_deref().unwrap_or(empty))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("a stored listing is not JSON: {e}")))
    };
    let kind: String = row.try_get("", "kind")?;
    let mut fields = json("listing_fields", "{}")?;
    // Listings leave unset fields out; the API shows every field of the kind.
    if let (Ok(schema), Some(map)) = (kinds::get(&kind), fields.as_object_mut()) {
        for spec in schema.fields {
            map.entry(spec.name).or_insert(serde_json::Value::Null);
        }
    }
    Ok(Record {
        id,
        kind,
        fields,
        conflicts: json("listing_conflicts", "[]")?,
        deleted: row
            .try_get::<Option<bool>>("", "listing_deleted")?
            .unwrap_or(false),
        updated_at: row.try_get("", "updated_at")?,
    })
}

/// Rows as records, stopping before the page passes [`MAX_PAGE_BYTES`] (never before its first).
fn bounded(vault: &Vault, rows: &[QueryResult]) -> Result<Vec<Record>, Error> {
    let mut records = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    for row in rows {
        let r = record(vault, row)?;
        bytes += r.fields.to_string().len() + r.conflicts.to_string().len();
        if bytes > MAX_PAGE_BYTES && !records.is_empty() {
            break;
        }
        records.push(r);
    }
    Ok(records)
}

/// A page of the records of one kind the caller may see, in creation order.
pub async fn list(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    q: &Listing<'_>,
) -> Result<Page, Error> {
    let (d, p) = (Alias::new("d"), Alias::new("p"));
    let wanted = q.limit.clamp(1, MAX_PAGE_RECORDS);
    let mut stmt = select(who);
    stmt.join_as(
        JoinType::InnerJoin,
        Alias::new(q.kind.table),
        p.clone(),
        Expr::col((p.clone(), Alias::new("id"))).equals((d.clone(), Alias::new("id"))),
    )
    .and_where(Expr::col((d.clone(), Alias::new("kind"))).eq(q.kind.name))
    .order_by((d.clone(), Alias::new("id")), Order::Asc)
    // One more than asked, to know whether a next page exists.
    .limit(wanted + 1);
    for (spec, value) in q.filters {
        let column = Expr::col((p.clone(), Alias::new(spec.name)));
        stmt.and_where(match value {
            Value::Null => column.is_null(),
            v => column.eq(projection::sql_value(spec.ty, v)),
        });
    }
    if !q.include_deleted {
        stmt.and_where(
            Expr::col((d.clone(), Alias::new("listing_deleted")))
                .is_null()
                .or(Expr::col((d.clone(), Alias::new("listing_deleted"))).eq(false)),
        );
    }
    if let Some(after) = q.after {
        stmt.and_where(Expr::col((d, Alias::new("id"))).gt(after));
    }
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let records = bounded(vault, &rows[..rows.len().min(wanted as usize)])?;
    let more = rows.len() > records.len();
    Ok(Page {
        next: more.then(|| records.last().map(|r| r.id)).flatten(),
        records,
    })
}

/// One record the caller may see, with its parent and the records scoped through it; None when it
/// does not exist or the caller may not see it (the two are not told apart).
pub async fn get(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    id: Uuid,
) -> Result<Option<Detail>, Error> {
    let d = Alias::new("d");
    let one = |id: Uuid| {
        select(who)
            .column((d.clone(), Alias::new("parent_id")))
            .and_where(Expr::col((d.clone(), Alias::new("id"))).eq(id))
            .to_owned()
    };
    let Some(row) = conn.query_one(one(id).build_with(conn)).await? else {
        return Ok(None);
    };
    let record = record(vault, &row)?;
    let parent_id: Option<Uuid> = row.try_get("", "parent_id")?;
    let parent = match parent_id {
        Some(parent) => match conn.query_one(one(parent).build_with(conn)).await? {
            Some(row) => Some(self::record(vault, &row)?),
            None => None,
        },
        None => None,
    };
    let mut children = select(who);
    children
        .and_where(Expr::col((d.clone(), Alias::new("parent_id"))).eq(id))
        .order_by((d, Alias::new("id")), Order::Desc)
        .limit(MAX_PAGE_RECORDS);
    let related = bounded(vault, &conn.query_all(children.build_with(conn)).await?)?;
    Ok(Some(Detail {
        record,
        parent,
        related,
    }))
}

/// The kind named in a query, and its filters parsed against its schema (`FIELD=VALUE`, the value
/// as a user types it); a field the kind lacks, or a value of the wrong type, is a bad request.
pub fn parse_filters<'a>(
    kind: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(&'static KindSchema, Vec<Filter>), Error> {
    let kind = kinds::get(kind).map_err(|e| Error::bad_request("unknown_kind", e.to_string()))?;
    let mut filters = Vec::new();
    for (name, text) in pairs {
        let spec = kind.field(name).ok_or_else(|| {
            Error::bad_request(
                "unknown_field",
                format!("a {} has no field `{name}` to filter on", kind.name),
            )
        })?;
        if let sync_core::FieldType::Text { .. } | sync_core::FieldType::Items(_) = spec.ty {
            return Err(Error::bad_request(
                "unfilterable_field",
                format!(
                    "`{name}` is a text or holds items; list without it and search the results"
                ),
            ));
        }
        if spec.personal {
            return Err(Error::bad_request(
                "unfilterable_field",
                format!("`{name}` is a person's data, sealed at rest; list without it and search the results"),
            ));
        }
        // An empty value asks for records where the field is unset, whatever its type.
        let value = if text.is_empty() {
            Value::Null
        } else {
            sync_core::validate::parse(spec, text).map_err(|e| {
                Error::bad_request("invalid_filter", format!("{name}: {}", e.message))
            })?
        };
        filters.push((spec, value));
    }
    Ok((kind, filters))
}
