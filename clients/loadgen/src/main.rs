//! `fieldsync-loadgen`: a fleet of simulated devices, running the real SDK against a real server.
//!
//! Phases: `initial-push` (every device creates its records offline, with edits, then all push at
//! once), `second-push` (20% of the records are edited again and pushed), and `bootstrap` (a fresh
//! device pulls the whole territory). At the end it checks that the fresh device holds exactly what
//! every device made: a fast but wrong run fails.
//!
//! This is the first slice of the fleet benchmark; see BENCHMARKS.md for what it measures today.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use fieldsync_sdk::{Client, Replica, SyncReport};
use serde::Serialize;
use sync_core::Value;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "fieldsync-loadgen",
    about = "Simulate a fleet of devices syncing with a fieldsync server"
)]
struct Args {
    /// Start a release `fieldsync-server` (next to this program) on a fresh database.
    #[arg(long)]
    spawn_server: bool,
    /// The database of the spawned server (default: a new SQLite file in a temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long)]
    devices: Option<usize>,
    #[arg(long)]
    records: Option<usize>,
    #[arg(long)]
    edits: Option<usize>,
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    /// A smoke run for CI.
    Small,
    /// A real measurement.
    Large,
}

#[derive(Serialize)]
struct Phase {
    name: &'static str,
    wall_s: f64,
    records_per_s: f64,
    changes_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    bytes_up: u64,
    bytes_down: u64,
}

#[derive(Serialize)]
struct Report {
    devices: usize,
    records: usize,
    edits: usize,
    phases: Vec<Phase>,
    server_rss_peak_bytes: Option<u64>,
    converged: bool,
}

const EMAIL: &str = "fleet@load.test";
const PASSWORD: &str = "fleet-password";
const TERRITORY: &str = "Fleet";

struct Server {
    url: String,
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_program() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let program = exe.with_file_name(format!("fieldsync-server{}", std::env::consts::EXE_SUFFIX));
    if !program.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p fieldsync-server`",
            program.display()
        );
    }
    Ok(program)
}

async fn spawn_server(database_url: Option<String>) -> anyhow::Result<Server> {
    let program = server_program()?;
    let (url, dir) = match database_url {
        Some(url) => (url, None),
        None => {
            let dir = tempfile::tempdir()?;
            (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("loadgen.sqlite").display()
                ),
                Some(dir),
            )
        }
    };
    let status = Command::new(&program)
        .args([
            "user",
            "add",
            EMAIL,
            "--role",
            "agent",
            "--territory",
            TERRITORY,
            "--database-url",
            &url,
        ])
        .env("FIELDSYNC_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .context("failed to run fieldsync-server user add")?;
    if !status.success() {
        bail!("fieldsync-server user add failed (use a fresh database)");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(&program)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &url,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("failed to start fieldsync-server")?;
    let server = Server {
        url: format!("http://127.0.0.1:{port}"),
        child,
        _dir: dir,
    };
    for _ in 0..200 {
        if Client::new(&server.url)
            .login(EMAIL, PASSWORD, "probe")
            .await
            .is_ok()
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not come up")
}

/// The peak resident memory of a process (Linux), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Device {
    client: Client,
    replica: Replica,
    ids: Vec<Uuid>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `round` on every device at once and measures it.
async fn concurrent_push(
    name: &'static str,
    devices: Vec<Device>,
    records: usize,
    changes: usize,
) -> anyhow::Result<(Phase, Vec<Device>)> {
    let traffic_before: Vec<(u64, u64)> = devices.iter().map(|d| d.client.traffic()).collect();
    let start = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .map(|d| {
            tokio::spawn(async move {
                let t = Instant::now();
                let report: Result<SyncReport, _> = d.replica.push(&d.client).await;
                (d, report, t.elapsed())
            })
        })
        .collect();
    let mut devices = Vec::new();
    let mut latencies = Vec::new();
    for task in tasks {
        let (d, report, latency) = task.await?;
        let report = report?;
        if !report.rejected.is_empty() || !report.missing_dependencies.is_empty() {
            bail!(
                "{name}: the server refused records: {:?}",
                report.rejected.first()
            );
        }
        latencies.push(latency);
        devices.push(d);
    }
    let wall = start.elapsed().as_secs_f64();
    latencies.sort();
    let (up, down) = devices
        .iter()
        .zip(traffic_before)
        .fold((0, 0), |(u, d), (dev, (u0, d0))| {
            let (u1, d1) = dev.client.traffic();
            (u + u1 - u0, d + d1 - d0)
        });
    let phase = Phase {
        name,
        wall_s: wall,
        records_per_s: records as f64 / wall,
        changes_per_s: changes as f64 / wall,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        bytes_up: up,
        bytes_down: down,
    };
    Ok((phase, devices))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (d, r, e) = match args.preset {
        Some(Preset::Small) => (4, 50, 2),
        Some(Preset::Large) => (100, 200, 5),
        None => (10, 100, 3),
    };
    let (devices_n, records_n, edits_n) = (
        args.devices.unwrap_or(d),
        args.records.unwrap_or(r),
        args.edits.unwrap_or(e),
    );
    if !args.spawn_server {
        bail!("only --spawn-server is supported so far");
    }
    let server = spawn_server(args.database_url.clone()).await?;

    let mut devices = Vec::new();
    for i in 0..devices_n {
        let mut client = Client::new(&server.url);
        let login = client
            .login(EMAIL, PASSWORD, &format!("device {i}"))
            .await?;
        let replica = Replica::in_memory().await?;
        replica.adopt(&server.url, EMAIL, &login).await?;
        let mut ids = Vec::new();
        for j in 0..records_n {
            let id = replica
                .create(
                    "customer",
                    &[
                        ("name", Value::Str(format!("Customer {i}-{j}"))),
                        ("territory", TERRITORY.into()),
                    ],
                )
                .await?;
            for k in 0..edits_n {
                replica
                    .update(
                        id,
                        &[("phone", Value::Str(format!("+1 555 {i:03}{j:04}{k}")))],
                    )
                    .await?;
            }
            ids.push(id);
        }
        devices.push(Device {
            client,
            replica,
            ids,
        });
    }
    let total = devices_n * records_n;
    let mut phases = Vec::new();
    let (phase, mut devices) =
        concurrent_push("initial-push", devices, total, total * (1 + edits_n)).await?;
    phases.push(phase);

    let mut edited = 0;
    for d in devices.iter_mut() {
        for (j, id) in d.ids.iter().enumerate() {
            if j % 5 == 0 {
                d.replica
                    .update(*id, &[("city", Value::Str(format!("City {j}")))])
                    .await?;
                edited += 1;
            }
        }
    }
    let (phase, devices) = concurrent_push("second-push", devices, edited, edited).await?;
    phases.push(phase);

    let mut client = Client::new(&server.url);
    let login = client.login(EMAIL, PASSWORD, "bootstrap").await?;
    let fresh = Replica::in_memory().await?;
    fresh.adopt(&server.url, EMAIL, &login).await?;
    let start = Instant::now();
    let mut report = SyncReport::default();
    fresh.pull(&client, &mut report, &mut |_| {}).await?;
    let wall = start.elapsed().as_secs_f64();
    let (up, down) = client.traffic();
    phases.push(Phase {
        name: "bootstrap",
        wall_s: wall,
        records_per_s: report.pulled_docs as f64 / wall,
        changes_per_s: (total * (1 + edits_n) + edited) as f64 / wall,
        p50_ms: wall * 1000.0,
        p99_ms: wall * 1000.0,
        bytes_up: up,
        bytes_down: down,
    });

    let mut converged = fresh.ids().await?.len() == total;
    for d in devices {
        for id in d.ids {
            converged &= fresh.heads(id).await == d.replica.heads(id).await;
        }
    }
    converged &= fresh.verify(&client).await?.in_sync;
    let report = Report {
        devices: devices_n,
        records: records_n,
        edits: edits_n,
        phases,
        server_rss_peak_bytes: peak_rss(server.child.id()),
        converged,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{devices_n} devices x {records_n} records x {edits_n} edits; converged: {converged}"
        );
        println!(
            "{:<13} {:>8} {:>11} {:>11} {:>8} {:>8} {:>12} {:>12}",
            "phase",
            "wall_s",
            "records/s",
            "changes/s",
            "p50_ms",
            "p99_ms",
            "bytes_up",
            "bytes_down"
        );
        for p in &report.phases {
            println!(
                "{:<13} {:>8.3} {:>11.0} {:>11.0} {:>8.1} {:>8.1} {:>12} {:>12}",
                p.name,
                p.wall_s,
                p.records_per_s,
                p.changes_per_s,
                p.p50_ms,
                p.p99_ms,
                p.bytes_up,
                p.bytes_down
            );
        }
        if let Some(rss) = report.server_rss_peak_bytes {
            println!("server peak RSS: {:.1} MiB", rss as f64 / (1 << 20) as f64);
        }
    }
    if !converged {
        bail!("the fleet did not converge");
    }
    Ok(())
}
