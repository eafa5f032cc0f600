// Signing in: a device of this browser, the schema, then the first sync.

import * as api from "../api.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { h, show } from "../ui/dom.js";
import { state, sync } from "../ui/state.js";

export function signIn() {
  const error = h("p", { class: "error", role: "alert", text: state.message });
  const form = h("form", { class: "card", id: "signin" },
    h("h2", { text: t("sign_in") }),
    h("label", {}, t("email"), h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    h("label", {}, t("password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    error,
    h("button", { type: "submit", text: t("sign_in") }),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      const previous = await store.getMeta(state.db, "device");
      const login = await api.login(String(data.get("email")).trim().toLowerCase(), String(data.get("password")), previous);
      const session = { ...login, email: String(data.get("email")).trim().toLowerCase() };
      state.schema = await api.schema(session);
      await store.setMeta(state.db, "session", session);
      await store.setMeta(state.db, "device", { device_id: login.device_id, device_secret: login.device_secret });
      await store.setMeta(state.db, "schema", state.schema);
      state.session = session;
      state.message = "";
      location.hash = "#/customers";
      await sync();
    } catch (err) {
      error.textContent = `${err.code ?? "network"}: ${err.message}`;
    }
  });
  show(form);
}
