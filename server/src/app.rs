//! The composer: `serve` runs a server's router and background tasks until shutdown. The binary and
//! the tests both start a server through it; nothing else imports this module.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

use crate::error::Error;
use crate::http::state::AppState;

/// A client's connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

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
///
/// Connections are served by hyper directly rather than through `axum::serve`, which offers no
/// bound on connections and no timeouts: here at most `connections.max` are served at once, a
/// request head (and a kept-alive connection's wait for the next one) has `header_timeout`, and a
/// client that reads nothing of its answer for `write_timeout` is disconnected.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let draining = state.draining.clone();
    let times = state.shutdown;
    let limits = state.connections;
    let _statistics = AbortOnDrop(tokio::spawn(crate::db::statistics::keep_fresh(
        state.db.clone(),
    )));
    let _reservations = AbortOnDrop(tokio::spawn(crate::db::positions::keep_tidy(
        state.db.clone(),
    )));
    let _grading = AbortOnDrop(tokio::spawn(crate::reports::grading::keep_graded(
        state.sync.clone(),
    )));
    let _clv = AbortOnDrop(tokio::spawn(crate::reports::clv::fits::keep_fresh(
        state.db.clone(),
        state.clv_fits.clone(),
    )));
    let _rules = AbortOnDrop(tokio::spawn(crate::crm::rules::keep_due(
        state.sync.clone(),
    )));
    let _files = AbortOnDrop(tokio::spawn(crate::files::collect::keep_collecting(
        state.db.clone(),
        state.files.clone(),
        state.file_limits.grace,
    )));
    let tls = state.tls.clone();
    let app = crate::http::router(state);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let connections = Arc::new(Semaphore::new(limits.max.max(1)));
    let graceful = GracefulShutdown::new();
    let stop = async move {
        shutdown.await;
        draining.store(true, Ordering::SeqCst);
        tracing::info!("shutting down: readiness is false");
        tokio::time::sleep(times.drain).await;
    };
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit
                .map_err(|_| Error::Internal("the connection slots were closed".into()))?,
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted: the
                    // listener itself is fine.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        let service =
            app.clone()
                .map_request(move |mut request: axum::extract::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let stream: Pin<Box<dyn Io>> = match tls {
                None => Box::pin(stream),
                // The handshake in the connection's own task, under the time a request's head
                // has: a client that opens connections and says nothing holds a slot no longer.
                Some(tls) => {
                    match tokio::time::timeout(limits.header_timeout, tls.accept(Box::pin(stream)))
                        .await
                    {
                        Ok(Ok(stream)) => Box::pin(stream),
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let connection = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service),
                )
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(times.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?times.grace, "in-flight requests did not finish in time; stopping anyway");
    }
    Ok(())
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
