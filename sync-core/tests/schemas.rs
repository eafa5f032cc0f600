//! Every kind's schema under arbitrary values: a record made of them is either created, and reads
//! back exactly as written, or refused as a whole with the offending field named. Values of every
//! type reach every field, so wrong types, out-of-range numbers, unknown enum values, bad ids and
//! over-long text are all tried against every kind.

use automerge::ActorId;
use proptest::prelude::*;
use sync_core::schema::DELETED_FIELD;
use sync_core::{kinds, record, Error, FieldType, Item, ItemsSchema, KindSchema, Value};

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![any::<i64>(), -10i64..400, Just(1_000_000_000_000_000)].prop_map(Value::Int),
        prop_oneof![any::<f64>(), -200.0f64..200.0].prop_map(Value::Float),
        prop_oneof![
            "[a-z_]{0,12}",
            "\\PC{0,30}",
            Just("00000000-0000-7000-8000-000000000001".to_string()),
            Just("a@b.example".to_string()),
            (0usize..2_100).prop_map(|n| "x".repeat(n)),
        ]
        .prop_map(Value::Str),
    ]
}

/// A value that is right for the field's type, so that most records get past the first field.
fn fitting(ty: FieldType) -> BoxedStrategy<Value> {
    match ty {
        FieldType::String { max_len } | FieldType::Text { max_len } => {
            proptest::string::string_regex(&format!("[a-zA-Z0-9 ]{{1,{}}}", max_len.min(40)))
                .expect("regex")
                .prop_map(Value::Str)
                .boxed()
        }
        FieldType::Email => Just(Value::Str("buyer@shop.example".into())).boxed(),
        FieldType::Int { min, max } => (min..=max).prop_map(Value::Int).boxed(),
        FieldType::Float { min, max } => (min..=max).prop_map(Value::Float).boxed(),
        FieldType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        FieldType::Timestamp => (0i64..4_000_000_000_000).prop_map(Value::Int).boxed(),
        FieldType::Enum(values) => proptest::sample::select(values)
            .prop_map(|v: &str| Value::Str(v.to_string()))
            .boxed(),
        FieldType::Attachment => any::<[u8; 8]>()
            .prop_map(|b| Value::Str(sync_core::attachments::hash(&b)))
            .boxed(),
        FieldType::Reference(_) => any::<u128>()
            .prop_map(|n| Value::Str(uuid::Uuid::from_u128(n).to_string()))
            .boxed(),
        FieldType::Items(schema) => proptest::collection::vec(item(schema), 0..4)
            .prop_map(|mut items| {
                items.sort_by(|a, b| a.id.cmp(&b.id));
                items.dedup_by(|a, b| a.id == b.id);
                Value::Items(items)
            })
            .boxed(),
    }
}

/// An item with an id and a random subset of its fields, each fitting or arbitrary. A null is the
/// same as a field left out, so none is generated.
fn item(schema: &'static ItemsSchema) -> impl Strategy<Value = Item> {
    let fields: Vec<_> = schema
        .fields
        .iter()
        .map(|f| {
            let value = prop_oneof![4 => fitting(f.ty), 1 => any_value()];
            let present = if f.required {
                Just(true).boxed()
            } else {
                any::<bool>().boxed()
            };
            (present, value)
                .prop_map(move |(p, v)| (p && !v.is_null()).then(|| (f.name.to_string(), v)))
        })
        .collect();
    (any::<u128>(), fields).prop_map(|(id, fields)| Item {
        id: uuid::Uuid::from_u128(id).to_string(),
        fields: fields.into_iter().flatten().collect(),
    })
}

/// A kind, and values for a random subset of its fields (every required one included, so that most
/// records are complete), each either fitting its type or arbitrary.
fn record_of_any_kind() -> impl Strategy<Value = (&'static KindSchema, Vec<(&'static str, Value)>)>
{
    proptest::sample::select(kinds::ALL).prop_flat_map(|kind| {
        let fields: Vec<_> = kind
            .fields
            .iter()
            .filter(|f| f.name != DELETED_FIELD)
            .map(|f| {
                let value = prop_oneof![4 => fitting(f.ty), 1 => any_value()];
                let present = if f.required {
                    Just(true).boxed()
                } else {
                    any::<bool>().boxed()
                };
                (present, value).prop_map(move |(p, v)| p.then_some((f.name, v)))
            })
            .collect();
        fields.prop_map(move |values| (kind, values.into_iter().flatten().collect()))
    })
}

proptest! {
    #[test]
    fn records_of_every_kind_are_created_as_written_or_refused_naming_the_field(
        (kind, values) in record_of_any_kind()
    ) {
        match record::create(kind, ActorId::random(), &values) {
            Ok(doc) => {
                let p = record::project(&doc, kind).expect("a created record projects");
                for (name, value) in &values {
                    let read = p.get(name);
                    match (value, read) {
                        // A whole number is a float where a float is due (phones written in
                        // JavaScript store them so); ids read back in their canonical form.
                        (Value::Float(a), Value::Float(b)) => prop_assert!((a - b).abs() <= f64::EPSILON * a.abs()),
                        (Value::Int(a), Value::Float(b)) => prop_assert_eq!(*a as f64, *b),
                        // A text field always exists: emptied, it reads as empty text.
                        (Value::Null, Value::Str(b)) if matches!(kind.field(name).map(|f| f.ty), Some(FieldType::Text { .. })) => {
                            prop_assert_eq!(b.as_str(), "")
                        }
                        (Value::Str(a), Value::Str(b)) if uuid::Uuid::parse_str(a).is_ok() => {
                            prop_assert_eq!(uuid::Uuid::parse_str(a).ok(), uuid::Uuid::parse_str(b).ok())
                        }
                        _ => prop_assert_eq!(value, read, "{}.{}", kind.name, name),
                    }
                }
            }
            Err(Error::Invalid(errors)) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    // An item's field is named `field.item_id.item_field`.
                    let field = e.field.split('.').next().unwrap_or_default();
                    prop_assert!(kind.field(field).is_some(), "{}: error on no field: {:?}", kind.name, e);
                }
            }
            Err(e) => prop_assert!(false, "{}: refused without naming a field: {e}", kind.name),
        }
    }
}
