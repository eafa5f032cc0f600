// The agents' app: signs in, keeps the agent's records in IndexedDB, works with no network, and
// syncs when it can. The router and the start; the screens are in screens/.

import * as A from "@automerge/automerge/slim";

import { SYNC_TAG } from "./background.js";
import { language } from "./i18n.js";
import { customerList, customerPage } from "./screens/customers.js";
import { contactForm, customerForm, leadForm, opportunityForm, taskForm, ticketForm } from "./screens/forms.js";
import { leadList } from "./screens/leads.js";
import { orderForm, orderPage } from "./screens/order.js";
import { paymentForm } from "./screens/payment.js";
import { signIn } from "./screens/signin.js";
import { syncPage } from "./screens/sync-page.js";
import { todayPage } from "./screens/today.js";
import * as store from "./store.js";
import { renderHeader } from "./ui/header.js";
import { forget, loadCustomers, state, sync } from "./ui/state.js";

const SYNC_EVERY_MS = 60_000;

async function route() {
  document.documentElement.lang = language();
  renderHeader();
  if (!state.session) return signIn();
  const [, page, id] = location.hash.split("/");
  if (page === "customer" && id) return customerPage(id);
  if (page === "edit" && id) {
    const rec = await store.record(state.db, id);
    if (rec?.kind === "contact") return contactForm(rec.fields.customer_id, rec);
    if (rec?.kind === "customer") return customerForm(rec);
    if (rec?.kind === "lead") return leadForm(rec);
    if (rec?.kind === "ticket") return ticketForm(rec.fields.customer_id, rec);
    if (rec?.kind === "opportunity") return opportunityForm(rec.fields.customer_id, rec);
    if (rec?.kind === "task") {
      return taskForm(rec.fields.related_kind === "customer" ? rec.fields.related_id : null, rec);
    }
    return customerList();
  }
  if (page === "new") return customerForm(null);
  if (page === "new-contact" && id) return contactForm(id, null);
  if (page === "new-order" && id) return orderForm(id);
  if (page === "order" && id) return orderPage(id);
  if (page === "new-payment" && id) return paymentForm(id);
  if (page === "new-ticket" && id) return ticketForm(id, null);
  if (page === "new-opportunity" && id) return opportunityForm(id, null);
  if (page === "new-task") return taskForm(id ?? null, null);
  if (page === "today") return todayPage();
  if (page === "leads") return leadList();
  if (page === "new-lead") return leadForm(null);
  if (page === "sync") return syncPage();
  return customerList();
}

/** How often an installed app may be woken to sync with no page open, at the most. */
const PERIODIC_SYNC_MS = 15 * 60_000;

/** Asks for Periodic Background Sync, which browsers grant only to an installed app. */
async function periodically(registration) {
  try {
    await registration.periodicSync?.register(SYNC_TAG, { minInterval: PERIODIC_SYNC_MS });
  } catch {
    // Not installed, or not this browser: the page's own interval syncs while it is open.
  }
}

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js", { scope: "./" }).then(periodically, () => {
      // No service worker (an insecure origin): the app works, but not from a cold start offline.
    });
    // A sync the service worker ran with no page open: show what it brought.
    navigator.serviceWorker.addEventListener("message", async (event) => {
      if (event.data?.type !== "background-sync" || !state.session) return;
      if (event.data.error?.wipe) {
        await forget();
      } else {
        await loadCustomers();
      }
      route();
    });
  }
  await A.initializeWasm(fetch("automerge.wasm"));
  state.db = await store.open();
  state.session = (await store.getMeta(state.db, "session")) ?? null;
  state.schema = (await store.getMeta(state.db, "schema")) ?? null;
  if (state.session) await loadCustomers();
  state.route = route;
  window.addEventListener("hashchange", route);
  window.addEventListener("online", () => { renderHeader(); if (state.session) sync(); });
  window.addEventListener("offline", renderHeader);
  setInterval(() => {
    if (state.session && navigator.onLine) sync();
  }, SYNC_EVERY_MS);
  await route();
  document.body.dataset.ready = "true";
  if (state.session && navigator.onLine) sync();
}

start();
