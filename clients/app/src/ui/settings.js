// The company's settings for a screen that needs them (the currency, the discount limits): a
// device that has not received them yet shows why the screen cannot open.

import * as orders from "../orders.js";
import { h, show } from "./dom.js";
import { state } from "./state.js";

/** The settings, or null after showing the reason in place of the screen. */
export async function settingsOrExplain() {
  try {
    return await orders.settings(state.db);
  } catch (e) {
    show(h("section", { class: "card" }, h("p", { class: "error", role: "alert", text: e.message })));
    return null;
  }
}
