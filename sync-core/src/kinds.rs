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

/// A product of the catalogue: company-wide, written by managers and admins, read by every device.
pub static PRODUCT: KindSchema = KindSchema {
    name: "product",
    table: "products",
    scope: Scope::Company,
    fields: &[
        FieldSpec::new("sku", FieldType::String { max_len: 64 })
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("name", NAME)
            .required()
            .written_by(Writer::Manager),
        FieldSpec::new("unit", SHORT).written_by(Writer::Manager),
        FieldSpec::new("category", SHORT).written_by(Writer::Manager),
        FieldSpec::new("active", FieldType::Bool).written_by(Writer::Manager),
        FieldSpec::new("description", NOTES).written_by(Writer::Manager),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool).written_by(Writer::Manager),
    ],
};

/// Every kind, in a stable order.
pub static ALL: &[&KindSchema] = &[&CUSTOMER, &CONTACT, &PRODUCT];

/// How many parents stand between a record of `kind` and what places it (0 for a record scoped by a
/// territory or company-wide, 1 for a customer's contact, 2 for a record of a contact...): a batch
/// that creates a chain of records writes them in this order.
pub fn scope_depth(kind: &KindSchema) -> usize {
    let mut depth = 0;
    let mut scope = kind.scope;
    // Bounded by the number of kinds, so that a cycle of parents declared by mistake cannot hang.
    while let Scope::Parent { kind: parent, .. } = scope {
        if depth > ALL.len() {
            break;
        }
        depth += 1;
        match get(parent) {
            Ok(p) => scope = p.scope,
            Err(_) => break,
        }
    }
    depth
}

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
            match kind.scope.field() {
                Some(scope_field) => assert!(
                    kind.field(scope_field).is_some_and(|f| f.required),
                    "{}: scope field must be required",
                    kind.name
                ),
                // No field of a company-wide record may be written by an agent's push.
                None => assert!(
                    kind.fields.iter().all(|f| f.writer != Writer::Agent),
                    "{}: company-wide, so managers write every field",
                    kind.name
                ),
            }
        }
    }

    #[test]
    fn unknown_kind_is_an_error() {
        assert_eq!(get("order").unwrap_err().code(), "unknown_kind");
        assert_eq!(get("product").unwrap().scope, Scope::Company);
    }

    #[test]
    fn every_parent_kind_exists_and_chains_end() {
        for kind in ALL {
            if let Scope::Parent { kind: parent, .. } = kind.scope {
                assert!(get(parent).is_ok(), "{}: no kind {parent}", kind.name);
            }
            assert!(
                scope_depth(kind) < ALL.len(),
                "{}: parents form a cycle",
                kind.name
            );
        }
        assert_eq!(scope_depth(&CUSTOMER), 0);
        assert_eq!(scope_depth(&CONTACT), 1);
        assert_eq!(get("customer").unwrap().table, "customers");
    }
}
