// The customer list (search, nearby) and a customer's page with its contacts and conflicts.

import { distanceM } from "../geo.js";
import { history } from "../history.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { kilometres, money } from "../ui/format.js";
import { badge, recordList } from "../ui/lists.js";
import { settings } from "../orders.js";
import { loadDoc } from "../sync.js";
import { state } from "../ui/state.js";
import { campaignPanel } from "./campaign.js";
import { visitPanel } from "./visit.js";

function distance(rec) {
  const { lat, lon } = rec.fields;
  return state.here && typeof lat === "number" && typeof lon === "number"
    ? distanceM(state.here, { lat, lon })
    : Infinity;
}

export function customerList() {
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

/** How a contact agreed to be reached (a campaign by phone or e-mail asks for it). */
function consent(fields) {
  const given = ["consent_phone", "consent_email", "consent_sms"].filter((f) => fields[f] === true);
  return given.length ? given.map((f) => t(f)).join(", ") : t("no_consent");
}

function customerLayout() {
  return state.schema.kinds.find((k) => k.name === "customer");
}

export async function customerPage(id) {
  const rec = await store.record(state.db, id);
  if (!rec) return customerList();
  const layout = customerLayout();
  const rows = layout.fields
    .filter((f) => rec.fields[f.name] !== undefined && f.name !== "deleted" && f.type !== "items")
    .map((f) => h("tr", {}, h("th", { text: t(f.name) }), h("td", { text: String(rec.fields[f.name]) })));
  const newest = (field) => (a, b) => (b.fields[field] ?? 0) - (a.fields[field] ?? 0);
  const of = async (kind, order) =>
    (await store.recordsOfCustomer(state.db, kind, id)).filter((r) => !r.deleted).sort(order);
  const contacts = await of("contact", (a, b) => String(a.fields.name ?? "").localeCompare(String(b.fields.name ?? "")));
  const orders = await of("order", newest("ordered_at"));
  const payments = await of("payment", newest("collected_at"));
  const visits = (await of("visit", newest("check_in_at"))).filter((v) => v.fields.status !== "planned");
  const tickets = await of("ticket", newest("opened_at"));
  const opportunities = await of("opportunity", newest("expected_close"));
  const tasks = (await store.recordsOf(state.db, "task"))
    .filter((x) => !x.deleted && x.fields.related_id === id && x.fields.status === "open");
  const currency = await settings(state.db).then((s) => s.currency, () => null);
  const day = (ms) => (typeof ms === "number" ? new Date(ms).toLocaleDateString() : "");
  show(
    h("section", { class: "card", id: "customer" },
      h("h2", {}, rec.fields.name ?? "?", " ", badge(rec)),
      rec.refused ? h("p", { class: "error", role: "alert", text: `${rec.refused.code}: ${rec.refused.message}` }) : null,
      await visitPanel(rec),
      await campaignPanel(id),
      h("div", { class: "toolbar wrap" },
        h("a", { class: "button", href: `#/new-order/${id}`, id: "new-order", text: t("new_order") }),
        h("a", { class: "button", href: `#/new-payment/${id}`, id: "new-payment", text: t("record_payment") }),
        h("a", { class: "button secondary", href: `#/new-ticket/${id}`, id: "new-ticket", text: t("new_ticket") }),
        h("a", { class: "button secondary", href: `#/new-opportunity/${id}`, id: "new-opportunity", text: t("new_opportunity") }),
        h("a", { class: "button secondary", href: `#/new-task/${id}`, id: "new-customer-task", text: t("new_task") })),
      h("table", {}, h("tbody", {}, ...rows)),
      rec.conflicts?.length
        ? h("div", { class: "conflicts" },
            h("h3", { text: t("conflicts") }),
            h("p", { class: "muted", text: t("both_values") }),
            ...rec.conflicts.map((c) => h("p", {}, h("strong", { text: `${t(c.field)}: ` }), c.values.map(String).join(" | "))))
        : null,
      h("div", { class: "toolbar" }, h("a", { class: "button secondary", href: `#/edit/${id}`, id: "edit", text: t("edit") })),
      h("h3", { text: t("orders") }),
      recordList("orders", orders, (o) => ({
        title: money(o.fields.total, o.fields.currency),
        details: [day(o.fields.ordered_at), t(o.fields.status), o.fields.hold_reason ? t("held") : null],
        href: `#/order/${o.id}`,
        rec: o,
      })),
      h("h3", { text: t("payments") }),
      recordList("payments", payments, (p) => ({
        title: money(p.fields.amount, p.fields.currency),
        details: [day(p.fields.collected_at), p.fields.method ? t(p.fields.method) : null, p.fields.reference],
        rec: p,
      })),
      h("h3", { text: t("opportunities") }),
      recordList("opportunities", opportunities, (x) => ({
        title: x.fields.title,
        details: [
          t(x.fields.stage),
          currency ? money(x.fields.amount, currency) : null,
          typeof x.fields.probability === "number" ? `${x.fields.probability}%` : null,
          day(x.fields.expected_close),
        ],
        href: `#/edit/${x.id}`,
        rec: x,
      })),
      h("h3", { text: t("tickets") }),
      recordList("tickets", tickets, (x) => ({
        title: x.fields.subject,
        details: [day(x.fields.opened_at), t(x.fields.status), x.fields.severity ? t(x.fields.severity) : null],
        href: `#/edit/${x.id}`,
        rec: x,
      })),
      h("h3", { text: t("tasks") }),
      recordList("customer-tasks", tasks, (x) => ({ title: x.fields.title, details: [day(x.fields.due_at)], href: `#/edit/${x.id}`, rec: x })),
      h("h3", { text: t("visits") }),
      recordList("visits", visits.slice(0, 10), (v) => ({
        title: day(v.fields.check_in_at ?? v.fields.planned_start),
        details: [t(v.fields.status), v.fields.check_in_result ? t(v.fields.check_in_result) : null, v.fields.outcome],
        rec: v,
      })),
      h("h3", { text: t("contacts") }),
      recordList("contacts", contacts, (c) => ({
        title: c.fields.name,
        details: [c.fields.title, c.fields.phone, c.fields.email, consent(c.fields)],
        href: `#/edit/${c.id}`,
        rec: c,
      })),
      h("div", { class: "toolbar" }, h("a", { class: "button secondary", href: `#/new-contact/${id}`, id: "new-contact", text: t("new_contact") })),
      h("h3", { text: t("history") }),
      historyList(rec),
    ),
  );
}

/** How many of a record's changes its page lists, the newest first. */
const HISTORY_SHOWN = 20;

/** The customer's changes read from its document: when, from which device, which fields. */
function historyList(rec) {
  const entries = history(loadDoc(rec, state.session.actor_id)).slice(0, HISTORY_SHOWN);
  const value = (f) => {
    if (f.edited) return t("edited");
    if (f.value === null) return "—";
    return String(f.value);
  };
  return h("ol", { class: "list", id: "history" }, ...entries.map((e) =>
    h("li", {},
      h("span", {},
        h("strong", { text: new Date(e.time * 1000).toLocaleString() }),
        h("span", { class: "muted", text: ` ${e.actor.startsWith(state.session.actor_id) ? t("this_phone") : t("another_device")}` }),
        h("br"),
        e.fields
          .filter((f) => !(f.field === "deleted" && f.value === false))
          .map((f) => `${t(f.field)}: ${value(f)}`)
          .join(" · ")))));
}
