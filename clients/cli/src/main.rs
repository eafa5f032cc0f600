//! `fieldsync`: see [`fieldsync_cli::main`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    fieldsync_cli::main().await
}
