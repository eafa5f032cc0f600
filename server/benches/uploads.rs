//! A photo's upload through the real HTTP server: an 8 MiB file created, sent in the SDK's 4 MiB
//! requests over loopback (each stored in 1 MiB pieces as it arrives), checked whole (SHA-256 and
//! media type) and written as one file. Every iteration sends a file the server does not hold.
//!
//! The directory store on SQLite always; on PostgreSQL too when `FIELDSYNC_BENCH_POSTGRES_URL` names
//! a database; S3 (moto) when `FIELDSYNC_TEST_MOTO` names a `moto_server`.
//!
//! `cargo bench -p fieldsync-server --bench uploads`; figures are in BENCHMARKS.md.

use std::time::Duration;

use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fieldsync_server::files::store::Location;
use fieldsync_server::{AppState, Settings};
use sync_core::Role;

mod support;

const SIZE: usize = 8 << 20;
const REQUEST: usize = 4 << 20;

struct Server {
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

async fn start(url: &str, files: Option<Location>) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::new(url);
    settings
        .key_file
        .get_or_insert_with(|| dir.path().join("bench.key"));
    if files.is_some() {
        settings.files = files;
    }
    settings.file_limits.device_quota_bytes = u64::MAX;
    let state = AppState::new(&settings).await.expect("server state");
    let email = format!("bench-{}@x.test", uuid::Uuid::new_v4().simple());
    fieldsync_server::auth::users::add_user(
        &state.db,
        &email,
        Role::Agent,
        "bench-password-1",
        &[],
    )
    .await
    .expect("user");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(fieldsync_server::serve(
        state,
        listener,
        std::future::pending(),
    ));
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": "bench-password-1", "device_name": "bench"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login reply");
    Server {
        url: base,
        token: login["token"].as_str().expect("a token").to_string(),
        _dir: dir,
    }
}

/// A JPEG's first bytes, then noise: a new file each call.
fn photo() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    bytes.extend((0..SIZE - bytes.len()).map(|_| rand::random::<u8>()));
    bytes
}

async fn upload(http: &reqwest::Client, server: &Server, bytes: Vec<u8>) {
    let hash = sync_core::attachments::hash(&bytes);
    let created = http
        .post(format!("{}/v1/uploads", server.url))
        .bearer_auth(&server.token)
        .header("upload-length", bytes.len().to_string())
        .header(
            "upload-metadata",
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(hash)
            ),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let bytes = bytes::Bytes::from(bytes);
    for start in (0..bytes.len()).step_by(REQUEST) {
        let end = (start + REQUEST).min(bytes.len());
        let sent = http
            .patch(format!("{}{location}", server.url))
            .bearer_auth(&server.token)
            .header("upload-offset", start.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(bytes.slice(start..end))
            .send()
            .await
            .expect("patch");
        assert_eq!(sent.status(), 204);
    }
}

fn bench(c: &mut Criterion, name: &str, url: &str, files: Option<Location>) {
    let rt = support::runtime();
    let server = rt.block_on(start(url, files));
    let http = reqwest::Client::new();
    let mut group = c.benchmark_group("files");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function(format!("upload an 8 MiB photo ({name})"), |b| {
        b.to_async(&rt).iter_batched(
            photo,
            |bytes| upload(&http, &server, bytes),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn uploads(c: &mut Criterion) {
    let (_sqlite, url) = support::fresh_sqlite();
    bench(c, "directory, SQLite", &url, None);
    if let Ok(url) = std::env::var("FIELDSYNC_BENCH_POSTGRES_URL") {
        let dir = tempfile::tempdir().expect("temp dir");
        bench(
            c,
            "directory, PostgreSQL",
            &url,
            Some(Location::Dir(dir.path().join("files"))),
        );
    }
    if let Ok(moto) = std::env::var("FIELDSYNC_TEST_MOTO") {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        for (key, value) in [
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ] {
            std::env::set_var(key, value);
        }
        let rt = support::runtime();
        rt.block_on(async {
            reqwest::Client::new()
                .put(format!("{endpoint}/bench"))
                .send()
                .await
                .expect("bucket");
        });
        let (_s3db, url) = support::fresh_sqlite();
        bench(
            c,
            "S3 (moto), SQLite",
            &url,
            Some(Location::S3 {
                bucket: "bench".into(),
                prefix: String::new(),
            }),
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

criterion_group!(benches, uploads);
criterion_main!(benches);
