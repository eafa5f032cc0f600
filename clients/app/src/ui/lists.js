// The lists of records every screen shows: one line per record (its title, its details, where it
// leads) with the badge that says whether it waits, was refused, or holds two values.

import { t } from "../i18n.js";
import { h } from "./dom.js";

export function badge(rec) {
  if (rec.refused) return h("span", { class: "badge refused", title: rec.refused.message, text: t("refused") });
  if (rec.pending) return h("span", { class: "badge pending", text: t("not_synced") });
  if (rec.conflicts?.length) return h("span", { class: "badge conflict", text: t("conflicts") });
  return null;
}

/**
 * A list (`ul`, or `ol` with `ordered`) with the id `id`, one line per item of `items`, each
 * described by `describe(item)`: `{title, details, href, rec, warn, action}`. `details` are
 * joined with middle dots, empty ones left out; `href` makes the line a link; `rec` adds its
 * badge; `warn` shows the details as an error; `action` is a button at the line's end.
 */
export function recordList(id, items, describe, { ordered = false } = {}) {
  return h(ordered ? "ol" : "ul", { class: "list", id }, ...items.map((item) => {
    const { title, details = [], href, rec, warn, action } = describe(item);
    const body = [
      h("strong", { text: title ?? "?" }),
      h("span", { class: warn ? "error" : "muted", text: details.filter(Boolean).join(" · ") }),
    ];
    return h("li", {}, href ? h("a", { href }, ...body) : h("span", { class: "entry" }, ...body), rec ? badge(rec) : null, action);
  }));
}
