//! Orders, payments and the rules after a merge, through real devices and the real server: prices
//! from the catalogue and price lists, totals that device and server agree on, orders held for a
//! manager (credit limit, discount), approvals, conflicts from concurrent offline decisions, and
//! alerts about check-ins and payments.

use fieldsync_e2e::{customer, storage_test, Device, TestDb, TestServer};
use fieldsync_sdk::{CheckIn, LineRequest, OrderOrigin, PaymentRequest, Position};
use reqwest::Method;
use serde_json::{json, Value as Json};
use sync_core::{orders, Role, Value};
use uuid::Uuid;

/// A company with settings (EUR, agents may give 10% discount), two products, a price list with a
/// quantity break, a manager and two agents of North, and a customer on that price list.
struct Company {
    maria: Device,
    anna: Device,
    ben: Device,
    shop: Uuid,
    beans: Uuid,
    price_list: Uuid,
}

/// A time in the past, as check-ins ahead of the server's clock are implausible.
const NOW: i64 = 1_760_000_000_000;

async fn company(server: &TestServer) -> Company {
    server.user("root@x.test", Role::Admin, &[]).await;
    server.user("maria@x.test", Role::Manager, &["North"]).await;
    server.user("anna@x.test", Role::Agent, &["North"]).await;
    server.user("ben@x.test", Role::Agent, &["North"]).await;
    let admin = server.device("root@x.test").await;
    let maria = server.device("maria@x.test").await;
    let mut anna = server.device("anna@x.test").await;
    let mut ben = server.device("ben@x.test").await;
    server.created(&admin,
        "settings",
        json!({"currency": "EUR", "agent_discount_limit_bp": 1_000, "manager_discount_limit_bp": 2_500}),
    )
    .await;
    let beans = server.created(&maria,
        "product",
        json!({"sku": "BEANS", "name": "Espresso beans", "active": true, "list_price": 2_450, "tax_bp": 700}),
    )
    .await;
    server.created(&maria,
        "product",
        json!({"sku": "CUPS", "name": "Paper cups", "active": true, "list_price": 5_900, "tax_bp": 1_900}),
    )
    .await;
    // The items of a record, over the JSON API: ids are given where left out.
    let price_list = server
        .created(
            &maria,
            "price_list",
            json!({"name": "Key accounts", "currency": "EUR", "active": true, "prices": [
                {"product_id": beans, "unit_price": 2_200},
                {"product_id": beans, "min_quantity": 10_000, "unit_price": 2_000},
            ]}),
        )
        .await;
    let shop = anna
        .replica
        .create("customer", &customer("Shop", "North"))
        .await
        .unwrap();
    anna.sync().await;
    let (status, body) = server
        .api(
            &maria,
            Method::PATCH,
            &format!("/v1/records/{shop}"),
            Some(json!({"fields": {"price_list_id": price_list, "credit_limit": 100_000_000}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    anna.sync().await;
    ben.sync().await;
    Company {
        maria,
        anna,
        ben,
        shop,
        beans,
        price_list,
    }
}

fn line(sku: &str, quantity: i64, discount_bp: i64) -> LineRequest {
    LineRequest {
        sku: sku.into(),
        quantity,
        discount_bp,
    }
}

/// The server's projected totals of an order: subtotal, discount, tax, total.
async fn server_totals(server: &TestServer, order: Uuid) -> Vec<Option<String>> {
    server
        .projected("orders", order, &orders::TOTAL_FIELDS)
        .await
}

fn texts(t: &sync_core::totals::Totals) -> Vec<Option<String>> {
    [t.subtotal, t.discount, t.tax, t.total]
        .iter()
        .map(|v| Some(v.to_string()))
        .collect()
}

async fn open_alerts(server: &TestServer, who: &Device, record: Uuid) -> Vec<Json> {
    let (status, page) = server
        .api(
            who,
            Method::GET,
            &format!("/v1/alerts?status=open&record_id={record}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["records"].as_array().unwrap().clone()
}

storage_test! {
    async fn orders_are_priced_on_the_device_and_totalled_alike_on_both_sides(db: TestDb) {
        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        // The price list's break applies from ten units; CUPS is on no list: its list price.
        let taken = c.anna.replica
            .add_order(c.shop, &[line("BEANS", 12_000, 500), line("CUPS", 1_500, 0), line("BEANS", 2_000, 0)], OrderOrigin::default(), true, NOW)
            .await
            .unwrap();
        assert_eq!(taken.price_list_id, Some(c.price_list));
        let prices: Vec<_> = taken.lines.iter().map(|l| l.get("unit_price").clone()).collect();
        assert_eq!(prices, [Value::Int(2_000), Value::Int(5_900), Value::Int(2_200)]);
        assert_eq!(taken.totals.subtotal, 24_000 + 8_850 + 4_400);
        assert!(c.anna.sync().await.rejected.is_empty());
        let heads = server.heads(taken.order_id).await;
        assert_eq!(server_totals(&server, taken.order_id).await, texts(&taken.totals));
        assert_eq!(server.heads(taken.order_id).await, heads, "totals that agree are not written again");
        // Each line is a row of the child table, with its amounts.
        let lines = server.count("order_lines").await;
        assert_eq!(lines, 3);

        // Random orders: the device's totals are the server's, to the cent.
        let mut seed: u64 = 42;
        let mut next = |m: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % m
        };
        let mut taken_orders = Vec::new();
        for _ in 0..12 {
            let lines: Vec<_> = (0..1 + next(8))
                .map(|_| {
                    let sku = if next(2) == 0 { "BEANS" } else { "CUPS" };
                    line(sku, 1 + next(40_000) as i64, next(1_001) as i64)
                })
                .collect();
            taken_orders.push(c.anna.replica.add_order(c.shop, &lines, OrderOrigin::default(), false, NOW).await.unwrap());
        }
        assert!(c.anna.sync().await.rejected.is_empty());
        for t in &taken_orders {
            assert_eq!(server_totals(&server, t.order_id).await, texts(&t.totals), "order {}", t.order_id);
        }

        // A manager's price change reaches the devices and applies to new orders only.
        let (status, body) = server.api(&c.maria, Method::PATCH, &format!("/v1/records/{}", c.price_list),
            Some(json!({"fields": {"prices": [{"product_id": c.beans, "unit_price": 2_300}]}}))).await;
        assert_eq!(status, 200, "{body}");
        c.anna.sync().await;
        let later = c.anna.replica.add_order(c.shop, &[line("BEANS", 12_000, 0)], OrderOrigin::default(), false, NOW).await.unwrap();
        assert_eq!(later.lines[0].get("unit_price"), &Value::Int(2_300), "no break any more");
        let first = c.anna.replica.get(taken.order_id).await.unwrap();
        assert_eq!(first.get("lines").items()[0].get("unit_price"), &Value::Int(2_000), "taken orders keep their prices");

        // Bad input is refused with the field named, on the device and over the API.
        let unknown = c.anna.replica.add_order(c.shop, &[line("NOPE", 1_000, 0)], OrderOrigin::default(), false, NOW).await.unwrap_err();
        assert!(matches!(unknown, fieldsync_sdk::Error::NotAllowed { code: "unknown_product", .. }), "{unknown}");
        let before = server.counts(&["orders", "order_lines"]).await;
        for (lines, field) in [
            (json!([{"product_id": c.beans, "quantity": -5, "unit_price": 100}]), "quantity"),
            (json!([{"product_id": "beans", "quantity": 5, "unit_price": 100}]), "product_id"),
            (json!([{"product_id": c.beans, "quantity": 5, "unit_price": 100, "colour": "red"}]), "lines"),
        ] {
            let (status, body) = server.api(&c.anna, Method::POST, "/v1/records", Some(json!({"kind": "order", "fields": {
                "customer_id": c.shop, "status": "draft", "currency": "EUR", "lines": lines,
            }}))).await;
            assert_eq!(status, 400, "{body}");
            assert!(body["error"]["message"].as_str().unwrap().contains(field), "{body}");
        }
        // Every field of the line within its bounds, but not their product: no totals, refused.
        let (status, body) = server.api(&c.anna, Method::POST, "/v1/records", Some(json!({"kind": "order", "fields": {
            "customer_id": c.shop, "status": "draft", "currency": "EUR",
            "lines": [{"product_id": c.beans, "quantity": 1_000_000_000_000i64, "unit_price": 1_000_000_000_000_000i64}],
        }}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("amount_too_large")), "{body}");
        let too_many: Vec<Json> = (0..=200).map(|_| json!({"product_id": c.beans, "quantity": 1, "unit_price": 1})).collect();
        let (status, body) = server.api(&c.anna, Method::POST, "/v1/records", Some(json!({"kind": "order", "fields": {
            "customer_id": c.shop, "status": "draft", "currency": "EUR", "lines": too_many,
        }}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("validation_failed")), "{body}");
        assert_eq!(server.counts(&["orders", "order_lines"]).await, before, "refused orders store nothing");
    }
}

storage_test! {
    async fn lines_changed_on_two_devices_merge_and_the_server_writes_the_totals_again(db: TestDb) {
        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        let taken = c.anna.replica.add_order(c.shop, &[line("BEANS", 1_000, 0), line("CUPS", 1_000, 0)], OrderOrigin::default(), false, NOW).await.unwrap();
        c.anna.sync().await;
        c.ben.sync().await;
        // Offline, Anna doubles the beans and Ben adds a line: each device totals its own view.
        let mut on_anna = c.anna.replica.get(taken.order_id).await.unwrap().get("lines").items().to_vec();
        on_anna[0].fields.insert("quantity".into(), Value::Int(2_000));
        c.anna.replica.update(taken.order_id, &[("lines", Value::Items(on_anna))]).await.unwrap();
        c.anna.replica.submit_order(taken.order_id, NOW).await.unwrap();
        let mut on_ben = c.ben.replica.get(taken.order_id).await.unwrap().get("lines").items().to_vec();
        let beans = on_ben[0].clone();
        on_ben.push(sync_core::Item::new([
            ("product_id", beans.get("product_id").clone()),
            ("quantity", Value::Int(3_000)),
            ("unit_price", Value::Int(2_200)),
        ]));
        c.ben.replica.update(taken.order_id, &[("lines", Value::Items(on_ben))]).await.unwrap();
        c.anna.sync().await;
        c.ben.sync().await;
        c.anna.sync().await;
        let merged = c.anna.replica.get(taken.order_id).await.unwrap();
        assert_eq!(merged.get("lines").items().len(), 3);
        let expected = orders::totals(&merged).unwrap();
        assert_eq!(expected.subtotal, 2 * 2_200 + 5_900 + 3 * 2_200);
        assert!(orders::totals_agree(&merged, &expected), "the server wrote the merged order's totals: {:?}", merged.get("total"));
        assert_eq!(server_totals(&server, taken.order_id).await, texts(&expected));
        assert_eq!(server.count("order_lines").await, 3);
        c.ben.sync().await;
        assert_eq!(c.ben.replica.get(taken.order_id).await.unwrap().get("total"), &Value::Int(expected.total));
    }
}

storage_test! {
    async fn orders_past_the_credit_limit_or_the_discount_limit_are_held_for_a_manager(db: TestDb) {
        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        // A credit limit of 400.00: two agents take orders of 220.00 gross offline.
        let (status, _) = server.api(&c.maria, Method::PATCH, &format!("/v1/records/{}", c.shop),
            Some(json!({"fields": {"credit_limit": 40_000}}))).await;
        assert_eq!(status, 200);
        c.anna.sync().await;
        c.ben.sync().await;
        let first = c.anna.replica.add_order(c.shop, &[line("BEANS", 10_000, 0)], OrderOrigin::default(), true, NOW).await.unwrap();
        let second = c.ben.replica.add_order(c.shop, &[line("BEANS", 10_000, 0)], OrderOrigin::default(), true, NOW).await.unwrap();
        assert!(c.anna.sync().await.rejected.is_empty());
        assert!(c.ben.sync().await.rejected.is_empty());
        let held = |p: &sync_core::record::Projection| p.get("hold_reason").as_str().map(str::to_string);
        c.anna.sync().await;
        c.ben.sync().await;
        let a = c.anna.replica.get(first.order_id).await.unwrap();
        let b = c.ben.replica.get(second.order_id).await.unwrap();
        assert_eq!(held(&a), None, "the first order fits the limit");
        let reason = held(&b).expect("the second takes the balance past the limit");
        assert!(reason.contains("credit limit"), "{reason}");
        // Held, never dropped: the order stands as entered, submitted, for the agent to see.
        assert_eq!(b.get("status"), &Value::from("submitted"));
        assert_eq!(b.get("lines").items(), second.lines.as_slice());
        let alerts = open_alerts(&server, &c.maria, second.order_id).await;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["fields"]["code"], "credit_limit_exceeded");
        assert_eq!(alerts[0]["fields"]["record_kind"], "order");
        // The agent's device receives the alert too: it is scoped through the customer.
        let on_device = c.ben.replica.list("alert").await.unwrap();
        assert_eq!(on_device.len(), 1);

        // A discount past the agent's limit (10%) is held too.
        let deep = c.anna.replica.add_order(c.shop, &[line("CUPS", 1_000, 1_500)], OrderOrigin::default(), true, NOW).await.unwrap();
        c.anna.sync().await;
        c.anna.sync().await;
        let d = c.anna.replica.get(deep.order_id).await.unwrap();
        assert!(held(&d).unwrap().contains("discount"), "{:?}", held(&d));
        let codes: Vec<Json> = open_alerts(&server, &c.maria, deep.order_id).await.iter().map(|a| a["fields"]["code"].clone()).collect();
        assert!(codes.contains(&json!("discount_above_limit")), "{codes:?}");

        // Only managers decide; the manager approves one and rejects the other, and devices see it.
        let approve = format!("/v1/orders/{}/approve", second.order_id);
        let (status, body) = server.api(&c.anna, Method::POST, &approve, Some(json!({}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
        let (status, body) = server.api(&c.maria, Method::POST, &approve, Some(json!({"note": "known customer"}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["fields"]["status"], "approved");
        assert_eq!(body["fields"]["decision_note"], "known customer");
        let (status, body) = server.api(&c.maria, Method::POST, &approve, Some(json!({}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("invalid_status")));
        let (status, _) = server.api(&c.maria, Method::POST, &format!("/v1/orders/{}/reject", deep.order_id), Some(json!({"note": "too deep"}))).await;
        assert_eq!(status, 200);
        // Rejected, the agent revises it as a draft (5% off) and submits it again: held to the
        // rules again, its discount passes, but the customer's balance no longer does.
        c.anna.sync().await;
        c.anna.replica.update(deep.order_id, &[("status", "draft".into())]).await.unwrap();
        let mut revised = c.anna.replica.get(deep.order_id).await.unwrap().get("lines").items().to_vec();
        revised[0].fields.insert("discount_bp".into(), Value::Int(500));
        c.anna.replica.update(deep.order_id, &[("lines", Value::Items(revised))]).await.unwrap();
        c.anna.replica.submit_order(deep.order_id, NOW + 1).await.unwrap();
        assert!(c.anna.sync().await.rejected.is_empty());
        c.anna.sync().await;
        let resubmitted = c.anna.replica.get(deep.order_id).await.unwrap();
        assert_eq!(resubmitted.get("status"), &Value::from("submitted"));
        let reason = held(&resubmitted).expect("held again");
        assert!(reason.contains("credit limit") && !reason.contains("discount"), "{reason}");
        let (status, _) = server.api(&c.maria, Method::POST, &format!("/v1/orders/{}/approve", Uuid::now_v7()), Some(json!({}))).await;
        assert_eq!(status, 404);
        c.ben.sync().await;
        assert_eq!(c.ben.replica.get(second.order_id).await.unwrap().get("status"), &Value::from("approved"));
        // Delivered, it is a receivable due after the customer's payment terms.
        let (status, _) = server.api(&c.maria, Method::PATCH, &format!("/v1/records/{}", c.shop),
            Some(json!({"fields": {"payment_terms_days": 30}}))).await;
        assert_eq!(status, 200);
        let (status, body) = server.api(&c.maria, Method::PATCH, &format!("/v1/records/{}", second.order_id),
            Some(json!({"fields": {"status": "delivered", "delivered_at": NOW}}))).await;
        assert_eq!(status, 200, "{body}");
        c.ben.sync().await;
        let due = NOW + 30 * 86_400_000;
        assert_eq!(c.ben.replica.get(second.order_id).await.unwrap().get("due_at"), &Value::Int(due));
        assert_eq!(server.projected("orders", second.order_id, &["due_at"]).await, [Some(due.to_string())]);
        // Past its draft, an order's lines and its tombstone are no longer the agent's to change:
        // refused, and kept on the device with the reason.
        let mut more = c.ben.replica.get(second.order_id).await.unwrap().get("lines").items().to_vec();
        more[0].fields.insert("quantity".into(), Value::Int(1_000_000));
        c.ben.replica.update(second.order_id, &[("lines", Value::Items(more))]).await.unwrap();
        let report = c.ben.sync().await;
        assert_eq!(report.rejected.iter().map(|(_, r)| r.code.as_str()).collect::<Vec<_>>(), ["order_locked"]);
        assert_eq!(server_totals(&server, second.order_id).await, texts(&second.totals), "nothing of it applied");

        // The alert is resolved with an outcome and a note, once.
        let alert = alerts[0]["id"].as_str().unwrap();
        let resolve = format!("/v1/alerts/{alert}/resolve");
        let (status, body) = server.api(&c.maria, Method::POST, &resolve, Some(json!({"outcome": "approved", "note": "paid on delivery"}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["fields"]["status"], "resolved");
        let (status, body) = server.api(&c.maria, Method::POST, &resolve, Some(json!({"outcome": "again"}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_resolved")));
        assert!(open_alerts(&server, &c.maria, second.order_id).await.is_empty());
    }
}

storage_test! {
    async fn approved_on_one_side_and_cancelled_on_the_other_is_a_conflict_a_manager_resolves(db: TestDb) {
        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        let taken = c.anna.replica.add_order(c.shop, &[line("BEANS", 1_000, 0)], OrderOrigin::default(), true, NOW).await.unwrap();
        c.anna.sync().await;
        c.maria.sync().await;
        // Offline at once: the manager approves on her tablet, the agent cancels on her phone.
        c.maria.replica.update(taken.order_id, &[("status", "approved".into())]).await.unwrap();
        c.anna.replica.update(taken.order_id, &[("status", "cancelled".into())]).await.unwrap();
        assert!(c.maria.sync().await.rejected.is_empty());
        assert!(c.anna.sync().await.rejected.is_empty(), "a concurrent move is not refused");
        let (status, page) = server.api(&c.maria, Method::GET, &format!("/v1/conflicts?status=open&record_id={}", taken.order_id), None).await;
        assert_eq!(status, 200, "{page}");
        let conflicts = page["records"].as_array().unwrap();
        assert_eq!(conflicts.len(), 1, "{page}");
        let conflict = &conflicts[0]["fields"];
        assert_eq!(conflict["field"], "status");
        let candidates: Json = serde_json::from_str(conflict["candidates"].as_str().unwrap()).unwrap();
        let values: Vec<&Json> = candidates.as_array().unwrap().iter().map(|c| &c["value"]).collect();
        assert!(values.contains(&&json!("approved")) && values.contains(&&json!("cancelled")), "{candidates}");
        let users: Vec<&Json> = candidates.as_array().unwrap().iter().map(|c| &c["user_id"]).collect();
        assert!(users.contains(&&json!(c.anna.login.user_id)) && users.contains(&&json!(c.maria.login.user_id)), "both actions are shown: {candidates}");
        assert!(candidates[0]["at"].is_i64(), "{candidates}");

        let id = conflicts[0]["id"].as_str().unwrap();
        let (status, body) = server.api(&c.anna, Method::POST, &format!("/v1/conflicts/{id}/resolve"), Some(json!({"outcome": "approved"}))).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = server.api(&c.maria, Method::POST, &format!("/v1/conflicts/{id}/resolve"), Some(json!({"outcome": "approved", "note": "the customer confirmed"}))).await;
        assert_eq!(status, 200, "{body}");
        c.anna.sync().await;
        let order = c.anna.replica.get(taken.order_id).await.unwrap();
        assert_eq!(order.get("status"), &Value::from("approved"));
        assert!(order.conflicts.is_empty(), "{:?}", order.conflicts);

        // Two changes of the agent's own device, made concurrently under two of its actors, do not
        // pass what one may not: each is judged against the order its author saw.
        let fresh = c.ben.replica.add_order(c.shop, &[line("BEANS", 1_000, 0)], OrderOrigin::default(), true, NOW).await.unwrap();
        c.ben.sync().await;
        let mut doc = c.ben.replica.doc(fresh.order_id).await.unwrap();
        let base = doc.get_heads();
        let device = c.ben.login.device_id;
        let mut changes = Vec::new();
        for (n, status) in [(1u8, "draft"), (2, "approved")] {
            use automerge::transaction::Transactable;
            let actor = automerge::ActorId::from([device.as_bytes().as_slice(), &[n; 8]].concat());
            let mut fork = doc.fork().with_actor(actor);
            fork.put(automerge::ROOT, "status", status).unwrap();
            fork.commit();
            changes.push(serde_bytes::ByteBuf::from(fork.get_last_local_change().unwrap().raw_bytes().to_vec()));
        }
        let forged = sync_core::protocol::PushRequest {
            docs: vec![sync_core::protocol::DocPush {
                id: fresh.order_id,
                kind: "order".into(),
                base_heads: base.iter().map(|h| sync_core::protocol::Hash::from(*h)).collect(),
                changes,
                group: None,
            }],
            checkpoint: 0,
        };
        let reply = c.ben.client.push(&forged).await.unwrap();
        assert_eq!(reply.results[0].reason.as_ref().map(|r| r.code.as_str()), Some("status_not_allowed"));
        assert_eq!(server.projected("orders", fresh.order_id, &["status"]).await, [Some("submitted".into())]);

        // A move the agent may not make, on a record she holds in sync, is refused and stays on
        // her device with the reason.
        c.anna.replica.update(taken.order_id, &[("status", "draft".into())]).await.unwrap();
        let report = c.anna.sync().await;
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].1.code, "status_not_allowed");
        assert_eq!(c.anna.replica.info(taken.order_id).await.unwrap().rejected.map(|r| r.code), Some("status_not_allowed".into()));
        assert_eq!(server.projected("orders", taken.order_id, &["status"]).await, [Some("approved".into())]);
    }
}

storage_test! {
    async fn check_ins_far_away_or_faster_than_a_car_and_payments_past_the_open_amount_raise_alerts(db: TestDb) {
        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        server.created(&c.maria, "visit_type", json!({"name": "Delivery", "geofence": "hard", "radius_m": 100.0, "active": true})).await;
        let (status, _) = server.api(&c.maria, Method::PATCH, &format!("/v1/records/{}", c.shop),
            Some(json!({"fields": {"lat": 52.52, "lon": 13.405}}))).await;
        assert_eq!(status, 200);
        c.anna.sync().await;
        // 390 km north of the shop: the device grades it out of range at once.
        let far = c.anna.replica.check_in(c.shop, CheckIn {
            at: Position { lat: 56.03, lon: 13.405 },
            accuracy_m: Some(10.0),
            visit_type: Some("Delivery".into()),
            time_ms: NOW,
        }).await.unwrap();
        assert_eq!(far.result, "out_of_range");
        // A visit made by hand that claims to be verified at the same place, ten minutes later.
        let agent = c.anna.login.user_id.to_string();
        let forged = c.anna.replica.create("visit", &[
            ("customer_id", Value::Str(c.shop.to_string())),
            ("agent_id", Value::Str(agent)),
            ("status", "in_progress".into()),
            ("visit_type", "Delivery".into()),
            ("check_in_at", Value::Int(NOW + 600_000)),
            ("check_in_lat", Value::Float(52.52)),
            ("check_in_lon", Value::Float(13.405)),
            ("check_in_result", "verified".into()),
        ]).await.unwrap();
        assert!(c.anna.sync().await.rejected.is_empty());
        let codes = |alerts: Vec<Json>| -> Vec<String> {
            alerts.iter().map(|a| a["fields"]["code"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(codes(open_alerts(&server, &c.maria, far.visit_id).await), ["check_in_out_of_range"]);
        assert_eq!(codes(open_alerts(&server, &c.maria, forged).await), ["implausible_check_in"], "390 km in ten minutes");
        // Checking out is not a second finding.
        c.anna.replica.check_out(far.visit_id, None, Some("delivered"), NOW + 60_000).await.unwrap();
        c.anna.sync().await;
        assert_eq!(open_alerts(&server, &c.maria, far.visit_id).await.len(), 1);
        assert_eq!(server.projected("visits", far.visit_id, &["check_in_result"]).await, [Some("out_of_range".into())]);

        // A payment larger than the order it settles.
        let order = c.anna.replica.add_order(c.shop, &[line("BEANS", 1_000, 0)], OrderOrigin::default(), true, NOW).await.unwrap();
        let total = order.totals.total;
        let fits = c.anna.replica.add_payment(c.shop, PaymentRequest { amount: total, method: Some("cash".into()), reference: None, order_id: Some(order.order_id) }, NOW).await.unwrap();
        let over = c.anna.replica.add_payment(c.shop, PaymentRequest { amount: 500, method: None, reference: None, order_id: Some(order.order_id) }, NOW).await.unwrap();
        assert!(c.anna.sync().await.rejected.is_empty());
        assert!(open_alerts(&server, &c.maria, fits).await.is_empty());
        assert_eq!(codes(open_alerts(&server, &c.maria, over).await), ["payment_above_open_amount"]);
        assert_eq!(server.count("payment_allocations").await, 2);
    }
}

storage_test! {
    async fn opportunities_keep_their_stage_history_and_customer_numbers_are_unique(db: TestDb) {
        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        let deal = c.anna.replica.create("opportunity", &[
            ("customer_id", Value::Str(c.shop.to_string())),
            ("title", "Espresso machine".into()),
            ("stage", "prospecting".into()),
        ]).await.unwrap();
        assert!(c.anna.sync().await.rejected.is_empty());
        c.ben.sync().await;
        c.ben.replica.update(deal, &[("stage", "proposal".into())]).await.unwrap();
        c.ben.sync().await;
        c.anna.sync().await;
        let history = c.anna.replica.get(deal).await.unwrap().get("stage_history").items().to_vec();
        let stages: Vec<_> = history.iter().map(|h| h.get("stage").clone()).collect();
        assert_eq!(stages, [Value::from("prospecting"), Value::from("proposal")]);
        assert_eq!(history[1].get("user_id"), &Value::Str(c.ben.login.user_id.to_string()), "who moved it");
        assert_eq!(server.count("opportunity_stages").await, 2);
        // The history is the server's: a device may not write it.
        let mut forged = history.clone();
        forged.pop();
        let refused = c.anna.replica.update(deal, &[("stage_history", Value::Items(forged))]).await.unwrap_err();
        assert!(refused.to_string().contains("stage_history"), "{refused}");

        // A customer number is one customer's: a second, here or offline elsewhere, is refused and
        // stays on its device with the reason; its own number again is not a duplicate.
        let (status, body) = server.api(&c.maria, Method::PATCH, &format!("/v1/records/{}", c.shop),
            Some(json!({"fields": {"code": "C-1"}}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server.api(&c.maria, Method::PATCH, &format!("/v1/records/{}", c.shop),
            Some(json!({"fields": {"code": "C-1", "phone": "1"}}))).await;
        assert_eq!(status, 200, "{body}");
        let mut other = customer("Other", "North");
        other.push(("code", "C-1".into()));
        let twin = c.ben.replica.create("customer", &other).await.unwrap();
        let report = c.ben.sync().await;
        assert_eq!(report.rejected.len(), 1);
        assert_eq!((report.rejected[0].0, report.rejected[0].1.code.as_str()), (twin, "duplicate_code"));
        assert_eq!(report.rejected[0].1.field.as_deref(), Some("code"));
        let (status, body) = server.api(&c.maria, Method::POST, "/v1/records",
            Some(json!({"kind": "customer", "fields": {"name": "Third", "territory": "North", "code": "C-1"}}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("duplicate_code")));
        c.ben.replica.update(twin, &[("code", "C-2".into())]).await.unwrap();
        assert!(c.ben.sync().await.rejected.is_empty(), "corrected, it goes through");
    }
}

storage_test! {
    async fn a_customer_number_is_taken_once_even_by_pushes_at_the_same_moment(db: TestDb) {
        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        // Two new customers with one number in one push: one is written, the other refused.
        for name in ["First", "Second"] {
            let mut fields = customer(name, "North");
            fields.push(("code", "B-1".into()));
            c.anna.replica.create("customer", &fields).await.unwrap();
        }
        let report = c.anna.sync().await;
        let codes: Vec<&str> = report.rejected.iter().map(|(_, r)| r.code.as_str()).collect();
        assert_eq!(codes, ["duplicate_code"]);
        c.anna.replica.update(report.rejected[0].0, &[("code", "B-2".into())]).await.unwrap();
        assert!(c.anna.sync().await.rejected.is_empty(), "corrected, it goes through");
        // Two devices take one number at the same moment, round after round: the merges of both
        // pushes check the number before either is written, and exactly one of them may have it.
        for round in 0..12 {
            let code = format!("R-{round}");
            let mut ids = Vec::new();
            for (device, name) in [(&mut c.anna, "Anna's"), (&mut c.ben, "Ben's")] {
                let mut fields = customer(name, "North");
                fields.push(("code", code.as_str().into()));
                ids.push(device.replica.create("customer", &fields).await.unwrap());
            }
            let (a, b) = tokio::join!(c.anna.sync(), c.ben.sync());
            // A refused record stays on its device, and is refused again at each sync.
            let refused: Vec<&str> = a.rejected.iter().chain(&b.rejected)
                .filter(|(id, _)| ids.contains(id))
                .map(|(_, r)| r.code.as_str())
                .collect();
            assert_eq!(refused, ["duplicate_code"], "round {round}");
        }
        let (status, body) = server.api(&c.maria, Method::GET, "/v1/records?kind=customer&limit=200", None).await;
        assert_eq!(status, 200, "{body}");
        let mut held: Vec<&str> = body["records"].as_array().unwrap().iter()
            .filter_map(|r| r["fields"]["code"].as_str()).collect();
        held.sort_unstable();
        let before = held.len();
        held.dedup();
        assert_eq!(held.len(), before, "no number is held twice: {held:?}");
        assert_eq!(held.len(), 14);
    }
}

storage_test! {
    async fn rules_left_due_by_a_process_that_stopped_run_on_a_later_pass(db: TestDb) {
        use fieldsync_server::auth::principal::Principal;
        use fieldsync_server::crm::rules;
        use fieldsync_server::sync::author::Author;
        use fieldsync_server::sync::push;
        use sync_core::protocol::{PushRequest, PushStatus};

        let server = TestServer::start(&db).await;
        let mut c = company(&server).await;
        assert_eq!(server.count("rules_due").await, 0, "pushes whose rules ran leave nothing due");
        // An order past the agents' discount limit, pushed by a process that stops once the push
        // is stored, before its rules run: the push and the rules it leaves due are stored together.
        let deep = c.anna.replica.add_order(c.shop, &[line("CUPS", 1_000, 1_500)], OrderOrigin::default(), true, NOW).await.unwrap();
        let docs = c.anna.replica.pending_pushes().await.unwrap();
        let north = fieldsync_server::auth::users::ensure_territory(&server.state.db.conn, "North").await.unwrap();
        let anna = Principal {
            user_id: c.anna.login.user_id,
            role: Role::Agent,
            device_id: c.anna.login.device_id,
            territories: vec![north],
            checkpoint: 0,
            claimed_device: None,
        };
        let by = rules::Pusher { user_id: anna.user_id, role: Role::Agent, purpose: None };
        let request = PushRequest { docs, checkpoint: 0 };
        let (response, pushed) = push::push_written(&server.state.sync, &Author::Device(anna), request, by).await.unwrap();
        assert!(response.results.iter().all(|r| r.status == PushStatus::Applied), "{:?}", response.results);
        drop(pushed);
        assert_eq!(server.count("rules_due").await, 1);
        assert_eq!(server.projected("orders", deep.order_id, &["hold_reason"]).await, vec![None]);

        // A later pass, of this process or any other on the database, runs them.
        let ran = rules::run_overdue(&server.state.sync, std::time::Duration::ZERO).await.unwrap();
        assert_eq!(ran, 1);
        assert_eq!(server.count("rules_due").await, 0);
        let hold = server.projected("orders", deep.order_id, &["hold_reason"]).await;
        assert!(hold[0].as_deref().is_some_and(|h| h.contains("discount")), "{hold:?}");
        let codes: Vec<Json> = open_alerts(&server, &c.maria, deep.order_id).await.iter().map(|a| a["fields"]["code"].clone()).collect();
        assert_eq!(codes, [json!("discount_above_limit")]);
        assert_eq!(rules::run_overdue(&server.state.sync, std::time::Duration::ZERO).await.unwrap(), 0, "they ran once");
        // The agent's device receives the hold.
        c.anna.sync().await;
        let d = c.anna.replica.get(deep.order_id).await.unwrap();
        let on_device = d.get("hold_reason").as_str().unwrap_or_default();
        assert!(on_device.contains("discount"), "{on_device}");
    }
}
