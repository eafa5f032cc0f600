//! The plain value of one record field, as projected into SQL and shown to users.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FieldType;

/// A field value after it has been read out of an automerge document and checked against the schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// The items of an items field (an order's lines), ordered by id.
    Items(Vec<Item>),
}

/// One item of an items field ([`crate::schema::ItemsSchema`]): its id and its set fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// A UUID, unique within the record.
    pub id: String,
    #[serde(flatten)]
    pub fields: BTreeMap<String, Value>,
}

impl Item {
    /// A new item with a time-ordered id, so that items sort in the order they were entered.
    pub fn new(fields: impl IntoIterator<Item = (&'static str, Value)>) -> Item {
        Item {
            id: uuid::Uuid::now_v7().to_string(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    pub fn get(&self, field: &str) -> &Value {
        self.fields.get(field).unwrap_or(&Value::Null)
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The items of an items field; none for any other value.
    pub fn items(&self) -> &[Item] {
        match self {
            Value::Items(items) => items,
            _ => &[],
        }
    }

    /// A JSON value as a field of type `ty` takes it (a JSON API's body): None when its JSON type
    /// cannot be that field's (a string for a number, a fraction for an integer, an item field the
    /// items do not have). Ranges, lengths and formats are the validator's to check. An item without
    /// an `id` is given a new one.
    pub fn from_json(ty: FieldType, json: &serde_json::Value) -> Option<Value> {
        use serde_json::Value as J;
        match (ty, json) {
            (_, J::Null) => Some(Value::Null),
            (FieldType::Bool, J::Bool(b)) => Some(Value::Bool(*b)),
            (FieldType::Int { .. } | FieldType::Timestamp, J::Number(n)) => {
                n.as_i64().map(Value::Int)
            }
            (FieldType::Float { .. }, J::Number(n)) => n.as_f64().map(Value::Float),
            (
                FieldType::String { .. }
                | FieldType::Text { .. }
                | FieldType::Email
                | FieldType::Enum(_)
                | FieldType::Reference(_)
                | FieldType::Attachment,
                J::String(s),
            ) => Some(Value::Str(s.clone())),
            (FieldType::Items(schema), J::Array(items)) => items
                .iter()
                .map(|item| {
                    let J::Object(map) = item else { return None };
                    let id = match map.get("id") {
                        Some(J::String(id)) => id.clone(),
                        None => uuid::Uuid::now_v7().to_string(),
                        Some(_) => return None,
                    };
                    let fields = map
                        .iter()
                        .filter(|(k, _)| *k != "id")
                        .map(|(k, v)| {
                            let spec = schema.field(k)?;
                            Some((k.clone(), Value::from_json(spec.ty, v)?))
                        })
                        .collect::<Option<_>>()?;
                    Some(Item { id, fields })
                })
                .collect::<Option<_>>()
                .map(Value::Items),
            _ => None,
        }
    }

    /// This value as JSON, for machine output and the projection's conflict column.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Str(s) => s.clone().into(),
            Value::Items(items) => items
                .iter()
                .map(|item| {
                    let mut map = serde_json::Map::new();
                    map.insert("id".into(), item.id.clone().into());
                    for (k, v) in &item.fields {
                        map.insert(k.clone(), v.to_json());
                    }
                    serde_json::Value::Object(map)
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Items(items) => write!(f, "{} items", items.len()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_fit_their_field_types_or_are_refused() {
        let int = FieldType::Int { min: 0, max: 10 };
        let float = FieldType::Float { min: 0.0, max: 1.0 };
        assert_eq!(Value::from_json(int, &json!(5)), Some(Value::Int(5)));
        assert_eq!(Value::from_json(int, &json!(5.5)), None);
        assert_eq!(Value::from_json(int, &json!("5")), None);
        assert_eq!(Value::from_json(float, &json!(1)), Some(Value::Float(1.0)));
        assert_eq!(
            Value::from_json(FieldType::Bool, &json!(true)),
            Some(Value::Bool(true))
        );
        assert_eq!(
            Value::from_json(FieldType::Email, &json!("a@b.c")),
            Some("a@b.c".into())
        );
        assert_eq!(
            Value::from_json(FieldType::Timestamp, &json!(null)),
            Some(Value::Null)
        );
        assert_eq!(
            Value::from_json(FieldType::String { max_len: 3 }, &json!(["x"])),
            None
        );
    }

    #[test]
    fn floats_read_from_json_text_are_the_floats_written() {
        // A distance JavaScript wrote as its shortest form; a parser that is not exact reads the
        // next float up.
        let written = 365.742_102_948_062_84_f64;
        let text = serde_json::to_string(&json!({ "d": written })).unwrap();
        assert_eq!(text, r#"{"d":365.74210294806284}"#);
        let read: serde_json::Value = serde_json::from_str(&text).unwrap();
        let float = FieldType::Float { min: 0.0, max: 1e6 };
        assert_eq!(
            Value::from_json(float, &read["d"]),
            Some(Value::Float(written))
        );
    }
}
