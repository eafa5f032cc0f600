//! The server a run talks to: release `fieldsync-server` processes it starts on a fresh database, or
//! a server that is already running. Also what can be measured of it from outside: the resident
//! memory of its processes and the size of its database.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use fieldsync_sdk::Client;
use sqlx::Connection;
use sync_core::digest::scope_digest;
use sync_core::protocol::{Hash, LoginResponse, VerifyMode, VerifyRequest};
use uuid::Uuid;

use crate::cpu_cap::CpuCap;
use crate::report::Rss;

/// A user the devices log in as. Each device registers itself with these credentials.
#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    pub password: String,
}

/// A user for the spawned server to create: e-mail and territory, with [`SPAWNED_PASSWORD`].
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub territory: String,
    /// An admin rather than an agent: the run's company admin, not one of its devices' accounts.
    pub admin: bool,
}

/// The password of the users created on a spawned server's fresh database.
pub const SPAWNED_PASSWORD: &str = "loadgen-password";

/// Where the devices sync: one or more server addresses (devices are spread over them round-robin)
/// and the accounts they log in as.
pub struct Target {
    pub urls: Vec<String>,
    pub accounts: Vec<Account>,
    /// The company's admin, on a spawned server whose run needs one (the domain workload's
    /// catalogue).
    pub admin: Option<Account>,
    /// The server's database, when known: only used to measure its size.
    pub database_url: Option<String>,
    /// The server processes whose memory is read (Linux `/proc`); none when unknown.
    pub pids: Vec<u32>,
    /// The CPU each spawned process is capped at, in cores; None when uncapped.
    pub cpus: Option<f64>,
    children: Vec<Child>,
    // Dropped after `Drop::drop` has ended the children, which an occupied cgroup needs.
    _caps: Vec<CpuCap>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    /// A server that is already running.
    pub fn attach(
        url: &str,
        accounts: Vec<Account>,
        database_url: Option<String>,
        pids: Vec<u32>,
    ) -> Target {
        Target {
            urls: vec![url.trim_end_matches('/').to_string()],
            accounts,
            admin: None,
            database_url,
            pids,
            cpus: None,
            children: Vec::new(),
            _caps: Vec::new(),
            _dir: None,
        }
    }

    /// Starts `processes` release servers (the `fieldsync-server` next to this program) on one
    /// database, after creating `users` in it, each capped at `cpus` cores if given. Without
    /// `database_url`, a new SQLite file in a temporary directory; several processes need PostgreSQL
    /// (SQLite serialises writers inside one process only).
    pub async fn spawn(
        database_url: Option<String>,
        processes: usize,
        cpus: Option<f64>,
        users: &[NewUser],
    ) -> anyhow::Result<Target> {
        let program = server_program()?;
        // The server key file, which every process of the database shares, and the SQLite file
        // when no database is given.
        let dir = tempfile::tempdir()?;
        let key_file = dir.path().join("server.key");
        let url = database_url.unwrap_or_else(|| {
            let path = dir.path().join("loadgen.sqlite");
            format!("sqlite://{}?mode=rwc", path.display())
        });
        if processes == 0 {
            bail!("--processes must be at least 1");
        }
        if processes > 1 && !url.starts_with("postgres") {
            bail!("several server processes need a PostgreSQL --database-url");
        }
        for user in users {
            let status = Command::new(&program)
                .args(["user", "add", &user.email, "--role"])
                .arg(if user.admin { "admin" } else { "agent" })
                .args(["--territory", &user.territory, "--database-url", &url])
                .env("FIELDSYNC_PASSWORD", SPAWNED_PASSWORD)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .status()
                .context("failed to run fieldsync-server user add")?;
            if !status.success() {
                bail!(
                    "fieldsync-server user add {} failed (use a fresh database)",
                    user.email
                );
            }
        }
        let account = |u: &NewUser| Account {
            email: u.email.clone(),
            password: SPAWNED_PASSWORD.into(),
        };
        let mut target = Target {
            urls: Vec::new(),
            accounts: users.iter().filter(|u| !u.admin).map(account).collect(),
            admin: users.iter().find(|u| u.admin).map(account),
            database_url: Some(url.clone()),
            pids: Vec::new(),
            cpus,
            children: Vec::new(),
            _caps: Vec::new(),
            _dir: Some(dir),
        };
        for _ in 0..processes {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let child = Command::new(&program)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--database-url", &url])
                .arg("--key-file")
                .arg(&key_file)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .context("failed to start fieldsync-server")?;
            let pid = child.id();
            target.children.push(child);
            if let Some(cores) = cpus {
                let name = format!("fieldsync-loadgen-{}-{pid}", std::process::id());
                target._caps.push(CpuCap::apply(pid, cores, &name)?);
            }
            target.pids.push(pid);
            target.urls.push(format!("http://127.0.0.1:{port}"));
        }
        for url in &target.urls {
            wait_ready(url).await?;
        }
        Ok(target)
    }

    /// The address the `i`th device syncs with.
    pub fn url(&self, i: usize) -> &str {
        &self.urls[i % self.urls.len()]
    }

    /// A new device on the `i`th device's server, logged in as `account`.
    pub async fn login(
        &self,
        i: usize,
        account: &Account,
        name: &str,
    ) -> anyhow::Result<(Client, LoginResponse)> {
        login(self.url(i), account, name).await
    }

    /// The servers' peak resident memory so far (`VmHWM`), or None when it cannot be read.
    pub fn rss_peak(&self) -> Option<Rss> {
        read_rss(&self.pids, "VmHWM:")
    }

    /// The servers' resident memory now (`VmRSS`).
    pub fn rss_now(&self) -> Option<Rss> {
        read_rss(&self.pids, "VmRSS:")
    }

    /// The database's size now, or None when unknown or unreadable.
    pub async fn database_bytes(&self) -> Option<u64> {
        let url = self.database_url.as_deref()?;
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
            let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut conn)
                .await
                .ok()?;
            conn.close().await.ok();
            return u64::try_from(size).ok();
        }
        let path = sqlite_path(url);
        let file = std::fs::metadata(&path).ok()?.len();
        let mut wal = path.into_os_string();
        wal.push("-wal");
        Some(file + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Registers a new device on the server at `url`, logged in as `account`.
pub async fn login(
    url: &str,
    account: &Account,
    name: &str,
) -> anyhow::Result<(Client, LoginResponse)> {
    let mut client = Client::new(url);
    let login = client
        .login(&account.email, &account.password, name)
        .await
        .with_context(|| format!("login as {}", account.email))?;
    Ok((client, login))
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

async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server at {url} did not come up")
}

/// A memory figure (`VmRSS:`, `VmHWM:`) of the processes: the largest and the sum. None when there are
/// none or one cannot be read.
pub fn read_rss(pids: &[u32], field: &str) -> Option<Rss> {
    if pids.is_empty() {
        return None;
    }
    let mut rss = Rss::default();
    for pid in pids {
        let bytes = proc_status_bytes(*pid, field)?;
        rss.max_bytes = rss.max_bytes.max(bytes);
        rss.sum_bytes += bytes;
    }
    Some(rss)
}

/// A size field of `/proc/PID/status` (Linux), in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The file of an SQLite URL as the server accepts it (`sqlite://FILE?mode=rwc`, `sqlite:FILE`, or
/// a plain path).
fn sqlite_path(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(path.split('?').next().unwrap_or(path))
}

/// Whether the server's digest of the client's scope matches these heads.
pub async fn scope_matches(
    client: &Client,
    heads: &HashMap<Uuid, Vec<Hash>>,
) -> anyhow::Result<bool> {
    let verify = client
        .verify(&VerifyRequest {
            mode: VerifyMode::Scope,
            scope_digest: Some(scope_digest(
                heads.iter().map(|(id, h)| (*id, h.as_slice())),
            )),
            docs: Vec::new(),
        })
        .await?;
    Ok(verify.in_sync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        let want = PathBuf::from("/tmp/x/db.sqlite");
        assert_eq!(sqlite_path("sqlite:///tmp/x/db.sqlite?mode=rwc"), want);
        assert_eq!(sqlite_path("sqlite:/tmp/x/db.sqlite"), want);
        assert_eq!(sqlite_path("/tmp/x/db.sqlite"), want);
    }

    #[tokio::test]
    async fn an_sqlite_database_counts_its_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db.sqlite");
        std::fs::write(&file, [0u8; 1000]).unwrap();
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let target = Target::attach("http://127.0.0.1:1", vec![], Some(url), vec![]);
        assert_eq!(target.database_bytes().await, Some(1000));
        std::fs::write(dir.path().join("db.sqlite-wal"), [0u8; 24]).unwrap();
        assert_eq!(target.database_bytes().await, Some(1024));
        assert_eq!(target.rss_peak(), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let me = Target::attach("http://x", vec![], None, vec![std::process::id()]);
        let rss = me.rss_now().expect("readable on Linux");
        assert!(rss.max_bytes > 0 && rss.sum_bytes == rss.max_bytes);
        assert!(me.rss_peak().unwrap().max_bytes >= rss.max_bytes);
    }
}
