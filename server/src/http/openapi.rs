//! The OpenAPI document's frame: title, the bearer scheme and the tags. The operations themselves come
//! from the `#[utoipa::path]` annotation on each handler, registered with its route in [`crate::app::api`].
//! [`with_msgpack_forms`] then gives the sync calls' MessagePack bodies schemas of their own.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use sync_core::protocol::CONTENT_TYPE;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fieldsync",
        description = "The fieldsync sync server. Login, devices and the quarantine speak JSON. The sync \
calls (push, pull, verify) speak MessagePack (`application/vnd.fieldsync.v1+msgpack`): the same \
structures encoded with named fields, with every byte string (changes, chunks, hashes, cursors) \
and every UUID as a MessagePack `bin` (16 bytes for a UUID, 32 for a hash), described by the schemas \
named `...MsgPack`, where the JSON form has an array of byte values and a UUID string. They also \
accept and answer `application/json` (for debugging), and answer JSON only to a client whose `Accept` \
asks for JSON and not MessagePack. Errors are always JSON: `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness and readiness, public"),
        (name = "auth", description = "Logging a device in; the dashboard's sessions"),
        (name = "dashboard", description = "The managers' web dashboard: its page and files, public; it reads everything else through this API with its session"),
        (name = "app", description = "The field agents' offline app: its page and files, public; it logs in as a device and syncs like any other"),
        (name = "devices", description = "A user's devices and their revocation (remote wipe)"),
        (name = "quarantine", description = "Edits made offline to records their author lost access to"),
        (name = "records", description = "Records within the caller's scope, listed and filtered by field, as the dashboard and integrations read them (JSON)"),
        (name = "decisions", description = "Alerts and conflicts the server's rules raise after a merge, and managers' decisions on them and on submitted orders"),
        (name = "duplicates", description = "Likely duplicate customers, found as customers arrive and on demand, for managers to dismiss or merge"),
        (name = "attachments", description = "Files referenced from records (photos, receipts, evidence): resumable uploads over tus 1.0.0, downloads with ranges, authorised like the records that reference them"),
        (name = "reports", description = "Managers' reports over the projection tables, within the caller's scope; JSON or CSV"),
        (name = "users", description = "Users and their territories, as managers and admins staff them"),
        (name = "privacy", description = "The personal data of the people in the CRM: a person's data exported on request, and the audit trail of who read or exported it"),
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

/// The suffix of the schemas of MessagePack bodies.
const MSGPACK: &str = "MsgPack";

/// Gives every MessagePack body its own schemas: the JSON body's, with each byte string (an array
/// of byte values in JSON) and each UUID (a string in JSON) as binary, as they travel in a
/// MessagePack `bin`. utoipa derives one schema per Rust type, and a type's JSON and MessagePack
/// forms differ in exactly these values.
pub fn with_msgpack_forms(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    let mut named = BTreeSet::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().flat_map(Value::as_object_mut) {
            for op in item.values_mut() {
                if let Some(content) = op.pointer_mut("/requestBody/content") {
                    msgpack_content(content, &mut named);
                }
                let responses = op.get_mut("responses").and_then(Value::as_object_mut);
                for response in responses.into_iter().flat_map(|r| r.values_mut()) {
                    if let Some(content) = response.get_mut("content") {
                        msgpack_content(content, &mut named);
                    }
                }
            }
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let mut todo: Vec<String> = named.iter().cloned().collect();
        while let Some(name) = todo.pop() {
            let mut inner = BTreeSet::new();
            if let Some(schema) = schemas.get(&name) {
                refs(schema, &mut inner);
            }
            todo.extend(inner.into_iter().filter(|n| named.insert(n.clone())));
        }
        for name in named {
            if let Some(mut schema) = schemas.get(&name).cloned() {
                to_msgpack(&mut schema);
                schemas.insert(format!("{name}{MSGPACK}"), schema);
            }
        }
    }
    doc
}

const SCHEMA_REF: &str = "#/components/schemas/";

/// Points a body's MessagePack schema at the MessagePack forms, and notes the schemas it names.
fn msgpack_content(content: &mut Value, named: &mut BTreeSet<String>) {
    if let Some(schema) = content
        .get_mut(CONTENT_TYPE)
        .and_then(|c| c.get_mut("schema"))
    {
        refs(schema, named);
        to_msgpack(schema);
    }
}

/// The names of the component schemas `schema` refers to.
fn refs(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(SCHEMA_REF))
            {
                out.insert(name.to_string());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Rewrites a JSON body's schema into its MessagePack form, in place.
fn to_msgpack(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if r.starts_with(SCHEMA_REF) && !r.ends_with(MSGPACK) {
                    r.push_str(MSGPACK);
                }
            } else if is_byte_array(map) {
                binary(map, "MessagePack bin");
            } else if map.get("format").and_then(Value::as_str) == Some("uuid") {
                binary(map, "MessagePack bin of the UUID's 16 bytes");
            } else {
                map.values_mut().for_each(to_msgpack);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_msgpack),
        _ => {}
    }
}

/// Whether a schema is utoipa's of a `Vec<u8>`: an array of non-negative integers.
fn is_byte_array(map: &Map<String, Value>) -> bool {
    let is_array = match map.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => false,
    };
    let items = map.get("items").and_then(Value::as_object);
    is_array
        && items.is_some_and(|items| {
            items.get("type").and_then(Value::as_str) == Some("integer")
                && items.get("minimum").and_then(Value::as_f64) == Some(0.0)
        })
}

/// Makes a schema a binary string (nullable if it was), with `note` after its description.
fn binary(map: &mut Map<String, Value>, note: &str) {
    let nullable =
        matches!(map.get("type"), Some(Value::Array(ts)) if ts.iter().any(|t| t == "null"));
    let description = match map.get("description").and_then(Value::as_str) {
        Some(d) => format!("{d} ({note})"),
        None => note.to_string(),
    };
    map.clear();
    map.insert(
        "type".into(),
        if nullable {
            serde_json::json!(["string", "null"])
        } else {
            "string".into()
        },
    );
    map.insert("format".into(), "binary".into());
    map.insert("description".into(), description.into());
}
