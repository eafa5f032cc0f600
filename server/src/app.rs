//! The composer: `serve` runs a server's router and background tasks until shutdown. The binary and
//! the tests both start a server through it; nothing else imports this module.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;

use crate::error::Error;
use crate::http::state::AppState;

/// A background task that ends with the server.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves on `listener` until `shutdown` resolves, then drains: readiness turns false at once, new
/// requests are still taken for `shutdown.drain` (while load balancers notice), then the listener
/// closes and in-flight requests get up to `shutdown.grace` to finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let draining = state.draining.clone();
    let times = state.shutdown;
    let _statistics = AbortOnDrop(tokio::spawn(crate::db::statistics::keep_fresh(
        state.db.clone(),
    )));
    let _reservations = AbortOnDrop(tokio::spawn(crate::db::positions::keep_tidy(
        state.db.clone(),
    )));
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let app = crate::http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let serving = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            draining.store(true, Ordering::SeqCst);
            tracing::info!("shutting down: readiness is false");
            tokio::time::sleep(times.drain).await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = closed_tx.send(());
        })
        .into_future();
    let overdue = async move {
        if closed_rx.await.is_ok() {
            tokio::time::sleep(times.grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = serving => result.map_err(|e| Error::Internal(format!("server failed: {e}"))),
        _ = overdue => {
            tracing::warn!(grace = ?times.grace, "in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
