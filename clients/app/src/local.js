// Edits made on the device: each one change of one record, stored with the record's listing in
// one transaction and marked pending until the server takes it.

import * as A from "@automerge/automerge/slim";

import { createRecord, updateRecord } from "./records.js";
import * as store from "./store.js";
import { listed, loadDoc } from "./sync.js";
import { bytesToUuid } from "./wire.js";

/** A UUID v7: the time in milliseconds, then random bits, so ids sort in the order they were made. */
export function uuidv7() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  const ms = Date.now();
  for (let i = 0; i < 6; i++) b[i] = Math.floor(ms / 2 ** (8 * (5 - i))) & 0xff;
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  return bytesToUuid(b);
}

/** Makes a record of `kind` with `values` in one change; `files` as for `update`. */
export async function create(db, session, schema, kind, values, files = []) {
  const doc = createRecord(schema, kind, session.actor_id, values);
  const rec = listed(schema, {
    id: uuidv7(),
    kind,
    chunks: [A.save(doc)],
    synced: [],
    pending: 1,
    rev: 1,
    refused: null,
  }, doc);
  await store.putRecordWithFiles(db, rec, pending(files, rec.id));
  return rec;
}

/** Files as the store keeps them until their upload, with the record that names them. */
function pending(files, id) {
  return files.map((f) => ({ ...f, record_id: id, refused: null, location: null }));
}

/** Writes `values` to the record `id` in one change; `files` (`{hash, blob, size}`) are the new
 * files it references, stored with it in one transaction and uploaded at the next sync. */
export async function update(db, session, schema, id, values, files = []) {
  const rec = await store.record(db, id);
  const doc = updateRecord(schema, rec.kind, loadDoc(rec, session.actor_id), values);
  const next = listed(schema, {
    ...rec,
    chunks: [A.save(doc)],
    pending: 1,
    rev: (rec.rev ?? 0) + 1,
    refused: null,
  }, doc);
  await store.putRecordWithFiles(db, next, pending(files, id));
  return next;
}
