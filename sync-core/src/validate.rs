//! Checks a field value read from an automerge document against the field's schema.

use automerge::ScalarValue;
use serde::{Deserialize, Serialize};

use crate::schema::{FieldSpec, FieldType};
use crate::Value;

/// Why one field of a record is invalid. `code` is stable; `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// What a document holds at a field, before it is checked against the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Missing,
    Scalar(ScalarValue),
    /// A text object, already read out as a string.
    Text(String),
    /// A map: only an items field holds one ([`crate::items`]).
    Map(automerge::ObjId),
    /// A list or other object a schema field cannot hold.
    OtherObject,
}

impl Raw {
    /// About how many bytes the value holds: a string's or a text's UTF-8 length, a byte string's
    /// length, 8 for other scalars. An object other than text counts 0: its contents are bounded
    /// only by the record's stored size.
    pub fn byte_size(&self) -> usize {
        match self {
            Raw::Missing | Raw::Map(_) | Raw::OtherObject => 0,
            Raw::Text(s) => s.len(),
            Raw::Scalar(ScalarValue::Str(s)) => s.len(),
            Raw::Scalar(ScalarValue::Bytes(b)) => b.len(),
            Raw::Scalar(_) => 8,
        }
    }
}

/// The longest e-mail address a field holds, in characters (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Checks one value against its field's schema and turns it into a plain [`Value`].
pub fn check(spec: &FieldSpec, raw: &Raw) -> Result<Value, FieldError> {
    let name = spec.name;
    let scalar = match raw {
        Raw::Missing | Raw::Scalar(ScalarValue::Null) => {
            return if spec.required {
                Err(FieldError::new(name, "required", "is required"))
            } else {
                Ok(Value::Null)
            };
        }
        Raw::Text(s) => {
            return match spec.ty {
                FieldType::Text { max_len } => {
                    check_text(name, s, max_len).map(|()| Value::Str(s.clone()))
                }
                _ => Err(type_error(spec)),
            };
        }
        Raw::Map(_) | Raw::OtherObject => return Err(type_error(spec)),
        Raw::Scalar(s) => s,
    };
    match (spec.ty, scalar) {
        (FieldType::String { max_len }, ScalarValue::Str(s)) => {
            check_text(name, s, max_len)?;
            if spec.required && s.trim().is_empty() {
                return Err(FieldError::new(name, "required", "must not be empty"));
            }
            Ok(Value::Str(s.to_string()))
        }
        (FieldType::Email, ScalarValue::Str(s)) => {
            check_text(name, s, MAX_EMAIL_LEN)?;
            let valid = s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.contains('@')
                    && !s.contains(char::is_whitespace)
            });
            if valid {
                Ok(Value::Str(s.to_string()))
            } else {
                Err(FieldError::new(
                    name,
                    "format",
                    format!("`{s}` is not an e-mail address"),
                ))
            }
        }
        (FieldType::Enum(allowed), ScalarValue::Str(s)) => {
            if allowed.contains(&s.as_str()) {
                Ok(Value::Str(s.to_string()))
            } else {
                Err(FieldError::new(
                    name,
                    "enum",
                    format!("must be one of {}", allowed.join(", ")),
                ))
            }
        }
        (FieldType::Attachment, ScalarValue::Str(s)) => {
            if crate::attachments::is_hash(s) {
                Ok(Value::Str(s.to_string()))
            } else {
                Err(FieldError::new(
                    name,
                    "format",
                    "must be a file's SHA-256, as 64 lowercase hex digits",
                ))
            }
        }
        (FieldType::Reference(kind), ScalarValue::Str(s)) => match uuid::Uuid::parse_str(s) {
            Ok(id) => Ok(Value::Str(id.to_string())),
            Err(_) => Err(FieldError::new(
                name,
                "format",
                format!("must be the id of a {kind}"),
            )),
        },
        (FieldType::Int { min, max }, ScalarValue::Int(i)) => check_range(name, *i, min, max),
        (FieldType::Int { min, max }, ScalarValue::Uint(u)) => {
            let i = i64::try_from(*u).map_err(|_| out_of_range(name, min, max))?;
            check_range(name, i, min, max)
        }
        (FieldType::Float { min, max }, ScalarValue::F64(f)) => check_float(name, *f, min, max),
        // Phones written in JavaScript store whole numbers as integers; accept them as floats,
        // and unsigned integers (other bindings write them) wherever a signed one is accepted.
        (FieldType::Float { min, max }, ScalarValue::Int(i)) => {
            check_float(name, *i as f64, min, max)
        }
        (FieldType::Float { min, max }, ScalarValue::Uint(u)) => {
            check_float(name, *u as f64, min, max)
        }
        (FieldType::Timestamp, ScalarValue::Uint(u)) => i64::try_from(*u)
            .map(Value::Int)
            .map_err(|_| type_error(spec)),
        (FieldType::Bool, ScalarValue::Boolean(b)) => Ok(Value::Bool(*b)),
        (FieldType::Timestamp, ScalarValue::Timestamp(t) | ScalarValue::Int(t)) => {
            Ok(Value::Int(*t))
        }
        _ => Err(type_error(spec)),
    }
}

/// Parses a user's text (`FIELD=VALUE` on a command line) into a value of the field's type.
pub fn parse(spec: &FieldSpec, text: &str) -> Result<Value, FieldError> {
    let name = spec.name;
    if text.is_empty() && !matches!(spec.ty, FieldType::Text { .. } | FieldType::String { .. }) {
        return Ok(Value::Null);
    }
    let bad = |what: &str| FieldError::new(name, "type", format!("`{text}` is not {what}"));
    let raw = match spec.ty {
        FieldType::Int { .. } => Raw::Scalar(ScalarValue::Int(
            text.parse().map_err(|_| bad("a whole number"))?,
        )),
        FieldType::Float { .. } => {
            Raw::Scalar(ScalarValue::F64(text.parse().map_err(|_| bad("a number"))?))
        }
        FieldType::Bool => Raw::Scalar(ScalarValue::Boolean(
            text.parse().map_err(|_| bad("true or false"))?,
        )),
        FieldType::Timestamp => Raw::Scalar(ScalarValue::Timestamp(
            text.parse().map_err(|_| bad("milliseconds"))?,
        )),
        FieldType::Text { .. } => Raw::Text(text.to_string()),
        FieldType::Items(_) => {
            return Err(FieldError::new(
                name,
                "type",
                "holds items, which are not written as text",
            ))
        }
        FieldType::String { .. }
        | FieldType::Email
        | FieldType::Enum(_)
        | FieldType::Reference(_)
        | FieldType::Attachment => Raw::Scalar(ScalarValue::Str(text.into())),
    };
    check(spec, &raw)
}

pub(crate) fn type_error(spec: &FieldSpec) -> FieldError {
    let expected = match spec.ty {
        FieldType::String { .. }
        | FieldType::Email
        | FieldType::Enum(_)
        | FieldType::Reference(_)
        | FieldType::Attachment => "a string",
        FieldType::Text { .. } => "a text object",
        FieldType::Int { .. } => "an integer",
        FieldType::Float { .. } => "a number",
        FieldType::Bool => "a boolean",
        FieldType::Timestamp => "a timestamp",
        FieldType::Items(_) => "a map of items",
    };
    FieldError::new(spec.name, "type", format!("must be {expected}"))
}

/// Checks a text's length, and that it holds no NUL character: PostgreSQL's text columns cannot store
/// one, so a record with it would be accepted on SQLite and fail on PostgreSQL.
fn check_text(name: &str, s: &str, max_len: usize) -> Result<(), FieldError> {
    if s.contains('\0') {
        return Err(FieldError::new(
            name,
            "nul_character",
            "contains a NUL character (U+0000), which is not allowed in text",
        ));
    }
    let len = s.chars().count();
    if len > max_len {
        Err(FieldError::new(
            name,
            "too_long",
            format!("is {len} characters long, at most {max_len} are allowed"),
        ))
    } else {
        Ok(())
    }
}

fn out_of_range<T: std::fmt::Display>(name: &str, min: T, max: T) -> FieldError {
    FieldError::new(name, "range", format!("must be between {min} and {max}"))
}

fn check_range(name: &str, i: i64, min: i64, max: i64) -> Result<Value, FieldError> {
    if (min..=max).contains(&i) {
        Ok(Value::Int(i))
    } else {
        Err(out_of_range(name, min, max))
    }
}

fn check_float(name: &str, f: f64, min: f64, max: f64) -> Result<Value, FieldError> {
    if f.is_finite() && (min..=max).contains(&f) {
        Ok(Value::Float(f))
    } else {
        Err(out_of_range(name, min, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::CUSTOMER;

    fn field(name: &str) -> &'static FieldSpec {
        CUSTOMER.field(name).unwrap()
    }

    #[test]
    fn required_fields_must_be_present_and_non_empty() {
        assert_eq!(
            check(field("name"), &Raw::Missing).unwrap_err().code,
            "required"
        );
        assert_eq!(
            check(field("name"), &Raw::Scalar("  ".into()))
                .unwrap_err()
                .code,
            "required"
        );
        assert_eq!(check(field("phone"), &Raw::Missing).unwrap(), Value::Null);
    }

    #[test]
    fn types_ranges_and_formats_are_checked() {
        assert_eq!(
            check(field("name"), &Raw::Scalar(ScalarValue::Int(3)))
                .unwrap_err()
                .code,
            "type"
        );
        assert_eq!(
            check(field("lat"), &Raw::Scalar(ScalarValue::F64(91.0)))
                .unwrap_err()
                .code,
            "range"
        );
        assert_eq!(
            check(field("lat"), &Raw::Scalar(ScalarValue::Int(45))).unwrap(),
            Value::Float(45.0)
        );
        assert_eq!(
            check(field("lat"), &Raw::Scalar(ScalarValue::F64(f64::NAN)))
                .unwrap_err()
                .code,
            "range"
        );
        assert_eq!(
            check(field("email"), &Raw::Scalar("nope".into()))
                .unwrap_err()
                .code,
            "format"
        );
        assert_eq!(
            check(field("status"), &Raw::Scalar("vip".into()))
                .unwrap_err()
                .code,
            "enum"
        );
        assert_eq!(
            check(field("credit_limit"), &Raw::Scalar(ScalarValue::Int(-1)))
                .unwrap_err()
                .code,
            "range"
        );
        assert_eq!(
            check(field("notes"), &Raw::Scalar("flat".into()))
                .unwrap_err()
                .code,
            "type"
        );
        assert_eq!(
            check(field("phone"), &Raw::OtherObject).unwrap_err().code,
            "type"
        );
        let long = "x".repeat(201);
        assert_eq!(
            check(field("name"), &Raw::Scalar(long.as_str().into()))
                .unwrap_err()
                .code,
            "too_long"
        );
        // PostgreSQL cannot store a NUL in text: the fuzz test found a `notes` text "\0" that SQLite
        // took and PostgreSQL answered with an internal error.
        for (name, raw) in [
            ("notes", Raw::Text("a\0b".into())),
            ("name", Raw::Scalar("\0".into())),
            ("email", Raw::Scalar("a\0@x.test".into())),
        ] {
            assert_eq!(check(field(name), &raw).unwrap_err().code, "nul_character");
        }
    }

    #[test]
    fn parse_reads_command_line_text_by_type() {
        assert_eq!(
            parse(field("credit_limit"), "500").unwrap(),
            Value::Int(500)
        );
        assert_eq!(
            parse(field("credit_limit"), "lots").unwrap_err().code,
            "type"
        );
        assert_eq!(parse(field("lat"), "48.1").unwrap(), Value::Float(48.1));
        assert_eq!(parse(field("deleted"), "true").unwrap(), Value::Bool(true));
        assert_eq!(
            parse(field("phone"), "").unwrap(),
            Value::Str(String::new())
        );
        assert_eq!(parse(field("lat"), "").unwrap(), Value::Null);
    }

    #[test]
    fn unsigned_integers_are_read_wherever_signed_ones_are() {
        assert_eq!(
            check(field("lat"), &Raw::Scalar(ScalarValue::Uint(45))).unwrap(),
            Value::Float(45.0)
        );
        assert_eq!(
            check(field("credit_limit"), &Raw::Scalar(ScalarValue::Uint(500))).unwrap(),
            Value::Int(500)
        );
        let visit = crate::kinds::VISIT.field("check_in_at").unwrap();
        assert_eq!(
            check(visit, &Raw::Scalar(ScalarValue::Uint(1_764_579_600_000))).unwrap(),
            Value::Int(1_764_579_600_000)
        );
        assert_eq!(
            check(visit, &Raw::Scalar(ScalarValue::Uint(u64::MAX)))
                .unwrap_err()
                .code,
            "type"
        );
    }
}
