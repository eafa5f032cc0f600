// A report page (sales, visits, pipeline, customer value, retention, receivables, service, leads,
// campaigns, scorecards, sync health): the filters, the charts, then every section of each report
// as a table with its CSV download and the definitions of its figures; the campaign page also
// makes campaigns.

import {h, append, replace} from '../dom.js';
import {get} from '../api.js';
import {t, columnLabel, reportLabel} from '../i18n.js';
import {reportTable, definitionsList} from '../table.js';
import {chart} from '../charts.js';
import {filterForm, reportQuery} from '../filters.js';
import {CHARTS, PAGES, columnKind, columnsOf, sectionNames} from '../reports.js';
import {territoriesOf, userName} from '../lookups.js';
import {errorMessage} from '../errors.js';
import {campaignForm} from './campaign-form.js';

/** A report's address for the query, with `extra` parameters (the CSV's format and section). */
export function reportUrl(report, query, extra) {
  const q = new URLSearchParams(query);
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return `/v1/reports/${report}?${q}`;
}

/** The category labels of a chart's x column: agents by e-mail, the rest as they are. */
function labelsOf(rows, x) {
  return rows.map((row) => (x === 'agent_id' ? userName(row[x]) : String(row[x] ?? '—')));
}

/** The charts configured for a report (reports.js, CHARTS), from its answer. */
function chartsOf(report, body) {
  return (CHARTS[report] || []).filter((c) => body.sections[c.section]).map((c) => {
    const rows = body.sections[c.section];
    const title = t(`chart.${report}.${c.section}`);
    if (c.type === 'pareto') {
      return chart({
        title,
        type: 'bars',
        xLabel: t('chart.rank'),
        labels: rows.map((_, i) => String(i + 1)),
        series: [
          {label: columnLabel('revenue'), values: rows.map((r) => r.revenue), kind: 'money'},
          {label: columnLabel('cumulative_share'), values: rows.map((r) => r.cumulative_share), kind: 'ratio', axis: 'right'},
        ],
      });
    }
    if (c.type === 'ageing') {
      const row = rows[0] || {};
      return chart({
        title,
        type: 'bars',
        xLabel: t('chart.age'),
        labels: c.series.map(columnLabel),
        series: [{label: columnLabel('open'), values: c.series.map((s) => row[s] ?? null), kind: 'money'}],
      });
    }
    return chart({
      title,
      type: c.type,
      xLabel: columnLabel(c.x),
      labels: labelsOf(rows, c.x),
      series: c.series.map((s) => ({label: columnLabel(s), values: rows.map((r) => r[s] ?? null), kind: columnKind(report, s)})),
    });
  });
}

/**
 * Customers by their RFM recency (rows, 5 the most recent) and frequency (columns) scores, counted
 * from the report's customer list (which holds the most valuable customers up to the server's cap;
 * the rfm_segments section counts them all).
 */
function rfmGrid(rows) {
  const counts = Array.from({length: 6}, () => Array(6).fill(0));
  for (const row of rows) if (row.r && row.f) counts[row.r][row.f] += 1;
  const max = Math.max(1, ...counts.flat());
  const scores = [1, 2, 3, 4, 5];
  return h('div', {class: 'table-wrap'}, h('table', {class: 'rfm', dataset: {report: 'customer-value', section: 'rfm_grid'}},
    h('caption', null, t('rfm.caption')),
    h('thead', null, h('tr', null, h('td'), scores.map((f) => h('th', {scope: 'col'}, `${columnLabel('f')} ${f}`)))),
    h('tbody', null, [...scores].reverse().map((r) => h('tr', null,
      h('th', {scope: 'row'}, `${columnLabel('r')} ${r}`),
      scores.map((f) => h('td', {
        class: `num heat-${Math.min(4, Math.floor((counts[r][f] / max) * 5))}`,
        dataset: {r: String(r), f: String(f)},
      }, String(counts[r][f]))))))));
}

/** One report's answer: charts, tables, definitions. */
function renderReport(report, body, query, page) {
  const section = h('section', {class: 'report-block', 'aria-labelledby': `h-${report}`});
  const heading = page.reports.length > 1 ? h('h2', {id: `h-${report}`}, reportLabel(report)) : h('h2', {id: `h-${report}`, class: 'visually-hidden'}, reportLabel(report));
  const charts = chartsOf(report, body);
  append(section, [heading, charts.length ? h('div', {class: 'charts'}, charts) : null]);
  if (page.rfm && report === 'customer-value' && body.sections.customers) section.append(rfmGrid(body.sections.customers));
  for (const name of sectionNames(body)) {
    section.append(reportTable({
      report,
      section: name,
      columns: columnsOf(body, name),
      rows: body.sections[name],
      definitions: body.definitions,
      source: reportUrl(report, query),
      csv: reportUrl(report, query, {format: 'csv', section: name}),
      sortable: Boolean(page.sortable),
    }));
  }
  return append(section, [definitionsList(body.definitions)]);
}

export async function render(root, {route, params, users}) {
  const page = PAGES[route];
  const query = reportQuery(params);
  const results = h('div', {class: 'results', 'aria-busy': 'true'}, h('p', {class: 'loading'}, t('loading')));
  replace(root,
    h('h1', {tabindex: '-1'}, t(`nav.${route}`)),
    filterForm({page: route, params, users, options: page.options}),
    results,
    // Campaigns are made here, beside the report that measures them.
    route === 'campaign' ? campaignForm(territoriesOf(users), () => render(root, {route, params, users})) : null);
  try {
    const bodies = await Promise.all(page.reports.map((r) => get(reportUrl(r, query))));
    replace(results, page.reports.map((r, i) => renderReport(r, bodies[i], query, page)));
  } catch (error) {
    replace(results, errorMessage(error));
  } finally {
    results.removeAttribute('aria-busy');
  }
}
