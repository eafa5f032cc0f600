// An agent's visits at the customer's door, offline, as the Rust SDK makes them
// (clients/sdk/src/visits.rs): a check-in graded at once on the phone against the customer's
// position and the visit type's geofence (the server grades it again by the same rule), into
// the visit planned there within half a day or a new unplanned one; then the check-out.

import { FieldError, live, recordOf } from "./field.js";
import { checkIn as grade } from "./geo.js";
import * as local from "./local.js";
import * as store from "./store.js";

/** How far from its planned start a planned visit still counts as the one being checked into. */
const PLANNED_WINDOW_MS = 12 * 3_600_000;

/** The named visit type, or the first active one; null when the device holds none. */
export async function visitType(db, name) {
  const types = await live(db, "visit_type");
  if (name) {
    const found = types.find((t) => t.fields.name === name);
    if (!found) throw new FieldError("unknown_visit_type", `no visit type \`${name}\` on this device`);
    return found;
  }
  return types.find((t) => t.fields.active === true) ?? null;
}

/** The customer's visit in progress, if there is one. */
export async function inProgress(db, customerId) {
  const visits = await store.recordsOfCustomer(db, "visit", customerId);
  return visits.find((v) => !v.deleted && v.fields.status === "in_progress") ?? null;
}

/**
 * Checks in at a customer at `{at: {lat, lon}, accuracy_m, visit_type, time_ms}`; answers
 * `{visit, planned, distance_m, result, geofence}`.
 */
export async function checkIn(db, session, schema, customerId, { at, accuracy_m, visit_type, time_ms }) {
  const customer = await recordOf(db, customerId, "customer");
  const type = await visitType(db, visit_type);
  const { lat, lon, geo_radius_m } = customer.fields;
  const position = typeof lat === "number" && typeof lon === "number" ? { lat, lon } : null;
  const mode = type?.fields.geofence ?? "off";
  const fence = { mode, radius_m: geo_radius_m ?? type?.fields.radius_m ?? null };
  const { distance_m, result } = grade(at, accuracy_m ?? null, position, fence);
  const fields = {
    status: "in_progress",
    agent_id: session.user_id,
    check_in_at: time_ms,
    check_in_lat: at.lat,
    check_in_lon: at.lon,
    check_in_result: result,
  };
  if (typeof accuracy_m === "number") fields.check_in_accuracy_m = accuracy_m;
  if (distance_m !== null) fields.check_in_distance_m = distance_m;
  if (type) fields.visit_type = type.fields.name;
  const planned = (await store.recordsOfCustomer(db, "visit", customerId))
    .filter((v) => !v.deleted && v.fields.status === "planned" && typeof v.fields.planned_start === "number")
    .map((v) => ({ v, off: Math.abs(v.fields.planned_start - time_ms) }))
    .filter(({ off }) => off <= PLANNED_WINDOW_MS)
    .sort((a, b) => a.off - b.off || (a.v.id < b.v.id ? -1 : 1))[0]?.v;
  const visit = planned
    ? await local.update(db, session, schema, planned.id, fields)
    : await local.create(db, session, schema, "visit", { ...fields, customer_id: customerId });
  return { visit, planned: !!planned, distance_m, result, geofence: mode };
}

/** Checks out of a visit in progress, at `{at, outcome, time_ms}`: it is completed. */
export async function checkOut(db, session, schema, visitId, { at, outcome, time_ms }) {
  const visit = await recordOf(db, visitId, "visit");
  if (visit.fields.status !== "in_progress") {
    throw new FieldError("not_checked_in", `visit ${visitId} is not in progress: check in first`);
  }
  const fields = { status: "completed", check_out_at: time_ms };
  if (at) {
    fields.check_out_lat = at.lat;
    fields.check_out_lon = at.lon;
  }
  if (outcome) fields.outcome = outcome;
  return local.update(db, session, schema, visitId, fields);
}
