// A record whose history the server rewrote (a person erased): the copy is replaced, and the
// device's unsent edits re-applied on top.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

import * as A from "@automerge/automerge/slim";

import { createRecord, listing, updateRecord } from "../src/records.js";
import { editedFields, replaceRewritten, REBASED } from "../src/rewrite.js";

await A.initializeWasm(readFileSync(createRequire(import.meta.url).resolve("@automerge/automerge/automerge.wasm")));
const schema = JSON.parse(readFileSync(new URL("../../../docs/vectors/schema.json", import.meta.url)));

const phone = "0193a1c2f0007000800000000000a1aa";
const server = "0193a1c2f0007000800000000000ffff";
const customer = "0193a1c2-3000-7000-8000-000000000001";

function held() {
  const doc = createRecord(schema, "contact", phone, { customer_id: customer, name: "Jane Roe", phone: "+447700900123", title: "Buyer", notes: "likes tea" });
  return { doc, synced: A.getHeads(doc) };
}

/** The record's rewritten history, as the server sends it (no change in common with the old one),
 * loaded into a document of this device's actor. */
function rewritten() {
  const theirs = createRecord(schema, "contact", server, { customer_id: customer, name: "(erased)", title: "Buyer", notes: "likes tea" });
  return A.loadIncremental(A.init({ actor: phone }), A.save(theirs));
}

test("edits the server lacks are found by the root field they wrote, texts included", () => {
  const { doc, synced } = held();
  assert.deepEqual([...editedFields(doc, synced)], []);
  let edited = updateRecord(schema, "contact", A.clone(doc), { title: "Owner" });
  edited = updateRecord(schema, "contact", edited, { notes: "often likes tea" });
  assert.deepEqual([...editedFields(edited, synced)].sort(), ["notes", "title"]);
});

test("a copy of the old history is replaced and its unsent edits re-based on the new one", () => {
  const { doc, synced } = held();
  const edited = updateRecord(schema, "contact", doc, { title: "Owner", notes: "often likes tea" });
  const incoming = rewritten();
  const out = replaceRewritten(schema, "contact", edited, synced, incoming);
  assert.equal(out.rebased, true);
  assert.deepEqual(out.heads, A.getHeads(incoming));
  const fields = listing(schema, "contact", out.doc).fields;
  assert.equal(fields.name, "(erased)");
  assert.equal(fields.phone, undefined);
  assert.equal(fields.title, "Owner");
  assert.equal(fields.notes, "often likes tea");
  const mine = A.getChangesSince(out.doc, out.heads).map((c) => A.decodeChange(c));
  assert.deepEqual(mine.map((c) => [c.actor, c.message]), [[phone, REBASED]]);
  // Nothing of the old history is left in the document.
  assert.ok(!A.getAllChanges(out.doc).some((c) => A.decodeChange(c).actor === phone && A.decodeChange(c).message !== REBASED));
  assert.ok(!new TextDecoder().decode(A.save(out.doc)).includes("900123"));
});

test("a copy with nothing unsent becomes the new history as it came", () => {
  const { doc, synced } = held();
  const incoming = rewritten();
  const out = replaceRewritten(schema, "contact", doc, synced, incoming);
  assert.equal(out.rebased, false);
  assert.deepEqual(A.getHeads(out.doc), A.getHeads(incoming));
});

test("a copy already of the new history is merged as usual", () => {
  const incoming = rewritten();
  const mine = updateRecord(schema, "contact", A.clone(incoming), { title: "Owner" });
  assert.equal(replaceRewritten(schema, "contact", mine, A.getHeads(incoming), rewritten()), null);
  assert.equal(replaceRewritten(schema, "contact", mine, [], incoming), null, "never synced: nothing to replace");
});
