// The inbox: what waits for a manager's decision. Alerts, conflicts (every value side by side, who
// wrote it and when, one to keep), held orders, quarantined edits and duplicate customers, each
// decided through the same endpoint an integration would call. After a decision its list is read
// again and the outcome announced in the page's live region.

import {h, replace, announce} from '../dom.js';
import {get, post, seg} from '../api.js';
import {t, columnLabel} from '../i18n.js';
import {dateTime, money, percent, shortId} from '../format.js';
import {href} from '../router.js';
import {loadCustomers, userName} from '../lookups.js';
import {errorMessage, errorText} from '../errors.js';

const names = new Map();

function customerLink(id) {
  if (!id) return '';
  return h('a', {href: href(['customers', id])}, names.get(id) || shortId(id));
}

/** A conflict's value as text: strings as they are, anything else as JSON. */
function valueText(value) {
  if (value == null) return t('inbox.unset');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

/**
 * Runs a decision from a button: the item's buttons are disabled meanwhile, the outcome is
 * announced, and the list is read again.
 */
async function decide(button, request, done, refresh) {
  const item = button.closest('[data-id]');
  const buttons = item.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await request();
    announce(done);
    await refresh();
  } catch (error) {
    buttons.forEach((b) => { b.disabled = false; });
    announce(errorText(error), 'error');
    item.querySelector('.item-error')?.replaceWith(h('p', {class: 'item-error error'}, errorText(error)));
  }
}

function actionButton(action, label, onClick, extra = {}) {
  return h('button', {type: 'button', dataset: {action, ...extra}, on: {click: (e) => onClick(e.currentTarget)}}, label);
}

/** A list that loads itself and can be read again after a decision. */
/**
 * A list of the inbox. `download`: the export of every record of the list's kind the user sees
 * (open or not), for the lists that are records.
 */
function listSection(key, load, item, download = null) {
  const heading = h('h2', {id: `h-${key}`, tabindex: '-1'}, t(`inbox.${key}`));
  // In the list of sections at the top: a button, since a #fragment link would change the route.
  const jump = h('button', {type: 'button', class: 'secondary', on: {click: () => {
    heading.scrollIntoView();
    heading.focus();
  }}}, t(`inbox.${key}`));
  const body = h('div', {class: 'items'}, h('p', {class: 'loading'}, t('loading')));
  const csv = download
    ? h('p', null, h('a', {href: download, download: `${key}.csv`, dataset: {download: key}}, t('inbox.download')))
    : null;
  const section = h('section', {class: 'inbox-section', id: `inbox-${key}`, 'aria-labelledby': `h-${key}`}, heading, csv, body);
  const refresh = async () => {
    section.setAttribute('aria-busy', 'true');
    try {
      const {items, more} = await load();
      heading.textContent = `${t(`inbox.${key}`)} (${items.length}${more ? '+' : ''})`;
      jump.textContent = heading.textContent;
      replace(body,
        items.length === 0 ? h('p', {class: 'muted'}, t('inbox.nothing')) : h('ul', {class: 'cards'}, items.map((x) => item(x, refresh))),
        more ? h('p', {class: 'muted'}, t('inbox.more')) : null);
    } catch (error) {
      replace(body, errorMessage(error));
    } finally {
      section.removeAttribute('aria-busy');
    }
  };
  return {section, jump, refresh};
}

const page = (body, key = 'records') => ({items: body[key], more: Boolean(body.next)});

function alertItem(record, refresh) {
  const f = record.fields;
  const outcome = h('input', {id: `outcome-${record.id}`, type: 'text', maxlength: 100, required: true, value: t('inbox.alertOutcome')});
  return h('li', {class: 'card', dataset: {id: record.id, kind: 'alert'}},
    h('h3', null, t(`alert.${f.code}`), ' · ', customerLink(f.customer_id)),
    f.message ? h('p', null, f.message) : null,
    facts([
      [t('inbox.record'), `${f.record_kind} ${shortId(f.record_id)}`],
      [t('inbox.by'), f.user_id ? userName(f.user_id) : null],
      [t('inbox.raised'), dateTime(f.raised_at)],
    ]),
    h('div', {class: 'inline-form'},
      h('label', {for: outcome.id}, t('inbox.outcome')), outcome,
      actionButton('resolve', t('inbox.resolve'), (b) => {
        if (!outcome.reportValidity()) return;
        decide(b, () => post(`/v1/alerts/${seg(record.id)}/resolve`, {outcome: outcome.value.trim()}), t('inbox.resolved'), refresh);
      })),
    h('p', {class: 'item-error'}));
}

function conflictItem(record, refresh) {
  const f = record.fields;
  let candidates = [];
  try {
    candidates = JSON.parse(f.candidates || '[]');
  } catch {
    // A candidates text that is not JSON leaves nothing to pick; the record link still helps.
  }
  const target = f.record_kind === 'customer' ? customerLink(f.record_id) : `${f.record_kind} ${shortId(f.record_id)}`;
  return h('li', {class: 'card', dataset: {id: record.id, kind: 'conflict'}},
    h('h3', null, t('inbox.conflictOn', {field: columnLabel(f.field), kind: f.record_kind}), ' · ', customerLink(f.customer_id)),
    facts([[t('inbox.record'), target], [t('inbox.raised'), dateTime(f.raised_at)]]),
    h('div', {class: 'candidates', role: 'group', 'aria-label': t('inbox.values')}, candidates.map((c, i) => h('div', {class: 'candidate'},
      h('p', {class: 'candidate-value'}, valueText(c.value)),
      facts([
        [t('inbox.by'), c.user_id ? userName(c.user_id) : t('inbox.unknown')],
        [t('inbox.device'), c.device_id ? shortId(c.device_id) : null],
        // automerge keeps a change's time in seconds.
        [t('inbox.when'), c.at ? dateTime(c.at * 1000) : null],
        [t('inbox.shown'), i === 0 ? t('inbox.shownNow') : null],
      ]),
      actionButton('keep', t('inbox.keepThis'), (b) => decide(b,
        () => post(`/v1/conflicts/${seg(record.id)}/resolve`, {outcome: c.value ?? null}),
        t('inbox.kept', {value: valueText(c.value)}), refresh), {candidate: String(i)})))),
    h('p', {class: 'item-error'}));
}

function orderItem(record, refresh) {
  const f = record.fields;
  const note = h('input', {id: `note-${record.id}`, type: 'text', maxlength: 2000});
  const body = () => (note.value.trim() ? {note: note.value.trim()} : {});
  return h('li', {class: 'card', dataset: {id: record.id, kind: 'order'}},
    h('h3', null, money(f.total), ' · ', customerLink(f.customer_id)),
    f.hold_reason ? h('p', {class: 'hold'}, f.hold_reason) : null,
    facts([
      [t('inbox.agent'), f.agent_id ? userName(f.agent_id) : null],
      [t('inbox.submitted'), dateTime(f.submitted_at)],
      [t('inbox.lines'), Array.isArray(f.lines) ? String(f.lines.length) : null],
      [t('inbox.order'), shortId(record.id)],
    ]),
    h('div', {class: 'inline-form'},
      h('label', {for: note.id}, t('inbox.note')), note,
      actionButton('approve', t('inbox.approve'), (b) => decide(b, () => post(`/v1/orders/${seg(record.id)}/approve`, body()), t('inbox.approved'), refresh)),
      actionButton('reject', t('inbox.reject'), (b) => decide(b, () => post(`/v1/orders/${seg(record.id)}/reject`, body()), t('inbox.rejected'), refresh))),
    h('p', {class: 'item-error'}));
}

function quarantineItem(entry, refresh) {
  return h('li', {class: 'card', dataset: {id: entry.id, kind: 'quarantine'}},
    h('h3', null, `${entry.kind} ${shortId(entry.doc_id)}`),
    h('p', null, entry.reason),
    facts([
      [t('inbox.by'), userName(entry.user_id)],
      [t('inbox.device'), shortId(entry.device_id)],
      [t('inbox.when'), dateTime(entry.created_at)],
      [t('inbox.changes'), String(entry.changes)],
    ]),
    h('div', {class: 'buttons'},
      actionButton('accept', t('inbox.accept'), (b) => decide(b, () => post(`/v1/quarantine/${seg(entry.id)}/accept`), t('inbox.accepted'), refresh)),
      actionButton('reject', t('inbox.reject'), (b) => decide(b, () => post(`/v1/quarantine/${seg(entry.id)}/reject`), t('inbox.rejected'), refresh))),
    h('p', {class: 'item-error'}));
}

const CUSTOMER_FIELDS = ['name', 'code', 'phone', 'tax_id', 'city', 'territory'];

function duplicateItem(candidate, refresh) {
  const group = `survivor-${candidate.id}`;
  const side = (customer, letter, checked) => h('div', {class: 'candidate'},
    h('h4', null, h('a', {href: href(['customers', customer.id])}, customer.name || shortId(customer.id)), ` (${letter})`),
    facts(CUSTOMER_FIELDS.map((k) => [columnLabel(k), customer[k]])),
    h('div', {class: 'radio'},
      h('input', {type: 'radio', name: group, id: `${group}-${letter}`, value: customer.id, checked}),
      h('label', {for: `${group}-${letter}`}, t('inbox.keepAsSurvivor', {letter}))));
  const item = h('li', {class: 'card', dataset: {id: candidate.id, kind: 'duplicate'}},
    h('h3', null, t('inbox.likelyDuplicate', {score: percent(candidate.score)})),
    h('p', null, candidate.reasons.map((r) => t(`reason.${r.code}`)).join(', ')),
    h('div', {class: 'candidates', role: 'group', 'aria-label': t('inbox.survivor')},
      side(candidate.a, 'A', true), side(candidate.b, 'B', false)),
    h('div', {class: 'buttons'},
      actionButton('merge', t('inbox.merge'), (b) => {
        const survivor = item.querySelector(`input[name="${group}"]:checked`).value;
        decide(b, () => post(`/v1/duplicates/${seg(candidate.id)}/merge`, {survivor}), t('inbox.merged'), refresh);
      }),
      actionButton('dismiss', t('inbox.dismiss'), (b) => decide(b, () => post(`/v1/duplicates/${seg(candidate.id)}/dismiss`), t('inbox.dismissed'), refresh))),
    h('p', {class: 'item-error'}));
  return item;
}

export async function render(root) {
  // Customers are named from their list, fetched beside the inbox's own lists.
  const named = loadCustomers().then((list) => {
    for (const c of list) names.set(c.id, c.fields.name);
  }).catch(() => {});
  const load = async (path, key) => {
    const [body] = await Promise.all([get(path), named]);
    return page(body, key);
  };
  const lists = [
    listSection('alerts', () => load('/v1/alerts?status=open&limit=100'), alertItem, '/v1/exports/alert'),
    listSection('conflicts', () => load('/v1/conflicts?status=open&limit=100'), conflictItem, '/v1/exports/conflict'),
    listSection('orders', () => load('/v1/records?kind=order&status=submitted&limit=100'), orderItem, '/v1/exports/order'),
    listSection('quarantine', async () => {
      const [entries] = await Promise.all([get('/v1/quarantine'), named]);
      return {items: entries.filter((e) => e.status === 'pending'), more: false};
    }, quarantineItem),
    listSection('duplicates', () => load('/v1/duplicates?status=open&limit=100', 'candidates'), duplicateItem),
  ];
  replace(root,
    h('h1', {tabindex: '-1'}, t('nav.inbox')),
    h('nav', {class: 'buttons', 'aria-label': t('inbox.sections')}, lists.map((l) => l.jump)),
    lists.map((l) => l.section));
  await Promise.all(lists.map((l) => l.refresh()));
}
