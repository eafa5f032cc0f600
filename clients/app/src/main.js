// The agents' app: signs in, keeps the agent's records in IndexedDB, works with no network, and
// syncs when it can. Plain DOM, no framework: the screens are small and a phone's CPU is slow.

import * as A from "@automerge/automerge/slim";

import * as api from "./api.js";
import { distanceM } from "./geo.js";
import { language, t, toggle } from "./i18n.js";
import * as local from "./local.js";
import { check } from "./records.js";
import * as store from "./store.js";
import { syncOnce } from "./sync.js";

const SYNC_EVERY_MS = 60_000;

const state = {
  db: null,
  session: null,
  schema: null,
  customers: [],
  syncing: null,
  message: "",
  // The phone's position, once the agent asked for the customers nearby.
  here: null,
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const view = () => document.getElementById("view");

function show(...nodes) {
  view().replaceChildren(...nodes);
}

// ---------------------------------------------------------------------------------------------
// Data

async function loadCustomers() {
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

function customerLayout() {
  return state.schema.kinds.find((k) => k.name === "customer");
}

// ---------------------------------------------------------------------------------------------
// Sync

async function sync() {
  if (state.syncing) return state.syncing;
  state.syncing = (async () => {
    renderHeader();
    try {
      const report = await syncOnce(state.db, state.session, state.schema);
      state.schema = await api.schema(state.session).catch(() => state.schema);
      await store.setMeta(state.db, "schema", state.schema);
      state.message = report.restored ? t("restored") : t("synced_report", report);
    } catch (e) {
      if (e.wipe) {
        state.db = await store.open();
        state.session = null;
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
    route();
  })();
  return state.syncing;
}

// ---------------------------------------------------------------------------------------------
// Screens

function renderHeader() {
  const header = document.getElementById("header");
  if (!state.session) {
    header.replaceChildren(h("h1", { text: t("app") }));
    return;
  }
  header.replaceChildren(
    h("h1", {}, h("a", { href: "#/customers", text: t("app") })),
    h("nav", {},
      h("a", { href: "#/sync", id: "sync-link", text: state.syncing ? t("syncing") : t("sync") }),
      h("button", { type: "button", class: "link", id: "language", onclick: () => { toggle(); route(); }, text: t("language") }),
    ),
  );
  if (!navigator.onLine) header.append(h("p", { class: "offline", role: "status", text: t("offline") }));
}

function signIn() {
  const error = h("p", { class: "error", role: "alert", text: state.message });
  const form = h("form", { class: "card", id: "signin" },
    h("h2", { text: t("sign_in") }),
    h("label", {}, t("email"), h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    h("label", {}, t("password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    error,
    h("button", { type: "submit", text: t("sign_in") }),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      const previous = await store.getMeta(state.db, "device");
      const login = await api.login(String(data.get("email")).trim().toLowerCase(), String(data.get("password")), previous);
      const session = { ...login, email: String(data.get("email")).trim().toLowerCase() };
      state.schema = await api.schema(session);
      await store.setMeta(state.db, "session", session);
      await store.setMeta(state.db, "device", { device_id: login.device_id, device_secret: login.device_secret });
      await store.setMeta(state.db, "schema", state.schema);
      state.session = session;
      state.message = "";
      location.hash = "#/customers";
      await sync();
    } catch (err) {
      error.textContent = `${err.code ?? "network"}: ${err.message}`;
    }
  });
  show(form);
}

function badge(rec) {
  if (rec.refused) return h("span", { class: "badge refused", title: rec.refused.message, text: t("refused") });
  if (rec.pending) return h("span", { class: "badge pending", text: t("not_synced") });
  if (rec.conflicts?.length) return h("span", { class: "badge conflict", text: t("conflicts") });
  return null;
}

function distance(rec) {
  const { lat, lon } = rec.fields;
  return state.here && typeof lat === "number" && typeof lon === "number"
    ? distanceM(state.here, { lat, lon })
    : Infinity;
}

function kilometres(m) {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

function customerList() {
  const list = h("ul", { class: "list", id: "customers" });
  const count = h("p", { class: "muted", id: "count" });
  const search = h("input", { type: "search", id: "search", placeholder: t("search"), "aria-label": t("search") });
  const render = () => {
    const q = search.value.trim().toLowerCase();
    let hits = q ? state.customers.filter((c) => c.haystack.includes(q)) : state.customers;
    if (state.here) hits = [...hits].sort((a, b) => distance(a.rec) - distance(b.rec));
    count.textContent = hits.length ? t("count", { n: hits.length }) : t("nothing_found");
    list.replaceChildren(
      ...hits.slice(0, 100).map(({ rec }) => {
        const away = distance(rec);
        return h("li", {},
          h("a", { href: `#/customer/${rec.id}` },
            h("strong", { text: rec.fields.name ?? "?" }),
            h("span", { class: "muted", text: [rec.fields.code, rec.fields.city, away < Infinity ? kilometres(away) : null].filter(Boolean).join(" · ") }),
          ),
          badge(rec),
        );
      }),
    );
  };
  const nearby = h("button", { type: "button", class: "secondary", id: "nearby", text: t("nearby") });
  nearby.addEventListener("click", () => {
    navigator.geolocation.getCurrentPosition(
      (p) => {
        state.here = { lat: p.coords.latitude, lon: p.coords.longitude };
        render();
      },
      () => {
        count.textContent = t("position_unavailable");
      },
      { enableHighAccuracy: true, timeout: 15_000, maximumAge: 60_000 },
    );
  });
  search.addEventListener("input", render);
  render();
  show(
    h("div", { class: "toolbar" }, search, nearby),
    h("div", { class: "toolbar" }, h("a", { class: "button", href: "#/new", id: "new-customer", text: t("new_customer") })),
    count,
    list,
  );
}

/** The fields each kind's form offers, in order. */
const FORM_FIELDS = {
  customer: ["name", "code", "phone", "email", "street", "city", "status", "notes"],
  contact: ["name", "title", "phone", "email", "buying_role", "decision_maker", "notes"],
};

function fieldInput(field, value) {
  const id = `f-${field.name}`;
  let input;
  if (field.type === "enum") {
    input = h("select", { id, name: field.name },
      h("option", { value: "", text: "—" }),
      ...field.values.map((v) => h("option", { value: v, text: v, selected: v === value })));
  } else if (field.type === "bool") {
    return h("label", { for: id, class: "check" },
      h("input", { id, name: field.name, type: "checkbox", checked: value === true }), t(field.name));
  } else if (field.type === "text") {
    input = h("textarea", { id, name: field.name, rows: 4 });
    input.value = value ?? "";
  } else {
    input = h("input", { id, name: field.name, type: field.type === "email" ? "email" : "text", value: value ?? "" });
  }
  return h("label", { for: id }, t(field.name), input);
}

/** What the form holds for `field`, as the record holds it (null for an empty scalar). */
function formValue(field, data) {
  if (field.type === "bool") return data.get(field.name) === "on";
  const raw = String(data.get(field.name) ?? "");
  if (field.type === "text") return raw;
  return raw.trim() === "" ? null : raw.trim();
}

/**
 * The form that adds a record of `kind` (with `fixed` values: a contact's customer) or edits
 * `rec`, offline; `place` adds the field that places a new record (a customer's territory).
 */
function recordForm({ kind, rec, fixed = {}, place = null, title, back }) {
  const layout = state.schema.kinds.find((k) => k.name === kind);
  const fields = FORM_FIELDS[kind].map((n) => layout.fields.find((f) => f.name === n)).filter(Boolean);
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", id: "record-form" },
    h("h2", { text: title }),
    fieldInput(fields[0], rec?.fields[fields[0].name]),
    place,
    ...fields.slice(1).map((f) => fieldInput(f, rec?.fields[f.name])),
    error,
    h("div", { class: "toolbar" },
      h("button", { type: "submit", text: t("save") }),
      h("a", { class: "button secondary", href: back, text: t("cancel") })),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const values = { ...fixed };
    for (const f of fields) {
      const value = formValue(f, data);
      const held = rec?.fields[f.name] ?? (f.type === "text" ? "" : f.type === "bool" ? false : null);
      if (value === held) continue;
      const problem = check(f, value);
      if (problem) {
        error.textContent = `${t(f.name)}: ${problem}`;
        return;
      }
      values[f.name] = value;
    }
    if (place) values.territory = String(data.get("territory") ?? "");
    try {
      const saved = rec
        ? await local.update(state.db, state.session, state.schema, rec.id, values)
        : await local.create(state.db, state.session, state.schema, kind, values);
      await loadCustomers();
      location.hash = `#/customer/${kind === "customer" ? saved.id : saved.fields.customer_id}`;
      if (navigator.onLine) sync();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  show(form);
}

function customerForm(rec) {
  const territories = state.session.territories ?? [];
  recordForm({
    kind: "customer",
    rec,
    title: rec ? rec.fields.name : t("new_customer"),
    back: rec ? `#/customer/${rec.id}` : "#/customers",
    place: rec
      ? null
      : h("label", { for: "f-territory" }, t("territory"),
          h("select", { id: "f-territory", name: "territory" }, ...territories.map((x) => h("option", { value: x, text: x })))),
  });
}

function contactForm(customerId, rec) {
  recordForm({
    kind: "contact",
    rec,
    fixed: rec ? {} : { customer_id: customerId },
    title: rec ? rec.fields.name : t("new_contact"),
    back: `#/customer/${customerId}`,
  });
}

async function customerPage(id) {
  const rec = await store.record(state.db, id);
  if (!rec) return customerList();
  const layout = customerLayout();
  const rows = layout.fields
    .filter((f) => rec.fields[f.name] !== undefined && f.name !== "deleted" && f.type !== "items")
    .map((f) => h("tr", {}, h("th", { text: t(f.name) }), h("td", { text: String(rec.fields[f.name]) })));
  const contacts = (await store.recordsOf(state.db, "contact")).filter(
    (c) => c.fields.customer_id === id && !c.deleted,
  );
  show(
    h("section", { class: "card", id: "customer" },
      h("h2", {}, rec.fields.name ?? "?", " ", badge(rec)),
      rec.refused ? h("p", { class: "error", role: "alert", text: `${rec.refused.code}: ${rec.refused.message}` }) : null,
      h("table", {}, h("tbody", {}, ...rows)),
      rec.conflicts?.length
        ? h("div", { class: "conflicts" },
            h("h3", { text: t("conflicts") }),
            h("p", { class: "muted", text: t("both_values") }),
            ...rec.conflicts.map((c) => h("p", {}, h("strong", { text: `${t(c.field)}: ` }), c.values.map(String).join(" | "))))
        : null,
      h("div", { class: "toolbar" }, h("a", { class: "button", href: `#/edit/${id}`, id: "edit", text: t("edit") })),
      h("h3", { text: t("contacts") }),
      h("ul", { class: "list", id: "contacts" }, ...contacts.map((c) =>
        h("li", {},
          h("a", { href: `#/edit/${c.id}` },
            h("strong", { text: c.fields.name ?? "?" }),
            h("span", { class: "muted", text: [c.fields.title, c.fields.phone, c.fields.email].filter(Boolean).join(" · ") })),
          badge(c)))),
      h("div", { class: "toolbar" }, h("a", { class: "button secondary", href: `#/new-contact/${id}`, id: "new-contact", text: t("new_contact") })),
    ),
  );
}

async function syncPage() {
  const last = await store.getMeta(state.db, "last_sync");
  const waiting = await store.pending(state.db);
  const all = state.customers.map((c) => c.rec);
  const refused = waiting.filter((r) => r.refused).concat(all.filter((r) => r.refused && !r.pending));
  const conflicted = all.filter((r) => r.conflicts?.length);
  show(
    h("section", { class: "card", id: "sync" },
      h("h2", { text: t("sync") }),
      h("p", { id: "sync-message", role: "status", text: state.message }),
      h("table", {}, h("tbody", {},
        h("tr", {}, h("th", { text: t("last_sync") }), h("td", { id: "last-sync", text: last ? new Date(last).toLocaleString(language()) : t("never") })),
        h("tr", {}, h("th", { text: t("waiting") }), h("td", { id: "waiting", text: String(waiting.length) })),
      )),
      h("button", { type: "button", id: "sync-now", disabled: !!state.syncing, onclick: () => sync(), text: state.syncing ? t("syncing") : t("sync_now") }),
      h("h3", { text: t("refused") }),
      refused.length
        ? h("ul", { class: "list", id: "refused" }, ...refused.map((r) =>
            h("li", {}, h("a", { href: `#/customer/${r.id}`, text: r.fields.name ?? r.id }), h("span", { class: "error", text: ` ${r.refused.code}: ${r.refused.message}` }))))
        : h("p", { class: "muted", text: t("no_refusals") }),
      h("h3", { text: t("conflicts") }),
      conflicted.length
        ? h("ul", { class: "list", id: "conflicted" }, ...conflicted.map((r) =>
            h("li", {}, h("a", { href: `#/customer/${r.id}`, text: r.fields.name ?? r.id }),
              ...r.conflicts.map((c) => h("span", { class: "muted", text: ` ${c.field}: ${c.values.map(String).join(" | ")}` })))))
        : h("p", { class: "muted", text: t("no_conflicts") }),
      h("p", { class: "muted", text: `${state.session.email} · ${state.session.role} · ${state.session.territories.join(", ")}` }),
      h("button", { type: "button", class: "secondary", id: "sign-out", onclick: signOut, text: t("sign_out") }),
    ),
  );
}

async function signOut() {
  await store.wipe(state.db);
  state.db = await store.open();
  state.session = null;
  state.customers = [];
  location.hash = "#/";
  route();
}

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
    return customerList();
  }
  if (page === "new") return customerForm(null);
  if (page === "new-contact" && id) return contactForm(id, null);
  if (page === "sync") return syncPage();
  return customerList();
}

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {
      // No service worker (an insecure origin): the app works, but not from a cold start offline.
    });
  }
  await A.initializeWasm(fetch("automerge.wasm"));
  state.db = await store.open();
  state.session = (await store.getMeta(state.db, "session")) ?? null;
  state.schema = (await store.getMeta(state.db, "schema")) ?? null;
  if (state.session) await loadCustomers();
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
