//! An agent's visits at the customer's door, offline: checking in (graded against the customer's
//! position and the visit type's geofence, at once, on the device) and checking out.

use std::collections::HashMap;

use serde::Serialize;
use sync_core::geo::{self, Geofence, Position};
use sync_core::Value;
use uuid::Uuid;

use crate::replica::{RecordInfo, Replica};
use crate::Error;

/// A check-in as the phone reports it.
#[derive(Debug, Clone)]
pub struct CheckIn {
    pub at: Position,
    /// The phone's accuracy radius, in metres.
    pub accuracy_m: Option<f64>,
    /// The visit type's name; the first active type on the device if not given.
    pub visit_type: Option<String>,
    /// When, in milliseconds since the epoch.
    pub time_ms: i64,
}

/// What a check-in wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedIn {
    pub visit_id: Uuid,
    /// Whether it checked into a visit planned for that day rather than starting an unplanned one.
    pub planned: bool,
    pub distance_m: Option<f64>,
    /// `verified`, `out_of_range` or `unverified`.
    pub result: &'static str,
    /// The visit type's geofence mode: with `hard`, an out-of-range check-in stands as the visit's
    /// result for the manager to see.
    pub geofence: String,
}

/// A visit of the day's plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedVisit {
    pub visit: RecordInfo,
    pub planned_start: Option<i64>,
    /// Its place in the route of the user's visit plan for the day, if it is a stop of one.
    pub stop: Option<i64>,
    /// The name of the visit's customer, if the device holds it.
    pub customer_name: Option<String>,
}

/// How far from its planned start a planned visit still counts as the one being checked into.
const PLANNED_WINDOW_MS: i64 = 12 * 3_600_000;

impl Replica {
    /// Checks in at a customer: into the visit planned there nearest to now (within half a day), or a
    /// new unplanned visit. The check-in's distance and result are computed here, from the records on
    /// the device, so the agent sees them at once, offline.
    pub async fn check_in(&self, customer_id: Uuid, check_in: CheckIn) -> Result<CheckedIn, Error> {
        let customer = self.info(customer_id).await?;
        if customer.kind != "customer" {
            return Err(wrong_kind(customer_id, &customer.kind, "customer"));
        }
        let visit_type = self.visit_type(check_in.visit_type.as_deref()).await?;
        let position = match (customer.f64("lat"), customer.f64("lon")) {
            (Some(lat), Some(lon)) => Some(Position { lat, lon }),
            _ => None,
        };
        let (mode, type_radius, type_name) = match &visit_type {
            Some(t) => (
                t.str("geofence").unwrap_or("off").to_string(),
                t.f64("radius_m"),
                t.str("name").map(str::to_string),
            ),
            None => ("off".to_string(), None, None),
        };
        let fence = Geofence {
            mode: &mode,
            radius_m: customer.f64("geo_radius_m").or(type_radius),
        };
        let (distance, result) = geo::check_in(check_in.at, check_in.accuracy_m, position, fence);
        let session = self.session().await?.ok_or(Error::NotLoggedIn)?;
        let mut fields: Vec<(&str, Value)> = vec![
            ("status", "in_progress".into()),
            ("agent_id", Value::Str(session.user_id.to_string())),
            ("check_in_at", Value::Int(check_in.time_ms)),
            ("check_in_lat", Value::Float(check_in.at.lat)),
            ("check_in_lon", Value::Float(check_in.at.lon)),
            ("check_in_result", result.as_str().into()),
        ];
        if let Some(a) = check_in.accuracy_m {
            fields.push(("check_in_accuracy_m", Value::Float(a)));
        }
        if let Some(d) = distance {
            fields.push(("check_in_distance_m", Value::Float(d)));
        }
        if let Some(name) = type_name {
            fields.push(("visit_type", Value::Str(name)));
        }
        let planned = self.planned_visit(customer_id, check_in.time_ms).await?;
        let visit_id = match planned {
            Some(id) => {
                self.update(id, &fields).await?;
                id
            }
            None => {
                fields.push(("customer_id", Value::Str(customer_id.to_string())));
                self.create("visit", &fields).await?
            }
        };
        Ok(CheckedIn {
            visit_id,
            planned: planned.is_some(),
            distance_m: distance,
            result: result.as_str(),
            geofence: mode,
        })
    }

    /// Checks out of a visit that is in progress: it is completed.
    pub async fn check_out(
        &self,
        visit_id: Uuid,
        at: Option<Position>,
        outcome: Option<&str>,
        time_ms: i64,
    ) -> Result<(), Error> {
        let visit = self.info(visit_id).await?;
        if visit.kind != "visit" {
            return Err(wrong_kind(visit_id, &visit.kind, "visit"));
        }
        if visit.str("status") != Some("in_progress") {
            return Err(Error::NotAllowed {
                code: "not_checked_in",
                message: format!("visit {visit_id} is not in progress: check in first"),
            });
        }
        let mut fields: Vec<(&str, Value)> = vec![
            ("status", "completed".into()),
            ("check_out_at", Value::Int(time_ms)),
        ];
        if let Some(p) = at {
            fields.push(("check_out_lat", Value::Float(p.lat)));
            fields.push(("check_out_lon", Value::Float(p.lon)));
        }
        if let Some(o) = outcome {
            fields.push(("outcome", Value::Str(o.to_string())));
        }
        self.update(visit_id, &fields).await
    }

    /// The day's plan: the visits planned to start in `[from_ms, to_ms)` and the ones in progress,
    /// each with its customer's name. Visits in progress come first; then, where this user has a
    /// visit plan for the day, its stops in route order; then the rest by planned start.
    pub async fn day_plan(&self, from_ms: i64, to_ms: i64) -> Result<Vec<PlannedVisit>, Error> {
        let route = self.route(from_ms, to_ms).await?;
        let mut plan = Vec::new();
        for visit in self.list("visit").await? {
            let start = visit.i64("planned_start");
            let today = start.is_some_and(|s| (from_ms..to_ms).contains(&s));
            match visit.str("status") {
                Some("in_progress") => {}
                Some("planned") if today => {}
                _ => continue,
            }
            let customer = visit
                .str("customer_id")
                .and_then(|id| Uuid::parse_str(id).ok());
            let customer_name = match customer {
                Some(id) => self
                    .info(id)
                    .await
                    .ok()
                    .and_then(|c| c.str("name").map(str::to_string)),
                None => None,
            };
            plan.push(PlannedVisit {
                planned_start: start,
                stop: route.get(&visit.id).copied(),
                customer_name,
                visit,
            });
        }
        plan.sort_by_key(|p| {
            let in_progress = p.visit.str("status") == Some("in_progress");
            (
                !in_progress,
                p.stop.is_none(),
                p.stop,
                p.planned_start.is_some(),
                p.planned_start,
            )
        });
        Ok(plan)
    }

    /// The route of this user's visit plan for the day starting in `[from_ms, to_ms)`: each stop's
    /// visit and its place; empty without a plan.
    async fn route(&self, from_ms: i64, to_ms: i64) -> Result<HashMap<Uuid, i64>, Error> {
        let Some(session) = self.session().await? else {
            return Ok(HashMap::new());
        };
        let me = session.user_id.to_string();
        let mut route = HashMap::new();
        for plan in self
            .query("visit_plan", &[("agent_id", me.as_str())])
            .await?
        {
            if !plan
                .i64("day")
                .is_some_and(|d| (from_ms..to_ms).contains(&d))
            {
                continue;
            }
            let stops = plan.fields.get("stops").and_then(|s| s.as_array());
            for stop in stops.into_iter().flatten() {
                let visit = stop["visit_id"]
                    .as_str()
                    .and_then(|v| Uuid::parse_str(v).ok());
                if let (Some(visit), Some(sequence)) = (visit, stop["sequence"].as_i64()) {
                    route.insert(visit, sequence);
                }
            }
        }
        Ok(route)
    }

    /// The named visit type, or the first active one; None if the device has none.
    async fn visit_type(&self, name: Option<&str>) -> Result<Option<RecordInfo>, Error> {
        let types = match name {
            Some(name) => {
                let found = self.query("visit_type", &[("name", name)]).await?;
                if found.is_empty() {
                    return Err(Error::NotAllowed {
                        code: "unknown_visit_type",
                        message: format!("no visit type `{name}` on this device"),
                    });
                }
                found
            }
            None => self.query("visit_type", &[("active", "1")]).await?,
        };
        Ok(types.into_iter().next())
    }

    /// This customer's planned visit whose start is nearest to `time_ms`, within half a day.
    async fn planned_visit(&self, customer_id: Uuid, time_ms: i64) -> Result<Option<Uuid>, Error> {
        let customer = customer_id.to_string();
        let planned = self
            .query(
                "visit",
                &[("customer_id", customer.as_str()), ("status", "planned")],
            )
            .await?;
        Ok(planned
            .iter()
            .filter_map(|v| {
                let start = v.i64("planned_start")?;
                let off = (start - time_ms).abs();
                (off <= PLANNED_WINDOW_MS).then_some((off, v.id))
            })
            .min()
            .map(|(_, id)| id))
    }
}

pub(crate) fn wrong_kind(id: Uuid, kind: &str, wanted: &str) -> Error {
    Error::NotAllowed {
        code: "wrong_kind",
        message: format!("{id} is a {kind}, not a {wanted}"),
    }
}
