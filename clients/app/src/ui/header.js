// The bar above every screen: the app's name, the day, the customers, the leads, the sync link, the
// language, and whether the phone is offline.

import { t, toggle } from "../i18n.js";
import { h } from "./dom.js";
import { state } from "./state.js";

export function renderHeader() {
  const header = document.getElementById("header");
  if (!state.session) {
    header.replaceChildren(h("h1", { text: t("app") }));
    return;
  }
  header.replaceChildren(
    h("h1", {}, h("a", { href: "#/customers", text: t("app") })),
    h("nav", {},
      h("a", { href: "#/today", id: "today-link", text: t("today") }),
      h("a", { href: "#/customers", id: "customers-link", text: t("customers") }),
      h("a", { href: "#/leads", id: "leads-link", text: t("leads") }),
      h("a", { href: "#/sync", id: "sync-link", text: state.syncing ? t("syncing") : t("sync") }),
      h("button", { type: "button", class: "link", id: "language", onclick: () => { toggle(); state.route(); }, text: t("language") }),
    ),
  );
  if (!navigator.onLine) header.append(h("p", { class: "offline", role: "status", text: t("offline") }));
}
