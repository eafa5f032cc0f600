//! `GET /v1/records` and `GET /v1/records/{id}`: records listed within the caller's scope, filtered
//! by typed field values, paged by id and by bytes, and one record with its parent and the records
//! scoped through it.

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use serde_json::Value as Json;
use sync_core::{Role, Value};
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

fn ids(page: &Json) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

storage_test! {
    async fn records_are_listed_filtered_and_shown_within_the_callers_scope(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        let mut maria = server.device("maria@x.test").await;
        let mut north = Vec::new();
        for (name, status) in [("Alpha", "active"), ("Beta", "prospect"), ("Gamma", "active"), ("Delta", "dormant")] {
            let mut fields = customer(name, "North");
            fields.push(("status", status.into()));
            north.push(anna.replica.create("customer", &fields).await.unwrap());
        }
        let parent = || ("customer_id", Value::Str(north[0].to_string()));
        let contact = anna.replica.create("contact", &[parent(), ("name", "Ines".into())]).await.unwrap();
        let visit = anna.replica.create("visit", &[parent(), ("status", "planned".into())]).await.unwrap();
        let south = carla.replica.create("customer", &customer("Sud", "South")).await.unwrap();
        let product = maria.replica.create("product", &[("sku", "SKU-1".into()), ("name", "Beans".into())]).await.unwrap();
        anna.replica.delete(north[3]).await.unwrap();
        anna.sync().await;
        carla.sync().await;
        maria.sync().await;

        // Anna lists North's customers, oldest first, never South's; the deleted one only on request.
        let (status, page) = get(&server, &anna, "/v1/records", &[("kind", "customer")]).await;
        assert_eq!(status, 200, "{page}");
        let first_three: Vec<String> = north[..3].iter().map(Uuid::to_string).collect();
        assert_eq!(ids(&page), first_three);
        assert_eq!(page["records"][0]["fields"]["name"], "Alpha");
        assert_eq!(page["records"][0]["kind"], "customer");
        assert!(page["next"].is_null());
        let (_, all) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("include_deleted", "true")]).await;
        assert_eq!(ids(&all).len(), 4);
        assert_eq!(all["records"][3]["deleted"], true);
        let (_, admin_view) = get(&server, &carla, "/v1/records", &[("kind", "customer")]).await;
        assert_eq!(ids(&admin_view), [south.to_string()]);

        // Filters are typed by the schema; pages follow `next` without gaps or repeats.
        let (_, active) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("status", "active")]).await;
        assert_eq!(ids(&active), [north[0].to_string(), north[2].to_string()]);
        let (_, unset) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("phone", "")]).await;
        assert_eq!(ids(&unset).len(), 3, "an empty value matches unset fields");
        let (_, first) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("limit", "2")]).await;
        assert_eq!(ids(&first), first_three[..2]);
        let next = first["next"].as_str().unwrap().to_string();
        let (_, second) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("limit", "2"), ("after", &next)]).await;
        assert_eq!(ids(&second), first_three[2..]);
        assert!(second["next"].is_null());
        let (_, visits) = get(&server, &anna, "/v1/records", &[("kind", "visit"), ("customer_id", &north[0].to_string())]).await;
        assert_eq!(ids(&visits), [visit.to_string()]);
        let (_, products) = get(&server, &anna, "/v1/records", &[("kind", "product")]).await;
        assert_eq!(ids(&products), [product.to_string()], "company-wide records reach every user");

        // One record: its fields, its parent, and what is scoped through it.
        let (status, shown) = get(&server, &anna, &format!("/v1/records/{}", north[0]), &[]).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["fields"]["status"], "active");
        assert!(shown["parent"].is_null());
        let mut related: Vec<String> = shown["related"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
        related.sort();
        let mut expected = vec![contact.to_string(), visit.to_string()];
        expected.sort();
        assert_eq!(related, expected);
        let (_, shown_visit) = get(&server, &anna, &format!("/v1/records/{visit}"), &[]).await;
        assert_eq!(shown_visit["parent"]["id"], north[0].to_string());
        assert_eq!(shown_visit["fields"]["status"], "planned");
        // Outside the scope, a record does not exist.
        let (status, body) = get(&server, &anna, &format!("/v1/records/{south}"), &[]).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
        let (status, _) = get(&server, &anna, &format!("/v1/records/{}", Uuid::now_v7()), &[]).await;
        assert_eq!(status, 404);

        // Conflicts show: two offline writes of one field.
        let mut ben = Device::login(&server.url, "maria@x.test").await;
        ben.sync().await;
        anna.replica.update(north[1], &[("phone", "111".into())]).await.unwrap();
        ben.replica.update(north[1], &[("phone", "222".into())]).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        let (_, conflicted) = get(&server, &maria, &format!("/v1/records/{}", north[1]), &[]).await;
        assert_eq!(conflicted["conflicts"][0]["field"], "phone");
        assert_eq!(conflicted["conflicts"][0]["values"].as_array().unwrap().len(), 2);

        // Bad requests name what is wrong.
        for (query, code) in [
            (vec![("kind", "order_line")], "unknown_kind"),
            (vec![("kind", "customer"), ("colour", "red")], "unknown_field"),
            (vec![("kind", "customer"), ("notes", "x")], "unfilterable_field"),
            (vec![("kind", "customer"), ("credit_limit", "lots")], "invalid_filter"),
            (vec![("kind", "customer"), ("status", "lead")], "invalid_filter"),
            (vec![("limit", "5")], "invalid_query"),
            (vec![("kind", "customer"), ("kind", "contact")], "invalid_query"),
            (vec![("kind", "customer"), ("after", "yesterday")], "invalid_query"),
        ] {
            let (status, body) = get(&server, &anna, "/v1/records", &query).await;
            assert_eq!((status, body["error"]["code"].as_str()), (400, Some(code)), "{query:?}");
        }
    }
}

storage_test! {
    async fn a_page_of_records_ends_before_its_byte_bound(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        // 150 records with 20,000 characters of notes each: 3 MB of fields.
        let notes = "n".repeat(20_000);
        for i in 0..150 {
            let mut fields = customer(&format!("Wordy {i}"), "North");
            fields.push(("notes", Value::Str(notes.clone())));
            anna.replica.create("customer", &fields).await.unwrap();
        }
        anna.sync().await;
        let mut seen = 0;
        let mut after = None::<String>;
        let mut pages = 0;
        loop {
            let mut query = vec![("kind", "customer".to_string()), ("limit", "500".to_string())];
            query.extend(after.clone().map(|a| ("after", a)));
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, page) = get(&server, &anna, "/v1/records", &query).await;
            assert_eq!(status, 200);
            let bytes: usize = page["records"].as_array().unwrap().iter().map(|r| r["fields"].to_string().len()).sum();
            assert!(bytes <= fieldsync_server::crm::records::MAX_PAGE_BYTES, "{bytes} bytes in a page");
            seen += ids(&page).len();
            pages += 1;
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, 150, "every record, once");
        assert!(pages >= 2, "the bytes ended a page before its count");
    }
}
