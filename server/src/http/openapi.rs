//! The OpenAPI document's frame: title, the bearer scheme and the tags. The operations themselves come
//! from the `#[utoipa::path]` annotation on each handler, registered with its route in [`crate::app::api`].

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fieldsync",
        description = "The fieldsync sync server. Login, devices and the quarantine speak JSON. The sync \
calls (push, pull, verify) speak MessagePack (`application/vnd.fieldsync.v1+msgpack`): the same \
structures as described here, encoded with named fields, with every byte string (changes, chunks, \
hashes, cursors) as a MessagePack `bin` where the JSON form has an array of byte values. They also \
accept and answer `application/json` (for debugging), and answer JSON only to a client whose `Accept` \
asks for JSON and not MessagePack. Errors are always JSON: `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness and readiness, public"),
        (name = "auth", description = "Logging a device in; the dashboard's sessions"),
        (name = "dashboard", description = "The managers' web dashboard: its page and files, public; it reads everything else through this API with its session"),
        (name = "devices", description = "A user's devices and their revocation (remote wipe)"),
        (name = "quarantine", description = "Edits made offline to records their author lost access to"),
        (name = "records", description = "Records within the caller's scope, listed and filtered by field, as the dashboard and integrations read them (JSON)"),
        (name = "decisions", description = "Alerts and conflicts the server's rules raise after a merge, and managers' decisions on them and on submitted orders"),
        (name = "duplicates", description = "Likely duplicate customers, found as customers arrive and on demand, for managers to dismiss or merge"),
        (name = "attachments", description = "Files referenced from records (photos, receipts, evidence): resumable uploads over tus 1.0.0, downloads with ranges, authorised like the records that reference them"),
        (name = "reports", description = "Managers' reports over the projection tables, within the caller's scope; JSON or CSV"),
        (name = "users", description = "Users and their territories, as managers and admins staff them"),
        (name = "sync", description = "Push, pull and verify: MessagePack"),
        (name = "ops", description = "The OpenAPI document and Prometheus metrics"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A device token from login (`fst_...`), or the metrics scrape token for /metrics. Every endpoint that takes a device token but the sync calls and uploads also takes a dashboard session's cookie (`fieldsync_session`, from `POST /v1/auth/session`), with the session's `x-csrf-token` header on a request that changes something",
                    ))
                    .build(),
            ),
        );
    }
}
