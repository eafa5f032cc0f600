// Leads: people and shops met in the field (a market stall, a name given at an event), captured
// offline and worked by the agent; the server checks each against the customers and names the
// one it likely is already.

import { t } from "../i18n.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { badge } from "../ui/lists.js";
import { state } from "../ui/state.js";

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
          badge(rec))))
      : h("p", { class: "muted", text: t("no_leads") }),
  );
}
