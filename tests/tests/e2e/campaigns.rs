//! Campaigns in the field: a campaign reaches exactly the agents of its target customers (one
//! member record per customer, with a task in the owner's plan), respects the contacts' consent,
//! follows the campaign as a manager changes it without losing a recorded response, and its report
//! matches figures worked out by hand.

use std::collections::BTreeSet;

use fieldsync_e2e::{assert_row, report, storage_test, Device, TestDb, TestServer};
use reqwest::Method;
use serde_json::{json, Value as Json};
use sync_core::Role;
use uuid::Uuid;

const DAY: i64 = 86_400_000;
/// 2025-03-01 and 2025-04-01, UTC.
const MAR_1: i64 = 1_740_787_200_000;
const APR_1: i64 = 1_743_465_600_000;

/// The titles of the open tasks a device holds.
async fn open_tasks(device: &Device) -> BTreeSet<String> {
    device
        .replica
        .list("task")
        .await
        .unwrap()
        .iter()
        .filter(|t| t.str("status") == Some("open"))
        .map(|t| t.str("title").unwrap_or_default().to_string())
        .collect()
}

/// The names of the customers of the campaign members a device holds (live ones).
async fn members(device: &Device) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in device.replica.list("campaign_member").await.unwrap() {
        let customer = device
            .replica
            .get(m.str("customer_id").unwrap().parse().unwrap())
            .await
            .unwrap();
        out.insert(customer.get("name").as_str().unwrap().to_string());
    }
    out
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

storage_test! {
    async fn a_campaign_reaches_exactly_its_target_customers_agents(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("boss@x.test", Role::Manager, &["North", "South"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let ben_id = server.user("ben@x.test", Role::Agent, &["North"]).await;
        let carla_id = server.user("carla@x.test", Role::Agent, &["South"]).await;
        let boss = server.device("boss@x.test").await;
        let customer = |name: &str, territory: &str, tier: &str, industry: &str, owner: Option<Uuid>| {
            json!({"name": name, "territory": territory, "tier": tier, "industry": industry, "owner_id": owner})
        };
        let n1 = server.created(&boss, "customer", customer("N1", "North", "A", "retail", Some(anna_id))).await;
        let n2 = server.created(&boss, "customer", customer("N2", "North", "A", "retail", Some(ben_id))).await;
        let n3 = server.created(&boss, "customer", customer("N3", "North", "B", "retail", Some(anna_id))).await;
        let n4 = server.created(&boss, "customer", customer("N4", "North", "A", "pharmacy", None)).await;
        server.created(&boss, "customer", customer("S1", "South", "A", "retail", Some(carla_id))).await;
        let s2 = server.created(&boss, "customer", customer("S2", "South", "C", "hotel", None)).await;
        let product = server.created(&boss, "product", json!({"sku": "BEANS", "name": "Beans", "active": true})).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        server.created(&server.device("root@x.test").await, "settings", json!({"currency": "EUR"})).await;

        // Tier A retailers, and S2 named on its own.
        let campaign = server.created(&boss, "campaign", json!({
            "name": "Spring beans", "campaign_type": "promotion", "status": "active", "channel": "visit",
            "starts_at": MAR_1, "ends_at": APR_1, "budget": 50_000, "visit_type": "sales call",
            "asks": "Show the new blend", "target_tier": "A", "target_industry": "retail",
            "customers": [{"customer_id": s2}], "products": [{"product_id": product}]})).await;

        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        for device in [&mut anna, &mut ben, &mut carla] {
            device.sync().await;
            assert!(device.replica.list("campaign").await.unwrap().is_empty(), "the campaign itself is the managers'");
        }
        assert_eq!(members(&anna).await, names(&["N1", "N2"]), "North's targets, not N3 (tier B) or N4 (pharmacy)");
        assert_eq!(members(&ben).await, names(&["N1", "N2"]));
        assert_eq!(members(&carla).await, names(&["S1", "S2"]));
        let member = anna.replica.list("campaign_member").await.unwrap().into_iter()
            .find(|m| m.str("customer_id") == Some(&n1.to_string())).unwrap();
        assert_eq!(member.str("name"), Some("Spring beans"));
        assert_eq!(member.str("asks"), Some("Show the new blend"));
        assert_eq!(member.str("products"), Some("BEANS"));
        assert_eq!(member.str("campaign_id"), Some(campaign.to_string().as_str()));
        // Each owner has the task of their customer in their plan; S2, owned by no one, is South's.
        assert_eq!(open_tasks(&anna).await, names(&["Spring beans: N1"]));
        assert_eq!(open_tasks(&ben).await, names(&["Spring beans: N2"]));
        assert_eq!(open_tasks(&carla).await, names(&["Spring beans: S1", "Spring beans: S2"]));

        // Both North customers wait for Anna in March, not after the campaign.
        let calls: Vec<Uuid> = anna.replica.campaign_calls(MAR_1 + DAY).await.unwrap().iter().map(|m| m.id).collect();
        assert_eq!(calls.len(), 2);
        assert!(calls.contains(&member.id));
        assert!(anna.replica.campaign_calls(APR_1).await.unwrap().is_empty());
        // Anna records N1's interest, which closes her task; what the campaign says is the
        // server's alone.
        anna.replica.respond(member.id, "curious", MAR_1 + DAY).await.unwrap_err();
        anna.replica.respond(member.id, "interested", MAR_1 + DAY).await.unwrap();
        assert!(open_tasks(&anna).await.is_empty(), "N1's task is done");
        assert_eq!(anna.replica.campaign_calls(MAR_1 + DAY).await.unwrap().len(), 1);
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        anna.replica.update(member.id, &[("asks", "Nothing".into())]).await.unwrap_err();
        // Ben takes an order for N2 that names the campaign: N2's response is then `ordered`.
        let n2_member = ben.replica.list("campaign_member").await.unwrap().into_iter()
            .find(|m| m.str("customer_id") == Some(&n2.to_string())).unwrap();
        ben.replica.create("order", &[("customer_id", sync_core::Value::Str(n2.to_string())), ("status", "submitted".into()),
            ("currency", "EUR".into()), ("campaign_id", sync_core::Value::Str(campaign.to_string())), ("ordered_at", sync_core::Value::Int(MAR_1 + 2 * DAY))]).await.unwrap();
        let report = ben.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        ben.sync().await;
        assert_eq!(ben.replica.get(n2_member.id).await.unwrap().get("response").as_str(), Some("ordered"));
        assert_eq!(server.projected("campaign_members", n2_member.id, &["response"]).await, vec![Some("ordered".to_string())]);

        // An edit that changes nothing the field is told (the campaign's notes) writes no member.
        let heads = server.heads(n2_member.id).await;
        let (status, _) = server
            .api(&boss, Method::PATCH, &format!("/v1/records/{campaign}"), Some(json!({"fields": {"notes": "Budget approved"}})))
            .await;
        assert_eq!(status, 200);
        assert_eq!(server.heads(n2_member.id).await, heads, "the member is not written again");

        // The manager turns the campaign to pharmacies: N4 joins (a team task, with no owner);
        // S1, with no response, leaves with its task; N1 and N2 leave the segment but keep their
        // members, which hold responses, and learn of the change.
        let (status, body) = server.api(&boss, Method::PATCH, &format!("/v1/records/{campaign}"),
            Some(json!({"fields": {"target_industry": "pharmacy", "asks": "Show the new blend to pharmacies"}}))).await;
        assert_eq!(status, 200, "{body}");
        for device in [&mut anna, &mut ben, &mut carla] {
            device.sync().await;
        }
        assert_eq!(members(&anna).await, names(&["N1", "N2", "N4"]));
        assert_eq!(members(&carla).await, names(&["S2"]));
        assert_eq!(open_tasks(&carla).await, names(&["Spring beans: S2"]), "S1's task cancelled");
        assert_eq!(open_tasks(&anna).await, names(&["Spring beans: N4"]));
        let kept = anna.replica.get(member.id).await.unwrap();
        assert_eq!(kept.get("response").as_str(), Some("interested"), "a recorded response stays");
        assert_eq!(kept.get("asks").as_str(), Some("Show the new blend to pharmacies"));
        let statuses: BTreeSet<String> = carla.replica.list("task").await.unwrap().iter()
            .map(|t| format!("{} {}", t.str("title").unwrap(), t.str("status").unwrap())).collect();
        assert_eq!(statuses, names(&["Spring beans: S1 cancelled", "Spring beans: S2 open"]));

        // Customers move in and out of the segment while it runs: N3 becomes a tier-A pharmacy
        // and joins, with a task for Anna; N4, which never answered, becomes a hotel and leaves
        // with its task.
        for (shop, fields) in [(n3, json!({"tier": "A", "industry": "pharmacy"})), (n4, json!({"industry": "hotel"}))] {
            let (status, body) = server.api(&boss, Method::PATCH, &format!("/v1/records/{shop}"), Some(json!({"fields": fields}))).await;
            assert_eq!(status, 200, "{body}");
        }
        anna.sync().await;
        assert_eq!(members(&anna).await, names(&["N1", "N2", "N3"]));
        assert_eq!(open_tasks(&anna).await, names(&["Spring beans: N3"]));

        // Cancelled: members without a response leave the field; the responses stay.
        let (status, _) = server.api(&boss, Method::PATCH, &format!("/v1/records/{campaign}"),
            Some(json!({"fields": {"status": "cancelled"}}))).await;
        assert_eq!(status, 200);
        anna.sync().await;
        carla.sync().await;
        assert_eq!(members(&anna).await, names(&["N1", "N2"]));
        assert!(members(&carla).await.is_empty());
        assert_eq!(anna.replica.get(member.id).await.unwrap().get("status").as_str(), Some("cancelled"));
    }
}

storage_test! {
    async fn a_call_campaign_asks_for_a_contact_who_consented(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("boss@x.test", Role::Manager, &["North"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let boss = server.device("boss@x.test").await;
        let shop = |name: &str| json!({"name": name, "territory": "North", "owner_id": anna_id});
        let yes = server.created(&boss, "customer", shop("Yes")).await;
        let no = server.created(&boss, "customer", shop("No")).await;
        let none = server.created(&boss, "customer", shop("None")).await;
        server.created(&boss, "contact", json!({"customer_id": yes, "name": "Y", "consent_phone": false})).await;
        server.created(&boss, "contact", json!({"customer_id": yes, "name": "Z", "consent_phone": true})).await;
        server.created(&boss, "contact", json!({"customer_id": no, "name": "N", "consent_phone": false, "consent_email": true})).await;
        server.created(&boss, "campaign", json!({
            "name": "Calls", "campaign_type": "reactivation", "status": "active", "channel": "phone",
            "starts_at": MAR_1, "ends_at": APR_1,
            "customers": [{"customer_id": yes}, {"customer_id": no}, {"customer_id": none}]})).await;
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;
        let mut contactable = BTreeSet::new();
        for m in anna.replica.list("campaign_member").await.unwrap() {
            let customer: Uuid = m.str("customer_id").unwrap().parse().unwrap();
            let flag = anna.replica.get(m.id).await.unwrap().get("contactable").clone();
            contactable.insert((customer == yes, customer == no, flag == sync_core::Value::Bool(true)));
        }
        // Shown on the device: Yes may be called, No (e-mail only) and None (no contact) may not.
        assert_eq!(contactable, BTreeSet::from([(true, false, true), (false, true, false), (false, false, false)]));
        assert_eq!(open_tasks(&anna).await, names(&["Calls: Yes"]), "a task only where a call is allowed");
    }
}

storage_test! {
    /// The fixture: a campaign for A1 and A2 (North) and S1 (South), all tier A, in March 2025
    /// (31 days; the period before it starts on 29 January), budget 10,000, beans costing 300 a
    /// unit. A1 orders 10 beans at 1,000 naming the campaign (approved: 10,000, margin 7,000) and
    /// 2 cups at 500 without (1,000), and bought 1,000 in February; A2 refuses, and bought 1,500 in
    /// February; S1 submits an order naming the campaign, never approved (ordered, not
    /// converted). The comparable group: A3 (North, tier A) 2,000 in March and 500 in February; S2
    /// (South, tier A) 1,000 in March; B1 (tier B, 5,000 in March) is not comparable.
    async fn campaign_report_by_hand(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let admin = server.device("root@x.test").await;
        let maria = server.device("maria@x.test").await;
        let anna = server.device("anna@x.test").await;
        let a = &admin;
        server.created(a, "settings", json!({"currency": "EUR"})).await;
        let beans = server.created(a, "product", json!({"sku": "BEANS", "name": "Beans", "active": true})).await;
        let cups = server.created(a, "product", json!({"sku": "CUPS", "name": "Cups", "active": true})).await;
        server.created(a, "product_cost", json!({"product_id": beans, "unit_cost": 300})).await;
        let customer = |name: &str, territory: &str, tier: &str| json!({"name": name, "territory": territory, "tier": tier});
        let a1 = server.created(a, "customer", customer("A1", "North", "A")).await;
        let a2 = server.created(a, "customer", customer("A2", "North", "A")).await;
        let a3 = server.created(a, "customer", customer("A3", "North", "A")).await;
        let b1 = server.created(a, "customer", customer("B1", "North", "B")).await;
        let s1 = server.created(a, "customer", customer("S1", "South", "A")).await;
        let s2 = server.created(a, "customer", customer("S2", "South", "A")).await;
        let campaign = server.created(a, "campaign", json!({
            "name": "Spring beans", "campaign_type": "promotion", "status": "active", "channel": "visit",
            "starts_at": MAR_1, "ends_at": APR_1, "budget": 10_000,
            "customers": [{"customer_id": a1}, {"customer_id": a2}, {"customer_id": s1}]})).await;
        // A campaign of June is outside the period.
        server.created(a, "campaign", json!({
            "name": "Summer", "campaign_type": "launch", "status": "active", "channel": "visit",
            "starts_at": APR_1 + 61 * DAY, "ends_at": APR_1 + 91 * DAY, "customers": [{"customer_id": a1}]})).await;
        let line = |product: Uuid, units: i64, price: i64| {
            json!({"product_id": product, "quantity": units * 1_000, "unit_price": price, "tax_bp": 0})
        };
        let order = |customer: Uuid, status: &str, at: i64, lines: Json, named: bool| {
            let mut o = json!({"customer_id": customer, "agent_id": anna_id, "status": status, "currency": "EUR",
                "ordered_at": at, "lines": lines});
            if named {
                o["campaign_id"] = json!(campaign);
            }
            o
        };
        let feb = |day: i64| MAR_1 - 28 * DAY + (day - 1) * DAY;
        let mar = |day: i64| MAR_1 + (day - 1) * DAY;
        for o in [
            order(a1, "approved", mar(10), json!([line(beans, 10, 1_000)]), true),
            order(a1, "delivered", mar(20), json!([line(cups, 2, 500)]), false),
            order(a1, "delivered", feb(15), json!([line(beans, 1, 1_000)]), false),
            order(a2, "delivered", feb(10), json!([line(cups, 3, 500)]), false),
            order(s1, "submitted", mar(15), json!([line(beans, 5, 1_000)]), true),
            order(a3, "delivered", mar(5), json!([line(cups, 4, 500)]), false),
            order(a3, "delivered", feb(20), json!([line(cups, 1, 500)]), false),
            order(s2, "delivered", mar(12), json!([line(beans, 1, 1_000)]), false),
            order(b1, "delivered", mar(12), json!([line(beans, 5, 1_000)]), false),
        ] {
            server.created(a, "order", o).await;
        }
        let (_, page) = server.api(a, Method::GET, &format!("/v1/records?kind=campaign_member&customer_id={a2}&campaign_id={campaign}"), None).await;
        let refused: Uuid = page["records"][0]["id"].as_str().unwrap().parse().unwrap();
        let (status, body) = server.api(a, Method::PATCH, &format!("/v1/records/{refused}"),
            Some(json!({"fields": {"response": "refused", "responded_at": mar(3)}}))).await;
        assert_eq!(status, 200, "{body}");

        let period = "from=2025-03-01&to=2025-04-30";
        let r = report(&server, &admin, "campaign", period).await;
        let rows = r["sections"]["by_campaign"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "June's campaign is outside the period: {rows:?}");
        assert_row(&rows[0], &[
            ("campaign", json!("Spring beans")), ("campaign_id", json!(campaign)), ("status", json!("active")),
            ("members", json!(3)), ("contactable", json!(3)), ("reached", json!(3)), ("responded", json!(2)),
            ("converted", json!(1)), ("reach_rate", json!(1.0)), ("response_rate", json!(0.6667)),
            ("conversion_rate", json!(0.3333)), ("revenue", json!(10_000)), ("margin", json!(7_000)),
            ("budget", json!(10_000)), ("cost_per_conversion", json!(10_000.0)), ("return_on_budget", json!(-0.3)),
            ("member_revenue", json!(3666.6667)), ("comparison_customers", json!(2)),
            ("comparison_revenue", json!(1500.0)), ("lift", json!(1583.3333)), ("incremental_revenue", json!(4750.0)),
        ]);
        let responses: Vec<(String, i64)> = r["sections"]["responses"].as_array().unwrap().iter()
            .map(|row| (row["response"].as_str().unwrap().to_string(), row["members"].as_i64().unwrap()))
            .collect();
        assert_eq!(responses, [("ordered".to_string(), 2), ("refused".to_string(), 1)]);

        // Maria sees North's members (A1, A2) and the budget's share of them; the comparable
        // group is A3.
        let r = report(&server, &maria, "campaign", period).await;
        assert_row(&r["sections"]["by_campaign"][0], &[
            ("members", json!(2)), ("reached", json!(2)), ("responded", json!(1)), ("converted", json!(1)),
            ("revenue", json!(10_000)), ("margin", json!(7_000)), ("budget", json!(6_666)),
            ("cost_per_conversion", json!(6_666.0)), ("return_on_budget", json!(0.0501)),
            ("member_revenue", json!(5_500.0)), ("comparison_customers", json!(1)),
            ("comparison_revenue", json!(2_000.0)), ("lift", json!(2_750.0)), ("incremental_revenue", json!(5_500.0)),
        ]);
        // Anna reads her territory's figures, not what the campaign cost.
        let r = report(&server, &anna, "campaign", period).await;
        assert_row(&r["sections"]["by_campaign"][0], &[("members", json!(2)), ("budget", Json::Null),
            ("cost_per_conversion", Json::Null), ("return_on_budget", Json::Null)]);

        // CSV of the same section.
        let response = reqwest::Client::new()
            .get(format!("{}/v1/reports/campaign?{period}&format=csv", server.url))
            .bearer_auth(&admin.login.token)
            .send().await.unwrap();
        assert_eq!(response.status(), 200);
        let csv = response.text().await.unwrap();
        assert!(csv.starts_with("campaign,campaign_id,status,starts_at,ends_at,members,"), "{csv}");
        assert!(csv.contains("Spring beans"), "{csv}");
    }
}
