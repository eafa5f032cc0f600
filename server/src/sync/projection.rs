//! Writes a record's projection into its kind's relational table, driven by the kind's schema.

use sea_orm::sea_query::{Alias, OnConflict, Query, SimpleExpr};
use sea_orm::ConnectionTrait;
use sync_core::record::Projection;
use sync_core::{FieldType, KindSchema, Value};
use uuid::Uuid;

use crate::db::{now_ms, BuildWith};
use crate::error::Error;

/// The columns of every projection table besides its kind's fields: the record's id, its fields in
/// conflict (JSON), and when the row was written. A test holds every kind's table to exactly these
/// plus its schema's fields, so that a kind cannot drift from its table.
pub const SYSTEM_COLUMNS: [&str; 3] = ["id", "conflicts", "updated_at"];

/// Inserts or replaces the projected rows of these records of one kind, in one statement.
/// Concurrent values are kept as JSON in `conflicts`, so reports can flag them instead of silently
/// showing one side.
pub async fn upsert_many(
    conn: &impl ConnectionTrait,
    kind: &KindSchema,
    rows: &[(Uuid, &Projection)],
) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let [id, conflicts, updated_at] = SYSTEM_COLUMNS;
    let mut columns = vec![Alias::new(id)];
    columns.extend(kind.fields.iter().map(|f| Alias::new(f.name)));
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
        let mut values: Vec<SimpleExpr> = vec![(*id).into()];
        values.extend(
            kind.fields
                .iter()
                .map(|spec| sql_value(spec.ty, p.get(spec.name))),
        );
        values.push(conflicts_json(p).into());
        values.push(now.into());
        stmt.values(values)
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    conn.execute(stmt.build_with(conn)).await?;
    Ok(())
}

fn conflicts_json(p: &Projection) -> Option<String> {
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
        serde_json::Value::Object(map).to_string()
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
