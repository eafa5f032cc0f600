// The device's store in IndexedDB: each record's automerge bytes with what the server holds of
// it, the files it has yet to upload, and the session, cursor and checkpoint. Survives reloads
// and browser restarts; one transaction per local edit, per pushed batch's acknowledgement and
// per pulled page, so a page killed half way loses nothing acknowledged and at worst pushes or
// pulls again.
//
// `idb` wraps IndexedDB's events in promises (a well-kept 1 kB package) rather than hand-written
// wrappers.

import { openDB, deleteDB } from "idb";

const NAME = "fieldsync";

export async function open() {
  const db = await openDB(NAME, 3, {
    async upgrade(db, from, _to, tx) {
      if (from < 1) {
        db.createObjectStore("meta");
        const records = db.createObjectStore("records", { keyPath: "id" });
        records.createIndex("kind", "kind");
        records.createIndex("pending", "pending");
      }
      if (from < 2) {
        // A customer's visits, orders, payments and contacts, found without reading every record.
        const records = tx.objectStore("records");
        records.createIndex("customer", "customer");
        for (let c = await records.openCursor(); c; c = await c.continue()) {
          const customer = c.value.fields?.customer_id;
          if (customer) await c.update({ ...c.value, customer });
        }
      }
      if (from < 3) {
        // Photos and receipts taken on the phone, until the server holds them.
        db.createObjectStore("files", { keyPath: "hash" });
      }
    },
    // A newer version of the app (another tab, or the service worker) upgrades the store: this
    // connection closes so the upgrade is not blocked, and a page reloads into the new version.
    blocking() {
      db.close();
      if (typeof window !== "undefined") window.location.reload();
    },
  });
  return db;
}

/** Deletes everything this device holds (a revoked device, or signing out). */
export async function wipe(db) {
  db.close();
  await deleteDB(NAME);
}

export async function getMeta(db, key) {
  return db.get("meta", key);
}

export async function setMeta(db, key, value) {
  await db.put("meta", value, key);
}

export async function record(db, id) {
  return db.get("records", id);
}

export async function recordsOf(db, kind) {
  return db.getAllFromIndex("records", "kind", kind);
}

/** The records of `kind` that belong to the customer `id` (its contacts, visits, orders, ...). */
export async function recordsOfCustomer(db, kind, id) {
  const all = await db.getAllFromIndex("records", "customer", id);
  return all.filter((r) => r.kind === kind);
}

export async function pending(db) {
  // Booleans are not valid IndexedDB keys, so a waiting record holds `pending: 1`; the others
  // hold none, and so stay out of the index (most records, all of a first sync).
  return db.getAllFromIndex("records", "pending", 1);
}

export async function putRecord(db, rec) {
  await db.put("records", rec);
}

/** Stores records together, in one transaction: all of them or none. */
export async function putRecords(db, recs) {
  const tx = db.transaction("records", "readwrite");
  for (const rec of recs) tx.store.put(rec);
  await tx.done;
}

/** Stores a record and the files it now references, in one transaction. */
export async function putRecordWithFiles(db, rec, files) {
  const tx = db.transaction(["records", "files"], "readwrite");
  tx.objectStore("records").put(rec);
  for (const file of files) tx.objectStore("files").put(file);
  await tx.done;
}

/** The files the server does not hold yet, each `{hash, blob, size, record_id, refused, location}`. */
export async function files(db) {
  return db.getAll("files");
}

export async function putFile(db, file) {
  await db.put("files", file);
}

export async function deleteFile(db, hash) {
  await db.delete("files", hash);
}
