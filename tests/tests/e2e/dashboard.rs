//! The dashboard's sessions over real HTTP: signing in sets an HttpOnly, SameSite=Strict cookie
//! (Secure over HTTPS) that reads and acts like a manager's token, but only with the session's CSRF
//! token for a change, never for a device's calls, never for an agent; sessions end at sign-out and
//! when idle; the dashboard's files are served with a strict content security policy; the server
//! serves HTTPS itself.

use std::time::Duration;

use fieldsync_e2e::{customer, storage_test, TestDb, TestServer, PASSWORD};
use fieldsync_server::auth::ratelimit::Rate;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use sync_core::Role;

/// A browser's session: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(client: &Client, url: &str, email: &str, password: &str) -> Response {
    client
        .post(format!("{url}/v1/auth/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn browser(url: &str, email: &str) -> Browser {
    let response = sign_in(&Client::new(), url, email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
    }
}

/// A call with the session's cookie, and its CSRF token when `csrf` says so.
async fn call(
    url: &str,
    who: &Browser,
    method: Method,
    path: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = Client::new()
        .request(method, format!("{url}{path}"))
        .header(COOKIE, &who.cookie);
    if let Some(token) = csrf {
        request = request.header("x-csrf-token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

storage_test! {
    async fn a_manager_signs_in_and_reads_and_acts_with_the_session(db: TestDb) {
        let server = TestServer::start(&db).await;
        let url = server.url.clone();
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let maria_device = server.device("maria@x.test").await;
        let shop = anna.replica.create("customer", &customer("Shop", "North")).await.unwrap();
        anna.sync().await;
        let client = Client::new();

        // A wrong password and an agent get no cookie; the agent is told to use the app.
        let wrong = sign_in(&client, &url, "maria@x.test", "not her password").await;
        assert_eq!(wrong.status(), 401);
        assert!(!wrong.headers().contains_key(SET_COOKIE));
        let agent = sign_in(&client, &url, "anna@x.test", PASSWORD).await;
        assert_eq!(agent.status(), 403);
        assert!(!agent.headers().contains_key(SET_COOKIE));
        assert_eq!(code(&agent.json().await.unwrap()), "use_the_app");

        // Maria's cookie: HttpOnly, SameSite=Strict, not Secure over plain HTTP.
        let response = sign_in(&client, &url, "maria@x.test", PASSWORD).await;
        assert_eq!(response.status(), 200);
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
        assert!(set.starts_with("fieldsync_session=fst_"), "{set}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(!set.contains("Secure"), "{set}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["role"], "manager");
        let maria = Browser {
            cookie: set.split(';').next().unwrap().to_string(),
            csrf: body["csrf_token"].as_str().unwrap().to_string(),
        };
        let (status, again) = call(&url, &maria, Method::GET, "/v1/auth/session", None, None).await;
        assert_eq!((status, &again["csrf_token"]), (200, &body["csrf_token"]));

        // The session reads what her device's token reads.
        let (status, records) = call(&url, &maria, Method::GET, "/v1/records?kind=customer", None, None).await;
        assert_eq!(status, 200, "{records}");
        assert_eq!(fieldsync_e2e::record_ids(&records), [shop.to_string()]);
        let (status, by_cookie) = call(&url, &maria, Method::GET, "/v1/reports/customer-value", None, None).await;
        let (_, by_token) = server.api(&maria_device, Method::GET, "/v1/reports/customer-value", None).await;
        assert_eq!(status, 200);
        assert_eq!(by_cookie["sections"], by_token["sections"]);

        // A change needs the session's CSRF token: none, a wrong one, or another session's is refused
        // and writes nothing.
        let fields = json!({"kind": "customer", "fields": {"name": "Kiosk", "territory": "North"}});
        let other = browser(&url, "maria@x.test").await;
        for token in [None, Some("00"), Some(other.csrf.as_str())] {
            let (status, body) = call(&url, &maria, Method::POST, "/v1/records", token, Some(fields.clone())).await;
            assert_eq!((status, code(&body)), (403, "csrf_required"), "{token:?}");
        }
        let (_, records) = call(&url, &maria, Method::GET, "/v1/records?kind=customer", None, None).await;
        assert_eq!(fieldsync_e2e::record_ids(&records).len(), 1, "nothing was written");
        let (status, created) = call(&url, &maria, Method::POST, "/v1/records", Some(&maria.csrf), Some(fields)).await;
        assert_eq!(status, 201, "{created}");
        anna.sync().await;
        assert_eq!(anna.replica.ids().await.unwrap().len(), 2, "the device receives it");

        // What only a device does is not the session's: sync and uploads want a device's token.
        for (method, path) in [(Method::POST, "/v1/sync/pull"), (Method::POST, "/v1/sync/push"), (Method::POST, "/v1/uploads")] {
            let (status, body) = call(&url, &maria, method, path, Some(&maria.csrf), None).await;
            assert_eq!((status, code(&body)), (401, "unauthenticated"), "{path}");
        }

        // Signing out needs the CSRF token too; then the cookie is cleared and the session dead,
        // while her other session lives on.
        let (status, body) = call(&url, &maria, Method::DELETE, "/v1/auth/session", None, None).await;
        assert_eq!((status, code(&body)), (403, "csrf_required"));
        let out = Client::new()
            .delete(format!("{url}/v1/auth/session"))
            .header(COOKIE, &maria.cookie)
            .header("x-csrf-token", &maria.csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
        for path in ["/v1/auth/session", "/v1/records?kind=customer", "/v1/reports/sales"] {
            let (status, body) = call(&url, &maria, Method::GET, path, None, None).await;
            assert_eq!((status, code(&body)), (401, "unauthenticated"), "{path}");
        }
        assert_eq!(call(&url, &other, Method::GET, "/v1/auth/session", None, None).await.0, 200);
        // A forged cookie is no session.
        let forged = Browser { cookie: format!("fieldsync_session=fst_{}", "0".repeat(64)), csrf: String::new() };
        assert_eq!(call(&url, &forged, Method::GET, "/v1/reports/sales", None, None).await.0, 401);
    }
}

storage_test! {
    async fn a_session_ends_when_idle_and_sign_ins_share_the_login_limits(db: TestDb) {
        let mut settings = db.settings();
        settings.session_idle = Duration::from_secs(1);
        settings.login_account_rate = Rate::new(2, Duration::from_secs(900));
        let server = TestServer::start_with(settings).await;
        let url = server.url.clone();
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;

        let root = browser(&url, "root@x.test").await;
        assert_eq!(call(&url, &root, Method::GET, "/v1/users", None, None).await.0, 200);
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let (status, body) = call(&url, &root, Method::GET, "/v1/users", None, None).await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"), "an idle session has ended");

        // Two wrong passwords on the dashboard use up the account's logins: the right password is
        // refused there and on a device alike, with a Retry-After.
        let client = Client::new();
        for _ in 0..2 {
            assert_eq!(sign_in(&client, &url, "maria@x.test", "guess").await.status(), 401);
        }
        let refused = sign_in(&client, &url, "maria@x.test", PASSWORD).await;
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
        let device = client
            .post(format!("{url}/v1/auth/login"))
            .json(&json!({"email": "maria@x.test", "password": PASSWORD, "device_name": "phone"}))
            .send()
            .await
            .unwrap();
        assert_eq!(device.status(), 429);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_and_files_are_served_with_a_strict_policy() {
    let db = TestDb::sqlite().await;
    let server = TestServer::start(&db).await;
    let client = Client::new();
    let page = client.get(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("src=\"/assets/app.js\""),
        "the page loads its script"
    );
    assert!(!html.contains("<script>"), "no inline script");

    let script = client
        .get(format!("{}/assets/app.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let etag = script.headers()["etag"].to_str().unwrap().to_string();
    let again = client
        .get(format!("{}/assets/app.js", server.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "an unchanged file is not sent again");
    let chart = client
        .get(format!("{}/assets/vendor/uPlot.iife.min.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        chart.status(),
        200,
        "the chart library is served from the binary"
    );

    for path in [
        "/assets/nothing.js",
        "/assets/..%2FCargo.toml",
        "/assets/vendor/..%2F..%2Fsrc%2Flib.rs",
    ] {
        let response = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

/// A self-signed certificate for `localhost`, written to `dir` as PEM files.
fn certificate(dir: &std::path::Path) -> (fieldsync_server::settings::TlsFiles, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    (
        fieldsync_server::settings::TlsFiles { cert, key },
        made.cert.pem(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_https_itself_and_its_cookie_is_secure() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (files, pem) = certificate(dir.path());
    let mut settings = db.settings();
    settings.tls = Some(files);
    let server = TestServer::start_with(settings).await;
    server.user("maria@x.test", Role::Manager, &["North"]).await;
    let https = server.url.replace("http://127.0.0.1", "https://localhost");
    let client = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let page = client.get(format!("{https}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let response = sign_in(&client, &https, "maria@x.test", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Plain HTTP on the TLS port gets no answer, and a client that does not trust the certificate
    // is turned away by its own TLS.
    assert!(Client::new()
        .get(format!("{}/livez", server.url))
        .send()
        .await
        .is_err());
    assert!(Client::new()
        .get(format!("{https}/livez"))
        .send()
        .await
        .is_err());

    // A certificate that does not load stops the start, naming the file.
    let mut broken = db.settings();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    broken.tls = Some(fieldsync_server::settings::TlsFiles {
        cert: junk.clone(),
        key: junk,
    });
    let error = fieldsync_server::http::state::AppState::new(&broken)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("junk.pem"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_an_https_proxy_the_cookie_is_secure() {
    let db = TestDb::sqlite().await;
    let mut settings = db.settings();
    settings.public_url = Some("https://crm.example.com/".parse().unwrap());
    let server = TestServer::start_with(settings).await;
    server.user("maria@x.test", Role::Manager, &["North"]).await;
    let response = sign_in(&Client::new(), &server.url, "maria@x.test", PASSWORD).await;
    assert!(response.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("; Secure"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["server_url"], "https://crm.example.com/");
}
