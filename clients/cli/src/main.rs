//! `fieldsync`: see [`fieldsync_cli::main`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    fieldsync_sdk::sqlite_alloc::use_mimalloc();
    fieldsync_cli::main().await
}
