// The generic report table: one section of a report as a <table>, every cell carrying its column,
// its row and its raw JSON value (`data-column`, `data-row`, `data-value`) so that what is shown can
// be checked against the API. A section of one row (a summary) is shown turned on its side, one
// figure per line, which reads better than a single row of fourteen columns on a tablet.

import {h} from './dom.js';
import {t, columnLabel, sectionLabel, reportLabel} from './i18n.js';
import {cell as formatCell} from './format.js';
import {cellKind} from './reports.js';
import {href} from './router.js';
import {userName} from './lookups.js';

/** Rows shown before a "Show all" button: a customer list can hold a thousand rows. */
const FIRST_ROWS = 50;

const NUMERIC = new Set(['money', 'ratio', 'number', 'precise']);

/** The content of one cell: links for customers, agents by e-mail, the rest formatted. */
function content(report, column, row) {
  const value = row[column];
  const kind = cellKind(report, column, row);
  if (value == null) return '';
  if (column === 'customer_id' || (column === 'subject_id' && row.subject_kind === 'customer')) {
    return h('a', {href: href(['customers', value]), title: value}, formatCell('id', value));
  }
  if (column === 'name' && row.customer_id) return h('a', {href: href(['customers', row.customer_id])}, String(value));
  if (column === 'subject' && row.subject_kind === 'customer' && row.subject_id) {
    return h('a', {href: href(['customers', row.subject_id])}, String(value));
  }
  if (column === 'agent_id') return h('span', {title: value}, userName(value));
  if (kind === 'id') return h('code', {title: value}, formatCell('id', value));
  return formatCell(kind, value);
}

function td(report, column, row, index) {
  const kind = cellKind(report, column, row);
  const numeric = NUMERIC.has(kind) && (row[column] == null || typeof row[column] === 'number');
  return h('td', {
    class: numeric ? 'num' : null,
    dataset: {column, row: String(index), value: JSON.stringify(row[column] ?? null)},
  }, content(report, column, row));
}

/** Orders two values, `direction` 1 or -1; empty values last either way. */
function compare(a, b, direction) {
  if (a == null) return b == null ? 0 : 1;
  if (b == null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return direction * (a - b);
  return direction * String(a).localeCompare(String(b));
}

/**
 * One section as a table.
 * report, section: names; columns: the section's, in order; rows: the JSON rows; definitions: column → text;
 * source: the JSON URL the rows came from; csv: the CSV download URL (or null);
 * sortable: headers are buttons that sort the rows; firstRows: rows shown before "Show all".
 */
export function reportTable({report, section, columns, rows, definitions = {}, source, csv, sortable = false, firstRows = FIRST_ROWS}) {
  const table = h('table', {
    class: 'report',
    dataset: {report, section, source},
  }, h('caption', null, sectionLabel(section)));
  const more = h('button', {type: 'button', class: 'secondary', hidden: true});

  if (rows.length === 1 && !sortable && columns.length > 4) {
    table.dataset.layout = 'columns';
    table.append(h('tbody', null, columns.map((column) => h('tr', null,
      h('th', {scope: 'row', title: definitions[column] || null}, columnLabel(column)),
      td(report, column, rows[0], 0)))));
  } else {
    let order = rows.map((row, i) => ({row, i}));
    let shown = Math.min(rows.length, firstRows);
    const body = h('tbody');
    const fill = () => {
      body.replaceChildren();
      if (rows.length === 0) {
        body.append(h('tr', null, h('td', {colspan: columns.length, class: 'empty'}, t('noRows'))));
      }
      for (const {row, i} of order.slice(0, shown)) {
        body.append(h('tr', null, columns.map((c) => td(report, c, row, i))));
      }
      more.hidden = shown >= rows.length;
      more.textContent = t('showAllRows', {n: rows.length});
    };
    more.addEventListener('click', () => {
      shown = rows.length;
      fill();
    });
    const headers = columns.map((column) => h('th', {scope: 'col', title: definitions[column] || null, dataset: {column}},
      sortable ? h('button', {type: 'button', class: 'sort'}, columnLabel(column)) : columnLabel(column)));
    if (sortable) {
      headers.forEach((th, k) => th.firstChild.addEventListener('click', () => {
        const descending = th.getAttribute('aria-sort') !== 'descending';
        for (const other of headers) other.removeAttribute('aria-sort');
        th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
        order = rows.map((row, i) => ({row, i}))
          .sort((a, b) => compare(a.row[columns[k]], b.row[columns[k]], descending ? -1 : 1) || a.i - b.i);
        fill();
      }));
    }
    table.append(h('thead', null, h('tr', null, headers)), body);
    fill();
  }
  // A region that takes focus, so that a keyboard can scroll a wide table sideways; named with its
  // report, since two reports on one page both have a summary.
  const wrap = h('div', {class: 'table-wrap', role: 'region', tabindex: '0', 'aria-label': `${reportLabel(report)}: ${sectionLabel(section)}`}, table);
  return h('div', {class: 'report-section'}, wrap, more,
    csv ? h('a', {class: 'csv', href: csv, download: `${report}-${section}.csv`}, t('downloadCsv', {section: sectionLabel(section)})) : null);
}

/** The report's definitions, as an expandable list. */
export function definitionsList(definitions) {
  const entries = Object.entries(definitions || {});
  if (entries.length === 0) return null;
  return h('details', {class: 'definitions'},
    h('summary', null, t('definitions')),
    h('dl', null, entries.map(([column, text]) => [
      h('dt', null, columnLabel(column), ' ', h('code', null, column)),
      h('dd', null, text),
    ])));
}
