//! The plain value of one record field, as projected into SQL and shown to users.

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

    /// A JSON value as a field of type `ty` takes it (a JSON API's body): None when its JSON type
    /// cannot be that field's (a string for a number, a fraction for an integer). Ranges, lengths
    /// and formats are the validator's to check.
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
                | FieldType::Reference(_),
                J::String(s),
            ) => Some(Value::Str(s.clone())),
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
}
