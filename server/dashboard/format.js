// Numbers, money and times as people read them, in the UI's locale. Money arrives in integer
// minor units of the company's one currency (the settings record names it); the currency's own
// number of decimals (2 for EUR, 0 for JPY) turns minor units into amounts.

import {locale} from './i18n.js';

let currency = null;
let minorDigits = 2;
const cache = new Map();

/** The company's currency (ISO 4217), from its settings record. */
export function setCurrency(code) {
  try {
    minorDigits = new Intl.NumberFormat('en', {style: 'currency', currency: code}).resolvedOptions().maximumFractionDigits;
    currency = code;
  } catch {
    // Not a code Intl knows: amounts are shown without a symbol, in hundredths.
    currency = null;
    minorDigits = 2;
  }
  cache.clear();
}

function formatter(key, options) {
  const id = `${locale()}|${key}`;
  if (!cache.has(id)) cache.set(id, new Intl.NumberFormat(locale(), options));
  return cache.get(id);
}

/** An amount in minor units. `compact` for figures on cards and chart axes. */
export function money(minor, {compact = false} = {}) {
  if (minor == null) return '';
  const amount = minor / 10 ** minorDigits;
  const options = currency
    ? {style: 'currency', currency, maximumFractionDigits: compact ? 1 : minorDigits, minimumFractionDigits: compact ? 0 : minorDigits}
    : {maximumFractionDigits: compact ? 1 : minorDigits, minimumFractionDigits: compact ? 0 : minorDigits};
  if (compact) options.notation = 'compact';
  return formatter(`money${compact}`, options).format(amount);
}

export function number(value, digits = 2) {
  if (value == null) return '';
  return formatter(`n${digits}`, {maximumFractionDigits: digits}).format(value);
}

function compactNumber(value) {
  if (value == null) return '';
  return formatter('compact', {notation: 'compact', maximumFractionDigits: 1}).format(value);
}

export function percent(ratio) {
  if (ratio == null) return '';
  return formatter('pct', {style: 'percent', maximumFractionDigits: 1}).format(ratio);
}

/** A time in milliseconds since the epoch (or an RFC 3339 string). */
export function dateTime(value) {
  if (value == null || value === '') return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(locale(), {dateStyle: 'medium', timeStyle: 'short'});
}

export function date(value) {
  if (value == null || value === '') return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleDateString(locale(), {dateStyle: 'medium'});
}

/**
 * A UUID, shortened for a table cell (the whole id stays in the title and the data): its last
 * digits, which are random, where its first are a UUID v7's time, shared by records made together.
 */
export const shortId = (id) => String(id).slice(-8);

/** A report cell's text, by the column's kind (see reports.js). */
export function cell(kind, value) {
  if (value == null) return '';
  switch (kind) {
    case 'money': return money(value);
    case 'ratio': return percent(value);
    case 'time': return dateTime(value);
    case 'id': return shortId(value);
    case 'precise': return number(value, 4);
    default: return typeof value === 'number' ? number(value) : String(value);
  }
}

/** A figure for a chart axis or a summary: money and counts compact. */
export function compact(kind, value) {
  if (value == null) return '';
  if (kind === 'money') return money(value, {compact: true});
  if (kind === 'ratio') return percent(value);
  return compactNumber(value);
}

/** YYYY-MM-DD of a local date. */
export function isoDay(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
