// Edits made on the device: each one change of one record, stored with the record's listing in
// one transaction and marked pending until the server takes it.

import * as A from "@automerge/automerge/slim";

import { createRecord, kindOf, updateRecord } from "./records.js";
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

/** A new record of `kind` with `values` made in one change, as stored, not stored yet; `extra`
 * joins its stored fields (the atomic group it goes in). */
function made(session, schema, kind, values, id = uuidv7(), extra = {}) {
  const doc = createRecord(schema, kind, session.actor_id, values);
  return listed(schema, { id, kind, chunks: [A.save(doc)], synced: [], pending: 1, rev: 1, refused: null, ...extra }, doc);
}

/** Makes a record of `kind` with `values` in one change; `files` as for `update`. */
export async function create(db, session, schema, kind, values, files = []) {
  const rec = made(session, schema, kind, values);
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

/** What a customer made of a lead takes from it, and what its contact takes (as the Rust SDK's
 * conversion does, `sync-core/src/leads.rs`). */
const CUSTOMER_TAKES = ["phone", "email", "street", "city", "postcode", "country", "lat", "lon", "industry"];
const CONTACT_TAKES = ["name", "title", "phone", "email", "consent_email", "consent_phone"];

function taken(fields, names) {
  return Object.fromEntries(names.filter((n) => fields[n] !== undefined && fields[n] !== null).map((n) => [n, fields[n]]));
}

/**
 * Converts the lead `id` offline: a customer made of it (a prospect in its territory), or the
 * customer `into` it turned out to be, the person as the customer's contact, the deal it brought
 * (an opportunity titled `deal`, when one is given), and the lead marked converted naming them,
 * stored together and pushed as one atomic group that the server takes or refuses whole (a lead
 * another device converted first is refused with `lead_converted`, and the records made stay here
 * with the reasons). Answers `{customer, contact}`.
 */
export async function convertLead(db, session, schema, id, { into = null, deal = null } = {}) {
  const lead = await store.record(db, id);
  if (!lead || lead.kind !== "lead") throw new Error(`${id} is not a lead`);
  if (["converted", "disqualified"].includes(lead.fields.status)) {
    throw new Error(`the lead is ${lead.fields.status} already`);
  }
  const group = uuidv7();
  const customer = into ?? uuidv7();
  const contact = uuidv7();
  const recs = [];
  if (!into) {
    const name = String(lead.fields.company ?? "").trim() || lead.fields.name;
    const values = { name, territory: lead.fields.territory, status: "prospect", ...taken(lead.fields, CUSTOMER_TAKES) };
    recs.push(made(session, schema, "customer", values, customer, { group }));
  }
  const values = { customer_id: customer, ...taken(lead.fields, CONTACT_TAKES) };
  recs.push(made(session, schema, "contact", values, contact, { group }));
  const converted = { status: "converted", customer_id: customer, contact_id: contact, converted_at: Date.now() };
  const title = String(deal ?? "").trim();
  if (title) {
    // The deal the lead brought, opened at the first stage of the pipeline.
    const opportunity = uuidv7();
    const [stage] = kindOf(schema, "opportunity").fields.find((f) => f.name === "stage").values;
    recs.push(made(session, schema, "opportunity", { customer_id: customer, title, stage }, opportunity, { group }));
    converted.opportunity_id = opportunity;
  }
  const doc = updateRecord(schema, "lead", loadDoc(lead, session.actor_id), converted);
  recs.push(listed(schema, { ...lead, chunks: [A.save(doc)], pending: 1, rev: (lead.rev ?? 0) + 1, refused: null, group }, doc));
  await store.putRecords(db, recs);
  return { customer, contact };
}
