//! Leads converted offline: a conversion is one atomic group of records (the lead, its new
//! customer and contact), which the server takes whole or not at all; two devices converting the
//! same lead leave one customer for it, and the second conversion stays on its device, refused
//! with the reason.

use fieldsync_e2e::{storage_test, Device, TestDb, TestServer};
use serde_json::json;
use sync_core::protocol::{PushRequest, PushStatus};
use sync_core::{Role, Value};
use uuid::Uuid;

/// Converts `lead` on `device`, offline: a customer and a contact made from it, and the lead
/// marked converted, naming them. Answers the new customer's id.
async fn convert(device: &Device, lead: Uuid, shop: &str) -> Uuid {
    let customer = device
        .replica
        .create(
            "customer",
            &[
                ("name", shop.into()),
                ("territory", "North".into()),
                ("status", "prospect".into()),
            ],
        )
        .await
        .unwrap();
    let contact = device
        .replica
        .create(
            "contact",
            &[
                ("customer_id", Value::Str(customer.to_string())),
                ("name", "Eva Klein".into()),
            ],
        )
        .await
        .unwrap();
    device
        .replica
        .update(
            lead,
            &[
                ("status", "converted".into()),
                ("customer_id", Value::Str(customer.to_string())),
                ("contact_id", Value::Str(contact.to_string())),
                ("converted_at", Value::Int(1_780_000_000_000)),
            ],
        )
        .await
        .unwrap();
    customer
}

/// The contact `device` made for `customer`.
async fn contact_of(device: &Device, customer: Uuid) -> Uuid {
    let contacts = device.replica.list("contact").await.unwrap();
    let customer = customer.to_string();
    contacts
        .iter()
        .find(|c| c.str("customer_id") == Some(customer.as_str()))
        .unwrap()
        .id
}

/// Pushes what `device` has pending, the records of `group` as one atomic group.
async fn push_grouped(device: &Device, group: &[Uuid]) -> Vec<(Uuid, PushStatus, Option<String>)> {
    let tag = Uuid::now_v7();
    let mut docs = device.replica.pending_pushes().await.unwrap();
    for doc in &mut docs {
        if group.contains(&doc.id) {
            doc.group = Some(tag);
        }
    }
    let response = device
        .client
        .push(&PushRequest {
            docs,
            checkpoint: 0,
        })
        .await
        .unwrap();
    response
        .results
        .into_iter()
        .map(|r| (r.id, r.status, r.reason.map(|why| why.code)))
        .collect()
}

storage_test! {
    async fn two_devices_convert_one_lead_offline_and_one_customer_is_made(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let lead = server
            .created(&maria, "lead", json!({"name": "Eva Klein", "company": "Kiosk am Markt", "territory": "North", "status": "qualified"}))
            .await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        anna.sync().await;
        ben.sync().await;

        // Both convert the lead offline; Ben also adds a shop of his own, outside the group.
        let annas = convert(&anna, lead, "Kiosk am Markt").await;
        let bens = convert(&ben, lead, "Kiosk Markt").await;
        let own = ben.replica.create("customer", &[("name", "Bens Bistro".into()), ("territory", "North".into())]).await.unwrap();
        let annas_group = vec![lead, annas, contact_of(&anna, annas).await];
        let bens_group = vec![lead, bens, contact_of(&ben, bens).await];

        // Anna's conversion arrives first: taken whole.
        let answered = push_grouped(&anna, &annas_group).await;
        assert_eq!(answered.len(), 3);
        assert!(answered.iter().all(|(_, status, _)| *status == PushStatus::Applied), "{answered:?}");

        // Ben's arrives second: the lead refuses a second conversion, so his customer and contact
        // are refused with it; his own shop, outside the group, is taken.
        let answered = push_grouped(&ben, &bens_group).await;
        let status_of = |id: Uuid| answered.iter().find(|(r, _, _)| *r == id).cloned().unwrap();
        assert_eq!(status_of(lead).1, PushStatus::Rejected);
        assert_eq!(status_of(lead).2.as_deref(), Some("lead_converted"));
        for id in &bens_group[1..] {
            assert_eq!(status_of(*id).1, PushStatus::Rejected, "{answered:?}");
            assert_eq!(status_of(*id).2.as_deref(), Some("group_refused"), "{answered:?}");
        }
        assert_eq!(status_of(own).1, PushStatus::Applied);

        // One customer for the lead, which names Anna's; Ben's records exist nowhere but on his
        // device.
        assert_eq!(server.count("customers").await, 2, "Anna's conversion and Ben's own shop");
        assert_eq!(server.count("contacts").await, 1);
        assert_eq!(server.projected("leads", lead, &["status"]).await, vec![Some("converted".to_string())]);
        let (status, body) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{lead}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["fields"]["customer_id"], json!(annas), "{body}");
        assert!(!body.to_string().contains(&bens.to_string()), "no trace of Ben's conversion: {body}");
        let (status, _) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{bens}"), None).await;
        assert_eq!(status, 404);
        let held = ben.replica.get(bens).await.unwrap();
        assert_eq!(held.get("name"), &Value::from("Kiosk Markt"), "kept on Ben's device");
    }
}
