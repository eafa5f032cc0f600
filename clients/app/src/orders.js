// Taking orders and collecting payments at the customer's, offline, as the Rust SDK does
// (clients/sdk/src/orders.rs): each line priced from the customer's price list on the phone
// (quantity breaks included) or else the catalogue, taxed at the product's rate, and totalled by
// the server's rule (totals.js), so the agent shows the customer the figure that stands.

import { FieldError, live, recordOf } from "./field.js";
import * as local from "./local.js";
import { uuidv7 } from "./local.js";
import * as store from "./store.js";
import { totals } from "./totals.js";

/**
 * The unit price of `quantity` (thousandths) of a product from a price list's `prices` items:
 * the largest quantity break reached (`min_quantity`, 0 when unset), or else `listPrice`; null
 * when neither names one (sync-core/src/orders.rs, `unit_price`).
 */
export function unitPrice(prices, productId, quantity, listPrice) {
  let best = null;
  for (const p of prices) {
    if (p.product_id !== productId) continue;
    const min = p.min_quantity ?? 0;
    // On a tie the later item (by id) wins, as in Rust's `max_by_key`.
    if (min <= quantity && (best === null || min >= (best.min_quantity ?? 0))) best = p;
  }
  return best?.unit_price ?? listPrice ?? null;
}

/** Whether a price list's fields apply at `at` (milliseconds): not inactive, not deleted, and
 * within its validity dates, both bounds inclusive. */
export function priceListApplies(list, at) {
  return (
    list.active !== false &&
    list.deleted !== true &&
    (list.valid_from ?? -Infinity) <= at &&
    at <= (list.valid_to ?? Infinity)
  );
}

/** The company's settings record on the phone (its currency, the discount limits). */
export async function settings(db) {
  const [found] = await live(db, "settings");
  if (!found) throw new FieldError("no_settings", "this device holds no company settings yet: sync first");
  return found.fields;
}

/** The active products, by SKU. */
export async function catalogue(db) {
  const products = await live(db, "product");
  return new Map(products.filter((p) => p.fields.active !== false).map((p) => [p.fields.sku, p]));
}

/** The customer's price list if it is on the phone and applies at `at`, else null. */
export async function priceListOf(db, customer, at) {
  const id = customer.fields.price_list_id;
  if (!id) return null;
  const list = await store.record(db, id);
  return list && priceListApplies(list.fields, at) ? list : null;
}

/**
 * The lines of an order from what the agent entered (`[{sku, quantity, discount_bp, id}]`,
 * quantity in thousandths, the line's id made here when not given), priced from `products` (the
 * catalogue) and `priceList` (the customer's, or null), and their totals: `{lines, totals}`. Throws a FieldError, or the TotalsError of
 * totals.js, for lines that cannot be priced or totalled.
 */
export function priceLines(products, priceList, entered) {
  const prices = priceList?.fields.prices ?? [];
  const lines = entered.map((e) => {
    const product = products.get(e.sku);
    if (!product) throw new FieldError("unknown_product", `no active product with SKU \`${e.sku}\` on this device`);
    const price = unitPrice(prices, product.id, e.quantity, product.fields.list_price);
    if (price === null) {
      throw new FieldError("no_price", `${e.sku} has no price: neither the customer's price list nor the catalogue names one`);
    }
    const line = {
      id: e.id ?? uuidv7(),
      product_id: product.id,
      sku: e.sku,
      quantity: e.quantity,
      unit_price: price,
      discount_bp: e.discount_bp ?? 0,
    };
    if (typeof product.fields.tax_bp === "number") line.tax_bp = product.fields.tax_bp;
    return line;
  });
  // In the order the record reads them, by id: the totals' ties go by position.
  lines.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { lines, totals: totals({ lines, order_discount_bp: 0 }) };
}

/**
 * Takes an order at a customer from the entered lines: a draft, or submitted at once with
 * `submit`. `products` is the catalogue when the caller holds it already (it is read otherwise).
 * Answers the stored record, its totals and the price list it was priced from.
 */
export async function takeOrder(db, session, schema, customerId, entered, { visitId, submit, now, products }) {
  const customer = await recordOf(db, customerId, "customer");
  if (!entered.length) throw new FieldError("no_lines", "an order needs at least one line");
  const priceList = await priceListOf(db, customer, now);
  const { lines, totals: t } = priceLines(products ?? (await catalogue(db)), priceList, entered);
  const { currency } = await settings(db);
  const fields = {
    customer_id: customerId,
    agent_id: session.user_id,
    status: submit ? "submitted" : "draft",
    currency,
    lines,
    ordered_at: now,
    subtotal: t.subtotal,
    discount: t.discount,
    tax: t.tax,
    total: t.total,
  };
  if (visitId) fields.visit_id = visitId;
  if (submit) fields.submitted_at = now;
  const order = await local.create(db, session, schema, "order", fields);
  return { order, totals: t, priceList };
}

/** Submits a draft (or rejected) order. */
export async function submitOrder(db, session, schema, orderId, now) {
  const order = await recordOf(db, orderId, "order");
  if (!["draft", "rejected"].includes(order.fields.status)) {
    throw new FieldError("status_not_allowed", `an agent may not move an order from ${order.fields.status} to submitted`);
  }
  return local.update(db, session, schema, orderId, { status: "submitted", submitted_at: now });
}

/**
 * Records a payment collected from a customer (`{amount, method, reference, orderId, receipt}`,
 * the amount in minor units, the receipt a captured file), allocated whole to one of its orders
 * or on account.
 */
export async function addPayment(db, session, schema, customerId, { amount, method, reference, orderId, receipt }, now) {
  await recordOf(db, customerId, "customer");
  const { currency } = await settings(db);
  const fields = {
    customer_id: customerId,
    amount,
    currency,
    collected_at: now,
    collected_by: session.user_id,
  };
  if (method) fields.method = method;
  if (reference) fields.reference = reference;
  if (orderId) {
    const order = await recordOf(db, orderId, "order");
    if (order.fields.customer_id !== customerId) {
      throw new FieldError("wrong_order", `${orderId} is not an order of customer ${customerId}`);
    }
    fields.allocations = [{ id: uuidv7(), order_id: orderId, amount }];
  }
  if (receipt) fields.receipt = receipt.hash;
  return local.create(db, session, schema, "payment", fields, receipt ? [receipt] : []);
}

