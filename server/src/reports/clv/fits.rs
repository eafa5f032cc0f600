//! Fitted models, cached per day of the calibration's end: a fit reads every customer's purchases,
//! so it is made once and reused, and refreshed in the background for today rather than per
//! request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::model::{BgNbd, GammaGamma};
use super::{purchases, summaries};
use crate::db::{now_ms, Db};
use crate::error::Error;
use crate::reports::filters::{RawFilters, DAY_MS};
use crate::reports::sql::Ctx;
use crate::reports::Scope;

/// Fits kept: today's and a few past days' that reports asked about.
const KEPT: usize = 8;
/// How often today's fit is made again.
const REFRESH: Duration = Duration::from_secs(3_600);

/// The models fitted to every customer's purchases up to `end`.
#[derive(Debug, Clone)]
pub struct Fit {
    pub end: i64,
    pub bg_nbd: BgNbd,
    /// None where too few customers bought again to fit it.
    pub gamma_gamma: Option<GammaGamma>,
    pub customers: usize,
    pub repeat_buyers: usize,
    pub fitted_at: i64,
}

/// Gamma-Gamma needs repeat buyers to say anything.
const MIN_REPEAT_BUYERS: usize = 10;

#[derive(Default)]
pub struct Fits(Mutex<BTreeMap<i64, Arc<Fit>>>);

impl Fits {
    /// The fit for purchases up to `end`: cached for its day, else made now.
    pub async fn get(&self, conn: &DatabaseConnection, end: i64) -> Result<Arc<Fit>, Error> {
        let day = end.div_euclid(DAY_MS);
        if let Some(fit) = self.0.lock().expect("fits lock").get(&day) {
            return Ok(fit.clone());
        }
        let fit = Arc::new(fit(conn, end).await?);
        // A fit of nobody says nothing: the next report fits again, once there are customers.
        if fit.customers > 0 {
            self.put(day, fit.clone());
        }
        Ok(fit)
    }

    fn put(&self, day: i64, fit: Arc<Fit>) {
        let mut fits = self.0.lock().expect("fits lock");
        fits.insert(day, fit);
        while fits.len() > KEPT {
            let oldest = *fits.keys().next().expect("not empty");
            fits.remove(&oldest);
        }
    }
}

/// Fits the models to every customer's confirmed orders up to `end`, whoever may see them: the
/// models describe the company's customers; a report shows each caller the customers in scope.
pub async fn fit(conn: &DatabaseConnection, end: i64) -> Result<Fit, Error> {
    let everyone = Scope {
        all: true,
        territories: Vec::new(),
        agent: None,
    };
    let filters = RawFilters::default().parse(end)?;
    let ctx = Ctx {
        conn,
        scope: &everyone,
        filters: &filters,
        territory: None,
    };
    let summaries = summaries(purchases(&ctx).await?, end);
    let histories: Vec<_> = summaries.values().map(|s| s.history).collect();
    let spends: Vec<_> = summaries
        .values()
        .filter(|s| s.spend.x > 0.0 && s.spend.mean > 0.0)
        .map(|s| s.spend)
        .collect();
    // Fitting is CPU work of up to a second or two: off the async workers.
    let (bg_nbd, gamma_gamma) = tokio::task::spawn_blocking(move || {
        let gamma_gamma = if spends.len() >= MIN_REPEAT_BUYERS {
            Some(GammaGamma::fit(&spends)?)
        } else {
            None
        };
        Ok::<_, Error>((BgNbd::fit(&histories)?, gamma_gamma))
    })
    .await
    .map_err(|e| Error::Internal(format!("fitting the CLV model: {e}")))??;
    Ok(Fit {
        end,
        bg_nbd,
        gamma_gamma,
        customers: summaries.len(),
        repeat_buyers: summaries.values().filter(|s| s.spend.x > 0.0).count(),
        fitted_at: now_ms(),
    })
}

/// Makes today's fit again every hour, so that a report finds it ready and at most an hour old.
/// The first report of a day fits on demand.
pub async fn keep_fresh(db: Db, fits: Arc<Fits>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
    loop {
        tick.tick().await;
        let end = now_ms();
        match fit(&db.conn, end).await {
            Ok(f) if f.customers > 0 => fits.put(end.div_euclid(DAY_MS), Arc::new(f)),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "refreshing the CLV fit failed"),
        }
    }
}
