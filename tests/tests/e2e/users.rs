//! Staffing territories over the API: a manager gives an agent one of her territories and takes it
//! back, and the agent's device receives and then evicts its records; what is not hers to staff
//! does not exist for her.

use fieldsync_e2e::{customer, storage_test, TestDb, TestServer};
use reqwest::Method;
use sync_core::Role;

storage_test! {
    async fn a_manager_staffs_her_territories_and_devices_follow(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        server.user("sam@x.test", Role::Manager, &["South"]).await;
        let ben_id = server.user("ben@x.test", Role::Agent, &["South"]).await;
        server.user("anna@x.test", Role::Agent, &["North"]).await;
        server.user("root@x.test", Role::Admin, &[]).await;
        let maria = server.device("maria@x.test").await;
        let sam = server.device("sam@x.test").await;
        let root = server.device("root@x.test").await;
        let mut anna = server.device("anna@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let shop = anna.replica.create("customer", &customer("Shop", "North")).await.unwrap();
        anna.sync().await;
        ben.sync().await;
        assert!(ben.replica.ids().await.unwrap().is_empty());

        // Maria lists the agents of her territories, and herself; not Ben, not the admin.
        let (status, users) = server.api(&maria, Method::GET, "/v1/users", None).await;
        assert_eq!(status, 200, "{users}");
        let emails: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["anna@x.test", "maria@x.test"]);
        let (_, all) = server.api(&root, Method::GET, "/v1/users", None).await;
        assert_eq!(all.as_array().unwrap().len(), 5);
        assert_eq!(server.api(&anna, Method::GET, "/v1/users", None).await.0, 403);

        // She gives Ben North: his device receives its records, and takes it back: they leave.
        let north = format!("/v1/users/{ben_id}/territories/North");
        assert_eq!(server.api(&maria, Method::PUT, &north, None).await.0, 204);
        ben.sync().await;
        assert_eq!(ben.replica.ids().await.unwrap(), [shop]);
        let (_, users) = server.api(&maria, Method::GET, "/v1/users", None).await;
        let listed = users.as_array().unwrap().iter().find(|u| u["email"] == "ben@x.test").unwrap();
        assert_eq!(listed["territories"], serde_json::json!(["North", "South"]));
        assert_eq!(server.api(&maria, Method::DELETE, &north, None).await.0, 204);
        let report = ben.sync().await;
        assert_eq!(report.evicted, [shop]);

        // South is Sam's: to Maria neither that grant nor that revoke exists; a new territory
        // only an admin creates; names are bounded; an agent staffs no one.
        let south = format!("/v1/users/{ben_id}/territories/South");
        assert_eq!(server.api(&maria, Method::DELETE, &south, None).await.0, 404);
        assert_eq!(server.api(&maria, Method::PUT, &format!("/v1/users/{ben_id}/territories/East"), None).await.0, 404);
        assert_eq!(server.api(&anna, Method::PUT, &north, None).await.0, 403);
        let long = format!("/v1/users/{ben_id}/territories/{}", "x".repeat(101));
        assert_eq!(server.api(&root, Method::PUT, &long, None).await.1["error"]["code"], "invalid_territory");
        assert_eq!(server.api(&sam, Method::DELETE, &south, None).await.0, 204);
        assert_eq!(server.api(&root, Method::PUT, &format!("/v1/users/{ben_id}/territories/East"), None).await.0, 204);
        let (_, all) = server.api(&root, Method::GET, "/v1/users", None).await;
        let listed = all.as_array().unwrap().iter().find(|u| u["email"] == "ben@x.test").unwrap();
        assert_eq!(listed["territories"], serde_json::json!(["East"]));
    }
}

storage_test! {
    async fn an_admin_gives_roles_and_devices_follow_but_the_last_admin_stays(db: TestDb) {
        let server = TestServer::start(&db).await;
        let root_id = server.user("root@x.test", Role::Admin, &[]).await;
        server.user("maria@x.test", Role::Manager, &["North"]).await;
        let ben_id = server.user("ben@x.test", Role::Agent, &["North"]).await;
        server.user("carla@x.test", Role::Agent, &["South"]).await;
        let root = server.device("root@x.test").await;
        let maria = server.device("maria@x.test").await;
        let mut ben = server.device("ben@x.test").await;
        let mut carla = server.device("carla@x.test").await;
        let south = carla.replica.create("customer", &customer("Sud", "South")).await.unwrap();
        carla.sync().await;
        ben.sync().await;
        assert!(ben.replica.ids().await.unwrap().is_empty(), "South is not Ben's");

        // Only admins give roles; a body that is not a role is refused.
        let role = |r: &str| Some(serde_json::json!({ "role": r }));
        let path = format!("/v1/users/{ben_id}/role");
        assert_eq!(server.api(&maria, Method::PUT, &path, role("manager")).await.0, 403);
        assert_eq!(server.api(&ben, Method::PUT, &path, role("admin")).await.0, 403);
        assert_eq!(server.api(&root, Method::PUT, &path, role("boss")).await.0, 400);
        let nobody = format!("/v1/users/{}/role", uuid::Uuid::now_v7());
        assert_eq!(server.api(&root, Method::PUT, &nobody, role("agent")).await.0, 404);

        // Ben made an admin sees everything on his next sync, the same device and token; made an
        // agent again, his device evicts what is not his territory's.
        assert_eq!(server.api(&root, Method::PUT, &path, role("admin")).await.0, 204);
        ben.sync().await;
        assert_eq!(ben.replica.ids().await.unwrap(), [south]);
        let (_, users) = server.api(&root, Method::GET, "/v1/users", None).await;
        let listed = users.as_array().unwrap().iter().find(|u| u["email"] == "ben@x.test").unwrap();
        assert_eq!(listed["role"], "admin");
        assert_eq!(server.api(&root, Method::PUT, &path, role("agent")).await.0, 204);
        let report = ben.sync().await;
        assert_eq!(report.evicted, [south]);

        // The company keeps an admin: the last one cannot be made anything else.
        let (status, body) = server.api(&root, Method::PUT, &format!("/v1/users/{root_id}/role"), role("manager")).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "conflict");
        let (_, users) = server.api(&root, Method::GET, "/v1/users", None).await;
        let me = users.as_array().unwrap().iter().find(|u| u["email"] == "root@x.test").unwrap();
        assert_eq!(me["role"], "admin");
    }
}
