//! Items inside a record (an order's lines) under concurrent offline edits: each item and each of
//! its fields merges on its own, and what cannot merge is reported, not hidden.

use automerge::{transaction::Transactable, ActorId, AutoCommit, ObjType, ReadDoc, ROOT};
use sync_core::kinds::ORDER;
use sync_core::{orders, record, Error, Item, Value};

fn actor(n: u8) -> ActorId {
    ActorId::from(vec![n; 16])
}

fn line(product: u128, quantity: i64, unit_price: i64) -> Item {
    Item::new([
        (
            "product_id",
            Value::Str(uuid::Uuid::from_u128(product).to_string()),
        ),
        ("quantity", Value::Int(quantity)),
        ("unit_price", Value::Int(unit_price)),
    ])
}

fn order(lines: Vec<Item>) -> AutoCommit {
    record::create(
        &ORDER,
        actor(1),
        &[
            (
                "customer_id",
                Value::Str(uuid::Uuid::from_u128(7).to_string()),
            ),
            ("status", "draft".into()),
            ("currency", "EUR".into()),
            ("lines", Value::Items(lines)),
        ],
    )
    .unwrap()
}

fn lines(doc: &AutoCommit) -> Vec<Item> {
    record::project(doc, &ORDER)
        .unwrap()
        .get("lines")
        .items()
        .to_vec()
}

#[test]
fn lines_added_and_changed_on_two_devices_all_survive_the_merge() {
    let first = line(1, 2_000, 500);
    let second = line(2, 1_000, 1_250);
    let mut a = order(vec![first.clone(), second.clone()]);
    let mut b = a.fork().with_actor(actor(2));

    // Device A adds a line and changes the first's quantity; device B changes the second's price.
    let mut on_a = lines(&a);
    on_a[0].fields.insert("quantity".into(), Value::Int(3_000));
    let added = line(3, 500, 100);
    on_a.push(added.clone());
    record::update(&mut a, &ORDER, &[("lines", Value::Items(on_a))]).unwrap();
    let mut on_b = lines(&b);
    on_b[1]
        .fields
        .insert("unit_price".into(), Value::Int(1_100));
    record::update(&mut b, &ORDER, &[("lines", Value::Items(on_b))]).unwrap();

    a.merge(&mut b).unwrap();
    let merged = lines(&a);
    assert_eq!(merged.len(), 3);
    assert_eq!(merged[0].get("quantity"), &Value::Int(3_000));
    assert_eq!(merged[1].get("unit_price"), &Value::Int(1_100));
    assert_eq!(
        merged[2].id, added.id,
        "items are ordered by their time-ordered ids"
    );
    let p = record::project(&a, &ORDER).unwrap();
    assert!(p.conflicts.is_empty());
    let t = orders::totals(&p).unwrap();
    assert_eq!(t.subtotal, 3 * 500 + 1_100 + 50);
}

#[test]
fn one_field_of_one_line_changed_twice_at_once_is_a_conflict_naming_the_line() {
    let mut a = order(vec![line(1, 1_000, 500)]);
    let mut b = a.fork().with_actor(actor(2));
    for (doc, quantity) in [(&mut a, 2_000), (&mut b, 5_000)] {
        let mut l = lines(doc);
        l[0].fields.insert("quantity".into(), Value::Int(quantity));
        record::update(doc, &ORDER, &[("lines", Value::Items(l))]).unwrap();
    }
    a.merge(&mut b).unwrap();
    let p = record::project(&a, &ORDER).unwrap();
    let id = &lines(&a)[0].id;
    assert_eq!(p.conflicts.len(), 1);
    assert_eq!(p.conflicts[0].field, format!("lines.{id}.quantity"));
    assert_eq!(p.conflicts[0].values.len(), 2);
}

#[test]
fn a_removed_line_is_gone_and_unchanged_lines_write_nothing() {
    let keep = line(1, 1_000, 500);
    let mut doc = order(vec![keep.clone(), line(2, 1_000, 700)]);
    let before = doc.get_changes(&[]).len();
    let heads = doc.get_heads();
    let same = lines(&doc);
    record::update(&mut doc, &ORDER, &[("lines", Value::Items(same))]).unwrap();
    assert_eq!(
        doc.get_heads(),
        heads,
        "writing the same lines is no change"
    );
    record::update(
        &mut doc,
        &ORDER,
        &[("lines", Value::Items(vec![keep.clone()]))],
    )
    .unwrap();
    assert_eq!(doc.get_changes(&[]).len(), before + 1);
    assert_eq!(lines(&doc), vec![keep]);
}

#[test]
fn hand_made_items_that_break_the_schema_are_refused_with_the_field_named() {
    let mut doc = order(vec![]);
    let (_, map) = doc.get(ROOT, "lines").unwrap().unwrap();
    // An item under a key that is not an id, a line that is not a map, and a negative quantity.
    doc.put_object(&map, "first", ObjType::Map).unwrap();
    let id = uuid::Uuid::from_u128(9).to_string();
    let item = doc.put_object(&map, id.as_str(), ObjType::Map).unwrap();
    doc.put(&item, "product_id", uuid::Uuid::from_u128(1).to_string())
        .unwrap();
    doc.put(&item, "quantity", -1).unwrap();
    doc.put(&item, "unit_price", 10).unwrap();
    let uppercase = uuid::Uuid::from_u128(10).to_string().to_uppercase();
    doc.put(&map, uppercase.as_str(), "not a map").unwrap();
    let Err(Error::Invalid(errors)) = record::project(&doc, &ORDER) else {
        panic!("a malformed line was accepted")
    };
    let fields: Vec<_> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    assert!(fields.contains(&("lines.first", "format")), "{fields:?}");
    assert!(
        fields.contains(&(format!("lines.{id}.quantity").as_str(), "range")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(format!("lines.{uppercase}").as_str(), "format")),
        "{fields:?}"
    );
}

#[test]
fn an_order_holds_at_most_its_cap_of_lines() {
    let too_many: Vec<Item> = (0..=sync_core::totals::MAX_LINES as u128)
        .map(|n| line(n, 1_000, 1))
        .collect();
    let err = record::create(
        &ORDER,
        actor(1),
        &[
            (
                "customer_id",
                Value::Str(uuid::Uuid::from_u128(7).to_string()),
            ),
            ("status", "draft".into()),
            ("currency", "EUR".into()),
            ("lines", Value::Items(too_many)),
        ],
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("lines"));
}

#[test]
fn writing_the_shown_value_resolves_a_conflict_at_the_root_and_in_an_item() {
    let mut a = order(vec![line(1, 1_000, 500)]);
    let mut b = a.fork().with_actor(actor(2));
    for (doc, status, quantity) in [(&mut a, "submitted", 2_000), (&mut b, "cancelled", 5_000)] {
        let mut l = lines(doc);
        l[0].fields.insert("quantity".into(), Value::Int(quantity));
        record::update(
            doc,
            &ORDER,
            &[("status", status.into()), ("lines", Value::Items(l))],
        )
        .unwrap();
    }
    a.merge(&mut b).unwrap();
    let merged = record::project(&a, &ORDER).unwrap();
    assert_eq!(merged.conflicts.len(), 2);
    let shown = merged.get("status").clone();
    let same = lines(&a);
    let mut resolver = a.fork().with_actor(actor(3));
    record::update(
        &mut resolver,
        &ORDER,
        &[("status", shown.clone()), ("lines", Value::Items(same))],
    )
    .unwrap();
    let resolved = record::project(&resolver, &ORDER).unwrap();
    assert!(resolved.conflicts.is_empty(), "{:?}", resolved.conflicts);
    assert_eq!(resolved.get("status"), &shown);
}
