// Recording a payment collected at the customer's: the amount in the company's currency, how it
// was paid, a photo of the receipt, and the order it settles (or on account).

import { capture } from "../files.js";
import { t } from "../i18n.js";
import * as orders from "../orders.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { money, parseMoney } from "../ui/format.js";
import { settingsOrExplain } from "../ui/settings.js";
import { edited, state } from "../ui/state.js";

/** Orders a payment may settle: taken and not cancelled. */
const PAYABLE = ["submitted", "approved", "delivered"];

export async function paymentForm(customerId) {
  const customer = await store.record(state.db, customerId);
  const error = h("p", { class: "error", role: "alert" });
  const settings = await settingsOrExplain();
  if (!settings) return;
  const { currency } = settings;
  const open = (await store.recordsOfCustomer(state.db, "order", customerId))
    .filter((o) => !o.deleted && PAYABLE.includes(o.fields.status))
    .sort((a, b) => (b.fields.ordered_at ?? 0) - (a.fields.ordered_at ?? 0));
  const method = state.schema.kinds.find((k) => k.name === "payment").fields.find((f) => f.name === "method");
  const form = h("form", { class: "card", id: "payment-form" },
    h("h2", { text: `${t("record_payment")}: ${customer?.fields.name ?? ""}` }),
    h("label", { for: "p-amount" }, `${t("amount")} (${currency})`,
      h("input", { id: "p-amount", name: "amount", inputmode: "decimal", required: true, autocomplete: "off" })),
    h("label", { for: "p-method" }, t("method"),
      h("select", { id: "p-method", name: "method" }, ...method.values.map((v) => h("option", { value: v, text: t(v) })))),
    h("label", { for: "p-reference" }, t("reference"), h("input", { id: "p-reference", name: "reference", maxlength: 200 })),
    h("label", { for: "p-receipt" }, t("receipt"),
      h("input", { id: "p-receipt", name: "receipt", type: "file", accept: "image/*,application/pdf", capture: "environment" })),
    h("label", { for: "p-order" }, t("settles"),
      h("select", { id: "p-order", name: "order" },
        h("option", { value: "", text: t("on_account") }),
        ...open.map((o) => h("option", {
          value: o.id,
          text: `${new Date(o.fields.ordered_at ?? 0).toLocaleDateString()} · ${money(o.fields.total, o.fields.currency)} · ${t(o.fields.status)}`,
        })))),
    error,
    h("div", { class: "toolbar" },
      h("button", { type: "submit", text: t("save") }),
      h("a", { class: "button secondary", href: `#/customer/${customerId}`, text: t("cancel") })),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const amount = parseMoney(data.get("amount"), currency);
    const picked = data.get("receipt");
    if (!amount) {
      error.textContent = t("bad_amount");
      return;
    }
    try {
      await orders.addPayment(state.db, state.session, state.schema, customerId, {
        amount,
        method: String(data.get("method") || "") || null,
        reference: String(data.get("reference") ?? "").trim() || null,
        orderId: String(data.get("order") || "") || null,
        receipt: picked?.size ? await capture(picked) : null,
      }, Date.now());
      location.hash = `#/customer/${customerId}`;
      edited();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  show(form);
}
