//! `GET /v1/records/{id}/history` and `GET /v1/records/{id}?at=`: who changed which field of a
//! record, from which device, when, from what to what, concurrent values shown as such; the record
//! as it stood at a past moment; who may read them; and `fieldsync customer history`.

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use serde_json::Value as Json;
use sync_core::Role;
use uuid::Uuid;

async fn get(server: &TestServer, who: &Device, path: &str, query: &[(&str, &str)]) -> (u16, Json) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.url))
        .query(query)
        .bearer_auth(&who.login.token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The entries of a history answer that changed `field`, newest first.
fn changes_of<'a>(history: &'a Json, field: &str) -> Vec<(&'a Json, &'a Json)> {
    history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .filter(move |f| f["field"] == field)
                .map(move |f| (e, f))
        })
        .collect()
}

storage_test! {
    async fn history_names_the_person_device_and_time_of_each_change(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let maria = server.device("maria@x.test").await;
        let sam = server.device("sam@x.test").await;
        let started = fieldsync_server::db::now_ms();
        let id = anna.replica.create("customer", &customer("Corner Shop", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        let created = fieldsync_server::db::now_ms();
        // Offline, both agents write the phone; then both sync.
        anna.replica.update(id, &[("phone", "+49 111".into())]).await.unwrap();
        ben.replica.update(id, &[("phone", "+49 222".into())]).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        // The manager raises the credit limit over the API: a change the server makes for her.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let before_limit = fieldsync_server::db::now_ms();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (status, body) = server
            .api(&maria, reqwest::Method::PATCH, &format!("/v1/records/{id}"), Some(serde_json::json!({"fields": {"credit_limit": 900000}})))
            .await;
        assert_eq!(status, 200, "{body}");

        let path = format!("/v1/records/{id}/history");
        let (status, history) = get(&server, &maria, &path, &[]).await;
        assert_eq!(status, 200, "{history}");
        assert_eq!(history["total"], 4, "creation, two phone edits, the limit: {history}");
        let numbers: Vec<i64> = history["entries"].as_array().unwrap().iter().map(|e| e["n"].as_i64().unwrap()).collect();
        assert_eq!(numbers, [4, 3, 2, 1], "newest first");

        let limit = changes_of(&history, "credit_limit");
        assert_eq!(limit.len(), 1, "{history}");
        let (entry, field) = limit[0];
        assert_eq!(entry["user"]["email"], "maria@x.test");
        assert!(entry["device"].is_null(), "the server wrote it for her: {entry}");
        assert_eq!(entry["via"], "api");
        assert_eq!(field["old"], Json::Null);
        assert_eq!(field["new"], 900000);
        let received = entry["received_at"].as_i64().unwrap();
        assert!(received >= before_limit, "{received} {before_limit}");

        let phones = changes_of(&history, "phone");
        assert_eq!(phones.len(), 2, "{history}");
        let (ben_entry, ben_field) = phones[0];
        let (anna_entry, anna_field) = phones[1];
        assert_eq!(anna_entry["user"]["email"], "anna@x.test");
        assert_eq!(anna_entry["device"]["id"], anna.login.device_id.to_string());
        assert_eq!(anna_entry["via"], "device");
        assert_eq!(anna_field["old"], Json::Null);
        assert_eq!(anna_field["new"], "+49 111");
        assert!(anna_entry["device_time"].as_i64().unwrap_or_else(|| panic!("{history}")) >= started - 1000, "{anna_entry}");
        assert!(anna_entry["device_time"].as_i64().unwrap() <= anna_entry["received_at"].as_i64().unwrap(), "{anna_entry}");
        assert_eq!(ben_entry["user"]["email"], "ben@x.test");
        assert_eq!(ben_entry["device"]["id"], ben.login.device_id.to_string());
        // Ben wrote without seeing Anna's value: both stand, concurrent.
        let concurrent = ben_field["concurrent"].as_array().expect("concurrent values");
        assert_eq!(concurrent.len(), 2, "{ben_field}");
        assert!(concurrent.contains(&Json::from("+49 111")) && concurrent.contains(&Json::from("+49 222")));
        let creation = &history["entries"][3];
        assert_eq!(creation["user"]["email"], "anna@x.test");
        assert!(changes_of(&history, "name").iter().any(|(_, f)| f["new"] == "Corner Shop"));

        // One field's story, and paging.
        let (_, only) = get(&server, &maria, &path, &[("field", "credit_limit")]).await;
        assert_eq!(only["entries"].as_array().unwrap().len(), 1);
        let (_, page) = get(&server, &maria, &path, &[("limit", "3")]).await;
        assert_eq!(page["entries"].as_array().unwrap().len(), 3);
        assert_eq!(page["next_before"], 2);
        let (_, rest) = get(&server, &maria, &path, &[("before", "2")]).await;
        assert_eq!(rest["entries"].as_array().unwrap().len(), 1);
        assert_eq!(rest["entries"][0]["n"], 1);
        assert!(rest["next_before"].is_null());

        // The record as it stood before the manager's edit, and before it existed.
        let show = format!("/v1/records/{id}");
        let (status, then) = get(&server, &maria, &show, &[("at", &before_limit.to_string())]).await;
        assert_eq!(status, 200, "{then}");
        assert_eq!(then["fields"]["credit_limit"], Json::Null);
        assert_eq!(then["fields"]["name"], "Corner Shop");
        assert_eq!(then["conflicts"][0]["field"], "phone", "{then}");
        let (_, now) = get(&server, &maria, &show, &[]).await;
        assert_eq!(now["fields"]["credit_limit"], 900000);
        let rfc3339 = chrono::DateTime::from_timestamp_millis(created).unwrap().to_rfc3339();
        let (status, early) = get(&server, &maria, &show, &[("at", &rfc3339)]).await;
        assert_eq!(status, 200, "{early}");
        assert_eq!(early["fields"]["phone"], Json::Null, "before the phone edits: {early}");
        let (status, none) = get(&server, &maria, &show, &[("at", &(started - 1).to_string())]).await;
        assert_eq!(status, 404, "{none}");
        assert_eq!(none["error"]["code"], "not_found");
        let (status, bad) = get(&server, &maria, &show, &[("at", "yesterday")]).await;
        assert_eq!(status, 400);
        assert_eq!(bad["error"]["code"], "invalid_parameter");
        let (status, bad) = get(&server, &maria, &path, &[("limit", "many")]).await;
        assert_eq!(status, 400);
        assert_eq!(bad["error"]["code"], "invalid_query");

        // Who may read it: the agent who created it, not a colleague of the territory; not a
        // manager of another territory.
        let (status, _) = get(&server, &anna, &path, &[]).await;
        assert_eq!(status, 200);
        let (status, body) = get(&server, &ben, &path, &[]).await;
        assert_eq!(status, 404, "{body}");
        let (status, _) = get(&server, &sam, &path, &[]).await;
        assert_eq!(status, 404);
        let (status, _) = get(&server, &maria, &format!("/v1/records/{}/history", Uuid::now_v7()), &[]).await;
        assert_eq!(status, 404);
        // Once the manager makes Ben the customer's owner, it is his too.
        let ben_id = ben.login.user_id;
        let (status, body) = server
            .api(&maria, reqwest::Method::PATCH, &format!("/v1/records/{id}"), Some(serde_json::json!({"fields": {"owner_id": ben_id}})))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, mine) = get(&server, &ben, &path, &[("field", "owner_id")]).await;
        assert_eq!(status, 200, "{mine}");
        assert_eq!(mine["entries"][0]["fields"][0]["new"], ben_id.to_string());

        // A record edited in many pushes is compacted into one snapshot: its receipts go with it,
        // so every change still has its time, in the order the server received them.
        anna.sync().await;
        for i in 0..12 {
            anna.replica.update(id, &[("city", format!("City {i}").as_str().into())]).await.unwrap();
            anna.sync().await;
        }
        let (_, all) = get(&server, &maria, &path, &[("limit", "1000")]).await;
        let entries = all["entries"].as_array().unwrap();
        assert_eq!(all["total"], 17, "{all}");
        assert_eq!(entries.len(), 17);
        let times: Vec<i64> = entries.iter().rev().map(|e| e["received_at"].as_i64().expect("a receipt after compaction")).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        let cities: Vec<&Json> = entries.iter().filter_map(|e| e["fields"].as_array().unwrap().iter().find(|f| f["field"] == "city")).map(|f| &f["new"]).collect();
        assert_eq!(cities.len(), 12);
        assert_eq!(cities[0], "City 11", "newest first");
        let chunks = server.count("doc_chunks").await;
        assert!(chunks < 17, "the record was compacted: {chunks} chunks");
    }
}

storage_test! {
    async fn the_cli_shows_a_customers_history(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let dir = tempfile::tempdir().unwrap();
        let cli = |args: &[&str]| {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_e2e-fieldsync"));
            command
                .arg("--data-dir")
                .arg(dir.path())
                .args(args)
                .env("FIELDSYNC_PASSWORD", fieldsync_e2e::PASSWORD);
            command
        };
        let login = cli(&["login", "--server", &server.url, "--email", "anna@x.test"])
            .output()
            .unwrap();
        assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
        let add = cli(&["customer", "add", "--name", "Kiosk", "--territory", "North"]).output().unwrap();
        assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
        let id = String::from_utf8(add.stdout).unwrap().trim().to_string();
        assert!(cli(&["customer", "set", &id, "phone=+49 333"]).output().unwrap().status.success());
        assert!(cli(&["sync"]).output().unwrap().status.success());
        let shown = cli(&["customer", "history", &id]).output().unwrap();
        assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
        let text = String::from_utf8(shown.stdout).unwrap();
        let phone = text.lines().find(|l| l.contains("phone")).unwrap_or_else(|| panic!("{text}"));
        assert!(phone.contains("anna@x.test") && phone.contains("+49 333"), "{text}");
        let json = cli(&["--json", "customer", "history", &id, "--field", "name"]).output().unwrap();
        assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
        let history: Json = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(history["entries"].as_array().unwrap().len(), 1, "{history}");
        assert_eq!(history["entries"][0]["fields"][0]["new"], "Kiosk");
    }
}
