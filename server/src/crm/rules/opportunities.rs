//! Opportunities: every move of the stage is appended to the stage history, with when and by whom,
//! whichever device or person made it.

use sync_core::kinds::OPPORTUNITY;
use sync_core::record::Projection;
use sync_core::{Item, Value};
use uuid::Uuid;

use super::{Actions, Pusher};
use crate::db::now_ms;

const HISTORY: &str = "stage_history";

pub(super) fn opportunity(by: Pusher, id: Uuid, p: &Projection, actions: &mut Actions) {
    let Some(stage) = p.get("stage").as_str() else {
        return;
    };
    let history = p.get(HISTORY).items();
    // Items are ordered by their time-ordered ids: the last is the latest stage entered.
    if history.last().and_then(|h| h.get("stage").as_str()) == Some(stage) {
        return;
    }
    let mut entries = history.to_vec();
    entries.push(Item::new([
        ("stage", Value::Str(stage.to_string())),
        ("at", Value::Int(now_ms())),
        ("user_id", Value::Str(by.user_id.to_string())),
    ]));
    actions.set(id, &OPPORTUNITY, HISTORY, Value::Items(entries));
}
