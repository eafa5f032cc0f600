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
