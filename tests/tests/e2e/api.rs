//! The HTTP surface: authentication, revocation, bad input and the error shape. Every refused request
//! answers `{"error": {"code", "message"}}` with a stable code and changes nothing.

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use fieldsync_server::Settings;
use sync_core::protocol::{self, Limits, PushRequest, CONTENT_TYPE};
use sync_core::Role;

async fn error_of(response: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("an error code")
        .to_string();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, code, body)
}

storage_test! {
    /// Sync bodies may be compressed (zstd or gzip); the body limit counts what they inflate to, so a
    /// small body that would inflate past it is refused like a large one, and changes nothing.
    async fn compressed_bodies_are_read_and_inflation_is_bounded(db: TestDb) {
        let limits = Limits { max_message_bytes: 64 * 1024, ..Limits::default() };
        let server = TestServer::start_with(Settings { limits, ..db.settings() }).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let anna = server.device("anna@x.test").await;
        let http = reqwest::Client::new();
        let push = format!("{}/v1/sync/push", server.url);
        let send = |body: Vec<u8>, encoding: &'static str| {
            http.post(&push)
                .bearer_auth(&anna.login.token)
                .header("content-type", CONTENT_TYPE)
                .header("content-encoding", encoding)
                .body(body)
                .send()
        };
        let gzip = |bytes: &[u8]| {
            use std::io::Write;
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        };

        anna.replica.create("customer", &customer("Zed", "North")).await.unwrap();
        let body = protocol::encode(&PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 });
        let response = send(zstd::encode_all(&body[..], 1).unwrap(), "zstd").await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(server.count("documents").await, 1);
        anna.replica.create("customer", &customer("Gus", "North")).await.unwrap();
        // Zed is still pending on the device (its push above went around the SDK): it comes again,
        // already known, with Gus.
        let body = protocol::encode(&PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 });
        let response = send(gzip(&body), "gzip").await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(server.count("documents").await, 2);

        // 16 MiB of one byte compresses to a few hundred bytes.
        let bomb = vec![0x90u8; 16 * 1024 * 1024];
        for (body, encoding) in [(zstd::encode_all(&bomb[..], 19).unwrap(), "zstd"), (gzip(&bomb), "gzip")] {
            assert!(body.len() < 64 * 1024, "{encoding}: {} bytes", body.len());
            let (status, code, _) = error_of(send(body, encoding).await.unwrap()).await;
            assert_eq!((status, code.as_str()), (413, "payload_too_large"), "{encoding}");
        }
        let (status, code, _) = error_of(send(b"not zstd at all".to_vec(), "zstd").await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "malformed"));
        // An encoding the server does not decode reaches the decoder as it is.
        let (status, code, _) = error_of(send(b"\x1b\x00".to_vec(), "br").await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "malformed"));
        assert_eq!(server.count("documents").await, 2, "a refused body changed something");
    }
}

storage_test! {
    async fn bad_bodies_are_refused_with_a_code_and_change_nothing(db: TestDb) {
        let limits = Limits { max_message_bytes: 64 * 1024, ..Limits::default() };
        let server = TestServer::start_with(Settings { limits, ..db.settings() }).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let http = reqwest::Client::new();
        let push = format!("{}/v1/sync/push", server.url);
        let send = |body: Vec<u8>, content_type: &'static str| {
            http.post(&push).bearer_auth(&anna.login.token).header("content-type", content_type).body(body).send()
        };

        let (status, code, _) = error_of(send(b"\xc1\x00not msgpack".to_vec(), CONTENT_TYPE).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "malformed"));
        let (status, code, _) = error_of(send(b"{}".to_vec(), "text/plain").await.unwrap()).await;
        assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));
        let (status, code, _) = error_of(send(vec![0x90; 100 * 1024], CONTENT_TYPE).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (413, "payload_too_large"));
        let (status, code, _) = error_of(send(br#"{"docs": [{"id": "not-a-uuid"}]}"#.to_vec(), "application/json").await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "malformed"));

        // A well-formed push of a record that is not valid for its kind.
        anna.replica.create("customer", &customer("Good", "North")).await.unwrap();
        let mut good = PushRequest { docs: anna.replica.pending_pushes().await.unwrap(), checkpoint: 0 };
        good.docs[0].kind = "invoice".into();
        let response = anna.client.push(&good).await.unwrap();
        assert_eq!(response.results[0].reason.as_ref().unwrap().code, "unknown_kind");
        good.docs[0].kind = "customer".into();
        good.docs[0].changes[0] = serde_bytes::ByteBuf::from(vec![1, 2, 3]);
        let response = anna.client.push(&good).await.unwrap();
        assert_eq!(response.results[0].reason.as_ref().unwrap().code, "malformed_change");
        let mut not_v7 = good.clone();
        not_v7.docs[0].id = uuid::Uuid::new_v4();
        let response = anna.client.push(&not_v7).await.unwrap();
        assert_eq!(response.results[0].reason.as_ref().unwrap().code, "invalid_id");
        let twice = PushRequest { docs: vec![good.docs[0].clone(), good.docs[0].clone()], checkpoint: 0 };
        assert_eq!(anna.client.push(&twice).await.unwrap_err().code(), Some("duplicate_document"));

        let response = http.post(format!("{}/v1/sync/pull", server.url)).bearer_auth(&anna.login.token)
            .header("content-type", CONTENT_TYPE).header("fieldsync-protocol", "99").body(protocol::encode(&protocol::PullRequest::default())).send().await.unwrap();
        let (status, code, _) = error_of(response).await;
        assert_eq!((status, code.as_str()), (400, "unsupported_protocol_version"));
        let response = http.get(format!("{}/v1/sync/pull?cursor=bm90LWEtY3Vyc29y", server.url)).bearer_auth(&anna.login.token).send().await.unwrap();
        let (status, code, _) = error_of(response).await;
        assert_eq!((status, code.as_str()), (400, "invalid_cursor"));

        for table in ["documents", "doc_chunks", "customers", "orphan_changes", "quarantine"] {
            assert_eq!(server.count(table).await, 0, "{table} was written");
        }
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "the device's own record still goes through");
    }
}

storage_test! {
    async fn login_tokens_and_revocation(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let http = reqwest::Client::new();
        let login = format!("{}/v1/auth/login", server.url);
        for (body, status, code) in [
            (serde_json::json!({"email": "anna@x.test", "password": "wrong", "device_name": "p"}), 401, "bad_credentials"),
            (serde_json::json!({"email": "nobody@x.test", "password": "wrong", "device_name": "p"}), 401, "bad_credentials"),
            (serde_json::json!({"email": "anna@x.test"}), 400, "malformed"),
            (serde_json::json!({"email": "anna@x.test", "password": fieldsync_e2e::PASSWORD, "device_name": ""}), 400, "invalid_device_name"),
        ] {
            let (s, c, _) = error_of(http.post(&login).json(&body).send().await.unwrap()).await;
            assert_eq!((s, c.as_str()), (status, code), "{body}");
        }
        let (s, c, _) = error_of(http.get(format!("{}/v1/sync/pull", server.url)).send().await.unwrap()).await;
        assert_eq!((s, c.as_str()), (401, "unauthenticated"));
        let (s, c, _) = error_of(http.get(format!("{}/v1/sync/pull", server.url)).bearer_auth("fst_guess").send().await.unwrap()).await;
        assert_eq!((s, c.as_str()), (401, "unauthenticated"));

        let phone = Device::login(&server.url, "anna@x.test").await;
        let tablet = Device::login(&server.url, "anna@x.test").await;
        assert_eq!(phone.login.actor_id, phone.login.device_id.simple().to_string());
        assert_ne!(phone.login.token, tablet.login.token);
        let listed = phone.client.devices().await.unwrap();
        assert_eq!(listed.len(), 2);
        // The request that listed them is the phone's first since it logged in: it is seen now; the
        // tablet has made no request yet.
        let seen = |id| listed.iter().find(|d| d.id == id).unwrap().last_seen_at.clone();
        assert!(seen(phone.login.device_id).is_some());
        assert_eq!(seen(tablet.login.device_id), None);
        let ben = Device::login(&server.url, "ben@x.test").await;
        // Another agent may not revoke Anna's devices, and does not learn they exist.
        assert_eq!(ben.client.revoke_device(tablet.login.device_id).await.unwrap_err().code(), Some("not_found"));
        phone.client.revoke_device(tablet.login.device_id).await.unwrap();
        let response = http.get(format!("{}/v1/sync/pull", server.url)).bearer_auth(&tablet.login.token).send().await.unwrap();
        let (s, c, body) = error_of(response).await;
        assert_eq!((s, c.as_str()), (401, "device_revoked"));
        assert_eq!(body["error"]["wipe"], true, "a revoked device is told to wipe");
        // A manager of the user's territory may revoke too; the phone keeps working until then.
        assert!(phone.client.pull(&Default::default()).await.is_ok());
        let maria = Device::login(&server.url, "maria@x.test").await;
        maria.client.revoke_device(phone.login.device_id).await.unwrap();
        assert_eq!(phone.client.pull(&Default::default()).await.unwrap_err().code(), Some("device_revoked"));
    }
}

#[tokio::test]
async fn health_unknown_endpoints_and_json_replies() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(&db).await;
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "every answer carries a request id"
    );
    let (s, c, _) = error_of(
        http.get(format!("{}/v1/nope", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, c.as_str()), (404, "not_found"));
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    let anna = Device::login(&server.url, "anna@x.test").await;
    // The sync calls also speak JSON for debugging, when asked to.
    let page: serde_json::Value = http
        .get(format!("{}/v1/sync/pull?limit=5", server.url))
        .bearer_auth(&anna.login.token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["more"], false);
    assert!(page["docs"].as_array().unwrap().is_empty());
    server.stop().await;
}
