//! `GET /v1/reports/{report}`: managers' reports over the projection tables, restricted to the
//! caller's scope. JSON by default; one section as CSV with `Accept: text/csv` or `?format=csv`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use sync_core::protocol::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::{now_ms, BuildWith};
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::QueryParams;
use crate::reports::sql::Ctx;
use crate::reports::{self, RawFilters, Report, ReportBody, Scope};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sales))
        .routes(routes!(visits))
        .routes(routes!(pipeline))
        .routes(routes!(customer_value))
        .routes(routes!(clv))
        .routes(routes!(retention))
        .routes(routes!(receivables))
        .routes(routes!(service))
        .routes(routes!(scorecard))
        .routes(routes!(warnings))
        .routes(routes!(sync_health))
        .routes(routes!(leads))
        .routes(routes!(campaign))
}

#[derive(Clone, Copy)]
enum Which {
    Sales,
    Visits,
    Pipeline,
    CustomerValue,
    Clv,
    Retention,
    Receivables,
    Service,
    Scorecard,
    Warnings,
    SyncHealth,
    Leads,
    Campaign,
}

/// The territory a `territory` filter names; the nil id (which no record has) when none has that
/// name, so the report is empty rather than unfiltered.
async fn territory_named(conn: &impl ConnectionTrait, name: &str) -> Result<Uuid, Error> {
    let q = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("territories"))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .to_owned();
    Ok(match conn.query_one(q.build_with(conn)).await? {
        Some(row) => row.try_get("", "id")?,
        None => Uuid::nil(),
    })
}

fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, Error> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(Error::bad_request(
            "invalid_parameter",
            "`format`: expected json or csv",
        )),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}

async fn answer(
    state: &AppState,
    who: &Principal,
    which: Which,
    raw: RawFilters,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let csv = wants_csv(raw.format.as_deref(), headers)?;
    let now = now_ms();
    let filters = raw.parse(now)?;
    let _slot = state.report_slot().await?;
    let conn = &state.db.conn;
    let territory = match &filters.territory {
        Some(name) => Some(territory_named(conn, name).await?),
        None => None,
    };
    let scope = Scope::of(who);
    let ctx = Ctx {
        conn,
        scope: &scope,
        filters: &filters,
        territory,
    };
    let report: Report = match which {
        Which::Sales => reports::sales::report(&ctx).await?,
        Which::Visits => reports::visits::report(&ctx).await?,
        Which::Pipeline => reports::pipeline::report(&ctx).await?,
        Which::CustomerValue => reports::customer_value::report(&ctx).await?,
        Which::Clv => reports::clv::report(&ctx, &state.clv_fits).await?,
        Which::Retention => reports::retention::report(&ctx).await?,
        Which::Receivables => reports::receivables::report(&ctx).await?,
        Which::Service => reports::service::report(&ctx).await?,
        Which::Scorecard => reports::scorecard::report(&ctx).await?,
        Which::Warnings => reports::warnings::report(&ctx, &state.clv_fits, now).await?,
        Which::SyncHealth => reports::sync_health::report(&ctx, now).await?,
        Which::Leads => reports::leads::report(&ctx).await?,
        Which::Campaign => reports::campaign::report(&ctx).await?,
    };
    if csv {
        let body = report.csv()?;
        let name = format!(
            "attachment; filename=\"{}-{}.csv\"",
            report.name,
            report
                .filters
                .section
                .as_deref()
                .unwrap_or(report.sections[0].0)
        );
        let mut response = body.into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&name) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        return Ok(response);
    }
    // A section that does not exist is a mistake in JSON too.
    report.chosen()?;
    Ok(Json(report.json()).into_response())
}

macro_rules! report_endpoint {
    ($fn:ident, $path:literal, $which:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(get, path = $path, tag = "reports",
            params(RawFilters),
            responses(
                (status = 200, description = "The report: JSON, or one section as CSV",
                    content((ReportBody = "application/json"), (String = "text/csv"))),
                (status = 400, description = "A filter that does not parse (`invalid_parameter`, naming it; `invalid_query`)", body = ErrorBody),
                (status = 401, description = "No valid token", body = ErrorBody),
                (status = 503, description = "Every report slot stayed taken (`server_busy`, with `Retry-After`)", body = ErrorBody),
            ),
            security(("bearer" = [])))]
        async fn $fn(
            State(state): State<AppState>,
            who: Principal,
            headers: HeaderMap,
            QueryParams(raw): QueryParams<RawFilters>,
        ) -> Result<Response, Error> {
            answer(&state, &who, $which, raw, &headers).await
        }
    };
}

report_endpoint!(
    sales,
    "/v1/reports/sales",
    Which::Sales,
    "Sales: revenue, orders, average order value and lines per order by period, agent, territory, product, category and segment; growth on the year before; attainment of revenue targets."
);
report_endpoint!(
    visits,
    "/v1/reports/visits",
    Which::Visits,
    "Visits: plan compliance, verified check-ins, unplanned share, visits per field day, duration, strike rate, coverage, frequency compliance per tier, overdue customers."
);
report_endpoint!(
    pipeline,
    "/v1/reports/pipeline",
    Which::Pipeline,
    "Pipeline: open opportunities by stage with weighted value, forecast, win rates, deal size, sales cycle, stage conversion, stale deals."
);
report_endpoint!(
    customer_value,
    "/v1/reports/customer-value",
    Which::CustomerValue,
    "Customer value: ABC (Pareto) grades by trailing-twelve-month revenue or margin as gold, iron and lead, migrations between grades, RFM scores and segments."
);
report_endpoint!(
    clv,
    "/v1/reports/clv",
    Which::Clv,
    "Customer lifetime value: BG/NBD and Gamma-Gamma fitted to the company's orders; per customer the purchases still expected, P(alive), the expected value of a purchase and the discounted value of the coming months."
);
report_endpoint!(
    retention,
    "/v1/reports/retention",
    Which::Retention,
    "Retention: per period the customers at its start, new (a repeat purchase in a later cycle), lost (a lapse past their usual gap) and won back, with churn, retention, revenue churn and win-back rates."
);
report_endpoint!(
    receivables,
    "/v1/reports/receivables",
    Which::Receivables,
    "Receivables: open amounts by due date (ageing), DSO, collection effectiveness, credit utilisation per customer."
);
report_endpoint!(
    service,
    "/v1/reports/service",
    Which::Service,
    "Service: tickets by category and severity, time to resolve, complaint rate and the satisfaction index, by period, territory and owner."
);
report_endpoint!(
    scorecard,
    "/v1/reports/scorecard",
    Which::Scorecard,
    "Agent scorecards: sales and collections against targets, visit plan compliance, new and churned customers, satisfaction and value developed of owned customers."
);
report_endpoint!(
    warnings,
    "/v1/reports/warnings",
    Which::Warnings,
    "Early warnings, one row per hit: quiet A customers, overdue visits, unhappy customers, receivables past 60 days or over the credit limit, agents whose sales fell, open alerts and conflicts, devices that stopped syncing."
);
report_endpoint!(
    sync_health,
    "/v1/reports/sync-health",
    Which::SyncHealth,
    "Sync health: devices in scope with their last sync, lag behind the feed and quarantined edits; open alerts and conflicts."
);
report_endpoint!(
    leads,
    "/v1/reports/leads",
    Which::Leads,
    "Leads: of the leads met in the period, how many were converted into customers, disqualified or are still open, and how long conversion took, by cohort (month met), source, owner and territory."
);
report_endpoint!(
    campaign,
    "/v1/reports/campaign",
    Which::Campaign,
    "Campaigns: of each campaign running in the period, its members, whom it reached and how they responded, the customers it converted, the revenue and margin attributed to it, its cost per conversion and return on its budget, and its members' revenue against a comparable group of customers outside it."
);
