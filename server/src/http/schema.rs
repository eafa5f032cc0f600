//! `GET /v1/schema`: every kind's document layout (`sync_core::layout`) and the limits this server
//! decodes sync bodies under, so that an app in any language builds and checks records as the Rust
//! SDK does, from the same schemas.

use axum::extract::State;
use axum::Json;
use sync_core::layout::{self, SchemaDocument};
use sync_core::protocol::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::Principal;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(schema))
}

/// Every record kind: its scope, its fields with their types, bounds, units, automerge
/// representation and writers, the nested objects its first change must make, and the limits of
/// this server's sync bodies. Any signed-in user or device may read it.
#[utoipa::path(get, path = "/v1/schema", tag = "sync", operation_id = "schema",
    responses(
        (status = 200, description = "The kinds' document layouts (docs/protocol.md, \"Documents\")", body = Object),
        (status = 401, description = "No valid token or session", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn schema(State(state): State<AppState>, _who: Principal) -> Json<SchemaDocument> {
    Json(layout::document(sync_core::kinds::ALL, &state.sync.limits))
}
