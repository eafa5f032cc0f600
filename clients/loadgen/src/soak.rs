//! The soak run: D devices, several per territory, live for a while. Each device loops:
//! it stays offline for a random period, makes random creates and edits offline (devices of one
//! territory edit the same records, as a team does), then syncs. Afterwards every device syncs until
//! a round pushes nothing, and the run checks that nothing was lost (every change each device made
//! is in the server's copy of its record, as a new device of each territory receives it) and that
//! all devices of a territory hold the same heads as the server. Any failed sync is an error, except
//! the server's per-device rate limit: the SDK waits out its `Retry-After`, and a sync it gave up on
//! that way is counted as throttled and done again later.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use automerge::ChangeHash;
use fieldsync_sdk::{Client, Replica};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sync_core::protocol::{heads_of, Hash};
use sync_core::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::report::{percentile_ms, Rss};
use crate::server::{self, Account, Target};
use crate::{progress, LOGINS_AT_ONCE};

#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub devices: usize,
    pub duration: Duration,
    pub offline_min: Duration,
    pub offline_max: Duration,
    /// How often the server's memory is read.
    pub sample_every: Duration,
}

/// At most this many syncs at once in the final rounds, so they do not all time out together.
const FINAL_SYNCS_AT_ONCE: usize = 64;
/// Final rounds before the run gives up on reaching a quiet state.
const MAX_FINAL_ROUNDS: usize = 10;
/// Error messages kept for the report.
const ERROR_SAMPLES: usize = 10;
/// The server's memory is stable when the peak of the last third of the samples is at most this much
/// above the peak of the middle third (the first third is warm-up: caches filling)...
const RSS_GROWTH_ALLOWED: f64 = 0.15;
/// ...or within this many bytes of it, whichever is larger.
const RSS_SLACK_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RssSample {
    pub t_s: f64,
    pub max_bytes: u64,
    pub sum_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub devices: usize,
    pub territories: usize,
    /// How long the devices lived (the final rounds not counted).
    pub seconds: f64,
    pub offline_min_ms: u64,
    pub offline_max_ms: u64,
    /// Logging every device in.
    pub setup_s: f64,
    /// Sync rounds (push then pull) that completed while the devices lived.
    pub syncs: usize,
    pub syncs_per_s: f64,
    pub sync_p50_ms: f64,
    pub sync_p95_ms: f64,
    pub sync_p99_ms: f64,
    /// Syncs the SDK gave up on after waiting out the server's `Retry-After` (not errors).
    pub throttled: usize,
    /// Changes made on the devices (each create or edit is one change).
    pub changes_made: usize,
    pub records_created: usize,
    pub errors: usize,
    pub error_samples: Vec<String>,
    /// Rounds of "every device syncs" until one pushed nothing.
    pub final_rounds: usize,
    pub final_s: f64,
    /// Changes a device made that the server's copy of the record lacks (a record missing on the
    /// server counts with every change made to it).
    pub lost_changes: usize,
    pub rss_samples: Vec<RssSample>,
    pub rss_first: Option<Rss>,
    pub rss_peak: Option<Rss>,
    pub rss_last: Option<Rss>,
    /// Peak of the last third of the samples over the peak of the middle third (sums over processes).
    pub rss_growth: Option<f64>,
    /// None when too few samples were taken (or memory cannot be read).
    pub memory_stable: Option<bool>,
    pub converged: bool,
    pub divergence: Vec<String>,
    /// No error, nothing lost, converged, and memory not found growing.
    pub passed: bool,
}

struct SoakDevice {
    index: usize,
    territory: usize,
    territory_name: String,
    client: Client,
    replica: Replica,
    rng: StdRng,
    /// Every change this device made: the record and the change's hash.
    made: Vec<(Uuid, Hash)>,
    created: Vec<Uuid>,
}

#[derive(Default)]
struct Stats {
    syncs: AtomicUsize,
    throttled: AtomicUsize,
    errors: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    samples: Mutex<Vec<String>>,
}

impl Stats {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().expect("samples lock");
        if samples.len() < ERROR_SAMPLES {
            samples.push(message);
        }
    }

    /// Counts one sync's outcome; true when it completed. Refused records are errors too: an honest
    /// device's edits are all within its rights.
    fn sync_done(
        &self,
        device: usize,
        result: Result<fieldsync_sdk::SyncReport, fieldsync_sdk::Error>,
    ) -> Option<fieldsync_sdk::SyncReport> {
        match result {
            Ok(report) => {
                if !report.rejected.is_empty()
                    || !report.missing_dependencies.is_empty()
                    || !report.quarantined.is_empty()
                {
                    self.error(format!(
                        "device {device}: records not applied: rejected {:?}, missing dependencies {:?}, quarantined {:?}",
                        report.rejected, report.missing_dependencies, report.quarantined
                    ));
                }
                Some(report)
            }
            Err(e) if e.code() == Some("rate_limited") => {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                self.error(format!("device {device}: {e}"));
                None
            }
        }
    }
}

impl SoakDevice {
    /// Makes one random change offline and remembers its hash.
    async fn edit(&mut self, known: &[Uuid]) -> anyhow::Result<()> {
        let (id, before) = if known.is_empty() || self.rng.gen_bool(0.25) {
            let name = Value::Str(format!(
                "Soak customer {}-{}",
                self.index,
                self.created.len()
            ));
            let territory = Value::Str(self.territory_name.clone());
            let id = self
                .replica
                .create("customer", &[("name", name), ("territory", territory)])
                .await?;
            self.created.push(id);
            (id, Vec::new())
        } else {
            let id = known[self.rng.gen_range(0..known.len())];
            let before = self.replica.heads(id).await;
            let field = match self.rng.gen_range(0..3) {
                0 => (
                    "phone",
                    format!("+1 555 {:07}", self.rng.gen_range(0..10_000_000)),
                ),
                1 => ("city", format!("City {}", self.rng.gen_range(0..1_000))),
                _ => {
                    let statuses = sync_core::kinds::CUSTOMER_STATUSES;
                    let status = statuses[self.rng.gen_range(0..statuses.len())];
                    ("status", status.to_string())
                }
            };
            self.replica
                .update(id, &[(field.0, Value::Str(field.1))])
                .await?;
            (id, before)
        };
        let after = self.replica.heads(id).await;
        // A local change depends on every head the record had, so it is now the only head (an
        // edit that wrote nothing new leaves the heads as they were).
        match after.as_slice() {
            _ if after == before => Ok(()),
            [change] => {
                self.made.push((id, *change));
                Ok(())
            }
            _ => bail!(
                "device {}: record {id} has heads {after:?} after a local change",
                self.index
            ),
        }
    }

    /// The device's life: offline for a while, some edits, a sync; until the deadline.
    async fn live(
        mut self,
        deadline: Instant,
        config: SoakConfig,
        stats: Arc<Stats>,
    ) -> anyhow::Result<SoakDevice> {
        let mut known = self.replica.ids_of("customer").await?;
        loop {
            let offline = self.rng.gen_range(config.offline_min..=config.offline_max);
            if Instant::now() + offline >= deadline {
                return Ok(self);
            }
            tokio::time::sleep(offline).await;
            for _ in 0..self.rng.gen_range(1..=3) {
                self.edit(&known).await?;
            }
            let start = Instant::now();
            let result = self.replica.sync(&self.client).await;
            if stats.sync_done(self.index, result).is_some() {
                stats.syncs.fetch_add(1, Ordering::Relaxed);
                let latency = start.elapsed();
                stats
                    .latencies
                    .lock()
                    .expect("latencies lock")
                    .push(latency);
            }
            known = self.replica.ids_of("customer").await?;
        }
    }
}

/// Runs the soak against `target`, spreading the devices over its accounts (one territory each)
/// and its server processes.
pub async fn run(target: &Target, config: SoakConfig) -> anyhow::Result<SoakReport> {
    if target.accounts.is_empty() {
        bail!("no account to log in as (--email)");
    }
    if config.offline_min > config.offline_max {
        bail!("the shortest offline period is longer than the longest");
    }
    let territories = target.accounts.len().min(config.devices);
    let setup = Instant::now();
    progress(format!(
        "logging in {} devices over {territories} territories",
        config.devices
    ));
    let devices = login_devices(target, config.devices).await?;
    let setup_s = setup.elapsed().as_secs_f64();

    progress(format!("living for {:.0} s", config.duration.as_secs_f64()));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_rss(
        target.pids.clone(),
        config.sample_every,
        sampling.clone(),
    ));
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let deadline = start + config.duration;
    let mut lives = JoinSet::new();
    for device in devices {
        lives.spawn(device.live(deadline, config.clone(), stats.clone()));
    }
    let mut devices = Vec::with_capacity(config.devices);
    while let Some(done) = lives.join_next().await {
        devices.push(done??);
    }
    let seconds = start.elapsed().as_secs_f64();
    let devices: Vec<Arc<SoakDevice>> = devices.into_iter().map(Arc::new).collect();

    progress("every device syncs until quiet");
    let final_start = Instant::now();
    let final_rounds = sync_until_quiet(&devices, &stats).await?;
    let final_s = final_start.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let rss_samples = sampler.await?;

    progress("checking that nothing was lost and every territory converged");
    let mut divergence = Vec::new();
    if final_rounds > MAX_FINAL_ROUNDS {
        divergence.push(format!("not quiet after {MAX_FINAL_ROUNDS} final rounds"));
    }
    let mut lost_changes = 0;
    let mut by_territory: Vec<Vec<Arc<SoakDevice>>> = vec![Vec::new(); territories];
    for d in &devices {
        by_territory[d.territory].push(d.clone());
    }
    // Each check logs a new device in: no more at once than the fleet's logins, or the server's
    // peak memory would be that of a hundred simultaneous password hashes.
    let logins = Arc::new(Semaphore::new(LOGINS_AT_ONCE));
    let mut checks = JoinSet::new();
    for (t, team) in by_territory.into_iter().enumerate() {
        let (url, account) = (target.url(t).to_string(), target.accounts[t].clone());
        let logins = logins.clone();
        checks.spawn(async move {
            let _permit = logins.acquire_owned().await?;
            check_territory(&url, &account, &team).await
        });
    }
    while let Some(done) = checks.join_next().await {
        let (lost, mut diverged) = done??;
        lost_changes += lost;
        divergence.append(&mut diverged);
    }

    let latencies = {
        let mut l = std::mem::take(&mut *stats.latencies.lock().expect("latencies lock"));
        l.sort();
        l
    };
    let syncs = stats.syncs.load(Ordering::Relaxed);
    let errors = stats.errors.load(Ordering::Relaxed);
    let error_samples = std::mem::take(&mut *stats.samples.lock().expect("samples lock"));
    let (rss_growth, memory_stable) = match judge_memory(&rss_samples) {
        Some((growth, stable)) => (Some(growth), Some(stable)),
        None => (None, None),
    };
    let as_rss = |s: &RssSample| Rss {
        max_bytes: s.max_bytes,
        sum_bytes: s.sum_bytes,
    };
    let converged = divergence.is_empty();
    Ok(SoakReport {
        devices: config.devices,
        territories,
        seconds,
        offline_min_ms: config.offline_min.as_millis() as u64,
        offline_max_ms: config.offline_max.as_millis() as u64,
        setup_s,
        syncs,
        syncs_per_s: syncs as f64 / seconds,
        sync_p50_ms: percentile_ms(&latencies, 0.50),
        sync_p95_ms: percentile_ms(&latencies, 0.95),
        sync_p99_ms: percentile_ms(&latencies, 0.99),
        throttled: stats.throttled.load(Ordering::Relaxed),
        changes_made: devices.iter().map(|d| d.made.len()).sum(),
        records_created: devices.iter().map(|d| d.created.len()).sum(),
        errors,
        error_samples,
        final_rounds,
        final_s,
        lost_changes,
        rss_first: rss_samples.first().map(as_rss),
        rss_peak: rss_samples.iter().max_by_key(|s| s.sum_bytes).map(as_rss),
        rss_last: rss_samples.last().map(as_rss),
        rss_samples,
        rss_growth,
        memory_stable,
        passed: errors == 0 && lost_changes == 0 && converged && memory_stable != Some(false),
        converged,
        divergence,
    })
}

async fn login_devices(target: &Target, n: usize) -> anyhow::Result<Vec<SoakDevice>> {
    let logins = Arc::new(Semaphore::new(LOGINS_AT_ONCE));
    let territories = target.accounts.len().min(n);
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let territory = i % territories;
        let (logins, account) = (logins.clone(), target.accounts[territory].clone());
        let url = target.url(i).to_string();
        tasks.spawn(async move {
            let _permit = logins.acquire_owned().await?;
            let (client, login) =
                server::login(&url, &account, &format!("soak device {i}")).await?;
            let territory_name = login
                .territories
                .first()
                .cloned()
                .with_context(|| format!("{} has no territory", account.email))?;
            let replica = Replica::in_memory().await?;
            replica.adopt(&url, &account.email, &login).await?;
            Ok::<_, anyhow::Error>(SoakDevice {
                index: i,
                territory,
                territory_name,
                client,
                replica,
                rng: StdRng::from_entropy(),
                made: Vec::new(),
                created: Vec::new(),
            })
        });
    }
    let mut devices = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        devices.push(done??);
    }
    devices.sort_by_key(|d| d.index);
    Ok(devices)
}

/// Every device syncs, round after round, until a round in which none pushed anything and none
/// failed: every change was on the server before that round's pulls began, so each device then holds
/// everything. Returns the number of rounds (more than [`MAX_FINAL_ROUNDS`] when it never got quiet).
async fn sync_until_quiet(
    devices: &[Arc<SoakDevice>],
    stats: &Arc<Stats>,
) -> anyhow::Result<usize> {
    let at_once = Arc::new(Semaphore::new(FINAL_SYNCS_AT_ONCE));
    for round in 1..=MAX_FINAL_ROUNDS {
        let mut tasks = JoinSet::new();
        for d in devices {
            let (d, at_once, stats) = (d.clone(), at_once.clone(), stats.clone());
            tasks.spawn(async move {
                let _permit = at_once.acquire_owned().await?;
                let result = d.replica.sync(&d.client).await;
                Ok::<_, anyhow::Error>(stats.sync_done(d.index, result).map(|r| r.pushed_docs))
            });
        }
        let mut quiet = true;
        while let Some(done) = tasks.join_next().await {
            quiet &= done?? == Some(0);
        }
        if quiet {
            return Ok(round);
        }
    }
    Ok(MAX_FINAL_ROUNDS + 1)
}

/// A new device of the territory receives it from the server; then every change each device made
/// must be in the received record, and every device must hold exactly the received records at the
/// same heads. Returns the lost changes and what diverged.
async fn check_territory(
    url: &str,
    account: &Account,
    team: &[Arc<SoakDevice>],
) -> anyhow::Result<(usize, Vec<String>)> {
    let (client, login) = server::login(url, account, "soak checker").await?;
    let fresh = Replica::in_memory().await?;
    fresh.adopt(url, &account.email, &login).await?;
    fresh.sync(&client).await?;
    let mut docs = HashMap::new();
    let mut heads = HashMap::new();
    for id in fresh.ids().await? {
        let mut doc = fresh.doc(id).await?;
        heads.insert(id, heads_of(&doc.get_heads()));
        docs.insert(id, doc);
    }
    let mut lost = 0;
    let mut divergence = Vec::new();
    // The territory may hold records from before the soak (with --server): only the ones the
    // devices created must all be there.
    let missing = team
        .iter()
        .flat_map(|d| &d.created)
        .filter(|id| !heads.contains_key(id))
        .count();
    if missing > 0 {
        divergence.push(format!(
            "{}: {missing} records the devices created are not on the server",
            account.email
        ));
    }
    for d in team {
        for (id, change) in &d.made {
            let held = docs
                .get_mut(id)
                .is_some_and(|doc| doc.get_change_by_hash(&ChangeHash(change.0)).is_some());
            lost += usize::from(!held);
        }
        let ids: HashSet<Uuid> = d.replica.ids().await?.into_iter().collect();
        let mut differing = usize::from(ids.len() != heads.len());
        for (id, h) in &heads {
            differing += usize::from(!ids.contains(id) || d.replica.heads(*id).await != *h);
        }
        let outbox = d.replica.outbox_len().await?;
        if differing > 0 || outbox > 0 {
            divergence.push(format!(
                "device {}: {differing} records differ from the server's, {outbox} changes unsent",
                d.index
            ));
        }
    }
    if !server::scope_matches(&client, &heads).await? {
        divergence.push(format!(
            "{}: the server's scope digest differs from what it sent",
            account.email
        ));
    }
    if lost > 0 {
        divergence.push(format!("{}: {lost} changes lost", account.email));
    }
    Ok((lost, divergence))
}

/// Reads the servers' memory every `every` while `running`.
async fn sample_rss(pids: Vec<u32>, every: Duration, running: Arc<AtomicBool>) -> Vec<RssSample> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(every);
    while running.load(Ordering::Relaxed) {
        tick.tick().await;
        if let Some(rss) = server::read_rss(&pids, "VmRSS:") {
            samples.push(RssSample {
                t_s: start.elapsed().as_secs_f64(),
                max_bytes: rss.max_bytes,
                sum_bytes: rss.sum_bytes,
            });
        }
    }
    samples
}

/// The growth of memory from the middle third of the samples to the last third, and whether it is
/// within the allowance. None with fewer than six samples.
fn judge_memory(samples: &[RssSample]) -> Option<(f64, bool)> {
    if samples.len() < 6 {
        return None;
    }
    let third = samples.len() / 3;
    let peak = |s: &[RssSample]| s.iter().map(|s| s.sum_bytes).max().unwrap_or(0);
    let middle = peak(&samples[third..2 * third]);
    let last = peak(&samples[2 * third..]);
    let allowed = middle + ((middle as f64 * RSS_GROWTH_ALLOWED) as u64).max(RSS_SLACK_BYTES);
    Some((last as f64 / middle.max(1) as f64, last <= allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(mib: &[u64]) -> Vec<RssSample> {
        mib.iter()
            .enumerate()
            .map(|(i, m)| RssSample {
                t_s: i as f64,
                max_bytes: m << 20,
                sum_bytes: m << 20,
            })
            .collect()
    }

    #[test]
    fn memory_that_levels_off_after_warm_up_is_stable() {
        let (growth, stable) =
            judge_memory(&samples(&[50, 120, 200, 210, 205, 212, 215, 211, 214])).unwrap();
        assert!(stable, "growth {growth}");
    }

    #[test]
    fn memory_that_keeps_growing_is_not() {
        let (growth, stable) =
            judge_memory(&samples(&[50, 100, 150, 200, 250, 300, 350, 400, 450])).unwrap();
        assert!(!stable, "growth {growth}");
        assert!(growth >= 1.5);
    }

    #[test]
    fn too_few_samples_say_nothing() {
        assert_eq!(judge_memory(&samples(&[1, 2, 3, 4, 5])), None);
    }
}
