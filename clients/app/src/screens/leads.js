// Leads: people and shops met in the field (a market stall, a name given at an event), captured
// offline and worked by the agent; the server checks each against the customers and names the
// one it likely is already. A lead is converted offline into a customer and its contact, and
// the deal it brought, if the agent names one, into an opportunity.

import { t } from "../i18n.js";
import * as local from "../local.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { badge } from "../ui/lists.js";
import { edited, loadCustomers, state } from "../ui/state.js";

/** Converts a lead into a new customer, or into the customer `into` it is already, offline, with
 * the deal typed beside it as an opportunity. */
function convert(rec, into) {
  return async (e) => {
    e.currentTarget.disabled = true;
    const deal = document.getElementById(`deal-${rec.id}`)?.value ?? "";
    const made = await local.convertLead(state.db, state.session, state.schema, rec.id, { into, deal });
    await loadCustomers();
    edited();
    location.hash = `#/customer/${made.customer}`;
  };
}

/** The buttons that convert an open lead: into the customer the server found it likely is
 * already (when this phone holds it), or into a new one. */
function converting(rec) {
  if (["converted", "disqualified"].includes(rec.fields.status)) return null;
  const likely = state.customers.find(({ rec: c }) => c.id === rec.fields.duplicate_of)?.rec;
  return h("span", { class: "actions" },
    h("label", { for: `deal-${rec.id}`, class: "muted", text: t("deal_optional") }),
    h("input", { id: `deal-${rec.id}`, class: "deal", type: "text", maxlength: 200 }),
    likely
      ? h("button", { type: "button", class: "secondary convert-into", onclick: convert(rec, likely.id), text: t("convert_into", { name: likely.fields.name ?? "?" }) })
      : null,
    h("button", { type: "button", class: "convert", onclick: convert(rec, null), text: t("convert") }));
}

export async function leadList() {
  const leads = (await store.recordsOf(state.db, "lead"))
    .filter((r) => !r.deleted)
    .sort((a, b) => (b.fields.captured_at ?? 0) - (a.fields.captured_at ?? 0));
  show(
    h("h2", { text: t("leads") }),
    h("div", { class: "toolbar" }, h("a", { class: "button", href: "#/new-lead", id: "new-lead", text: t("new_lead") })),
    leads.length
      ? h("ul", { class: "list", id: "leads" }, ...leads.map((rec) => h("li", {},
          h("a", { href: `#/edit/${rec.id}` },
            h("strong", { text: rec.fields.name ?? "?" }),
            h("span", { class: "muted", text: [rec.fields.company, rec.fields.city, t(rec.fields.status)].filter(Boolean).join(" · ") }),
            rec.fields.duplicate_of ? h("span", { class: "muted", text: t("likely_customer") }) : null),
          badge(rec),
          converting(rec))))
      : h("p", { class: "muted", text: t("no_leads") }),
  );
}
