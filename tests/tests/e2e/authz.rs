//! The authorisation matrix: every endpoint times every kind of caller (admin, manager, agent, a revoked
//! device, no token, an expired token) times in-scope and out-of-scope data, and for the pull and the
//! login the ways a caller might borrow what is not theirs (a forged cursor, another device's cursor,
//! a device a restore lost), all from the one table [`MATRIX`]. The test fails when the router's OpenAPI document has an operation the table lacks, so
//! a new endpoint cannot be forgotten. Then injection attempts through every path id and query
//! parameter: each is a clean 4xx and changes nothing.

use std::collections::BTreeSet;

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer, PASSWORD};
use fieldsync_server::db::entities::device as devices;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sync_core::protocol::{self, PushRequest, PushResponse, PushStatus, CONTENT_TYPE};
use sync_core::Role;
use uuid::Uuid;

/// Who calls, in the order of [`Row::expect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Admin,
    Manager,
    Agent,
    Revoked,
    Anonymous,
    Expired,
}

const CALLERS: [Caller; 6] = [
    Caller::Admin,
    Caller::Manager,
    Caller::Agent,
    Caller::Revoked,
    Caller::Anonymous,
    Caller::Expired,
];

/// Which data a call aims at: none, data of the caller's scope (North), or outside it (South); or
/// what a caller borrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    In,
    Out,
    /// A pull cursor the caller wrote: an eviction of everything it may not see.
    ForgedCursor,
    /// A genuine pull cursor the server issued to another device.
    ForeignCursor,
    /// A colleague's device that a restore lost: logging in as it, or pushing under its actor.
    LostDevice,
}

/// What a call must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Served (2xx, or 409 when an earlier caller already decided a quarantine entry), and the target
    /// data was seen or written.
    Ok,
    /// Served, but the out-of-scope target was neither shown nor written.
    Hidden,
    /// Refused with this status.
    Denied(u16),
}

use Expect::{Denied as D, Hidden as H, Ok as A};

struct Row {
    method: &'static str,
    path: &'static str,
    target: Target,
    /// For admin, manager, agent, revoked device, no token, expired token.
    expect: [Expect; 6],
}

const fn row(method: &'static str, path: &'static str, target: Target, expect: [Expect; 6]) -> Row {
    Row {
        method,
        path,
        target,
        expect,
    }
}

const PUBLIC: [Expect; 6] = [A, A, A, A, A, A];
/// Served to everyone, and never with the target.
const PUBLIC_HIDDEN: [Expect; 6] = [H, H, H, H, H, H];
/// Refused as a bad request to every device that is let in at all.
const BAD_REQUEST: [Expect; 6] = [D(400), D(400), D(400), D(401), D(401), D(401)];
/// Any device token is refused; no token is unauthenticated.
const SCRAPE_ONLY: [Expect; 6] = [D(403), D(403), D(403), D(403), D(401), D(403)];

/// The matrix. The manager and the agent hold North; the out-of-scope data is in South; the admin sees
/// everything.
const MATRIX: &[Row] = &[
    row("GET", "/", Target::None, PUBLIC),
    row("GET", "/assets/{name}", Target::None, PUBLIC),
    row("GET", "/assets/{folder}/{name}", Target::None, PUBLIC),
    row("GET", "/app/", Target::None, PUBLIC),
    row("GET", "/app/{name}", Target::None, PUBLIC),
    row("GET", "/livez", Target::None, PUBLIC),
    row("GET", "/readyz", Target::None, PUBLIC),
    row("GET", "/healthz", Target::None, PUBLIC),
    row("GET", "/openapi.json", Target::None, PUBLIC),
    // Login needs no token: whatever the caller holds, right credentials log in. Naming a
    // colleague's device that a restore lost, even with its secret, gives a device of one's own.
    row("POST", "/v1/auth/login", Target::None, PUBLIC),
    row("POST", "/v1/auth/login", Target::LostDevice, PUBLIC_HIDDEN),
    row("GET", "/metrics", Target::None, SCRAPE_ONLY),
    // The kinds' layouts are every signed-in user's and device's, never an anonymous caller's.
    row(
        "GET",
        "/v1/schema",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    // The dashboard's sign-in is the managers' and admins': an agent's right password is refused
    // there whatever token the caller holds, and a device's token is no session.
    row("POST", "/v1/auth/session", Target::None, [D(403); 6]),
    row("GET", "/v1/auth/session", Target::None, [D(401); 6]),
    row("DELETE", "/v1/auth/session", Target::None, [D(401); 6]),
    // The device list is always the caller's own: another user's device never shows, even to an admin.
    row(
        "GET",
        "/v1/devices",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/devices",
        Target::Out,
        [H, H, H, D(401), D(401), D(401)],
    ),
    row(
        "DELETE",
        "/v1/devices/{id}",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "DELETE",
        "/v1/devices/{id}",
        Target::Out,
        [A, D(404), D(404), D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/quarantine",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/quarantine",
        Target::Out,
        [A, H, D(403), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/quarantine/{id}/reject",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/quarantine/{id}/reject",
        Target::Out,
        [A, D(404), D(403), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/quarantine/{id}/accept",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/quarantine/{id}/accept",
        Target::Out,
        [A, D(404), D(403), D(401), D(401), D(401)],
    ),
    // Records are listed and shown within the caller's scope; one outside it does not exist for them.
    row(
        "GET",
        "/v1/records",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/records",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/records/{id}",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/records/{id}",
        Target::Out,
        [A, D(404), D(404), D(401), D(401), D(401)],
    ),
    // Likely duplicate customers are managers' and admins' to review; the scan is the admins'.
    row(
        "GET",
        "/v1/duplicates",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/duplicates",
        Target::Out,
        [A, H, D(403), D(401), D(401), D(401)],
    ),
    row("GET", "/v1/duplicates/{id}", Target::In, DECIDE_IN),
    row("GET", "/v1/duplicates/{id}", Target::Out, DECIDE_OUT),
    row("POST", "/v1/duplicates/{id}/dismiss", Target::In, DECIDE_IN),
    row(
        "POST",
        "/v1/duplicates/{id}/dismiss",
        Target::Out,
        DECIDE_OUT,
    ),
    row("POST", "/v1/duplicates/{id}/merge", Target::In, DECIDE_IN),
    row("POST", "/v1/duplicates/{id}/merge", Target::Out, DECIDE_OUT),
    row(
        "POST",
        "/v1/duplicates/scan",
        Target::None,
        [A, D(403), D(403), D(401), D(401), D(401)],
    ),
    // A record's history: agents read their own records' (this one they created).
    row(
        "GET",
        "/v1/records/{id}/history",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/records/{id}/history",
        Target::Out,
        [A, D(404), D(404), D(401), D(401), D(401)],
    ),
    // Files: anyone logged in uploads; an upload in progress is its device's alone, even to an
    // admin (the agent's is In, a South agent's Out); a file is read like the records that
    // reference it (a North visit's photo, a South visit's); collecting is the admins'.
    row(
        "POST",
        "/v1/uploads",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "HEAD",
        "/v1/uploads/{id}",
        Target::In,
        [D(404), D(404), A, D(401), D(401), D(401)],
    ),
    row(
        "HEAD",
        "/v1/uploads/{id}",
        Target::Out,
        [D(404), D(404), D(404), D(401), D(401), D(401)],
    ),
    row(
        "PATCH",
        "/v1/uploads/{id}",
        Target::In,
        [D(404), D(404), A, D(401), D(401), D(401)],
    ),
    row(
        "PATCH",
        "/v1/uploads/{id}",
        Target::Out,
        [D(404), D(404), D(404), D(401), D(401), D(401)],
    ),
    row(
        "DELETE",
        "/v1/uploads/{id}",
        Target::In,
        [D(404), D(404), A, D(401), D(401), D(401)],
    ),
    row(
        "DELETE",
        "/v1/uploads/{id}",
        Target::Out,
        [D(404), D(404), D(404), D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/attachments/{hash}",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/attachments/{hash}",
        Target::Out,
        [A, D(404), D(404), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/attachments/collect",
        Target::None,
        [A, D(403), D(403), D(401), D(401), D(401)],
    ),
    // Writes over the JSON API are the caller's, within their scope.
    row(
        "POST",
        "/v1/records",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/records",
        Target::Out,
        [A, D(403), D(403), D(401), D(401), D(401)],
    ),
    // An export holds what the caller sees.
    row(
        "GET",
        "/v1/exports/{kind}",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/exports/{kind}",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    // An import writes what the caller may write: a file of South's customers imports nothing
    // for North's manager (its rows are in error).
    row(
        "POST",
        "/v1/imports/{what}",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/imports/{what}",
        Target::Out,
        [A, H, D(403), D(401), D(401), D(401)],
    ),
    row(
        "PATCH",
        "/v1/records/{id}",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "PATCH",
        "/v1/records/{id}",
        Target::Out,
        [A, D(404), D(404), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/sync/push",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/sync/push",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    // A new record made under the actor of a colleague's device that a restore lost.
    row(
        "POST",
        "/v1/sync/push",
        Target::LostDevice,
        [H, H, H, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/sync/pull",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/sync/pull",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/sync/pull",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/sync/pull",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    // Cursors are the server's, for one device: a forged one, or another device's, is refused
    // (`invalid_cursor`) even to an admin.
    row("GET", "/v1/sync/pull", Target::ForgedCursor, BAD_REQUEST),
    row("GET", "/v1/sync/pull", Target::ForeignCursor, BAD_REQUEST),
    row("POST", "/v1/sync/pull", Target::ForgedCursor, BAD_REQUEST),
    row("POST", "/v1/sync/pull", Target::ForeignCursor, BAD_REQUEST),
    row(
        "POST",
        "/v1/sync/verify",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/sync/verify",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    // Alerts and conflicts are listed within the caller's scope; only managers and admins decide
    // them and submitted orders, and only within theirs.
    row(
        "GET",
        "/v1/alerts",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/alerts",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/conflicts",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/conflicts",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    row("POST", "/v1/alerts/{id}/resolve", Target::In, DECIDE_IN),
    row("POST", "/v1/alerts/{id}/resolve", Target::Out, DECIDE_OUT),
    row("POST", "/v1/conflicts/{id}/resolve", Target::In, DECIDE_IN),
    row(
        "POST",
        "/v1/conflicts/{id}/resolve",
        Target::Out,
        DECIDE_OUT,
    ),
    row("POST", "/v1/orders/{id}/approve", Target::In, DECIDE_IN),
    row("POST", "/v1/orders/{id}/approve", Target::Out, DECIDE_OUT),
    row("POST", "/v1/orders/{id}/reject", Target::In, DECIDE_IN),
    row("POST", "/v1/orders/{id}/reject", Target::Out, DECIDE_OUT),
    // Managers staff their territories with agents; admins anyone. Revokes come last: they take
    // territories away.
    row(
        "GET",
        "/v1/reports/sales",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/visits",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/pipeline",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/scorecard",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/warnings",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/customer-value",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/clv",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/retention",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/receivables",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/service",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/leads",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/campaign",
        Target::None,
        [A, A, A, D(401), D(401), D(401)],
    ),
    // A person's data: managers and admins, of the people they see.
    row(
        "GET",
        "/v1/people/{id}/export",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/people/{id}/export",
        Target::Out,
        [A, D(404), D(403), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/people/{id}/erase",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "POST",
        "/v1/people/{id}/erase",
        Target::Out,
        [A, D(404), D(403), D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/audit/personal-data",
        Target::None,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    // Devices in scope: an agent's own (Anna's spare), a manager's territories' users', everyone's
    // for an admin; Carla's device in South is the manager's and the agent's to miss.
    row(
        "GET",
        "/v1/reports/sync-health",
        Target::In,
        [A, A, A, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/reports/sync-health",
        Target::Out,
        [A, H, H, D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/users",
        Target::In,
        [A, A, D(403), D(401), D(401), D(401)],
    ),
    row(
        "GET",
        "/v1/users",
        Target::Out,
        [A, H, D(403), D(401), D(401), D(401)],
    ),
    row(
        "PUT",
        "/v1/users/{id}/territories/{territory}",
        Target::In,
        STAFF_IN,
    ),
    row(
        "PUT",
        "/v1/users/{id}/territories/{territory}",
        Target::Out,
        STAFF_OUT,
    ),
    row(
        "DELETE",
        "/v1/users/{id}/territories/{territory}",
        Target::In,
        STAFF_IN,
    ),
    row(
        "DELETE",
        "/v1/users/{id}/territories/{territory}",
        Target::Out,
        STAFF_OUT,
    ),
    // The role the user has already: the call changes nothing for the rows after it.
    row("PUT", "/v1/users/{id}/role", Target::In, ADMIN_ONLY),
    row("PUT", "/v1/users/{id}/role", Target::Out, ADMIN_ONLY),
];

/// Admins only, whatever the target.
const ADMIN_ONLY: [Expect; 6] = [A, D(403), D(403), D(401), D(401), D(401)];

/// An agent of the manager's territory, with that territory.
const STAFF_IN: [Expect; 6] = [A, A, D(403), D(401), D(401), D(401)];
/// An agent of another territory, with that territory: not the manager's to staff.
const STAFF_OUT: [Expect; 6] = [A, D(404), D(403), D(401), D(401), D(401)];

/// A manager's decision in scope: the admin decides first, so the manager finds it decided (409).
const DECIDE_IN: [Expect; 6] = [A, A, D(403), D(401), D(401), D(401)];
/// Out of the manager's scope, the record does not exist for her.
const DECIDE_OUT: [Expect; 6] = [A, D(404), D(403), D(401), D(401), D(401)];

/// The first alert or conflict (`kind`) raised about `record`, as `who` lists them.
async fn first_raised(server: &TestServer, who: &Device, kind: &str, record: Uuid) -> Uuid {
    let path = format!("/v1/{kind}?record_id={record}");
    let (status, page) = server.api(who, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{page}");
    page["records"][0]["id"]
        .as_str()
        .expect("one raised")
        .parse()
        .unwrap()
}

/// The data the matrix runs against.
struct Fixture {
    server: TestServer,
    http: reqwest::Client,
    /// Devices by caller (none for [`Caller::Anonymous`]).
    admin: Device,
    manager: Device,
    agent: Device,
    revoked: Device,
    expired: Device,
    /// A second device of the agent: in scope for the agent (theirs), the manager (same territory)
    /// and the admin.
    agent_spare: Uuid,
    /// A device of an agent in South.
    south_device: Uuid,
    north_doc: Uuid,
    south_doc: Uuid,
    north_entry: Uuid,
    south_entry: Uuid,
    /// A genuine cursor the server issued to Carla's device.
    foreign_cursor: Vec<u8>,
    /// A cursor no server issued: an eviction of everything the caller may not see.
    forged_cursor: Vec<u8>,
    /// A device of Anna's that a restore lost, and its secret.
    lost_device: Uuid,
    lost_secret: String,
    /// What managers decide, in North and in South: a held order, its alert, and a conflict.
    orders: [Uuid; 2],
    alerts: [Uuid; 2],
    conflicts: [Uuid; 2],
    /// Agents of North (Rex, whose device is revoked) and of South (Carla), to staff.
    staffed: [Uuid; 2],
    /// A likely duplicate pair of customers in North and one in South, and a customer of each.
    duplicates: [Uuid; 2],
    twins: [Uuid; 2],
    /// Uploads in progress: two of the agent's (one to delete), one of Carla's in South.
    uploads: [Uuid; 3],
    /// Photos of a visit in North and of one in South.
    photos: [String; 2],
    /// A contact in North and one in South: people whose data is exported.
    people: [Uuid; 2],
}

/// A JPEG's first bytes and some more.
fn jpeg(seed: u8) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    bytes.extend((0..2_000u32).map(|i| (i as u8) ^ seed));
    bytes
}

/// A visit of `customer` with a photo, synced and uploaded; returns the photo's hash.
async fn photographed(device: &mut Device, customer: Uuid, seed: u8) -> String {
    let visit = device
        .replica
        .create(
            "visit",
            &[
                ("customer_id", sync_core::Value::Str(customer.to_string())),
                ("status", "completed".into()),
            ],
        )
        .await
        .unwrap();
    let hash = device
        .replica
        .attach(visit, "photos", jpeg(seed), None)
        .await
        .unwrap();
    assert_eq!(device.sync().await.uploaded_files, 1);
    hash
}

/// Starts an upload of a 1,000-byte file as `device`; returns its id.
async fn upload_of(server: &TestServer, device: &Device, seed: u8) -> Uuid {
    let (status, reply) = server_upload(&server.url, &device.login.token, seed).await;
    assert_eq!(status, 201, "{reply}");
    reply["id"].as_str().unwrap().parse().unwrap()
}

async fn server_upload(url: &str, token: &str, seed: u8) -> (u16, serde_json::Value) {
    use base64::Engine;
    let hash = sync_core::attachments::hash(&[seed; 1000]);
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/uploads"))
        .bearer_auth(token)
        .header("upload-length", "1000")
        .header(
            "upload-metadata",
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(hash)
            ),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// A submitted order with a discount past the agents' limit, held with an alert; and a conflict on
/// the customer's city, written at once on `device` and `other`. Returns the order, the alert and
/// the conflict.
async fn decisions(
    server: &TestServer,
    device: &mut Device,
    other: &mut Device,
    customer: Uuid,
) -> (Uuid, Uuid, Uuid) {
    use fieldsync_sdk::{LineRequest, OrderOrigin};
    device.sync().await;
    other.sync().await;
    let line = LineRequest {
        sku: "P-1".into(),
        quantity: 1_000,
        discount_bp: 2_000,
    };
    let order = device
        .replica
        .add_order(
            customer,
            &[line],
            OrderOrigin::default(),
            true,
            1_700_000_000_000,
        )
        .await
        .unwrap()
        .order_id;
    device
        .replica
        .update(customer, &[("city", "Aachen".into())])
        .await
        .unwrap();
    other
        .replica
        .update(customer, &[("city", "Bonn".into())])
        .await
        .unwrap();
    device.sync().await;
    other.sync().await;
    let alert = first_raised(server, other, "alerts", order).await;
    let conflict = first_raised(server, other, "conflicts", customer).await;
    (order, alert, conflict)
}

impl Fixture {
    async fn new(db: &TestDb) -> Fixture {
        let server = TestServer::start(db).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let carla_id = server.user("carla@x.test", Role::Agent, &["South"]).await;
        let dave = server
            .user("dave@x.test", Role::Agent, &["North", "South"])
            .await;
        let rex_id = server.user("rex@x.test", Role::Agent, &["North"]).await;
        server.user("eve@x.test", Role::Agent, &["North"]).await;
        server.user("login@x.test", Role::Agent, &["North"]).await;

        let admin = server.device("root@x.test").await;
        let manager = server.device("maria@x.test").await;
        let mut agent = server.device("anna@x.test").await;
        let agent_spare = server.device("anna@x.test").await.login.device_id;
        let mut carla = server.device("carla@x.test").await;
        let south_device = carla.login.device_id;
        let mut dave_device = server.device("dave@x.test").await;
        let revoked = server.device("rex@x.test").await;
        let expired = server.device("eve@x.test").await;

        let north_doc = agent
            .replica
            .create("customer", &customer("North Co", "North"))
            .await
            .unwrap();
        let south_doc = carla
            .replica
            .create("customer", &customer("South Co", "South"))
            .await
            .unwrap();
        agent.sync().await;
        carla.sync().await;
        // Dave edits both records offline, then loses both territories: both edits are quarantined.
        dave_device.sync().await;
        for id in [north_doc, south_doc] {
            dave_device
                .replica
                .update(id, &[("phone", "555".into())])
                .await
                .unwrap();
        }
        for territory in ["North", "South"] {
            fieldsync_server::auth::users::revoke_territory(&server.state.db, dave, territory)
                .await
                .unwrap();
        }
        let report = dave_device.sync().await;
        assert_eq!(report.quarantined.len(), 2, "{report:?}");

        admin
            .client
            .revoke_device(revoked.login.device_id)
            .await
            .unwrap();
        let aged = devices::Entity::update_many()
            .col_expr(devices::Column::CreatedAt, Expr::value(0i64))
            .filter(devices::Column::Id.eq(expired.login.device_id))
            .exec(&server.state.db.conn)
            .await
            .unwrap();
        assert_eq!(aged.rows_affected, 1);

        let http = reqwest::Client::new();
        let entries = server.quarantine(&admin.login.token).await;
        let entry_of = |doc: Uuid| -> Uuid {
            entries
                .iter()
                .find(|e| e["doc_id"] == doc.to_string())
                .and_then(|e| e["id"].as_str())
                .expect("a quarantine entry")
                .parse()
                .unwrap()
        };
        let (north_entry, south_entry) = (entry_of(north_doc), entry_of(south_doc));
        let foreign_cursor = carla
            .client
            .pull(&protocol::PullRequest::default())
            .await
            .unwrap()
            .cursor
            .to_vec();
        let north = fieldsync_server::auth::users::ensure_territory(&server.state.db.conn, "North")
            .await
            .unwrap();
        let forged_cursor = rmp_serde::to_vec(&(
            0i64,
            Some(vec![north]),
            None::<()>,
            Some((Vec::<Uuid>::new(), true, 0i64, None::<Uuid>)),
            false,
        ))
        .unwrap();
        // The company's settings and a product, for orders the rules hold.
        for (kind, fields) in [
            (
                "settings",
                serde_json::json!({"currency": "EUR", "agent_discount_limit_bp": 1_000}),
            ),
            (
                "product",
                serde_json::json!({"sku": "P-1", "name": "Beans", "active": true, "list_price": 1_000}),
            ),
        ] {
            let body = serde_json::json!({"kind": kind, "fields": fields});
            let (status, reply) = server
                .api(&admin, reqwest::Method::POST, "/v1/records", Some(body))
                .await;
            assert_eq!(status, 201, "{reply}");
        }
        let mut admin = admin;
        let mut manager = manager;
        let (north_order, north_alert, north_conflict) =
            decisions(&server, &mut agent, &mut manager, north_doc).await;
        let (south_order, south_alert, south_conflict) =
            decisions(&server, &mut carla, &mut admin, south_doc).await;
        let mut duplicates = [Uuid::nil(); 2];
        let mut first_twins = [Uuid::nil(); 2];
        for (i, territory) in ["North", "South"].into_iter().enumerate() {
            let mut twins = Vec::new();
            for name in ["Twin Kiosk", "Twin Kiosk Ltd"] {
                let fields = serde_json::json!({"name": name, "territory": territory, "phone": format!("+49 30 555 000{i}")});
                twins.push(server.created(&admin, "customer", fields).await);
            }
            let path = format!("/v1/duplicates?customer_id={}", twins[0]);
            let (status, page) = server.api(&admin, reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200, "{page}");
            duplicates[i] = page["candidates"][0]["id"]
                .as_str()
                .expect("a candidate")
                .parse()
                .unwrap();
            first_twins[i] = twins[0];
        }
        let mut people = [Uuid::nil(); 2];
        for (i, customer) in [north_doc, south_doc].into_iter().enumerate() {
            let fields = serde_json::json!({"customer_id": customer, "name": format!("Person {i}"), "phone": "+49 1"});
            people[i] = server.created(&admin, "contact", fields).await;
        }
        let photos = [
            photographed(&mut agent, north_doc, 1).await,
            photographed(&mut carla, south_doc, 2).await,
        ];
        let uploads = [
            upload_of(&server, &agent, 1).await,
            upload_of(&server, &agent, 2).await,
            upload_of(&server, &carla, 3).await,
        ];
        let lost = server.device("anna@x.test").await.login;
        devices::Entity::delete_by_id(lost.device_id)
            .exec(&server.state.db.conn)
            .await
            .unwrap();
        Fixture {
            server,
            http,
            admin,
            manager,
            agent,
            revoked,
            expired,
            agent_spare,
            south_device,
            north_doc,
            south_doc,
            north_entry,
            south_entry,
            foreign_cursor,
            forged_cursor,
            lost_device: lost.device_id,
            lost_secret: lost.device_secret,
            orders: [north_order, south_order],
            alerts: [north_alert, south_alert],
            conflicts: [north_conflict, south_conflict],
            staffed: [rex_id, carla_id],
            duplicates,
            twins: first_twins,
            uploads,
            photos,
            people,
        }
    }

    fn device(&self, caller: Caller) -> Option<&Device> {
        match caller {
            Caller::Admin => Some(&self.admin),
            Caller::Manager => Some(&self.manager),
            Caller::Agent => Some(&self.agent),
            Caller::Revoked => Some(&self.revoked),
            Caller::Expired => Some(&self.expired),
            Caller::Anonymous => None,
        }
    }

    /// The id a `{id}` path names for this target.
    fn id(&self, path: &str, target: Target) -> Uuid {
        if path.starts_with("/v1/records") {
            return self.target_doc(target);
        }
        let side = usize::from(target == Target::Out);
        for (prefix, ids) in [
            ("/v1/orders", &self.orders),
            ("/v1/alerts", &self.alerts),
            ("/v1/conflicts", &self.conflicts),
            ("/v1/users", &self.staffed),
            ("/v1/duplicates", &self.duplicates),
            ("/v1/people", &self.people),
        ] {
            if path.starts_with(prefix) {
                return ids[side];
            }
        }
        match (path.starts_with("/v1/devices"), target) {
            (true, Target::In) => self.agent_spare,
            (true, _) => self.south_device,
            (false, Target::In) => self.north_entry,
            (false, _) => self.south_entry,
        }
    }

    fn target_doc(&self, target: Target) -> Uuid {
        if target == Target::Out {
            self.south_doc
        } else {
            self.north_doc
        }
    }

    /// The upload a `/v1/uploads/{id}` call names: the agent's (a second one to delete), or
    /// Carla's.
    fn upload(&self, method: &str, target: Target) -> Uuid {
        match (method, target) {
            (_, Target::Out) => self.uploads[2],
            ("DELETE", _) => self.uploads[1],
            _ => self.uploads[0],
        }
    }

    /// Makes the call and says what it got, in the terms of [`Expect`].
    async fn observe(&self, row: &Row, caller: Caller) -> Expect {
        let device = self.device(caller);
        let id = if row.path.starts_with("/v1/uploads/") {
            self.upload(row.method, row.target)
        } else {
            self.id(row.path, row.target)
        };
        let url = format!(
            "{}{}",
            self.server.url,
            row.path
                .replace("{folder}/{name}", "vendor/uPlot.iife.min.js")
                .replace("{name}", "app.js")
                .replace("{what}", "customers")
                .replace("{kind}", "customers")
                .replace("{id}", &id.to_string())
                .replace(
                    "{hash}",
                    &self.photos[usize::from(row.target == Target::Out)]
                )
                .replace(
                    "{territory}",
                    if row.target == Target::Out {
                        "South"
                    } else {
                        "North"
                    }
                )
        );
        let method = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap();
        let mut request = self.http.request(method, &url);
        if let Some(device) = device {
            request = request.bearer_auth(&device.login.token);
        }
        let doc = self.target_doc(row.target);
        // A new record of the caller's own making, in the target's territory, for push.
        let mut pushed = None;
        let cursor = match row.target {
            Target::ForgedCursor => Some(&self.forged_cursor),
            Target::ForeignCursor => Some(&self.foreign_cursor),
            _ => None,
        };
        request = match (row.method, row.path) {
            ("POST", "/v1/auth/login") if row.target == Target::LostDevice => {
                request.json(&serde_json::json!({
                    "email": "login@x.test", "password": PASSWORD, "device_name": "matrix",
                    "previous_device_id": self.lost_device, "device_secret": self.lost_secret,
                }))
            }
            ("POST", "/v1/auth/login") => request.json(&serde_json::json!({
                "email": "login@x.test", "password": PASSWORD, "device_name": "matrix"
            })),
            ("POST", "/v1/auth/session") => request.json(&serde_json::json!({
                "email": "login@x.test", "password": PASSWORD
            })),
            ("PUT", "/v1/users/{id}/role") => request.json(&serde_json::json!({"role": "agent"})),
            ("POST", "/v1/sync/push") if row.target == Target::LostDevice => {
                let actor = automerge::ActorId::from(self.lost_device.as_bytes().as_slice());
                let kind = sync_core::kinds::get("customer").unwrap();
                let mut doc =
                    sync_core::record::create(kind, actor, &customer("Lost", "North")).unwrap();
                let id = Uuid::now_v7();
                pushed = Some(id);
                let changes = doc
                    .get_changes(&[])
                    .iter()
                    .map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec()))
                    .collect();
                let docs = vec![protocol::DocPush {
                    id,
                    kind: "customer".into(),
                    base_heads: vec![],
                    changes,
                    group: None,
                }];
                request
                    .header("content-type", CONTENT_TYPE)
                    .body(protocol::encode(&PushRequest {
                        docs,
                        checkpoint: 0,
                    }))
            }
            ("POST", "/v1/sync/push") => {
                let author = device.unwrap_or(&self.agent);
                let territory = if row.target == Target::Out {
                    "South"
                } else {
                    "North"
                };
                let id = author
                    .replica
                    .create("customer", &customer("New", territory))
                    .await
                    .unwrap();
                let mut docs = author.replica.pending_pushes().await.unwrap();
                docs.retain(|d| d.id == id);
                pushed = Some(id);
                request
                    .header("content-type", CONTENT_TYPE)
                    .body(protocol::encode(&PushRequest {
                        docs,
                        checkpoint: 0,
                    }))
            }
            ("GET", "/v1/sync/pull") => {
                let mut query = vec![("limit", "5000".to_string())];
                if let Some(cursor) = cursor {
                    use base64::Engine;
                    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor);
                    query.push(("cursor", cursor));
                }
                request.query(&query).header("accept", "application/json")
            }
            ("POST", "/v1/sync/pull") => request
                .json(&serde_json::json!({"limit": 5000, "cursor": cursor}))
                .header("accept", "application/json"),
            ("POST", "/v1/sync/verify") => request
                .json(&serde_json::json!({"mode": "docs", "docs": [{"id": doc, "heads": []}]}))
                .header("accept", "application/json"),
            ("GET", "/v1/records") => request.query(&[("kind", "customer"), ("limit", "500")]),
            ("POST", "/v1/records") => {
                let territory = if row.target == Target::Out {
                    "South"
                } else {
                    "North"
                };
                request.json(&serde_json::json!({"kind": "customer", "fields": {"name": "Over the API", "territory": territory}}))
            }
            ("PATCH", "/v1/records/{id}") => {
                request.json(&serde_json::json!({"fields": {"phone": format!("{caller:?}")}}))
            }
            ("POST", "/v1/imports/{what}") => {
                let territory = if row.target == Target::Out {
                    "South"
                } else {
                    "North"
                };
                request.header("content-type", "text/csv").body(format!(
                    "code,name,territory\nMX-{caller:?}-{territory},Imported,{territory}\n"
                ))
            }
            ("POST", "/v1/alerts/{id}/resolve" | "/v1/conflicts/{id}/resolve") => {
                request.json(&serde_json::json!({"outcome": "Cologne", "note": "checked"}))
            }
            ("POST", "/v1/people/{id}/erase") => {
                request.json(&serde_json::json!({"reason": "asked in writing"}))
            }
            ("POST", "/v1/duplicates/{id}/merge") => {
                let side = usize::from(row.target == Target::Out);
                request.json(&serde_json::json!({"survivor": self.twins[side]}))
            }
            ("POST", "/v1/uploads") => {
                use base64::Engine;
                let hash = sync_core::attachments::hash(format!("{caller:?}").as_bytes());
                request.header("upload-length", "100").header(
                    "upload-metadata",
                    format!(
                        "sha256 {}",
                        base64::engine::general_purpose::STANDARD.encode(hash)
                    ),
                )
            }
            ("PATCH", "/v1/uploads/{id}") => request
                .header("upload-offset", "0")
                .header("content-type", "application/offset+octet-stream")
                .body(vec![7u8; 10]),
            ("POST", _) if row.path.starts_with("/v1/orders/") => {
                request.json(&serde_json::json!({}))
            }
            _ => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if row.method == "HEAD" && !(200..300).contains(&status) {
            // A HEAD answer has no body.
            return D(status);
        }
        if !(200..300).contains(&status) && status != 409 {
            // Every refusal is in the error shape with a code.
            let body: serde_json::Value = response.json().await.expect("a JSON error");
            assert!(
                body["error"]["code"].is_string(),
                "{} {}: {body}",
                row.method,
                row.path
            );
            return D(status);
        }
        let seen = match (row.method, row.path) {
            ("POST", "/v1/auth/login") => {
                let login: serde_json::Value = response.json().await.unwrap();
                login["device_id"] == self.lost_device.to_string()
                    || row.target != Target::LostDevice
            }
            ("GET", "/v1/devices") => {
                let list: serde_json::Value = response.json().await.unwrap();
                let wanted = if row.target == Target::In {
                    device.unwrap().login.device_id
                } else {
                    self.south_device
                };
                list.as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["id"] == wanted.to_string())
            }
            ("GET", "/v1/quarantine") => {
                let list: serde_json::Value = response.json().await.unwrap();
                let wanted = if row.target == Target::In {
                    self.north_entry
                } else {
                    self.south_entry
                };
                list.as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["id"] == wanted.to_string())
            }
            ("POST", "/v1/sync/push") => {
                let reply: PushResponse = protocol::decode(
                    &response.bytes().await.unwrap(),
                    &protocol::Limits::default(),
                )
                .unwrap();
                let applied = reply.results[0].status == PushStatus::Applied;
                let stored = !self.server.heads(pushed.unwrap()).await.is_empty();
                assert_eq!(applied, stored, "applied means stored");
                applied
            }
            (_, "/v1/sync/pull") => {
                let page: serde_json::Value = response.json().await.unwrap();
                assert_eq!(page["more"], false, "the fixture fits one page");
                page["docs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["id"] == doc.to_string())
            }
            ("GET", "/v1/records") => {
                let page: serde_json::Value = response.json().await.unwrap();
                assert!(page["next"].is_null(), "the fixture fits one page");
                page["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["id"] == doc.to_string())
            }
            ("GET", "/v1/attachments/{hash}") => {
                let bytes = response.bytes().await.unwrap();
                sync_core::attachments::hash(&bytes)
                    == self.photos[usize::from(row.target == Target::Out)]
            }
            ("GET", "/v1/records/{id}" | "/v1/records/{id}/history") => {
                let record: serde_json::Value = response.json().await.unwrap();
                record["id"] == doc.to_string()
            }
            ("GET", "/v1/people/{id}/export") => {
                let export: serde_json::Value = response.json().await.unwrap();
                export["person"]["id"] == self.id(row.path, row.target).to_string()
            }
            ("POST", "/v1/people/{id}/erase") => {
                let erased: serde_json::Value = response.json().await.unwrap();
                erased["id"] == self.id(row.path, row.target).to_string()
            }
            ("GET", "/v1/reports/sync-health") => {
                let report: serde_json::Value = response.json().await.unwrap();
                let wanted = if row.target == Target::In {
                    self.agent_spare
                } else {
                    self.south_device
                };
                report["sections"]["devices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["device_id"] == wanted.to_string())
            }
            ("GET", "/v1/duplicates") => {
                let page: serde_json::Value = response.json().await.unwrap();
                let wanted = self.id(row.path, row.target).to_string();
                page["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"] == wanted)
            }
            ("GET", "/v1/duplicates/{id}") => {
                let candidate: serde_json::Value = response.json().await.unwrap();
                candidate["id"] == self.id(row.path, row.target).to_string()
            }
            ("GET", "/v1/alerts" | "/v1/conflicts" | "/v1/users") => {
                let page: serde_json::Value = response.json().await.unwrap();
                let wanted = self.id(row.path, row.target).to_string();
                // Users come as a list; alerts and conflicts as a page of records.
                let list = if row.path == "/v1/users" {
                    &page
                } else {
                    &page["records"]
                };
                list.as_array().unwrap().iter().any(|r| r["id"] == wanted)
            }
            ("POST", "/v1/records") => {
                let record: serde_json::Value = response.json().await.unwrap();
                let id: Uuid = record["id"].as_str().unwrap().parse().unwrap();
                !self.server.heads(id).await.is_empty()
            }
            ("GET", "/v1/exports/{kind}") => {
                let text = response.text().await.unwrap();
                text.contains(&doc.to_string())
            }
            ("POST", "/v1/imports/{what}") => {
                let answer: serde_json::Value = response.json().await.unwrap();
                answer["imported"] == true
            }
            ("PATCH", "/v1/records/{id}") => {
                let record: serde_json::Value = response.json().await.unwrap();
                record["fields"]["phone"] == format!("{caller:?}")
            }
            ("POST", "/v1/sync/verify") => {
                let reply: serde_json::Value = response.json().await.unwrap();
                !reply["unknown"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| *d == doc.to_string())
            }
            _ => true,
        };
        if seen {
            A
        } else {
            H
        }
    }
}

/// Every operation of the OpenAPI document, as `METHOD path`.
fn documented_operations() -> BTreeSet<String> {
    let doc = serde_json::to_value(fieldsync_server::http::openapi()).unwrap();
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect()
}

#[test]
fn the_matrix_covers_every_documented_endpoint() {
    let tabled: BTreeSet<String> = MATRIX
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let documented = documented_operations();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "endpoints missing from the authorisation matrix: {missing:?}"
    );
    let stale: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "matrix rows for endpoints that do not exist: {stale:?}"
    );
    // Endpoints that touch data are checked against both in-scope and out-of-scope data.
    for r in MATRIX
        .iter()
        .filter(|r| matches!(r.target, Target::In | Target::Out))
    {
        let other = if r.target == Target::In {
            Target::Out
        } else {
            Target::In
        };
        assert!(
            MATRIX
                .iter()
                .any(|o| o.method == r.method && o.path == r.path && o.target == other),
            "{} {} lacks a {other:?} row",
            r.method,
            r.path
        );
    }
}

storage_test! {
    async fn every_endpoint_every_caller_in_and_out_of_scope(db: TestDb) {
        let fx = Fixture::new(&db).await;
        let mut failures = Vec::new();
        for row in MATRIX {
            for (caller, expected) in CALLERS.iter().zip(row.expect) {
                let got = fx.observe(row, *caller).await;
                if got != expected {
                    failures.push(format!(
                        "{} {} ({:?} data) as {caller:?}: expected {expected:?}, got {got:?}",
                        row.method, row.path, row.target
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "authorisation matrix mismatches:\n{}", failures.join("\n"));
    }
}

/// Values that must never reach SQL as anything but data, nor crash a parser.
fn hostile_values() -> Vec<String> {
    vec![
        "' OR '1'='1".into(),
        "1; DROP TABLE devices; --".into(),
        "\" OR \"\"=\"".into(),
        "%00".into(),
        "\u{0}".into(),
        "../../etc/passwd".into(),
        "00000000-0000-0000-0000-00000000000g".into(),
        "-1".into(),
        "99999999999999999999999999999999".into(),
        "x".repeat(10_000),
        "ℌ𝔢𝔩𝔩𝔬".into(),
    ]
}

async fn table_counts(server: &TestServer) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "devices",
        "documents",
        "doc_chunks",
        "quarantine",
        "customers",
    ] {
        counts.push(server.count(table).await);
    }
    let revoked = devices::Entity::find()
        .filter(devices::Column::RevokedAt.is_not_null())
        .count(&server.state.db.conn)
        .await
        .unwrap();
    counts.push(revoked as i64);
    counts
}

storage_test! {
    async fn injection_through_ids_and_query_parameters_is_a_clean_4xx(db: TestDb) {
        let fx = Fixture::new(&db).await;
        let before = table_counts(&fx.server).await;
        let token = &fx.admin.login.token;
        let mut checked = 0;
        for value in hostile_values() {
            for (method, template) in [
                (reqwest::Method::DELETE, "/v1/devices/{id}"),
                (reqwest::Method::POST, "/v1/quarantine/{id}/accept"),
                (reqwest::Method::POST, "/v1/quarantine/{id}/reject"),
                (reqwest::Method::GET, "/v1/records/{id}"),
                (reqwest::Method::GET, "/v1/records/{id}/history"),
                (reqwest::Method::GET, "/v1/people/{id}/export"),
                (reqwest::Method::POST, "/v1/people/{id}/erase"),
                (reqwest::Method::GET, "/v1/duplicates/{id}"),
                (reqwest::Method::POST, "/v1/duplicates/{id}/dismiss"),
                (reqwest::Method::POST, "/v1/duplicates/{id}/merge"),
                (reqwest::Method::PATCH, "/v1/records/{id}"),
                (reqwest::Method::POST, "/v1/alerts/{id}/resolve"),
                (reqwest::Method::POST, "/v1/conflicts/{id}/resolve"),
                (reqwest::Method::POST, "/v1/orders/{id}/approve"),
                (reqwest::Method::POST, "/v1/orders/{id}/reject"),
                (reqwest::Method::PUT, "/v1/users/{id}/territories/North"),
                (reqwest::Method::PATCH, "/v1/uploads/{id}"),
                (reqwest::Method::DELETE, "/v1/uploads/{id}"),
                (reqwest::Method::GET, "/v1/attachments/{id}"),
            ] {
                let mut url = reqwest::Url::parse(&fx.server.url).unwrap();
                {
                    let mut segments = url.path_segments_mut().unwrap();
                    for part in template.trim_start_matches('/').split('/') {
                        segments.push(if part == "{id}" { value.as_str() } else { part });
                    }
                }
                let response = fx.http.request(method.clone(), url).bearer_auth(token).send().await.unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.expect("a JSON error");
                assert!((400..500).contains(&status), "{method} {template} with {value:?}: {status}");
                assert!(body["error"]["code"].is_string(), "{body}");
                checked += 1;
            }
            for (name, other) in [("cursor", None), ("limit", None), ("cursor", Some(("limit", "10"))), ("limit", Some(("cursor", "AA")))] {
                let mut query = vec![(name, value.as_str())];
                query.extend(other);
                let response = fx
                    .http
                    .get(format!("{}/v1/sync/pull", fx.server.url))
                    .query(&query)
                    .bearer_auth(token)
                    .header("accept", "application/json")
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.expect("a JSON body");
                // A limit of "-1" or a huge number is refused; only "AA"-like cursors that decode to
                // foreign bytes get invalid_cursor. Nothing is ever a 5xx.
                assert!((400..500).contains(&status), "pull with {name}={value:?}: {status} {body}");
                assert!(matches!(body["error"]["code"].as_str(), Some("invalid_cursor" | "invalid_query")), "{body}");
                checked += 1;
            }
            // The listing's own parameters are refused; a filter's value is only ever compared, so it
            // finds nothing or is refused for its type, and the listing of other kinds is not reached.
            for (name, kind) in [("kind", None), ("after", Some("customer")), ("limit", Some("customer")), ("include_deleted", Some("customer")), ("name", Some("customer")), ("credit_limit", Some("customer")), ("customer_id", Some("visit"))] {
                let mut query = vec![(name, value.as_str())];
                query.extend(kind.map(|k| ("kind", k)));
                let response = fx.http.get(format!("{}/v1/records", fx.server.url)).query(&query).bearer_auth(token).send().await.unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.expect("a JSON body");
                if status == 200 {
                    // 32 digits are a UUID, and so a valid `after` or reference.
                    assert!(matches!(name, "name" | "credit_limit" | "after" | "customer_id"), "records with {name}={value:?}: {body}");
                    assert_eq!(body["records"], serde_json::json!([]), "records with {name}={value:?}");
                } else {
                    assert!((400..500).contains(&status), "records with {name}={value:?}: {status} {body}");
                    assert!(body["error"]["code"].is_string(), "{body}");
                }
                checked += 1;
            }
            // A report's filters: text is only ever compared (nothing matches), the rest refused
            // naming the parameter.
            for report in ["sales", "visits", "pipeline", "customer-value", "clv", "retention", "receivables", "service", "scorecard", "warnings", "sync-health", "leads", "campaign"] {
                for name in ["territory", "segment", "category", "agent", "product", "from", "to", "granularity", "tier", "format", "section", "stale_days", "a_share", "b_share", "measure", "drop_share", "horizon_months", "margin", "discount_rate", "cycle_days", "alive_below"] {
                    let response = fx.http.get(format!("{}/v1/reports/{report}", fx.server.url)).query(&[(name, value.as_str())]).bearer_auth(token).send().await.unwrap();
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().await.expect("a JSON body");
                    if status == 200 {
                        // 32 digits are a UUID, and so a valid agent or product.
                        let uuid = value.len() == 32 && matches!(name, "agent" | "product");
                        assert!(uuid || matches!(name, "territory" | "segment" | "category"), "{report} with {name}={value:?}: {body}");
                    } else {
                        assert_eq!(status, 400, "{report} with {name}={value:?}: {body}");
                        assert_eq!(body["error"]["code"], "invalid_parameter", "{body}");
                        assert!(body["error"]["message"].as_str().unwrap().contains(name), "{body}");
                    }
                    checked += 1;
                }
            }
            let login = fx
                .http
                .post(format!("{}/v1/auth/login", fx.server.url))
                .json(&serde_json::json!({"email": value, "password": value, "device_name": "x"}))
                .send()
                .await
                .unwrap();
            assert!(matches!(login.status().as_u16(), 401 | 429), "login with {value:?}: {}", login.status());
            checked += 1;
        }
        assert_eq!(checked, hostile_values().len() * (31 + 13 * 21));
        assert_eq!(table_counts(&fx.server).await, before, "hostile input changed nothing");
    }
}
