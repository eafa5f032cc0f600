//! Visits: a check-in graded against the customer's position and the visit type's geofence, and
//! one that is out of range, or that would need its agent to travel faster than a car since their
//! previous check-in (or that is ahead of the server's clock), raises an alert.

use sea_orm::ConnectionTrait;
use sync_core::geo::{self, CheckInResult, Geofence, Position};
use sync_core::kinds::{CUSTOMER, VISIT};
use sync_core::record::Projection;
use sync_core::Value;
use uuid::Uuid;

use super::queries::{previous_check_in, row_of, visit_type};
use super::{alert, customer_of, Actions, Pusher};
use crate::db::now_ms;
use crate::error::Error;

/// A check-in this far ahead of the server's clock is implausible, in milliseconds.
const CLOCK_SLACK_MS: i64 = 10 * 60 * 1000;

pub(super) async fn visit(
    conn: &impl ConnectionTrait,
    by: Pusher,
    id: Uuid,
    p: &Projection,
    actions: &mut Actions,
) -> Result<(), Error> {
    let (Some(lat), Some(lon), Some(at)) = (
        float(p.get("check_in_lat")),
        float(p.get("check_in_lon")),
        p.get("check_in_at").as_i64(),
    ) else {
        return Ok(());
    };
    let Some(customer) = customer_of(&VISIT, id, p) else {
        return Ok(());
    };
    let here = Position { lat, lon };
    let place = row_of(
        conn,
        CUSTOMER.table,
        customer,
        &["lat", "lon", "geo_radius_m"],
    )
    .await?;
    let customer_at = match (place.get("lat"), place.get("lon")) {
        (Some(Some(lat)), Some(Some(lon))) => Some(Position {
            lat: *lat,
            lon: *lon,
        }),
        _ => None,
    };
    let (mode, type_radius) = match p.get("visit_type").as_str() {
        Some(name) => visit_type(conn, name).await?,
        None => (None, None),
    };
    let mode = mode.unwrap_or_else(|| "off".to_string());
    let radius = place.get("geo_radius_m").copied().flatten().or(type_radius);
    let fence = Geofence {
        mode: &mode,
        radius_m: radius,
    };
    let (distance, result) = geo::check_in(
        here,
        float(p.get("check_in_accuracy_m")),
        customer_at,
        fence,
    );
    if p.get("check_in_result").as_str() != Some(result.as_str()) {
        actions.set(id, &VISIT, "check_in_result", result.as_str().into());
        if let Some(d) = distance {
            actions.set(id, &VISIT, "check_in_distance_m", Value::Float(d));
        }
    }
    if result == CheckInResult::OutOfRange {
        let message = format!(
            "checked in {:.0} m from the customer; the {} geofence allows {:.0} m",
            distance.unwrap_or_default(),
            mode,
            radius.unwrap_or_default()
        );
        alert(
            actions,
            customer,
            (id, &VISIT),
            "check_in_out_of_range",
            message,
            by,
        );
    }
    let mut implausible = None;
    if at > now_ms() + CLOCK_SLACK_MS {
        implausible = Some("the check-in's time is ahead of the server's clock".to_string());
    } else if let Some(agent) = p
        .get("agent_id")
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
    {
        if let Some((before, before_at)) = previous_check_in(conn, agent, id, at).await? {
            if let Some(kmh) = geo::implausible_speed(before, before_at, here, at) {
                implausible = Some(format!(
                    "the agent would have travelled at {kmh:.0} km/h since their previous check-in"
                ));
            }
        }
    }
    if let Some(message) = implausible {
        alert(
            actions,
            customer,
            (id, &VISIT),
            "implausible_check_in",
            message,
            by,
        );
    }
    Ok(())
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}
