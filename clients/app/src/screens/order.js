// Taking an order at the customer's, offline: products picked from the catalogue on the phone,
// priced from the customer's price list, totalled as the server totals them; and an order's page
// (its lines, totals, status, and why it is held).

import { t } from "../i18n.js";
import { uuidv7 } from "../local.js";
import * as orders from "../orders.js";
import * as store from "../store.js";
import { totals } from "../totals.js";
import * as visits from "../visits.js";
import { h, show } from "../ui/dom.js";
import { decimal, money, percent, quantity } from "../ui/format.js";
import { badge } from "../ui/lists.js";
import { settingsOrExplain } from "../ui/settings.js";
import { edited, state } from "../ui/state.js";

/** Products the picker offers at once: enough to choose from on a phone's screen. */
const PICKS = 8;

function totalsTable(totals, currency) {
  const row = (key, value) => h("tr", {}, h("th", { text: t(key) }), h("td", { id: `total-${key}`, text: money(value, currency) }));
  return h("table", { class: "totals" }, h("tbody", {},
    row("subtotal", totals.subtotal), row("discount", totals.discount), row("tax", totals.tax), row("total", totals.total)));
}

function linesTable(lines, products, currency, remove) {
  return h("table", { id: "lines" },
    h("thead", {}, h("tr", {}, h("th", { text: t("product") }), h("th", { text: t("quantity") }), h("th", { text: t("price") }), h("th", { text: t("line_total") }), remove ? h("th", {}) : null)),
    h("tbody", {}, ...lines.map((l, i) => h("tr", {},
      h("td", {}, h("strong", { text: l.sku }), " ", h("span", { class: "muted", text: products?.get(l.sku)?.fields.name ?? "" })),
      h("td", { text: quantity(l.quantity) }),
      h("td", { text: money(l.unit_price, currency) + (l.discount_bp ? ` −${percent(l.discount_bp)}` : "") }),
      h("td", { text: money(l.total, currency) }),
      remove ? h("td", {}, h("button", { type: "button", class: "link", "aria-label": `${t("remove")} ${l.sku}`, onclick: () => remove(i), text: "×" })) : null))));
}

export async function orderForm(customerId) {
  const customer = await store.record(state.db, customerId);
  const settings = await settingsOrExplain();
  if (!settings) return;
  const { currency } = settings;
  const limit = state.session.role === "agent" ? settings.agent_discount_limit_bp : settings.manager_discount_limit_bp;
  const products = await orders.catalogue(state.db);
  const searchable = [...products.values()].map((p) => ({ p, text: `${p.fields.sku} ${p.fields.name}`.toLowerCase() }));
  const priceList = await orders.priceListOf(state.db, customer, Date.now());
  const visit = await visits.inProgress(state.db, customerId);
  const entered = [];

  const error = h("p", { class: "error", role: "alert" });
  const note = h("p", { class: "warn", id: "order-note", role: "status" });
  const lines = h("div", {});
  const find = h("input", { id: "o-product", type: "search", placeholder: t("find_product"), "aria-label": t("find_product"), autocomplete: "off" });
  const qty = h("input", { id: "o-quantity", inputmode: "decimal", value: "1", "aria-label": t("quantity") });
  const discount = h("input", { id: "o-discount", inputmode: "decimal", value: "0", "aria-label": t("discount_percent") });
  const picks = h("ul", { class: "list", id: "picks" });
  const buttons = [];

  const render = () => {
    error.textContent = "";
    note.textContent = "";
    if (!entered.length) {
      lines.replaceChildren(h("p", { class: "muted", text: t("no_lines") }));
      for (const b of buttons) b.disabled = true;
      return;
    }
    try {
      const priced = orders.priceLines(products, priceList, entered);
      // The lines as entered, each with its figures (priceLines orders them by id).
      const shown = entered.map((e) => {
        const i = priced.lines.findIndex((l) => l.id === e.id);
        return { ...priced.lines[i], total: priced.totals.lines[i].total };
      });
      lines.replaceChildren(
        linesTable(shown, products, currency, (i) => { entered.splice(i, 1); render(); }),
        totalsTable(priced.totals, currency));
      const deepest = Math.max(...entered.map((e) => e.discount_bp));
      if (typeof limit === "number" && deepest > limit) note.textContent = t("needs_approval", { limit: percent(limit) });
      for (const b of buttons) b.disabled = false;
    } catch (e) {
      lines.replaceChildren();
      error.textContent = `${e.code ?? ""}: ${e.message}`;
      for (const b of buttons) b.disabled = true;
    }
  };

  const pick = (product) => {
    const q = decimal(qty.value, 3);
    const d = decimal(discount.value, 2);
    if (!q) return void (error.textContent = t("bad_quantity"));
    if (d === null || d > 10_000) return void (error.textContent = t("bad_discount"));
    // The line's id from now on, so the order saved is the one shown, to the line's position.
    entered.push({ id: uuidv7(), sku: product.fields.sku, quantity: q, discount_bp: d });
    find.value = "";
    picks.replaceChildren();
    qty.value = "1";
    discount.value = "0";
    render();
  };

  find.addEventListener("input", () => {
    const q = find.value.trim().toLowerCase();
    const hits = q ? searchable.filter((s) => s.text.includes(q)).slice(0, PICKS) : [];
    picks.replaceChildren(...hits.map(({ p }) => h("li", {},
      h("button", { type: "button", class: "pick secondary", onclick: () => pick(p) },
        h("strong", { text: p.fields.sku }), " ", p.fields.name ?? "",
        " · ", money(orders.unitPrice(priceList?.fields.prices ?? [], p.id, decimal(qty.value, 3) ?? 1000, p.fields.list_price), currency)))));
  });

  const save = (submit) => async () => {
    for (const b of buttons) b.disabled = true;
    try {
      const { order } = await orders.takeOrder(state.db, state.session, state.schema, customerId, entered, {
        visitId: visit?.id,
        submit,
        now: Date.now(),
        products,
      });
      location.hash = `#/order/${order.id}`;
      edited();
    } catch (e) {
      error.textContent = `${e.code ?? ""}: ${e.message}`;
      for (const b of buttons) b.disabled = false;
    }
  };
  buttons.push(
    h("button", { type: "button", id: "submit-order", onclick: save(true), text: t("submit") }),
    h("button", { type: "button", class: "secondary", id: "save-draft", onclick: save(false), text: t("save_draft") }),
  );

  show(h("section", { class: "card", id: "order-form" },
    h("h2", { text: `${t("new_order")}: ${customer?.fields.name ?? ""}` }),
    h("p", { class: "muted", id: "price-list", text: priceList ? t("priced_from", { list: priceList.fields.name }) : t("catalogue_prices") }),
    h("div", { class: "toolbar" },
      h("label", { for: "o-quantity", class: "narrow" }, t("quantity"), qty),
      h("label", { for: "o-discount", class: "narrow" }, t("discount_percent"), discount)),
    find,
    picks,
    lines,
    note,
    error,
    h("div", { class: "toolbar" }, ...buttons, h("a", { class: "button secondary", href: `#/customer/${customerId}`, text: t("cancel") })),
  ));
  render();
}

export async function orderPage(id) {
  const order = await store.record(state.db, id);
  if (!order || order.kind !== "order") return void (location.hash = "#/customers");
  const f = order.fields;
  const customer = await store.record(state.db, f.customer_id);
  const error = h("p", { class: "error", role: "alert" });
  const products = new Map();
  for (const l of f.lines ?? []) {
    const p = await store.record(state.db, l.product_id);
    if (p) products.set(l.sku, p);
  }
  let figures = null;
  try {
    figures = totals({ lines: f.lines ?? [], order_discount_bp: f.order_discount_bp ?? 0 });
  } catch (e) {
    error.textContent = `${e.code}: ${e.message}`;
  }
  const submit = ["draft", "rejected"].includes(f.status)
    ? h("button", { type: "button", id: "submit-order", text: t("submit"), onclick: async () => {
        try {
          await orders.submitOrder(state.db, state.session, state.schema, id, Date.now());
          edited();
          state.route();
        } catch (e) {
          error.textContent = `${e.code}: ${e.message}`;
        }
      } })
    : null;
  show(h("section", { class: "card", id: "order" },
    h("h2", {}, `${t("order")}: ${customer?.fields.name ?? ""} `, badge(order)),
    order.refused ? h("p", { class: "error", role: "alert", text: `${order.refused.code}: ${order.refused.message}` }) : null,
    h("p", {}, h("strong", { id: "order-status", text: t(f.status) }), " · ", new Date(f.ordered_at ?? 0).toLocaleString()),
    f.hold_reason ? h("p", { class: "warn", id: "hold-reason", text: `${t("held")}: ${f.hold_reason}` }) : null,
    figures ? linesTable((f.lines ?? []).map((l, i) => ({ ...l, total: figures.lines[i].total })), products, f.currency) : null,
    totalsTable({ subtotal: f.subtotal, discount: f.discount, tax: f.tax, total: f.total }, f.currency),
    error,
    h("div", { class: "toolbar" }, submit, h("a", { class: "button secondary", href: `#/customer/${f.customer_id}`, text: t("back") })),
  ));
}
