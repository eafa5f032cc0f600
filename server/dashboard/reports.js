// What the dashboard knows about the reports beyond their JSON (which gives each section's columns
// in order, in its `layout`): what each column holds, so that it is formatted right: money in
// integer minor units, ratios shown as percentages, times in milliseconds, ids. A column this file
// does not name is shown as a number.

const MONEY = new Set([
  'revenue', 'revenue_prior_year', 'average_order_value', 'target', 'margin', 'amount',
  'weighted', 'forecast', 'won_amount', 'lost_amount', 'average_deal_size', 'on_account',
  'balance', 'current', 'days_1_30', 'days_31_60', 'days_61_90', 'days_90_plus', 'overdue',
  'credit_sales', 'credit_limit', 'expected_value', 'clv', 'sales_target', 'collected',
  'collections_target', 'value_developed', 'budget', 'cost_per_conversion', 'member_revenue',
  'comparison_revenue', 'lift', 'incremental_revenue',
]);

const RATIO = new Set([
  'growth', 'attainment', 'share', 'numeric_distribution', 'plan_compliance', 'verified_rate',
  'unplanned_share', 'strike_rate', 'coverage', 'frequency_compliance', 'win_rate',
  'win_rate_value', 'conversion', 'cumulative_share', 'churn_rate', 'retention_rate',
  'revenue_churn', 'win_back_rate', 'credit_utilisation', 'sales_attainment',
  'collections_attainment', 'complaint_rate', 'p_alive', 'mean_p_alive', 'reach_rate',
  'response_rate', 'conversion_rate', 'return_on_budget',
]);

const TIME = new Set(['last_order', 'last_visit', 'last_sync', 'revoked_at', 'fitted_at', 'starts_at', 'ends_at']);

const ID = new Set(['customer_id', 'agent_id', 'product_id', 'device_id', 'subject_id', 'campaign_id']);

/** Columns whose meaning differs in one report: `open` counts deals in the pipeline but is money
 * in receivables; the CLV model's parameters want more digits than other decimals. */
const OVERRIDES = {
  receivables: {open: 'money'},
  clv: {r: 'precise', alpha: 'precise', a: 'precise', b: 'precise', p: 'precise', q: 'precise', gamma: 'precise'},
};

/**
 * The warnings' `value` is what each rule measured: a time for open alerts and conflicts, an
 * amount for receivables, a share for a drop in sales; days, an index or hours otherwise.
 */
const WARNING_VALUES = {
  open_alert: 'time',
  open_conflict: 'time',
  receivable_overdue_60: 'money',
  over_credit_limit: 'money',
  sales_down: 'ratio',
};

/** How a value of a row is shown, where it depends on the row (see WARNING_VALUES). */
export function cellKind(report, column, row) {
  if (report === 'warnings' && column === 'value') return WARNING_VALUES[row.rule] || 'number';
  return columnKind(report, column);
}

/** How a column's values are shown: money, ratio, time, id or number. */
export function columnKind(report, column) {
  const special = OVERRIDES[report]?.[column];
  if (special) return special;
  if (MONEY.has(column)) return 'money';
  if (RATIO.has(column)) return 'ratio';
  if (TIME.has(column)) return 'time';
  if (ID.has(column)) return 'id';
  return 'number';
}

const AGEING = ['current', 'days_1_30', 'days_31_60', 'days_61_90', 'days_90_plus'];

/** A report's sections in the server's order (its answer's `layout`). */
export function sectionNames(body) {
  return body.layout.map((l) => l.section);
}

/** A section's columns in the server's order. */
export function columnsOf(body, section) {
  return body.layout.find((l) => l.section === section)?.columns || [];
}

/** The charts each report's page draws; the tables below them stay the source of truth. */
export const CHARTS = {
  sales: [{section: 'by_period', x: 'period', type: 'line', series: ['revenue', 'revenue_prior_year']}],
  pipeline: [{section: 'by_stage', x: 'stage', type: 'bars', series: ['amount', 'weighted']}],
  'customer-value': [{section: 'customers', type: 'pareto'}],
  retention: [{section: 'by_period', x: 'period', type: 'line', series: ['new', 'lost', 'won_back']}],
  receivables: [
    {section: 'summary', type: 'ageing', series: AGEING},
    {section: 'by_period', x: 'period', type: 'bars', series: ['credit_sales', 'collected']},
  ],
  service: [{section: 'by_period', x: 'period', type: 'bars', series: ['opened', 'resolved']}],
  leads: [{section: 'by_cohort', x: 'cohort', type: 'bars', series: ['leads', 'converted']}],
  campaign: [{section: 'by_campaign', x: 'campaign', type: 'bars', series: ['members', 'reached', 'converted']}],
  visits: [
    {section: 'by_period', x: 'period', type: 'line', series: ['planned', 'completed']},
    {section: 'by_agent', x: 'agent_id', type: 'bars', series: ['plan_compliance', 'strike_rate']},
  ],
};

/** Report pages: the route, the reports it shows, and the report-specific parameters it offers. */
export const PAGES = {
  sales: {reports: ['sales']},
  visits: {reports: ['visits']},
  pipeline: {reports: ['pipeline'], options: ['stale_days']},
  'customer-value': {reports: ['customer-value', 'clv'], options: ['measure', 'a_share', 'b_share', 'horizon_months', 'margin', 'discount_rate'], rfm: true},
  retention: {reports: ['retention'], options: ['cycle_days']},
  receivables: {reports: ['receivables']},
  service: {reports: ['service']},
  leads: {reports: ['leads']},
  campaign: {reports: ['campaign']},
  scorecard: {reports: ['scorecard'], sortable: true},
  'sync-health': {reports: ['sync-health']},
};

/** Every query parameter the reports take besides `format` and `section`. */
export const FILTERS = ['from', 'to', 'granularity', 'territory', 'agent', 'segment', 'tier'];
export const OPTIONS = ['stale_days', 'measure', 'a_share', 'b_share', 'horizon_months', 'margin', 'discount_rate', 'cycle_days'];
