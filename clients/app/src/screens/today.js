// The agent's day: the visit under way, the visits planned for today in the order of the day's
// route (where a manager planned one), the customers overdue for a visit by their tier's policy,
// and the open tasks, the overdue first.

import { t } from "../i18n.js";
import * as local from "../local.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { recordList } from "../ui/lists.js";
import { edited, state } from "../ui/state.js";

const DAY_MS = 86_400_000;
/** Overdue customers listed at most: the longest unvisited first. */
const OVERDUE_SHOWN = 50;

/**
 * The customers overdue for a visit at `now` (`visits` being every visit on the phone), by the
 * definition of the visits report: a tier policy covers their tier, and their last completed
 * visit is longer ago than period_days / visits_per_period, or they were never visited. Each
 * `{rec, last}`, never visited and then the longest unvisited first.
 */
async function overdue(visits, now) {
  const every = new Map();
  for (const p of await store.recordsOf(state.db, "tier_policy")) {
    const { tier, period_days, visits_per_period } = p.fields;
    if (!p.deleted && visits_per_period > 0) every.set(tier, (period_days / visits_per_period) * DAY_MS);
  }
  if (!every.size) return [];
  const last = new Map();
  for (const v of visits) {
    const at = v.fields.check_out_at ?? v.fields.check_in_at;
    if (v.fields.status !== "completed" || typeof at !== "number") continue;
    if (!(last.get(v.fields.customer_id) >= at)) last.set(v.fields.customer_id, at);
  }
  return state.customers
    .map(({ rec }) => ({ rec, last: last.get(rec.id) ?? null, every: every.get(rec.fields.tier) }))
    .filter((c) => c.every !== undefined && (c.last === null || now - c.last > c.every))
    .sort((a, b) => (a.last ?? -Infinity) - (b.last ?? -Infinity))
    .slice(0, OVERDUE_SHOWN);
}

/** Today's visit plan stops of this agent: visit id to its place in the route. */
async function route(from, to) {
  const plans = await store.recordsOf(state.db, "visit_plan");
  const stops = new Map();
  for (const plan of plans) {
    if (plan.deleted || plan.fields.agent_id !== state.session.user_id) continue;
    if (!(plan.fields.day >= from && plan.fields.day < to)) continue;
    for (const stop of plan.fields.stops ?? []) stops.set(stop.visit_id, stop.sequence);
  }
  return stops;
}

export async function todayPage() {
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  const from = start.getTime();
  const to = from + DAY_MS;
  const stops = await route(from, to);
  const all = (await store.recordsOf(state.db, "visit")).filter((v) => !v.deleted);
  const visits = all
    .filter((v) => v.fields.status === "in_progress" ||
      (v.fields.status === "planned" && v.fields.planned_start >= from && v.fields.planned_start < to))
    .sort((a, b) =>
      (a.fields.status === "in_progress" ? 0 : 1) - (b.fields.status === "in_progress" ? 0 : 1) ||
      (stops.get(a.id) ?? Infinity) - (stops.get(b.id) ?? Infinity) ||
      (a.fields.planned_start ?? 0) - (b.fields.planned_start ?? 0));
  // The customers' names from the list the app holds already.
  const names = new Map(state.customers.map(({ rec }) => [rec.id, rec.fields.name]));
  const late = await overdue(all, Date.now());
  const me = state.session.user_id;
  const tasks = (await store.recordsOf(state.db, "task"))
    .filter((x) => !x.deleted && x.fields.status === "open")
    .filter((x) => !x.fields.assignee_id || x.fields.assignee_id === me)
    .sort((a, b) => (a.fields.due_at ?? Infinity) - (b.fields.due_at ?? Infinity));
  const time = (ms) => (typeof ms === "number" ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "");
  const done = (task) => async () => {
    await local.update(state.db, state.session, state.schema, task.id, { status: "done", done_at: Date.now() });
    edited();
    state.route();
  };
  show(h("section", { class: "card", id: "today" },
    h("h2", { text: t("today") }),
    h("h3", { text: t("visits") }),
    visits.length
      ? recordList("plan", visits, (v) => ({
          title: names.get(v.fields.customer_id) ?? v.fields.customer_id,
          details: [time(v.fields.planned_start), t(v.fields.status), v.fields.visit_type],
          href: `#/customer/${v.fields.customer_id}`,
          rec: v,
        }), { ordered: true })
      : h("p", { class: "muted", text: t("no_visits_today") }),
    h("h3", { text: t("overdue") }),
    late.length
      ? recordList("overdue", late, ({ rec, last }) => ({
          title: rec.fields.name,
          details: [rec.fields.tier, last === null ? t("never_visited") : t("days_since", { n: Math.floor((Date.now() - last) / DAY_MS) })],
          href: `#/customer/${rec.id}`,
        }))
      : h("p", { class: "muted", text: t("no_overdue") }),
    h("h3", { text: t("tasks") }),
    tasks.length
      ? recordList("tasks", tasks, (x) => ({
          title: x.fields.title,
          details: [x.fields.due_at ? new Date(x.fields.due_at).toLocaleDateString() : null, x.fields.priority ? t(x.fields.priority) : null],
          href: `#/edit/${x.id}`,
          rec: x,
          warn: x.fields.due_at < from,
          action: h("button", { type: "button", class: "secondary", onclick: done(x), "aria-label": `${t("done")}: ${x.fields.title}`, text: t("done") }),
        }))
      : h("p", { class: "muted", text: t("no_tasks") }),
    h("div", { class: "toolbar" }, h("a", { class: "button secondary", href: "#/new-task", id: "new-task", text: t("new_task") })),
  ));
}
