// Adding and editing customers, contacts, leads, tickets and tasks, offline, checked against the
// schema as typed.

import { capture } from "../files.js";
import { t } from "../i18n.js";
import * as local from "../local.js";
import { uuidv7 } from "../local.js";
import { check } from "../records.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { moneyInput, parseMoney } from "../ui/format.js";
import { settingsOrExplain } from "../ui/settings.js";
import { edited, loadCustomers, state } from "../ui/state.js";

/** The fields each kind's form offers, in order. */
const FORM_FIELDS = {
  customer: ["name", "code", "phone", "email", "street", "city", "status", "notes"],
  contact: ["name", "title", "phone", "email", "buying_role", "decision_maker", "consent_phone", "consent_email", "consent_sms", "notes"],
  lead: ["name", "company", "title", "phone", "email", "city", "source", "consent_phone", "consent_email", "consent_visit", "notes"],
  ticket: ["subject", "category", "severity", "status", "satisfaction", "expectation", "resolution", "notes"],
  task: ["title", "due_at", "priority", "status", "notes"],
  opportunity: ["title", "stage", "amount", "probability", "expected_close", "close_reason", "notes"],
};

/** A day typed in a date input as a timestamp: noon of that day where the phone is, so the day
 * reads back the same in any time zone near it. */
function dayToMs(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12).getTime() : null;
}

function msToDay(ms) {
  if (typeof ms !== "number") return "";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function fieldInput(field, value, currency) {
  const id = `f-${field.name}`;
  let input;
  if (field.unit === "minor_units" && currency) {
    input = h("input", { id, name: field.name, inputmode: "decimal", value: moneyInput(value, currency) });
    return h("label", { for: id }, `${t(field.name)} (${currency})`, input);
  }
  if (field.type === "enum") {
    input = h("select", { id, name: field.name },
      h("option", { value: "", text: "—" }),
      ...field.values.map((v) => h("option", { value: v, text: t(v), selected: v === value })));
  } else if (field.type === "bool") {
    return h("label", { for: id, class: "check" },
      h("input", { id, name: field.name, type: "checkbox", checked: value === true }), t(field.name));
  } else if (field.type === "text") {
    input = h("textarea", { id, name: field.name, rows: 4 });
    input.value = value ?? "";
  } else if (field.type === "int") {
    input = h("input", { id, name: field.name, type: "number", inputmode: "numeric", min: field.min, max: field.max, step: 1, value: value ?? "" });
  } else if (field.type === "timestamp") {
    input = h("input", { id, name: field.name, type: "date", value: msToDay(value) });
  } else {
    input = h("input", { id, name: field.name, type: field.type === "email" ? "email" : "text", value: value ?? "" });
  }
  return h("label", { for: id }, t(field.name), input);
}

/** What the form holds for `field`, as the record holds it (null for an empty scalar). */
function formValue(field, data, currency) {
  if (field.type === "bool") return data.get(field.name) === "on";
  const raw = String(data.get(field.name) ?? "");
  if (field.type === "text") return raw;
  const value = raw.trim();
  if (value === "") return null;
  if (field.unit === "minor_units" && currency) return parseMoney(value, currency) ?? value;
  // What does not parse stays text, for the check to refuse with the server's code.
  if (field.type === "int") return /^-?\d+$/.test(value) ? Number(value) : value;
  if (field.type === "timestamp") return dayToMs(value) ?? value;
  return value;
}

/**
 * The form that adds a record of `kind` (with `fixed` values: a contact's customer) or edits
 * `rec`, offline; `place` adds the field that places a new record (a customer's territory);
 * `also` adds the values that follow from the typed ones (when a ticket was resolved); `photos`
 * names an items field of files (a ticket's evidence) that a photo from the camera is added to;
 * amounts in minor units are typed in `currency`; the saved record is shown at `after(saved)`,
 * its customer's page by default.
 */
function recordForm({ kind, rec, fixed = {}, place = null, title, back, also = () => ({}), photos, currency, after }) {
  const layout = state.schema.kinds.find((k) => k.name === kind);
  const fields = FORM_FIELDS[kind].map((n) => layout.fields.find((f) => f.name === n)).filter(Boolean);
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", id: "record-form" },
    h("h2", { text: title }),
    fieldInput(fields[0], rec?.fields[fields[0].name], currency),
    place,
    ...fields.slice(1).map((f) => fieldInput(f, rec?.fields[f.name], currency)),
    photos
      ? h("label", { for: "f-photo" }, `${t("add_photo")} (${(rec?.fields[photos] ?? []).length})`,
          h("input", { id: "f-photo", name: "photo", type: "file", accept: "image/*", capture: "environment" }))
      : null,
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
      const value = formValue(f, data, currency);
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
    Object.assign(values, also(values, rec));
    try {
      const files = [];
      const picked = photos ? data.get("photo") : null;
      if (picked?.size) {
        const file = await capture(picked);
        files.push(file);
        values[photos] = [...(rec?.fields[photos] ?? []), { id: uuidv7(), hash: file.hash, taken_at: Date.now() }];
      }
      const saved = rec
        ? await local.update(state.db, state.session, state.schema, rec.id, values, files)
        : await local.create(state.db, state.session, state.schema, kind, values, files);
      await loadCustomers();
      location.hash = after ? after(saved) : `#/customer/${kind === "customer" ? saved.id : saved.fields.customer_id}`;
      edited();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  show(form);
}

/** The choice of the territory a new record is placed in: one of the agent's. */
function territoryChoice() {
  const territories = state.session.territories ?? [];
  return h("label", { for: "f-territory" }, t("territory"),
    h("select", { id: "f-territory", name: "territory" }, ...territories.map((x) => h("option", { value: x, text: x }))));
}

export function customerForm(rec) {
  recordForm({
    kind: "customer",
    rec,
    title: rec ? rec.fields.name : t("new_customer"),
    back: rec ? `#/customer/${rec.id}` : "#/customers",
    place: rec ? null : territoryChoice(),
  });
}

/** A lead met in the field: the agent's own, new, met now (its cohort in the conversion report). */
export function leadForm(rec) {
  recordForm({
    kind: "lead",
    rec,
    fixed: rec ? {} : { status: "new", source: "field", owner_id: state.session.user_id, captured_at: Date.now() },
    title: rec ? rec.fields.name : t("new_lead"),
    back: "#/leads",
    place: rec ? null : territoryChoice(),
    after: () => "#/leads",
  });
}

export function contactForm(customerId, rec) {
  recordForm({
    kind: "contact",
    rec,
    fixed: rec ? {} : { customer_id: customerId },
    title: rec ? rec.fields.name : t("new_contact"),
    back: `#/customer/${customerId}`,
  });
}

/** When a status first reaches one of `done`, the time it did, in `field`. */
function stamp(field, done) {
  return (values, rec) => (done.includes(values.status) && !rec?.fields[field] ? { [field]: Date.now() } : {});
}

export function ticketForm(customerId, rec) {
  recordForm({
    kind: "ticket",
    rec,
    fixed: rec ? {} : { customer_id: customerId, status: "open", opened_at: Date.now() },
    title: rec ? rec.fields.subject : t("new_ticket"),
    back: `#/customer/${customerId}`,
    also: stamp("resolved_at", ["resolved", "closed"]),
    photos: "evidence",
  });
}

/** A task of the agent's, about a customer when `customerId` is given. */
export async function taskForm(customerId, rec) {
  const customer = customerId ? await store.record(state.db, customerId) : null;
  const territory = customer?.fields.territory ?? state.session.territories[0];
  const about = customer ? { related_id: customerId, related_kind: "customer" } : {};
  recordForm({
    kind: "task",
    rec,
    fixed: rec ? {} : { territory, assignee_id: state.session.user_id, status: "open", ...about },
    title: rec ? rec.fields.title : t("new_task"),
    back: customerId ? `#/customer/${customerId}` : "#/today",
    also: stamp("done_at", ["done"]),
    after: () => (customerId ? `#/customer/${customerId}` : "#/today"),
  });
}

export async function opportunityForm(customerId, rec) {
  const settings = await settingsOrExplain();
  if (!settings) return;
  const { currency } = settings;
  recordForm({
    kind: "opportunity",
    rec,
    fixed: rec ? {} : { customer_id: customerId, owner_id: state.session.user_id },
    title: rec ? rec.fields.title : t("new_opportunity"),
    back: `#/customer/${customerId}`,
    also: stamp("closed_at", ["won", "lost"]),
    currency,
  });
}
