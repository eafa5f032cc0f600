// The sync loop, with the Rust SDK's behaviour (docs/protocol.md, sections 8 to 12): push what the
// server lacks, then pull the feed page by page; refused records keep their edits and show why;
// a revoked device wipes itself; a server restored from an older backup gets this device's
// changes again.

import * as A from "@automerge/automerge/slim";
import { unwrap } from "idb";

import * as api from "./api.js";
import { uploadAll } from "./files.js";
import { listing } from "./records.js";
import { replaceRewritten } from "./rewrite.js";
import * as store from "./store.js";

/** Documents per push, and the change bytes one push carries at most. */
const BATCH_DOCS = 200;
const BATCH_BYTES = 4 << 20;

/** A record's automerge document, with this device's actor. */
export function loadDoc(rec, actor) {
  let doc = A.init({ actor });
  for (const chunk of rec.chunks) doc = A.loadIncremental(doc, chunk);
  return doc;
}

/** What a device lists of a record, as stored beside its bytes. */
export function listed(schema, rec, doc) {
  if (!schema.kinds.some((k) => k.name === rec.kind)) return rec;
  const l = listing(schema, rec.kind, doc);
  return withCustomer({ ...rec, fields: l.fields, conflicts: l.conflicts, deleted: l.deleted });
}

/** Sets, beside a new record object's fields, the customer it belongs to (the index of
 * store.recordsOfCustomer); answers the record. */
function withCustomer(rec) {
  const id = rec.fields.customer_id;
  rec.customer = typeof id === "string" ? id : undefined;
  return rec;
}

function changesToPush(rec, doc, actor) {
  if (rec.resend) {
    // After a restore the server may lack any of this device's changes: all of them go again,
    // and the server answers `already_known` for those it kept.
    return A.getAllChanges(doc).filter((c) => A.decodeChange(c).actor.startsWith(actor));
  }
  return A.getChangesSince(doc, rec.synced);
}

async function push(db, session, report) {
  const waiting = await store.pending(db);
  let batch = [];
  let bytes = 0;
  const send = async () => {
    if (!batch.length) return;
    const checkpoint = (await store.getMeta(db, "checkpoint")) ?? 0;
    const request = {
      docs: batch.map(({ rec, changes }) => ({
        id: rec.id,
        kind: rec.kind,
        base_heads: rec.resend ? [] : rec.synced,
        changes,
        group: rec.group ?? null,
      })),
      checkpoint,
    };
    const response = await api.sync(session, "push", "PushRequest", request, "PushResponse", waiting.length);
    const tx = db.transaction(["records", "meta"], "readwrite");
    for (const [i, result] of response.results.entries()) {
      const { rec, heads } = batch[i];
      const current = await tx.objectStore("records").get(rec.id);
      if (!current) continue;
      // An edit made while the push was under way stays pending.
      const edited = (current.rev ?? 0) !== (rec.rev ?? 0);
      const next = { ...current };
      if (result.status === "applied" || result.status === "already_known") {
        next.synced = heads;
        next.refused = null;
        next.resend = false;
        next.pending = edited ? 1 : undefined;
        next.group = undefined;
        report.pushed++;
      } else if (result.status === "quarantined") {
        next.synced = heads;
        next.resend = false;
        next.pending = edited ? 1 : undefined;
        next.refused = { code: "quarantined", message: "held for a manager to accept or reject" };
        report.refused++;
      } else if (result.status === "rejected") {
        next.refused = result.reason;
        report.refused++;
      } else {
        // The server lacks changes these build on, though it may have taken them once (a repair
        // left out a chunk that no longer opened): the next push sends this device's again.
        next.refused = { code: "missing_dependencies", message: "waits for changes the server lacks" };
        next.resend = true;
      }
      await tx.objectStore("records").put(next);
    }
    if (response.seq > (await tx.objectStore("meta").get("checkpoint") ?? 0)) {
      await tx.objectStore("meta").put(response.seq, "checkpoint");
    }
    await tx.done;
    batch = [];
    bytes = 0;
  };
  // The records of an atomic group (a lead's conversion) go in one push, never split between two:
  // the server takes or refuses a group whole only within one push.
  const units = new Map();
  for (const rec of waiting) {
    const key = rec.group ?? rec.id;
    units.set(key, [...(units.get(key) ?? []), rec]);
  }
  for (const unit of units.values()) {
    const items = [];
    for (const rec of unit) {
      const doc = loadDoc(rec, session.actor_id);
      const changes = changesToPush(rec, doc, session.actor_id);
      if (!changes.length && !rec.group) {
        // An edit that changed nothing: nothing waits.
        await store.putRecord(db, { ...rec, pending: undefined, resend: false });
        continue;
      }
      items.push({ rec, changes, heads: A.getHeads(doc) });
    }
    if (!items.length) continue;
    const size = items.reduce((n, i) => n + i.changes.reduce((m, c) => m + c.length, 0), 0);
    if (batch.length && (batch.length + items.length > BATCH_DOCS || bytes + size > BATCH_BYTES)) await send();
    batch.push(...items);
    bytes += size;
  }
  await send();
}

/** Stores one pulled document update. */
function applyUpdate(schema, actor, current, update) {
  const chunks = update.chunks;
  if (!current) {
    if (update.listing) {
      // A whole record and its listing: stored as it came, loaded only when opened.
      return withCustomer({
        id: update.id,
        kind: update.kind,
        chunks,
        fields: JSON.parse(update.listing.fields),
        conflicts: JSON.parse(update.listing.conflicts),
        deleted: update.listing.deleted,
        synced: update.heads,
        refused: null,
      });
    }
    const doc = loadDoc({ chunks }, actor);
    return listed(schema, {
      id: update.id,
      kind: update.kind,
      chunks: [A.save(doc)],
      synced: A.getHeads(doc),
      refused: null,
    }, doc);
  }
  if (update.rewritten) {
    // The server rewrote the record's history (a person in it was erased): replace the copy,
    // never merge it, and re-apply on top what the server does not have.
    const incoming = loadDoc({ chunks }, actor);
    const replaced = replaceRewritten(schema, current.kind, loadDoc(current, actor), current.synced ?? [], incoming);
    if (replaced) {
      return listed(schema, {
        ...current,
        chunks: [A.save(replaced.doc)],
        synced: replaced.heads,
        pending: replaced.rebased ? 1 : undefined,
        rev: (current.rev ?? 0) + 1,
        refused: null,
        resend: false,
      }, replaced.doc);
    }
  }
  const tip = update.tip_listing ?? update.listing;
  if (!current.pending && tip) {
    return withCustomer({
      ...current,
      chunks: update.listing ? chunks : [...current.chunks, ...chunks],
      fields: JSON.parse(tip.fields),
      conflicts: JSON.parse(tip.conflicts),
      deleted: tip.deleted,
      synced: update.heads,
    });
  }
  let doc = loadDoc(current, actor);
  for (const chunk of chunks) doc = A.loadIncremental(doc, chunk);
  const synced = A.hasHeads(doc, update.heads) ? update.heads : current.synced;
  return listed(schema, { ...current, chunks: [A.save(doc)], synced }, doc);
}

async function pull(db, session, schema, report) {
  for (;;) {
    const request = {
      cursor: (await store.getMeta(db, "cursor")) ?? null,
      limit: null,
      checkpoint: (await store.getMeta(db, "checkpoint")) ?? 0,
    };
    let page;
    try {
      page = await api.sync(session, "pull", "PullRequest", request, "PullResponse", 0);
    } catch (e) {
      if (e.code !== "invalid_cursor" || !request.cursor) throw e;
      // A cursor the server no longer takes (its key was rotated away): the feed starts over,
      // and merging what the device already holds changes nothing.
      await store.setMeta(db, "cursor", null);
      continue;
    }
    const tx = db.transaction(["records", "meta"], "readwrite");
    const records = tx.objectStore("records");
    // Which of the page's records the device holds, in one read of keys (none, on a first
    // sync), then those records at once: a read per record costs more than storing it.
    const ids = page.docs.map((update) => update.id).sort();
    const held = ids.length
      ? new Set(await records.getAllKeys(IDBKeyRange.bound(ids[0], ids[ids.length - 1])))
      : new Set();
    const current = await Promise.all(
      page.docs.map((update) => (held.has(update.id) ? records.get(update.id) : undefined)),
    );
    // Stored through IndexedDB's own store: idb's promise per request costs a tenth of a first
    // sync, and the transaction's end says they all went in.
    const raw = unwrap(records);
    for (const [i, update] of page.docs.entries()) {
      raw.put(applyUpdate(schema, session.actor_id, current[i], update));
      report.pulled++;
    }
    for (const id of page.evict) {
      const rec = await records.get(id);
      // A record with edits the server has not taken stays, to be handed in (and quarantined).
      if (rec && !rec.pending) {
        records.delete(id);
        report.evicted++;
      }
    }
    const meta = tx.objectStore("meta");
    meta.put(page.cursor, "cursor");
    if (page.seq > ((await meta.get("checkpoint")) ?? 0)) meta.put(page.seq, "checkpoint");
    await tx.done;
    if (!page.more) return;
  }
}

/** After `server_restored`: the feed from its start, and every record's own changes again. */
async function startOver(db) {
  const tx = db.transaction(["records", "meta"], "readwrite");
  tx.objectStore("meta").delete("cursor");
  tx.objectStore("meta").delete("checkpoint");
  // Kept for the sync screen: whichever sync met the restore (the interval's, the service
  // worker's), the agent can still see that it happened and when.
  tx.objectStore("meta").put(Date.now(), "restored_at");
  let cursor = await tx.objectStore("records").openCursor();
  while (cursor) {
    cursor.update({ ...cursor.value, pending: 1, resend: true });
    cursor = await cursor.continue();
  }
  await tx.done;
}

/**
 * One sync: push, pull, then upload the files waiting. Answers what it did; throws a ServerError
 * the caller shows (and a `wipe` one after the device deleted its data).
 */
export async function syncOnce(db, session, schema) {
  const report = { pushed: 0, pulled: 0, evicted: 0, refused: 0, uploaded: 0, restored: false };
  try {
    try {
      await push(db, session, report);
      await pull(db, session, schema, report);
    } catch (e) {
      if (e.code !== "server_restored") throw e;
      report.restored = true;
      await startOver(db);
      await push(db, session, report);
      await pull(db, session, schema, report);
    }
    // The files after the records that name them, as the protocol asks.
    report.uploaded = await uploadAll(db, session);
  } catch (e) {
    if (e.wipe) await store.wipe(db);
    throw e;
  }
  await store.setMeta(db, "last_sync", Date.now());
  return report;
}
