//! The command line, and what it asks for: a fleet run or a soak, on which server.

use std::time::Duration;

use anyhow::bail;
use clap::{Parser, ValueEnum};

use crate::fleet::{FleetConfig, Workload};
use crate::server::{Account, NewUser};
use crate::soak::SoakConfig;

#[derive(Parser, Debug)]
#[command(
    name = "fieldsync-loadgen",
    about = "Simulate a fleet of devices syncing with a fieldsync server",
    after_help = "With --server, the devices log in with --email/--password, or with the \
                  environment variables FIELDSYNC_LOADGEN_EMAIL (comma-separated) and \
                  FIELDSYNC_LOADGEN_PASSWORD; each account must be an agent with a territory."
)]
pub struct Args {
    /// Sync with this running server.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "spawn_server",
        required_unless_present = "spawn_server"
    )]
    pub server: Option<String>,
    /// Start release `fieldsync-server` processes (next to this program) on a fresh database.
    #[arg(long)]
    pub spawn_server: bool,
    /// With --spawn-server, the database the servers run on (default: a new SQLite file in a
    /// temporary directory). With --server, the server's database, only to report its size.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// With --spawn-server: server processes on the one database (more than one needs PostgreSQL);
    /// devices are spread over them round-robin.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub processes: usize,
    /// With --spawn-server: cap each server process at this many cores' CPU time, in a Linux cgroup
    /// of its own (needs root), e.g. to measure scale-out on a machine that one process fills.
    #[arg(long, value_name = "CORES", value_parser = cores, conflicts_with = "server")]
    pub server_cpus: Option<f64>,
    /// With --server: a server process id, to read its memory (without it the RSS is null).
    /// Repeat for several processes.
    #[arg(
        long = "server-pid",
        value_name = "PID",
        conflicts_with = "spawn_server"
    )]
    pub server_pids: Vec<u32>,
    /// With --server: the accounts the devices log in as (repeat, or separate with commas). A fleet
    /// spreads its devices over them in turn (they must share one territory: the first account's);
    /// a soak spreads its devices over all of them, a territory each.
    #[arg(
        long,
        value_name = "EMAIL",
        env = "FIELDSYNC_LOADGEN_EMAIL",
        value_delimiter = ','
    )]
    pub email: Vec<String>,
    /// With --server: the password of those accounts.
    #[arg(long, env = "FIELDSYNC_LOADGEN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Devices (default: from the preset).
    #[arg(long, value_name = "D")]
    pub devices: Option<usize>,
    /// Records each device creates offline (fleet run).
    #[arg(long, value_name = "R")]
    pub records: Option<usize>,
    /// Single-field edits of each record after its creation, each its own change (fleet run).
    #[arg(long, value_name = "E")]
    pub edits: Option<usize>,
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// What each record of a fleet run is: a customer, or a field agent's visit, order, payment
    /// and ticket at a customer (`domain`; with --spawn-server the run creates the company's
    /// catalogue first, with --server it must be there, as after `serve --demo`).
    #[arg(long, value_enum, default_value_t = Workload::Customers)]
    pub workload: Workload,
    /// Instead of the fleet phases, a soak of this many seconds: devices go offline for random
    /// periods, edit, and sync; then nothing may be lost.
    #[arg(long, value_name = "SECONDS")]
    pub soak: Option<u64>,
    /// Soak with --spawn-server: devices per territory (one agent per territory is created).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub per_territory: usize,
    /// Soak: a device's shortest offline period, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    pub offline_min_ms: u64,
    /// Soak: a device's longest offline period, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20_000)]
    pub offline_max_ms: u64,
    /// Soak: seconds between two reads of the servers' memory.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub sample_every: u64,
    /// With --server: only the bootstrap, on the data an earlier fleet run left (to measure it
    /// again after a change to the server or the SDK, without the fleet's minutes of setup).
    #[arg(long, conflicts_with_all = ["spawn_server", "soak"])]
    pub bootstrap_only: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A share of the machine's CPU: more than 0 cores.
fn cores(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(cores) if cores.is_finite() && cores > 0.0 => Ok(cores),
        _ => Err(format!("`{value}` is not a number of cores above 0")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// A smoke run, as CI does.
    Small,
    /// The measurement of the performance targets (BENCHMARKS.md): 100 devices x 1,000 records (a territory of 100,000
    /// customers), 3 edits each; a soak of 1,000 devices.
    Large,
}

/// What to run.
#[derive(Debug, Clone)]
pub enum Mode {
    Fleet(FleetConfig),
    Bootstrap,
    Soak(SoakConfig),
}

impl Preset {
    pub fn fleet(preset: Option<Preset>) -> FleetConfig {
        let (devices, records, edits) = match preset {
            Some(Preset::Small) => (4, 50, 2),
            Some(Preset::Large) => (100, 1_000, 3),
            None => (10, 100, 3),
        };
        FleetConfig {
            devices,
            records,
            edits,
            workload: Workload::Customers,
        }
    }

    pub fn soak_devices(preset: Option<Preset>) -> usize {
        match preset {
            Some(Preset::Small) => 20,
            Some(Preset::Large) => 1_000,
            None => 100,
        }
    }
}

impl Args {
    pub fn mode(&self) -> anyhow::Result<Mode> {
        if let Some(seconds) = self.soak {
            if self.records.is_some() || self.edits.is_some() {
                bail!("--records and --edits are for the fleet run, not --soak");
            }
            return Ok(Mode::Soak(SoakConfig {
                devices: self
                    .devices
                    .unwrap_or_else(|| Preset::soak_devices(self.preset)),
                duration: Duration::from_secs(seconds),
                offline_min: Duration::from_millis(self.offline_min_ms),
                offline_max: Duration::from_millis(self.offline_max_ms),
                sample_every: Duration::from_secs(self.sample_every.max(1)),
            }));
        }
        if self.bootstrap_only {
            return Ok(Mode::Bootstrap);
        }
        let preset = Preset::fleet(self.preset);
        Ok(Mode::Fleet(FleetConfig {
            devices: self.devices.unwrap_or(preset.devices),
            records: self.records.unwrap_or(preset.records),
            edits: self.edits.unwrap_or(preset.edits),
            workload: self.workload,
        }))
    }

    /// The users a spawned server is given: for a fleet, one agent per device, all in the fleet's
    /// one territory (a field team: the server admits only a few sync calls at once per user, so
    /// a hundred devices of one user would mostly wait their turn); for a soak, one per
    /// `--per-territory` devices.
    pub fn users_to_create(&self, mode: &Mode) -> Vec<NewUser> {
        match mode {
            Mode::Fleet(fleet) => {
                let mut users: Vec<NewUser> = (0..fleet.devices.max(1))
                    .map(|k| NewUser {
                        email: format!("fleet-{k}@load.test"),
                        territory: "Fleet".into(),
                        admin: false,
                    })
                    .collect();
                // The company's admin writes the catalogue orders are taken from.
                if fleet.workload == Workload::Domain {
                    users.push(NewUser {
                        email: crate::domain::ADMIN_EMAIL.into(),
                        territory: "Fleet".into(),
                        admin: true,
                    });
                }
                users
            }
            Mode::Bootstrap => vec![NewUser {
                email: "fleet-0@load.test".into(),
                territory: "Fleet".into(),
                admin: false,
            }],
            Mode::Soak(soak) => (0..soak.devices.div_ceil(self.per_territory.max(1)))
                .map(|k| NewUser {
                    email: format!("soak-{k}@load.test"),
                    territory: format!("Soak {k}"),
                    admin: false,
                })
                .collect(),
        }
    }

    /// The accounts given for `--server`.
    pub fn accounts(&self) -> anyhow::Result<Vec<Account>> {
        let Some(password) = &self.password else {
            bail!("--server needs --password (or FIELDSYNC_LOADGEN_PASSWORD)");
        };
        if self.email.is_empty() {
            bail!("--server needs --email (or FIELDSYNC_LOADGEN_EMAIL)");
        }
        Ok(self
            .email
            .iter()
            .map(|email| Account {
                email: email.trim().to_string(),
                password: password.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("fieldsync-loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn the_interface_of_issue_4_parses() {
        let args = parse(&[
            "--spawn-server",
            "--database-url",
            "postgres://x/y",
            "--devices",
            "3",
            "--records",
            "7",
            "--edits",
            "2",
            "--preset",
            "large",
            "--json",
        ])
        .unwrap();
        assert!(args.json);
        let Mode::Fleet(fleet) = args.mode().unwrap() else {
            panic!("a fleet run")
        };
        assert_eq!((fleet.devices, fleet.records, fleet.edits), (3, 7, 2));
    }

    #[test]
    fn server_cpus_are_a_positive_share_for_spawned_servers() {
        let args = parse(&["--spawn-server", "--processes", "2", "--server-cpus", "0.5"]).unwrap();
        assert_eq!(args.server_cpus, Some(0.5));
        for bad in ["0", "-1", "NaN", "inf", "half"] {
            assert!(
                parse(&["--spawn-server", "--server-cpus", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(parse(&["--server", "http://x", "--server-cpus", "1"]).is_err());
    }

    #[test]
    fn a_bootstrap_alone_needs_a_running_server() {
        assert!(parse(&["--spawn-server", "--bootstrap-only"]).is_err());
        let args = parse(&["--server", "http://x", "--bootstrap-only"]).unwrap();
        assert!(matches!(args.mode().unwrap(), Mode::Bootstrap));
    }

    #[test]
    fn the_large_preset_is_a_territory_of_100_000_customers() {
        let args = parse(&["--spawn-server", "--preset", "large"]).unwrap();
        let Mode::Fleet(fleet) = args.mode().unwrap() else {
            panic!("a fleet run")
        };
        assert_eq!(fleet.devices * fleet.records, 100_000);
        assert_eq!(fleet.edits, 3);
        // A field team: an agent per device, in one territory.
        let users = args.users_to_create(&Mode::Fleet(fleet));
        assert_eq!(users.len(), fleet.devices);
        assert!(users.iter().all(|u| u.territory == "Fleet"));
        // The second round edits one record in five: at least 1,000 for the incremental pull.
        assert!(fleet.devices * fleet.records / 5 >= 1_000);
    }

    #[test]
    fn one_server_or_the_other() {
        assert!(parse(&["--devices", "1"]).is_err());
        assert!(parse(&["--server", "http://x", "--spawn-server"]).is_err());
        assert!(parse(&["--spawn-server", "--server-pid", "1"]).is_err());
    }

    #[test]
    fn server_mode_takes_its_accounts_from_flags() {
        let args = parse(&[
            "--server",
            "http://x",
            "--email",
            "a@x.test,b@x.test",
            "--email",
            "c@x.test",
            "--password",
            "pw",
            "--server-pid",
            "42",
        ])
        .unwrap();
        let accounts = args.accounts().unwrap();
        let emails: Vec<_> = accounts.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(emails, ["a@x.test", "b@x.test", "c@x.test"]);
        assert_eq!(args.server_pids, [42]);
        assert!(parse(&["--server", "http://x", "--email", "a@x.test"])
            .unwrap()
            .accounts()
            .is_err_and(|e| e.to_string().contains("--password")));
    }

    #[test]
    fn a_soak_spreads_devices_over_territories() {
        let args = parse(&[
            "--spawn-server",
            "--soak",
            "60",
            "--devices",
            "25",
            "--per-territory",
            "10",
        ])
        .unwrap();
        let mode = args.mode().unwrap();
        let Mode::Soak(soak) = &mode else {
            panic!("a soak")
        };
        assert_eq!(soak.duration, Duration::from_secs(60));
        let users = args.users_to_create(&mode);
        assert_eq!(users.len(), 3);
        assert_eq!(users[2].territory, "Soak 2");
        assert!(parse(&["--spawn-server", "--soak", "5", "--records", "3"])
            .unwrap()
            .mode()
            .is_err());
    }
}
