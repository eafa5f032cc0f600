//! The history of a record's fields: for each change, in the order the server merged them, which
//! fields it changed, from what to what.
//!
//! Automerge keeps every change; replaying them one at a time into an empty document and reading,
//! after each, the fields the change wrote gives the value before and after it as the merged record
//! showed them. Replaying costs about one load of the document, however long the history, where
//! reading the record at each change's heads would cost a load per change. A field that holds
//! concurrent values after a change shows them all: the change was merged beside another's.

use std::collections::BTreeMap;

use automerge::{AutoCommit, Change, ObjType, ReadDoc, ScalarValue, ROOT};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::inspect;
use crate::Error;

/// What one change did to a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The change's position in the replay, from 1: the order the server merged the changes in.
    pub n: usize,
    /// The fields whose values the change altered, as the merged record showed them.
    pub fields: Vec<FieldChange>,
}

/// One field a change altered. Items (an order's lines) are named per item and field:
/// `lines.ITEM.FIELD`, or `lines.ITEM` for an item added or removed whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    pub field: String,
    /// The value shown before the change; null where unset.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub old: Json,
    /// The value shown after it; null where unset or removed.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub new: Json,
    /// Every value the field held after the change, the shown one first, when there were several:
    /// the change was concurrent with another's write of the field and nobody has resolved it yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub concurrent: Vec<Json>,
}

/// A record's history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct History {
    pub id: uuid::Uuid,
    pub kind: String,
    /// How many changes the record has.
    pub total: usize,
    pub entries: Vec<HistoryEntry>,
    /// Pass as `before` for older entries; null when there are none.
    pub next_before: Option<usize>,
}

/// One change of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// The change's place in the order the server merged the record's changes, from 1.
    pub n: usize,
    /// The automerge change's hash, hex.
    pub change: String,
    /// When the server received the change, in milliseconds since the epoch; null for changes
    /// received before the server kept receipts.
    pub received_at: Option<i64>,
    /// When the device that made the change says it made it, by its own clock (which can be
    /// wrong), in milliseconds (automerge keeps seconds); null when the change carries no time.
    pub device_time: Option<i64>,
    /// The person the change is by: the device's user, or the person the server acted for; null
    /// for the server's own rules and for actors the server does not know.
    pub user: Option<Person>,
    /// The device that made the change; null for the server's writes.
    pub device: Option<DeviceRef>,
    /// `device` for a device's own change; else why the server wrote (`api` for a person's
    /// edit or decision over the API, `rules` for the rules after a merge, `demo`, `grading`...).
    pub via: String,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    pub id: uuid::Uuid,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRef {
    pub id: uuid::Uuid,
    pub name: String,
}

/// Objects nested deeper than this are shown as null; records never nest so deep.
const MAX_DEPTH: usize = 4;

/// Which steps of a replay to keep: the newest `limit` numbered below `before` that touch `field`
/// (all when None), within about `max_bytes` of values (never fewer than one).
pub struct Window<'a> {
    pub before: usize,
    pub limit: usize,
    pub max_bytes: usize,
    pub field: Option<&'a str>,
}

/// The steps a replay kept, oldest first, and whether older ones matched but were left out.
pub struct Replayed {
    pub steps: Vec<Step>,
    pub older: bool,
}

/// Replays `changes` (each after the changes it depends on) into an empty document and says what
/// each did, keeping only the steps `window` asks for: a long history of long notes would
/// otherwise hold every version of them at once. A change that writes nothing the merged record
/// shows (one that lost to a later write) gives a step with no fields.
pub fn replay(changes: Vec<Change>, window: &Window<'_>) -> Result<Replayed, Error> {
    let mut doc = AutoCommit::new();
    // The values shown so far of each root field touched, the shown one first.
    let mut shown: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    let mut kept: std::collections::VecDeque<(Step, usize)> = Default::default();
    let (mut bytes, mut older) = (0, false);
    for (i, change) in changes.into_iter().enumerate() {
        let ops = change.decode().operations;
        let creating = i == 0;
        doc.apply_changes([change])?;
        let touched = inspect::shown_fields(&doc, &ops, creating)?;
        let mut fields = Vec::new();
        for field in touched {
            let after = values(&doc, &field)?;
            let before = shown.remove(&field).unwrap_or_default();
            diff(&field, &before, &after, &mut fields);
            if !after.is_empty() {
                shown.insert(field, after);
            }
        }
        let n = i + 1;
        if let Some(f) = window.field {
            fields.retain(|c| c.field == f || c.field.starts_with(&format!("{f}.")));
            if fields.is_empty() {
                continue;
            }
        }
        if n >= window.before {
            continue;
        }
        let size = serde_json::to_string(&fields).map_or(0, |s| s.len());
        kept.push_back((Step { n, fields }, size));
        bytes += size;
        while kept.len() > window.limit.max(1) || (bytes > window.max_bytes && kept.len() > 1) {
            let (_, size) = kept.pop_front().expect("more than one kept");
            bytes -= size;
            older = true;
        }
    }
    Ok(Replayed {
        steps: kept.into_iter().map(|(s, _)| s).collect(),
        older,
    })
}

/// The record `changes` make (each after the changes it depends on): for reading a record as it
/// stood at a past moment, from the changes the server had received by then.
pub fn rebuild(changes: Vec<Change>) -> Result<AutoCommit, Error> {
    let mut doc = AutoCommit::new();
    doc.apply_changes(changes)?;
    Ok(doc)
}

/// Adds to `out` what changed between the values a field showed before and after: one entry for a
/// plain field; for a field holding items, one per item field that changed.
fn diff(field: &str, before: &[Json], after: &[Json], out: &mut Vec<FieldChange>) {
    let old = before.first().cloned().unwrap_or(Json::Null);
    let new = after.first().cloned().unwrap_or(Json::Null);
    let concurrent = if after.len() > 1 {
        after.to_vec()
    } else {
        Vec::new()
    };
    if let (Json::Object(o), Json::Object(n), true) = (&old, &new, concurrent.is_empty()) {
        for key in o.keys().chain(n.keys().filter(|k| !o.contains_key(*k))) {
            let (a, b) = (o.get(key), n.get(key));
            match (a, b) {
                (Some(Json::Object(a)), Some(Json::Object(b))) => {
                    for sub in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                        push(
                            out,
                            format!("{field}.{key}.{sub}"),
                            a.get(sub).cloned().unwrap_or(Json::Null),
                            b.get(sub).cloned().unwrap_or(Json::Null),
                        );
                    }
                }
                _ => push(
                    out,
                    format!("{field}.{key}"),
                    a.cloned().unwrap_or(Json::Null),
                    b.cloned().unwrap_or(Json::Null),
                ),
            }
        }
        return;
    }
    // Writing the shown value over concurrent ones resolves them: a change, though the shown
    // value stays.
    if old != new || before.len() != after.len() {
        out.push(FieldChange {
            field: field.to_string(),
            old,
            new,
            concurrent,
        });
    }
}

/// An item's field, or an item added or removed whole, that changed.
fn push(out: &mut Vec<FieldChange>, field: String, old: Json, new: Json) {
    if old != new {
        out.push(FieldChange {
            field,
            old,
            new,
            concurrent: Vec::new(),
        });
    }
}

/// Every value a root field holds, the shown one first (automerge's `get` shows the last of
/// `get_all`).
fn values(doc: &AutoCommit, field: &str) -> Result<Vec<Json>, Error> {
    doc.get_all(ROOT, field)?
        .into_iter()
        .rev()
        .map(|(value, id)| json(doc, value, id, 0))
        .collect()
}

fn json(
    doc: &AutoCommit,
    value: automerge::Value,
    id: automerge::ObjId,
    depth: usize,
) -> Result<Json, Error> {
    Ok(match value {
        automerge::Value::Scalar(s) => scalar(&s),
        automerge::Value::Object(_) if depth >= MAX_DEPTH => Json::Null,
        automerge::Value::Object(ObjType::Text) => Json::String(doc.text(&id)?),
        automerge::Value::Object(ObjType::Map | ObjType::Table) => {
            let mut map = serde_json::Map::new();
            for item in doc.map_range(&id, ..) {
                let child = json(
                    doc,
                    automerge::Value::from(item.value.clone()),
                    item.id(),
                    depth + 1,
                )?;
                map.insert(item.key.into_owned(), child);
            }
            Json::Object(map)
        }
        automerge::Value::Object(ObjType::List) => {
            let mut list = Vec::new();
            for item in doc.list_range(&id, ..) {
                list.push(json(
                    doc,
                    automerge::Value::from(item.value.clone()),
                    item.id(),
                    depth + 1,
                )?);
            }
            Json::Array(list)
        }
    })
}

fn scalar(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Bytes(b) => Json::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        ScalarValue::Null | ScalarValue::Unknown { .. } => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::ActorId;

    const ALL: Window<'static> = Window {
        before: usize::MAX,
        limit: usize::MAX,
        max_bytes: usize::MAX,
        field: None,
    };

    fn changes(doc: &mut AutoCommit) -> Vec<Change> {
        doc.get_changes(&[])
    }

    #[test]
    fn each_change_shows_its_fields_old_and_new() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(&[1u8; 16][..]));
        doc.put(ROOT, "name", "Corner Shop").unwrap();
        doc.put(ROOT, "credit_limit", 5000_i64).unwrap();
        let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.commit();
        doc.put(ROOT, "credit_limit", 9000_i64).unwrap();
        doc.commit();
        doc.splice_text(&notes, 0, 0, "Closed on Mondays").unwrap();
        doc.commit();
        let steps = replay(changes(&mut doc), &ALL).unwrap().steps;
        assert_eq!(steps.len(), 3);
        let first: Vec<&str> = steps[0].fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(first, ["credit_limit", "name", "notes"]);
        assert_eq!(
            steps[1].fields,
            [FieldChange {
                field: "credit_limit".into(),
                old: Json::from(5000),
                new: Json::from(9000),
                concurrent: vec![],
            }]
        );
        assert_eq!(steps[2].fields[0].field, "notes");
        assert_eq!(steps[2].fields[0].old, Json::from(""));
        assert_eq!(steps[2].fields[0].new, Json::from("Closed on Mondays"));
    }

    #[test]
    fn concurrent_writes_show_every_value() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(&[1u8; 16][..]));
        a.put(ROOT, "phone", "111").unwrap();
        a.commit();
        let mut b = a.fork().with_actor(ActorId::from(&[2u8; 16][..]));
        a.put(ROOT, "phone", "222").unwrap();
        a.commit();
        b.put(ROOT, "phone", "333").unwrap();
        b.commit();
        a.merge(&mut b).unwrap();
        let steps = replay(changes(&mut a), &ALL).unwrap().steps;
        let last = &steps[2].fields[0];
        assert_eq!(last.field, "phone");
        assert_eq!(last.concurrent.len(), 2, "{last:?}");
        assert!(last.concurrent.contains(&Json::from("222")));
        assert!(last.concurrent.contains(&Json::from("333")));
    }

    #[test]
    fn items_are_named_per_item_and_field() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(&[1u8; 16][..]));
        let lines = doc.put_object(ROOT, "lines", ObjType::Map).unwrap();
        doc.commit();
        let line = doc.put_object(&lines, "L1", ObjType::Map).unwrap();
        doc.put(&line, "qty", 2_i64).unwrap();
        doc.commit();
        doc.put(&line, "qty", 5_i64).unwrap();
        doc.commit();
        let steps = replay(changes(&mut doc), &ALL).unwrap().steps;
        assert_eq!(steps[1].fields[0].field, "lines.L1");
        assert_eq!(steps[2].fields[0].field, "lines.L1.qty");
        assert_eq!(steps[2].fields[0].old, Json::from(2));
        assert_eq!(steps[2].fields[0].new, Json::from(5));
    }

    #[test]
    fn a_window_keeps_the_newest_steps_of_a_field_within_its_bounds() {
        let mut doc = AutoCommit::new();
        for i in 0..10_i64 {
            doc.put(ROOT, "visits", i).unwrap();
            doc.put(ROOT, "notes", "x".repeat(1000 * i as usize))
                .unwrap();
            doc.commit();
        }
        doc.put(ROOT, "phone", "1").unwrap();
        doc.commit();
        let window = |before, limit, max_bytes, field| Window {
            before,
            limit,
            max_bytes,
            field,
        };
        let kept = replay(
            changes(&mut doc),
            &window(usize::MAX, 3, usize::MAX, Some("visits")),
        )
        .unwrap();
        let numbers: Vec<usize> = kept.steps.iter().map(|s| s.n).collect();
        assert_eq!(numbers, [8, 9, 10], "the phone's change touches no visits");
        assert!(kept.older);
        let kept = replay(
            changes(&mut doc),
            &window(9, 100, usize::MAX, Some("visits")),
        )
        .unwrap();
        assert_eq!(kept.steps.last().unwrap().n, 8);
        assert_eq!(kept.steps.len(), 8);
        assert!(!kept.older);
        // Each step holds its notes twice (old and new): about 4 KB for the newest two.
        let kept = replay(changes(&mut doc), &window(usize::MAX, 100, 40_000, None)).unwrap();
        let held: usize = kept
            .steps
            .iter()
            .map(|s| serde_json::to_string(&s.fields).unwrap().len())
            .sum();
        assert!(held <= 40_000 && kept.older, "{held}");
        let kept = replay(changes(&mut doc), &window(usize::MAX, 100, 10, None)).unwrap();
        assert_eq!(kept.steps.len(), 1, "never fewer than one");
    }

    #[test]
    fn rebuild_reads_a_past_state() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "status", "prospect").unwrap();
        doc.commit();
        doc.put(ROOT, "status", "active").unwrap();
        doc.commit();
        let mut all = changes(&mut doc);
        all.truncate(1);
        let past = rebuild(all).unwrap();
        let (value, _) = past.get(ROOT, "status").unwrap().unwrap();
        assert_eq!(value.as_str(), Some("prospect"));
    }
}
