// A customer's campaigns, at the customer's: what each asks and promotes, and the customer's
// response recorded offline (visited, interested, ordered, refused), which also closes the
// campaign's task for the customer, as the SDK's `respond` does.

import { t } from "../i18n.js";
import * as local from "../local.js";
import * as store from "../store.js";
import { h } from "../ui/dom.js";
import { badge } from "../ui/lists.js";
import { edited, state } from "../ui/state.js";

/** Records `response` for campaign member `member`, by this device's user, now; closes its tasks. */
export async function respond(member, response) {
  const now = Date.now();
  await local.update(state.db, state.session, state.schema, member.id, {
    response,
    responded_at: now,
    responded_by: state.session.user_id,
  });
  const tasks = (await store.recordsOf(state.db, "task"))
    .filter((x) => !x.deleted && x.fields.related_id === member.id && x.fields.status === "open");
  for (const task of tasks) {
    await local.update(state.db, state.session, state.schema, task.id, { status: "done", done_at: now });
  }
  edited();
}

/** The running campaigns of the customer `id`, each with its response or the means to record it. */
export async function campaignPanel(id) {
  const members = (await store.recordsOfCustomer(state.db, "campaign_member", id))
    .filter((m) => !m.deleted && m.fields.status === "active");
  if (!members.length) return null;
  const layout = state.schema.kinds.find((k) => k.name === "campaign_member");
  const responses = layout.fields.find((f) => f.name === "response").values;
  const day = (ms) => (typeof ms === "number" ? new Date(ms).toLocaleDateString() : null);
  return h("div", { id: "campaigns" },
    h("h3", { text: t("campaigns") }),
    ...members.map((m) => {
      const f = m.fields;
      const details = [
        f.asks,
        f.products ? `${t("promotes")} ${f.products}` : null,
        f.ends_at ? t("until", { day: day(f.ends_at) }) : null,
        f.contactable === false ? t("not_contactable") : null,
      ].filter(Boolean).join(" · ");
      const line = h("p", {}, h("strong", { text: f.name ?? "?" }), " ", badge(m));
      if (f.response) {
        return h("div", { class: "card", dataset: { id: m.id } }, line, h("p", { class: "muted", text: details }),
          h("p", { class: "response", text: `${t("response")}: ${t(f.response)}` }));
      }
      const select = h("select", { id: `response-${m.id}`, name: "response" },
        ...responses.map((r) => h("option", { value: r, text: t(r) })));
      const record = h("button", { type: "button", class: "record-response", text: t("record_response") });
      record.addEventListener("click", async () => {
        record.disabled = true;
        await respond(m, select.value);
        state.route();
      });
      return h("div", { class: "card", dataset: { id: m.id } }, line, h("p", { class: "muted", text: details }),
        h("div", { class: "toolbar" }, h("label", { for: select.id }, t("response"), select), record));
    }));
}
