//! Writes a record's projection into its kind's relational table, and its items (an order's lines)
//! into their child tables, driven by the kind's schema.

use sea_orm::sea_query::{Alias, Expr, OnConflict, Query, SimpleExpr};
use sea_orm::ConnectionTrait;
use sync_core::record::Projection;
use sync_core::{kinds, orders, FieldSpec, FieldType, ItemsSchema, KindSchema, Value};
use uuid::Uuid;

use crate::db::{now_ms, BuildWith};
use crate::error::Error;
use crate::seal::{self, Vault};

/// The columns of every projection table besides its kind's fields: the record's id, its fields in
/// conflict (JSON), and when the row was written. A test holds every kind's table to exactly these
/// plus its schema's fields (but those holding items), so that a kind cannot drift from its table.
pub const SYSTEM_COLUMNS: [&str; 3] = ["id", "conflicts", "updated_at"];

/// The columns of every child table besides its record's column and its items' fields: the item's
/// id and its position among the record's items.
pub const ITEM_COLUMNS: [&str; 2] = ["id", "position"];

/// The columns an order line's child table has beyond its fields: its amount after every discount
/// and its tax, as the order's totals give them, for reports to sum.
pub const ORDER_LINE_AMOUNTS: [&str; 2] = ["net", "tax"];

/// The fields of `kind` that have a column in its table: all but those holding items.
pub fn column_fields(kind: &KindSchema) -> impl Iterator<Item = &FieldSpec> {
    kind.fields
        .iter()
        .filter(|f| !matches!(f.ty, FieldType::Items(_)))
}

/// The fields of `kind` holding items, with their schemas.
pub fn items_fields(
    kind: &KindSchema,
) -> impl Iterator<Item = (&'static str, &'static ItemsSchema)> + '_ {
    kind.fields.iter().filter_map(|f| match f.ty {
        FieldType::Items(schema) => Some((f.name, schema)),
        _ => None,
    })
}

/// Inserts or replaces the projected rows of these records of one kind, in one statement.
/// Concurrent values are kept as JSON in `conflicts`, so reports can flag them instead of silently
/// showing one side.
///
/// Personal fields are sealed (see `seal`): their columns, and their values in `conflicts`.
pub async fn upsert_many(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    kind: &KindSchema,
    rows: &[(Uuid, &Projection)],
) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let [id, conflicts, updated_at] = SYSTEM_COLUMNS;
    let mut columns = vec![Alias::new(id)];
    columns.extend(column_fields(kind).map(|f| Alias::new(f.name)));
    columns.push(Alias::new(conflicts));
    columns.push(Alias::new(updated_at));
    let update: Vec<Alias> = columns[1..].to_vec();
    let mut stmt = Query::insert()
        .into_table(Alias::new(kind.table))
        .columns(columns)
        .on_conflict(
            OnConflict::column(Alias::new("id"))
                .update_columns(update)
                .to_owned(),
        )
        .to_owned();
    let now = now_ms();
    for (id, p) in rows {
        let personal = seal::personal_fields(kind, |f| p.get(f).as_str());
        let mut values: Vec<SimpleExpr> = vec![(*id).into()];
        values.extend(column_fields(kind).map(|spec| match p.get(spec.name) {
            Value::Str(s) if personal.contains(&spec.name) => vault.seal_text(*id, s).into(),
            value => sql_value(spec.ty, value),
        }));
        values.push(conflicts_json(vault, kind, *id, p).into());
        values.push(now.into());
        stmt.values(values)
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    conn.execute(stmt.build_with(conn)).await?;
    for (field, schema) in items_fields(kind) {
        replace_items(conn, kind, field, schema, rows).await?;
    }
    Ok(())
}

/// Item rows per statement: a dozen columns each stays well under SQLite's 32,766 bound
/// parameters (and PostgreSQL's 65,535).
const ITEMS_PER_STATEMENT: usize = 1_000;

/// Replaces the child rows of these records' items: their items change together with them, and a
/// removed item must leave no row.
async fn replace_items(
    conn: &impl ConnectionTrait,
    kind: &KindSchema,
    field: &str,
    schema: &ItemsSchema,
    rows: &[(Uuid, &Projection)],
) -> Result<(), Error> {
    let table = Alias::new(schema.table);
    let delete = Query::delete()
        .from_table(table.clone())
        .and_where(
            Expr::col(Alias::new(schema.record_column)).is_in(rows.iter().map(|(id, _)| *id)),
        )
        .to_owned();
    conn.execute(delete.build_with(conn)).await?;
    let order_lines = kind.name == kinds::ORDER.name;
    let mut columns = vec![Alias::new(schema.record_column)];
    columns.extend(ITEM_COLUMNS.map(Alias::new));
    columns.extend(schema.fields.iter().map(|f| Alias::new(f.name)));
    if order_lines {
        columns.extend(ORDER_LINE_AMOUNTS.map(Alias::new));
    }
    let empty = Query::insert()
        .into_table(table)
        .columns(columns)
        .to_owned();
    let mut insert = empty.clone();
    let mut pending = 0;
    for (id, p) in rows {
        // The lines' amounts where the totals can be computed; a record the validator passed has
        // lines within every bound, so they always can be.
        let amounts = order_lines.then(|| orders::totals(p).ok()).flatten();
        for (position, item) in p.get(field).items().iter().enumerate() {
            let mut values: Vec<SimpleExpr> = vec![
                (*id).into(),
                Uuid::parse_str(&item.id).ok().into(),
                (position as i32).into(),
            ];
            values.extend(
                schema
                    .fields
                    .iter()
                    .map(|spec| sql_value(spec.ty, item.get(spec.name))),
            );
            if order_lines {
                let line = amounts.as_ref().and_then(|t| t.lines.get(position));
                values.push(line.map(|l| l.taxable).into());
                values.push(line.map(|l| l.tax).into());
            }
            insert
                .values(values)
                .map_err(|e| Error::Internal(e.to_string()))?;
            pending += 1;
            if pending == ITEMS_PER_STATEMENT {
                conn.execute(insert.build_with(conn)).await?;
                insert = empty.clone();
                pending = 0;
            }
        }
    }
    if pending > 0 {
        conn.execute(insert.build_with(conn)).await?;
    }
    Ok(())
}

/// The fields in conflict as `{field: [values]}`, the personal ones' values sealed.
fn conflicts_json(vault: &Vault, kind: &KindSchema, id: Uuid, p: &Projection) -> Option<String> {
    (!p.conflicts.is_empty()).then(|| {
        let map: serde_json::Map<String, serde_json::Value> = p
            .conflicts
            .iter()
            .map(|c| {
                (
                    c.field.clone(),
                    c.values.iter().map(Value::to_json).collect(),
                )
            })
            .collect();
        vault.seal_fields(kind, id, &serde_json::Value::Object(map).to_string())
    })
}

/// A field value as a typed SQL value; NULLs carry their column type, which PostgreSQL needs.
pub fn sql_value(ty: FieldType, value: &Value) -> SimpleExpr {
    match (ty, value) {
        (FieldType::Reference(_), Value::Str(s)) => Uuid::parse_str(s).ok().into(),
        (FieldType::Reference(_), _) => Option::<Uuid>::None.into(),
        (FieldType::Int { .. } | FieldType::Timestamp, Value::Int(i)) => (*i).into(),
        (FieldType::Int { .. } | FieldType::Timestamp, _) => Option::<i64>::None.into(),
        (FieldType::Float { .. }, Value::Float(f)) => (*f).into(),
        (FieldType::Float { .. }, _) => Option::<f64>::None.into(),
        (FieldType::Bool, Value::Bool(b)) => (*b).into(),
        (FieldType::Bool, _) => Option::<bool>::None.into(),
        (_, Value::Str(s)) => s.clone().into(),
        (_, _) => Option::<String>::None.into(),
    }
}
