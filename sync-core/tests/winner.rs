//! The projection shows the value automerge's own `ReadDoc::get` returns for a field written
//! concurrently, the value every automerge client (in any language) displays, and lists the losers
//! after it. Checked for concurrent writes of every field type, then over random concurrent edits by
//! random actors merged in random orders.

use automerge::{ActorId, AutoCommit, ReadDoc, ROOT};
use proptest::prelude::*;
use sync_core::record::{self, Projection};
use sync_core::schema::{FieldSpec, FieldType, KindSchema, Scope, DELETED_FIELD};
use sync_core::validate::{self, Raw};
use sync_core::Value;

const STATES: &[&str] = &["open", "won", "lost"];

/// A kind with a field of every type the schemas know.
static EVERY_TYPE: KindSchema = KindSchema {
    name: "every_type",
    table: "every_types",
    scope: Scope::Territory {
        field: "territory",
        user: None,
    },
    fields: &[
        FieldSpec::new("territory", FieldType::String { max_len: 100 }).required(),
        FieldSpec::new("name", FieldType::String { max_len: 100 }),
        FieldSpec::new("notes", FieldType::Text { max_len: 1_000 }),
        FieldSpec::new("email", FieldType::Email),
        FieldSpec::new(
            "count",
            FieldType::Int {
                min: -1_000,
                max: 1_000,
            },
        ),
        FieldSpec::new(
            "ratio",
            FieldType::Float {
                min: -1.0,
                max: 1.0,
            },
        ),
        FieldSpec::new("flag", FieldType::Bool),
        FieldSpec::new("due", FieldType::Timestamp),
        FieldSpec::new("state", FieldType::Enum(STATES)),
        FieldSpec::new("customer_id", FieldType::Reference("customer")),
        FieldSpec::new(DELETED_FIELD, FieldType::Bool),
    ],
};

/// Two distinct valid values of a field, one per writer.
fn value(field: &str, n: u8) -> Value {
    match field {
        "territory" => Value::Str(format!("Territory {n}")),
        "name" | "notes" => Value::Str(format!("value {n}")),
        "email" => Value::Str(format!("a{n}@example.com")),
        "count" => Value::Int(i64::from(n) * 3 - 300),
        "ratio" => Value::Float(f64::from(n) / 300.0 - 0.4),
        "flag" | DELETED_FIELD => Value::Bool(n.is_multiple_of(2)),
        "due" => Value::Int(1_700_000_000_000 + i64::from(n)),
        "state" => Value::Str(STATES[usize::from(n) % STATES.len()].to_string()),
        "customer_id" => Value::Str(format!("0190f7a0-0000-7000-8000-{:012}", n)),
        other => panic!("no value for {other}"),
    }
}

fn actor(bytes: [u8; 16]) -> ActorId {
    ActorId::from(bytes.to_vec())
}

fn new_record(creator: ActorId) -> AutoCommit {
    record::create(
        &EVERY_TYPE,
        creator,
        &[("territory", Value::Str("North".into()))],
    )
    .unwrap()
}

/// What automerge's `get` shows at `field`, read through the schema like any value.
fn shown_by_automerge(doc: &AutoCommit, spec: &FieldSpec) -> Value {
    let raw = match doc.get(ROOT, spec.name).unwrap() {
        None => Raw::Missing,
        Some((automerge::Value::Scalar(s), _)) => Raw::Scalar(s.into_owned()),
        Some((automerge::Value::Object(automerge::ObjType::Text), id)) => {
            Raw::Text(doc.text(id).unwrap())
        }
        Some((automerge::Value::Object(_), _)) => Raw::OtherObject,
    };
    validate::check(spec, &raw).unwrap()
}

/// Every field of the projection is automerge's winner, and a conflict lists that winner first and
/// exactly as many values as automerge holds.
fn assert_projection_shows_the_winner(doc: &AutoCommit) -> Projection {
    let p = record::project(doc, &EVERY_TYPE).unwrap();
    for spec in EVERY_TYPE.fields {
        let winner = shown_by_automerge(doc, spec);
        assert_eq!(p.get(spec.name), &winner, "field {}", spec.name);
        let held = doc.get_all(ROOT, spec.name).unwrap().len();
        match p.conflicts.iter().find(|c| c.field == spec.name) {
            Some(c) => {
                assert_eq!(
                    c.values[0], winner,
                    "conflict of {} starts with the winner",
                    spec.name
                );
                assert_eq!(c.values.len(), held, "conflict of {}", spec.name);
            }
            None => assert!(
                held <= 1,
                "{} holds {held} values but no conflict",
                spec.name
            ),
        }
    }
    p
}

#[test]
fn every_field_type_written_concurrently_projects_automerges_winner() {
    // The two actors in both orders, so that neither the first nor the last value of `get_all` wins
    // by accident of the actor ids.
    for (first, second) in [([1; 16], [2; 16]), ([2; 16], [1; 16])] {
        let mut a = new_record(actor(first));
        let mut b = a.fork().with_actor(actor(second));
        for spec in EVERY_TYPE.fields {
            record::update(&mut a, &EVERY_TYPE, &[(spec.name, value(spec.name, 1))]).unwrap();
            record::update(&mut b, &EVERY_TYPE, &[(spec.name, value(spec.name, 2))]).unwrap();
        }
        a.merge(&mut b).unwrap();
        let p = assert_projection_shows_the_winner(&a);
        // Text merges character by character and is never in conflict; every scalar field is but
        // the tombstone, which a record is created with (false): writing false again writes nothing.
        let conflicted: Vec<_> = p.conflicts.iter().map(|c| c.field.as_str()).collect();
        let scalars: Vec<_> = EVERY_TYPE
            .fields
            .iter()
            .filter(|f| !matches!(f.ty, FieldType::Text { .. }) && f.name != DELETED_FIELD)
            .map(|f| f.name)
            .collect();
        assert_eq!(conflicted, scalars);
        // The winner is the same whichever side merged the other.
        b.merge(&mut a).unwrap();
        assert_eq!(record::project(&b, &EVERY_TYPE).unwrap(), p);
    }
}

/// The winner of a conflict in the scope field is the one that scopes the record: the document's
/// own `get` decides it, not the order automerge lists values in.
#[test]
fn a_concurrent_territory_scopes_the_record_by_the_displayed_value() {
    let mut a = new_record(actor([9; 16]));
    let mut b = a.fork().with_actor(actor([3; 16]));
    record::update(
        &mut a,
        &EVERY_TYPE,
        &[("territory", Value::Str("South".into()))],
    )
    .unwrap();
    record::update(
        &mut b,
        &EVERY_TYPE,
        &[("territory", Value::Str("East".into()))],
    )
    .unwrap();
    a.merge(&mut b).unwrap();
    let shown = a
        .get(ROOT, "territory")
        .unwrap()
        .unwrap()
        .0
        .into_string()
        .unwrap();
    let p = record::project(&a, &EVERY_TYPE).unwrap();
    assert_eq!(p.scope_key(&EVERY_TYPE), Some(shown.as_str()));
}

/// One device's offline work: the fields it writes, each in a change of its own.
#[derive(Debug, Clone)]
struct Edits {
    actor: [u8; 16],
    writes: Vec<(usize, u8)>,
}

fn edits() -> impl Strategy<Value = Edits> {
    let fields = EVERY_TYPE.fields.len();
    (
        any::<[u8; 16]>(),
        proptest::collection::vec((0..fields, any::<u8>()), 1..8),
    )
        .prop_map(|(actor, writes)| Edits { actor, writes })
}

proptest! {
    #[test]
    fn random_concurrent_edits_project_automerges_winner(
        devices in proptest::collection::vec(edits(), 2..5),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 4),
    ) {
        let base = new_record(actor([0; 16]));
        let mut forks: Vec<AutoCommit> = Vec::new();
        for (i, device) in devices.iter().enumerate() {
            let mut bytes = device.actor;
            // Distinct actors: a shared actor would be one device, not concurrent ones.
            bytes[15] = i as u8 + 1;
            let mut doc = base.clone().with_actor(actor(bytes));
            for &(field, n) in &device.writes {
                let name = EVERY_TYPE.fields[field].name;
                record::update(&mut doc, &EVERY_TYPE, &[(name, value(name, n))]).unwrap();
            }
            forks.push(doc);
        }
        // Merge in a random order into a random fork; every fork converges on one projection.
        let into = order[0].index(forks.len());
        let mut merged = forks[into].clone();
        for (i, fork) in forks.iter_mut().enumerate() {
            if i != into {
                merged.merge(fork).unwrap();
            }
        }
        let p = assert_projection_shows_the_winner(&merged);
        let mut other = forks[order[1].index(forks.len())].clone();
        other.merge(&mut merged).unwrap();
        prop_assert_eq!(&record::project(&other, &EVERY_TYPE).unwrap(), &p);
        // A device that resolves a conflict by writing the winner again ends it, and the value stays.
        let mut resolved = merged.clone();
        let winners: Vec<(&str, Value)> = p
            .conflicts
            .iter()
            .map(|c| (EVERY_TYPE.field(&c.field).unwrap().name, c.values[0].clone()))
            .collect();
        record::update(&mut resolved, &EVERY_TYPE, &winners).unwrap();
        let after = record::project(&resolved, &EVERY_TYPE).unwrap();
        prop_assert!(after.conflicts.is_empty());
        prop_assert_eq!(after.fields, p.fields);
    }
}
