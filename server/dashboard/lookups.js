// What several pages look up, fetched once per session: the users the caller may see (names for
// ids, the agent and territory filters), the company's settings (its currency) and the customers
// (the customer search and the segment filter's suggestions).

import {get, all} from './api.js';
import {setCurrency, shortId} from './format.js';

let users = null;
let customers = null;
let settings = null;
const emails = new Map();

/** Forgets everything (sign-out, another user signing in). */
export function reset() {
  users = customers = settings = null;
  emails.clear();
}

/** GET /v1/users: a manager's agents and the manager, or everyone for an admin. */
export function loadUsers() {
  users ??= get('/v1/users').then((list) => {
    for (const u of list) emails.set(u.id, u.email);
    return list;
  }).catch((error) => {
    users = null;
    throw error;
  });
  return users;
}

/** The settings record, and with it the currency money is shown in. */
export function loadSettings() {
  settings ??= get('/v1/records?kind=settings&limit=1').then((page) => {
    const fields = page.records[0]?.fields || {};
    if (fields.currency) setCurrency(fields.currency);
    return fields;
  }).catch((error) => {
    settings = null;
    throw error;
  });
  return settings;
}

/** Every customer the caller sees (paged through; the listing has no text search). */
export function loadCustomers() {
  customers ??= all('/v1/records?kind=customer').catch((error) => {
    customers = null;
    throw error;
  });
  return customers;
}

/** A user's e-mail by id, once the users are loaded; else the id, shortened. */
export function userName(id) {
  if (id == null) return '';
  return emails.get(id) ?? shortId(id);
}

/** The territories named by the users the caller sees, sorted. */
export function territoriesOf(list) {
  return [...new Set(list.flatMap((u) => u.territories))].sort();
}

/** The customers' segments (industries), sorted. */
export function segmentsOf(list) {
  return [...new Set(list.map((c) => c.fields.industry).filter(Boolean))].sort();
}
