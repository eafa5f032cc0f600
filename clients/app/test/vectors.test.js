// The shared test vectors of docs/vectors (docs/protocol.md, section 16), run against the app's
// protocol core: what the Rust tests check of the server's code, checked here of the app's.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

import * as A from "@automerge/automerge/slim";

import { decode, encode, fromJson, bytesToHex, hexToBytes } from "../src/wire.js";
import { headsDigest, scopeDigest } from "../src/digest.js";
import { totals } from "../src/totals.js";
import { check, createRecord, listing } from "../src/records.js";
import { checkIn, distanceM } from "../src/geo.js";
import { priceListApplies, unitPrice } from "../src/orders.js";

// The app loads automerge's wasm itself (the slim build), as the page does.
await A.initializeWasm(readFileSync(createRequire(import.meta.url).resolve("@automerge/automerge/automerge.wasm")));

const vectors = (name) =>
  JSON.parse(readFileSync(new URL(`../../../docs/vectors/${name}`, import.meta.url)));
const schema = vectors("schema.json");

test("messages decode to their JSON form and encode back byte for byte", () => {
  const { messages } = vectors("messages.json");
  assert.ok(messages.length >= 9);
  for (const m of messages) {
    const body = hexToBytes(m.msgpack);
    const decoded = decode(m.type, body);
    assert.deepEqual(decoded, fromJson(m.type, m.json), m.name);
    assert.equal(bytesToHex(encode(m.type, decoded)), m.msgpack, m.name);
  }
});

test("documents load to their heads and list as the server lists them", () => {
  for (const d of vectors("documents.json").documents) {
    let fromChanges = A.init();
    for (const change of d.changes) fromChanges = A.loadIncremental(fromChanges, hexToBytes(change));
    const fromSaved = A.load(hexToBytes(d.saved));
    for (const doc of [fromChanges, fromSaved]) {
      assert.deepEqual([...A.getHeads(doc)].sort(), d.heads, d.name);
      const listed = listing(schema, d.kind, doc);
      assert.deepEqual(listed.fields, d.listing.fields, d.name);
      assert.deepEqual(listed.conflicts, d.listing.conflicts, d.name);
      assert.equal(listed.deleted, d.listing.deleted, d.name);
    }
    for (const change of d.changes) {
      const { actor } = A.decodeChange(hexToBytes(change));
      assert.equal(actor.length, 32, `${d.name}: an actor of the device id's 16 bytes`);
    }
  }
});

test("a customer made by the app is the very change the vectors hold", () => {
  const created = vectors("documents.json").documents.find((d) => d.name === "customer_created");
  const actor = A.decodeChange(hexToBytes(created.changes[0])).actor;
  const doc = createRecord(
    schema,
    "customer",
    actor,
    {
      notes: "Orders on Mondays",
      name: "Bäckerei Schmidt",
      territory: "North",
      lat: 52.52,
      lon: 13.405,
      status: "active",
    },
    { time: A.decodeChange(hexToBytes(created.changes[0])).time },
  );
  assert.deepEqual(
    A.getAllChanges(doc).map((c) => bytesToHex(c)),
    created.changes,
  );
});

test("an order's totals in the document are the totals the lines give", () => {
  const order = vectors("documents.json").documents.find((d) => d.name === "order_with_a_line");
  const { fields } = order.listing;
  const t = totals({ lines: fields.lines, order_discount_bp: fields.order_discount_bp });
  assert.deepEqual(
    [t.subtotal, t.discount, t.tax, t.total],
    [fields.subtotal, fields.discount, fields.tax, fields.total],
  );
});

test("digests are the server's", async () => {
  const v = vectors("digests.json");
  for (const d of v.documents) assert.equal(await headsDigest(d.heads), d.heads_digest);
  assert.equal(await scopeDigest(v.documents), v.scope_digest);
  assert.equal(await scopeDigest([]), v.empty_scope_digest);
});

test("order totals are the server's to the minor unit, refusals by code", () => {
  for (const c of vectors("totals.json").cases) {
    if (c.error) {
      assert.throws(() => totals(c.order), (e) => e.code === c.error, c.name);
    } else {
      assert.deepEqual(totals(c.order), c.totals, c.name);
    }
  }
});

test("the app's checks of field values are the server's", () => {
  const cases = vectors("validation.json").cases;
  assert.ok(cases.length > 20);
  for (const c of cases) {
    const layout = schema.kinds.find((k) => k.name === c.kind);
    const field = layout.fields.find((f) => f.name === c.field);
    assert.equal(check(field, c.value), c.error, `${c.kind}.${c.field} = ${JSON.stringify(c.value)}`);
  }
});

test("distances are the server's, to a millimetre", () => {
  for (const c of vectors("geo.json").cases) {
    assert.ok(Math.abs(distanceM(c.a, c.b) - c.metres) < 1e-3, `${c.name}: ${distanceM(c.a, c.b)} against ${c.metres}`);
  }
});

test("check-ins are graded as the server grades them", () => {
  const cases = vectors("geo.json").check_ins;
  assert.ok(cases.length >= 8);
  for (const c of cases) {
    const graded = checkIn(c.at, c.accuracy_m, c.customer, c.fence);
    assert.equal(graded.result, c.result, c.name);
    if (c.distance_m === null) assert.equal(graded.distance_m, null, c.name);
    else assert.ok(Math.abs(graded.distance_m - c.distance_m) < 1e-3, c.name);
  }
});

test("lines are priced and price lists apply as on the server", () => {
  const v = vectors("prices.json");
  for (const c of v.lines) {
    assert.equal(unitPrice(v.prices, c.product_id, c.quantity, c.list_price), c.unit_price, c.name);
  }
  for (const c of v.price_lists) {
    assert.equal(priceListApplies(c.list, v.at), c.applies, c.name);
  }
});
