// The report filters every report page shows: period, granularity, territory, agent, segment and
// tier, plus the options of the page's own reports. They live in the address (`#/sales?from=…`);
// applying the form changes the address, and the page renders again from it.

import {h} from './dom.js';
import {t} from './i18n.js';
import {isoDay} from './format.js';
import {navigate} from './router.js';
import {FILTERS, OPTIONS} from './reports.js';
import {loadCustomers, segmentsOf, territoriesOf} from './lookups.js';

/** The default period: the twelve calendar months up to today (the last one so far). */
function defaultPeriod() {
  const today = new Date();
  const from = new Date(today.getFullYear(), today.getMonth() - 11, 1);
  return {from: isoDay(from), to: isoDay(today)};
}

/** The query the reports are asked with: the address's filters, the default period filled in. */
export function reportQuery(params) {
  const query = new URLSearchParams();
  const period = defaultPeriod();
  for (const name of [...FILTERS, ...OPTIONS]) {
    const value = params.get(name) || period[name];
    if (value) query.set(name, value);
  }
  return query;
}

const OPTION_INPUTS = {
  stale_days: {type: 'number', min: 1, max: 3660, step: 1, placeholder: '30'},
  a_share: {type: 'number', min: 0.01, max: 0.99, step: 0.01, placeholder: '0.8'},
  b_share: {type: 'number', min: 0.01, max: 0.99, step: 0.01, placeholder: '0.95'},
  horizon_months: {type: 'number', min: 1, max: 120, step: 1, placeholder: '12'},
  margin: {type: 'number', min: 0.01, max: 1, step: 0.01, placeholder: '1'},
  discount_rate: {type: 'number', min: 0, max: 1, step: 0.01, placeholder: '0.1'},
  cycle_days: {type: 'number', min: 1, max: 3660, step: 1, placeholder: '90'},
};

function field(name, control) {
  return h('div', {class: 'field'}, h('label', {for: control.id}, t(`filter.${name}`)), control);
}

function select(name, value, choices) {
  // A shared address may name a value this user's lists lack: it is kept, not silently dropped.
  if (value && !choices.some(([v]) => v === value)) choices = [...choices, [value, value]];
  const el = h('select', {id: `f-${name}`, name}, choices.map(([v, label]) => h('option', {value: v}, label)));
  el.value = value || '';
  return el;
}

/**
 * The filter form of page `page` (a route name). `users`: GET /v1/users, for the territory and
 * agent choices; `options`: the report-specific parameters the page offers.
 */
export function filterForm({page, params, users, options = []}) {
  const query = reportQuery(params);
  const territories = territoriesOf(users);
  const agents = users.filter((u) => u.role === 'agent');
  const segmentList = h('datalist', {id: 'f-segment-list'});
  const segment = h('input', {id: 'f-segment', name: 'segment', type: 'text', list: 'f-segment-list', value: params.get('segment') || '', autocomplete: 'off'});
  // The suggestions need every customer; fetched only when someone is about to type one.
  segment.addEventListener('focus', () => {
    loadCustomers().then((list) => {
      segmentList.replaceChildren(...segmentsOf(list).map((s) => h('option', {value: s})));
    }).catch(() => {});
  }, {once: true});

  const controls = [
    field('from', h('input', {id: 'f-from', name: 'from', type: 'date', value: query.get('from'), required: true})),
    field('to', h('input', {id: 'f-to', name: 'to', type: 'date', value: query.get('to'), required: true})),
    field('granularity', select('granularity', params.get('granularity') || 'month',
      ['month', 'week', 'day'].map((g) => [g, t(`granularity.${g}`)]))),
    field('territory', select('territory', params.get('territory'),
      [['', t('filter.all')], ...territories.map((name) => [name, name])])),
    field('agent', select('agent', params.get('agent'),
      [['', t('filter.all')], ...agents.map((u) => [u.id, u.email])])),
    h('div', {class: 'field'}, h('label', {for: 'f-segment'}, t('filter.segment')), segment, segmentList),
    field('tier', select('tier', params.get('tier'), [['', t('filter.all')], ['A', 'A'], ['B', 'B'], ['C', 'C']])),
    ...options.map((name) => name === 'measure'
      ? field(name, select(name, params.get(name) || 'revenue', [['revenue', t('measure.revenue')], ['margin', t('measure.margin')]]))
      : field(name, h('input', {id: `f-${name}`, name, value: params.get(name) || '', ...OPTION_INPUTS[name]}))),
  ];
  const form = h('form', {class: 'filters', 'aria-label': t('filters')},
    h('div', {class: 'fields'}, controls),
    h('div', {class: 'actions'},
      h('button', {type: 'submit'}, t('apply')),
      h('button', {type: 'button', class: 'secondary', on: {click: () => navigate([page], {})}}, t('reset'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = {};
    for (const [name, value] of new FormData(form)) values[name] = String(value).trim();
    // The default granularity and measure stay out of the address.
    if (values.granularity === 'month') delete values.granularity;
    if (values.measure === 'revenue') delete values.measure;
    navigate([page], values);
  });
  return form;
}
