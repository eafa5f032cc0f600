// The sync screen: last sync, changes waiting, refused records with the server's reason,
// conflicts, and signing out.

import { language, t } from "../i18n.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { forget, state, sync } from "../ui/state.js";

/** Where a record is shown: an order on its page, a customer's other records on the customer's. */
function where(rec) {
  if (rec.kind === "order") return `#/order/${rec.id}`;
  return `#/customer/${rec.customer ?? rec.id}`;
}

export async function syncPage() {
  const last = await store.getMeta(state.db, "last_sync");
  const restored = await store.getMeta(state.db, "restored_at");
  const waiting = await store.pending(state.db);
  const all = state.customers.map((c) => c.rec);
  const refused = waiting.filter((r) => r.refused).concat(all.filter((r) => r.refused && !r.pending));
  const conflicted = all.filter((r) => r.conflicts?.length);
  const files = await store.files(state.db);
  const refusedFiles = files.filter((f) => f.refused);
  show(
    h("section", { class: "card", id: "sync" },
      h("h2", { text: t("sync") }),
      h("p", { id: "sync-message", role: "status", text: state.message }),
      h("table", {}, h("tbody", {},
        h("tr", {}, h("th", { text: t("last_sync") }), h("td", { id: "last-sync", text: last ? new Date(last).toLocaleString(language()) : t("never") })),
        restored ? h("tr", {}, h("th", { text: t("restored_at") }), h("td", { id: "restored-at", text: new Date(restored).toLocaleString(language()) })) : null,
        h("tr", {}, h("th", { text: t("waiting") }), h("td", { id: "waiting", text: String(waiting.length) })),
        h("tr", {}, h("th", { text: t("photos_waiting") }), h("td", { id: "photos-waiting", text: String(files.length - refusedFiles.length) })),
      )),
      h("button", { type: "button", id: "sync-now", disabled: !!state.syncing, onclick: () => sync(), text: state.syncing ? t("syncing") : t("sync_now") }),
      h("h3", { text: t("refused") }),
      refused.length || refusedFiles.length
        ? h("ul", { class: "list", id: "refused" },
            ...refused.map((r) =>
              h("li", {}, h("a", { href: where(r), text: `${t(r.kind)}: ${r.fields.name ?? r.fields.sku ?? r.id}` }), h("span", { class: "error", text: ` ${r.refused.code}: ${r.refused.message}` }))),
            ...refusedFiles.map((f) =>
              h("li", {}, h("span", { text: `${t("photos")}: ${f.hash.slice(0, 12)}…` }), h("span", { class: "error", text: ` ${f.refused.code}: ${f.refused.message}` }))))
        : h("p", { class: "muted", text: t("no_refusals") }),
      h("h3", { text: t("conflicts") }),
      conflicted.length
        ? h("ul", { class: "list", id: "conflicted" }, ...conflicted.map((r) =>
            h("li", {}, h("a", { href: `#/customer/${r.id}`, text: r.fields.name ?? r.id }),
              ...r.conflicts.map((c) => h("span", { class: "muted", text: ` ${c.field}: ${c.values.map(String).join(" | ")}` })))))
        : h("p", { class: "muted", text: t("no_conflicts") }),
      h("p", { class: "muted", text: `${state.session.email} · ${state.session.role} · ${state.session.territories.join(", ")}` }),
      h("button", { type: "button", class: "secondary", id: "sign-out", onclick: signOut, text: t("sign_out") }),
    ),
  );
}

async function signOut() {
  await store.wipe(state.db);
  await forget();
  location.hash = "#/";
  state.route();
}
