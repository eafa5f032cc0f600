// The visit at the customer's door: check in where the phone stands (graded at once against the
// customer's position), take photos, check out with an outcome.

import { capture } from "../files.js";
import { t } from "../i18n.js";
import * as local from "../local.js";
import { uuidv7 } from "../local.js";
import * as store from "../store.js";
import * as visits from "../visits.js";
import { h } from "../ui/dom.js";
import { kilometres } from "../ui/format.js";
import { edited, state } from "../ui/state.js";

/** The phone's position, `{at: {lat, lon}, accuracy_m}`, or a rejection the panel shows. */
function position() {
  return new Promise((resolve, reject) => {
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ at: { lat: p.coords.latitude, lon: p.coords.longitude }, accuracy_m: p.coords.accuracy }),
      () => reject(new Error(t("position_unavailable"))),
      { enableHighAccuracy: true, timeout: 15_000, maximumAge: 30_000 },
    );
  });
}

function graded(visit) {
  const f = visit.fields;
  const parts = [
    t("checked_in_at", { time: new Date(f.check_in_at).toLocaleTimeString() }),
    typeof f.check_in_distance_m === "number" ? kilometres(f.check_in_distance_m) : null,
    f.check_in_result ? t(f.check_in_result) : null,
  ];
  return parts.filter(Boolean).join(" · ");
}

/** The customer page's visit panel: the visit in progress and its check-out, or the check-in. */
export async function visitPanel(customer) {
  const open = await visits.inProgress(state.db, customer.id);
  const message = h("p", { role: "status", id: "visit-message" });
  const panel = h("div", { class: "panel", id: "visit" }, h("h3", { text: t("visit") }));
  const act = (button, action) => {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await action();
        edited();
        state.route();
      } catch (e) {
        message.textContent = e.message;
        message.className = "error";
        button.disabled = false;
      }
    });
    return button;
  };
  if (open) {
    const outcome = h("input", { id: "outcome", name: "outcome", type: "text", maxlength: 200 });
    panel.append(
      h("p", { id: "checked-in", class: open.fields.check_in_result === "out_of_range" ? "warn" : null, text: graded(open) }),
      await photos(open, message),
      h("label", { for: "outcome" }, t("outcome"), outcome),
      act(h("button", { type: "button", id: "check-out", text: t("check_out") }), async () => {
        let at = null;
        try {
          at = (await position()).at;
        } catch {
          // A check-out without a position is still a check-out.
        }
        await visits.checkOut(state.db, state.session, state.schema, open.id, {
          at,
          outcome: outcome.value.trim() || null,
          time_ms: Date.now(),
        });
      }),
    );
  } else {
    panel.append(act(h("button", { type: "button", id: "check-in", text: t("check_in") }), async () => {
      message.textContent = t("locating");
      const here = await position();
      await visits.checkIn(state.db, state.session, state.schema, customer.id, { ...here, time_ms: Date.now() });
    }));
  }
  panel.append(message);
  return panel;
}

/** The visit's photos (each waiting, refused with the server's reason, or uploaded) and the
 * camera button that adds one, with its caption, to the visit. */
async function photos(visit, message) {
  const waiting = new Map((await store.files(state.db)).map((f) => [f.hash, f]));
  const caption = h("input", { id: "photo-caption", name: "caption", type: "text", maxlength: 200 });
  const input = h("input", { id: "photo", type: "file", accept: "image/*", capture: "environment", class: "hidden" });
  input.addEventListener("change", async () => {
    const [picked] = input.files;
    if (!picked) return;
    try {
      const file = await capture(picked);
      const item = { id: uuidv7(), hash: file.hash, taken_at: Date.now() };
      if (caption.value.trim()) item.caption = caption.value.trim();
      const items = [...(visit.fields.photos ?? []), item];
      await local.update(state.db, state.session, state.schema, visit.id, { photos: items }, [file]);
      edited();
      state.route();
    } catch (e) {
      message.textContent = e.message;
      message.className = "error";
    }
  });
  const status = (hash) => {
    const file = waiting.get(hash);
    if (!file) return t("photo_uploaded");
    return file.refused ? `${file.refused.code}: ${file.refused.message}` : t("photo_waiting");
  };
  return h("div", {},
    h("ul", { class: "list", id: "photos" }, ...(visit.fields.photos ?? []).map((p) =>
      h("li", {}, h("span", { text: p.caption ?? t("photos") }),
        h("span", { class: waiting.get(p.hash)?.refused ? "error" : "muted", text: status(p.hash) })))),
    h("label", { for: "photo-caption" }, t("caption"), caption),
    h("label", { class: "button secondary", for: "photo", id: "add-photo" }, t("add_photo"), input),
  );
}
