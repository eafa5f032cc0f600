//! `GET /`: what a person who opens the server's address in a browser sees. Public and static: it
//! says what the server is and where to go next, and nothing about the data.

use axum::response::Html;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(home))
}

/// The page, with the server's version filled in once.
static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    include_str!("home.html").replace("{version}", env!("CARGO_PKG_VERSION"))
});

/// The server's home page: what this server is, how devices and integrations use it, links to the
/// API document and the health probes.
#[utoipa::path(get, path = "/", tag = "health",
    responses((status = 200, description = "An HTML page about this server", content_type = "text/html", body = String)))]
async fn home() -> Html<&'static str> {
    Html(PAGE.as_str())
}
