//! Leads converted offline: a conversion is one atomic group of records (the lead, its new
//! customer, contact and opportunity), which the SDK pushes together and the server takes whole or
//! not at all; two devices converting the same lead leave one customer for it, and the second
//! conversion stays on its device, refused with the reasons.

use fieldsync_e2e::{storage_test, TestDb, TestServer};
use serde_json::json;
use sync_core::Role;

storage_test! {
    async fn two_devices_convert_one_lead_offline_and_one_customer_is_made(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("ben@x.test", Role::Agent, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let lead = server
            .created(&maria, "lead", json!({"name": "Eva Klein", "company": "Kiosk am Markt", "territory": "North",
                "status": "qualified", "phone": "+49 1", "email": "eva@kiosk.test", "city": "Bonn", "consent_email": true}))
            .await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        anna.sync().await;
        ben.sync().await;

        // Both convert the lead offline, Anna with a deal; Ben also adds a shop of his own,
        // outside the group.
        let annas = anna.replica.convert_lead(lead, Some("Coffee corner"), 1_780_000_000_000).await.unwrap();
        let bens = ben.replica.convert_lead(lead, None, 1_780_000_100_000).await.unwrap();
        let own = ben.replica.create("customer", &[("name", "Bens Bistro".into()), ("territory", "North".into())]).await.unwrap();
        let again = anna.replica.convert_lead(lead, None, 1_780_000_000_000).await.unwrap_err();
        assert!(again.to_string().contains("converted already"), "{again}");

        // Anna's conversion arrives first: taken whole, the customer made of the lead.
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        let (status, customer) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{}", annas.customer), None).await;
        assert_eq!(status, 200);
        assert_eq!(customer["fields"]["name"], "Kiosk am Markt");
        assert_eq!(customer["fields"]["status"], "prospect");
        assert_eq!(customer["fields"]["phone"], "+49 1");
        let (_, contact) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{}", annas.contact), None).await;
        assert_eq!(contact["fields"]["name"], "Eva Klein");
        assert_eq!(contact["fields"]["consent_email"], true);
        let opportunity = annas.opportunity.unwrap();
        let (_, deal) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{opportunity}"), None).await;
        assert_eq!(deal["fields"]["title"], "Coffee corner");

        // Ben's arrives second: the lead refuses a second conversion, so his customer and contact
        // are refused with it; his own shop, outside the group, is taken. They stay refused at the
        // next sync too, and stay on his device.
        for _ in 0..2 {
            let report = ben.sync().await;
            let reason = |id| report.rejected.iter().find(|(r, _)| *r == id).map(|(_, why)| why.code.clone());
            assert_eq!(reason(lead).as_deref(), Some("lead_converted"), "{:?}", report.rejected);
            assert_eq!(reason(bens.customer).as_deref(), Some("group_refused"), "{:?}", report.rejected);
            assert_eq!(reason(bens.contact).as_deref(), Some("group_refused"), "{:?}", report.rejected);
            assert_eq!(reason(own), None);
        }
        assert_eq!(server.count("customers").await, 2, "Anna's conversion and Ben's own shop");
        assert_eq!(server.count("contacts").await, 1);
        assert_eq!(server.count("opportunities").await, 1);
        let (status, body) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{lead}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["fields"]["status"], "converted");
        assert_eq!(body["fields"]["customer_id"], json!(annas.customer), "{body}");
        assert!(!body.to_string().contains(&bens.customer.to_string()), "no trace of Ben's conversion: {body}");
        let (status, _) = server.api(&maria, reqwest::Method::GET, &format!("/v1/records/{}", bens.customer), None).await;
        assert_eq!(status, 404);
        let held = ben.replica.info(bens.customer).await.unwrap();
        assert_eq!(held.str("name"), Some("Kiosk am Markt"), "kept on Ben's device");
        assert_eq!(held.rejected.map(|r| r.code).as_deref(), Some("group_refused"), "with the reason");
        assert_eq!(server.projected("leads", lead, &["status"]).await, vec![Some("converted".to_string())]);
    }
}
