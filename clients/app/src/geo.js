// The distance between two positions, by the formula the server grades check-ins with
// (sync-core/src/geo.rs): haversine on a sphere of the earth's mean radius.

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (deg) => (deg * Math.PI) / 180;

/** The great-circle distance between `{lat, lon}` positions, in metres. */
export function distanceM(a, b) {
  const lat1 = rad(a.lat);
  const lat2 = rad(b.lat);
  const dlat = lat2 - lat1;
  const dlon = rad(b.lon - a.lon);
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(lat1) * Math.cos(lat2) * Math.sin(dlon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(Math.sqrt(h), 1));
}

/**
 * Grades a check-in at `at` (reported with `accuracyM`, the phone's 68% confidence radius)
 * against the customer's position (null when it has none) and the geofence `{mode, radius_m}`
 * (the visit type's mode; the customer's radius, or else the visit type's), as the server does
 * (sync-core/src/geo.rs): `{distance_m, result}`, the distance null without a customer position
 * and the result `verified`, `out_of_range` or `unverified`.
 */
export function checkIn(at, accuracyM, customer, fence) {
  if (!customer) return { distance_m: null, result: "unverified" };
  const distance = distanceM(at, customer);
  const radius = fence.radius_m;
  let result = "unverified";
  if (fence.mode !== "off" && typeof radius === "number" && radius > 0) {
    if (typeof accuracyM === "number" && accuracyM > radius) result = "unverified";
    else result = distance <= radius ? "verified" : "out_of_range";
  }
  return { distance_m: distance, result };
}
