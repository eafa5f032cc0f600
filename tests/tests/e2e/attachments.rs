//! Files attached to records: a photo captured offline, uploaded by `sync` after its visit over a
//! link that breaks again and again (resumed, never started over) and checked by hash; downloads
//! with ranges, authorised like the visit; tampered, disguised, oversized and over-quota uploads
//! refused with nothing kept; no probing of others' files by hash; collection after the grace; the
//! S3 store (moto) shared by two server processes.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use fieldsync_e2e::proxy::{Fault, FaultProxy};
use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use fieldsync_sdk::{Client, RetryPolicy};
use fieldsync_server::files::store::Location;
use fieldsync_server::files::FileLimits;
use fieldsync_server::Settings;
use sync_core::{attachments, Role, Value};
use uuid::Uuid;

/// A JPEG's first bytes, then `size` bytes of noise (which no compression shrinks).
fn photo(size: usize, seed: u8) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, seed,
    ];
    let mut x: u32 = 0x9E37_79B9 ^ u32::from(seed);
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

async fn visit_of(device: &Device, territory: &str) -> Uuid {
    let shop = device
        .replica
        .create("customer", &customer("Corner Shop", territory))
        .await
        .unwrap();
    device
        .replica
        .create(
            "visit",
            &[
                ("customer_id", Value::Str(shop.to_string())),
                ("status", "in_progress".into()),
            ],
        )
        .await
        .unwrap()
}

async fn download(
    url: &str,
    who: &Device,
    hash: &str,
    range: Option<&str>,
) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .get(format!("{url}/v1/attachments/{hash}"))
        .bearer_auth(&who.login.token);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.bytes().await.unwrap().to_vec(), headers)
}

/// A tus request of the upload protocol, by hand.
async fn create_upload(
    url: &str,
    who: &Device,
    hash: &str,
    length: usize,
) -> (u16, String, serde_json::Value) {
    let metadata = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    );
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/uploads"))
        .bearer_auth(&who.login.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.json().await.unwrap_or_default())
}

async fn patch(
    url: &str,
    who: &Device,
    location: &str,
    offset: usize,
    bytes: Vec<u8>,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .patch(format!("{url}{location}"))
        .bearer_auth(&who.login.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

storage_test! {
    async fn a_photo_sent_over_a_link_that_keeps_breaking_arrives_whole(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("sam@x.test", Role::Agent, &["South"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let sam = server.device("sam@x.test").await;
        let maria = server.device("maria@x.test").await;
        let visit = visit_of(&anna, "North").await;
        let bytes = photo(8 << 20, 1);
        let hash = anna.replica.attach(visit, "photos", bytes.clone(), Some("storefront")).await.unwrap();
        assert_eq!(hash, attachments::hash(&bytes));
        assert_eq!(anna.replica.pending_files().await.unwrap().len(), 1);

        // The visit goes first, through a good link: a reference to a file the server does not
        // hold yet is no error.
        let report = anna.replica.push(&anna.client).await.unwrap();
        assert!(report.rejected.is_empty(), "{report:?}");
        let (status, shown) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{visit}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(shown["fields"]["photos"][0]["hash"], hash.as_str(), "{shown}");
        assert_eq!(download(&server.url, &maria, &hash, None).await.0, 404, "not uploaded yet");

        // Then the photo, through a proxy that cuts every other connection half-way through its
        // body: each PATCH that breaks leaves what arrived, and the next starts from there.
        let proxy = FaultProxy::start(&server.url).await;
        let mut faults = vec![Fault::Pass];
        for _ in 0..6 {
            faults.extend([Fault::DropMidBody, Fault::Pass]);
        }
        proxy.inject(faults);
        let through = Client::new(&proxy.url).with_token(anna.login.token.clone());
        let mut offsets = Vec::new();
        let uploaded = anna
            .replica
            .upload_files(&through, &mut |p| offsets.push(p.sent))
            .await
            .unwrap();
        assert_eq!(uploaded, 1);
        let cuts = proxy.log().applied.iter().filter(|(f, _)| *f == Fault::DropMidBody).count();
        assert!(cuts >= 4, "the link broke {cuts} times");
        // Resumed from where each cut left the server, never from the start: offsets never go back,
        // and some are not multiples of what the client sends per request. An offset may repeat:
        // the client's HEAD can reach the server before it has stored what a cut request brought.
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
        assert!(offsets.iter().any(|o| o % (4 << 20) != 0), "{offsets:?}");
        assert!(anna.replica.pending_files().await.unwrap().is_empty());
        assert_eq!(server.count("attachments").await, 1);
        assert_eq!(server.count("uploads").await, 0);
        assert_eq!(server.count("upload_parts").await, 0);

        // The manager of the territory reads it whole, and in ranges.
        let (status, got, headers) = download(&server.url, &maria, &hash, None).await;
        assert_eq!(status, 200);
        assert_eq!(attachments::hash(&got), hash, "whole and verified");
        assert_eq!(headers["content-type"], "image/jpeg");
        let (status, part, headers) = download(&server.url, &maria, &hash, Some("bytes=1000-1999")).await;
        assert_eq!(status, 206);
        assert_eq!(part, bytes[1000..2000]);
        assert_eq!(headers["content-range"], format!("bytes 1000-1999/{}", bytes.len()));
        let (status, tail, _) = download(&server.url, &maria, &hash, Some("bytes=-10")).await;
        assert_eq!((status, &tail[..]), (206, &bytes[bytes.len() - 10..]));
        assert_eq!(download(&server.url, &maria, &hash, Some("bytes=99999999-")).await.0, 416);
        // An agent of another territory cannot tell it from a file that does not exist.
        assert_eq!(download(&server.url, &sam, &hash, None).await.0, 404);
        assert_eq!(download(&server.url, &sam, &attachments::hash(b"nothing"), None).await.0, 404);
        // The SDK's way, and the device's own copy gone once uploaded.
        anna.sync().await;
        assert_eq!(anna.replica.file(&anna.client, &hash).await.unwrap(), bytes);
    }
}

storage_test! {
    async fn tampered_disguised_oversized_and_over_quota_files_are_refused(db: TestDb) {
        let server = TestServer::start_with(Settings {
            file_limits: FileLimits {
                max_file_bytes: 1 << 20,
                device_quota_bytes: 1_500_000,
                ..fieldsync_server::files::DEFAULT_LIMITS
            },
            ..db.settings()
        })
        .await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("sam@x.test", Role::Agent, &["South"]).await;
        let anna = server.device("anna@x.test").await;
        let sam = server.device("sam@x.test").await;
        let url = &server.url;

        // Bytes that are not the ones the upload was made for: refused, nothing kept.
        let real = photo(100_000, 2);
        let (status, location, _) = create_upload(url, &anna, &attachments::hash(&real), real.len()).await;
        assert_eq!(status, 201);
        let mut tampered = real.clone();
        tampered[50_000] ^= 1;
        let (status, body) = patch(url, &anna, &location, 0, tampered).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("hash_mismatch")), "{body}");
        assert_eq!(server.counts(&["attachments", "uploads", "upload_parts"]).await, [0, 0, 0]);
        assert_eq!(patch(url, &anna, &location, 0, real.clone()).await.0, 404, "the upload is gone");

        // A script named like a photo: its bytes say what it is.
        let script = b"#!/bin/sh\necho not a photo\n".repeat(100);
        let (_, location, _) = create_upload(url, &anna, &attachments::hash(&script), script.len()).await;
        let (status, body) = patch(url, &anna, &location, 0, script).await;
        assert_eq!((status, body["error"]["code"].as_str()), (415, Some("media_type_not_allowed")), "{body}");
        assert_eq!(server.count("attachments").await, 0);

        // Too large for one file, and past the device's quota.
        let (status, _, body) = create_upload(url, &anna, &attachments::hash(b"x"), (1 << 20) + 1).await;
        assert_eq!((status, body["error"]["code"].as_str()), (413, Some("file_too_large")));
        let big = photo(1 << 20, 3);
        let (status, location, _) = create_upload(url, &anna, &attachments::hash(&big), big.len()).await;
        assert_eq!(status, 201);
        assert_eq!(patch(url, &anna, &location, 0, big.clone()).await.0, 204);
        let (status, _, body) = create_upload(url, &anna, &attachments::hash(&real), 600_000).await;
        assert_eq!((status, body["error"]["code"].as_str()), (413, Some("quota_exceeded")), "{body}");

        // Bytes sent from the wrong offset, and an upload of another device.
        let (_, location, _) = create_upload(url, &anna, &attachments::hash(&real), real.len()).await;
        assert_eq!(patch(url, &anna, &location, 0, real[..1000].to_vec()).await.0, 204);
        let (status, body) = patch(url, &anna, &location, 0, real[..1000].to_vec()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("offset_mismatch")));
        assert_eq!(patch(url, &sam, &location, 1000, real[1000..].to_vec()).await.0, 404);
        let (status, _) = patch(url, &anna, &location, 1000, real[1000..].to_vec()).await;
        assert_eq!(status, 204);

        // Probing: Sam, who may not read Anna's file, learns nothing from its hash. Making an
        // upload for it is answered as for any file, and the server says it has the file only
        // once he has sent every byte of it.
        assert_eq!(download(url, &sam, &attachments::hash(&big), None).await.0, 404);
        let (status, location, _) = create_upload(url, &sam, &attachments::hash(&big), big.len()).await;
        assert_eq!(status, 201, "the same answer as for a file nobody has");
        assert_eq!(download(url, &sam, &attachments::hash(&big), None).await.0, 404);
        assert_eq!(patch(url, &sam, &location, 0, big.clone()).await.0, 204);
        assert_eq!(server.count("attachments").await, 2, "stored once");
    }
}

storage_test! {
    async fn a_file_no_record_references_is_collected_after_the_grace(db: TestDb) {
        let server = TestServer::start_with(Settings {
            file_limits: FileLimits {
                grace: Duration::ZERO,
                ..fieldsync_server::files::DEFAULT_LIMITS
            },
            ..db.settings()
        })
        .await;
        server.user("admin@x.test", Role::Admin, &[]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let admin = server.device("admin@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let visit = visit_of(&anna, "North").await;
        let kept = anna.replica.attach(visit, "photos", photo(5_000, 4), None).await.unwrap();
        let dropped = anna.replica.attach(visit, "photos", photo(6_000, 5), None).await.unwrap();
        assert_eq!(anna.sync().await.uploaded_files, 2);
        let collect = || server.api(&admin, reqwest::Method::POST, "/v1/attachments/collect", None);
        let (status, collected) = collect().await;
        assert_eq!(status, 200);
        assert_eq!(collected["files"], 0, "both referenced: {collected}");

        // Anna drops one photo from the visit.
        let photos: Vec<sync_core::Item> = anna.replica.get(visit).await.unwrap().get("photos").items().iter().filter(|i| i.get("hash").as_str() != Some(&dropped)).cloned().collect();
        anna.replica.update(visit, &[("photos", Value::Items(photos))]).await.unwrap();
        anna.sync().await;
        let (_, collected) = collect().await;
        assert_eq!((collected["files"].as_u64(), collected["bytes"].as_u64()), (Some(1), Some(6_000)), "{collected}");
        assert_eq!(download(&server.url, &anna, &dropped, None).await.0, 404);
        assert_eq!(download(&server.url, &anna, &kept, None).await.0, 200);

        // A deleted visit references nothing.
        anna.replica.delete(visit).await.unwrap();
        anna.sync().await;
        let (_, collected) = collect().await;
        assert_eq!(collected["files"], 1, "{collected}");
        assert_eq!(server.count("attachments").await, 0);
        // Agents do not run the collection.
        assert_eq!(server.api(&anna, reqwest::Method::POST, "/v1/attachments/collect", None).await.0, 403);
    }
}

/// One moto server (an S3 look-alike from PyPI) for the test process, started on first use; the
/// S3 client reads its address from the environment, which every test in the process shares.
fn moto() -> &'static str {
    static MOTO: OnceLock<(std::process::Child, String)> = OnceLock::new();
    &MOTO
        .get_or_init(|| {
            let program = std::env::var("FIELDSYNC_TEST_MOTO").unwrap_or_else(|_| {
                format!("{}/.cache/fieldsync/venv-moto/bin/moto_server", std::env::var("HOME").unwrap())
            });
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = std::process::Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("moto is needed for the S3 tests (scripts/test installs it): {program}: {e}"));
            let url = format!("http://127.0.0.1:{port}");
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            for (key, value) in [
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT", url.as_str()),
                ("AWS_ALLOW_HTTP", "true"),
            ] {
                std::env::set_var(key, value);
            }
            (child, url)
        })
        .1
}

storage_test! {
    async fn files_in_s3_are_shared_by_every_server_process(db: TestDb) {
        let endpoint = moto();
        let bucket = format!("fieldsync-{}", Uuid::new_v4().simple());
        let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
        assert!(created.status().is_success(), "{}", created.status());
        let settings = Settings {
            files: Some(Location::S3 { bucket: bucket.clone(), prefix: "acme".into() }),
            ..db.settings()
        };
        let first = TestServer::start_with(settings.clone()).await;
        let second = TestServer::start_with(settings).await;
        first.user("anna@x.test", Role::Agent, &["North"]).await;
        first.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut anna = first.device("anna@x.test").await;
        let maria = Device::login(&second.url, "maria@x.test").await;
        let visit = visit_of(&anna, "North").await;
        let bytes = photo(6 << 20, 6);
        let hash = anna.replica.attach(visit, "photos", bytes.clone(), None).await.unwrap();
        assert_eq!(anna.sync().await.uploaded_files, 1);

        // Read back through the other process, whole and in a range.
        let (status, got, _) = download(&second.url, &maria, &hash, None).await;
        assert_eq!(status, 200);
        assert_eq!(got, bytes);
        let (status, part, _) = download(&second.url, &maria, &hash, Some("bytes=5000000-5000099")).await;
        assert_eq!((status, &part[..]), (206, &bytes[5_000_000..5_000_100]));
        // The object is in the bucket, named by the hash, as the store lists it.
        let listed = first.state.files.list("files").await.unwrap();
        let keys: Vec<String> = listed.iter().map(|(key, _, _)| key.to_string()).collect();
        assert_eq!(keys, [format!("files/{}/{hash}", &hash[..2])]);
        assert_eq!(listed[0].1, bytes.len() as u64);
        assert!(matches!(first.state.files.location, Location::S3 { .. }));
    }
}

storage_test! {
    async fn an_upload_cut_off_when_the_app_dies_resumes_after_it_starts_again(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let dir = tempfile::tempdir().unwrap();
        let anna = Device::login_durable(&server.url, "anna@x.test", dir.path()).await;
        let visit = visit_of(&anna, "North").await;
        let bytes = photo(8 << 20, 7);
        let hash = anna.replica.attach(visit, "photos", bytes.clone(), None).await.unwrap();
        anna.replica.push(&anna.client).await.unwrap();

        // The link carries the upload's creation and half of its first request, then nothing.
        let proxy = FaultProxy::start(&server.url).await;
        proxy.inject([Fault::Pass, Fault::DropMidBody]);
        proxy.inject(std::iter::repeat_n(Fault::Stall(Duration::from_millis(20)), 12));
        let through = Client::new(&proxy.url)
            .with_token(anna.login.token.clone())
            .with_retry(RetryPolicy { attempts: 3, base: Duration::from_millis(5), max: Duration::from_millis(10) });
        let failed = anna.replica.upload_files(&through, &mut |_| {}).await.unwrap_err();
        assert!(failed.is_transient(), "{failed}");
        assert_eq!(anna.replica.pending_files().await.unwrap().len(), 1, "the photo waits");

        // The app is killed and starts again with its store, on a good link: the upload goes on
        // from where the server's copy stopped.
        let anna = anna.reopen(dir.path()).await;
        let mut offsets = Vec::new();
        let uploaded = anna.replica.upload_files(&anna.client, &mut |p| offsets.push(p.sent)).await.unwrap();
        assert_eq!(uploaded, 1);
        assert_eq!(offsets.first(), Some(&(2 << 20)), "resumed, not started over: {offsets:?}");
        assert_eq!(anna.client.download(&hash, None).await.unwrap(), bytes);
    }
}

storage_test! {
    async fn a_merge_takes_the_photos_with_the_visits_to_the_survivor(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("admin@x.test", Role::Admin, &[]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("sam@x.test", Role::Agent, &["South"]).await;
        let admin = server.device("admin@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let mut sam = server.device("sam@x.test").await;
        let mut fields = customer("Kiosk am Markt", "North");
        fields.push(("phone", "+49 30 555 0001".into()));
        let merged = anna.replica.create("customer", &fields).await.unwrap();
        let visit = anna
            .replica
            .create("visit", &[("customer_id", Value::Str(merged.to_string())), ("status", "completed".into())])
            .await
            .unwrap();
        let bytes = photo(40_000, 8);
        let hash = anna.replica.attach(visit, "photos", bytes.clone(), None).await.unwrap();
        assert_eq!(anna.sync().await.uploaded_files, 1);
        let mut fields = customer("Kiosk am Markt", "South");
        fields.push(("phone", "030 5550001".into()));
        let survivor = sam.replica.create("customer", &fields).await.unwrap();
        sam.sync().await;
        assert_eq!(download(&server.url, &sam, &hash, None).await.0, 404, "not Sam's yet");

        let (status, page) = server.api(&admin, reqwest::Method::GET, &format!("/v1/duplicates?customer_id={survivor}"), None).await;
        assert_eq!(status, 200, "{page}");
        let pair = page["candidates"][0]["id"].as_str().expect("the pair was found").to_string();
        let (status, reply) = server
            .api(&admin, reqwest::Method::POST, &format!("/v1/duplicates/{pair}/merge"), Some(serde_json::json!({"survivor": survivor})))
            .await;
        assert_eq!(status, 200, "{reply}");

        // The visit moved to the survivor, in South, with its photo: Sam's device receives it and
        // Sam may read the photo.
        sam.sync().await;
        let moved = sam.replica.get(visit).await.unwrap();
        assert_eq!(moved.get("customer_id").as_str(), Some(survivor.to_string().as_str()));
        assert_eq!(moved.get("photos").items()[0].get("hash").as_str(), Some(hash.as_str()));
        let (status, got, _) = download(&server.url, &sam, &hash, None).await;
        assert_eq!((status, got), (200, bytes));
    }
}
