// Order totals, to the minor unit, by the rule the server follows (docs/protocol.md, section 15;
// sync-core/src/totals.rs). Products of a quantity and a price pass 2^53, so every step is in
// BigInt; the figures come back as Numbers, which hold every amount up to MAX_AMOUNT exactly.

export const MAX_LINES = 200;
export const MAX_AMOUNT = 1_000_000_000_000_000n;
const BP = 10_000n;
const QUANTITY_SCALE = 1_000n;

export class TotalsError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** round(n / d) for n >= 0: the nearest integer, halves up. */
function round(n, d) {
  return (n + d / 2n) / d;
}

/**
 * The totals of an order `{lines: [{quantity, unit_price, discount_bp, tax_bp}], order_discount_bp}`,
 * as `{lines: [{gross, discount, net, order_discount, taxable, tax, total}], subtotal, discount,
 * tax, total}`; throws a TotalsError with the server's code for an order that has none.
 */
export function totals(order) {
  if (order.lines.length > MAX_LINES) {
    throw new TotalsError("too_many_lines", `the order has ${order.lines.length} lines`);
  }
  const orderBp = BigInt(order.order_discount_bp ?? 0);
  if (orderBp > BP) throw new TotalsError("discount_out_of_range", "order discount over 100%");
  const lines = order.lines.map((line, i) => {
    const quantity = BigInt(line.quantity);
    const price = BigInt(line.unit_price);
    const discountBp = BigInt(line.discount_bp ?? 0);
    const taxBp = BigInt(line.tax_bp ?? 0);
    if (quantity <= 0n) throw new TotalsError("non_positive_quantity", `line ${i}: quantity`);
    if (price < 0n) throw new TotalsError("negative_price", `line ${i}: unit price`);
    if (price > MAX_AMOUNT) throw new TotalsError("amount_too_large", `line ${i}: unit price`);
    if (discountBp > BP) throw new TotalsError("discount_out_of_range", `line ${i}: discount`);
    if (taxBp > BP) throw new TotalsError("tax_out_of_range", `line ${i}: tax`);
    const gross = round(quantity * price, QUANTITY_SCALE);
    if (gross > MAX_AMOUNT) throw new TotalsError("amount_too_large", `line ${i}: gross`);
    const discount = round(gross * discountBp, BP);
    return { gross, discount, net: gross - discount, taxBp };
  });
  const subtotal = lines.reduce((s, l) => s + l.gross, 0n);
  if (subtotal > MAX_AMOUNT) throw new TotalsError("amount_too_large", "subtotal");
  const netSum = lines.reduce((s, l) => s + l.net, 0n);
  const orderDiscount = round(netSum * orderBp, BP);
  // The order discount spread over the lines by their nets, by largest remainder; equal
  // remainders go to the lower line first.
  const shares = lines.map((l) => (netSum === 0n ? 0n : (orderDiscount * l.net) / netSum));
  if (netSum !== 0n) {
    let left = orderDiscount - shares.reduce((s, x) => s + x, 0n);
    const byRemainder = lines
      .map((l, i) => ({ i, r: (orderDiscount * l.net) % netSum }))
      .filter(({ r }) => r > 0n)
      .sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
    for (const { i } of byRemainder) {
      if (left === 0n) break;
      shares[i] += 1n;
      left -= 1n;
    }
  }
  const out = lines.map((l, i) => {
    const taxable = l.net - shares[i];
    const tax = round(taxable * l.taxBp, BP);
    return {
      gross: l.gross,
      discount: l.discount,
      net: l.net,
      order_discount: shares[i],
      taxable,
      tax,
      total: taxable + tax,
    };
  });
  const discount = out.reduce((s, l) => s + l.discount, 0n) + orderDiscount;
  const tax = out.reduce((s, l) => s + l.tax, 0n);
  const total = subtotal - discount + tax;
  if (total > MAX_AMOUNT) throw new TotalsError("amount_too_large", "total");
  const number = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]));
  return {
    lines: out.map(number),
    subtotal: Number(subtotal),
    discount: Number(discount),
    tax: Number(tax),
    total: Number(total),
  };
}
