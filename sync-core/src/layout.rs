//! Every kind's document layout as data: what a client written in another language reads (the
//! server serves it at `GET /v1/schema`) to build records the server accepts and to check them as
//! the Rust SDK does, from the very schemas in [`crate::kinds`].
//!
//! Owned strings rather than the schemas' `&'static str`, so that a client can read the document
//! back with the same types.

use serde::{Deserialize, Serialize};

use crate::protocol::{Limits, PROTOCOL_VERSION};
use crate::record::MAX_UNKNOWN_VALUE_BYTES;
use crate::schema::{FieldSpec, FieldType, KindSchema, Role, Scope, Unit, Writer, DELETED_FIELD};

/// The whole document: every kind, and the bounds every record and push keep to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaDocument {
    pub protocol_version: u16,
    /// The tombstone every kind has: a record is deleted by setting it to true.
    pub deleted_field: String,
    /// The most bytes a value of a field the schema does not know may hold (a later version's
    /// field, kept and synced but not checked).
    pub max_unknown_value_bytes: usize,
    pub limits: Limits,
    pub kinds: Vec<KindLayout>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindLayout {
    pub name: String,
    pub scope: ScopeLayout,
    pub fields: Vec<FieldLayout>,
    /// The fields whose nested object (a text, a map of items) must be made in the record's first
    /// change, and only there: two devices that each made one would each lose the other's content,
    /// so the server refuses a nested object made later (`nested_object_after_creation`).
    pub created_with: Vec<String>,
    /// Fields the kind had and no one may write again (`field_not_writable`).
    pub retired: Vec<String>,
}

/// Who sees and writes the kind's records ([`Scope`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScopeLayout {
    /// Placed by the territory named in `field`; kept to the user named in `user_field` when the
    /// record names one.
    Territory {
        field: String,
        user_field: Option<String>,
    },
    /// Placed where its parent, the record of `kind` named in `field`, is.
    Parent { field: String, kind: String },
    /// The company's: read by every user of at least `readers`' role, written by managers and
    /// admins.
    Company { readers: Role },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldLayout {
    pub name: String,
    #[serde(flatten)]
    pub ty: TypeLayout,
    /// How the value is held in the automerge document.
    pub automerge: Representation,
    pub required: bool,
    /// The least role whose device may write it; `server` for fields only the server writes.
    pub writer: WriterLayout,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unit: Option<Unit>,
    /// A person's personal data (a contact's name, phone, e-mail).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub personal: bool,
}

/// A field's type and bounds ([`FieldType`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TypeLayout {
    /// At most `max_len` characters (Unicode scalar values); a required one must not be blank.
    String {
        max_len: usize,
    },
    /// Collaborative text of at most `max_len` characters.
    Text {
        max_len: usize,
    },
    /// At most 254 characters, with one `@` and a dot after it, and no white space.
    Email {
        max_len: usize,
    },
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    /// Milliseconds since the Unix epoch.
    Timestamp,
    Enum {
        values: Vec<String>,
    },
    /// The id of a record of `kind` (`user` for a user, `record` for any kind), as a UUID string.
    Reference {
        kind: String,
    },
    /// A file by the SHA-256 of its bytes, as 64 lowercase hex digits.
    Attachment,
    /// A map from each item's id (a UUID string) to a map of the item's fields.
    Items {
        max_items: usize,
        fields: Vec<FieldLayout>,
    },
}

/// The automerge value a field holds. Scalars are put at the record's root under the field's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Representation {
    Str,
    /// A text object (character-level merge), made in the record's first change.
    Text,
    /// A signed integer (an unsigned one is read as the same number).
    Int,
    /// A 64-bit float (an integer is read as the same number, as JavaScript writes whole
    /// numbers).
    F64,
    Boolean,
    /// An automerge timestamp (an integer is read as the same number of milliseconds).
    Timestamp,
    /// A map object, made in the record's first change.
    Map,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriterLayout {
    Agent,
    Manager,
    Admin,
    Server,
}

/// The layout of every kind in `kinds`, under the server's `limits`.
pub fn document(kinds: &[&KindSchema], limits: &Limits) -> SchemaDocument {
    SchemaDocument {
        protocol_version: PROTOCOL_VERSION,
        deleted_field: DELETED_FIELD.to_string(),
        max_unknown_value_bytes: MAX_UNKNOWN_VALUE_BYTES,
        limits: *limits,
        kinds: kinds.iter().map(|k| kind(k)).collect(),
    }
}

fn kind(kind: &KindSchema) -> KindLayout {
    KindLayout {
        name: kind.name.to_string(),
        scope: match kind.scope {
            Scope::Territory { field, user } => ScopeLayout::Territory {
                field: field.to_string(),
                user_field: user.map(str::to_string),
            },
            Scope::Parent { field, kind } => ScopeLayout::Parent {
                field: field.to_string(),
                kind: kind.to_string(),
            },
            Scope::Company { readers } => ScopeLayout::Company { readers },
        },
        fields: kind.fields.iter().map(field).collect(),
        created_with: kind
            .fields
            .iter()
            .filter(|f| matches!(f.ty, FieldType::Text { .. } | FieldType::Items(_)))
            .map(|f| f.name.to_string())
            .collect(),
        retired: crate::kinds::retired_fields(kind)
            .map(str::to_string)
            .collect(),
    }
}

fn field(spec: &FieldSpec) -> FieldLayout {
    let (ty, automerge) = match spec.ty {
        FieldType::String { max_len } => (TypeLayout::String { max_len }, Representation::Str),
        FieldType::Text { max_len } => (TypeLayout::Text { max_len }, Representation::Text),
        FieldType::Email => (
            TypeLayout::Email {
                max_len: crate::validate::MAX_EMAIL_LEN,
            },
            Representation::Str,
        ),
        FieldType::Int { min, max } => (TypeLayout::Int { min, max }, Representation::Int),
        FieldType::Float { min, max } => (TypeLayout::Float { min, max }, Representation::F64),
        FieldType::Bool => (TypeLayout::Bool, Representation::Boolean),
        FieldType::Timestamp => (TypeLayout::Timestamp, Representation::Timestamp),
        FieldType::Enum(values) => (
            TypeLayout::Enum {
                values: values.iter().map(|v| v.to_string()).collect(),
            },
            Representation::Str,
        ),
        FieldType::Reference(kind) => (
            TypeLayout::Reference {
                kind: kind.to_string(),
            },
            Representation::Str,
        ),
        FieldType::Attachment => (TypeLayout::Attachment, Representation::Str),
        FieldType::Items(items) => (
            TypeLayout::Items {
                max_items: items.max_items,
                fields: items.fields.iter().map(field).collect(),
            },
            Representation::Map,
        ),
    };
    FieldLayout {
        name: spec.name.to_string(),
        ty,
        automerge,
        required: spec.required,
        writer: match spec.writer {
            Writer::Agent => WriterLayout::Agent,
            Writer::Manager => WriterLayout::Manager,
            Writer::Admin => WriterLayout::Admin,
            Writer::Server => WriterLayout::Server,
        },
        unit: spec.unit,
        personal: spec.personal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;

    #[test]
    fn every_field_of_every_kind_is_described_with_its_bounds() {
        let doc = document(kinds::ALL, &Limits::default());
        assert_eq!(doc.kinds.len(), kinds::ALL.len());
        for (kind, layout) in kinds::ALL.iter().zip(&doc.kinds) {
            assert_eq!(layout.name, kind.name);
            let names: Vec<&str> = layout.fields.iter().map(|f| f.name.as_str()).collect();
            let expected: Vec<&str> = kind.fields.iter().map(|f| f.name).collect();
            assert_eq!(names, expected, "{}", kind.name);
            assert!(names.contains(&DELETED_FIELD), "{}", kind.name);
        }
        let customer = &doc.kinds[0];
        let credit = customer.fields.iter().find(|f| f.name == "credit_limit");
        let credit = credit.unwrap();
        assert_eq!(credit.writer, WriterLayout::Manager);
        assert_eq!(credit.unit, Some(Unit::MinorUnits));
        assert_eq!(
            credit.ty,
            TypeLayout::Int {
                min: 0,
                max: 1_000_000_000
            }
        );
        assert_eq!(customer.created_with, vec!["notes".to_string()]);
        let order = doc.kinds.iter().find(|k| k.name == "order").unwrap();
        assert!(order.created_with.contains(&"lines".to_string()));
        let product = doc.kinds.iter().find(|k| k.name == "product").unwrap();
        assert_eq!(product.retired, vec!["unit_cost".to_string()]);
        assert_eq!(
            product.scope,
            ScopeLayout::Company {
                readers: Role::Agent
            }
        );
    }

    #[test]
    fn the_document_reads_back_as_written() {
        let doc = document(kinds::ALL, &Limits::default());
        let json = serde_json::to_string(&doc).unwrap();
        let back: SchemaDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let lat = &value["kinds"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "lat")
            .unwrap();
        assert_eq!(lat["type"], "float");
        assert_eq!(lat["automerge"], "f64");
        assert_eq!(lat["min"], -90.0);
    }
}
