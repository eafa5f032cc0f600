// What the dashboard knows about the reports beyond their JSON: the order of each section's
// columns (the JSON rows are objects, whose keys arrive sorted by name, while the server's CSV and
// sources keep a meaningful order) and what each column holds, so that it is formatted right:
// money in integer minor units, ratios shown as percentages, times in milliseconds, ids.
// A column this file does not name is still shown, after the known ones.

const MONEY = new Set([
  'revenue', 'revenue_prior_year', 'average_order_value', 'target', 'margin', 'amount',
  'weighted', 'forecast', 'won_amount', 'lost_amount', 'average_deal_size', 'on_account',
  'balance', 'current', 'days_1_30', 'days_31_60', 'days_61_90', 'days_90_plus', 'overdue',
  'credit_sales', 'credit_limit', 'expected_value', 'clv', 'sales_target', 'collected',
  'collections_target', 'value_developed',
]);

const RATIO = new Set([
  'growth', 'attainment', 'share', 'numeric_distribution', 'plan_compliance', 'verified_rate',
  'unplanned_share', 'strike_rate', 'coverage', 'frequency_compliance', 'win_rate',
  'win_rate_value', 'conversion', 'cumulative_share', 'churn_rate', 'retention_rate',
  'revenue_churn', 'win_back_rate', 'credit_utilisation', 'sales_attainment',
  'collections_attainment', 'complaint_rate', 'p_alive', 'mean_p_alive',
]);

const TIME = new Set(['last_order', 'last_visit', 'last_sync', 'revoked_at', 'fitted_at']);

const ID = new Set(['customer_id', 'agent_id', 'product_id', 'device_id', 'subject_id']);

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

const SERVICE_FIGURES = ['opened', 'complaints', 'resolved', 'mean_hours_to_resolve', 'rated', 'satisfaction_index', 'open_now'];
const AGEING = ['current', 'days_1_30', 'days_31_60', 'days_61_90', 'days_90_plus'];

/** Each report's sections in the server's order, with their columns in the server's order. */
export const SECTIONS = {
  sales: {
    summary: ['revenue', 'orders', 'lines', 'average_order_value', 'lines_per_order', 'revenue_prior_year', 'growth', 'target', 'attainment'],
    by_period: ['period', 'revenue', 'orders', 'average_order_value', 'lines_per_order', 'revenue_prior_year', 'growth'],
    by_agent: ['agent_id', 'agent', 'revenue', 'orders', 'average_order_value', 'target', 'attainment'],
    by_territory: ['territory', 'revenue', 'orders', 'target', 'attainment'],
    by_product: ['product_id', 'sku', 'name', 'category', 'quantity', 'revenue', 'customers', 'numeric_distribution', 'units_per_customer'],
    by_category: ['category', 'revenue', 'orders', 'share'],
    by_segment: ['segment', 'revenue', 'orders', 'share'],
  },
  visits: {
    summary: ['planned', 'planned_done', 'plan_compliance', 'check_ins', 'verified_rate', 'completed', 'unplanned_share', 'field_days', 'visits_per_field_day', 'average_minutes', 'strike_rate', 'coverage'],
    by_agent: ['agent_id', 'planned', 'planned_done', 'plan_compliance', 'check_ins', 'verified_rate', 'completed', 'unplanned_share', 'visits_per_field_day', 'average_minutes', 'strike_rate'],
    frequency: ['tier', 'customers', 'compliant', 'frequency_compliance'],
    overdue: ['customer_id', 'name', 'tier', 'last_visit', 'days_since_visit'],
  },
  pipeline: {
    summary: ['open', 'amount', 'weighted', 'forecast', 'won', 'won_amount', 'lost', 'lost_amount', 'win_rate', 'win_rate_value', 'average_deal_size', 'cycle_days_mean', 'cycle_days_median', 'stale'],
    by_stage: ['stage', 'open', 'amount', 'weighted'],
    conversion: ['stage', 'reached', 'conversion'],
  },
  'customer-value': {
    summary: ['tier', 'metal', 'customers', 'revenue', 'share'],
    customers: ['customer_id', 'name', 'revenue', 'margin', 'orders', 'last_order', 'recency_days', 'cumulative_share', 'tier', 'metal', 'previous_tier', 'r', 'f', 'm', 'rfm', 'segment'],
    migrations: ['previous_tier', 'tier', 'customers'],
    rfm_segments: ['segment', 'customers', 'revenue'],
  },
  clv: {
    summary: ['customers', 'clv', 'mean_p_alive', 'fitted_customers', 'fitted_repeat_buyers', 'fitted_at', 'r', 'alpha', 'a', 'b', 'p', 'q', 'gamma'],
    customers: ['customer_id', 'name', 'repeat_purchases', 'recency_weeks', 'age_weeks', 'p_alive', 'expected_purchases', 'expected_value', 'clv'],
  },
  retention: {
    by_period: ['period', 'customers_at_start', 'new', 'lost', 'won_back', 'customers_at_end', 'churn_rate', 'retention_rate', 'revenue_churn', 'win_back_rate'],
  },
  receivables: {
    summary: ['open', 'on_account', 'balance', ...AGEING, 'overdue', 'credit_sales', 'dso', 'cei'],
    by_customer: ['customer_id', 'name', 'credit_limit', 'open', 'on_account', 'balance', ...AGEING, 'overdue', 'credit_utilisation'],
  },
  service: {
    summary: ['opened', 'complaints', 'complaint_rate', 'resolved', 'mean_hours_to_resolve', 'rated', 'satisfaction_index', 'open_now'],
    by_category: ['category_severity', ...SERVICE_FIGURES],
    by_period: ['period', ...SERVICE_FIGURES],
    by_territory: ['territory', ...SERVICE_FIGURES],
    by_owner: ['owner', ...SERVICE_FIGURES],
  },
  scorecard: {
    agents: ['agent_id', 'agent', 'revenue', 'sales_target', 'sales_attainment', 'collected', 'collections_target', 'collections_attainment', 'plan_compliance', 'new_customers', 'churned_customers', 'satisfaction_index', 'value_developed'],
  },
  warnings: {
    warnings: ['rule', 'subject_kind', 'subject_id', 'subject', 'value', 'detail'],
    summary: ['rule', 'hits'],
  },
  'sync-health': {
    summary: ['devices', 'stale', 'quarantined', 'outbox', 'open_alerts', 'open_conflicts'],
    devices: ['device_id', 'device', 'user', 'role', 'last_sync', 'revoked_at', 'hours_since_sync', 'lag', 'quarantined', 'outbox', 'app_version'],
  },
};

/** The sections of a report's answer, in the server's order where known, then any others. */
export function sectionNames(report, body) {
  const known = Object.keys(SECTIONS[report] || {}).filter((s) => s in body.sections);
  return known.concat(Object.keys(body.sections).filter((s) => !known.includes(s)));
}

/** A section's columns: the known order, then any the rows hold that it does not name. */
export function columnsOf(report, section, rows) {
  const known = SECTIONS[report]?.[section] || [];
  const seen = new Set(known);
  const extra = [];
  for (const row of rows.slice(0, 1)) {
    for (const key of Object.keys(row)) if (!seen.has(key)) extra.push(key);
  }
  return known.concat(extra);
}

/** The charts each report's page draws; the tables below them stay the source of truth. */
export const CHARTS = {
  sales: [{section: 'by_period', x: 'period', type: 'line', series: ['revenue', 'revenue_prior_year']}],
  pipeline: [{section: 'by_stage', x: 'stage', type: 'bars', series: ['amount', 'weighted']}],
  'customer-value': [{section: 'customers', type: 'pareto'}],
  retention: [{section: 'by_period', x: 'period', type: 'line', series: ['new', 'lost', 'won_back']}],
  receivables: [{section: 'summary', type: 'ageing', series: AGEING}],
  service: [{section: 'by_period', x: 'period', type: 'bars', series: ['opened', 'resolved']}],
  visits: [{section: 'by_agent', x: 'agent_id', type: 'bars', series: ['plan_compliance', 'strike_rate']}],
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
  scorecard: {reports: ['scorecard'], sortable: true},
  'sync-health': {reports: ['sync-health']},
};

/** Every query parameter the reports take besides `format` and `section`. */
export const FILTERS = ['from', 'to', 'granularity', 'territory', 'agent', 'segment', 'tier'];
export const OPTIONS = ['stale_days', 'measure', 'a_share', 'b_share', 'horizon_months', 'margin', 'discount_rate', 'cycle_days'];
