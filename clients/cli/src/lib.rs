//! `fieldsync`: the command line of a field agent's device. Records live in a local store and are
//! edited offline; `fieldsync sync` exchanges them with the server. The binary is a thin wrapper
//! around [`main`], so end-to-end tests can run the very same program.

mod args;
mod attachments;
mod campaigns;
mod leads;
mod orders;
mod output;
mod records;
mod sync;
mod tasks;
mod today;
mod visits;

use std::process::ExitCode;

use fieldsync_sdk::Replica;
use output::Output;

/// Parses the command line, runs the command and says how the process should exit.
pub async fn main() -> ExitCode {
    let matches = args::command().get_matches();
    let out = Output {
        json: matches.get_flag("json"),
    };
    match run(&matches, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::FAILURE
        }
    }
}

async fn run(matches: &clap::ArgMatches, out: Output) -> anyhow::Result<()> {
    let dir = args::data_dir(matches)?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let replica = Replica::open(&dir.join("device.sqlite")).await?;
    match matches.subcommand() {
        Some(("login", m)) => sync::login(&replica, m, out).await,
        Some(("sync", m)) => sync::sync(&replica, m, out).await,
        Some(("status", _)) => sync::status(&replica, out).await,
        Some(("today", _)) => today::run(&replica, out).await,
        Some(("attachment", m)) => attachments::run(&replica, m, out).await,
        Some(("visit", m)) if m.subcommand_name().is_some_and(visits::is_action) => {
            let (action, m) = m.subcommand().expect("matched above");
            visits::run(&replica, action, m, out).await
        }
        Some(("task", m)) if m.subcommand_name().is_some_and(tasks::is_action) => {
            let (_, m) = m.subcommand().expect("matched above");
            tasks::run(&replica, m, out).await
        }
        Some(("campaign_member", m)) if m.subcommand_name().is_some_and(campaigns::is_action) => {
            let (_, m) = m.subcommand().expect("matched above");
            campaigns::run(&replica, m, out).await
        }
        Some(("lead", m)) if m.subcommand_name().is_some_and(leads::is_action) => {
            let (action, m) = m.subcommand().expect("matched above");
            leads::run(&replica, action, m, out).await
        }
        Some((kind, m))
            if m.subcommand_name()
                .is_some_and(|a| orders::is_action(kind, a)) =>
        {
            let (action, m) = m.subcommand().expect("matched above");
            orders::run(&replica, kind, action, m, out).await
        }
        Some((kind, m)) => records::run(&replica, kind, m, out).await,
        None => unreachable!("clap requires a subcommand"),
    }
}
