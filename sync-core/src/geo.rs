//! Where a check-in happened compared with where the customer is: the distance between two positions
//! and the rule that grades a check-in. The device runs it to show the agent at once; it lives here so
//! that the server can hold check-ins to the same rule.
//!
//! The distance is the haversine formula on a sphere of the earth's mean radius: within 0.5% of the
//! ellipsoidal distance, far finer than a phone's position. One formula does not justify a geometry
//! crate and its dependencies.

/// The earth's mean radius (IUGG), in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

/// The great-circle distance between two positions, in metres.
pub fn distance_m(a: Position, b: Position) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    // `min` keeps rounding from taking asin out of its domain for antipodal points.
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// How a check-in compares with the customer's position (the values of a visit's
/// `check_in_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInResult {
    /// Within the radius.
    Verified,
    /// Farther than the radius.
    OutOfRange,
    /// Not comparable: the customer has no position, the visit type no geofence, or the phone's
    /// position is less precise than the radius it is held to.
    Unverified,
}

impl CheckInResult {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckInResult::Verified => "verified",
            CheckInResult::OutOfRange => "out_of_range",
            CheckInResult::Unverified => "unverified",
        }
    }
}

/// What the check-in is held to: the geofence mode of the visit type (`off`, `soft`, `hard`) and
/// the radius in metres (the customer's own, or else the visit type's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geofence<'a> {
    pub mode: &'a str,
    pub radius_m: Option<f64>,
}

/// Grades a check-in at `at` (reported with `accuracy_m`, the phone's 68% confidence radius) against
/// the customer's position. Returns the distance when both positions are known.
pub fn check_in(
    at: Position,
    accuracy_m: Option<f64>,
    customer: Option<Position>,
    fence: Geofence,
) -> (Option<f64>, CheckInResult) {
    let Some(customer) = customer else {
        return (None, CheckInResult::Unverified);
    };
    let distance = distance_m(at, customer);
    let result = match fence.radius_m {
        Some(radius) if fence.mode != "off" && radius > 0.0 => {
            if accuracy_m.is_some_and(|a| a > radius) {
                CheckInResult::Unverified
            } else if distance <= radius {
                CheckInResult::Verified
            } else {
                CheckInResult::OutOfRange
            }
        }
        _ => CheckInResult::Unverified,
    };
    (Some(distance), result)
}

/// The fastest a field agent plausibly travels between two check-ins, in km/h: a car on a
/// motorway. Faster means a position or a clock that cannot be trusted.
pub const MAX_PLAUSIBLE_KMH: f64 = 200.0;

/// The speed in km/h an agent must have travelled at to check in at `a` at `a_ms` and at `b` at
/// `b_ms` (milliseconds), when it is above [`MAX_PLAUSIBLE_KMH`]; None when it is plausible. Two
/// check-ins at the same time count as plausible only at the same place (within 1 km).
pub fn implausible_speed(a: Position, a_ms: i64, b: Position, b_ms: i64) -> Option<f64> {
    let km = distance_m(a, b) / 1_000.0;
    let hours = (b_ms - a_ms).unsigned_abs() as f64 / 3_600_000.0;
    if hours == 0.0 {
        return (km > 1.0).then_some(f64::INFINITY);
    }
    let kmh = km / hours;
    (kmh > MAX_PLAUSIBLE_KMH).then_some(kmh)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: Position = Position {
        lat: 52.5200,
        lon: 13.4050,
    };
    const HAMBURG: Position = Position {
        lat: 53.5511,
        lon: 9.9937,
    };

    #[test]
    fn a_trip_faster_than_a_car_is_implausible() {
        let hour = 3_600_000;
        // Berlin to Hamburg (255 km) in two hours is a motorway; in one hour it is not.
        assert_eq!(implausible_speed(BERLIN, 0, HAMBURG, 2 * hour), None);
        let kmh = implausible_speed(BERLIN, 0, HAMBURG, hour).unwrap();
        assert!((250.0..260.0).contains(&kmh), "{kmh}");
        // Order does not matter, and the same instant is only plausible at the same place.
        assert!(implausible_speed(HAMBURG, hour, BERLIN, 0).is_some());
        assert_eq!(implausible_speed(BERLIN, 5, BERLIN, 5), None);
        assert!(implausible_speed(BERLIN, 5, HAMBURG, 5).is_some());
    }

    #[test]
    fn distances_match_known_figures() {
        // Berlin to Hamburg is 255 km as the crow flies.
        let d = distance_m(BERLIN, HAMBURG);
        assert!((254_000.0..256_500.0).contains(&d), "{d}");
        assert_eq!(distance_m(BERLIN, BERLIN), 0.0);
        // A thousandth of a degree of latitude is 111 m everywhere.
        let north = Position {
            lat: BERLIN.lat + 0.001,
            ..BERLIN
        };
        assert!((111.0..111.4).contains(&distance_m(BERLIN, north)));
        // Antipodes: half the circumference, and no NaN.
        let far = distance_m(
            Position { lat: 0.0, lon: 0.0 },
            Position {
                lat: 0.0,
                lon: 180.0,
            },
        );
        assert!((far - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1.0);
    }

    #[test]
    fn check_ins_are_graded_against_the_radius() {
        let fence = Geofence {
            mode: "soft",
            radius_m: Some(200.0),
        };
        let near = Position {
            lat: BERLIN.lat + 0.001,
            ..BERLIN
        };
        assert_eq!(
            check_in(near, Some(10.0), Some(BERLIN), fence).1,
            CheckInResult::Verified
        );
        let (d, r) = check_in(HAMBURG, Some(10.0), Some(BERLIN), fence);
        assert_eq!(r, CheckInResult::OutOfRange);
        assert!(d.unwrap() > 250_000.0);
        // A position vaguer than the radius proves nothing either way.
        assert_eq!(
            check_in(near, Some(500.0), Some(BERLIN), fence).1,
            CheckInResult::Unverified
        );
        // No customer position, no geofence, or no radius: unverified, with what distance there is.
        assert_eq!(
            check_in(near, None, None, fence),
            (None, CheckInResult::Unverified)
        );
        let off = Geofence {
            mode: "off",
            radius_m: Some(200.0),
        };
        assert_eq!(
            check_in(HAMBURG, None, Some(BERLIN), off).1,
            CheckInResult::Unverified
        );
        let no_radius = Geofence {
            mode: "hard",
            radius_m: None,
        };
        assert_eq!(
            check_in(HAMBURG, None, Some(BERLIN), no_radius).1,
            CheckInResult::Unverified
        );
    }
}
