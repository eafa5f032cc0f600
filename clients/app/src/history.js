// A record's history read from its own document, offline: each change with its time, its actor
// and the fields it wrote (a scalar's new value; a text or an items field as edited). The server's
// history (GET /v1/records/{id}/history) also names users and devices; this is what the phone
// can tell without the network.

import * as A from "@automerge/automerge/slim";

/** A value of a `set` op as the listing shows it. */
function shown(op) {
  if (op.datatype === "timestamp") return op.value instanceof Date ? op.value.getTime() : op.value;
  return op.value;
}

/**
 * The changes of `doc`, newest first, each `{time, actor, fields: [{field, value, edited}]}`:
 * `time` in seconds as the author's clock wrote it, `value` the new value of a field set whole,
 * `edited` true for a text or an items field changed within.
 */
export function history(doc) {
  // The root field each object hangs under, as the changes make them.
  const rootOf = new Map([["_root", null]]);
  const entries = [];
  for (const bytes of A.getAllChanges(doc)) {
    const change = A.decodeChange(bytes);
    const fields = new Map();
    change.ops.forEach((op, i) => {
      const field = op.obj === "_root" ? op.key : rootOf.get(op.obj);
      if (op.action.startsWith("make")) rootOf.set(`${change.startOp + i}@${change.actor}`, field);
      if (field === undefined || field === null) return;
      if (op.obj === "_root" && op.action === "set") fields.set(field, { field, value: shown(op), edited: false });
      else if (op.obj === "_root" && op.action === "del") fields.set(field, { field, value: null, edited: false });
      else if (op.obj !== "_root" && !fields.has(field)) fields.set(field, { field, value: null, edited: true });
    });
    if (fields.size) entries.push({ time: change.time, actor: change.actor, fields: [...fields.values()] });
  }
  return entries.sort((a, b) => b.time - a.time);
}
