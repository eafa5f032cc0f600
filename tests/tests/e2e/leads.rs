//! Leads converted offline: a conversion is one atomic group of records (the lead, its new
//! customer, contact and opportunity), which the SDK pushes together and the server takes whole or
//! not at all; two devices converting the same lead leave one customer for it, and the second
//! conversion stays on its device, refused with the reasons. A lead that is a customer already is
//! found on the device and by the server, and converted into that customer.

use fieldsync_e2e::{storage_test, TestDb, TestServer};
use fieldsync_sdk::ConvertAs;
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
        let annas = anna.replica.convert_lead(lead, ConvertAs { deal: Some("Coffee corner"), into: None }, 1_780_000_000_000).await.unwrap();
        let bens = ben.replica.convert_lead(lead, ConvertAs::default(), 1_780_000_100_000).await.unwrap();
        let own = ben.replica.create("customer", &[("name", "Bens Bistro".into()), ("territory", "North".into())]).await.unwrap();
        let again = anna.replica.convert_lead(lead, ConvertAs::default(), 1_780_000_000_000).await.unwrap_err();
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

storage_test! {
    async fn a_lead_that_is_a_customer_already_is_found_and_converted_into_it(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        let maria = server.device("maria@x.test").await;
        let kiosk = server
            .created(&maria, "customer", json!({"name": "Kiosk am Markt", "territory": "North", "phone": "+49 30 1234567", "city": "Bonn"}))
            .await;
        server.created(&maria, "customer", json!({"name": "Hotel Rhein", "territory": "North", "city": "Bonn"})).await;
        let mut anna = server.device("anna@x.test").await;
        anna.sync().await;

        // Met at a fair: the kiosk's owner, her number written as people write it; and a stranger.
        let lead = anna.replica.create("lead", &[("name", "Eva Klein".into()), ("company", "KIOSK AM MARKT GmbH".into()),
            ("territory", "North".into()), ("status", "new".into()), ("phone", "030 1234567".into()), ("city", "Bonn".into())]).await.unwrap();
        let stranger = anna.replica.create("lead", &[("name", "Paul Sand".into()), ("territory", "North".into()),
            ("status", "new".into()), ("city", "Bonn".into())]).await.unwrap();
        // On the device, offline: the kiosk, for its phone and its name in the same city.
        let found = anna.replica.lead_duplicates(lead).await.unwrap();
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [kiosk]);
        let codes: Vec<&str> = found[0].reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["same_phone", "similar_name"]);
        assert!(anna.replica.lead_duplicates(stranger).await.unwrap().is_empty());

        // The server names it on the lead, and the device receives that.
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        anna.sync().await;
        let named = anna.replica.get(lead).await.unwrap();
        assert_eq!(named.get("duplicate_of").as_str(), Some(kiosk.to_string().as_str()));
        let why = named.get("duplicate_reasons").as_str().unwrap().to_string();
        assert!(why.starts_with("same_phone, similar_name ("), "{why}");
        assert!(anna.replica.get(stranger).await.unwrap().get("duplicate_of").is_null());
        // No one in the field may name it.
        anna.replica.update(stranger, &[("duplicate_of", kiosk.to_string().as_str().into())]).await.unwrap_err();

        // Converted into the kiosk: Eva becomes its contact and the deal its opportunity; no
        // second customer.
        let made = anna.replica.convert_lead(lead, ConvertAs { deal: Some("Espresso machine"), into: Some(kiosk) }, 1_780_000_000_000).await.unwrap();
        assert_eq!((made.customer, made.new_customer), (kiosk, false));
        let report = anna.sync().await;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert_eq!(server.count("customers").await, 2);
        let fields = |id: uuid::Uuid| {
            let (server, maria) = (&server, &maria);
            async move { server.api(maria, reqwest::Method::GET, &format!("/v1/records/{id}"), None).await.1["fields"].clone() }
        };
        let contact = fields(made.contact).await;
        assert_eq!((&contact["customer_id"], &contact["name"]), (&json!(kiosk), &json!("Eva Klein")));
        assert_eq!(fields(made.opportunity.unwrap()).await["customer_id"], json!(kiosk));
        let converted = fields(lead).await;
        assert_eq!((&converted["status"], &converted["customer_id"]), (&json!("converted"), &json!(kiosk)));
        // A lead converted into something that is not a customer is refused on the device.
        let wrong = anna.replica.convert_lead(stranger, ConvertAs { deal: None, into: Some(lead) }, 1_780_000_000_000).await.unwrap_err();
        assert!(wrong.to_string().contains("customer"), "{wrong}");
    }
}
