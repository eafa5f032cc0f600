//! Items inside a record (an order's lines, a price list's prices): reading them out of the document
//! and checking them against their [`ItemsSchema`], and writing a wanted set of items as the fewest
//! operations, so that concurrent edits of different items and fields merge.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue};

use crate::record::{Conflict, MAX_UNKNOWN_VALUE_BYTES};
use crate::schema::{FieldType, ItemsSchema};
use crate::validate::{self, FieldError, Raw};
use crate::value::Item;
use crate::{Error, Value};

/// Reads the items under the map `obj` of the record field `field` and checks each against
/// `schema`: ids must be canonical UUIDs, items maps of scalar fields, at most `max_items` of them.
/// Fields written concurrently are added to `conflicts` as `field.item_id.item_field`, the winner
/// first. Items come out ordered by id.
pub fn check(
    doc: &impl ReadDoc,
    field: &str,
    schema: &ItemsSchema,
    obj: &ObjId,
    conflicts: &mut Vec<Conflict>,
) -> Result<Value, Vec<FieldError>> {
    let count = doc.length(obj);
    if count > schema.max_items {
        return Err(vec![FieldError::new(
            field,
            "too_many_items",
            format!(
                "holds {count} items, at most {} are allowed",
                schema.max_items
            ),
        )]);
    }
    let mut items = Vec::with_capacity(count);
    let mut errors = Vec::new();
    for entry in doc.map_range(obj, ..) {
        let id = entry.key.to_string();
        let path = format!("{field}.{id}");
        if uuid::Uuid::parse_str(&id).map(|u| u.to_string()) != Ok(id.clone()) {
            errors.push(FieldError::new(
                &path,
                "format",
                "an item's key must be its id, a UUID in lowercase hyphenated form",
            ));
            continue;
        }
        let automerge::Value::Object(ObjType::Map) = automerge::Value::from(entry.value.clone())
        else {
            errors.push(FieldError::new(&path, "type", "an item must be a map"));
            continue;
        };
        match check_item(doc, &path, schema, &entry.id(), conflicts) {
            Ok(fields) => items.push(Item { id, fields }),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(Value::Items(items))
    } else {
        Err(errors)
    }
}

fn check_item(
    doc: &impl ReadDoc,
    path: &str,
    schema: &ItemsSchema,
    obj: &ObjId,
    conflicts: &mut Vec<Conflict>,
) -> Result<BTreeMap<String, Value>, Vec<FieldError>> {
    let mut fields = BTreeMap::new();
    let mut errors = Vec::new();
    let at = |e: FieldError| FieldError {
        field: format!("{path}.{}", e.field),
        ..e
    };
    for spec in schema.fields {
        // The winner last in `get_all`, first here (see `record::read_all`).
        let all = doc
            .get_all(obj, spec.name)
            .map_err(|e| vec![FieldError::new(path, "malformed", e.to_string())])?;
        let raws: Vec<Raw> = if all.is_empty() {
            vec![Raw::Missing]
        } else {
            all.into_iter().rev().map(|(v, _)| raw(v)).collect()
        };
        let mut values = Vec::with_capacity(raws.len());
        for r in &raws {
            match validate::check(spec, r) {
                Ok(v) => values.push(v),
                Err(e) => errors.push(at(e)),
            }
        }
        if values.len() > 1 {
            conflicts.push(Conflict {
                field: format!("{path}.{}", spec.name),
                values: values.clone(),
            });
        }
        if let Some(v) = values.into_iter().next().filter(|v| !v.is_null()) {
            fields.insert(spec.name.to_string(), v);
        }
    }
    // Fields of a later version's items are kept, within the bound that holds for unknown fields.
    for key in doc.keys(obj) {
        if schema.field(&key).is_none() {
            let size = doc
                .get(obj, key.as_str())
                .ok()
                .flatten()
                .map_or(0, |(v, _)| raw(v).byte_size());
            if size > MAX_UNKNOWN_VALUE_BYTES {
                errors.push(FieldError::new(
                    &format!("{path}.{key}"),
                    "value_too_large",
                    format!("an unknown item field holds at most {MAX_UNKNOWN_VALUE_BYTES} bytes"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}

/// Item fields are scalars; any object in one is reported as a type error by the validator.
fn raw(value: automerge::Value) -> Raw {
    match value {
        automerge::Value::Scalar(s) => Raw::Scalar(s.into_owned()),
        automerge::Value::Object(_) => Raw::OtherObject,
    }
}

/// Makes the items under `obj` the `wanted` ones with the fewest operations: items not wanted are
/// deleted, new ones created, and only fields whose value differs are written. Item fields the schema
/// does not know (a later version's) are left as they are.
pub fn put(
    doc: &mut AutoCommit,
    schema: &ItemsSchema,
    obj: &ObjId,
    wanted: &[Item],
) -> Result<(), Error> {
    let existing: Vec<String> = doc.keys(obj).collect();
    for key in &existing {
        if !wanted.iter().any(|item| &item.id == key) {
            doc.delete(obj, key.as_str())?;
        }
    }
    for item in wanted {
        let item_obj = match doc.get(obj, item.id.as_str())? {
            Some((automerge::Value::Object(ObjType::Map), id)) => id,
            _ => doc.put_object(obj, item.id.as_str(), ObjType::Map)?,
        };
        for spec in schema.fields {
            let value = item.get(spec.name);
            // A field holding concurrent values is written even with the value shown, so that the
            // write supersedes them all: that is how a conflict is resolved.
            let all = doc.get_all(&item_obj, spec.name)?;
            let conflicted = all.len() > 1;
            let current = all.into_iter().last().map(|(v, _)| v);
            match (value, current) {
                (Value::Null, None) => {}
                (Value::Null, Some(_)) => doc.delete(&item_obj, spec.name)?,
                (value, current) => {
                    let scalar = scalar(spec.ty, value)?;
                    if conflicted || current.as_ref().and_then(|c| c.as_scalar()) != Some(&scalar) {
                        doc.put(&item_obj, spec.name, scalar)?;
                    }
                }
            }
        }
        if let Some(unknown) = item.fields.keys().find(|k| schema.field(k).is_none()) {
            return Err(Error::Invalid(vec![FieldError::new(
                unknown,
                "unknown_field",
                format!("an item has no field `{unknown}`"),
            )]));
        }
    }
    Ok(())
}

/// The automerge scalar that stores a value of a field of type `ty`.
pub fn scalar(ty: FieldType, value: &Value) -> Result<ScalarValue, Error> {
    Ok(match (ty, value) {
        (FieldType::Timestamp, Value::Int(t)) => ScalarValue::Timestamp(*t),
        (_, Value::Null) => ScalarValue::Null,
        (_, Value::Bool(b)) => ScalarValue::Boolean(*b),
        (_, Value::Int(i)) => ScalarValue::Int(*i),
        (_, Value::Float(f)) => ScalarValue::F64(*f),
        (_, Value::Str(s)) => ScalarValue::Str(s.as_str().into()),
        (_, Value::Items(_)) => {
            return Err(Error::Malformed("items cannot be nested in a field".into()))
        }
    })
}
