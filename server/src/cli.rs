//! The `fieldsync-server` command line: run the sync server, manage users, back up and restore. The binary is a thin
//! wrapper around [`main`], so end-to-end tests can run the very same program as a separate process.

use crate::files::store::{FileStore, Location};
use crate::files::FileLimits;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::shutdown_signal;
use crate::auth::ratelimit::Rate;
use crate::auth::users;
use crate::db::{backup, Db};
use crate::demo;
use crate::http::state::AppState;
use crate::keys::KeyRing;
use crate::settings::{
    self, ConnectionLimits, Secret, Settings, ShutdownTimes, TlsFiles, DEFAULT_SYNC_QUEUE_WAIT,
};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use sync_core::Role;

#[derive(Parser)]
#[command(
    name = "fieldsync-server",
    version,
    about = "The fieldsync sync server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DbArgs {
    /// Database URL (sqlite://FILE?mode=rwc or postgres://...) or a path to an SQLite file.
    #[arg(
        long,
        env = "FIELDSYNC_DATABASE_URL",
        default_value = "fieldsync.sqlite"
    )]
    database_url: String,
    /// The server key file, created with a new key if missing (keep it secret, and back it up apart
    /// from the database). Default: beside the SQLite database, its name with `.key` added. Required
    /// on PostgreSQL: every server process of the database needs the same file.
    #[arg(long, env = "FIELDSYNC_KEY_FILE")]
    key_file: Option<PathBuf>,
}

impl DbArgs {
    /// The key file named, or the default beside an SQLite database.
    fn key_path(&self) -> Option<PathBuf> {
        self.key_file
            .clone()
            .or_else(|| settings::default_key_file(&self.database_url))
    }
}

#[derive(clap::Args, Clone)]
struct FilesArgs {
    /// Where files (photos, receipts) are kept: a directory, or s3://BUCKET[/PREFIX] with the
    /// credentials, region and endpoint in the usual AWS_* variables. Default: beside the SQLite
    /// database, its name with `.files` added; on PostgreSQL, beside the key file. Server processes
    /// on several machines need a store they share (S3).
    #[arg(long, env = "FIELDSYNC_FILES", value_parser = Location::parse)]
    files: Option<Location>,
}

impl FilesArgs {
    /// The location named, or the default beside an SQLite database.
    fn location(&self, db: &DbArgs) -> Option<Location> {
        self.files
            .clone()
            .or_else(|| Location::beside(&db.database_url))
    }
}

/// Token lifetime, rate limits, metrics and shutdown.
#[derive(clap::Args, Clone)]
struct OpsArgs {
    /// How long a device token is valid after login (e.g. 90d, 12h); `never` for no expiry.
    #[arg(long, default_value = "90d", value_parser = parse_ttl)]
    token_ttl: TokenTtl,
    /// Failed logins allowed per e-mail address, as N/DURATION.
    #[arg(long, default_value_t = settings::DEFAULT_LOGIN_ACCOUNT_RATE)]
    login_account_rate: Rate,
    /// Failed logins allowed per client address, as N/DURATION.
    #[arg(long, default_value_t = settings::DEFAULT_LOGIN_ADDR_RATE)]
    login_addr_rate: Rate,
    /// Sync calls (push, pull, verify) allowed per device, as N/DURATION.
    #[arg(long, default_value_t = settings::DEFAULT_DEVICE_SYNC_RATE)]
    device_sync_rate: Rate,
    /// The bearer token Prometheus scrapes /metrics with; without it /metrics is closed.
    #[arg(long, env = "FIELDSYNC_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// On SIGTERM, how long to keep taking requests after readiness turned false.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    shutdown_drain: Duration,
    /// Then, how long in-flight requests may take to finish before the server stops anyway.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
    /// Client connections served at once; more wait in the listen backlog.
    #[arg(long, default_value_t = settings::DEFAULT_CONNECTIONS.max as u32, value_parser = clap::value_parser!(u32).range(1..))]
    connection_limit: u32,
    /// How long a client may take to send a request's head, and a kept-alive connection may idle.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    header_timeout: Duration,
    /// How long a client may go without reading its answer before it is disconnected.
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    write_timeout: Duration,
}

/// How people reach the server: its own HTTPS, its public address, the dashboard's sessions.
#[derive(clap::Args)]
struct WebArgs {
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The address people and devices reach this server at, behind a reverse proxy (e.g.
    /// https://crm.example.com): an https address makes the dashboard's cookie Secure.
    #[arg(long, value_name = "URL", value_parser = parse_public_url)]
    public_url: Option<url::Url>,
    /// How long a dashboard session may go unused before it ends (e.g. 30m, 2h).
    #[arg(long, default_value = "30m", value_parser = parse_timeout)]
    session_idle: Duration,
}

fn parse_public_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an http:// or https:// address".into());
    }
    Ok(url)
}

fn parse_bytes(s: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = s.parse()?;
    usize::try_from(size.as_u64()).map_err(|_| format!("{s} is more than this machine can address"))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("a timeout is above zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Clone, Copy)]
struct TokenTtl(Option<Duration>);

fn parse_ttl(s: &str) -> Result<TokenTtl, String> {
    if s == "never" {
        return Ok(TokenTtl(None));
    }
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(TokenTtl(Some(d))),
        Ok(_) => Err("a token lifetime is above zero (or `never`)".into()),
        Err(e) => Err(e.to_string()),
    }
}

// Parsed once, at start: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        db: DbArgs,
        /// Seed a demo organisation on first start and print its logins.
        #[arg(long)]
        demo: bool,
        /// Years of history the demo seeds for the reports (0: only the last weeks).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
        demo_years: u32,
        /// The memory merged documents may take in the cache, e.g. 64MiB or 1GiB (each is weighed by
        /// an estimate of what it holds).
        #[arg(long, default_value = "64MiB", value_parser = parse_bytes)]
        cache_bytes: usize,
        /// The memory the documents pushes are merging may take at once, e.g. 256MiB (each is
        /// weighed by an estimate of what its merge holds); a push waits for room, up to the sync
        /// queue wait.
        #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
        merge_bytes: usize,
        /// Sync calls (push, pull, verify) worked on at once; more wait their turn, their bodies
        /// read (default: four per core).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        sync_in_flight: Option<u32>,
        /// Reports (and record histories) computed at once; more wait their turn, up to the sync
        /// queue wait (default: one per two cores, at least one).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        reports_in_flight: Option<u32>,
        /// Seconds a sync call waits for a slot before it is answered `503 server_busy` with a
        /// `Retry-After`.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SYNC_QUEUE_WAIT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
        sync_queue_wait: u64,
        #[command(flatten)]
        ops: OpsArgs,
        #[command(flatten)]
        files: FilesArgs,
        /// The largest file (photo, receipt) a device may upload, e.g. 25MB.
        #[arg(long, default_value = "25MiB", value_parser = parse_bytes)]
        file_max_bytes: usize,
        /// The bytes of files one device may upload in all, e.g. 2GiB.
        #[arg(long, default_value = "2GiB", value_parser = parse_bytes)]
        device_file_quota: usize,
        /// How long a file no record references any more is kept before it is deleted, e.g. 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        file_grace: Duration,
        #[command(flatten)]
        web: WebArgs,
    },
    /// Generate the demo company at scale, for benchmarks: the demo (on an empty database), then
    /// AGENTS agents, each with a territory of their own, 200 customers and YEARS of history.
    Demo {
        #[arg(long)]
        agents: usize,
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
        years: u32,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the server key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Write a consistent copy of the database to a new file, while servers keep running
    /// (SQLite: VACUUM INTO; PostgreSQL: pg_dump --format=custom).
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The backup file to create. Files (photos, receipts) are copied beside it, into a
        /// directory with `.files` added to its name.
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        files: FilesArgs,
    },
    /// Rebuild a record that no longer loads from its stored chunks that still do, and store it at a
    /// new feed position so every device receives it (a server logs each such record's id, and
    /// counts them in `fieldsync_sync_unloadable_records`).
    Repair {
        /// The record's id.
        record_id: uuid::Uuid,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Import customers, contacts, products, payments, price lists, orders or leads from a CSV file
    /// (UTF-8, comma or semicolon separated, columns matched by name): the whole file is checked
    /// first and nothing is written unless every row passes; rows are matched on the customer's
    /// number (a product's sku, a contact's customer and e-mail, a price list's name, an order's
    /// customer and number, a lead's e-mail or name), so importing a file again updates instead of
    /// duplicating. A price
    /// list takes a row per price, an order a row per line.
    Import {
        #[arg(value_parser = ["customers", "contacts", "products", "payments", "price-lists", "orders", "leads"])]
        what: String,
        file: PathBuf,
        /// Only say what would be created and updated, and which rows are in error.
        #[arg(long)]
        dry_run: bool,
        /// The manager or admin the records are imported for: their scope and rights apply, and
        /// each record's history names them.
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Write every live record of a kind (e.g. customers, orders) as CSV or JSON lines.
    Export {
        kind: String,
        #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
        format: String,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replace the database with a backup. Stop every server using the database first; devices then
    /// push again whatever they had synced after the backup was taken.
    Restore {
        #[command(flatten)]
        db: DbArgs,
        /// The backup file, made by `backup`; the files beside it are copied back.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        files: FilesArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password comes from FIELDSYNC_PASSWORD or a prompt.
    Add {
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A territory of the user (created if it does not exist); repeat for several.
        #[arg(long = "territory")]
        territories: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Give a user a territory; their devices receive its records on their next sync.
    Grant {
        email: String,
        #[arg(long)]
        territory: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Take a territory from a user; their devices evict its records on their next sync.
    Revoke {
        email: String,
        #[arg(long)]
        territory: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Add a new key in front of the key file's (creating the file if there is none). Servers
    /// authenticate with the newest key from their next start and accept every key in the file, so
    /// devices stay logged in and keep their cursors; restart every server process with the new file.
    Rotate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Seal again under the newest key everything stored under an older one (or before sealing
    /// existed): documents' chunks, listings, personal fields, and the keyed hashes duplicate
    /// checks match on. Run it after every server process restarted with a rotated key file;
    /// servers may keep running meanwhile.
    Reseal {
        #[command(flatten)]
        db: DbArgs,
    },
}

enum Direction {
    Backup,
    Restore,
}

/// Copies the files of the store at `location` into the directory beside `backup`, or back.
async fn copy_files(
    location: Option<Location>,
    backup: &std::path::Path,
    direction: Direction,
) -> anyhow::Result<()> {
    let Some(location) = location else {
        println!(
            "files were not copied: name their store with --files (they never change once stored, so a copy of the directory or the bucket taken after the database's is a consistent backup)"
        );
        return Ok(());
    };
    let mut dir = backup.as_os_str().to_owned();
    dir.push(".files");
    let beside = FileStore::open(&Location::Dir(dir.into()))?;
    let store = FileStore::open(&location)?;
    let (from, to) = match direction {
        Direction::Backup => (&store, &beside),
        Direction::Restore => (&beside, &store),
    };
    let (files, bytes) = from
        .copy_files(to)
        .await
        .context("copying the files failed")?;
    println!(
        "copied {files} files ({bytes} bytes) from {} to {}",
        from.location, to.location
    );
    Ok(())
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "the role is one of agent, manager, admin".to_string())
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("FIELDSYNC_PASSWORD") {
        return Ok(p);
    }
    rpassword::prompt_password("Password: ")
        .context("failed to read the password (set FIELDSYNC_PASSWORD to skip the prompt)")
}

/// Opens the database for the commands that need nothing else of a server: connected, migrated, and
/// with the work a new version does once at start-up done.
async fn database(db: &DbArgs) -> anyhow::Result<Db> {
    Ok(engine(db).await?.db.clone())
}

/// Opens the database, upgraded, with a merge path for what a command writes.
async fn engine(db: &DbArgs) -> anyhow::Result<crate::sync::engine::SyncEngine> {
    let settings = Settings::new(&db.database_url);
    let Some(key_file) = db.key_path() else {
        bail!("name the key file with --key-file (a PostgreSQL database has no default)")
    };
    let keys = KeyRing::open(&key_file).context("failed to open the server key file")?;
    let db = Db::connect(
        &settings.database_url,
        settings.max_connections,
        std::sync::Arc::new(keys.vault()),
    )
    .await
    .context("failed to open the database")?;
    // The upgrade writes records through the merge path, with the server's default bounds.
    let sync = crate::sync::engine::SyncEngine::new(
        db.clone(),
        settings.cache_bytes,
        crate::budget::ByteBudget::new(settings.merge_bytes, settings.sync_queue_wait),
        settings.limits,
        &crate::metrics::Metrics::new(),
    );
    crate::sync::upgrade::run_pending(&sync)
        .await
        .context("failed to upgrade the database")?;
    Ok(sync)
}

/// Opens the database and finds the user with this e-mail.
async fn user(db: &DbArgs, email: &str) -> anyhow::Result<(Db, uuid::Uuid)> {
    let db = database(db).await?;
    let Some(user) = users::find_by_email(&db, email).await? else {
        bail!("no user {email}")
    };
    Ok((db, user.id))
}

/// Parses the command line and runs the command.
pub async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        // Standard output is the commands' own: an export, the demo's logins.
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            listen,
            db,
            demo: seed_demo,
            demo_years,
            cache_bytes,
            merge_bytes,
            sync_in_flight,
            reports_in_flight,
            sync_queue_wait,
            ops,
            files,
            file_max_bytes,
            device_file_quota,
            file_grace,
            web,
        } => {
            if ops.metrics_token.as_deref().is_some_and(|t| t.len() < 16) {
                bail!("a metrics token needs at least 16 characters");
            }
            let defaults = Settings::new(&db.database_url);
            let settings = Settings {
                key_file: db.key_path(),
                cache_bytes,
                merge_bytes,
                sync_in_flight: sync_in_flight.map_or(defaults.sync_in_flight, |n| n as usize),
                reports_in_flight: reports_in_flight
                    .map_or(defaults.reports_in_flight, |n| n as usize),
                sync_queue_wait: Duration::from_secs(sync_queue_wait),
                token_ttl: ops.token_ttl.0,
                login_account_rate: ops.login_account_rate,
                login_addr_rate: ops.login_addr_rate,
                device_sync_rate: ops.device_sync_rate,
                metrics_token: ops.metrics_token.map(|t| Secret(t.into())),
                shutdown: ShutdownTimes {
                    drain: ops.shutdown_drain,
                    grace: ops.shutdown_grace,
                },
                connections: ConnectionLimits {
                    max: ops.connection_limit as usize,
                    header_timeout: ops.header_timeout,
                    write_timeout: ops.write_timeout,
                },
                files: files.location(&db),
                file_limits: FileLimits {
                    max_file_bytes: file_max_bytes as u64,
                    device_quota_bytes: device_file_quota as u64,
                    grace: file_grace,
                },
                session_idle: web.session_idle,
                tls: web
                    .tls_cert
                    .zip(web.tls_key)
                    .map(|(cert, key)| TlsFiles { cert, key }),
                public_url: web.public_url,
                ..defaults
            };
            let state = AppState::new(&settings)
                .await
                .context("failed to start the server")?;
            if seed_demo
                && demo::seed(&state.db, &state.sync, demo_years)
                    .await
                    .context("failed to seed the demo")?
            {
                println!(
                    "Seeded the demo organisation. Logins (password: {}):",
                    demo::PASSWORD
                );
                for (email, role, territories) in demo::USERS {
                    println!("  {email:<36} {role:<8} {}", territories.join(", "));
                }
            }
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("failed to listen on {listen}"))?;
            let scheme = if state.tls.is_some() { "https" } else { "http" };
            println!(
                "fieldsync-server listening on {scheme}://{}",
                listener.local_addr()?
            );
            if let Some(url) = &state.public_url {
                println!("reached at {url}");
            }
            crate::serve(state, listener, shutdown_signal()).await?;
        }
        Command::Demo { agents, years, db } => {
            let settings = Settings {
                key_file: db.key_path(),
                ..Settings::new(&db.database_url)
            };
            let state = AppState::new(&settings)
                .await
                .context("failed to open the database")?;
            let started = std::time::Instant::now();
            if demo::seed(&state.db, &state.sync, years).await? {
                println!("seeded the demo organisation");
            }
            let added = demo::scale(&state.db, &state.sync, agents, years).await?;
            println!(
                "added {} agents, {} customers and {} records in {:.1} s",
                added.agents,
                added.customers,
                added.records,
                started.elapsed().as_secs_f64()
            );
        }
        Command::Import {
            what,
            file,
            dry_run,
            as_user,
            db,
        } => import(&what, &file, dry_run, &as_user, &db).await?,
        Command::Export {
            kind,
            format,
            out,
            db,
        } => {
            let kind = crate::transfer::export::kind_named(&kind)
                .with_context(|| format!("no kind {kind}"))?;
            let format = match format.as_str() {
                "jsonl" => crate::transfer::export::Format::Jsonl,
                _ => crate::transfer::export::Format::Csv,
            };
            let db = database(&db).await?;
            use crate::transfer::export::export_to;
            match out {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    let mut file = std::io::BufWriter::new(file);
                    let n = export_to(&db.conn, db.vault(), kind, format, &mut file).await?;
                    eprintln!("exported {n} {} to {}", kind.table, path.display());
                }
                None => {
                    export_to(
                        &db.conn,
                        db.vault(),
                        kind,
                        format,
                        &mut std::io::stdout().lock(),
                    )
                    .await?;
                }
            }
        }
        Command::Repair { record_id, db } => {
            let db = database(&db).await?;
            let repaired = crate::sync::repair::repair(&db, record_id).await?;
            for (seq, why) in &repaired.dropped {
                println!("left out the chunk at feed position {seq}: it {why}");
            }
            if repaired.written {
                println!(
                    "record {record_id} rebuilt from {} healthy chunks",
                    repaired.kept
                );
            } else {
                println!("record {record_id} loads; nothing to repair");
            }
        }
        Command::User { command } => match command {
            UserCommand::Add {
                email,
                role,
                territories,
                db,
            } => {
                let password = password()?;
                let db = database(&db).await?;
                let id = users::add_user(&db, &email, role, &password, &territories).await?;
                println!("added {role} {} ({id})", email.trim().to_lowercase());
            }
            UserCommand::Grant {
                email,
                territory,
                db,
            } => {
                let (db, user) = user(&db, &email).await?;
                users::grant_territory(&db, user, &territory).await?;
                println!("{email} now has territory {territory}");
            }
            UserCommand::Revoke {
                email,
                territory,
                db,
            } => {
                let (db, user) = user(&db, &email).await?;
                users::revoke_territory(&db, user, &territory).await?;
                println!("{email} no longer has territory {territory}");
            }
        },
        Command::Key {
            command: KeyCommand::Rotate { db },
        } => {
            let Some(path) = db.key_path() else {
                bail!("name the key file with --key-file (a PostgreSQL database has no default)")
            };
            let ring = KeyRing::rotate(&path).context("failed to rotate the server key")?;
            println!(
                "added a new key to {} ({} keys); restart every server process with this file, then run `fieldsync-server key reseal`",
                path.display(),
                ring.count()
            );
        }
        Command::Key {
            command: KeyCommand::Reseal { db },
        } => {
            let db = database(&db).await?;
            let resealed = crate::sync::reseal::reseal(&db).await?;
            println!(
                "sealed again under the newest key: {} chunks, {} held changes, {} listings, {} rows of personal fields; {} customers' match keys",
                resealed.chunks,
                resealed.held_changes,
                resealed.listings,
                resealed.rows,
                resealed.match_keys
            );
        }
        Command::Backup { db, to, files } => {
            backup::backup(&db.database_url, &to)
                .await
                .context("backup failed")?;
            println!("backed up the database to {}", to.display());
            // After the database: every file its copy references is there (a file is deleted
            // only days after the last record dropped it).
            copy_files(files.location(&db), &to, Direction::Backup).await?;
        }
        Command::Restore { db, from, files } => {
            backup::restore(&db.database_url, &from)
                .await
                .context("restore failed")?;
            println!("restored the database from {}", from.display());
            copy_files(files.location(&db), &from, Direction::Restore).await?;
        }
    }
    Ok(())
}

/// `import`: plans the whole file, prints what it would do and every row in error, and writes it
/// (with a progress bar) only when no row is in error and it is not a dry run.
async fn import(
    what: &str,
    file: &std::path::Path,
    dry_run: bool,
    email: &str,
    db: &DbArgs,
) -> anyhow::Result<()> {
    use crate::transfer::{columns, plan, sheet, write};
    let target = columns::target(what).with_context(|| format!("cannot import {what}"))?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let sheet = sheet::read(&bytes)?;
    let sync = engine(db).await?;
    let Some(user) = users::find_by_email(&sync.db, email).await? else {
        bail!("no user {email}")
    };
    let who = crate::auth::credentials::session_principal(&sync.db.conn, user.id)
        .await?
        .with_context(|| format!("no user {email}"))?;
    if who.role < Role::Manager {
        bail!("{email} is an agent: managers and admins import");
    }
    let plan = plan::plan(&sync.db.conn, sync.db.vault(), &who, target, &sheet).await?;
    println!(
        "{}: {} rows: {} to create, {} to update, {} unchanged, {} in error",
        file.display(),
        sheet.rows.len(),
        plan.creates.len(),
        plan.updates.len(),
        plan.unchanged,
        plan.errors.len()
    );
    if !plan.ignored.is_empty() {
        println!("columns not imported: {}", plan.ignored.join(", "));
    }
    for e in plan.errors.iter().take(plan::MAX_LISTED_ERRORS) {
        let column = if e.column.is_empty() {
            String::new()
        } else {
            format!(", column `{}`", e.column)
        };
        println!("line {}{column}: {}", e.line, e.reason);
    }
    if !plan.errors.is_empty() {
        bail!(
            "{} rows are in error: nothing was imported",
            plan.errors.len()
        );
    }
    if dry_run {
        return Ok(());
    }
    let total = (plan.creates.len() + plan.updates.len()) as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows, {per_sec}, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let written = write::apply(&sync, &who, plan, |done| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    println!("created {}, updated {}", written.created, written.updated);
    for e in &written.refused {
        println!("line {}: refused: {}", e.line, e.reason);
    }
    if !written.refused.is_empty() {
        bail!(
            "{} rows were refused while writing (the rest is imported)",
            written.refused.len()
        );
    }
    Ok(())
}
