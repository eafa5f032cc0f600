// The overview: the period's key figures with their trend, and the early warnings. Its four reports
// are asked at once and each part is drawn as its answer arrives, sales (the first figures) first
// in practice; the page's own time to its first figures is kept in `data-rendered-ms`.

import {h, replace} from '../dom.js';
import {get} from '../api.js';
import {t, columnLabel} from '../i18n.js';
import {cell} from '../format.js';
import {sparkline} from '../charts.js';
import {reportTable, definitionsList} from '../table.js';
import {filterForm, reportQuery} from '../filters.js';
import {columnKind, columnsOf} from '../reports.js';
import {href} from '../router.js';
import {reportUrl} from './report.js';
import {errorMessage} from '../errors.js';

/**
 * The figures: a summary column of a report, with a sparkline where the report has the column by
 * period (sales, visits and collections), and a second figure beneath.
 */
const FIGURES = [
  {report: 'sales', column: 'revenue', trend: true, sub: 'growth'},
  {report: 'sales', column: 'orders', trend: true, sub: 'lines_per_order'},
  {report: 'sales', column: 'average_order_value', trend: true, sub: 'attainment'},
  {report: 'visits', column: 'completed', trend: true, sub: 'plan_compliance'},
  {report: 'visits', column: 'coverage', sub: 'strike_rate'},
  {report: 'receivables', column: 'balance', sub: 'overdue'},
  {report: 'receivables', column: 'dso', sub: 'cei'},
  {report: 'receivables', column: 'collected', trend: true, sub: 'credit_sales'},
];

const PAGE_OF = {sales: 'sales', visits: 'visits', receivables: 'receivables'};

function figure(spec, body, params, source) {
  const summary = body.sections.summary?.[0] || {};
  const value = summary[spec.column];
  const kind = columnKind(spec.report, spec.column);
  const byPeriod = body.sections.by_period || [];
  const subValue = summary[spec.sub];
  return h('li', {class: 'figure'},
    h('a', {href: href([PAGE_OF[spec.report]], params)},
      h('span', {class: 'figure-label'}, columnLabel(spec.column)),
      h('span', {
        class: 'figure-value',
        dataset: {report: spec.report, section: 'summary', source, row: '0', column: spec.column, value: JSON.stringify(value ?? null)},
      }, value == null ? '—' : cell(kind, value)),
      spec.trend && byPeriod.length > 1
        ? sparkline(byPeriod.map((r) => r[spec.column] ?? null), {label: columnLabel(spec.column), kind, labels: byPeriod.map((r) => r.period)})
        : null,
      h('span', {class: 'figure-sub'}, `${columnLabel(spec.sub)}: ${subValue == null ? '—' : cell(columnKind(spec.report, spec.sub), subValue)}`)));
}

export async function render(root, {params, users}) {
  const started = performance.now();
  const query = reportQuery(params);
  const figures = h('ul', {class: 'figures', 'aria-busy': 'true'});
  const warnings = h('section', {class: 'warnings', 'aria-labelledby': 'h-warnings', 'aria-busy': 'true'},
    h('h2', {id: 'h-warnings'}, t('overview.warnings')), h('p', {class: 'loading'}, t('loading')));
  replace(root,
    h('h1', {tabindex: '-1'}, t('nav.overview')),
    filterForm({page: 'overview', params, users}),
    h('section', {'aria-labelledby': 'h-figures'}, h('h2', {id: 'h-figures'}, t('overview.figures')), figures),
    warnings);

  const slots = new Map(FIGURES.map((spec) => [spec, h('li', {class: 'figure placeholder'}, columnLabel(spec.column))]));
  figures.append(...slots.values());
  const reports = ['sales', 'visits', 'receivables'];
  const parts = reports.map((report) => get(reportUrl(report, query)).then((body) => {
    for (const spec of FIGURES.filter((f) => f.report === report)) {
      const drawn = figure(spec, body, params, reportUrl(report, query));
      slots.get(spec).replaceWith(drawn);
      slots.set(spec, drawn);
    }
    if (report === 'sales' && !root.dataset.renderedMs) {
      root.dataset.renderedMs = String(Math.round(performance.now() - started));
    }
  }).catch((error) => {
    for (const spec of FIGURES.filter((f) => f.report === report)) slots.get(spec).replaceChildren(errorMessage(error));
  }));
  Promise.allSettled(parts).then(() => figures.removeAttribute('aria-busy'));

  try {
    const body = await get(reportUrl('warnings', query));
    const rows = body.sections.warnings || [];
    replace(warnings,
      h('h2', {id: 'h-warnings'}, t('overview.warnings')),
      h('p', null, t('overview.warningCount', {n: rows.length}), ' ',
        h('a', {href: href(['inbox'])}, t('overview.toInbox'))),
      ['warnings', 'summary'].map((section) => reportTable({
        report: 'warnings',
        section,
        columns: columnsOf(body, section),
        rows: body.sections[section] || [],
        definitions: body.definitions,
        source: reportUrl('warnings', query),
        csv: reportUrl('warnings', query, {format: 'csv', section}),
        // The overview shows the first warnings; the rest are a click away.
        firstRows: 15,
      })),
      definitionsList(body.definitions));
  } catch (error) {
    replace(warnings, h('h2', {id: 'h-warnings'}, t('overview.warnings')), errorMessage(error));
  } finally {
    warnings.removeAttribute('aria-busy');
  }
  await Promise.allSettled(parts);
}
