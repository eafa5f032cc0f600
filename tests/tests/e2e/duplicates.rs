//! Likely duplicate customers: two agents add the same shop offline under slightly different
//! names; the server finds the pair as the records arrive, with its reasons; managers list and
//! dismiss candidates within their scope; a corrected record drops a candidate that no longer
//! holds; and a scan finds what arrived before the check.

use fieldsync_e2e::{record_ids, storage_test, Device, TestDb, TestServer};
use serde_json::Value as Json;
use sync_core::{Role, Value};

async fn get(server: &TestServer, who: &Device, path: &str) -> (u16, Json) {
    server.api(who, reqwest::Method::GET, path, None).await
}

async fn post(server: &TestServer, who: &Device, path: &str) -> (u16, Json) {
    server.api(who, reqwest::Method::POST, path, None).await
}

fn shop(name: &str, phone: &str, lat: f64, lon: f64) -> Vec<(&'static str, Value)> {
    vec![
        ("name", name.into()),
        ("territory", "North".into()),
        ("phone", phone.into()),
        ("lat", Value::Float(lat)),
        ("lon", Value::Float(lon)),
    ]
}

fn codes(candidate: &Json) -> Vec<&str> {
    candidate["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect()
}

storage_test! {
    async fn the_same_shop_added_offline_by_two_agents_is_found_listed_and_dismissed(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let maria = server.device("maria@x.test").await;
        let sam = server.device("sam@x.test").await;
        let root = server.device("root@x.test").await;
        // Offline, each adds the bakery on the corner; a pharmacy next door and a bakery of the
        // same name in another city are other businesses.
        let a = anna.replica.create("customer", &shop("Bäckerei Schmidt", "+49 30 1234567", 52.52000, 13.40500)).await.unwrap();
        let b = ben.replica.create("customer", &shop("Backerei Schmid GmbH", "030 123-4567", 52.52020, 13.40510)).await.unwrap();
        anna.replica.create("customer", &shop("Apotheke am Markt", "+49 30 7654321", 52.52010, 13.40505)).await.unwrap();
        ben.replica.create("customer", &shop("Bäckerei Schmidt", "+49 89 1111111", 48.13510, 11.58200)).await.unwrap();
        anna.sync().await;
        ben.sync().await;

        let (status, page) = get(&server, &maria, "/v1/duplicates").await;
        assert_eq!(status, 200, "{page}");
        let candidates = page["candidates"].as_array().unwrap();
        assert_eq!(candidates.len(), 1, "{page}");
        let pair = &candidates[0];
        let mut sides = [pair["a"]["id"].as_str().unwrap().to_string(), pair["b"]["id"].as_str().unwrap().to_string()];
        sides.sort();
        let mut expected = [a.to_string(), b.to_string()];
        expected.sort();
        assert_eq!(sides, expected);
        assert_eq!(codes(pair), ["same_phone", "similar_name"], "{pair}");
        let name = pair["reasons"].as_array().unwrap().iter().find(|r| r["code"] == "similar_name").unwrap();
        assert!(name["distance_m"].as_f64().unwrap() < 50.0, "{name}");
        assert!(pair["score"].as_f64().unwrap() > 0.95, "{pair}");
        assert_eq!(pair["status"], "open");
        assert_eq!(pair["a"]["territory"], "North");
        let id = pair["id"].as_str().unwrap().to_string();

        // Agents do not review duplicates; another territory's manager does not see these.
        let (status, body) = get(&server, &anna, "/v1/duplicates").await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let (_, theirs) = get(&server, &sam, "/v1/duplicates").await;
        assert_eq!(theirs["candidates"].as_array().unwrap().len(), 0, "{theirs}");
        let (status, _) = get(&server, &sam, &format!("/v1/duplicates/{id}")).await;
        assert_eq!(status, 404);
        let (status, _) = post(&server, &sam, &format!("/v1/duplicates/{id}/dismiss")).await;
        assert_eq!(status, 404);
        let (status, body) = get(&server, &maria, "/v1/duplicates?status=maybe").await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "invalid_parameter");

        // Ben corrects his phone number: the pair still stands on the name, with one reason less.
        ben.replica.update(b, &[("phone", "+49 30 9999999".into())]).await.unwrap();
        ben.sync().await;
        let (_, shown) = get(&server, &maria, &format!("/v1/duplicates/{id}")).await;
        assert_eq!(codes(&shown), ["similar_name"], "{shown}");

        // The manager says they are two businesses: the pair is not raised again.
        let (status, dismissed) = post(&server, &maria, &format!("/v1/duplicates/{id}/dismiss")).await;
        assert_eq!(status, 200, "{dismissed}");
        assert_eq!(dismissed["status"], "dismissed");
        assert_eq!(dismissed["decided_by"], maria.login.user_id.to_string());
        let (status, _) = post(&server, &maria, &format!("/v1/duplicates/{id}/dismiss")).await;
        assert_eq!(status, 409);
        anna.replica.update(a, &[("phone", "+49 30 9999999".into())]).await.unwrap();
        anna.sync().await;
        let (_, open) = get(&server, &maria, "/v1/duplicates?status=open").await;
        assert_eq!(open["candidates"].as_array().unwrap().len(), 0, "{open}");
        let (_, all) = get(&server, &maria, "/v1/duplicates").await;
        assert_eq!(all["candidates"][0]["status"], "dismissed");

        // Moved away, a shop is no longer a candidate of another: an open pair that no longer
        // holds is dropped.
        let c = anna.replica.create("customer", &shop("Kiosk Nord", "+49 40 5550000", 53.55, 9.99)).await.unwrap();
        let d = ben.replica.create("customer", &shop("Kiosk Nord", "+49 40 5551111", 53.55001, 9.99001)).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        let (_, open) = get(&server, &maria, "/v1/duplicates?status=open").await;
        assert_eq!(open["candidates"].as_array().unwrap().len(), 1, "{open}");
        ben.replica.update(d, &[("lat", Value::Float(53.60)), ("name", "Kiosk Süd".into())]).await.unwrap();
        ben.sync().await;
        let (_, open) = get(&server, &maria, &format!("/v1/duplicates?status=open&customer_id={c}")).await;
        assert_eq!(open["candidates"].as_array().unwrap().len(), 0, "{open}");

        // Records that arrived before the check (here: its tables emptied) are found by a scan,
        // which only admins run; the dismissed pair is found again as open, since its decision
        // went with the tables.
        let conn = &server.state.db.conn;
        use sea_orm::ConnectionTrait;
        conn.execute_unprepared("DELETE FROM duplicate_candidates").await.unwrap();
        conn.execute_unprepared("DELETE FROM customer_keys").await.unwrap();
        let (status, _) = post(&server, &maria, "/v1/duplicates/scan").await;
        assert_eq!(status, 403);
        let (status, scan) = post(&server, &root, "/v1/duplicates/scan").await;
        assert_eq!(status, 200, "{scan}");
        assert_eq!(scan["checked"], 6);
        let (_, found) = get(&server, &root, "/v1/duplicates").await;
        assert_eq!(found["candidates"].as_array().unwrap().len(), 1, "{found}");
    }
}

storage_test! {
    async fn alike_shops_in_one_push_are_found_and_a_deleted_one_drops_its_pair(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let maria = server.device("maria@x.test").await;
        // One push carries both: the check compares a batch's customers with each other, not
        // only with those stored before it.
        let a = anna.replica.create("customer", &shop("Metzgerei Huber", "+49 89 2223334", 48.1371, 11.5754)).await.unwrap();
        let b = anna.replica.create("customer", &shop("Metzgerei Huber KG", "089 2223334", 48.1372, 11.5755)).await.unwrap();
        anna.replica.create("customer", &shop("Metzgerei Huber", "+49 40 8887776", 53.5511, 9.9937)).await.unwrap();
        anna.sync().await;
        let (_, open) = get(&server, &maria, "/v1/duplicates?status=open").await;
        let candidates = open["candidates"].as_array().unwrap();
        assert_eq!(candidates.len(), 1, "{open}");
        let mut sides = [candidates[0]["a"]["id"].as_str().unwrap().to_string(), candidates[0]["b"]["id"].as_str().unwrap().to_string()];
        sides.sort();
        let mut expected = [a.to_string(), b.to_string()];
        expected.sort();
        assert_eq!(sides, expected);
        assert_eq!(codes(&candidates[0]), ["same_phone", "similar_name"]);

        // A deleted customer is no one's duplicate: its open pair goes.
        anna.replica.delete(b).await.unwrap();
        anna.sync().await;
        let (_, open) = get(&server, &maria, "/v1/duplicates?status=open").await;
        assert_eq!(open["candidates"].as_array().unwrap().len(), 0, "{open}");
    }
}

/// The records of `kind` the server holds for customer `customer`, by their projection.
async fn children_of(
    server: &TestServer,
    who: &Device,
    kind: &str,
    customer: uuid::Uuid,
) -> Vec<String> {
    let (status, page) = get(
        server,
        who,
        &format!("/v1/records?kind={kind}&customer_id={customer}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    record_ids(&page)
}

storage_test! {
    async fn a_manager_merges_two_shops_and_nothing_of_either_is_lost(db: TestDb) {
        let server = TestServer::start(&db).await;
        for agent in ["anna@x.test", "ben@x.test", "carl@x.test"] {
            server.user(agent, Role::Agent, &["North"]).await;
        }
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let mut carl = server.device("carl@x.test").await;
        let maria = server.device("maria@x.test").await;
        // Offline, Anna and Ben each add the shop, a contact and, Ben, a deal.
        let a = anna.replica.create("customer", &shop("Kiosk am Park", "+49 30 2223334", 52.50, 13.30)).await.unwrap();
        let mut b_fields = shop("Kiosk am Park GmbH", "030 2223334", 52.50005, 13.30);
        b_fields.push(("email", "kiosk@park.test".into()));
        let b = ben.replica.create("customer", &b_fields).await.unwrap();
        let anna_contact = anna.replica.create("contact", &[("customer_id", a.to_string().as_str().into()), ("name", "Ida".into())]).await.unwrap();
        let ben_contact = ben.replica.create("contact", &[("customer_id", b.to_string().as_str().into()), ("name", "Jo".into())]).await.unwrap();
        let deal = ben.replica.create("opportunity", &[("customer_id", b.to_string().as_str().into()), ("title", "Fridge".into()), ("stage", "prospecting".into())]).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        // Carl holds Ben's shop, then goes offline: he edits its notes and its industry, and adds a
        // contact.
        carl.sync().await;
        carl.replica.update(b, &[("notes", "Opens at six".into()), ("industry", "Retail".into())]).await.unwrap();
        let carl_contact = carl.replica.create("contact", &[("customer_id", b.to_string().as_str().into()), ("name", "Lu".into())]).await.unwrap();

        let (_, page) = get(&server, &maria, &format!("/v1/duplicates?customer_id={a}")).await;
        let id = page["candidates"][0]["id"].as_str().expect("the pair is found").to_string();
        let path = format!("/v1/duplicates/{id}/merge");
        let merge = |body: serde_json::Value| server.api(&maria, reqwest::Method::POST, &path, Some(body));
        let (status, body) = merge(serde_json::json!({"survivor": uuid::Uuid::now_v7()})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_survivor");
        let (status, body) = server.api(&anna, reqwest::Method::POST, &format!("/v1/duplicates/{id}/merge"), Some(serde_json::json!({"survivor": a}))).await;
        assert_eq!(status, 403, "{body}");
        // Anna's record survives, with Ben's way of writing the phone, picked by the manager.
        let (status, merged) = merge(serde_json::json!({"survivor": a, "fields": {"phone": "030 2223334"}})).await;
        assert_eq!(status, 200, "{merged}");
        assert_eq!(merged["merged"], b.to_string());
        assert_eq!(merged["moved"], 2, "Ben's contact and deal: {merged}");
        let (status, _) = merge(serde_json::json!({"survivor": a})).await;
        assert_eq!(status, 409, "merged once");

        let (_, survivor) = get(&server, &maria, &format!("/v1/records/{a}")).await;
        assert_eq!(survivor["fields"]["phone"], "030 2223334");
        assert_eq!(survivor["fields"]["email"], "kiosk@park.test", "a field only the other had");
        assert_eq!(survivor["fields"]["name"], "Kiosk am Park");
        let (_, gone) = get(&server, &maria, &format!("/v1/records/{b}")).await;
        assert_eq!(gone["deleted"], true);
        assert_eq!(gone["fields"]["merged_into"], a.to_string());
        let mut contacts = children_of(&server, &maria, "contact", a).await;
        contacts.sort();
        let mut expected = vec![anna_contact.to_string(), ben_contact.to_string()];
        expected.sort();
        assert_eq!(contacts, expected);
        assert_eq!(children_of(&server, &maria, "opportunity", a).await, [deal.to_string()]);
        let (_, candidate) = get(&server, &maria, &format!("/v1/duplicates/{id}")).await;
        assert_eq!(candidate["status"], "merged");
        let alerts_path = format!("/v1/alerts?code=edit_after_merge&customer_id={a}");
        let (_, alerts) = get(&server, &maria, &alerts_path).await;
        assert_eq!(alerts["records"].as_array().unwrap().len(), 0, "the merge is no edit after it: {alerts}");

        // Carl comes back online: his edit of the merged-away shop is kept on it, his plain field is
        // carried over to the survivor (his notes, a text, are not), and his contact moves to the
        // survivor.
        carl.sync().await;
        carl.sync().await;
        assert_eq!(carl.replica.status().await.unwrap().rejected.len(), 0);
        let (_, gone) = get(&server, &maria, &format!("/v1/records/{b}")).await;
        assert_eq!(gone["fields"]["notes"], "Opens at six", "{gone}");
        let (_, survivor) = get(&server, &maria, &format!("/v1/records/{a}")).await;
        assert_eq!(survivor["fields"]["industry"], "Retail", "{survivor}");
        assert_ne!(survivor["fields"]["notes"], "Opens at six", "{survivor}");
        let contacts = children_of(&server, &maria, "contact", a).await;
        assert!(contacts.contains(&carl_contact.to_string()), "{contacts:?}");
        // A manager is told, on the survivor, that the merged-away shop was edited after the merge.
        let (_, alerts) = get(&server, &maria, &alerts_path).await;
        let alerts = alerts["records"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0]["fields"]["record_id"], b.to_string());
        assert_eq!(alerts[0]["fields"]["user_id"], carl.login.user_id.to_string());
        let message = alerts[0]["fields"]["message"].as_str().unwrap();
        assert!(message.contains("industry carried over"), "{message}");
        // And the devices follow.
        ben.sync().await;
        let moved = ben.replica.info(ben_contact).await.unwrap();
        assert_eq!(moved.str("customer_id"), Some(a.to_string().as_str()));

        // The history names the manager for the merge's changes.
        let (_, history) = get(&server, &maria, &format!("/v1/records/{b}/history")).await;
        let tombstone = history["entries"].as_array().unwrap().iter()
            .find(|e| e["fields"].as_array().unwrap().iter().any(|f| f["field"] == "merged_into"))
            .expect("the merge in the history");
        assert_eq!(tombstone["user"]["email"], "maria@x.test");
        assert_eq!(tombstone["via"], "merge");
        let (_, history) = get(&server, &maria, &format!("/v1/records/{ben_contact}/history?field=customer_id")).await;
        assert_eq!(history["entries"][0]["via"], "merge");
        assert_eq!(history["entries"][0]["fields"][0]["new"], a.to_string());
    }
}

storage_test! {
    async fn reports_count_a_merged_customer_once(db: TestDb) {
        use fieldsync_sdk::{LineRequest, OrderOrigin};
        let server = TestServer::start(&db).await;
        server.user("admin@x.test", Role::Admin, &[]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let admin = server.device("admin@x.test").await;
        let maria = server.device("maria@x.test").await;
        for (kind, fields) in [
            ("settings", serde_json::json!({"currency": "EUR", "agent_discount_limit_bp": 1_000})),
            ("product", serde_json::json!({"sku": "P-1", "name": "Beans", "active": true, "list_price": 1_000})),
        ] {
            let (status, reply) = server.api(&admin, reqwest::Method::POST, "/v1/records", Some(serde_json::json!({"kind": kind, "fields": fields}))).await;
            assert_eq!(status, 201, "{reply}");
        }
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        anna.sync().await;
        ben.sync().await;
        // Offline, each adds the shop and takes an order there; the manager approves both.
        let a = anna.replica.create("customer", &shop("Kiosk am Park", "+49 30 2223334", 52.50, 13.30)).await.unwrap();
        let b = ben.replica.create("customer", &shop("Kiosk am Park GmbH", "030 2223334", 52.50005, 13.30)).await.unwrap();
        let now = fieldsync_server::db::now_ms();
        let line = |qty| vec![LineRequest { sku: "P-1".into(), quantity: qty, discount_bp: 0 }];
        let first = anna.replica.add_order(a, &line(2_000), OrderOrigin::default(), true, now).await.unwrap().order_id;
        let second = ben.replica.add_order(b, &line(3_000), OrderOrigin::default(), true, now).await.unwrap().order_id;
        anna.sync().await;
        ben.sync().await;
        for order in [first, second] {
            let (status, reply) = server.api(&maria, reqwest::Method::POST, &format!("/v1/orders/{order}/approve"), Some(serde_json::json!({}))).await;
            assert_eq!(status, 200, "{reply}");
        }
        let graded = || async {
            let (status, report) = get(&server, &maria, "/v1/reports/customer-value").await;
            assert_eq!(status, 200, "{report}");
            report["sections"]["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["customer_id"].as_str().unwrap().to_string(), r["revenue"].as_i64().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(graded().await.len(), 2, "two customers before the merge");

        let (_, page) = get(&server, &maria, &format!("/v1/duplicates?customer_id={a}")).await;
        let id = page["candidates"][0]["id"].as_str().expect("the pair is found").to_string();
        let (status, merged) = server.api(&maria, reqwest::Method::POST, &format!("/v1/duplicates/{id}/merge"), Some(serde_json::json!({"survivor": a}))).await;
        assert_eq!(status, 200, "{merged}");
        // One customer, with both orders' revenue: 2 and 3 units at 10.00.
        assert_eq!(graded().await, [(a.to_string(), 5_000)]);
    }
}
