//! The fleet benchmark: D devices of one territory each create R records offline with E edits, all
//! push at once (`initial-push`); 20% of the records are edited again and pushed (`second-push`); a
//! device that was up to date after the first round pulls the second round (`incremental-pull`); a
//! new device pulls the whole territory (`bootstrap`). At the end every device, the incremental
//! puller, the new device and the server must hold the same heads: a fast but wrong run fails.
//!
//! A record is a customer, or with the domain workload ([`crate::domain`]) a customer with a visit,
//! an order and some payments and tickets; the second round edits the customers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fieldsync_sdk::{Client, Replica, SyncReport};
use sync_core::protocol::{heads_of, Hash};
use sync_core::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::cpu::CpuClock;
use crate::domain;
use crate::report::{Phase, Report};
use crate::server::{self, Account, Target};
use crate::{progress, LOGINS_AT_ONCE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetConfig {
    pub devices: usize,
    pub records: usize,
    /// Single-field edits per record after its creation, each its own change.
    pub edits: usize,
    pub workload: Workload,
}

/// What each of a device's records is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// A customer with its edits.
    #[default]
    Customers,
    /// A customer (with its edits), a visit checked into and out of, an order of 1 to 20 lines, a
    /// payment for every second order and a ticket for every tenth customer.
    Domain,
}

/// One record in five is edited in the second round.
const SECOND_ROUND_EVERY: usize = 5;

const HOUR_MS: i64 = 3_600_000;

struct Device {
    client: Client,
    replica: Replica,
    /// Every record the device made.
    ids: Vec<Uuid>,
    /// Its customers, edited in the second round.
    customers: Vec<Uuid>,
}

impl Device {
    /// A new device on the server, logged in as `account`, with an empty in-memory store.
    async fn login(url: &str, i: usize, account: &Account) -> anyhow::Result<Device> {
        let (client, login) = server::login(url, account, &format!("fleet device {i}")).await?;
        let replica = Replica::in_memory().await?;
        replica
            .adopt(client.base_url(), &account.email, &login)
            .await?;
        Ok(Device {
            client,
            replica,
            ids: Vec::new(),
            customers: Vec::new(),
        })
    }

    /// Creates the device's records offline, each followed by its edits.
    async fn create_records(
        &mut self,
        i: usize,
        territory: &str,
        config: FleetConfig,
    ) -> anyhow::Result<()> {
        // Past visits, the last an hour ago: check-ins ahead of the server's clock would be
        // implausible.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let start_ms = now_ms - HOUR_MS - config.records as i64 * domain::VISIT_EVERY_MS;
        if config.workload == Workload::Domain {
            domain::fetch_catalogue(&self.client, &self.replica).await?;
        }
        for j in 0..config.records {
            let id = match config.workload {
                Workload::Customers => {
                    let name = Value::Str(format!("Customer {i}-{j}"));
                    let id = self
                        .replica
                        .create(
                            "customer",
                            &[("name", name), ("territory", territory.into())],
                        )
                        .await?;
                    self.ids.push(id);
                    id
                }
                Workload::Domain => {
                    let (customer, ids) =
                        domain::agent_record(&self.replica, i, j, territory, start_ms).await?;
                    self.ids.extend(ids);
                    customer
                }
            };
            for k in 0..config.edits {
                let phone = Value::Str(format!("+1 555 {i:03}{j:04}{k}"));
                self.replica.update(id, &[("phone", phone)]).await?;
            }
            self.customers.push(id);
        }
        Ok(())
    }

    /// Pulls until caught up, timed, and the phase it makes.
    async fn timed_pull(
        &self,
        target: &Target,
        name: &'static str,
        changes: usize,
    ) -> anyhow::Result<Phase> {
        let before = self.client.traffic();
        let cpu = CpuClock::read(&target.pids);
        let start = Instant::now();
        let mut report = SyncReport::default();
        self.replica
            .pull(&self.client, &mut report, &mut |_| {})
            .await?;
        let wall = start.elapsed();
        let cpu = cpu.zip(CpuClock::read(&target.pids));
        let after = self.client.traffic();
        let mut phase = Phase::new(
            name,
            wall,
            report.pulled_docs,
            changes,
            &mut [wall],
            (after.0 - before.0, after.1 - before.1),
        );
        phase.docs_in_pages = Some(report.pulled_docs);
        phase.cpu = cpu.map(|(before, after)| after.since(&before));
        Ok(phase)
    }
}

pub async fn run(target: &Target, config: FleetConfig) -> anyhow::Result<Report> {
    let account = target
        .accounts
        .first()
        .context("no account to log in as (--email)")?
        .clone();
    let setup = Instant::now();
    progress(format!(
        "logging in {} devices and creating {} records offline",
        config.devices,
        config.devices * config.records
    ));
    let territory = {
        let (_, login) = target.login(0, &account, "fleet territory probe").await?;
        login
            .territories
            .first()
            .cloned()
            .with_context(|| format!("{} has no territory", account.email))?
    };
    if config.workload == Workload::Domain {
        if let Some(admin) = &target.admin {
            progress(format!(
                "creating a catalogue of {} products",
                domain::PRODUCTS
            ));
            domain::create_catalogue(target.url(0), admin).await?;
        }
    }
    let devices = create_devices(target, &target.accounts, &territory, config).await?;
    // The device that is up to date after the first round, to time the incremental pull.
    let watcher = Device::login(target.url(0), config.devices, &account).await?;
    let setup_s = setup.elapsed().as_secs_f64();

    let total: usize = devices.iter().map(|d| d.ids.len()).sum();
    let mut changes = 0;
    for d in &devices {
        changes += d.replica.outbox_len().await?;
    }
    let mut phases = Vec::new();
    progress("initial push");
    let (phase, mut devices) = push_phase(target, "initial-push", devices, total, changes).await?;
    phases.push(phase);

    progress("the incremental puller catches up");
    watcher.replica.sync(&watcher.client).await?;

    let mut edited = Vec::new();
    for d in devices.iter_mut() {
        for (j, id) in d.customers.iter().enumerate() {
            if j % SECOND_ROUND_EVERY == 0 {
                let city = Value::Str(format!("City {j}"));
                d.replica.update(*id, &[("city", city)]).await?;
                edited.push(*id);
            }
        }
    }
    progress("second push");
    let (phase, devices) =
        push_phase(target, "second-push", devices, edited.len(), edited.len()).await?;
    phases.push(phase);

    progress("incremental pull");
    let mut phase = watcher
        .timed_pull(target, "incremental-pull", edited.len())
        .await?;
    if phase.records > 0 {
        phase.ms_per_1000_records = Some(phase.wall_s * 1e6 / phase.records as f64);
    }
    phases.push(phase);

    progress("bootstrap");
    let (phase, fresh, server_heads) = bootstrap(target, config.devices + 1, &account).await?;
    phases.push(phase);

    progress("checking convergence");
    let mut divergence = Vec::new();
    // Besides the devices' records, the bootstrapped device holds the company's (the catalogue),
    // and would hold any alert or conflict the rules raised, of which this workload makes none.
    let made: std::collections::HashSet<Uuid> =
        devices.iter().flat_map(|d| d.ids.iter().copied()).collect();
    let mut raised = BTreeMap::<String, usize>::new();
    for id in server_heads.keys().filter(|id| !made.contains(id)) {
        let kind = fresh.replica.info(*id).await?.kind;
        if !matches!(kind.as_str(), "product" | "settings") {
            *raised.entry(kind).or_default() += 1;
        }
    }
    if !raised.is_empty() {
        divergence.push(format!("the rules raised records: {raised:?}"));
    }
    let missing = made
        .iter()
        .filter(|id| !server_heads.contains_key(id))
        .count();
    if missing > 0 {
        divergence.push(format!(
            "the bootstrapped device lacks {missing} records of {total}"
        ));
    }
    let mut differing = 0;
    for d in &devices {
        for id in &d.ids {
            differing += usize::from(server_heads.get(id) != Some(&d.replica.heads(*id).await));
        }
    }
    if differing > 0 {
        divergence.push(format!(
            "{differing} records differ between their device and the bootstrapped device"
        ));
    }
    let watched = watcher.replica.ids().await?.len();
    let mut behind = 0;
    for id in &edited {
        behind += usize::from(server_heads.get(id) != Some(&watcher.replica.heads(*id).await));
    }
    if watched != server_heads.len() || behind > 0 {
        divergence.push(format!(
            "the incremental puller holds {watched} records of {}, {behind} edited ones at other heads",
            server_heads.len()
        ));
    }
    if !server::scope_matches(&fresh.client, &server_heads).await? {
        divergence.push("the server's scope digest differs from the bootstrapped device's".into());
    }

    let rss = target.rss_peak();
    Ok(Report {
        workload: config.workload,
        devices: config.devices,
        records: config.records,
        edits: config.edits,
        processes: target.urls.len(),
        server_cpus: target.cpus,
        setup_s,
        phases,
        server_rss_peak_bytes: rss.map(|r| r.max_bytes),
        server_rss_peak_sum_bytes: rss.map(|r| r.sum_bytes),
        database_bytes: target.database_bytes().await,
        converged: divergence.is_empty(),
        divergence,
    })
}

/// A new device pulls the whole territory. The phase counts the distinct records and the changes it
/// holds afterwards (a record can come more than once in the pages) and the size of the compacted
/// documents; also returns the device and the heads it holds.
async fn bootstrap(
    target: &Target,
    i: usize,
    account: &Account,
) -> anyhow::Result<(Phase, Device, HashMap<Uuid, Vec<Hash>>)> {
    let fresh = Device::login(target.url(0), i, account).await?;
    let mut phase = fresh.timed_pull(target, "bootstrap", 0).await?;
    let mut heads: HashMap<Uuid, Vec<Hash>> = HashMap::new();
    let (mut compacted, mut changes) = (0u64, 0usize);
    for id in fresh.replica.ids().await? {
        let mut doc = fresh.replica.doc(id).await?;
        compacted += doc.save().len() as u64;
        changes += doc.get_changes(&[]).len();
        heads.insert(id, heads_of(&doc.get_heads()));
    }
    phase.records = heads.len();
    phase.records_per_s = phase.records as f64 / phase.wall_s;
    phase.changes = changes;
    phase.changes_per_s = changes as f64 / phase.wall_s;
    phase.compacted_bytes = Some(compacted);
    phase.bytes_down_per_compacted = Some(phase.bytes_down as f64 / compacted.max(1) as f64);
    Ok((phase, fresh, heads))
}

/// Only the bootstrap, against a server that already holds the data (from an earlier run on the same
/// database): a new device pulls everything the account may see and must end with the server's
/// scope digest.
pub async fn bootstrap_only(target: &Target) -> anyhow::Result<Report> {
    let account = target
        .accounts
        .first()
        .context("no account to log in as (--email)")?
        .clone();
    progress("bootstrap");
    let (phase, fresh, heads) = bootstrap(target, 0, &account).await?;
    let mut divergence = Vec::new();
    if heads.is_empty() {
        divergence.push("the account sees no records: run a fleet on this database first".into());
    }
    if !server::scope_matches(&fresh.client, &heads).await? {
        divergence.push("the server's scope digest differs from the bootstrapped device's".into());
    }
    let rss = target.rss_peak();
    Ok(Report {
        workload: Workload::Customers,
        devices: 1,
        records: heads.len(),
        edits: 0,
        processes: target.urls.len(),
        server_cpus: target.cpus,
        setup_s: 0.0,
        phases: vec![phase],
        server_rss_peak_bytes: rss.map(|r| r.max_bytes),
        server_rss_peak_sum_bytes: rss.map(|r| r.sum_bytes),
        database_bytes: target.database_bytes().await,
        converged: divergence.is_empty(),
        divergence,
    })
}

/// Logs the devices in, each as the next of `accounts` in turn, and creates their records, several
/// devices at once: the records are each device's own work, and the machine has more than one core.
async fn create_devices(
    target: &Target,
    accounts: &[Account],
    territory: &str,
    config: FleetConfig,
) -> anyhow::Result<Vec<Device>> {
    let logins = Arc::new(Semaphore::new(LOGINS_AT_ONCE));
    let mut tasks = JoinSet::new();
    for i in 0..config.devices {
        let account = accounts[i % accounts.len()].clone();
        let (logins, territory) = (logins.clone(), territory.to_string());
        let url = target.url(i).to_string();
        tasks.spawn(async move {
            let permit = logins.acquire_owned().await?;
            let mut device = Device::login(&url, i, &account).await?;
            drop(permit);
            device.create_records(i, &territory, config).await?;
            Ok::<_, anyhow::Error>((i, device))
        });
    }
    let mut devices = Vec::with_capacity(config.devices);
    while let Some(done) = tasks.join_next().await {
        devices.push(done??);
    }
    devices.sort_by_key(|(i, _)| *i);
    Ok(devices.into_iter().map(|(_, d)| d).collect())
}

/// How often one device's push may be given up on (the SDK retries each push itself) before the phase
/// fails. A device that queued behind a whole fleet for one SQLite writer can outwait the SDK's
/// retries; a sync job would try again on its next run, and so does the device here.
const MAX_GIVE_UPS: usize = 10;

/// Every device pushes at once; the phase is timed from the first push to the last answer, including
/// pushes made again after the SDK gave up on them (counted in `pushes_given_up`).
async fn push_phase(
    target: &Target,
    name: &'static str,
    devices: Vec<Device>,
    records: usize,
    changes: usize,
) -> anyhow::Result<(Phase, Vec<Device>)> {
    let before: Vec<(u64, u64)> = devices.iter().map(|d| d.client.traffic()).collect();
    let cpu = CpuClock::read(&target.pids);
    let start = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .map(|d| {
            tokio::spawn(async move {
                let t = Instant::now();
                let mut given_up = Vec::new();
                let report = loop {
                    match d.replica.push(&d.client).await {
                        Err(e) if e.is_transient() && given_up.len() < MAX_GIVE_UPS => {
                            given_up.push(e.code().unwrap_or("network").to_string())
                        }
                        other => break other,
                    }
                };
                (d, report, t.elapsed(), given_up)
            })
        })
        .collect();
    let mut devices = Vec::with_capacity(tasks.len());
    let mut latencies: Vec<Duration> = Vec::with_capacity(tasks.len());
    let mut given_up: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let (d, report, latency, gave_up) = task.await?;
        for code in gave_up {
            *given_up.entry(code).or_default() += 1;
        }
        let report = report.with_context(|| format!("{name}: a push failed"))?;
        if !report.rejected.is_empty() || !report.missing_dependencies.is_empty() {
            bail!(
                "{name}: the server refused records: {:?}",
                report.rejected.first()
            );
        }
        latencies.push(latency);
        devices.push(d);
    }
    let wall = start.elapsed();
    let cpu = cpu.zip(CpuClock::read(&target.pids));
    let traffic = devices
        .iter()
        .zip(before)
        .fold((0, 0), |(u, d), (dev, (u0, d0))| {
            let (u1, d1) = dev.client.traffic();
            (u + u1 - u0, d + d1 - d0)
        });
    let mut phase = Phase::new(name, wall, records, changes, &mut latencies, traffic);
    phase.pushes_given_up = Some(given_up.values().sum());
    phase.given_up_for = Some(given_up);
    phase.cpu = cpu.map(|(before, after)| after.since(&before));
    Ok((phase, devices))
}
