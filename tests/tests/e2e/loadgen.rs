//! The fleet load generator as CI runs it: the small preset as a smoke test, and a bounded soak, each
//! in-process against a test server on both databases. Only correctness is asserted here (everything
//! converged, nothing lost, no error); speed lives in the benchmarks (BENCHMARKS.md).

use std::time::Duration;

use fieldsync_e2e::{storage_test, TestDb, TestServer, PASSWORD};
use fieldsync_loadgen::args::Preset;
use fieldsync_loadgen::server::{Account, Target};
use fieldsync_loadgen::soak::{SoakConfig, SoakReport};
use fieldsync_loadgen::{fleet, soak};
use fieldsync_server::auth::ratelimit::Rate;
use sea_orm::ConnectionTrait;
use sync_core::Role;

/// Agents with a territory each on the test server, as the load generator's accounts.
async fn accounts(server: &TestServer, n: usize) -> Vec<Account> {
    let mut accounts = Vec::new();
    for k in 0..n {
        let email = format!("agent{k}@load.test");
        server
            .user(&email, Role::Agent, &[&format!("Territory {k}")])
            .await;
        accounts.push(Account {
            email,
            password: PASSWORD.into(),
        });
    }
    accounts
}

fn target(server: &TestServer, db: &TestDb, accounts: Vec<Account>) -> Target {
    Target::attach(&server.url, accounts, Some(db.url.clone()), vec![])
}

storage_test! {
    async fn the_small_preset_converges(db: TestDb) {
        let server = TestServer::start(&db).await;
        let config = Preset::fleet(Some(Preset::Small));
        let target = target(&server, &db, accounts(&server, 1).await);
        let report = fleet::run(&target, config).await.expect("fleet run");
        assert!(report.converged, "{:?}", report.divergence);
        let names: Vec<_> = report.phases.iter().map(|p| p.name).collect();
        assert_eq!(names, ["initial-push", "second-push", "incremental-pull", "bootstrap"]);
        let total = config.devices * config.records;
        let phase = |name| report.phases.iter().find(|p| p.name == name).unwrap();
        assert_eq!(phase("initial-push").records, total);
        assert_eq!(phase("initial-push").changes, total * (1 + config.edits));
        // The incremental pull receives the second round's records, and only those.
        assert_eq!(phase("incremental-pull").records, total / 5);
        let bootstrap = phase("bootstrap");
        assert_eq!(bootstrap.records, total);
        assert!(bootstrap.compacted_bytes.unwrap() > 0);
        assert!(bootstrap.bytes_down > 0 && bootstrap.bytes_down_per_compacted.is_some());
        assert!(report.database_bytes.unwrap() > 0);
        // An in-process server has no process of its own to measure: its memory is unknown and its
        // CPU is counted with the devices' (this process's) in every phase's split.
        assert_eq!(report.server_rss_peak_bytes, None);
        let cpu: Vec<_> = report.phases.iter().map(|p| p.cpu.expect("Linux /proc")).collect();
        assert!(cpu.iter().all(|c| c.server_s.is_none()));
        assert!(cpu.iter().map(|c| c.loadgen_s).sum::<f64>() > 0.0);
        server.stop().await;
    }
}

storage_test! {
    async fn the_domain_workload_converges_with_nothing_held_or_raised(db: TestDb) {
        let server = TestServer::start(&db).await;
        server.user(fieldsync_loadgen::domain::ADMIN_EMAIL, Role::Admin, &[]).await;
        let admin = Account { email: fieldsync_loadgen::domain::ADMIN_EMAIL.into(), password: PASSWORD.into() };
        let mut target = target(&server, &db, accounts(&server, 1).await);
        target.admin = Some(admin);
        let config = fleet::FleetConfig { devices: 3, records: 12, edits: 1, workload: fleet::Workload::Domain };
        let report = fleet::run(&target, config).await.expect("fleet run");
        assert!(report.converged, "{:?}", report.divergence);
        let phase = |name| report.phases.iter().find(|p| p.name == name).unwrap();
        // Per record: a customer, a visit, an order; a payment for every second, a ticket for every
        // tenth (two of twelve).
        let per_device = 12 * 3 + 6 + 2;
        assert_eq!(phase("initial-push").records, 3 * per_device);
        // The second round edits every fifth customer: three of each device's twelve.
        assert_eq!(phase("incremental-pull").records, 3 * 3);
        assert_eq!(phase("bootstrap").records, 3 * per_device + fieldsync_loadgen::domain::PRODUCTS + 1);
        // Every order reached the server with the totals its device computed: none was written again.
        let written_again = server
            .state
            .db
            .conn
            .query_one(sea_orm::Statement::from_string(
                server.state.db.conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM server_actors WHERE purpose = 'rules'".to_string(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(written_again, 0, "the rules wrote nothing");
        server.stop().await;
    }
}

fn bounded_soak(devices: usize) -> SoakConfig {
    SoakConfig {
        devices,
        duration: Duration::from_secs(15),
        offline_min: Duration::from_millis(200),
        offline_max: Duration::from_millis(1_500),
        sample_every: Duration::from_secs(1),
    }
}

fn assert_nothing_lost(report: &SoakReport) {
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert_eq!(report.lost_changes, 0, "{:?}", report.divergence);
    assert!(report.converged, "{:?}", report.divergence);
    assert!(report.passed);
    // Every device lived through several offline periods and syncs.
    assert!(report.syncs >= report.devices * 3, "{} syncs", report.syncs);
    assert!(report.changes_made >= report.syncs);
    assert!(report.records_created > 0);
}

storage_test! {
    async fn a_bounded_soak_loses_nothing(db: TestDb) {
        let server = TestServer::start(&db).await;
        // Five devices per territory, editing the same records.
        let target = target(&server, &db, accounts(&server, 4).await);
        let report = soak::run(&target, bounded_soak(20)).await.expect("soak");
        assert_eq!(report.territories, 4);
        assert_nothing_lost(&report);
        server.stop().await;
    }
}

/// A server whose per-device rate limit the devices overrun: its 429s with `Retry-After` are waited
/// out, never errors, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttled_soak_waits_and_loses_nothing() {
    let db = TestDb::sqlite().await;
    let mut settings = db.settings();
    // Two sync calls per second per device, with a small burst: devices that sync every 0.2-1.5 s
    // (a push and a pull each) run into it.
    settings.device_sync_rate = Rate::new(4, Duration::from_secs(2));
    let server = TestServer::start_with(settings).await;
    let target = target(&server, &db, accounts(&server, 2).await);
    let report = soak::run(&target, bounded_soak(6)).await.expect("soak");
    assert_nothing_lost(&report);
    let refused = rate_limited(&server);
    assert!(refused > 0, "the devices never hit the rate limit");
    eprintln!(
        "{refused} sync calls answered 429; {} syncs given up and redone",
        report.throttled
    );
    server.stop().await;
}

/// How many sync calls the server refused for the per-device rate limit, from its metrics.
fn rate_limited(server: &TestServer) -> u64 {
    let text = server.state.metrics.render();
    text.lines()
        .filter(|l| l.starts_with("fieldsync_rate_limited") && l.contains("device_sync"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
