// A record's history as the app reads it from the document.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

import * as A from "@automerge/automerge/slim";

import { history } from "../src/history.js";
import { createRecord, updateRecord } from "../src/records.js";

await A.initializeWasm(readFileSync(createRequire(import.meta.url).resolve("@automerge/automerge/automerge.wasm")));
const schema = JSON.parse(readFileSync(new URL("../../../docs/vectors/schema.json", import.meta.url)));

test("each change lists the fields it wrote, newest first, by its actor", () => {
  const phone = "0193a1c2f0007000800000000000a1aa";
  const other = "0193a1c2f0007000800000000000b2bb";
  let doc = createRecord(schema, "order", phone, {
    customer_id: "0193a1c2-3000-7000-8000-000000000001",
    status: "draft",
    currency: "EUR",
    ordered_at: 1_764_579_600_000,
    notes: "Call first",
  }, { time: 100 });
  doc = updateRecord(schema, "order", doc, {
    status: "submitted",
    lines: [{ id: "0193a1c2-3000-7000-8000-0000000000aa", product_id: "0193a1c2-3000-7000-8000-000000000003", sku: "B", quantity: 1000, unit_price: 5 }],
  }, { time: 200 });
  doc = A.merge(doc, updateRecord(schema, "order", A.clone(doc, { actor: other }), { notes: "Call first, then deliver" }, { time: 300 }));
  const entries = history(doc);
  assert.deepEqual(entries.map((e) => [e.time, e.actor]), [[300, other], [200, phone], [100, phone]]);
  assert.deepEqual(entries[0].fields, [{ field: "notes", value: null, edited: true }]);
  assert.deepEqual(entries[1].fields, [
    { field: "status", value: "submitted", edited: false },
    { field: "lines", value: null, edited: true },
  ]);
  const created = Object.fromEntries(entries[2].fields.map((f) => [f.field, f.value]));
  assert.equal(created.status, "draft");
  assert.equal(created.ordered_at, 1_764_579_600_000);
  assert.equal(created.deleted, false);
  assert.ok(entries[2].fields.some((f) => f.field === "notes" && f.edited));
});
