//! `fieldsync-loadgen`: a fleet of simulated devices, running the real SDK against a real server.
//!
//! Two kinds of run: the fleet benchmark ([`fleet`]: timed phases) and the soak ([`soak`]: many
//! devices living for minutes with random offline periods). Either runs against
//! release server processes it starts itself, or against a running server ([`server::Target`]);
//! tests run them in-process against a test server. Both fail unless everything converged.

use std::sync::OnceLock;
use std::time::Instant;

pub mod args;
pub mod cpu;
pub mod cpu_cap;
pub mod domain;
pub mod fleet;
pub mod report;
pub mod server;
pub mod soak;

use args::{Args, Mode};
use report::SoakRun;
use server::Target;

/// Logins run at most this many at once: each costs the server an argon2 hash (and its memory).
pub const LOGINS_AT_ONCE: usize = 4;

/// A progress line on stderr, with the time since the run began.
pub fn progress(message: impl std::fmt::Display) {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[{:7.1} s] {message}", start.elapsed().as_secs_f64());
}

/// Runs what the command line asks for and prints the report. Returns whether the run passed.
pub async fn run(args: &Args) -> anyhow::Result<bool> {
    let mode = args.mode()?;
    let target = match &args.server {
        Some(url) => {
            if args.processes != 1 {
                anyhow::bail!("--processes needs --spawn-server");
            }
            Target::attach(
                url,
                args.accounts()?,
                args.database_url.clone(),
                args.server_pids.clone(),
            )
        }
        None => {
            let users = args.users_to_create(&mode);
            progress(format!(
                "starting {} server process(es), {} user(s)",
                args.processes,
                users.len()
            ));
            Target::spawn(
                args.database_url.clone(),
                args.processes,
                args.server_cpus,
                &users,
            )
            .await?
        }
    };
    let report = match mode {
        Mode::Fleet(config) => fleet::run(&target, config).await?,
        Mode::Bootstrap => fleet::bootstrap_only(&target).await?,
        Mode::Soak(config) => {
            let soak = soak::run(&target, config).await?;
            let rss = target.rss_peak();
            let run = SoakRun {
                processes: target.urls.len(),
                server_cpus: target.cpus,
                server_rss_peak_bytes: rss.map(|r| r.max_bytes),
                server_rss_peak_sum_bytes: rss.map(|r| r.sum_bytes),
                database_bytes: target.database_bytes().await,
                converged: soak.converged,
                soak,
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                run.print_table();
            }
            return Ok(run.soak.passed);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print_table();
    }
    Ok(report.converged)
}
