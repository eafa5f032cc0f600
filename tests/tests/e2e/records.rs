//! `GET /v1/records` and `GET /v1/records/{id}`: records listed within the caller's scope, filtered
//! by typed field values, paged by id and by bytes, and one record with its parent and the records
//! scoped through it.

use fieldsync_e2e::{customer, record_ids, storage_test, Device, TestDb, TestServer};
use serde_json::Value as Json;
use sync_core::{Role, Value};
use uuid::Uuid;

/// A call of `who` to the server: its status and its JSON body.
async fn call(request: reqwest::RequestBuilder, who: &Device) -> (u16, Json) {
    let response = request.bearer_auth(&who.login.token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn get(server: &TestServer, who: &Device, path: &str, query: &[(&str, &str)]) -> (u16, Json) {
    let url = format!("{}{path}", server.url);
    call(reqwest::Client::new().get(url).query(query), who).await
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
        assert_eq!(record_ids(&page), first_three);
        assert_eq!(page["records"][0]["fields"]["name"], "Alpha");
        assert_eq!(page["records"][0]["kind"], "customer");
        assert!(page["next"].is_null());
        let (_, all) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("include_deleted", "true")]).await;
        assert_eq!(record_ids(&all).len(), 4);
        assert_eq!(all["records"][3]["deleted"], true);
        let (_, admin_view) = get(&server, &carla, "/v1/records", &[("kind", "customer")]).await;
        assert_eq!(record_ids(&admin_view), [south.to_string()]);

        // Filters are typed by the schema; pages follow `next` without gaps or repeats.
        let (_, active) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("status", "active")]).await;
        assert_eq!(record_ids(&active), [north[0].to_string(), north[2].to_string()]);
        let (_, unset) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("phone", "")]).await;
        assert_eq!(record_ids(&unset).len(), 3, "an empty value matches unset fields");
        let (_, first) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("limit", "2")]).await;
        assert_eq!(record_ids(&first), first_three[..2]);
        let next = first["next"].as_str().unwrap().to_string();
        let (_, second) = get(&server, &anna, "/v1/records", &[("kind", "customer"), ("limit", "2"), ("after", &next)]).await;
        assert_eq!(record_ids(&second), first_three[2..]);
        assert!(second["next"].is_null());
        let (_, visits) = get(&server, &anna, "/v1/records", &[("kind", "visit"), ("customer_id", &north[0].to_string())]).await;
        assert_eq!(record_ids(&visits), [visit.to_string()]);
        let (_, products) = get(&server, &anna, "/v1/records", &[("kind", "product")]).await;
        assert_eq!(record_ids(&products), [product.to_string()], "company-wide records reach every user");

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
            seen += record_ids(&page).len();
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

async fn send(
    server: &TestServer,
    who: &Device,
    method: reqwest::Method,
    path: &str,
    body: Json,
) -> (u16, Json) {
    server.api(who, method, path, Some(body)).await
}

storage_test! {
    async fn records_written_over_the_api_are_the_callers_changes_through_the_merge_path(db: TestDb) {
        use reqwest::Method;
        use sea_orm::ConnectionTrait;
        use serde_json::json;
        let server = TestServer::start(&db).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let mut anna = server.device("anna@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        let maria = server.device("maria@x.test").await;
        let shop = anna.replica.create("customer", &customer("Shop", "North")).await.unwrap();
        let south = carla.replica.create("customer", &customer("Sud", "South")).await.unwrap();
        anna.sync().await;
        carla.sync().await;
        let counts = || server.counts(&["documents", "customers", "visits", "products"]);
        let path = format!("/v1/records/{shop}");

        // The manager assigns the owner and grades the customer; the agent's device receives it.
        let (status, shown) = send(&server, &maria, Method::PATCH, &path, json!({"fields": {
            "owner_id": anna_id, "tier": "A", "tier_locked": true, "payment_terms_days": 30, "code": "C-100"
        }})).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!((shown["fields"]["tier"].as_str(), shown["fields"]["code"].as_str()), (Some("A"), Some("C-100")));
        assert_eq!(server.projected("customers", shop, &["tier", "payment_terms_days"]).await, [Some("A".into()), Some("30".into())]);
        anna.sync().await;
        let seen = anna.replica.get(shop).await.unwrap();
        assert_eq!((seen.get("tier"), seen.get("owner_id")), (&Value::from("A"), &Value::Str(anna_id.to_string())));
        // Written by the server for Maria, recorded as the API's.
        let conn = &server.state.db.conn;
        let actors = conn
            .query_all(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT purpose FROM server_actors".to_string(),
            ))
            .await
            .unwrap();
        assert_eq!(actors.len(), 1);
        assert_eq!(actors[0].try_get::<String>("", "purpose").unwrap(), "api");
        // The same values again change nothing.
        let heads = server.heads(shop).await;
        let (status, _) = send(&server, &maria, Method::PATCH, &path, json!({"fields": {"tier": "A"}})).await;
        assert_eq!(status, 200);
        assert_eq!(server.heads(shop).await, heads);

        // The agent may not grade, nor reach South; a manager may not move a customer out of her scope.
        let before = counts().await;
        for (who, path, fields, status, code) in [
            (&anna, path.clone(), json!({"tier": "B"}), 403, "field_not_writable"),
            (&anna, format!("/v1/records/{south}"), json!({"phone": "1"}), 404, "not_found"),
            (&maria, path.clone(), json!({"territory": "South"}), 403, "out_of_scope"),
            (&maria, path.clone(), json!({"status": "lead"}), 400, "validation_failed"),
            (&maria, path.clone(), json!({"credit_limit": "lots"}), 400, "validation_failed"),
            (&maria, path.clone(), json!({"colour": "red"}), 400, "validation_failed"),
        ] {
            let (got, body) = send(&server, who, Method::PATCH, &path, json!({"fields": fields})).await;
            assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{fields}: {body}");
        }
        assert_eq!(server.heads(shop).await, heads, "a refused write changes nothing");

        // Creating: a visit of a customer the agent sees; the catalogue only by managers.
        let (status, visit) = send(&server, &anna, Method::POST, "/v1/records", json!({
            "kind": "visit", "fields": {"customer_id": shop, "status": "planned", "planned_start": 1_800_000_000_000i64}
        })).await;
        assert_eq!(status, 201, "{visit}");
        assert_eq!(visit["parent"]["id"], shop.to_string());
        let (status, product) = send(&server, &maria, Method::POST, "/v1/records", json!({
            "kind": "product", "fields": {"sku": "SKU-9", "name": "Decaf", "active": true}
        })).await;
        assert_eq!(status, 201, "{product}");
        let before = {
            let mut b = before;
            b[0] += 2;
            b[2] += 1;
            b[3] += 1;
            b
        };
        for (who, body, status, code) in [
            (&anna, json!({"kind": "product", "fields": {"sku": "X", "name": "Y"}}), 403, "field_not_writable"),
            // A customer she may not see is one she does not know of.
            (&anna, json!({"kind": "visit", "fields": {"customer_id": south, "status": "planned"}}), 400, "unknown_parent"),
            (&anna, json!({"kind": "customer", "fields": {"name": "Elsewhere", "territory": "South"}}), 403, "out_of_scope"),
            (&anna, json!({"kind": "customer", "fields": {"territory": "North"}}), 400, "validation_failed"),
            (&anna, json!({"kind": "invoice", "fields": {}}), 400, "unknown_kind"),
            (&anna, json!({"kind": "customer", "fields": {}, "extra": 1}), 400, "malformed"),
        ] {
            let (got, reply) = send(&server, who, Method::POST, "/v1/records", body.clone()).await;
            assert_eq!((got, reply["error"]["code"].as_str()), (status, Some(code)), "{body}: {reply}");
        }
        assert_eq!(counts().await, before, "refused creations store nothing");
        anna.sync().await;
        let visit_id: Uuid = visit["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(anna.replica.get(visit_id).await.unwrap().get("status"), &Value::from("planned"));
    }
}

storage_test! {
    async fn the_company_has_one_settings_record_and_money_is_in_its_currency(db: TestDb) {
        use reqwest::Method;
        use serde_json::json;
        let server = TestServer::start(&db).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let root = server.device("root@x.test").await;
        let maria = server.device("maria@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let shop = anna.replica.create("customer", &customer("Shop", "North")).await.unwrap();
        let payment = |currency: &str| {
            vec![
                ("customer_id", Value::Str(shop.to_string())),
                ("amount", Value::Int(1_250)),
                ("currency", currency.into()),
            ]
        };
        // Before the company has settings, no currency is wrong.
        let early = anna.replica.create("payment", &payment("USD")).await.unwrap();
        assert!(anna.sync().await.rejected.is_empty());

        // Admins write the settings; a manager may not, and there is one settings record.
        let body = json!({"kind": "settings", "fields": {"currency": "EUR", "agent_discount_limit_bp": 1000}});
        let (status, reply) = send(&server, &maria, Method::POST, "/v1/records", body.clone()).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (403, Some("field_not_writable")));
        let (status, settings) = send(&server, &root, Method::POST, "/v1/records", body.clone()).await;
        assert_eq!(status, 201, "{settings}");
        let (status, reply) = send(&server, &root, Method::POST, "/v1/records", json!({"kind": "settings", "fields": {"currency": "USD"}})).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (409, Some("settings_exist")));
        assert_eq!(server.count("settings").await, 1);

        // A payment in another currency is refused with the field named, and stays on the device.
        let usd = anna.replica.create("payment", &payment("USD")).await.unwrap();
        let eur = anna.replica.create("payment", &payment("EUR")).await.unwrap();
        let report = anna.sync().await;
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        let (id, reason) = &report.rejected[0];
        assert_eq!((*id, reason.code.as_str(), reason.field.as_deref()), (usd, "wrong_currency", Some("currency")));
        assert!(server.heads(usd).await.is_empty());
        assert!(!server.heads(eur).await.is_empty());
        assert_eq!(anna.replica.info(usd).await.unwrap().rejected.unwrap().code, "wrong_currency");
        // Corrected on the device, it goes through.
        anna.replica.update(usd, &[("currency", "EUR".into())]).await.unwrap();
        assert!(anna.sync().await.rejected.is_empty());
        assert!(!server.heads(usd).await.is_empty());
        // A record written before the settings is held to them at its next write.
        anna.replica.update(early, &[("notes", "counted twice".into())]).await.unwrap();
        assert_eq!(anna.sync().await.rejected.len(), 1);
    }
}
