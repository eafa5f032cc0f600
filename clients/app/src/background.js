// Syncing with no page open, from the service worker: the same sync as the page's, under the same
// lock, so the two never run at once; open pages are told when it ends.

import * as A from "@automerge/automerge/slim";

import * as store from "./store.js";
import { syncOnce } from "./sync.js";

/** The tag of the one background sync and periodic sync the app registers. */
export const SYNC_TAG = "fieldsync-sync";

/** Runs `body` holding the app's sync lock (where the Web Locks API exists). */
export function locked(body) {
  return navigator.locks ? navigator.locks.request(SYNC_TAG, body) : body();
}

let wasm = null;

/** automerge's wasm, from the worker's cache `cache` when it holds it. */
function automerge(cache) {
  wasm ??= caches
    .open(cache)
    .then((c) => c.match("automerge.wasm"))
    .then((hit) => A.initializeWasm(hit ?? fetch("automerge.wasm")));
  return wasm;
}

/** One sync of the signed-in device, if there is one; the open pages learn how it went. */
export async function backgroundSync(cache) {
  await automerge(cache);
  const db = await store.open();
  let outcome;
  try {
    const session = await store.getMeta(db, "session");
    const schema = await store.getMeta(db, "schema");
    if (!session || !schema) return;
    outcome = { report: await locked(() => syncOnce(db, session, schema)) };
  } catch (e) {
    // The page shows it at its next sync; a wipe already happened in syncOnce.
    outcome = { error: { code: e.code ?? "network", message: e.message, wipe: e.wipe === true } };
  } finally {
    db.close();
  }
  for (const client of await self.clients.matchAll({ type: "window" })) {
    client.postMessage({ type: "background-sync", ...outcome });
  }
}
