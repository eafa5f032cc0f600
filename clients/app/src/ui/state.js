// What the app holds while it runs (the open store, the session, the schema, the customers
// listed), and the sync that refreshes it.

import * as api from "../api.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { locked, SYNC_TAG } from "../background.js";
import { syncOnce } from "../sync.js";
import { renderHeader } from "./header.js";

export const state = {
  db: null,
  session: null,
  schema: null,
  customers: [],
  syncing: null,
  message: "",
  // The phone's position, once the agent asked for the customers nearby.
  here: null,
  // Draws the screen of the current address again (set by main.js).
  route: () => {},
};

export async function loadCustomers() {
  const all = await store.recordsOf(state.db, "customer");
  state.customers = all
    .filter((r) => !r.deleted)
    .map((r) => ({
      rec: r,
      haystack: [r.fields.name, r.fields.code, r.fields.city, r.fields.phone]
        .filter(Boolean)
        .join(" ")
        .toLowerCase(),
    }))
    .sort((a, b) => String(a.rec.fields.name).localeCompare(String(b.rec.fields.name)));
}

/** After the store was deleted (a revoked device, signing out): a new, empty one, no session. */
export async function forget() {
  state.db = await store.open();
  state.session = null;
  state.customers = [];
}

export async function sync() {
  if (state.syncing) return state.syncing;
  state.syncing = (async () => {
    renderHeader();
    try {
      const report = await locked(() => syncOnce(state.db, state.session, state.schema));
      state.schema = await api.schema(state.session).catch(() => state.schema);
      await store.setMeta(state.db, "schema", state.schema);
      state.message = report.restored ? t("restored") : t("synced_report", report);
    } catch (e) {
      if (e.wipe) {
        await forget();
        state.message = t("wiped");
      } else {
        state.message = `${e.code ?? "network"}: ${e.message}`;
      }
    } finally {
      state.syncing = null;
      // How many syncs ended, for whoever waits on one (the browser tests).
      document.body.dataset.syncs = String(Number(document.body.dataset.syncs ?? 0) + 1);
    }
    if (state.session) await loadCustomers();
    state.route();
  })();
  return state.syncing;
}

/**
 * After an edit: a sync now when the phone is online; else the browser is asked to wake the
 * service worker for one when the network is back, even if the app is closed by then.
 */
export function edited() {
  if (navigator.onLine) {
    sync();
    return;
  }
  navigator.serviceWorker?.ready
    .then((registration) => registration.sync?.register(SYNC_TAG))
    .catch(() => {
      // No Background Sync in this browser: the app syncs when it is next open and online.
    });
}
