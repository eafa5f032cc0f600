//! Backing up and restoring the database, for `fieldsync-server backup` and `restore`.
//!
//! SQLite: `VACUUM INTO` writes a consistent copy while the server keeps running (it reads one
//! snapshot); a restore replaces the database file with the copy while the server is stopped.
//! PostgreSQL: `pg_dump --format=custom` (one consistent snapshot, also while servers run) and
//! `pg_restore --clean --if-exists --single-transaction`, found on `PATH` or under
//! `/usr/lib/postgresql/*/bin`.
//!
//! Devices need nothing from the operator after a restore: each notices that the server went back in
//! time and pushes again what it had lost (see `checkpoint.rs`).

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database, Statement};

use crate::db::{normalize_url, redact, sqlite_file};
use crate::error::Error;

/// Where a database URL points.
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

fn target(database_url: &str) -> Result<Target, Error> {
    let url = normalize_url(database_url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url));
    }
    let path = sqlite_file(&url).ok_or_else(|| {
        Error::Storage(format!(
            "cannot back up or restore {}: not an SQLite file or a PostgreSQL database",
            redact(&url)
        ))
    })?;
    Ok(Target::Sqlite(path))
}

/// Writes a consistent copy of the database to `to`, which must not exist yet.
pub async fn backup(database_url: &str, to: &Path) -> Result<(), Error> {
    if to.exists() {
        return Err(Error::Storage(format!(
            "{} exists; a backup never overwrites a file",
            to.display()
        )));
    }
    match target(database_url)? {
        Target::Sqlite(path) => {
            if !path.exists() {
                return Err(Error::Storage(format!("no database at {}", path.display())));
            }
            // Read-only: the copy needs nothing more, and a connection that may write would, as
            // the last of this process to close, checkpoint the log the running servers use.
            let conn = Database::connect(format!("sqlite://{}?mode=ro", path.display())).await?;
            let into = to
                .to_str()
                .ok_or_else(|| Error::Storage(format!("{} is not a UTF-8 path", to.display())))?;
            conn.execute(Statement::from_sql_and_values(
                conn.get_database_backend(),
                "VACUUM INTO ?",
                [into.into()],
            ))
            .await?;
            conn.close().await?;
            Ok(())
        }
        Target::Postgres(url) => {
            let file = to.to_string_lossy().to_string();
            let (url, password) = without_password(&url)?;
            // Feed reservations name transactions of this server that are over by the time the
            // backup is restored; their rows are left out.
            run(
                "pg_dump",
                &[
                    "--format=custom",
                    "--exclude-table-data=feed_reservations",
                    "--file",
                    &file,
                    "--dbname",
                    &url,
                ],
                password.as_deref(),
            )
        }
    }
}

/// Replaces the database with the backup at `from`. Every server using the database must be stopped.
pub async fn restore(database_url: &str, from: &Path) -> Result<(), Error> {
    if !from.is_file() {
        return Err(Error::Storage(format!("no backup at {}", from.display())));
    }
    match target(database_url)? {
        Target::Sqlite(path) => {
            check_sqlite_backup(from).await?;
            // Copy next to the database, make it durable, then rename over it: a crash leaves either
            // the old file or the whole backup. The old database's WAL belongs to the old file.
            let staged = path.with_extension("restoring");
            std::fs::copy(from, &staged).map_err(io(&staged))?;
            wal_mode(&staged).await?;
            std::fs::File::open(&staged)
                .and_then(|f| f.sync_all())
                .map_err(io(&staged))?;
            for suffix in ["-wal", "-shm"] {
                let side = PathBuf::from(format!("{}{suffix}", path.display()));
                if let Err(e) = std::fs::remove_file(&side) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(io(&side)(e));
                    }
                }
            }
            std::fs::rename(&staged, &path).map_err(io(&path))?;
            Ok(())
        }
        Target::Postgres(url) => {
            let file = from.to_string_lossy().to_string();
            let (url, password) = without_password(&url)?;
            run(
                "pg_restore",
                &[
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    "--dbname",
                    &url,
                    &file,
                ],
                password.as_deref(),
            )
        }
    }
}

/// Refuses to restore a file that is not a sound SQLite database.
async fn check_sqlite_backup(from: &Path) -> Result<(), Error> {
    let url = format!("sqlite://{}?mode=ro", from.display());
    let conn = Database::connect(&url).await.map_err(|e| {
        Error::Storage(format!("{} is not an SQLite database: {e}", from.display()))
    })?;
    let row = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            "PRAGMA quick_check",
        ))
        .await
        .map_err(|e| {
            Error::Storage(format!("{} is not an SQLite database: {e}", from.display()))
        })?;
    let verdict: String = row
        .map(|r| r.try_get_by_index(0))
        .transpose()?
        .unwrap_or_default();
    conn.close().await?;
    if verdict != "ok" {
        return Err(Error::Storage(format!(
            "{} is damaged: {verdict}",
            from.display()
        )));
    }
    Ok(())
}

/// `VACUUM INTO` writes a rollback-journal database; servers use WAL. Switching needs the file to
/// itself, so it is done here, before any server opens the restored database.
async fn wal_mode(path: &Path) -> Result<(), Error> {
    let conn = Database::connect(format!("sqlite://{}?mode=rw", path.display())).await?;
    conn.execute(Statement::from_string(
        conn.get_database_backend(),
        "PRAGMA journal_mode = WAL",
    ))
    .await?;
    conn.close().await?;
    Ok(())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Storage(format!("{}: {e}", path.display()))
}

/// The URL without its password, and the password (decoded): a client program gets it in its
/// environment, since its command line is readable by every user of the machine.
fn without_password(url: &str) -> Result<(String, Option<String>), Error> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| Error::Storage(format!("invalid database URL {}: {e}", redact(url))))?;
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    if password.is_some() {
        // Only URLs that cannot have a password refuse this, and this one has one.
        let _ = parsed.set_password(None);
    }
    Ok((parsed.to_string(), password))
}

/// Runs a PostgreSQL client program, found on PATH or in the newest `/usr/lib/postgresql/*/bin`,
/// with `password` (if any) in `PGPASSWORD`.
fn run(program: &str, args: &[&str], password: Option<&str>) -> Result<(), Error> {
    let path = find_program(program).ok_or_else(|| {
        Error::Storage(format!(
            "{program} not found on PATH or under /usr/lib/postgresql/*/bin; install the PostgreSQL client programs"
        ))
    })?;
    let mut command = std::process::Command::new(&path);
    command.args(args);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .map_err(|e| Error::Storage(format!("cannot run {}: {e}", path.display())))?;
    if !output.status.success() {
        return Err(Error::Storage(format!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

fn find_program(program: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(program)))
            .filter(|p| p.is_file())
            .collect();
        // Version directories are numbers; the newest client reads dumps of every older server.
        versions.sort_by_key(|p| {
            p.components()
                .nth(4)
                .and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        versions.pop()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_sqlite_file_or_the_postgres_database() {
        assert!(
            matches!(target("data/fs.sqlite").unwrap(), Target::Sqlite(p) if p == Path::new("data/fs.sqlite"))
        );
        assert!(
            matches!(target("sqlite:///tmp/a.db?mode=rwc").unwrap(), Target::Sqlite(p) if p == Path::new("/tmp/a.db"))
        );
        assert!(matches!(
            target("postgres://u@h/db").unwrap(),
            Target::Postgres(_)
        ));
        assert!(target("sqlite::memory:").is_err());
    }

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, password) =
            without_password("postgres://fs:p%40ss%20w@db.example:5433/fs?sslmode=require")
                .unwrap();
        assert_eq!(url, "postgres://fs@db.example:5433/fs?sslmode=require");
        assert_eq!(password.as_deref(), Some("p@ss w"));
        let (url, password) = without_password("postgres://fs@db.example/fs").unwrap();
        assert_eq!(url, "postgres://fs@db.example/fs");
        assert_eq!(password, None);
    }
}
