// Figures as the agent reads and types them: distances, money in the company's currency (held
// as integer minor units), quantities (held in thousandths) and percentages (basis points).

import { language } from "../i18n.js";

export function kilometres(m) {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

/** The digits after the decimal point of `currency` (2 for EUR, 0 for JPY). */
function minorDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** `minor` units of `currency` as the agent's language writes the amount. */
export function money(minor, currency) {
  if (typeof minor !== "number") return "";
  const digits = minorDigits(currency);
  try {
    return new Intl.NumberFormat(language(), { style: "currency", currency }).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

/**
 * A typed decimal (`1.5`, `1,5`) as an integer count of `1 / 10^digits` units, or null when it is
 * not a number with at most `digits` decimals. Exact: the digits are read as text, never through
 * a float.
 */
export function decimal(text, digits) {
  const m = /^\s*(\d{1,15})(?:[.,](\d*))?\s*$/.exec(String(text));
  if (!m || (m[2] ?? "").length > digits) return null;
  return Number(m[1]) * 10 ** digits + Number((m[2] ?? "").padEnd(digits, "0") || 0);
}

/** `minor` units of `currency` as a plain decimal for an input (120050 EUR is "1200.50"). */
export function moneyInput(minor, currency) {
  if (typeof minor !== "number") return "";
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}

/** A typed amount of `currency` in minor units, or null. */
export function parseMoney(text, currency) {
  return decimal(text, minorDigits(currency));
}

/** Thousandths as the agent reads a quantity (1500 is 1.5). */
export function quantity(thousandths) {
  return new Intl.NumberFormat(language(), { maximumFractionDigits: 3 }).format(thousandths / 1000);
}

/** Basis points as a percentage (1250 is 12.5%). */
export function percent(bp) {
  return `${new Intl.NumberFormat(language(), { maximumFractionDigits: 2 }).format(bp / 100)}%`;
}
