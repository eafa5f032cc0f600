// Customers: a searchable list, and one customer's page: its fields with each field's history,
// its contacts, a timeline of its visits and orders, and the photos its records reference.

import {h, replace} from '../dom.js';
import {get, post, seg} from '../api.js';
import {t, columnLabel} from '../i18n.js';
import {date, dateTime, money, number, shortId} from '../format.js';
import {href} from '../router.js';
import {loadCustomers, userName} from '../lookups.js';
import {errorMessage} from '../errors.js';

/** Matches shown at once: the list is for finding a customer, not for reading all of them. */
const SHOWN = 100;

const MONEY_FIELDS = new Set(['credit_limit', 'total', 'subtotal', 'discount', 'tax', 'amount', 'list_price', 'unit_price']);
const USER_FIELDS = new Set(['owner_id', 'key_account_manager_id', 'agent_id', 'collected_by', 'decided_by', 'resolved_by', 'assignee_id', 'user_id']);
const TIME_FIELDS = new Set(['ordered_at', 'submitted_at', 'delivered_at', 'due_at', 'planned_start', 'planned_end', 'check_in_at', 'check_out_at', 'collected_at', 'opened_at', 'resolved_at', 'raised_at', 'taken_at', 'decided_at', 'held_at', 'expected_close', 'closed_at', 'valid_from', 'valid_to']);

/** A field's value as text, by what the field holds. */
function fieldText(name, value) {
  if (value == null || value === '') return '';
  if (MONEY_FIELDS.has(name) && typeof value === 'number') return money(value);
  if (USER_FIELDS.has(name)) return userName(value);
  if (TIME_FIELDS.has(name) && typeof value === 'number') return dateTime(value);
  if (typeof value === 'boolean') return value ? t('yes') : t('no');
  if (typeof value === 'number') return number(value, 6);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function matches(customer, words) {
  const f = customer.fields;
  const text = [f.name, f.code, f.city, f.territory, f.tax_id, f.phone].filter(Boolean).join(' ').toLowerCase();
  return words.every((w) => text.includes(w));
}

async function renderList(root, params) {
  const search = h('input', {id: 'customer-search', type: 'search', value: params.get('q') || '', autocomplete: 'off'});
  const count = h('p', {class: 'muted', 'aria-live': 'polite'});
  const list = h('div', {class: 'results', 'aria-busy': 'true'}, h('p', {class: 'loading'}, t('loading')));
  replace(root,
    h('h1', {tabindex: '-1'}, t('nav.customers')),
    h('form', {class: 'search', role: 'search', on: {submit: (e) => e.preventDefault()}},
      h('label', {for: search.id}, t('customers.search')), search),
    h('p', null, h('a', {href: '/v1/exports/customers', download: 'customers.csv', id: 'customers-csv'}, t('customers.download'))),
    count, list);
  let customers;
  try {
    customers = (await loadCustomers()).filter((c) => !c.deleted);
  } catch (error) {
    replace(list, errorMessage(error));
    return;
  } finally {
    list.removeAttribute('aria-busy');
  }
  const show = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const found = customers.filter((c) => matches(c, words)).sort((a, b) => String(a.fields.name).localeCompare(String(b.fields.name)));
    count.textContent = t('customers.count', {shown: Math.min(found.length, SHOWN), n: found.length});
    const columns = ['name', 'code', 'city', 'territory', 'tier', 'status', 'owner_id'];
    replace(list, h('div', {class: 'table-wrap', role: 'region', tabindex: '0', 'aria-label': t('nav.customers')},
      h('table', {class: 'report', dataset: {section: 'customers'}},
        h('caption', {class: 'visually-hidden'}, t('nav.customers')),
        h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col'}, columnLabel(c))))),
        h('tbody', null, found.slice(0, SHOWN).map((c) => h('tr', {dataset: {id: c.id}}, columns.map((col) => h('td', {dataset: {column: col}},
          col === 'name' ? h('a', {href: href(['customers', c.id])}, c.fields.name || shortId(c.id)) : fieldText(col, c.fields[col])))))))));
  };
  // The search stays in the address (to share it) without rendering the page again.
  search.addEventListener('input', () => {
    history.replaceState(null, '', href(['customers'], {q: search.value.trim()}));
    show();
  });
  show();
}

/** Every change of each field, newest first: field → [{entry, change}]. */
function historyByField(history) {
  const out = new Map();
  for (const entry of history.entries) {
    for (const change of entry.fields) {
      const field = change.field.split('.')[0];
      if (!out.has(field)) out.set(field, []);
      out.get(field).push({entry, change});
    }
  }
  return out;
}

function who(entry) {
  if (entry.user) return entry.user.email || shortId(entry.user.id);
  return t(`via.${entry.via}`, {via: entry.via});
}

function fieldHistory(name, changes) {
  if (!changes || changes.length === 0) return h('span', {class: 'muted'}, t('customer.noHistory'));
  return h('details', {class: 'field-history'},
    h('summary', null, t('customer.history', {n: changes.length})),
    h('ol', null, changes.map(({entry, change}) => h('li', null,
      h('span', {class: 'when'}, dateTime(entry.received_at ?? entry.device_time)), ' ',
      h('span', {class: 'who'}, who(entry)), entry.device ? ` (${entry.device.name})` : '', ': ',
      h('del', null, fieldText(name, change.old) || t('inbox.unset')), ' → ',
      h('ins', null, fieldText(name, change.new) || t('inbox.unset')),
      change.concurrent?.length ? h('span', {class: 'concurrent'}, ' ', t('customer.concurrent', {values: change.concurrent.map((v) => fieldText(name, v)).join(' | ')})) : null))));
}

function fieldsSection(record, history, historyError) {
  const byField = history ? historyByField(history) : new Map();
  const conflicted = new Map((record.conflicts || []).map((c) => [c.field, c]));
  const names = Object.keys(record.fields).filter((n) => n !== 'deleted');
  return h('section', null,
    h('h2', {id: 'h-fields'}, t('customer.fields')),
    historyError ? errorMessage(historyError) : null,
    history?.next_before != null ? h('p', {class: 'muted'}, t('customer.olderHistory', {n: history.total})) : null,
    h('div', {class: 'table-wrap', role: 'region', tabindex: '0', 'aria-labelledby': 'h-fields'},
      h('table', {class: 'fields'},
        h('thead', null, h('tr', null, [t('customer.field'), t('customer.value'), t('customer.changes')].map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', null, names.map((name) => h('tr', {dataset: {field: name}},
          h('th', {scope: 'row'}, columnLabel(name)),
          h('td', null, fieldText(name, record.fields[name]),
            conflicted.has(name) ? h('span', {class: 'badge'}, ' ', h('a', {href: href(['inbox'])}, t('customer.inConflict'))) : null),
          h('td', null, history ? fieldHistory(name, byField.get(name)) : '')))))));
}

function contactsSection(contacts, refresh) {
  const columns = ['name', 'title', 'phone', 'email', 'buying_role', 'decision_maker'];
  return h('section', null,
    h('h2', {id: 'h-contacts'}, t('customer.contacts'), ` (${contacts.length})`),
    contacts.length === 0 ? h('p', {class: 'muted'}, t('noRows')) : h('div', {class: 'table-wrap', role: 'region', tabindex: '0', 'aria-labelledby': 'h-contacts'},
      h('table', {class: 'report', dataset: {section: 'contacts'}},
        h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col'}, columnLabel(c))))),
        h('tbody', null, contacts.map((c) => h('tr', {dataset: {id: c.id}}, columns.map((col) => h('td', {dataset: {column: col}}, fieldText(col, c.fields[col])))))))),
    contacts.length === 0 ? null : eraseForm(contacts, refresh));
}

/** Erasing a contact on their request: who, and why (kept in the audit trail). */
function eraseForm(contacts, refresh) {
  const who = h('select', {id: 'erase-contact', required: true},
    contacts.map((c) => h('option', {value: c.id}, c.fields.name || shortId(c.id))));
  const reason = h('input', {id: 'erase-reason', type: 'text', required: true, maxlength: 500, autocomplete: 'off'});
  const status = h('p', {class: 'muted', role: 'status'});
  const button = h('button', {type: 'submit', class: 'danger'}, t('customer.erase'));
  return h('form', {class: 'erase', on: {submit: async (e) => {
    e.preventDefault();
    const name = who.selectedOptions[0]?.textContent;
    // Nothing of the person's data can be brought back afterwards.
    if (!reason.value.trim() || !window.confirm(t('customer.confirmErase', {name}))) return;
    button.disabled = true;
    try {
      await post(`/v1/people/${seg(who.value)}/erase`, {reason: reason.value.trim()});
      refresh();
    } catch (error) {
      replace(status, errorMessage(error));
      button.disabled = false;
    }
  }}},
  h('h3', null, t('customer.eraseTitle')),
  h('p', {class: 'muted'}, t('customer.eraseHelp')),
  h('label', {for: who.id}, t('customer.eraseWho')), ' ', who, ' ',
  h('label', {for: reason.id}, t('customer.eraseReason')), ' ', reason, ' ', button, status);
}

/** When a visit or an order happened, for the timeline. */
function momentOf(record) {
  const f = record.fields;
  return record.kind === 'visit'
    ? f.check_in_at ?? f.planned_start ?? record.updated_at
    : f.ordered_at ?? f.submitted_at ?? record.updated_at;
}

function timelineSection(records) {
  const events = records.filter((r) => r.kind === 'visit' || r.kind === 'order')
    .map((r) => ({r, at: momentOf(r)})).sort((a, b) => b.at - a.at);
  return h('section', {'aria-labelledby': 'h-timeline'},
    h('h2', {id: 'h-timeline'}, t('customer.timeline'), ` (${events.length})`),
    events.length === 0 ? h('p', {class: 'muted'}, t('noRows')) : h('ol', {class: 'timeline'}, events.map(({r, at}) => {
      const f = r.fields;
      const line = r.kind === 'visit'
        ? [f.visit_type, f.check_in_result && t(`checkIn.${f.check_in_result}`), f.outcome].filter(Boolean).join(' · ')
        : [money(f.total), Array.isArray(f.lines) ? t('customer.lines', {n: f.lines.length}) : null].filter(Boolean).join(' · ');
      return h('li', {class: `event ${r.kind}`, dataset: {id: r.id, kind: r.kind}},
        h('time', {datetime: new Date(at).toISOString()}, dateTime(at)), ' ',
        h('strong', null, t(`kind.${r.kind}`)), ' ',
        h('span', {class: `status status-${f.status}`}, f.status), ' ',
        f.agent_id ? h('span', {class: 'muted'}, userName(f.agent_id)) : null,
        line ? h('p', null, line) : null);
    })));
}

/** The files the customer's records reference: visits' photos, tickets' evidence, receipts. */
function photosOf(records) {
  const out = [];
  for (const r of records) {
    const f = r.fields;
    for (const item of [...(Array.isArray(f.photos) ? f.photos : []), ...(Array.isArray(f.evidence) ? f.evidence : [])]) {
      if (item?.hash) out.push({hash: item.hash, caption: item.caption, at: item.taken_at ?? momentOf(r), kind: r.kind});
    }
    if (typeof f.receipt === 'string' && f.receipt) out.push({hash: f.receipt, caption: null, at: f.collected_at, kind: r.kind});
  }
  return out;
}

function photosSection(records) {
  const photos = photosOf(records);
  return h('section', {'aria-labelledby': 'h-photos'},
    h('h2', {id: 'h-photos'}, t('customer.photos'), ` (${photos.length})`),
    photos.length === 0 ? h('p', {class: 'muted'}, t('customer.noPhotos')) : h('ul', {class: 'photos'}, photos.map((p) => {
      const caption = p.caption || t('customer.photoOf', {kind: t(`kind.${p.kind}`), date: date(p.at)});
      return h('li', null, h('figure', null,
        h('a', {href: `/v1/attachments/${seg(p.hash)}`, target: '_blank', rel: 'noopener'},
          h('img', {src: `/v1/attachments/${seg(p.hash)}`, alt: caption, loading: 'lazy', width: 240, height: 180})),
        h('figcaption', null, caption)));
    })));
}

function othersLine(related) {
  const counts = new Map();
  for (const r of related) if (!['contact', 'visit', 'order'].includes(r.kind)) counts.set(r.kind, (counts.get(r.kind) || 0) + 1);
  if (counts.size === 0) return null;
  return h('p', {class: 'muted'}, t('customer.also'), ' ', [...counts].map(([kind, n]) => `${t(`kind.${kind}`)}: ${n}`).join(', '));
}

async function renderOne(root, id) {
  const body = h('div', {class: 'results', 'aria-busy': 'true'}, h('p', {class: 'loading'}, t('loading')));
  const heading = h('h1', {tabindex: '-1'}, t('nav.customers'));
  replace(root, h('p', null, h('a', {href: href(['customers'])}, t('customer.back'))), heading, body);
  try {
    const [detail, history] = await Promise.all([
      get(`/v1/records/${seg(id)}`),
      // The history is a heavy read the server may refuse when busy: the page shows without it.
      get(`/v1/records/${seg(id)}/history?limit=1000`).then((v) => ({value: v}), (error) => ({error})),
    ]);
    if (history.error?.status === 401) return;
    const f = detail.fields;
    heading.textContent = f.name || shortId(detail.id);
    const related = detail.related.filter((r) => !r.deleted);
    replace(body,
      h('p', {class: 'customer-meta'}, [f.code, f.territory, f.tier && `${columnLabel('tier')} ${f.tier}`, f.status].filter(Boolean).join(' · '),
        detail.deleted ? h('strong', null, ' ', t('customer.deleted')) : null),
      fieldsSection(detail, history.value, history.error),
      contactsSection(related.filter((r) => r.kind === 'contact'), () => renderOne(root, id)),
      timelineSection(related),
      photosSection(related),
      othersLine(related));
  } catch (error) {
    replace(body, errorMessage(error));
  } finally {
    body.removeAttribute('aria-busy');
  }
}

export function render(root, {parts, params}) {
  return parts[1] ? renderOne(root, parts[1]) : renderList(root, params);
}
