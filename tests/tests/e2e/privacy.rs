//! The personal data of the people in the CRM: every read of a contact's or a lead's personal
//! fields over the API and every export is in the audit trail (who, when, through which device,
//! never the values), and a person's data is exported on request, whole.

use fieldsync_e2e::{storage_test, Device, TestDb, TestServer};
use fieldsync_sdk::ConvertAs;
use reqwest::Method;
use serde_json::{json, Value as Json};
use sync_core::Role;
use uuid::Uuid;

async fn get(server: &TestServer, who: &Device, path: &str) -> (u16, Json) {
    server.api(who, Method::GET, path, None).await
}

/// The audit trail's rows about `record`, oldest first: (user, action).
async fn trail(server: &TestServer, who: &Device, record: Uuid) -> Vec<(Uuid, String)> {
    let (status, page) = get(
        server,
        who,
        &format!("/v1/audit/personal-data?record_id={record}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let mut rows: Vec<(Uuid, String)> = page["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["user_id"].as_str().unwrap().parse().unwrap(),
                a["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.reverse();
    rows
}

storage_test! {
    async fn reads_and_exports_of_a_persons_data_are_audited_and_the_person_exported_whole(db: TestDb) {
        let server = TestServer::start(&db).await;
        let root_id = server.user("root@x.test", Role::Admin, &[]).await;
        let maria_id = server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        let anna_id = server.user("anna@x.test", Role::Agent, &["North"]).await;
        let root = server.device("root@x.test").await;
        let maria = server.device("maria@x.test").await;
        let sam = server.device("sam@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let kiosk = server.created(&maria, "customer", json!({"name": "Kiosk am Markt", "territory": "North"})).await;
        anna.sync().await;

        // Anna meets Eva, converts her lead into the kiosk's contact; Eva raises a ticket.
        let lead = anna.replica.create("lead", &[("name", "Eva Klein".into()), ("territory", "North".into()),
            ("status", "new".into()), ("phone", "+49 170 5550100".into()), ("email", "eva@kiosk.test".into())]).await.unwrap();
        let made = anna.replica.convert_lead(lead, ConvertAs { deal: None, into: Some(kiosk) }, 1_780_000_000_000).await.unwrap();
        let eva = made.contact;
        anna.sync().await;
        let ticket = server.created(&maria, "ticket", json!({"customer_id": kiosk, "contact_id": eva, "subject": "Grinder noise", "status": "open"})).await;
        let (status, _) = server.api(&maria, Method::PATCH, &format!("/v1/records/{eva}"), Some(json!({"fields": {"title": "Owner"}}))).await;
        assert_eq!(status, 200);

        // Reads: Maria the contact (and the kiosk with its contacts), the listing and the
        // history; Anna the contact; the customers alone hold no personal field read.
        assert_eq!(get(&server, &maria, &format!("/v1/records/{eva}")).await.0, 200);
        assert_eq!(get(&server, &maria, "/v1/records?kind=contact").await.0, 200);
        assert_eq!(get(&server, &maria, &format!("/v1/records/{eva}/history")).await.0, 200);
        assert_eq!(get(&server, &anna, &format!("/v1/records/{eva}")).await.0, 200);
        assert_eq!(get(&server, &maria, &format!("/v1/records/{kiosk}")).await.0, 200, "related: Eva");
        let read = |user: Uuid| (user, "read".to_string());
        assert_eq!(trail(&server, &maria, eva).await, [read(maria_id), read(maria_id), read(maria_id), read(anna_id), read(maria_id)]);

        // The export: Eva whole, her customer, her history, the lead she came from and her
        // ticket, who read her data; itself audited.
        let (status, export) = get(&server, &maria, &format!("/v1/people/{eva}/export")).await;
        assert_eq!(status, 200, "{export}");
        assert_eq!(export["person"]["fields"]["name"], "Eva Klein");
        assert_eq!(export["person"]["fields"]["phone"], "+49 170 5550100");
        assert_eq!(export["person"]["fields"]["title"], "Owner");
        assert_eq!(export["personal_fields"], json!(["name", "phone", "email"]));
        assert_eq!(export["customer"]["id"], json!(kiosk));
        assert_eq!(export["history"]["total"], 2, "made by the conversion, then Maria's title");
        let related: Vec<&str> = export["related"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(related, [ticket.to_string(), lead.to_string()]);
        let accesses = export["accesses"].as_array().unwrap();
        assert_eq!(accesses.len(), 6);
        assert_eq!((accesses[0]["action"].as_str(), accesses[0]["user_id"].as_str()), (Some("export"), Some(maria_id.to_string().as_str())));
        assert_eq!(accesses[0]["fields"], "name,phone,email");
        assert_eq!(accesses[0]["device_id"], json!(maria.login.device_id));
        // The trail holds who and what, never a value.
        assert!(!accesses.iter().any(|a| a.to_string().contains("5550100") || a.to_string().contains("Eva")), "{accesses:?}");
        // The lead's export names the contact it became.
        let (status, of_lead) = get(&server, &maria, &format!("/v1/people/{lead}/export")).await;
        assert_eq!(status, 200, "{of_lead}");
        assert_eq!(of_lead["related"][0]["id"], json!(eva));

        // A file of every contact is one row, seen by admins only (it names no record).
        let (status, _) = get(&server, &maria, "/v1/exports/contacts?format=jsonl").await;
        assert_eq!(status, 200);
        let (_, all) = get(&server, &root, &format!("/v1/audit/personal-data?user_id={maria_id}&limit=1")).await;
        assert_eq!(all["accesses"][0]["record_id"], Json::Null);
        assert_eq!(all["accesses"][0]["kind"], "contact");
        assert_eq!(all["accesses"][0]["action"], "export");
        assert!(all["next_before"].is_string(), "more pages: {all}");
        let (_, mine) = get(&server, &maria, &format!("/v1/audit/personal-data?user_id={maria_id}&limit=1")).await;
        assert_eq!(mine["accesses"][0]["record_id"], json!(lead), "not the file's row: {mine}");

        // An admin, who works with no customer, gets people's personal fields empty, unaudited.
        let masked = reqwest::Client::new()
            .get(format!("{}/v1/exports/contacts?format=jsonl", server.url))
            .bearer_auth(&root.login.token).send().await.unwrap();
        assert_eq!(masked.headers()["fieldsync-masked"], "name,phone,email");
        let text = masked.text().await.unwrap();
        let line: Json = text.lines().map(|l| serde_json::from_str::<Json>(l).unwrap()).find(|l| l["id"] == json!(eva)).unwrap();
        assert_eq!((&line["name"], &line["phone"], &line["title"]), (&Json::Null, &Json::Null, &json!("Owner")), "{line}");
        assert!(!text.contains("Eva Klein") && !text.contains("5550100"), "{text}");
        let (_, rows) = get(&server, &root, &format!("/v1/audit/personal-data?user_id={root_id}")).await;
        assert_eq!(rows["accesses"], json!([]), "nothing personal was exported");

        // Who may: not an agent, not a manager of another territory, and only people.
        assert_eq!(get(&server, &anna, &format!("/v1/people/{eva}/export")).await.0, 403);
        assert_eq!(get(&server, &anna, "/v1/audit/personal-data").await.0, 403);
        assert_eq!(get(&server, &sam, &format!("/v1/people/{eva}/export")).await.0, 404);
        assert!(trail(&server, &sam, eva).await.is_empty(), "Sam sees no trail of a person he may not see");
        let (status, body) = get(&server, &root, &format!("/v1/people/{kiosk}/export")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("not_a_person")));
        assert!(!trail(&server, &root, kiosk).await.iter().any(|(u, _)| *u == root_id), "a refused export reads nothing");
    }
}
