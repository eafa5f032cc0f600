// The agent's day: the visit under way, the visits planned for today in the order of the day's
// route (where a manager planned one), and the open tasks, the overdue first.

import { t } from "../i18n.js";
import * as local from "../local.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { state, sync } from "../ui/state.js";
import { badge } from "./customers.js";

const DAY_MS = 86_400_000;

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
  const visits = (await store.recordsOf(state.db, "visit"))
    .filter((v) => !v.deleted)
    .filter((v) => v.fields.status === "in_progress" ||
      (v.fields.status === "planned" && v.fields.planned_start >= from && v.fields.planned_start < to))
    .sort((a, b) =>
      (a.fields.status === "in_progress" ? 0 : 1) - (b.fields.status === "in_progress" ? 0 : 1) ||
      (stops.get(a.id) ?? Infinity) - (stops.get(b.id) ?? Infinity) ||
      (a.fields.planned_start ?? 0) - (b.fields.planned_start ?? 0));
  const names = new Map();
  for (const v of visits) {
    const c = await store.record(state.db, v.fields.customer_id);
    names.set(v.id, c?.fields.name ?? v.fields.customer_id);
  }
  const me = state.session.user_id;
  const tasks = (await store.recordsOf(state.db, "task"))
    .filter((x) => !x.deleted && x.fields.status === "open")
    .filter((x) => !x.fields.assignee_id || x.fields.assignee_id === me)
    .sort((a, b) => (a.fields.due_at ?? Infinity) - (b.fields.due_at ?? Infinity));
  const time = (ms) => (typeof ms === "number" ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "");
  const done = (task) => async () => {
    await local.update(state.db, state.session, state.schema, task.id, { status: "done", done_at: Date.now() });
    if (navigator.onLine) sync();
    state.route();
  };
  show(h("section", { class: "card", id: "today" },
    h("h2", { text: t("today") }),
    h("h3", { text: t("visits") }),
    visits.length
      ? h("ol", { class: "list", id: "plan" }, ...visits.map((v) => h("li", {},
          h("a", { href: `#/customer/${v.fields.customer_id}` },
            h("strong", { text: names.get(v.id) }),
            h("span", { class: "muted", text: [time(v.fields.planned_start), t(v.fields.status), v.fields.visit_type].filter(Boolean).join(" · ") })),
          badge(v))))
      : h("p", { class: "muted", text: t("no_visits_today") }),
    h("h3", { text: t("tasks") }),
    tasks.length
      ? h("ul", { class: "list", id: "tasks" }, ...tasks.map((x) => h("li", {},
          h("a", { href: `#/edit/${x.id}` },
            h("strong", { text: x.fields.title }),
            h("span", { class: x.fields.due_at < from ? "error" : "muted", text: [x.fields.due_at ? new Date(x.fields.due_at).toLocaleDateString() : null, x.fields.priority ? t(x.fields.priority) : null].filter(Boolean).join(" · ") })),
          badge(x),
          h("button", { type: "button", class: "secondary", onclick: done(x), "aria-label": `${t("done")}: ${x.fields.title}`, text: t("done") }))))
      : h("p", { class: "muted", text: t("no_tasks") }),
    h("div", { class: "toolbar" }, h("a", { class: "button secondary", href: "#/new-task", id: "new-task", text: t("new_task") })),
  ));
}
