// A record whose history the server rewrote (a person in it was erased; docs/protocol.md, 9.6):
// the device's copy is replaced by the new history, never merged with it (a merge would keep the
// erased values), and the device's edits the server does not have are re-applied on top, as the
// Rust SDK does (`sync-core/src/rewrite.rs`).

import * as A from "@automerge/automerge/slim";

import { kindOf, listing, updateRecord } from "./records.js";

/** The message of the change that re-bases a device's unsent edits on a rewritten history. */
export const REBASED = "fieldsync:rebased";

/** Whether `value` is an automerge object the app reads into (a map or a list), not a scalar. */
function nested(value) {
  return value !== null && typeof value === "object" && !(value instanceof A.ImmutableString)
    && !(value instanceof Date) && !(value instanceof Uint8Array);
}

/** The root fields that the changes of `doc` after `heads` (what the server has) wrote. */
export function editedFields(doc, heads) {
  // Each nested object's id, to the root field holding it: an edit inside a text or an item
  // is an edit of that field.
  const owners = new Map();
  const walk = (obj, root) => {
    for (const key of Object.keys(obj)) {
      const id = A.getObjectId(obj, key);
      if (id) owners.set(id, root ?? key);
      if (nested(obj[key])) walk(obj[key], root ?? key);
    }
  };
  walk(doc, null);
  const fields = new Set();
  for (const change of A.getChangesSince(doc, heads)) {
    for (const op of A.decodeChange(change).ops) {
      if (op.obj === "_root") fields.add(op.key);
      else if (owners.has(op.obj)) fields.add(owners.get(op.obj));
    }
  }
  return fields;
}

/**
 * `current`'s document (`old`, of record kind `kind`, whose changes the server acknowledged up
 * to `synced`) replaced by the rewritten history `incoming`, with the device's other edits
 * re-applied on top in one change marked `REBASED`: `{doc, heads, rebased}` where `heads` are
 * the server's and `rebased` says whether anything waits to be pushed. Null when `old` is
 * already of the new history (it holds what the server acknowledged): merge it as usual.
 */
export function replaceRewritten(schema, kind, old, synced, incoming) {
  if (!synced.length || A.hasHeads(incoming, synced)) return null;
  const layout = kindOf(schema, kind);
  const shown = listing(schema, kind, old).fields;
  const values = {};
  for (const name of editedFields(old, synced)) {
    const field = layout.fields.find((f) => f.name === name);
    if (field && field.writer !== "server") values[name] = shown[name] ?? null;
  }
  const heads = A.getHeads(incoming);
  const rebased = Object.keys(values).length > 0;
  const doc = rebased ? updateRecord(schema, kind, incoming, values, { message: REBASED }) : incoming;
  return { doc, heads, rebased };
}
