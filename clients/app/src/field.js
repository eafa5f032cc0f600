// What the field actions share: the error a device refuses an action with, before anything is
// written, with a code as the Rust SDK's (`wrong_kind`, `not_checked_in`, `no_price`, ...).

import * as store from "./store.js";

export class FieldError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The record `id` of `kind` on this device, or a FieldError. */
export async function recordOf(db, id, kind) {
  const rec = await store.record(db, id);
  if (!rec || rec.deleted) throw new FieldError("unknown_record", `${id} is not on this device`);
  if (rec.kind !== kind) throw new FieldError("wrong_kind", `${id} is a ${rec.kind}, not a ${kind}`);
  return rec;
}

/** The live records of a company-wide kind (products, price lists, visit types, settings). */
export async function live(db, kind) {
  return (await store.recordsOf(db, kind)).filter((r) => !r.deleted);
}
