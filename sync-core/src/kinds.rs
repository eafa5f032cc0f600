//! The record kinds fieldsync knows, declared once for the server and every client.

use crate::schema::{FieldSpec, FieldType, KindSchema, Scope, Writer, DELETED_FIELD};
use crate::Error;

const NAME: FieldType = FieldType::String { max_len: 200 };
const SHORT: FieldType = FieldType::String { max_len: 100 };
const PHONE: FieldType = FieldType::String { max_len: 40 };
const NOTES: FieldType = FieldType::Text { max_len: 20_000 };

pub const CUSTOMER_STATUSES: &[&str] = &["lead", "active", "inactive"];

pub static CUSTOMER: KindSchema = KindSchema {
    name: "customer",
    table: "customers",
    scope: Scope::Territory { field: "territory" },
    fields: &[
        FieldSpec::new("name", NAME).required(),
        FieldSpec::new("territory", SHORT).required(),
        FieldSpec::new("phone", PHONE),
        FieldSpec::new("email", FieldType::Email),
        FieldSpec::new("street", NAME),
        FieldSpec::new("city", SHORT),
        FieldSpec::new("postcode", FieldType::String { max_len: 20 }),
        FieldSpec::new("country", SHORT),
        FieldSpec::new(
            "lat",
            FieldType::Float {
                min: -90.0,
                max: 90.0,
            },
        ),
        FieldSpec::new(
            "lon",
            FieldType::Float {
                min: -180.0,
                max: 180.0,
            },
        ),
        FieldSpec::new("status", FieldType::Enum(CUSTOMER_STATUSES)),
        FieldSpec::new(
            "credit_limit",
            FieldType::Int {
                min: 0,
                max: 1_000_000_000,
            },
        )
        .written_by(Writer::Manager),
        FieldSpec::new("external_ref", SHORT).written_by(Writer::Server),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
    ],
};

pub static CONTACT: KindSchema = KindSchema {
    name: "contact",
    table: "contacts",
    scope: Scope::Parent {
        field: "customer_id",
        kind: "customer",
    },
    fields: &[
        FieldSpec::new("customer_id", FieldType::Reference("customer")).required(),
        FieldSpec::new("name", NAME).required(),
        FieldSpec::new("title", SHORT),
        FieldSpec::new("phone", PHONE),
        FieldSpec::new("email", FieldType::Email),
        FieldSpec::new("notes", NOTES),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
    ],
};

/// Every kind, in a stable order.
pub static ALL: &[&KindSchema] = &[&CUSTOMER, &CONTACT];

/// The schema of the kind with this name.
pub fn get(name: &str) -> Result<&'static KindSchema, Error> {
    ALL.iter()
        .copied()
        .find(|k| k.name == name)
        .ok_or_else(|| Error::UnknownKind(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_tombstone_and_unique_fields() {
        for kind in ALL {
            assert!(
                kind.field(DELETED_FIELD).is_some(),
                "{} lacks `deleted`",
                kind.name
            );
            let mut names: Vec<_> = kind.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                kind.fields.len(),
                "{} repeats a field",
                kind.name
            );
            let scope_field = match kind.scope {
                Scope::Territory { field } | Scope::Parent { field, .. } => field,
            };
            assert!(
                kind.field(scope_field).is_some_and(|f| f.required),
                "{}: scope field must be required",
                kind.name
            );
        }
    }

    #[test]
    fn unknown_kind_is_an_error() {
        assert_eq!(get("order").unwrap_err().code(), "unknown_kind");
        assert_eq!(get("customer").unwrap().table, "customers");
    }
}
